"""Input normalisation: scale to [0, 1], then optionally subtract a mean and divide by a std.

Stored in model metadata (``to_dict``) so training, prediction and exported models
all feed the network the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnstudio.data.errors import DatasetError

__all__ = ["Normalization"]

_FORMAT = "scale-mean-std"


@dataclass(frozen=True)
class Normalization:
    """``x / 255`` for uint8 input, then ``(x - mean) / std`` per channel if given.

    Parameters
    ----------
    mean, std
        One value per channel (or one for all channels), in the [0, 1] scale;
        both None for plain scaling.
    """

    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if (self.mean is None) != (self.std is None):
            raise DatasetError("normalisation needs both a mean and a std, or neither")
        if self.mean is not None and self.std is not None:
            mean = tuple(float(m) for m in np.atleast_1d(self.mean))
            std = tuple(float(s) for s in np.atleast_1d(self.std))
            if len(mean) != len(std) or len(mean) not in (1, 3):
                raise DatasetError(
                    f"normalisation mean and std need 1 or 3 values each, got {mean} and {std}"
                )
            if not all(np.isfinite(mean)) or not all(np.isfinite(s) and s > 0 for s in std):
                raise DatasetError(f"normalisation std must be positive, got mean {mean} std {std}")
            object.__setattr__(self, "mean", mean)
            object.__setattr__(self, "std", std)

    @classmethod
    def fit(cls, images: np.ndarray, per_channel: bool = True) -> Normalization:
        """Mean and std of a uint8 (N, C, H, W) dataset in the [0, 1] scale.

        Computed in chunks with integer sums, so a 60,000-image dataset needs no
        float copy of itself.
        """
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[0] == 0:
            raise DatasetError(f"fit needs non-empty uint8 (N, C, H, W) images, got {images.shape}")
        c = images.shape[1]
        total = np.zeros(c, dtype=np.float64)
        squares = np.zeros(c, dtype=np.float64)
        for start in range(0, images.shape[0], 4096):
            chunk = images[start : start + 4096].astype(np.uint32)
            total += chunk.sum(axis=(0, 2, 3), dtype=np.uint64)
            squares += (chunk * chunk).sum(axis=(0, 2, 3), dtype=np.uint64)
        count = images.shape[0] * images.shape[2] * images.shape[3]
        if not per_channel:
            total, squares, count = total.sum(keepdims=True), squares.sum(keepdims=True), count * c
        mean = total / count / 255.0
        var = np.maximum(squares / count / 255.0**2 - mean**2, 0.0)
        std = np.maximum(np.sqrt(var), 1e-3)
        return cls(tuple(mean.tolist()), tuple(std.tolist()))

    @property
    def is_plain(self) -> bool:
        """True when it only scales to [0, 1]."""
        return self.mean is None

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Normalise a batch (N, C, H, W) or one image (C, H, W) to float32.

        uint8 input is scaled by 1/255 first; float input is taken as already in
        [0, 1] (the output of :func:`preprocess_digit` or of augmentation).
        """
        x = np.asarray(x)
        if x.dtype == np.uint8:
            out = x.astype(np.float32)
            out *= np.float32(1.0 / 255.0)
        else:
            out = x.astype(np.float32, copy=True)
        if self.mean is None or self.std is None:
            return out
        if out.ndim < 3:
            raise DatasetError(f"normalise expects (N, C, H, W) or (C, H, W), got {out.shape}")
        c = out.shape[-3]
        if len(self.mean) not in (1, c):
            raise DatasetError(
                f"this normalisation has {len(self.mean)} channel values but the images have {c}"
            )
        shape = (-1, 1, 1)
        out -= np.asarray(self.mean, dtype=np.float32).reshape(shape)
        out /= np.asarray(self.std, dtype=np.float32).reshape(shape)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (for ``meta.json`` and the exported predict script)."""
        return {
            "type": _FORMAT,
            "scale": 1.0 / 255.0,
            "mean": None if self.mean is None else list(self.mean),
            "std": None if self.std is None else list(self.std),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Normalization:
        """Rebuild from :meth:`to_dict` output, validating it."""
        if not isinstance(d, Mapping) or d.get("type", _FORMAT) != _FORMAT:
            raise DatasetError(f"unknown normalisation {d!r} (expected type {_FORMAT!r})")
        scale = d.get("scale", 1.0 / 255.0)
        if not isinstance(scale, (int, float)) or abs(float(scale) * 255.0 - 1.0) > 1e-6:
            raise DatasetError(f"unsupported normalisation scale {scale!r} (only 1/255)")
        mean, std = d.get("mean"), d.get("std")
        try:
            return cls(
                None if mean is None else tuple(float(m) for m in _seq(mean)),
                None if std is None else tuple(float(s) for s in _seq(std)),
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, DatasetError):
                raise
            raise DatasetError(f"bad normalisation values mean={mean!r} std={std!r}") from exc


def _seq(v: Any) -> Sequence[Any]:
    return v if isinstance(v, (list, tuple)) else [v]
