"""Lesson 7: 1-D convolution, run as a 2-D convolution on a one-pixel-high image."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnstudio.engine.errors import ShapeError
from cnnstudio.model.learn.arithmetic import CellArithmetic, cell_arithmetic
from cnnstudio.model.learn.base import LabError
from cnnstudio.model.learn.layers import conv2d

__all__ = ["conv1d", "conv1d_cell"]


def conv1d(
    signal: Any, kernel: Any, stride: int = 1, padding: int = 0, flip: bool = False
) -> np.ndarray:
    """A 1-D convolution, run as the reference Conv2D on a 1-pixel-high image."""
    x = np.asarray(signal, dtype=np.float64).reshape(1, 1, -1)
    k = np.asarray(kernel, dtype=np.float64).reshape(1, 1, 1, -1)
    try:
        return conv2d(x, k, None, (1, stride), (0, padding), flip)[0, 0]
    except ShapeError as exc:
        raise LabError(str(exc).split(": ", 1)[-1]) from None


def conv1d_cell(
    signal: Any, kernel: Any, stride: int, padding: int, flip: bool, index: int
) -> CellArithmetic:
    """The sum behind output ``index`` of :func:`conv1d` (terms labelled in1, in2, …)."""
    x = np.asarray(signal, dtype=np.float64).reshape(1, 1, -1)
    k = np.asarray(kernel, dtype=np.float64).reshape(1, 1, -1)
    return cell_arithmetic(x, k, 0.0, (1, stride), (0, padding), flip, 0, index, ("",))
