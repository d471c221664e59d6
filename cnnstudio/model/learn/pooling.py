"""Lesson 4: pooling one feature map, window by window."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnstudio.model.learn.base import (
    MAX_INPUT,
    MAX_KERNEL,
    LabError,
    check_cell,
    check_grid,
    check_number,
    check_pair,
    fmt,
)
from cnnstudio.model.learn.formula import OutputSizeFormula, output_size_formula
from cnnstudio.model.learn.layers import pool2d

__all__ = ["PoolLab", "PoolWindow"]


@dataclass(frozen=True)
class PoolWindow:
    row: int
    col: int
    #: (top, left, height, width) in input coordinates.
    window: tuple[int, int, int, int]
    #: The layer's output value for this window.
    value: float
    #: Input cells that give the value: the maximum's cell(s), or all cells for average.
    chosen: tuple[tuple[int, int], ...]
    text: str


class PoolLab:
    """A single feature map pooled with the reference ``MaxPool2D`` / ``AvgPool2D``."""

    def __init__(self) -> None:
        self.input = np.array(
            [[1, 3, 2, 1], [4, 6, 5, 0], [3, 1, 1, 2], [0, 2, 7, 8]], dtype=np.float64
        )
        self.kind = "max"
        self.size: tuple[int, int] = (2, 2)
        self.stride: tuple[int, int] = (2, 2)
        self.position = -1

    def set_input(self, values: Any) -> None:
        self.input = check_grid(values, "the pooling input", MAX_INPUT, MAX_INPUT)
        self.position = -1

    def set_input_cell(self, row: int, col: int, value: float) -> None:
        check_cell(self.input, row, col, "input")
        self.input[row, col] = check_number(value, "an input cell")

    def set_kind(self, kind: str) -> None:
        if kind not in ("max", "avg"):
            raise LabError(f"pooling must be 'max' or 'avg', not {kind!r}")
        self.kind = kind

    def set_size(self, size: Any) -> None:
        self.size = check_pair(size, "the pool size", 1, MAX_KERNEL)
        self.position = -1

    def set_stride(self, stride: Any) -> None:
        self.stride = check_pair(stride, "the pool stride", 1, MAX_KERNEL)
        self.position = -1

    def formulas(self) -> tuple[OutputSizeFormula, OutputSizeFormula]:
        return (
            output_size_formula(self.input.shape[0], self.size[0], self.stride[0], 0),
            output_size_formula(self.input.shape[1], self.size[1], self.stride[1], 0),
        )

    def fits(self) -> bool:
        return not any(f.error for f in self.formulas())

    def output(self) -> np.ndarray:
        fh, fw = self.formulas()
        if fh.error or fw.error:
            raise LabError(fh.error or fw.error)
        return pool2d(self.input[None], self.kind, self.size, self.stride)[0]

    def overlapping(self) -> bool:
        return self.stride[0] < self.size[0] or self.stride[1] < self.size[1]

    def n_positions(self) -> int:
        return int(self.output().size) if self.fits() else 0

    def window(self, row: int, col: int) -> PoolWindow:
        out = self.output()
        if not (0 <= row < out.shape[0] and 0 <= col < out.shape[1]):
            raise LabError(f"pooled cell ({row}, {col}) is outside the {out.shape} output")
        top, left = row * self.stride[0], col * self.stride[1]
        kh, kw = self.size
        patch = self.input[top : top + kh, left : left + kw]
        value = float(out[row, col])
        values = ", ".join(fmt(v) for v in patch.reshape(-1))
        if self.kind == "max":
            # The cell(s) holding the layer's answer.
            rr, cc = np.nonzero(patch == value)
            chosen = tuple((int(top + r), int(left + c)) for r, c in zip(rr, cc, strict=True))
            text = f"max({values}) = {fmt(value)}"
        else:
            chosen = tuple((top + r, left + c) for r in range(kh) for c in range(kw))
            text = f"({values.replace(', ', ' + ')}) / {kh * kw} = {fmt(value)}"
        return PoolWindow(row, col, (top, left, kh, kw), value, chosen, text)

    def current(self) -> tuple[int, int] | None:
        if self.position < 0 or not self.fits():
            return None
        return divmod(self.position, self.output().shape[1])

    def step(self) -> bool:
        if not self.fits() or self.position + 1 >= self.n_positions():
            return False
        self.position += 1
        return True

    def shapes_text(self) -> str:
        """How pooling changes the shape: ``4x4 → 2x2 (a quarter of the values)``."""
        fh, fw = self.formulas()
        if fh.error or fw.error:
            return fh.error or fw.error
        h, w = self.input.shape
        n_in, n_out = h * w, fh.result * fw.result
        return (
            f"{h}x{w} → {fh.result}x{fw.result}: {n_in} values become {n_out} "
            f"({100 * n_out / n_in:.0f}% of them). Height {fh.text}, width {fw.text}."
        )
