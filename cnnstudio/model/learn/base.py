"""What every lesson shares: the lab's error type, its size limits, how it writes numbers,
and the checks of what the user types in."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cnnstudio.engine.errors import EngineError

__all__ = [
    "MAX_INPUT",
    "MAX_KERNEL",
    "MAX_PADDING",
    "LabError",
    "check_cell",
    "check_grid",
    "check_number",
    "check_pair",
    "fmt",
    "resized",
]

#: Largest input grid (rows and columns) the explorer edits.
MAX_INPUT = 12
#: Largest kernel (rows and columns).
MAX_KERNEL = 7
#: Largest padding the explorer draws.
MAX_PADDING = 3


class LabError(EngineError):
    """A lab setting that cannot work (the message names the setting and why)."""


def fmt(value: float) -> str:
    """A number as the lab writes it: whole numbers without decimals, at most 3 decimals."""
    v = float(value)
    if not math.isfinite(v):
        return str(v)
    if abs(v - round(v)) < 5e-7:
        r = round(v)
        return "0" if r == 0 else str(r)
    text = f"{v:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "0", "") else text


def check_pair(value: Any, what: str, low: int, high: int) -> tuple[int, int]:
    """A size setting as ``(h, w)``: a whole number means the same for both; each in
    ``low..high``."""
    if isinstance(value, bool):
        raise LabError(f"{what} must be a whole number or a pair, not {value!r}")
    if isinstance(value, int | np.integer):
        h = w = int(value)
    else:
        try:
            h, w = (int(v) for v in value)
        except (TypeError, ValueError):
            raise LabError(f"{what} must be a whole number or a pair, not {value!r}") from None
    for v in (h, w):
        if not low <= v <= high:
            raise LabError(f"{what} must be between {low} and {high}, got {value!r}")
    return h, w


def check_grid(values: Any, what: str, max_rows: int, max_cols: int) -> np.ndarray:
    """A grid the user typed as a float64 matrix of finite numbers, at most the given size."""
    try:
        a = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise LabError(f"{what} must be a grid of numbers") from None
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise LabError(f"{what} must be a 2-D grid of numbers, got shape {a.shape}")
    if a.shape[0] > max_rows or a.shape[1] > max_cols:
        raise LabError(
            f"{what} can be at most {max_rows}x{max_cols}, got {a.shape[0]}x{a.shape[1]}"
        )
    if not np.all(np.isfinite(a)):
        raise LabError(f"{what} must hold finite numbers")
    return a


def check_number(value: Any, what: str) -> float:
    """One cell's value as a finite float."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise LabError(f"{what} must be a number, not {value!r}") from None
    if not math.isfinite(v):
        raise LabError(f"{what} must be a finite number, not {value!r}")
    return v


def check_cell(grid: np.ndarray, row: int, col: int, what: str) -> None:
    """Raise ``LabError`` unless ``(row, col)`` is a cell of the 2-D ``grid``."""
    if not (0 <= row < grid.shape[0] and 0 <= col < grid.shape[1]):
        raise LabError(
            f"{what} cell ({row}, {col}) is outside the {grid.shape[0]}x{grid.shape[1]} grid"
        )


def resized(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The 2-D grid ``a`` cut or grown to ``rows x cols``; new cells are 0."""
    out = np.zeros((rows, cols), dtype=a.dtype)
    r, c = min(rows, a.shape[0]), min(cols, a.shape[1])
    out[:r, :c] = a[:r, :c]
    return out
