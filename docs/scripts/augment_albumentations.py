"""albumentations on the workloads of `kiln bench augment`, single-threaded, per image.

Same sizes (10,000 images 28x28x1; 1,000 images 224x224x3), float32 pixels uniform in
[0, 1), the same chain: HorizontalFlip(p=0.5), Affine(rotate=(-15, 15), x-shear (-10, 10),
p=1), RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=1). Each image goes
through `transform(image=img)` in a Python loop, as albumentations is used in a data loader.
One warm-up pass, then `--repeats` timed passes; the median images/s is printed for the chain
and for each op alone (each op composed on its own, so each pays Compose's per-call cost).

    python3 -m venv /tmp/albu && /tmp/albu/bin/pip install albumentations
    /tmp/albu/bin/python docs/scripts/augment_albumentations.py [--repeats 5] [--json]
"""
import os

# Before numpy and OpenCV load: one thread everywhere.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import albumentations as A  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

cv2.setNumThreads(0)  # 0: OpenCV runs every function sequentially

WORKLOADS = [(10_000, 28, 1), (1_000, 224, 3)]


def ops():
    # kiln's shear is horizontal only; a tuple would also shear y (at the same cost).
    return [
        ("hflip", A.HorizontalFlip(p=0.5)),
        ("affine", A.Affine(rotate=(-15, 15), shear={"x": (-10, 10), "y": (0, 0)}, p=1.0)),
        ("brightness_contrast", A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=1.0)),
    ]


def passes(transform, images, repeats):
    """Seconds of each timed pass over `images`, after one warm-up pass."""
    times = []
    for r in range(repeats + 1):
        start = time.perf_counter()
        for img in images:
            transform(image=img)["image"]
        if r > 0:
            times.append(time.perf_counter() - start)
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not args.json:
        print(f"albumentations {A.__version__}, opencv {cv2.__version__}, numpy {np.__version__}, "
              f"python {sys.version.split()[0]}; cv2 threads {cv2.getNumThreads()}")
        print(f"{'images':<12} {'count':>6} {'op':<20} {'images/s':>10} {'ms/image':>9} {'share':>6}")
    for count, side, channels in WORKLOADS:
        rng = np.random.default_rng(args.seed)
        images = rng.random((count, side, side, channels), dtype=np.float32)
        chain = A.Compose([op for _, op in ops()], seed=args.seed)
        rows = [("chain", passes(chain, images, args.repeats))]
        for name, op in ops():
            rows.append((name, passes(A.Compose([op], seed=args.seed), images, args.repeats)))
        chain_s = statistics.median(rows[0][1])
        for name, times in rows:
            med = statistics.median(times)
            ips = statistics.median([count / t for t in times])
            row = {
                "workload": f"{side}×{side}×{channels}",
                "op": name,
                "images": count,
                "repeats": args.repeats,
                "median_images_per_s": ips,
                "median_ms_per_image": med * 1e3 / count,
                "share": med / chain_s,
            }
            if args.json:
                print(json.dumps(row, ensure_ascii=False))
            else:
                print(f"{row['workload']:<12} {count:>6} {name:<20} {ips:>10.0f} "
                      f"{row['median_ms_per_image']:>9.4f} {row['share'] * 100:>5.0f}%")


if __name__ == "__main__":
    main()
