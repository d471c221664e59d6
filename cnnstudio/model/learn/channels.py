"""Lesson 2: an RGB input and several filters; each filter sums its three channels plus
its bias.

The input is a few small numbers, or a photo from the built-in CIFAR-10 sample averaged
down to a grid a student can read (:func:`sample_photo`, :meth:`ChannelLab.use_photo`).
"""

from __future__ import annotations

import numpy as np

from cnnstudio.model.learn.arithmetic import CellArithmetic, cell_arithmetic
from cnnstudio.model.learn.base import LabError, check_number
from cnnstudio.model.learn.images import downsample
from cnnstudio.model.learn.layers import conv2d

__all__ = ["CHANNEL_NAMES", "PHOTO_CLASSES", "PHOTO_GRID", "ChannelLab", "sample_photo"]

CHANNEL_NAMES = ("R", "G", "B")
#: The sample photos offered (the first held-out photo of each of these classes).
PHOTO_CLASSES = ("cat", "ship", "frog", "airplane", "truck")
#: A photo is averaged down to this many cells a side: few enough to read every number.
PHOTO_GRID = 6


def sample_photo(klass: str) -> tuple[np.ndarray, str]:
    """A 3@32x32 photo in [0, 1] from the built-in CIFAR-10 sample, and its caption.

    Raises
    ------
    LabError
        When the sample cannot be read or has no such class.
    """
    from cnnstudio.data.builtin import load_builtin
    from cnnstudio.data.errors import DatasetError

    try:
        test = load_builtin("cifar10-sample").test
    except (DatasetError, OSError) as exc:
        raise LabError(f"the CIFAR-10 sample cannot be read: {exc}") from exc
    if test is None:
        raise LabError("the CIFAR-10 sample has no held-out part")
    names = [str(n) for n in test.class_names]
    if klass not in names:
        raise LabError(f"the CIFAR-10 sample has no class {klass!r} (it has {', '.join(names)})")
    pick = int(np.flatnonzero(np.asarray(test.labels) == names.index(klass))[0])
    photo = np.asarray(test.images[pick], dtype=np.float32).reshape(3, 32, 32) / 255.0
    return photo, f"CIFAR-10 sample {klass} (held-out photo {pick + 1})"


class ChannelLab:
    """An RGB input (3, H, W) and ``F`` filters of shape (3, KH, KW) with one bias each."""

    def __init__(self, size: int = 4, kernel: int = 2, filters: int = 2) -> None:
        rng = np.random.default_rng(7)
        self.input = rng.integers(0, 4, size=(3, size, size)).astype(np.float64)
        self.weights = rng.integers(-1, 2, size=(filters, 3, kernel, kernel)).astype(np.float64)
        self.bias = np.zeros(filters)
        self.bias[0] = 1.0
        self.stride = 1
        self.padding = 0
        self.photo: np.ndarray | None = None  # the (3, H, W) photo behind the input, if any
        self.photo_caption = ""

    @property
    def n_filters(self) -> int:
        return int(self.weights.shape[0])

    def set_filters(self, n: int) -> None:
        """Keep the first ``n`` filters; new ones get a fixed pattern of weights."""
        if not 1 <= n <= 4:
            raise LabError(f"the number of filters must be between 1 and 4, got {n}")
        f, c, kh, kw = self.weights.shape
        if n <= f:
            self.weights, self.bias = self.weights[:n].copy(), self.bias[:n].copy()
            return
        rng = np.random.default_rng(11 + n)
        extra = rng.integers(-1, 2, size=(n - f, c, kh, kw)).astype(np.float64)
        self.weights = np.concatenate([self.weights, extra])
        self.bias = np.concatenate([self.bias, np.zeros(n - f)])

    def use_numbers(self, size: int = 4) -> None:
        """The input as small whole numbers (the lesson's first example)."""
        rng = np.random.default_rng(7)
        self.input = rng.integers(0, 4, size=(3, size, size)).astype(np.float64)
        self.photo, self.photo_caption = None, ""

    def use_photo(self, klass: str, grid: int = PHOTO_GRID) -> None:
        """The input as a sample photo averaged down to ``grid x grid`` per channel.

        Values stay on the network's 0..1 scale, rounded to two decimals for reading.
        """
        photo, caption = sample_photo(klass)
        self.input = np.stack([downsample(ch, grid, grid, decimals=2) for ch in photo])
        self.photo, self.photo_caption = photo, caption

    def set_input_cell(self, channel: int, row: int, col: int, value: float) -> None:
        self.input[channel, row, col] = check_number(value, "an input cell")

    def set_weight(self, f: int, channel: int, row: int, col: int, value: float) -> None:
        self.weights[f, channel, row, col] = check_number(value, "a kernel cell")

    def set_bias(self, f: int, value: float) -> None:
        self.bias[f] = check_number(value, "a bias")

    def output(self) -> np.ndarray:
        """(F, OH, OW) from the reference Conv2D: each filter sums its 3 channels plus its
        bias."""
        return conv2d(self.input, self.weights, self.bias, self.stride, self.padding)

    def cell(self, f: int, row: int, col: int) -> CellArithmetic:
        return cell_arithmetic(
            self.input,
            self.weights[f],
            float(self.bias[f]),
            (self.stride, self.stride),
            (self.padding, self.padding),
            False,
            row,
            col,
            CHANNEL_NAMES,
        )
