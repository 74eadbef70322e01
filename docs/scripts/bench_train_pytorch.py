"""PyTorch's side of `kiln bench train`: the same CNN and MLP, the same data, the same timing.

    python docs/scripts/bench_train_pytorch.py --mnist ../shared/data/mnist-5k
    python docs/scripts/bench_train_pytorch.py            # generated noise of MNIST's shape

The networks are kiln's defaults (plugins/kiln-models): the CNN is two blocks of 3x3 "same"
convolution (16 then 32 filters), batch norm, ReLU and 2x2 max-pool, then a dense layer of
128 with ReLU and a 10-way head; the MLP is 784-256-256-10 with ReLU. Adam at 1e-3, batch 64,
cross-entropy. One epoch of steps is timed after 5 untimed ones, each step reading its loss
back (`loss.item()`), median of 3 epochs on fresh models; validation is not timed. The images
are the MNIST training split less the last 10 % (kiln's `valid_fraction = 0.1`), as floats in
[0, 1], indexed from one tensor per batch. Threads: torch's default (every core) unless
--threads says otherwise; the figures in docs/benchmarks.md give the count used.
"""

import argparse
import gzip
import json
import statistics
import struct
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn


def read_idx(path: Path) -> np.ndarray:
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    dims = raw[3]
    shape = struct.unpack(">" + "I" * dims, raw[4 : 4 + 4 * dims])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(mnist: str | None) -> tuple[torch.Tensor, torch.Tensor]:
    if mnist is None:
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, size=(3600, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=3600, dtype=np.uint8)
    else:
        root = Path(mnist)
        images = read_idx(next(root.glob("train-images*")))
        labels = read_idx(next(root.glob("train-labels*")))
        keep = len(images) - round(len(images) * 0.1)
        images, labels = images[:keep], labels[:keep]
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding="same"), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding="same"), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
        nn.Linear(256, 10),
    )


def epoch_seconds(make, x, y, device, batch, warmup, seed) -> tuple[float, int]:
    torch.manual_seed(seed)
    model = make().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    chunks = [order[i : i + batch] for i in range(0, len(x) - batch + 1, batch)]

    def step(idx):
        xb, yb = x[idx].to(device), y[idx].to(device)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()

    model.train()
    for i in range(warmup):
        step(chunks[i % len(chunks)])
    started = time.perf_counter()
    for idx in chunks:
        step(idx)
    return time.perf_counter() - started, sum(p.numel() for p in model.parameters())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mnist")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 …")
    ap.add_argument("--models", default="cnn,mlp")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    x, y = load(args.mnist)
    samples = (len(x) // args.batch) * args.batch
    if not args.json:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
              f"{len(x)} training images; batch {args.batch}")
        print(f"{'device':<10} {'model':<6} {'params':>9} {'samples':>8} {'s/epoch':>10} {'samples/s':>11}")
    for name in args.models.split(","):
        make = {"cnn": cnn, "mlp": mlp}[name]
        runs = [epoch_seconds(make, x, y, args.device, args.batch, args.warmup, r)
                for r in range(args.repeats)]
        secs = statistics.median(t for t, _ in runs)
        params = runs[0][1]
        row = {"device": f"torch:{args.device}", "model": name, "num_params": params,
               "batch": args.batch, "samples": samples, "seconds": secs,
               "samples_per_s": samples / secs}
        if args.json:
            print(json.dumps(row))
        else:
            print(f"{row['device']:<10} {name:<6} {params:>9} {samples:>8} {secs:>10.3f} "
                  f"{row['samples_per_s']:>11.1f}")


if __name__ == "__main__":
    main()
