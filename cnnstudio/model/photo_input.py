"""A photo on its way into a colour network: the picture, its centre crop, the input.

Draw & Predict shows each step for a photo model (input ``C@HxW`` without digit
preprocessing): the picture as given, the centre crop with the model's aspect ratio
(drawn on the picture), that crop resized to ``H x W`` (what the network gets before
normalisation), and the per-channel normalisation. The folder predictor feeds photos
through the same steps, so a file gets the same answer in the table and on its own.

No Qt: the views convert a clipboard QImage to an array and call :func:`photo_from_array`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cnnstudio.data.errors import DatasetError
from cnnstudio.data.folder import MAX_IMAGE_PIXELS, flatten_alpha, image_file, image_to_array
from cnnstudio.data.preprocess import centre_crop_box, centre_crop_input

__all__ = [
    "MAX_PICTURE_SIDE",
    "PhotoInput",
    "centre_crop_box",
    "check_picture_size",
    "is_photo_model",
    "photo_from_array",
    "photo_from_file",
]

#: Pictures are kept at most this wide or high (a phone photo is thousands of pixels
#: wide; the network gets 32x32, and the view shows a few hundred pixels).
MAX_PICTURE_SIDE = 1024


@dataclass(frozen=True)
class PhotoInput:
    """One photo and every step of what the network makes of it.

    Attributes
    ----------
    picture
        The picture as given, uint8 ``(h, w, 3)`` RGB (a transparent picture on
        white), shrunk to at most :data:`MAX_PICTURE_SIDE` on its longer side.
    crop
        ``(left, top, right, bottom)`` in ``picture`` pixels: the largest centred box
        with the input's aspect ratio, the part that is resized to the input size.
    input
        float32 ``(C, H, W)`` in [0, 1]: the crop at the model's input size, before
        normalisation (what ``TrainedModel.predict_proba`` takes).
    notes
        What was changed to fit the model, in words (e.g. a grayscale picture's grey
        copied to the three channels); empty when nothing was.
    name
        Where the photo came from (a file name, "the clipboard").
    """

    picture: np.ndarray
    crop: tuple[int, int, int, int]
    input: np.ndarray
    notes: tuple[str, ...]
    name: str

    @property
    def grayscale(self) -> bool:
        """True when the picture has no colour (every pixel's R, G and B are equal)."""
        p = self.picture
        return bool(np.array_equal(p[..., 0], p[..., 1]) and np.array_equal(p[..., 1], p[..., 2]))


def is_photo_model(model: Any) -> bool:
    """True for a model that takes whole pictures (no digit preprocessing) in colour."""
    if model is None:
        return False
    shape = tuple(int(v) for v in model.input_shape)
    return len(shape) == 3 and shape[0] == 3 and not model.digit_preprocessing


def _rgb(img: Image.Image) -> Image.Image:
    """The picture as 8-bit RGB, transparency on white and 16-bit grey scaled to bytes."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # image_to_array scales wide greys by their brightest value; keep the size.
        return Image.fromarray(image_to_array(img, (img.height, img.width), "L")[0]).convert("RGB")
    return flatten_alpha(img).convert("RGB")


def _from_image(img: Image.Image, input_shape: tuple[int, ...], name: str) -> PhotoInput:
    c, h, w = (int(v) for v in input_shape)
    if c not in (1, 3):
        raise DatasetError(f"the model input must have 1 or 3 channels, got {c}")
    if max(img.size) > MAX_PICTURE_SIDE:
        img.thumbnail((MAX_PICTURE_SIDE, MAX_PICTURE_SIDE), Image.Resampling.LANCZOS)
    rgb = _rgb(img)
    picture = np.asarray(rgb, dtype=np.uint8)
    box = centre_crop_box(rgb.width, rgb.height, h, w)
    x = centre_crop_input(rgb, (h, w), "RGB" if c == 3 else "L")
    photo = PhotoInput(picture, box, x, (), name)
    notes: list[str] = []
    if c == 3 and photo.grayscale:
        notes.append(
            "this is a grayscale picture and the model expects colour: its grey is given "
            "to the red, green and blue channels alike (expect a less sure answer)"
        )
    elif c == 1 and not photo.grayscale:
        notes.append("this model reads grayscale: the colour picture was converted to grey")
    return PhotoInput(picture, box, photo.input, tuple(notes), name)


def photo_from_file(path: str | Path, input_shape: tuple[int, ...]) -> PhotoInput:
    """Open a picture file safely and prepare it for a model with ``input_shape`` (C, H, W).

    The file is opened as the dataset loaders open images (regular files only, the
    size checked before decoding: at most :data:`~cnnstudio.data.folder.MAX_IMAGE_PIXELS`,
    a larger JPEG decoded at a reduced size).

    Raises
    ------
    DatasetError
        For a missing, empty, non-regular, too large, damaged or non-image file,
        naming it and the reason.
    """
    path = Path(path)
    side = (MAX_PICTURE_SIDE, MAX_PICTURE_SIDE)
    with image_file(path, shrink_to=side) as opened:
        opened.draft(opened.mode, side)  # a JPEG decodes directly near the shown size
        opened.load()
        return _from_image(opened, input_shape, path.name)


def check_picture_size(width: int, height: int, name: str = "the clipboard") -> None:
    """Refuse a decoded picture larger than the file loaders decode (DatasetError)."""
    if width * height > MAX_IMAGE_PIXELS:
        raise DatasetError(
            f"{name}: the picture is too large: {width}x{height} pixels "
            f"({width * height / 1e6:,.0f} megapixels; CNN Studio reads at most "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f}); shrink it"
        )


def photo_from_array(
    pixels: np.ndarray, input_shape: tuple[int, ...], name: str = "the clipboard"
) -> PhotoInput:
    """Prepare a decoded picture (e.g. pasted): uint8 ``(h, w)``, ``(h, w, 3)`` or ``(h, w, 4)``.

    Raises
    ------
    DatasetError
        For an empty or wrongly shaped array, or a picture of more than
        :data:`~cnnstudio.data.folder.MAX_IMAGE_PIXELS` pixels (the file loaders' limit).
    """
    a = np.asarray(pixels)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or a.size == 0:
        raise DatasetError(f"{name} does not hold a picture (array of shape {a.shape})")
    check_picture_size(a.shape[1], a.shape[0], name)
    if a.dtype != np.uint8:
        raise DatasetError(f"{name}: expected 8-bit pixels, got {a.dtype}")
    # Pillow reads the mode from the shape: L, RGB or RGBA.
    return _from_image(Image.fromarray(np.ascontiguousarray(a)), input_shape, name)
