"""The sum behind one output cell of a convolution, written out term by term.

The lab computes each written sum itself from the input window, independently of the
layer that gives the output; the tests check that the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnstudio.model.learn.base import fmt

__all__ = ["CellArithmetic", "Term", "cell_arithmetic"]


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


def cell_arithmetic(
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
    """The sum for output cell ``(row, col)`` of one filter.

    ``x`` is the input (C, H, W); ``w`` the filter's kernels (C, KH, KW); ``channels`` the
    channel names used to label the terms when there is more than one channel.
    """
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
