"""Resizing and colour conversion of uint8 image batches, with a memory guard."""

from __future__ import annotations

import numpy as np

from cnnstudio.data.errors import DatasetError

__all__ = ["MAX_DATASET_BYTES", "check_memory", "convert_images", "resize_batch", "to_color"]

#: The largest converted dataset a loader will build (uint8 bytes of N*C*H*W).
MAX_DATASET_BYTES = 2 * 1024**3


def _size_text(nbytes: float) -> str:
    return f"{nbytes / 1024**3:.1f} GB" if nbytes >= 1024**3 / 10 else f"{nbytes / 1024**2:.1f} MB"


def check_memory(
    n: int,
    shape: tuple[int, int, int],
    what: str,
    limit: int | None = None,
    *,
    at_least: bool = False,
) -> None:
    """Refuse, with the numbers, a conversion whose uint8 result would exceed ``limit`` bytes.

    ``at_least`` says that ``n`` is a count so far (a loader reading rows as they come).
    """
    limit = MAX_DATASET_BYTES if limit is None else limit
    c, h, w = shape
    need = int(n) * int(c) * int(h) * int(w)
    if need > limit:
        count = f"{'at least ' if at_least else ''}{n} images"
        raise DatasetError(
            f"{count} of {c}@{h}x{w} would need {_size_text(need)} of memory "
            f"(the limit is {_size_text(limit)}); choose a smaller input size, "
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


def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of an antialiased bilinear (triangle) resize, as Pillow computes them.

    Downscaling widens the triangle to the scale factor so every input pixel
    contributes (no aliasing); rows sum to 1.
    """
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale
    pos = np.arange(n_in) + 0.5
    w = np.maximum(0.0, 1.0 - np.abs(pos[None, :] - centres[:, None]) / support)
    return w / w.sum(axis=1, keepdims=True)


def resize_batch(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a uint8 (N, C, H, W) batch to ``size`` (H, W) with two matrix products.

    The separable triangle filter equals Pillow's BILINEAR resize (within 1 grey
    level) and runs on the whole batch at once, in chunks to bound memory.
    """
    n, c, h, w = images.shape
    out_h, out_w = size
    ry = _resize_matrix(h, out_h).astype(np.float32)
    rx = _resize_matrix(w, out_w).T.astype(np.float32)
    out = np.empty((n, c, out_h, out_w), dtype=np.uint8)
    flat_in = images.reshape(n * c, h, w)
    flat_out = out.reshape(n * c, out_h, out_w)
    step = max(1, (1 << 24) // max(1, h * w + out_h * w))
    for start in range(0, n * c, step):
        chunk = flat_in[start : start + step].astype(np.float32)
        res = ry @ chunk @ rx
        np.clip(res + 0.5, 0, 255, out=res)
        flat_out[start : start + step] = res.astype(np.uint8)
    return out


def convert_images(
    images: np.ndarray,
    input_size: tuple[int, int] | None = None,
    color: str | None = None,
    what: str = "resized dataset",
) -> np.ndarray:
    """Resize an (N, C, H, W) uint8 batch to ``input_size`` (H, W) and/or change its colour mode.

    Returns the same array object when nothing changes. Resizing is an
    antialiased bilinear filter (:func:`resize_batch`), vectorised over the batch.
    ``what`` names the data in a refusal (the dataset's file, say).
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
            check_memory(n, (c, h, w), what)
            out = resize_batch(out, (h, w))
    return out
