#!/usr/bin/env python3
"""Writes the generated seed inputs of fuzz/corpus/{idx,cifar,csv,checkpoint}/.

Deterministic; rerun after changing it (`python3 fuzz/make_seeds.py`). The pipeline seeds
are hand-written files, and the two checkpoints `mlp*.safetensors` (with their sidecars)
were written by kiln itself; the variants of them below are derived from those files.
Files already in the corpus that this script does not write (regressions, interesting
inputs kept from long runs) are left alone.
"""

import gzip
import hashlib
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data)


def idx(dims, data, type_code=0x08):
    out = bytes([0, 0, type_code, len(dims)])
    for d in dims:
        out += struct.pack(">I", d)
    return out + bytes(data)


def gz(data):
    # mtime 0: the same bytes every time.
    return gzip.compress(data, mtime=0)


def idx_seeds():
    images = idx([4, 3, 3], [(i * 37) % 256 for i in range(36)])
    labels = idx([4], [0, 1, 0, 1])
    put("idx", "images-4x3x3", images)
    put("idx", "labels-4", labels)
    put("idx", "images-4x3x3.gz", gz(images))
    put("idx", "labels-4.gz", gz(labels))
    put("idx", "array-2x2x2x2", idx([2, 2, 2, 2], range(16)))
    put("idx", "truncated", images[:-1])
    put("idx", "trailing", images + b"\x00")
    put("idx", "header-cut", images[:9])
    put("idx", "bad-magic", b"\x01" + images[1:])
    put("idx", "int32-type", idx([1], [0, 0, 0, 1], type_code=0x0C))
    put("idx", "no-dims", bytes([0, 0, 8, 0]))
    put("idx", "zero-images", idx([0, 28, 28], []))
    put("idx", "zero-width", idx([2, 3, 0], []))
    put("idx", "overflowing-dims", idx([0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF], []))
    put("idx", "label-11", idx([4], [0, 1, 11, 1]))
    put("idx", "gz-truncated", gz(images)[:20])


RECORD = 1 + 3 * 32 * 32


def cifar_records(labels):
    out = b""
    for i, label in enumerate(labels):
        out += bytes([label]) + bytes((i * 7 + j) % 256 for j in range(RECORD - 1))
    return out


def cifar_seeds():
    put("cifar", "one-record", cifar_records([3]))
    put("cifar", "four-records", cifar_records([0, 1, 0, 1]))
    put("cifar", "truncated", cifar_records([2, 2])[: RECORD + 100])
    put("cifar", "label-10", cifar_records([1, 10]))
    put("cifar", "empty", b"")
    put("cifar", "short", b"\x05" + b"\x80" * 99)


def csv_seeds():
    rows = "".join(f"{i},{i * 2},{255 - i},{i % 7},{i % 3}\n" for i in range(12))
    put("csv", "numeric-header.csv", "a,b,c,d,label\n" + rows)
    put(
        "csv",
        "numeric-test-crlf.csv",
        "a,b,c,d,label\r\n"
        + rows.replace("\n", "\r\n")
        + "\n#test\na,b,c,d,label\r\n1,2,3,4,0\r\n5,6,7,8,2\r\n",
    )
    put(
        "csv",
        "string-labels.tsv",
        '#params {"header": false, "delimiter": "\\t", "label": 0, "valid_fraction": 0.25}\n'
        + "".join(f'"{["dog", "cat", "ant"][i % 3]}"\t{i}\t{i + 1}\n\n' for i in range(9)),
    )
    put(
        "csv",
        "shape-scale.csv",
        '#params {"shape": "2x1x2", "scale": 255.0, "label": "label"}\n'
        + "p0,p1,p2,p3,label\n"
        + "".join(f"{i},{i * 3},{200 - i},{i},{i % 2}\n" for i in range(8)),
    )
    put(
        "csv",
        "quoted.csv",
        'x,"y ""quoted""",label\n"1.5",2e3,"a"\n-0.25,inf,b\n3,4,a\n5,6,b\n',
    )
    put("csv", "ragged.csv", "x,y,label\n1,2,0\n\n3,1\n")
    put("csv", "unterminated-quote.csv", 'x,y,label\n1,"2,0\n')
    put(
        "csv",
        "unseen-test-label.csv",
        "x,label\n1,a\n2,b\n3,a\n4,b\n#test\nx,label\n5,c\n",
    )
    put("csv", "one-class.csv", "x,label\n1,0\n2,0\n3,0\n")
    put("csv", "not-utf8.csv", b"x,label\n1,\xff\xfe\n")


def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    data = b""
    for name, dtype, shape, raw in tensors:
        header[name] = {
            "dtype": dtype,
            "shape": shape,
            "data_offsets": [len(data), len(data) + len(raw)],
        }
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def read_safetensors(path):
    with open(path, "rb") as f:
        b = f.read()
    (n,) = struct.unpack("<Q", b[:8])
    header = json.loads(b[8 : 8 + n])
    meta = header.pop("__metadata__", None)
    tensors = []
    for name, t in header.items():
        a, z = t["data_offsets"]
        tensors.append((name, t["dtype"], t["shape"], b[8 + n + a : 8 + n + z]))
    return tensors, meta, b


def checkpoint_seeds():
    tensors, meta, raw = read_safetensors(os.path.join(CORPUS, "checkpoint", "mlp.safetensors"))
    by_name = {t[0]: t for t in tensors}
    put("checkpoint", "truncated.safetensors", raw[: len(raw) - 100])
    put("checkpoint", "header-only.safetensors", raw[:100])
    put("checkpoint", "huge-header-length.safetensors", struct.pack("<Q", 1 << 62) + raw[8:64])
    put(
        "checkpoint",
        "missing-tensor.safetensors",
        safetensors([t for t in tensors if t[0] != "out.bias"], meta),
    )
    transposed = [
        (n, d, list(reversed(s)) if n == "hidden.0.weight" else s, r) for n, d, s, r in tensors
    ]
    put("checkpoint", "transposed.safetensors", safetensors(transposed, meta))
    wrong = [
        (n, d, [s[0] * 2] if n == "out.bias" else s, r * 2 if n == "out.bias" else r)
        for n, d, s, r in tensors
    ]
    put("checkpoint", "wrong-shape.safetensors", safetensors(wrong, meta))
    half = [
        (n, "F16", s, r[: len(r) // 2]) if n == "out.weight" else (n, d, s, r)
        for n, d, s, r in tensors
    ]
    put("checkpoint", "f16-tensor.safetensors", safetensors(half, meta))
    extra = tensors + [("extra.weight", "F32", [2], b"\x00" * 8)]
    put("checkpoint", "extra-tensor.safetensors", safetensors(extra, meta))
    nan = [(n, d, s, b"\x00\x00\xc0\x7f" * (len(r) // 4)) for n, d, s, r in tensors]
    put("checkpoint", "nan-weights.safetensors", safetensors(nan, meta))
    del by_name
    # The checkpoint target reads a sidecar beside a copy of mlp.safetensors: these carry
    # its checksum (the trainer records it), so `checkpoint::verify` passes them on.
    sha = hashlib.sha256(raw).hexdigest()
    for name, state in [
        ("iteration.state.json", {"iteration": 5}),
        ("iteration-max.state.json", {"iteration": 18446744073709551615}),
        (
            "warmup.state.json",
            {"iteration": 6, "inner_epochs": 1, "inner": {"iteration": 2}},
        ),
        ("bad-type.state.json", {"iteration": "five"}),
        ("negative.state.json", {"steps": -1}),
        ("steps-huge.state.json", {"steps": 4294967296}),
    ]:
        put(
            "checkpoint",
            name,
            json.dumps(
                {
                    "epoch": 1,
                    "value": 0.5,
                    "val_accuracy": 0.5,
                    "val_loss": 1.0,
                    "lr": 0.01,
                    "sha256": sha,
                    "scheduler_state": state,
                },
                indent=2,
            ),
        )
    put("checkpoint", "no-scheduler-state.state.json", '{"epoch": 0}')
    put(
        "checkpoint",
        "wrong-sha256.state.json",
        json.dumps({"sha256": "0" * 64, "scheduler_state": {"iteration": 1}}),
    )


if __name__ == "__main__":
    idx_seeds()
    cifar_seeds()
    csv_seeds()
    checkpoint_seeds()
