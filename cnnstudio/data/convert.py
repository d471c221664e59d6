"""Resizing and colour conversion of uint8 image batches, with a memory guard."""

from __future__ import annotations

import numpy as np
from PIL import Image

from cnnstudio.data.errors import DatasetError

__all__ = ["MAX_DATASET_BYTES", "check_memory", "convert_images", "to_color"]

#: The largest converted dataset a loader will build (uint8 bytes of N*C*H*W).
MAX_DATASET_BYTES = 2 * 1024**3


def check_memory(n: int, shape: tuple[int, int, int], what: str, limit: int | None = None) -> None:
    """Refuse, with the numbers, a conversion whose uint8 result would exceed ``limit`` bytes."""
    limit = MAX_DATASET_BYTES if limit is None else limit
    c, h, w = shape
    need = int(n) * int(c) * int(h) * int(w)
    if need > limit:
        raise DatasetError(
            f"{n} images of {c}@{h}x{w} would need {need / 1024**3:.1f} GB of memory "
            f"(the limit is {limit / 1024**3:.1f} GB); choose a smaller input size, "
            "grayscale instead of RGB, or fewer images",
            what,
        )


def to_color(images: np.ndarray, color: str) -> np.ndarray:
    """Convert an (N, C, H, W) uint8 batch to ``"L"`` (1 channel) or ``"RGB"`` (3 channels)."""
    if color not in ("L", "RGB"):
        raise DatasetError(f'colour mode must be "L" (grayscale) or "RGB", got {color!r}')
    c = images.shape[1]
    if color == "L" and c == 3:
        # Pillow's "L" conversion weights (ITU-R 601-2), rounded the same way.
        x = images.astype(np.uint32)
        lum = (x[:, 0] * 299 + x[:, 1] * 587 + x[:, 2] * 114 + 500) // 1000
        return lum[:, None].astype(np.uint8)
    if color == "RGB" and c == 1:
        return np.repeat(images, 3, axis=1)
    return images


def convert_images(
    images: np.ndarray,
    input_size: tuple[int, int] | None = None,
    color: str | None = None,
) -> np.ndarray:
    """Resize an (N, C, H, W) uint8 batch to ``input_size`` (H, W) and/or change its colour mode.

    Returns the same array object when nothing changes. Resizing uses Pillow's
    antialiased bilinear filter, one image at a time (Pillow has no batch resize).
    """
    out = images
    if color is not None:
        out = to_color(out, color)
    if input_size is not None:
        h, w = int(input_size[0]), int(input_size[1])
        if h < 1 or w < 1:
            raise DatasetError(f"input size must be positive, got {input_size}")
        if out.shape[2:] != (h, w):
            n, c = out.shape[:2]
            check_memory(n, (c, h, w), "resized dataset")
            resized = np.empty((n, c, h, w), dtype=np.uint8)
            for i in range(n):
                for ch in range(c):
                    img = Image.fromarray(np.ascontiguousarray(out[i, ch]))
                    resized[i, ch] = np.asarray(img.resize((w, h), Image.Resampling.BILINEAR))
            out = resized
    return out
