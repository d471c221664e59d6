"""Lesson 2: an RGB input and several filters; each filter sums its three channels plus
its bias."""

from __future__ import annotations

import numpy as np

from cnnstudio.model.learn.arithmetic import CellArithmetic, cell_arithmetic
from cnnstudio.model.learn.base import LabError, check_number
from cnnstudio.model.learn.layers import conv2d

__all__ = ["CHANNEL_NAMES", "ChannelLab"]

CHANNEL_NAMES = ("R", "G", "B")


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
