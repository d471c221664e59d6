"""The Learn lab's numbers, without Qt.

Every number the lab shows comes from the engine's own layers (``Conv2D``, the
pooling and activation layers, ``Flatten``, ``Softmax``) and losses. What this
module adds is presentation: which input cells a window covers, the term-by-term
arithmetic of one output cell written from those cells, the output-size formula
with the user's numbers, and the worked examples of the reference notes as presets.
The tests check that every written-out sum equals the engine's output cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from cnnstudio.engine.errors import EngineError, ShapeError
from cnnstudio.engine.layers import (
    AvgPool2D,
    Conv2D,
    Flatten,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from cnnstudio.engine.losses import softmax_cross_entropy
from cnnstudio.engine.shapes import conv_output_size

__all__ = [
    "ACTIVATIONS",
    "CONV_PRESETS",
    "IMAGE_FILTERS",
    "MAX_INPUT",
    "MAX_KERNEL",
    "CellArithmetic",
    "ChannelLab",
    "ConvLab",
    "ConvPreset",
    "ExplainPreset",
    "LabError",
    "OutputSizeFormula",
    "PoolLab",
    "PoolWindow",
    "activate",
    "activation_curve",
    "apply_image_filter",
    "conv1d",
    "conv1d_cell",
    "cross_entropy",
    "downsample",
    "engine_conv2d",
    "engine_pool2d",
    "explain_preset",
    "flatten_stack",
    "fmt",
    "output_size_formula",
    "sample_digit",
    "softmax_probabilities",
    "worked_example_pipeline",
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


def _pair(value: Any, what: str, low: int, high: int) -> tuple[int, int]:
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


def _matrix(values: Any, what: str, max_rows: int, max_cols: int) -> np.ndarray:
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


# -- engine calls -------------------------------------------------------------------


def engine_conv2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: Any = 1,
    padding: Any = 0,
    flip: bool = False,
) -> np.ndarray:
    """Run the engine's ``Conv2D`` once.

    Parameters
    ----------
    x : ndarray, shape (C, H, W)
    w : ndarray, shape (F, C, KH, KW)
    b : ndarray, shape (F,), optional
    stride, padding : int or (h, w)
    flip : bool
        True for the mathematical convolution (kernel rotated 180 degrees).

    Returns
    -------
    ndarray, shape (F, OH, OW), float64
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    layer = Conv2D(
        filters=w.shape[0],
        kernel_size=(int(w.shape[2]), int(w.shape[3])),
        stride=stride,
        padding=padding,
        use_bias=b is not None,
        flip_kernel=flip,
        name="lab_conv",
    )
    layer.build(tuple(x.shape), np.random.default_rng(0))
    # float64 parameters: the lab's sums are written with exact small numbers.
    layer.params["w"] = w.copy()
    if b is not None:
        layer.params["b"] = np.asarray(b, dtype=np.float64).reshape(w.shape[0]).copy()
    return layer.forward(x[None], training=False)[0]


def engine_pool2d(x: np.ndarray, kind: str, size: Any, stride: Any) -> np.ndarray:
    """The engine's ``MaxPool2D`` (``kind="max"``) or ``AvgPool2D`` on a (C, H, W) stack."""
    cls = {"max": MaxPool2D, "avg": AvgPool2D}.get(kind)
    if cls is None:
        raise LabError(f"pooling must be 'max' or 'avg', not {kind!r}")
    layer = cls(pool_size=size, stride=stride, name="lab_pool")
    return layer.forward(np.asarray(x, dtype=np.float64)[None], training=False)[0]


#: Activation name -> (description, engine layer factory taking ``alpha``).
ACTIVATIONS: dict[str, str] = {
    "ReLU": "max(0, x): negative values become 0, positive ones pass unchanged.",
    "LeakyReLU": "x for positive x, α·x for negative x: a small slope keeps negatives alive.",
    "Sigmoid": "1 / (1 + e^−x): squashes any number into (0, 1).",
    "Tanh": "(e^x − e^−x) / (e^x + e^−x): squashes any number into (−1, 1), 0 stays 0.",
}


def _activation_layer(name: str, alpha: float) -> Any:
    if name == "ReLU":
        return ReLU(name="lab_act")
    if name == "LeakyReLU":
        return LeakyReLU(alpha=float(alpha), name="lab_act")
    if name == "Sigmoid":
        return Sigmoid(name="lab_act")
    if name == "Tanh":
        return Tanh(name="lab_act")
    raise LabError(f"unknown activation {name!r} (choose one of: {', '.join(ACTIVATIONS)})")


def activate(x: np.ndarray, name: str, alpha: float = 0.1) -> np.ndarray:
    """Apply the engine's activation layer ``name`` to an array of any shape."""
    a = np.asarray(x, dtype=np.float64)
    layer = _activation_layer(name, alpha)
    flat = a.reshape(1, -1)
    return layer.forward(flat, training=False).reshape(a.shape)


def activation_curve(
    name: str, alpha: float = 0.1, lo: float = -6.0, hi: float = 6.0, n: int = 241
) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(xs, ys)`` of an activation function, computed by the engine layer."""
    xs = np.linspace(lo, hi, n)
    return xs, activate(xs, name, alpha)


# -- output size --------------------------------------------------------------------


@dataclass(frozen=True)
class OutputSizeFormula:
    """``(I + 2P − K) / S + 1`` with numbers, as the formula card shows it."""

    size: int
    kernel: int
    stride: int
    padding: int
    #: The engine's integer output size (floor of the exact value); 0 when nothing fits.
    result: int
    #: The exact value of the formula.
    exact: Fraction
    #: "(28 + 2·1 − 5) / 1 + 1 = 26"
    text: str
    #: Empty when the division is exact; otherwise what the fraction means.
    note: str
    #: An error when the kernel does not fit at all.
    error: str = ""

    @property
    def is_fractional(self) -> bool:
        return self.exact.denominator != 1


def output_size_formula(size: int, kernel: int, stride: int, padding: int) -> OutputSizeFormula:
    """Evaluate the output-size formula for one axis.

    The integer result is the engine's :func:`~cnnstudio.engine.shapes.conv_output_size`;
    the exact fraction is shown alongside when the stride does not divide evenly.
    """
    numerator = size + 2 * padding - kernel
    exact = Fraction(numerator, stride) + 1
    head = f"({size} + 2·{padding} − {kernel}) / {stride} + 1"
    try:
        result = conv_output_size(size, kernel, stride, padding)
    except ShapeError as exc:
        return OutputSizeFormula(
            size,
            kernel,
            stride,
            padding,
            0,
            exact,
            f"{head} = {_fraction_text(exact)}",
            "",
            error=str(exc).split(": ", 1)[-1],
        )
    if exact.denominator == 1:
        return OutputSizeFormula(
            size, kernel, stride, padding, result, exact, f"{head} = {result}", ""
        )
    left_over = numerator % stride
    note = (
        f"Not a whole number: {_fraction_text(exact)} is rounded down to {result}. The window "
        f"cannot take another full step of {stride}, so the last {left_over} of the "
        f"{size + 2 * padding} padded positions along this axis "
        f"{'is' if left_over == 1 else 'are'} never covered."
    )
    return OutputSizeFormula(
        size,
        kernel,
        stride,
        padding,
        result,
        exact,
        f"{head} = {_fraction_text(exact)} → {result}",
        note,
    )


def _fraction_text(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"{fmt(float(value))} ({value.numerator}/{value.denominator})"


# -- one output cell written out ----------------------------------------------------


@dataclass(frozen=True)
class Term:
    weight: float
    value: float
    #: "in7" (row-major from 1 in the unpadded input) or "pad" for zero padding.
    label: str
    #: Channel name for multi-channel inputs ("R", "G", "B"), else "".
    channel: str = ""


@dataclass(frozen=True)
class CellArithmetic:
    """The sum behind one output cell, term by term."""

    row: int
    col: int
    #: The window in padded-input coordinates: (top, left, height, width).
    window: tuple[int, int, int, int]
    terms: tuple[Term, ...]
    bias: float
    #: The sum of the terms plus the bias, computed here from the window.
    total: float
    #: Per-channel partial sums (one entry for single-channel inputs).
    channel_sums: tuple[float, ...] = ()
    channels: tuple[str, ...] = ()

    def symbolic(self) -> str:
        """``0.5·in1 + 0.5·in2 + 0.5·in6 + 0.5·in7 = 4.25`` (the notes' way of writing it)."""
        parts = [f"{fmt(t.weight)}·{t.channel}{t.label}" for t in self.terms]
        if self.bias:
            parts.append(f"b ({fmt(self.bias)})")
        return " + ".join(parts).replace("+ -", "− ") + f" = {fmt(self.total)}"

    def numeric(self) -> str:
        """``0.5·1 + 0.5·3 + … = 4.25`` with the input values."""
        parts = [f"{fmt(t.weight)}·{_paren(t.value)}" for t in self.terms]
        if self.bias:
            parts.append(_paren(self.bias))
        return " + ".join(parts).replace("+ -", "− ") + f" = {fmt(self.total)}"

    def per_channel(self) -> list[str]:
        """One line per channel: ``R: 1·in1 + … = 3``, then the sum with the bias."""
        lines = []
        for ch, s in zip(self.channels, self.channel_sums, strict=True):
            terms = [t for t in self.terms if t.channel == ch]
            body = " + ".join(f"{fmt(t.weight)}·{_paren(t.value)}" for t in terms)
            lines.append(f"{ch}: {body.replace('+ -', '− ')} = {fmt(s)}")
        sums = " + ".join(_paren(s) for s in self.channel_sums)
        bias = f" + {_paren(self.bias)} (bias)" if self.bias else ""
        lines.append(f"{sums}{bias} = {fmt(self.total)}")
        return lines


def _paren(v: float) -> str:
    return f"({fmt(v)})" if v < 0 and fmt(v) != "0" else fmt(v)


def _cell_arithmetic(
    x: np.ndarray,
    w: np.ndarray,
    bias: float,
    stride: tuple[int, int],
    padding: tuple[int, int],
    flip: bool,
    row: int,
    col: int,
    channels: tuple[str, ...],
) -> CellArithmetic:
    """x: (C, H, W); w: (C, KH, KW) of one filter."""
    c, h, wd = x.shape
    kh, kw = w.shape[1:]
    ph, pw = padding
    top, left = row * stride[0], col * stride[1]
    used = w[:, ::-1, ::-1] if flip else w
    terms: list[Term] = []
    sums: list[float] = []
    for ci in range(c):
        s = 0.0
        for m in range(kh):
            for n in range(kw):
                r, cc = top + m - ph, left + n - pw
                inside = 0 <= r < h and 0 <= cc < wd
                value = float(x[ci, r, cc]) if inside else 0.0
                label = f"in{r * wd + cc + 1}" if inside else "pad"
                weight = float(used[ci, m, n])
                terms.append(Term(weight, value, label, channels[ci] if c > 1 else ""))
                s += weight * value
        sums.append(s)
    total = float(sum(sums) + bias)
    return CellArithmetic(
        row,
        col,
        (top, left, kh, kw),
        tuple(terms),
        float(bias),
        total,
        tuple(sums),
        channels if c > 1 else ("",),
    )


# -- the convolution explorer -------------------------------------------------------


@dataclass(frozen=True)
class ConvPreset:
    title: str
    input: tuple[tuple[float, ...], ...]
    kernel: tuple[tuple[float, ...], ...]
    stride: int = 1
    padding: int = 0
    #: What the notes say the output is (checked by the tests).
    expected: tuple[tuple[float, ...], ...] = ()
    note: str = ""


def _t(rows: list[list[float]]) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(v) for v in r) for r in rows)


#: The reference notes' worked examples, by key.
CONV_PRESETS: dict[str, ConvPreset] = {
    "notes-3x3": ConvPreset(
        "Notes: 3x3 input, kernel [[1, 0.5], [0.5, 1]]",
        _t([[1, 2, 1], [2, 1, 1], [1, 1, 1]]),
        _t([[1, 0.5], [0.5, 1]]),
        expected=_t([[4, 4], [4, 3]]),
        note="Each output cell is the sum of the four products under the window.",
    ),
    "notes-relu-pool": ConvPreset(
        "Notes: conv, ReLU, max pool → 5",
        _t([[1, 0, 2], [3, 1, 0], [0, 0, 4]]),
        _t([[1, 0], [0, 1]]),
        expected=_t([[2, 0], [3, 5]]),
        note="Then ReLU keeps [[2, 0], [3, 5]] and a 2x2 max pool keeps 5 (lessons 3 and 4).",
    ),
    "notes-half-kernel": ConvPreset(
        "Notes: 2x2 kernel of 0.5s over a 5-wide image",
        # The notes give only in1+in2+in6+in7 = 8.5 and in2+in3+in7+in8 = 5 (their
        # image is a picture); these values reproduce out1 = 4.25 and out2 = 2.5.
        _t([[1, 3, 0, 2, 1], [2.5, 2, 0, 1, 3], [0, 1, 2, 4, 1], [1, 0, 3, 1, 2], [2, 1, 0, 0, 1]]),
        _t([[0.5, 0.5], [0.5, 0.5]]),
        note="out1 = 0.5·in1 + 0.5·in2 + 0.5·in6 + 0.5·in7 = 4.25 and out2 = 2.5, "
        "with the input cells numbered row by row from 1.",
    ),
}


class ConvLab:
    """State of the convolution explorer: one input channel, one kernel, stride, padding.

    The output comes from the engine's ``Conv2D``; the step position walks the output
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
        self.input = _matrix(values, "the input", MAX_INPUT, MAX_INPUT)
        self.position = -1

    def set_kernel(self, values: Any) -> None:
        self.kernel = _matrix(values, "the kernel", MAX_KERNEL, MAX_KERNEL)
        self.position = -1

    def set_input_cell(self, row: int, col: int, value: float) -> None:
        self._check_cell(self.input, row, col, "input")
        self.input[row, col] = _finite(value, "an input cell")

    def set_kernel_cell(self, row: int, col: int, value: float) -> None:
        self._check_cell(self.kernel, row, col, "kernel")
        self.kernel[row, col] = _finite(value, "a kernel cell")

    @staticmethod
    def _check_cell(grid: np.ndarray, row: int, col: int, what: str) -> None:
        if not (0 <= row < grid.shape[0] and 0 <= col < grid.shape[1]):
            raise LabError(
                f"{what} cell ({row}, {col}) is outside the {grid.shape[0]}x{grid.shape[1]} grid"
            )

    def resize_input(self, rows: int, cols: int) -> None:
        """Change the input size, keeping the overlapping values (new cells are 0)."""
        rows, cols = _pair((rows, cols), "the input size", 1, MAX_INPUT)
        self.input = _resized(self.input, rows, cols)
        self.position = -1

    def resize_kernel(self, rows: int, cols: int) -> None:
        """Change the kernel size, keeping the overlapping weights (new ones are 0)."""
        rows, cols = _pair((rows, cols), "the kernel size", 1, MAX_KERNEL)
        self.kernel = _resized(self.kernel, rows, cols)
        self.position = -1

    def set_stride(self, stride: Any) -> None:
        self.stride = _pair(stride, "the stride", 1, MAX_INPUT)
        self.position = -1

    def set_padding(self, padding: Any) -> None:
        self.padding = _pair(padding, "the padding", 0, MAX_PADDING)
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
        """The engine's output (OH, OW); raises ``LabError`` when the kernel does not fit."""
        fh, fw = self.formulas()
        if fh.error or fw.error:
            raise LabError(fh.error or fw.error)
        return engine_conv2d(
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
        return _cell_arithmetic(
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


def _finite(value: Any, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise LabError(f"{what} must be a number, not {value!r}") from None
    if not math.isfinite(v):
        raise LabError(f"{what} must be a finite number, not {value!r}")
    return v


def _resized(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
    out = np.zeros((rows, cols, *a.shape[2:]), dtype=a.dtype) if a.ndim == 2 else None
    assert out is not None
    r, c = min(rows, a.shape[0]), min(cols, a.shape[1])
    out[:r, :c] = a[:r, :c]
    return out


# -- several channels and filters ----------------------------------------------------

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
        self.input[channel, row, col] = _finite(value, "an input cell")

    def set_weight(self, f: int, channel: int, row: int, col: int, value: float) -> None:
        self.weights[f, channel, row, col] = _finite(value, "a kernel cell")

    def set_bias(self, f: int, value: float) -> None:
        self.bias[f] = _finite(value, "a bias")

    def output(self) -> np.ndarray:
        """(F, OH, OW) from the engine's Conv2D: each filter sums its 3 channels plus its bias."""
        return engine_conv2d(self.input, self.weights, self.bias, self.stride, self.padding)

    def cell(self, f: int, row: int, col: int) -> CellArithmetic:
        return _cell_arithmetic(
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


# -- pooling -----------------------------------------------------------------------


@dataclass(frozen=True)
class PoolWindow:
    row: int
    col: int
    #: (top, left, height, width) in input coordinates.
    window: tuple[int, int, int, int]
    #: The engine's output value for this window.
    value: float
    #: Input cells that give the value: the maximum's cell(s), or all cells for average.
    chosen: tuple[tuple[int, int], ...]
    text: str


class PoolLab:
    """A single feature map pooled with the engine's ``MaxPool2D`` / ``AvgPool2D``."""

    def __init__(self) -> None:
        self.input = np.array(
            [[1, 3, 2, 1], [4, 6, 5, 0], [3, 1, 1, 2], [0, 2, 7, 8]], dtype=np.float64
        )
        self.kind = "max"
        self.size: tuple[int, int] = (2, 2)
        self.stride: tuple[int, int] = (2, 2)
        self.position = -1

    def set_input(self, values: Any) -> None:
        self.input = _matrix(values, "the pooling input", MAX_INPUT, MAX_INPUT)
        self.position = -1

    def set_input_cell(self, row: int, col: int, value: float) -> None:
        ConvLab._check_cell(self.input, row, col, "input")
        self.input[row, col] = _finite(value, "an input cell")

    def set_kind(self, kind: str) -> None:
        if kind not in ("max", "avg"):
            raise LabError(f"pooling must be 'max' or 'avg', not {kind!r}")
        self.kind = kind

    def set_size(self, size: Any) -> None:
        self.size = _pair(size, "the pool size", 1, MAX_KERNEL)
        self.position = -1

    def set_stride(self, stride: Any) -> None:
        self.stride = _pair(stride, "the pool stride", 1, MAX_KERNEL)
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
        return engine_pool2d(self.input[None], self.kind, self.size, self.stride)[0]

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
            # The cell(s) holding the engine's answer.
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


# -- flatten, softmax, cross-entropy -------------------------------------------------


def flatten_stack(stack: np.ndarray) -> np.ndarray:
    """The engine's ``Flatten`` on a (C, H, W) stack: channel 0 first, each row by row."""
    a = np.asarray(stack, dtype=np.float64)
    if a.ndim != 3:
        raise LabError(f"a feature stack must have shape (C, H, W), got {a.shape}")
    return Flatten(name="lab_flatten").forward(a[None], training=False)[0]


def softmax_probabilities(logits: Any) -> np.ndarray:
    """The engine's ``Softmax`` layer on one score vector."""
    z = np.asarray(logits, dtype=np.float64).reshape(1, -1)
    if z.shape[1] < 1 or not np.all(np.isfinite(z)):
        raise LabError("softmax needs at least one finite score")
    return Softmax(name="lab_softmax").forward(z, training=False)[0]


def cross_entropy(logits: Any, true_class: int) -> float:
    """The engine's softmax cross-entropy of one score vector for ``true_class``."""
    z = np.asarray(logits, dtype=np.float64).reshape(1, -1)
    if not 0 <= int(true_class) < z.shape[1]:
        raise LabError(f"the true class must be between 0 and {z.shape[1] - 1}, got {true_class}")
    loss, _ = softmax_cross_entropy(z, np.array([int(true_class)]))
    return float(loss)


# -- worked example across lessons ---------------------------------------------------


@dataclass(frozen=True)
class Pipeline:
    conv: np.ndarray
    relu: np.ndarray
    pooled: np.ndarray


def worked_example_pipeline() -> Pipeline:
    """The notes' second example: conv → ReLU → 2x2 max pool, all by the engine."""
    p = CONV_PRESETS["notes-relu-pool"]
    conv = engine_conv2d(np.array(p.input)[None], np.array(p.kernel)[None, None])[0]
    relu = activate(conv, "ReLU")
    pooled = engine_pool2d(relu[None], "max", 2, 2)[0]
    return Pipeline(conv, relu, pooled)


# -- image filters -------------------------------------------------------------------

#: Classic kernels: name -> (kernel, one line on what it does).
IMAGE_FILTERS: dict[str, tuple[np.ndarray, str]] = {
    "Edges (horizontal)": (
        np.array([[-1, -1, -1], [0, 0, 0], [1, 1, 1]], dtype=np.float64),
        "Bright where the image gets brighter going down, dark where it gets darker: "
        "horizontal edges light up.",
    ),
    "Edges (vertical)": (
        np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]], dtype=np.float64),
        "Compares the column on the right with the one on the left: vertical edges light up.",
    ),
    "Sobel (edge strength)": (
        np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64),
        "Two Sobel kernels (this one and its transpose) measure the change across and down; "
        "the map shows the length √(gx² + gy²), so edges of any direction light up.",
    ),
    "Blur (box)": (
        np.full((3, 3), 1 / 9),
        "Every pixel becomes the average of its 3x3 neighbourhood: details soften.",
    ),
    "Sharpen": (
        np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float64),
        "The centre counts 5 times and its neighbours are subtracted: differences grow.",
    ),
    "Emboss": (
        np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float64),
        "Compares one corner with the opposite one: the shape looks raised, lit from a side.",
    ),
    "Outline (Laplacian)": (
        np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=np.float64),
        "Zero on flat areas, large wherever a pixel differs from its neighbours.",
    ),
    "Identity": (
        np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float64),
        "Only the centre weight is 1: the feature map is the image itself.",
    ),
}


def apply_image_filter(
    image: np.ndarray, name: str, kernel: np.ndarray | None = None
) -> np.ndarray:
    """Filter a grayscale image (H, W) with the engine's Conv2D, keeping its size.

    ``kernel`` overrides the named filter's kernel (the user may edit it); for the Sobel
    filter the edited kernel and its transpose give the two directions.
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise LabError(f"an image for filtering must be 2-D (H, W), got shape {img.shape}")
    if name not in IMAGE_FILTERS:
        raise LabError(f"unknown filter {name!r} (known: {', '.join(IMAGE_FILTERS)})")
    k = IMAGE_FILTERS[name][0] if kernel is None else np.asarray(kernel, dtype=np.float64)
    pad = ((k.shape[0] - 1) // 2, (k.shape[1] - 1) // 2)
    if name.startswith("Sobel"):
        both = engine_conv2d(img[None], np.stack([k[None], k.T[None]]), None, 1, pad)
        return np.hypot(both[0], both[1])
    return engine_conv2d(img[None], k[None, None], None, 1, pad)[0]


# -- 1-D convolution -----------------------------------------------------------------


def conv1d(
    signal: Any, kernel: Any, stride: int = 1, padding: int = 0, flip: bool = False
) -> np.ndarray:
    """A 1-D convolution, run as the engine's Conv2D on a 1-pixel-high image."""
    x = np.asarray(signal, dtype=np.float64).reshape(1, 1, -1)
    k = np.asarray(kernel, dtype=np.float64).reshape(1, 1, 1, -1)
    try:
        return engine_conv2d(x, k, None, (1, stride), (0, padding), flip)[0, 0]
    except ShapeError as exc:
        raise LabError(str(exc).split(": ", 1)[-1]) from None


def conv1d_cell(
    signal: Any, kernel: Any, stride: int, padding: int, flip: bool, index: int
) -> CellArithmetic:
    """The sum behind output ``index`` of :func:`conv1d` (terms labelled in1, in2, …)."""
    x = np.asarray(signal, dtype=np.float64).reshape(1, 1, -1)
    k = np.asarray(kernel, dtype=np.float64).reshape(1, 1, -1)
    return _cell_arithmetic(x, k, 0.0, (1, stride), (0, padding), flip, 0, index, ("",))


# -- images ----------------------------------------------------------------------------


def downsample(image: np.ndarray, rows: int, cols: int, decimals: int = 1) -> np.ndarray:
    """Average a grayscale image down to ``rows x cols`` (area averaging), rounded for display."""
    from PIL import Image

    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2 or img.size == 0:
        raise LabError(f"an image must be 2-D (H, W), got shape {img.shape}")
    small = Image.fromarray(img, mode="F").resize((cols, rows), Image.Resampling.BOX)
    return np.round(np.asarray(small, dtype=np.float64), decimals)


def sample_digit(index: int = 0) -> tuple[np.ndarray, str]:
    """A 28x28 digit in [0, 1] and its caption: from the built-in MNIST sample when it loads,
    otherwise a digit drawn with NumPy."""
    try:
        from cnnstudio.data.builtin import load_builtin

        test = load_builtin().test
        if test is None:
            raise LookupError("the built-in sample has no held-out part")
        labels = np.asarray(test.labels)
        digit = index % 10
        pick = int(np.flatnonzero(labels == digit)[0])
        raw = np.asarray(test.images[pick])
        img = raw.astype(np.float32).reshape(28, 28)
        if raw.dtype == np.uint8:
            img /= 255.0
        return np.clip(img, 0.0, 1.0), f"MNIST sample digit {digit}"
    except Exception:  # any trouble with the dataset: use the drawn digit
        return _drawn_seven(), "a 7 drawn by the lab"


def _drawn_seven() -> np.ndarray:
    img = np.zeros((28, 28), dtype=np.float32)
    img[6:9, 6:22] = 1.0
    for r in range(9, 23):
        c = round(21 - (r - 9) * 0.55)
        img[r, c - 1 : c + 2] = 1.0
    return img


# -- "Explain" from the Build canvas --------------------------------------------------


@dataclass(frozen=True)
class ExplainPreset:
    """Which lesson to open and how to set it for a block sent by ``explain_requested``."""

    lesson: str
    kernel: tuple[int, int] = (3, 3)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    pool_kind: str = "max"
    activation: str = "ReLU"
    caption: str = ""
    notes: list[str] = field(default_factory=list)


def explain_preset(spec: dict[str, Any]) -> ExplainPreset:
    """Turn a block description into lab settings.

    Parameters
    ----------
    spec : dict
        ``{"type": "Conv2D", "kernel_size": [5, 5], "stride": [1, 1], "padding": [0, 0]}``;
        pooling blocks send ``pool_size``; activations just their ``type``.

    Sizes beyond what the lab draws are clamped, and the clamp is named in ``notes``.
    """
    if not isinstance(spec, dict):
        raise LabError(f"an explain request must be a dict, not {type(spec).__name__}")
    kind = str(spec.get("type", ""))
    notes: list[str] = []

    def grab(key: str, default: Any, low: int, high: int) -> tuple[int, int]:
        raw = spec.get(key, default)
        if raw is None:
            raw = default
        try:
            h, w = _pair(raw, key, 0, 10_000)
        except LabError:
            notes.append(f"{key} {raw!r} is not a size the lab can show; using {default}")
            h, w = _pair(default, key, low, high)
        ch, cw = min(max(h, low), high), min(max(w, low), high)
        if (ch, cw) != (h, w):
            notes.append(f"{key} {h}x{w} is shown as {ch}x{cw} (the lab draws up to {high})")
        return ch, cw

    if kind == "Conv2D":
        k = grab("kernel_size", 3, 1, MAX_KERNEL)
        s = grab("stride", 1, 1, MAX_INPUT)
        pad_raw = spec.get("padding", 0)
        if isinstance(pad_raw, str):
            if pad_raw.lower() == "same":
                # Symmetric "same" needs (K−1)/2 on each side; even kernels round down here.
                p = ((k[0] - 1) // 2, (k[1] - 1) // 2)
                notes.append("padding 'same' is shown as its explicit zero padding")
            else:
                p = (0, 0)
        else:
            p = grab("padding", 0, 0, MAX_PADDING)
        caption = (
            f"Explaining {spec.get('name') or 'a Conv2D block'}: kernel {k[0]}x{k[1]}, "
            f"stride {s[0]}x{s[1]}, padding {p[0]}x{p[1]}"
        )
        return ExplainPreset("conv", k, s, p, caption=caption, notes=notes)
    if kind in ("MaxPool2D", "AvgPool2D"):
        k = grab("pool_size", 2, 1, MAX_KERNEL)
        s = grab("stride", list(k), 1, MAX_KERNEL)
        caption = (
            f"Explaining {spec.get('name') or 'a ' + kind + ' block'}: pool {k[0]}x{k[1]}, "
            f"stride {s[0]}x{s[1]}"
        )
        return ExplainPreset(
            "pool",
            k,
            s,
            pool_kind="max" if kind == "MaxPool2D" else "avg",
            caption=caption,
            notes=notes,
        )
    if kind in ACTIVATIONS or kind == "PReLU":
        act = "LeakyReLU" if kind == "PReLU" else kind
        return ExplainPreset(
            "activation",
            activation=act,
            caption=f"Explaining {spec.get('name') or 'a ' + kind + ' block'}",
        )
    if kind in ("Flatten", "Dense", "Softmax"):
        return ExplainPreset("flatten", caption=f"Explaining {spec.get('name') or kind}")
    raise LabError(f"the Learn lab has no lesson for a {kind or 'typeless'} block")
