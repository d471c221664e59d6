"""The built-in datasets shipped with CNN Studio (always available offline)."""

from __future__ import annotations

import zipfile
from functools import cache

import numpy as np

from cnnstudio.data.dataset import Dataset, DatasetSplit
from cnnstudio.data.errors import DatasetError
from cnnstudio.fileio import open_regular

__all__ = ["BUILTIN_DATASETS", "load_builtin"]

#: Name accepted by :func:`load_builtin` and ``--data`` -> (file, description).
BUILTIN_DATASETS: dict[str, tuple[str, str]] = {
    "mnist-sample": (
        "mnist_sample.npz",
        "5,000 MNIST handwritten digits (4,000 training, 1,000 held out), 28x28 grayscale",
    ),
}

_KEYS = ("train_images", "train_labels", "test_images", "test_labels", "class_names")


@cache
def _arrays(name: str) -> dict[str, np.ndarray]:
    from cnnstudio.resources import resource_path

    path = BUILTIN_DATASETS[name][0]
    try:
        path = str(resource_path("datasets", path))
        with open_regular(path) as f, np.load(f, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in _KEYS}
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise DatasetError(
            f"the built-in dataset file is missing or damaged ({exc}); reinstall CNN Studio", path
        ) from exc
    for a in arrays.values():
        a.flags.writeable = False
    return arrays


def load_builtin(name: str = "mnist-sample") -> DatasetSplit:
    """Load a built-in dataset as its fixed training and held-out parts.

    Parameters
    ----------
    name
        A key of :data:`BUILTIN_DATASETS` (``"mnist-sample"``).

    Returns
    -------
    DatasetSplit
        ``train`` (4,000 images, 400 per digit) and ``test`` (1,000, 100 per digit)
        for ``"mnist-sample"``. The arrays are read once per process and shared.
    """
    if name not in BUILTIN_DATASETS:
        known = ", ".join(BUILTIN_DATASETS)
        raise DatasetError(f"there is no built-in dataset called {name!r} (known: {known})")
    a = _arrays(name)
    names = [str(n) for n in a["class_names"]]
    source = f"built-in ({BUILTIN_DATASETS[name][1]})"
    title = "MNIST sample" if name == "mnist-sample" else name
    return DatasetSplit(
        train=Dataset(a["train_images"], a["train_labels"], names, f"{title} (training)", source),
        test=Dataset(a["test_images"], a["test_labels"], names, f"{title} (held out)", source),
    )
