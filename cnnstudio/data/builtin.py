"""The built-in datasets shipped with CNN Studio (always available offline).

Each is one ``.npz`` file under ``resources/datasets/`` (read with ``allow_pickle=False``)
holding a fixed training part and a held-out part. The MNIST sample stores its uint8
pixels; the CIFAR-10 sample stores each photo as its original JPEG file (one uint8 blob
plus offsets), a tenth of the raw pixels' size, decoded here once per process.
"""

from __future__ import annotations

import zipfile
from functools import cache

import numpy as np
from PIL import Image

from cnnstudio.data.dataset import Dataset, DatasetSplit
from cnnstudio.data.errors import DatasetError
from cnnstudio.fileio import open_regular

__all__ = ["BUILTIN_DATASETS", "BUILTIN_TITLES", "load_builtin"]

#: Name accepted by :func:`load_builtin` and ``--data`` -> (file, description).
BUILTIN_DATASETS: dict[str, tuple[str, str]] = {
    "mnist-sample": (
        "mnist_sample.npz",
        "5,000 MNIST handwritten digits (4,000 training, 1,000 held out), 28x28 grayscale",
    ),
    "cifar10-sample": (
        "cifar10_sample.npz",
        "6,000 CIFAR-10 colour photos in 10 classes (5,000 training, 1,000 held out), 32x32 RGB",
    ),
}

#: Each built-in dataset's short title, as menus and summaries say it.
BUILTIN_TITLES = {"mnist-sample": "MNIST sample", "cifar10-sample": "CIFAR-10 sample"}

_KEYS = ("train_images", "train_labels", "test_images", "test_labels", "class_names")


@cache
def _arrays(name: str) -> dict[str, np.ndarray]:
    from cnnstudio.resources import resource_path

    path = BUILTIN_DATASETS[name][0]
    try:
        path = str(resource_path("datasets", path))
        with open_regular(path) as f, np.load(f, allow_pickle=False) as npz:
            if "train_jpeg" in npz.files:
                arrays = _decode_jpeg_parts(npz)
            else:
                arrays = {k: npz[k] for k in _KEYS}
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise DatasetError(
            f"the built-in dataset file is missing or damaged ({exc}); reinstall CNN Studio", path
        ) from exc
    for a in arrays.values():
        a.flags.writeable = False
    return arrays


def _decode_jpeg_parts(npz: np.lib.npyio.NpzFile) -> dict[str, np.ndarray]:
    """The arrays of a file that stores its images as JPEG files (``<part>_jpeg`` + offsets)."""
    c, h, w = (int(v) for v in npz["image_shape"])
    if c != 3:
        raise ValueError(f"image_shape {(c, h, w)} is not RGB")
    arrays = {"class_names": npz["class_names"]}
    for part in ("train", "test"):
        blob, offsets = npz[f"{part}_jpeg"], npz[f"{part}_offsets"]
        n = len(offsets) - 1
        if blob.dtype != np.uint8 or blob.ndim != 1 or n < 0:
            raise ValueError(f"{part}_jpeg is not a byte blob with offsets")
        if offsets[0] != 0 or offsets[-1] != blob.size or np.any(np.diff(offsets) <= 0):
            raise ValueError(f"{part}_offsets do not cut {part}_jpeg into files")
        images = np.empty((n, h, w, c), dtype=np.uint8)
        data = blob.tobytes()
        for i in range(n):
            # frombytes with Pillow's JPEG decoder skips Image.open's format detection and
            # Python-side header parsing, which cost as much as the decoding: the same
            # pixels in less time (benchmarks/README.md, "Figures quoted in the code").
            images[i] = np.asarray(
                Image.frombytes("RGB", (w, h), data[offsets[i] : offsets[i + 1]], "jpeg", "RGB", "")
            )
        arrays[f"{part}_images"] = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
        arrays[f"{part}_labels"] = npz[f"{part}_labels"]
    return arrays


def load_builtin(name: str = "mnist-sample") -> DatasetSplit:
    """Load a built-in dataset as its fixed training and held-out parts.

    Parameters
    ----------
    name
        A key of :data:`BUILTIN_DATASETS` (``"mnist-sample"``, ``"cifar10-sample"``).

    Returns
    -------
    DatasetSplit
        ``train`` (4,000 images, 400 per digit) and ``test`` (1,000, 100 per digit)
        for ``"mnist-sample"``; ``train`` (5,000 photos of 3@32x32, 500 per class) and
        ``test`` (1,000, 100 per class) for ``"cifar10-sample"``. The arrays are read
        once per process and shared.
    """
    if name not in BUILTIN_DATASETS:
        known = ", ".join(BUILTIN_DATASETS)
        raise DatasetError(f"there is no built-in dataset called {name!r} (known: {known})")
    a = _arrays(name)
    names = [str(n) for n in a["class_names"]]
    source = f"built-in ({BUILTIN_DATASETS[name][1]})"
    title = BUILTIN_TITLES.get(name, name)
    return DatasetSplit(
        train=Dataset(a["train_images"], a["train_labels"], names, f"{title} (training)", source),
        test=Dataset(a["test_images"], a["test_labels"], names, f"{title} (held out)", source),
    )
