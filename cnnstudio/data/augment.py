"""Seeded data augmentation for training, vectorised over the batch, and its preview grid.

Two families: the digits' (shift, rotation, scale, noise, stroke thickness) and the
photos' (random crop with reflect padding, horizontal flip, colour jitter, cutout). Every
image of a batch gets its own random draw, all from one ``numpy.random.Generator``, and
no Python loop runs over the images.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from cnnstudio.data.errors import DatasetError
from cnnstudio.data.normalize import Normalization

__all__ = [
    "CHANNEL_RULES",
    "DIGIT_AUGMENTATION",
    "PHOTO_AUGMENTATION",
    "Augmentation",
    "Transform",
    "augment_batch",
    "default_augmentation",
    "make_transform",
    "preview_grid",
]

#: ``transform(x_uint8_batch, rng) -> float32 batch``, as the training loop calls it
#: (``rng=None`` means no random augmentation: validation, probe, prediction).
Transform = Callable[[np.ndarray, np.random.Generator | None], np.ndarray]

_LIMITS = {
    "shift": 8,
    "rotation": 180.0,
    "scale": 0.5,
    "noise": 1.0,
    "thickness": 3,
    "crop": 16,
    "brightness": 1.0,
    "contrast": 1.0,
    "saturation": 1.0,
    "cutout": 32,
}
_WHOLE_PIXELS = ("shift", "thickness", "crop", "cutout")

#: Augmentations that only make sense for one number of channels, and why:
#: ``name -> (channels, reason)``. :meth:`Augmentation.for_channels` leaves them out
#: for other data; the Train view disables them with the reason.
CHANNEL_RULES: dict[str, tuple[int, str]] = {
    "thickness": (1, "Stroke thickness is for grey (1-channel) images such as digits"),
    "saturation": (3, "Saturation needs colour (3-channel) images"),
}

# ITU-R 601 luma, as Pillow's convert("L"): the grey that contrast and saturation use.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class Augmentation:
    """Random changes applied to each training image, drawn anew for every batch.

    Parameters
    ----------
    shift
        Largest translation in whole pixels along each axis (uniform in [-shift, shift]),
        zeros coming in.
    rotation
        Largest rotation in degrees, either way (uniform).
    scale
        Largest relative size change: the factor is uniform in [1 - scale, 1 + scale].
    noise
        Standard deviation of Gaussian noise added on the [0, 1] scale (then clipped).
    thickness
        Largest change of stroke thickness in steps of one pixel: a grey dilation
        (thicker) or erosion (thinner) by a 3x3 cross, uniform in [-thickness, thickness].
        Grey (1-channel) images only (:data:`CHANNEL_RULES`).
    crop
        Random crop with padding: the image is padded by ``crop`` pixels on every side
        by *reflection* (so no black frame comes in, unlike ``shift``) and an
        image-sized window is cut at a random offset, so the content moves by up to
        ``crop`` pixels along each axis.
    flip
        Mirror left-right with probability 1/2 (off for digits: a mirrored 3 is no 3).
    brightness, contrast, saturation
        Colour jitter strengths in [0, 1]: each image's factor is uniform in
        [1 - s, 1 + s]. Brightness multiplies the pixels; contrast scales them about
        the image's mean grey; saturation mixes each pixel with its own grey (0 is
        grey, 2 twice as colourful; colour images only). The result is clipped to
        [0, 1].
    cutout
        Side of a square set to 0 (black) at a random place inside each image.

    All zero (the default) means no augmentation.
    """

    shift: int = 0
    rotation: float = 0.0
    scale: float = 0.0
    noise: float = 0.0
    thickness: int = 0
    crop: int = 0
    flip: bool = False
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    cutout: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "flip":
                if not isinstance(value, bool | np.bool_):
                    raise DatasetError(f"augmentation flip must be true or false, got {value!r}")
                object.__setattr__(self, f.name, bool(value))
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise DatasetError(f"augmentation {f.name} must be a number, got {value!r}")
            if not np.isfinite(value) or not 0 <= value <= _LIMITS[f.name]:
                raise DatasetError(
                    f"augmentation {f.name} must lie in 0-{_LIMITS[f.name]:g}, got {value:g}"
                )
            if f.name in _WHOLE_PIXELS:
                if value != int(value):
                    raise DatasetError(f"augmentation {f.name} is in whole pixels, got {value:g}")
                object.__setattr__(self, f.name, int(value))
            else:
                object.__setattr__(self, f.name, float(value))

    @property
    def enabled(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Augmentation:
        """Rebuild from :meth:`to_dict` output; unknown keys are an error naming them."""
        if not isinstance(d, Mapping):
            raise DatasetError(f"augmentation settings must be a mapping, got {d!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise DatasetError(f"unknown augmentation settings {unknown} (known: {sorted(known)})")
        return cls(**dict(d))

    def for_channels(self, channels: int) -> Augmentation:
        """These settings without the ones that do not apply to ``channels``-channel images."""
        off: dict[str, Any] = {
            name: 0 for name, (c, _why) in CHANNEL_RULES.items() if c != channels
        }
        return replace(self, **off) if off else self

    def unsuited(self, channels: int) -> list[str]:
        """The reasons why some of these settings do not apply to ``channels``-channel images."""
        return [
            why for name, (c, why) in CHANNEL_RULES.items() if c != channels and getattr(self, name)
        ]

    @classmethod
    def parse(cls, spec: str) -> Augmentation:
        """Settings from the command line's words: ``"crop=4,flip,jitter=0.2,cutout=8"``.

        ``NAME=VALUE`` for every field (``flip`` alone means on; ``flip=off`` too),
        ``jitter=S`` for brightness, contrast and saturation at once (one of them given
        by name wins), ``none`` for no augmentation. Raises :class:`DatasetError` naming
        the part that is wrong.
        """
        text = str(spec).strip()
        if text.lower() == "none":
            return cls()
        if not text:
            raise DatasetError("no augmentation given; write e.g. crop=4,flip or none")
        known = [f.name for f in fields(cls)]
        values: dict[str, Any] = {}
        jitter: float | None = None
        for part in text.split(","):
            item = part.strip()
            name, has_value, raw = (s.strip() for s in item.partition("="))
            name = name.lower()
            if not item:
                raise DatasetError(f"an empty item in {text!r}; separate the names by one comma")
            if name == "none":
                raise DatasetError(f"'none' cannot be combined with other augmentations: {text!r}")
            if name not in known and name != "jitter":
                raise DatasetError(
                    f"unknown augmentation {name!r} in {text!r}; "
                    f"known: {', '.join(known)}, jitter, none"
                )
            if name in values or (name == "jitter" and jitter is not None):
                raise DatasetError(f"{name} is given twice in {text!r}")
            if name == "flip":
                if has_value and raw.lower() not in _SWITCH_WORDS:
                    raise DatasetError(f"{item!r}: flip is on or off; write flip or flip=off")
                values[name] = _SWITCH_WORDS[raw.lower()] if has_value else True
                continue
            if not has_value or not raw:
                raise DatasetError(f"{item!r}: {name} needs a value, e.g. {name}={_EXAMPLES[name]}")
            try:
                number = float(raw)
            except ValueError:
                raise DatasetError(f"{item!r}: {name} must be a number") from None
            try:
                one: dict[str, Any] = {("brightness" if name == "jitter" else name): number}
                cls(**one)
            except DatasetError as exc:
                why = str(exc).replace("augmentation ", "").replace("brightness", name)
                raise DatasetError(f"{item!r}: {why}") from None
            if name == "jitter":
                jitter = number
            else:
                values[name] = number
        if jitter is not None:
            for name in ("brightness", "contrast", "saturation"):
                values.setdefault(name, jitter)
        return cls(**values)

    def describe(self) -> str:
        """The settings in :meth:`parse`'s words, e.g. ``"crop=4,flip"``; ``"none"``."""
        words = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is True:
                words.append(f.name)
            elif value:
                words.append(f"{f.name}={value:g}")
        return ",".join(words) or "none"

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Same as :func:`augment_batch`."""
        return augment_batch(x, self, rng)


_SWITCH_WORDS = {"on": True, "1": True, "true": True, "off": False, "0": False, "false": False}
_EXAMPLES = {
    "shift": "2",
    "rotation": "10",
    "scale": "0.1",
    "noise": "0.05",
    "thickness": "1",
    "crop": "4",
    "brightness": "0.2",
    "contrast": "0.2",
    "saturation": "0.2",
    "jitter": "0.2",
    "cutout": "8",
}

#: A sensible starting point for handwritten digits.
DIGIT_AUGMENTATION = Augmentation(shift=2, rotation=10.0, scale=0.1, noise=0.0, thickness=0)

#: The photos' default: the fast-CIFAR recipe's 4-pixel reflect-padded crop and
#: left-right flip. Colour jitter and cutout are left to the user: they cost accuracy
#: in a run of a few epochs, where the network is far from overfitting.
PHOTO_AUGMENTATION = Augmentation(crop=4, flip=True)


def default_augmentation(channels: int) -> Augmentation:
    """The augmentation a run uses unless told otherwise: the photos' for colour
    (3-channel) images, none for grey ones (digits train to ~99% without it)."""
    return PHOTO_AUGMENTATION if channels == 3 else Augmentation()


def _shifted(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``x`` moved by (dy, dx) over its last two axes, zeros coming in."""
    out = np.zeros_like(x)
    h, w = x.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def _dilate(x: np.ndarray) -> np.ndarray:
    out = x.copy()
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        np.maximum(out, _shifted(x, dy, dx), out=out)
    return out


def _erode(x: np.ndarray) -> np.ndarray:
    # Outside the image counts as background (0), so borders erode too.
    out = x.copy()
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        np.minimum(out, _shifted(x, dy, dx), out=out)
    return out


def _thickness(x: np.ndarray, steps: np.ndarray | Any) -> np.ndarray:
    out = x
    for k in range(1, int(np.abs(steps).max(initial=0)) + 1):
        grow, shrink = steps >= k, steps <= -k
        if grow.any() or shrink.any():
            out = out.copy() if out is x else out
        if grow.any():
            out[grow] = _dilate(out[grow])
        if shrink.any():
            out[shrink] = _erode(out[shrink])
    return out


def _shift(x: np.ndarray, dy: np.ndarray, dx: np.ndarray, limit: int) -> np.ndarray:
    """Move image i by (dy[i], dx[i]) whole pixels, zeros coming in: one gather, no resampling."""
    n, c, h, w = x.shape
    padded = np.zeros((n, c, h + 2 * limit, w + 2 * limit), dtype=np.float32)
    padded[:, :, limit : limit + h, limit : limit + w] = x
    windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(2, 3))
    # Output pixel (y, x) reads input (y - dy, x - dx): window origin limit - d.
    return windows[np.arange(n), :, limit - dy, limit - dx]


def _warp(x: np.ndarray, angle: Any, scale: Any, ty: Any, tx: Any) -> np.ndarray:
    """Rotate/scale about the centre then translate, every image at once (bilinear, zero fill)."""
    n, c, h, w = x.shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    ys = (np.arange(h, dtype=np.float32) - np.float32(cy))[None, :, None]
    xs = (np.arange(w, dtype=np.float32) - np.float32(cx))[None, None, :]
    cos = (np.cos(angle) / scale).astype(np.float32)
    sin = (np.sin(angle) / scale).astype(np.float32)
    # Inverse map: output pixel p reads the input at R(-angle)/scale (p - centre - t) + centre.
    off_x = (cx - cos * tx - sin * ty).astype(np.float32)[:, None, None]
    off_y = (cy + sin * tx - cos * ty).astype(np.float32)[:, None, None]
    cos, sin = cos[:, None, None], sin[:, None, None]
    src_x = cos * xs + (sin * ys + off_x)
    src_y = cos * ys + (off_y - sin * xs)
    # One pixel of zero padding before and two after, and source coordinates clipped
    # to [-1, size]: every bilinear read is then in bounds and reads zeros outside.
    np.clip(src_x, -1.0, w, out=src_x)
    np.clip(src_y, -1.0, h, out=src_y)
    x0 = np.floor(src_x)
    y0 = np.floor(src_y)
    src_x -= x0
    src_y -= y0
    fx, fy = src_x.reshape(n, 1, h * w), src_y.reshape(n, 1, h * w)
    pw = w + 3
    padded = np.zeros((n, c, h + 3, pw), dtype=np.float32)
    padded[:, :, 1 : h + 1, 1 : w + 1] = x
    y0 += 1
    y0 *= pw
    y0 += x0 + 1
    idx = y0.astype(np.int32).reshape(n, 1, h * w)
    idx = idx + (np.arange(n * c, dtype=np.int32) * ((h + 3) * pw)).reshape(n, c, 1)
    flat = padded.reshape(-1)
    top = flat[idx]
    right = flat[idx + 1]
    right -= top
    right *= fx
    top += right
    idx += pw
    bottom = flat[idx]
    right = flat[idx + 1]
    right -= bottom
    right *= fx
    bottom += right
    bottom -= top
    bottom *= fy
    top += bottom
    return top.reshape(n, c, h, w)


def _crop(x: np.ndarray, top: np.ndarray, left: np.ndarray, pad: int) -> np.ndarray:
    """Image i cut at (top[i], left[i]) out of the batch padded by ``pad`` by reflection.

    One padded copy of the batch and one gather: output pixel (y, x) of image i reads
    the padded image at (y + top[i], x + left[i]), so the content moves by
    (pad - top[i], pad - left[i]).
    """
    _, _, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(2, 3))
    return windows[np.arange(x.shape[0]), :, top, left]


def _grey(x: np.ndarray) -> np.ndarray:
    """Each pixel's grey, (N, 1, H, W): the luma of an RGB image, the image itself if grey."""
    if x.shape[1] == 3:
        return np.einsum("nchw,c->nhw", x, _LUMA)[:, None]
    return x.mean(axis=1, keepdims=True, dtype=np.float32)


def _factors(rng: np.random.Generator, strength: float, n: int) -> np.ndarray:
    return rng.uniform(1.0 - strength, 1.0 + strength, size=n).astype(np.float32)[
        :, None, None, None
    ]


def _jitter(x: np.ndarray, aug: Augmentation, rng: np.random.Generator) -> np.ndarray:
    """Brightness, then contrast, then saturation, each image by its own factors; a new array."""
    n = x.shape[0]
    out = x.copy()
    if aug.brightness:
        out *= _factors(rng, aug.brightness, n)
    if aug.contrast:
        mean = _grey(out).mean(axis=(1, 2, 3), keepdims=True)
        out -= mean
        out *= _factors(rng, aug.contrast, n)
        out += mean
    if aug.saturation and x.shape[1] == 3:
        grey = _grey(out)
        out -= grey
        out *= _factors(rng, aug.saturation, n)
        out += grey
    return np.clip(out, 0.0, 1.0, out=out)


def _cutout(x: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    """A ``side`` x ``side`` square of zeros at a random place inside each image."""
    n, _, h, w = x.shape
    if side > min(h, w):
        raise DatasetError(
            f"cutout {side} is larger than the {h}x{w} images; use at most {min(h, w)}"
        )
    top = rng.integers(0, h - side + 1, size=n)[:, None]
    left = rng.integers(0, w - side + 1, size=n)[:, None]
    rows, cols = np.arange(h), np.arange(w)
    in_rows = (rows >= top) & (rows < top + side)
    in_cols = (cols >= left) & (cols < left + side)
    square = in_rows[:, None, :, None] & in_cols[:, None, None, :]
    return np.where(square, np.float32(0.0), x)


def augment_batch(x: np.ndarray, aug: Augmentation, rng: np.random.Generator) -> np.ndarray:
    """Augment a batch (N, C, H, W), float in [0, 1] or uint8; returns a new float32 array.

    Random draws come only from ``rng``, so the same seed gives the same batch; each
    augmentation draws only when it is on, so settings without the photos' ones give
    the batches they always gave. Order: thickness; rotation/scale/shift in one
    resampling; crop; flip; colour jitter; noise; cutout (last, so its square stays 0).
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise DatasetError(f"augmentation expects an (N, C, H, W) batch, got {x.shape}")
    x = x * np.float32(1 / 255) if x.dtype == np.uint8 else x.astype(np.float32, copy=False)
    n = x.shape[0]
    out = x
    if aug.thickness:
        out = _thickness(out, rng.integers(-aug.thickness, aug.thickness + 1, size=n))
    if aug.rotation or aug.scale:
        angle = np.deg2rad(rng.uniform(-aug.rotation, aug.rotation, size=n))
        scale = rng.uniform(1.0 - aug.scale, 1.0 + aug.scale, size=n)
        shifts = rng.integers(-aug.shift, aug.shift + 1, size=(2, n)).astype(np.float32)
        out = _warp(out, angle, scale, shifts[0], shifts[1])
    elif aug.shift:
        moves = rng.integers(-aug.shift, aug.shift + 1, size=(2, n))
        out = _shift(out, moves[0], moves[1], aug.shift)
    if aug.crop:
        offsets = rng.integers(0, 2 * aug.crop + 1, size=(2, n))
        out = _crop(out, offsets[0], offsets[1], aug.crop)
    if aug.flip:
        mirrored = np.less(rng.random(size=n), 0.5)
        out = np.where(mirrored[:, None, None, None], out[..., ::-1], out)
    if aug.brightness or aug.contrast or aug.saturation:
        out = _jitter(out, aug, rng)
    if aug.noise:
        noisy = rng.standard_normal(size=out.shape, dtype=np.float32)
        noisy *= np.float32(aug.noise)
        noisy += out
        out = np.clip(noisy, 0.0, 1.0, out=noisy)
    if aug.cutout:
        out = _cutout(out, aug.cutout, rng)
    return out.copy() if out is x else out


def make_transform(
    normalization: Normalization | None = None,
    augmentation: Augmentation | None = None,
) -> Transform:
    """The per-batch function the training loop calls: ``transform(x_uint8, rng)``.

    Scales uint8 to [0, 1], augments (if given and not all zero), then applies the
    normalisation's mean/std. Called with ``rng=None`` (the engine does this for
    validation and the probe image) it skips augmentation, as does
    ``make_transform(normalization)``.
    """
    norm = normalization or Normalization()
    aug = augmentation if augmentation is not None and augmentation.enabled else None

    def transform(x: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        x = np.asarray(x)
        if aug is None or rng is None:
            return norm.apply(x)
        return norm.apply(augment_batch(x, aug, rng))

    return transform


def preview_grid(
    images: np.ndarray,
    augmentation: Augmentation,
    seed: int = 0,
    rows: int = 4,
    cols: int = 8,
    gap: int = 1,
) -> np.ndarray:
    """A picture of augmented samples for the UI: each row one image, column 0 unchanged.

    Parameters
    ----------
    images
        uint8 (N, C, H, W) or (N, H, W) (a dataset's ``images``); the rows show
        images spread evenly over it (repeating if there are fewer than ``rows``).
    augmentation, seed
        What to apply and the seed, so the same settings give the same picture.
    rows, cols
        Grid size; columns 1.. show different random augmentations.
    gap
        Pixels of mid-grey between cells.

    Returns
    -------
    numpy.ndarray
        uint8, (rows*H + (rows-1)*gap, cols*W + (cols-1)*gap) for grayscale, with a
        trailing axis of 3 for RGB images.
    """
    a = np.asarray(images)
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.shape[0] == 0 or a.shape[1] not in (1, 3):
        raise DatasetError(f"preview needs a non-empty (N, C, H, W) image array, got {a.shape}")
    if rows < 1 or cols < 1:
        raise DatasetError(f"preview grid needs at least 1x1 cells, got {rows}x{cols}")
    rng = np.random.default_rng(seed)
    # Evenly spread picks: datasets are often sorted by class.
    picks = a[np.linspace(0, a.shape[0] - 1, rows).round().astype(np.intp)]
    base = picks.astype(np.float32) / 255.0 if picks.dtype == np.uint8 else picks
    cells = np.repeat(base, cols, axis=0).astype(np.float32)
    if augmentation.enabled and cols > 1:
        mask = np.arange(rows * cols) % cols != 0
        cells[mask] = augment_batch(cells[mask], augmentation, rng)
    _, c, h, w = cells.shape
    grid = np.full((c, rows * (h + gap) - gap, cols * (w + gap) - gap), 0.5, dtype=np.float32)
    tiles = cells.reshape(rows, cols, c, h, w)
    for r in range(rows):
        for k in range(cols):
            y, x = r * (h + gap), k * (w + gap)
            grid[:, y : y + h, x : x + w] = tiles[r, k]
    out = np.round(np.clip(grid, 0.0, 1.0) * 255.0).astype(np.uint8)
    return out[0] if c == 1 else np.ascontiguousarray(out.transpose(1, 2, 0))
