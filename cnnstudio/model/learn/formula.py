"""The output-size formula ``(I + 2P − K) / S + 1`` written out with the user's numbers."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from cnnstudio.engine.errors import ShapeError
from cnnstudio.engine.shapes import conv_output_size
from cnnstudio.model.learn.base import fmt

__all__ = ["OutputSizeFormula", "output_size_formula"]


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
