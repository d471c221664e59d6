"""MNIST-style preprocessing of drawings and photos of digits, and image files for prediction.

One implementation serves the drawing pad, ``cnnstudio predict`` and the exported
predict script (which copies this module's logic; keep it NumPy + Pillow only).

MNIST's recipe: the digit's bounding box is scaled so its longer side is 20 pixels
(keeping the aspect ratio, anti-aliased), then placed in a 28x28 field so that its
centre of mass is at pixel (14, 14). Any output size works: the box is 20/28 of
it. Applied to MNIST's own digits it changes them by ~0.01 grey levels on average.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from cnnstudio.data.errors import DatasetError
from cnnstudio.data.folder import image_file, image_to_array

__all__ = [
    "INK_THRESHOLD",
    "centre_crop_box",
    "centre_crop_input",
    "has_ink",
    "is_grayscale_picture",
    "load_image_for_prediction",
    "preprocess_digit",
    "to_gray01",
]

#: Ink darker than this (on a 0-1 scale, after background removal) counts as no ink.
INK_THRESHOLD = 0.1
_BOX_FRACTION = 20.0 / 28.0
#: Pictures larger than this (pixels, longer side) are shrunk before preprocessing.
_MAX_SIDE = 1024
#: A picture is judged grey or colour on a copy this small (colour is not in the detail).
_GREY_PROBE_SIDE = 128
#: Channels this close (0-255) still count as grey: a grey photo saved as a colour JPEG
#: comes back with a level or two of colour noise.
_GREY_TOLERANCE = 6


def to_gray01(image: np.ndarray) -> np.ndarray:
    """Any image array as float64 grayscale in [0, 1], shape (H, W).

    Accepts (H, W), (H, W, 3|4), (1|3, H, W); uint8 (0-255), bool, or floats
    (in [0, 1]; floats above 1 are taken as 0-255). Transparent pixels count as white.
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (3, 4):
        a = np.moveaxis(a, 0, -1)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)) or a.size == 0:
        raise DatasetError(f"expected a grayscale or RGB image array, got shape {a.shape}")
    if a.dtype == bool:
        a = a.astype(np.float64)
    elif a.dtype == np.uint8:
        a = a.astype(np.float64) / 255.0
    else:
        a = a.astype(np.float64)
        if not np.isfinite(a).all():
            raise DatasetError("the image holds NaN or infinite values")
        if a.max() > 1.0:
            a = a / 255.0
    if a.ndim == 3:
        if a.shape[-1] == 4:
            alpha = a[..., 3:4]
            a = a[..., :3] * alpha + (1.0 - alpha)
        a = a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114
    return np.clip(a, 0.0, 1.0)


def _box3(a: np.ndarray) -> np.ndarray:
    """3x3 mean (edges padded with the border value): isolated noise pixels fade, strokes stay."""
    p = np.pad(a, 1, mode="edge")
    rows = p[:-2] + p[1:-1] + p[2:]
    return (rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]) / 9.0


def _ink(gray: np.ndarray, invert: bool | str) -> tuple[np.ndarray, np.ndarray]:
    """Ink as bright-on-dark in [0, 1] (background removed, contrast stretched) and its mask."""
    h, w = gray.shape
    b = max(1, min(h, w) // 20)
    border = np.concatenate(
        [gray[:b].ravel(), gray[-b:].ravel(), gray[:, :b].ravel(), gray[:, -b:].ravel()]
    )
    if invert == "auto":
        invert = bool(np.median(border) > 0.5)
    elif not isinstance(invert, (bool, np.bool_)):
        raise DatasetError(f'invert must be True, False or "auto", got {invert!r}')
    ink = 1.0 - gray if invert else gray
    border_ink = 1.0 - border if invert else border
    # Paper in a photo is not pure white: its level becomes the new black.
    background = float(np.median(border_ink))
    noise = 1.4826 * float(np.median(np.abs(border_ink - background)))
    if noise < 1.0 / 255.0:
        # Clean input (drawing pad, scans, MNIST itself): every bit of ink counts.
        top = float(ink.max())
        if top - background < INK_THRESHOLD:
            return np.zeros_like(ink), np.zeros(ink.shape, dtype=bool)
        stretched = np.clip((ink - background) / (top - background), 0.0, 1.0)
        # The box of clear ink, widened by one pixel to take in the faint
        # anti-aliased fringe (as MNIST's boxes do) but not faint marks elsewhere.
        core = stretched > INK_THRESHOLD
        rows, cols = np.flatnonzero(core.any(axis=1)), np.flatnonzero(core.any(axis=0))
        y0, y1 = max(rows[0] - 1, 0), min(rows[-1] + 2, h)
        x0, x1 = max(cols[0] - 1, 0), min(cols[-1] + 2, w)
        mask = np.zeros(ink.shape, dtype=bool)
        mask[y0:y1, x0:x1] = stretched[y0:y1, x0:x1] > 0.0
        return stretched, mask
    # Noisy input (photos): the brightest ink and the ink's extent are judged on a
    # 3x3 mean, so single noisy pixels neither set the contrast nor widen the box.
    smooth = _box3(ink)
    top = float(smooth.max())
    if top - background < max(INK_THRESHOLD, 3.0 * noise):
        return np.zeros_like(ink), np.zeros(ink.shape, dtype=bool)
    scale = 1.0 / (top - background)
    stretched = np.clip((ink - background) * scale, 0.0, 1.0)
    # Ink needs both: bright itself (not the mean's halo) and bright around (not a speck).
    mask = ((smooth - background) * scale > INK_THRESHOLD) & (stretched > INK_THRESHOLD)
    return stretched, mask


def has_ink(image: np.ndarray, invert: bool | str = "auto") -> bool:
    """True if :func:`preprocess_digit` would find something drawn in ``image``."""
    return bool(_ink(to_gray01(image), invert)[1].any())


def preprocess_digit(
    image: np.ndarray,
    out_size: tuple[int, int] = (28, 28),
    invert: bool | str = "auto",
) -> np.ndarray:
    """Turn a drawing or photo of a digit into an MNIST-like network input.

    Parameters
    ----------
    image
        Any size; grayscale or RGB(A); uint8 or float in [0, 1]; (H, W), (H, W, C)
        or (C, H, W).
    out_size
        (H, W) of the result (the model's input size).
    invert
        True when the ink is dark on a light background (paper), False for light
        ink on dark (the drawing pad, MNIST), ``"auto"`` to decide from the border:
        a light border means dark ink.

    Returns
    -------
    numpy.ndarray
        float32 (H, W) in [0, 1], ink bright on black, the ink's bounding box scaled
        to fit 20/28 of the output keeping its aspect ratio, its centre of mass at
        pixel (H/2, W/2) (14, 14 for 28x28, as in MNIST). All zeros when there is no
        ink (test with ``result.any()`` or :func:`has_ink`).
    """
    out_h, out_w = int(out_size[0]), int(out_size[1])
    if out_h < 1 or out_w < 1:
        raise DatasetError(f"output size must be positive, got {out_size}")
    ink, mask = _ink(to_gray01(image), invert)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    out = np.zeros((out_h, out_w), dtype=np.float32)
    if rows.size == 0:
        return out
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32)

    box_h = max(1, round(out_h * _BOX_FRACTION))
    box_w = max(1, round(out_w * _BOX_FRACTION))
    factor = min(box_h / crop.shape[0], box_w / crop.shape[1])
    new_h = min(box_h, max(1, round(crop.shape[0] * factor)))
    new_w = min(box_w, max(1, round(crop.shape[1] * factor)))
    glyph = Image.fromarray(crop).resize((new_w, new_h), Image.Resampling.LANCZOS)
    glyph_a = np.clip(np.asarray(glyph, dtype=np.float32), 0.0, 1.0)

    mass = float(glyph_a.sum())
    if mass <= 0.0:
        return out
    cy = float((glyph_a.sum(axis=1) * np.arange(new_h)).sum() / mass)
    cx = float((glyph_a.sum(axis=0) * np.arange(new_w)).sum() / mass)
    # MNIST puts the centre of mass at pixel (14, 14) of 28x28 (measured on the
    # built-in sample: mean 13.99, sd 0.28), i.e. at size / 2, not (size - 1) / 2.
    top = round(out_h / 2.0 - cy)
    left = round(out_w / 2.0 - cx)
    # Paste with clipping: a lopsided glyph may be pushed partly off the canvas.
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + new_h, out_h), min(left + new_w, out_w)
    if y1 > y0 and x1 > x0:
        out[y0:y1, x0:x1] = glyph_a[y0 - top : y1 - top, x0 - left : x1 - left]
    return out


def centre_crop_box(width: int, height: int, out_h: int, out_w: int) -> tuple[int, int, int, int]:
    """The largest box centred in a ``width x height`` picture with the aspect ``out_w:out_h``.

    Cropping to it and then resizing keeps the picture's proportions (a wide photo
    loses its sides, a tall one its top and bottom) instead of squashing it.
    """
    if width < 1 or height < 1 or out_h < 1 or out_w < 1:
        raise DatasetError(f"cannot crop a {width}x{height} picture to {out_w}x{out_h}")
    if width * out_h > height * out_w:  # wider than the input: keep the full height
        crop_w = max(1, round(height * out_w / out_h))
        left = (width - crop_w) // 2
        return (left, 0, left + crop_w, height)
    crop_h = max(1, round(width * out_h / out_w))
    top = (height - crop_h) // 2
    return (0, top, width, top + crop_h)


def centre_crop_input(img: Image.Image, size: tuple[int, int], color: str) -> np.ndarray:
    """A picture's :func:`centre_crop_box` resized to ``size`` (H, W) as the dataset
    loaders resize images (``image_to_array``), float32 (C, H, W) in [0, 1]: what a photo
    model gets from a picture, on the command line and in Draw & Predict alike."""
    h, w = size
    box = centre_crop_box(img.width, img.height, h, w)
    a = image_to_array(img.crop(box), (h, w), color).astype(np.float32)
    return np.ascontiguousarray(a / np.float32(255.0))


def load_image_for_prediction(
    path: str | Path,
    input_shape: tuple[int, int, int],
    mode: str = "auto",
    invert: bool | str = "auto",
) -> np.ndarray:
    """Read an image file as one network input, float32 (C, H, W) in [0, 1].

    Parameters
    ----------
    path
        PNG, JPEG, BMP, GIF, ... (anything Pillow reads; first frame).
    input_shape
        The model's (C, H, W).
    mode
        ``"digit"``: MNIST-style :func:`preprocess_digit` (crop, fit 20/28, centre of
        mass), the result repeated over 3 channels for an RGB model. ``"resize"``:
        the largest centred box of the picture with the input's proportions
        (:func:`centre_crop_box`), resized to H x W in the model's colour mode, as
        Draw & Predict shows it. ``"auto"``:
        digit for 1-channel models, resize for RGB models.
    invert
        Passed to :func:`preprocess_digit`.

    Raises
    ------
    DatasetError
        For a missing, zero-byte, unreadable, too large (see
        :data:`~cnnstudio.data.folder.MAX_IMAGE_PIXELS`), non-regular or non-image file
        (naming it).
    """
    c, h, w = (int(v) for v in input_shape)
    if c not in (1, 3):
        raise DatasetError(f"the model input must have 1 or 3 channels, got {c}")
    if mode == "auto":
        mode = "digit" if c == 1 else "resize"
    if mode not in ("digit", "resize"):
        raise DatasetError(f'mode must be "digit", "resize" or "auto", got {mode!r}')
    path = Path(path)
    # Only regular files, size-checked before decoding; decoding errors are DatasetErrors.
    with image_file(path, shrink_to=(_MAX_SIDE, _MAX_SIDE)) as opened:
        # Phone photos are thousands of pixels wide; a 1024-pixel copy keeps the
        # digit's shape and makes the rest fast (JPEG even decodes at that size).
        opened.draft(opened.mode, (_MAX_SIDE, _MAX_SIDE))
        opened.load()
        img: Image.Image = opened
        if max(img.size) > _MAX_SIDE:
            img.thumbnail((_MAX_SIDE, _MAX_SIDE), Image.Resampling.LANCZOS)
        if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(white, rgba)
        pic = img.convert("L" if c == 1 else "RGB")
    if mode == "digit":
        digit = preprocess_digit(np.asarray(pic), (h, w), invert=invert)
        return np.repeat(digit[None], c, axis=0)
    return centre_crop_input(pic, (h, w), "L" if c == 1 else "RGB")


def is_grayscale_picture(path: str | Path) -> bool:
    """Whether the picture at ``path`` has no colour: a grayscale file, or a colour file
    whose red, green and blue are equal (within a few levels) at every pixel.

    A colour network given such a picture sees three equal channels, which it never
    saw in training; ``cnnstudio predict`` refuses it for a photo model for that reason.

    Raises
    ------
    DatasetError
        As :func:`load_image_for_prediction`, for a file that is not a readable image.
    """
    side = _GREY_PROBE_SIDE
    with image_file(path, shrink_to=(side, side)) as img:
        img.draft(img.mode, (side, side))  # a JPEG decodes small directly
        img.load()
        small = img.convert("RGB")  # a grey file: three equal channels
    small.thumbnail((side, side))
    a = np.asarray(small, dtype=np.int16)
    return bool(np.abs(np.diff(a, axis=-1)).max() <= _GREY_TOLERANCE)
