"""Lesson 1: the convolution explorer, one input channel and one kernel, stepped cell by
cell."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnstudio.model.learn.arithmetic import CellArithmetic, cell_arithmetic
from cnnstudio.model.learn.base import (
    MAX_INPUT,
    MAX_KERNEL,
    MAX_PADDING,
    LabError,
    check_cell,
    check_grid,
    check_number,
    check_pair,
    resized,
)
from cnnstudio.model.learn.formula import OutputSizeFormula, output_size_formula
from cnnstudio.model.learn.layers import conv2d
from cnnstudio.model.learn.notes import CONV_PRESETS

__all__ = ["ConvLab"]


class ConvLab:
    """State of the convolution explorer: one input channel, one kernel, stride, padding.

    The output comes from the reference ``Conv2D``; the step position walks the output
    cells row by row.
    """

    def __init__(self) -> None:
        self.input = np.zeros((5, 5))
        self.kernel = np.ones((3, 3))
        self.bias = 0.0
        self.stride: tuple[int, int] = (1, 1)
        self.padding: tuple[int, int] = (0, 0)
        self.flip = False
        #: Index of the current output cell (row-major), -1 before the first step.
        self.position = -1
        self.load_preset("notes-3x3")

    # -- settings ------------------------------------------------------------------
    def load_preset(self, key: str) -> None:
        if key not in CONV_PRESETS:
            raise LabError(f"unknown preset {key!r} (known: {', '.join(CONV_PRESETS)})")
        p = CONV_PRESETS[key]
        self.input = np.array(p.input, dtype=np.float64)
        self.kernel = np.array(p.kernel, dtype=np.float64)
        self.bias = 0.0
        self.stride = (p.stride, p.stride)
        self.padding = (p.padding, p.padding)
        self.flip = False
        self.position = -1

    def set_input(self, values: Any) -> None:
        self.input = check_grid(values, "the input", MAX_INPUT, MAX_INPUT)
        self.position = -1

    def set_kernel(self, values: Any) -> None:
        self.kernel = check_grid(values, "the kernel", MAX_KERNEL, MAX_KERNEL)
        self.position = -1

    def set_input_cell(self, row: int, col: int, value: float) -> None:
        check_cell(self.input, row, col, "input")
        self.input[row, col] = check_number(value, "an input cell")

    def set_kernel_cell(self, row: int, col: int, value: float) -> None:
        check_cell(self.kernel, row, col, "kernel")
        self.kernel[row, col] = check_number(value, "a kernel cell")

    def resize_input(self, rows: int, cols: int) -> None:
        """Change the input size, keeping the overlapping values (new cells are 0)."""
        rows, cols = check_pair((rows, cols), "the input size", 1, MAX_INPUT)
        self.input = resized(self.input, rows, cols)
        self.position = -1

    def resize_kernel(self, rows: int, cols: int) -> None:
        """Change the kernel size, keeping the overlapping weights (new ones are 0)."""
        rows, cols = check_pair((rows, cols), "the kernel size", 1, MAX_KERNEL)
        self.kernel = resized(self.kernel, rows, cols)
        self.position = -1

    def set_stride(self, stride: Any) -> None:
        self.stride = check_pair(stride, "the stride", 1, MAX_INPUT)
        self.position = -1

    def set_padding(self, padding: Any) -> None:
        self.padding = check_pair(padding, "the padding", 0, MAX_PADDING)
        self.position = -1

    def set_flip(self, flip: bool) -> None:
        self.flip = bool(flip)

    # -- results -------------------------------------------------------------------
    def formulas(self) -> tuple[OutputSizeFormula, OutputSizeFormula]:
        """The output-size formula for the height and the width."""
        return (
            output_size_formula(
                self.input.shape[0], self.kernel.shape[0], self.stride[0], self.padding[0]
            ),
            output_size_formula(
                self.input.shape[1], self.kernel.shape[1], self.stride[1], self.padding[1]
            ),
        )

    def fits(self) -> bool:
        return not any(f.error for f in self.formulas())

    def output_shape(self) -> tuple[int, int]:
        fh, fw = self.formulas()
        return fh.result, fw.result

    def output(self) -> np.ndarray:
        """The layer's output (OH, OW); raises ``LabError`` when the kernel does not fit."""
        fh, fw = self.formulas()
        if fh.error or fw.error:
            raise LabError(fh.error or fw.error)
        return conv2d(
            self.input[None],
            self.kernel[None, None],
            np.array([self.bias]),
            self.stride,
            self.padding,
            self.flip,
        )[0]

    def used_kernel(self) -> np.ndarray:
        """The kernel as it is laid over the input (rotated 180 degrees when flipped)."""
        return self.kernel[::-1, ::-1].copy() if self.flip else self.kernel.copy()

    def cell(self, row: int, col: int) -> CellArithmetic:
        oh, ow = self.output_shape()
        if not (0 <= row < oh and 0 <= col < ow):
            raise LabError(f"output cell ({row}, {col}) is outside the {oh}x{ow} output")
        return cell_arithmetic(
            self.input[None],
            self.kernel[None],
            self.bias,
            self.stride,
            self.padding,
            self.flip,
            row,
            col,
            ("",),
        )

    # -- stepping ------------------------------------------------------------------
    def n_positions(self) -> int:
        oh, ow = self.output_shape()
        return oh * ow

    def current(self) -> tuple[int, int] | None:
        """The current output cell, or None before the first step."""
        if self.position < 0 or not self.fits():
            return None
        ow = self.output_shape()[1]
        return divmod(self.position, ow)

    def step(self) -> bool:
        """Move to the next output cell; False (and no move) at the end."""
        if not self.fits() or self.position + 1 >= self.n_positions():
            return False
        self.position += 1
        return True

    def step_back(self) -> bool:
        if self.position < 0:
            return False
        self.position -= 1
        return True

    def reset_steps(self) -> None:
        self.position = -1

    def finish(self) -> None:
        if self.fits():
            self.position = self.n_positions() - 1

    def revealed_output(self) -> np.ndarray:
        """The output with the cells not yet stepped to as NaN (the grid fills in)."""
        out = self.output()
        shown = np.full(out.shape, np.nan)
        flat = shown.reshape(-1)
        flat[: self.position + 1] = out.reshape(-1)[: self.position + 1]
        return shown
