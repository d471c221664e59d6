"""Take CNN Studio's built-in CIFAR-10 sample from the 50,000 CIFAR-10 JPEGs (run once).

Usage::

    .venv/bin/python tools/make_cifar_sample.py [/work/shared/datasets/cifar10_train_jpg.tar.gz]

Reads the JPEG copy of the CIFAR-10 training set (``./<class>/<nnnn>.jpg``, 5,000 per
class), checks its md5, draws 600 images of each class with a fixed seed (500 for
training, 100 held out) and writes ``resources/datasets/cifar10_sample.npz``.

The images are kept as the original JPEG files, byte for byte, concatenated into one
uint8 array with offsets (``cnnstudio.data.builtin`` decodes them with Pillow on
load): about 310 bytes of compressed pixels each, where the 3,072 bytes of raw pixels
would make the file ten times larger. The JPEG headers, identical in every file, are
what the npz's deflate compression removes. No pickled objects. Kept for provenance:
the shipped file is what the app uses.
"""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

SOURCE_MD5 = "bb887d01479c853dd3adf17aacc136d1"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
PER_CLASS = 5000
TRAIN_PER_CLASS = 500
HELD_OUT_PER_CLASS = 100
SEED = 20250110
REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "resources" / "datasets" / "cifar10_sample.npz"


def read_jpegs(src: Path) -> dict[str, bytes]:
    """``"<class>/<nnnn>.jpg"`` -> the file's bytes, for every JPEG in the archive."""
    files: dict[str, bytes] = {}
    with tarfile.open(src, "r:gz") as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            if member.isfile() and name.endswith(".jpg"):
                f = tar.extractfile(member)
                assert f is not None
                files[name] = f.read()
    return files


def pack(names: list[str], files: dict[str, bytes]) -> tuple[np.ndarray, np.ndarray]:
    """The files' bytes concatenated (uint8) and the N + 1 offsets of their starts and end."""
    blobs = [files[n] for n in names]
    offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in blobs], out=offsets[1:])
    return np.frombuffer(b"".join(blobs), dtype=np.uint8), offsets


def main(argv: list[str]) -> int:
    src = Path(argv[1] if len(argv) > 1 else "/work/shared/datasets/cifar10_train_jpg.tar.gz")
    md5 = hashlib.md5(src.read_bytes()).hexdigest()
    if md5 != SOURCE_MD5:
        print(f"{src}: md5 {md5} is not the expected {SOURCE_MD5}", file=sys.stderr)
        return 1
    files = read_jpegs(src)
    by_class = {c: sorted(n for n in files if n.split("/")[0] == c) for c in CLASSES}
    if len(files) != PER_CLASS * len(CLASSES) or any(
        len(v) != PER_CLASS for v in by_class.values()
    ):
        print(f"{src}: expected {PER_CLASS} JPEGs in each of {CLASSES}", file=sys.stderr)
        return 1

    rng = np.random.default_rng(SEED)
    parts: dict[str, list[str]] = {"train": [], "test": []}
    labels: dict[str, list[int]] = {"train": [], "test": []}
    for k, c in enumerate(CLASSES):
        drawn = rng.choice(PER_CLASS, TRAIN_PER_CLASS + HELD_OUT_PER_CLASS, replace=False)
        for part, picks in (
            ("train", drawn[:TRAIN_PER_CLASS]),
            ("test", drawn[TRAIN_PER_CLASS:]),
        ):
            chosen = sorted(by_class[c][i] for i in picks)
            parts[part] += chosen
            labels[part] += [k] * len(chosen)
    assert not set(parts["train"]) & set(parts["test"])
    for name in parts["train"] + parts["test"]:
        with Image.open(io.BytesIO(files[name])) as img:
            if (img.format, img.mode, img.size) != ("JPEG", "RGB", (32, 32)):
                print(f"{name}: not a 32x32 RGB JPEG", file=sys.stderr)
                return 1

    arrays: dict[str, Any] = {}
    for part in ("train", "test"):
        arrays[f"{part}_jpeg"], arrays[f"{part}_offsets"] = pack(parts[part], files)
        arrays[f"{part}_labels"] = np.array(labels[part], dtype=np.int64)
        arrays[f"{part}_files"] = np.array(parts[part])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        OUT,
        **arrays,
        class_names=np.array(CLASSES),
        image_shape=np.array([3, 32, 32], dtype=np.int64),
        source_md5=np.array(SOURCE_MD5),
        format_version=np.array(1, dtype=np.int64),
    )
    print(
        f"wrote {OUT} ({OUT.stat().st_size} bytes): "
        f"{len(parts['train'])} training, {len(parts['test'])} held-out images"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
