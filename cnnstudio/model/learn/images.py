"""Pictures for the lessons: a sample digit, and an image averaged down to a small grid."""

from __future__ import annotations

import numpy as np

from cnnstudio.model.learn.base import LabError

__all__ = ["downsample", "sample_digit"]


def downsample(image: np.ndarray, rows: int, cols: int, decimals: int = 1) -> np.ndarray:
    """Average a grayscale image down to ``rows x cols`` (area averaging), rounded for display."""
    from PIL import Image

    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2 or img.size == 0:
        raise LabError(f"an image must be 2-D (H, W), got shape {img.shape}")
    small = Image.fromarray(img, mode="F").resize((cols, rows), Image.Resampling.BOX)
    return np.round(np.asarray(small, dtype=np.float64), decimals)


def sample_digit(index: int = 0) -> tuple[np.ndarray, str]:
    """A 28x28 digit in [0, 1] and its caption: from the built-in MNIST sample when it loads,
    otherwise a digit drawn with NumPy."""
    try:
        from cnnstudio.data.builtin import load_builtin

        test = load_builtin().test
        if test is None:
            raise LookupError("the built-in sample has no held-out part")
        labels = np.asarray(test.labels)
        digit = index % 10
        pick = int(np.flatnonzero(labels == digit)[0])
        raw = np.asarray(test.images[pick])
        img = raw.astype(np.float32).reshape(28, 28)
        if raw.dtype == np.uint8:
            img /= 255.0
        return np.clip(img, 0.0, 1.0), f"MNIST sample digit {digit}"
    except Exception:  # any trouble with the dataset: use the drawn digit
        return _drawn_seven(), "a 7 drawn by the lab"


def _drawn_seven() -> np.ndarray:
    img = np.zeros((28, 28), dtype=np.float32)
    img[6:9, 6:22] = 1.0
    for r in range(9, 23):
        c = round(21 - (r - 9) * 0.55)
        img[r, c - 1 : c + 2] = 1.0
    return img
