"""Checking layer config values, the network size limits, and the output-size arithmetic
shared by convolution and pooling (one place, one message).

Every config value of every layer goes through ``config_int``, ``config_bool``,
``config_number`` or ``pair``, so an absurd value from a hand-edited file (``2**63``, a
negative size, ``"no"`` for a boolean, ``NaN``) is refused when the layer is made, as an
``EngineError`` naming the layer and the field, and never reaches NumPy.
"""

from __future__ import annotations

import math
import numbers
import reprlib
from collections.abc import Mapping
from typing import Any

from cnnstudio.engine.errors import EngineError, ShapeError

__all__ = [
    "MAX_SIZE",
    "MAX_VALUES_PER_IMAGE",
    "MAX_WEIGHTS",
    "check_network_size",
    "config_bool",
    "config_int",
    "config_number",
    "conv_output_size",
    "describe",
    "pair",
]

#: Largest number any size field may hold (units, filters, kernel, stride, padding, an
#: Input dimension). Real networks stay far below; the bound keeps numbers such as 2**63
#: out of NumPy. Whole networks are bounded by the two limits below.
MAX_SIZE = 2**31 - 1
#: Most numbers a network's weight arrays may hold together (parameters and BatchNorm
#: statistics): 2**25, 128 MB of float32. Building keeps about four copies (weights,
#: gradients and the flat buffers the optimizers use) and draws each layer in float64
#: first, so a network at the limit peaks near 600 MB while it is built.
MAX_WEIGHTS = 2**25
#: Most numbers one image may produce over all layers' outputs: 2**26, 256 MB of float32
#: (training keeps all of them for every image of a batch).
MAX_VALUES_PER_IMAGE = 2**26


class _ShortRepr(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 64:  # repr() of an int over 4,300 digits raises ValueError
            digits = int(x.bit_length() * math.log10(2)) + 1
            return f"{'-' if x < 0 else ''}<an integer of about {digits} digits>"
        return repr(x)


_repr = _ShortRepr()
_repr.maxstring = 40
_repr.maxother = 40


def describe(value: Any) -> str:
    """A short repr of a config value for a message, whatever its size (an int of 10,000
    digits cannot even be printed, and a list of a million items should not be)."""
    return _repr.repr(value)


def config_int(value: Any, field: str, layer: str, *, low: int = 1, high: int = MAX_SIZE) -> int:
    """``value`` as an int in ``[low, high]``, or ``ShapeError`` naming ``layer`` and ``field``.

    Booleans and floats are refused (``True`` is not a size, nor is ``3.0`` in a file).
    """
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise ShapeError(f"{layer}: {field} must be a whole number, not {describe(value)}")
    number = int(value)
    if not low <= number <= high:
        raise ShapeError(
            f"{layer}: {field} must be a whole number from {low} to {high}, got {describe(number)}"
        )
    return number


def config_bool(value: Any, field: str, layer: str) -> bool:
    """``value`` if it is ``True`` or ``False``; ``EngineError`` otherwise (``"no"``, ``2`` and
    ``[]`` are not booleans, and guessing what they mean would silently change the layer)."""
    if not isinstance(value, bool):
        raise EngineError(f"{layer}: {field} must be true or false, not {describe(value)}")
    return value


def config_number(value: Any, field: str, layer: str) -> float:
    """``value`` as a finite float, or ``EngineError`` naming ``layer`` and ``field``.

    Range checks are the caller's (each field has its own)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise EngineError(f"{layer}: {field} must be a number, not {describe(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise EngineError(f"{layer}: {field} must be a finite number, not {describe(value)}")
    return number


def pair(value: int | tuple[int, int] | list[int], what: str = "value") -> tuple[int, int]:
    """Return ``value`` as an ``(h, w)`` pair of ints; an int ``n`` becomes ``(n, n)``.

    ``ShapeError`` for anything else and for a number above ``MAX_SIZE`` (the callers
    check the lower bounds, which differ)."""
    bad = f"{what} must be an integer or a pair of integers, not {describe(value)}"
    if isinstance(value, bool):
        raise ShapeError(bad)
    if isinstance(value, int):
        h = w = value
    else:
        try:
            h, w = value  # type: ignore[misc]
        except (TypeError, ValueError):
            raise ShapeError(bad) from None
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (h, w)):
            raise ShapeError(bad)
    if max(abs(h), abs(w)) > MAX_SIZE:
        far = h if abs(h) > MAX_SIZE else w
        raise ShapeError(f"{what} must be at most {MAX_SIZE}, got {describe(far)}")
    return (int(h), int(w))


def check_network_size(weights: Mapping[str, int], values: Mapping[str, int]) -> None:
    """Refuse a network over ``MAX_WEIGHTS`` or ``MAX_VALUES_PER_IMAGE``, before anything
    is allocated.

    Parameters
    ----------
    weights
        Numbers per weight array (or per layer), keyed by the name to show.
    values
        Numbers each layer outputs for one image, keyed by the name to show.

    Raises
    ------
    EngineError
        Giving the total, the largest contributor and the limit.
    """
    for counts, limit, what, advice in (
        (weights, MAX_WEIGHTS, "weights", "use fewer units or filters, or a smaller input"),
        (
            values,
            MAX_VALUES_PER_IMAGE,
            "values per image over all layer outputs",
            "use a smaller input, fewer filters or an earlier pooling layer",
        ),
    ):
        total = sum(counts.values())
        if total > limit:
            largest = max(counts, key=counts.__getitem__)
            raise EngineError(
                f"the network is too large: it needs {total:,} {what} (the most, "
                f"{counts[largest]:,}, in {largest}); CNN Studio allows up to {limit:,} "
                f"({limit * 4 // 2**20} MB of float32); {advice}"
            )


def conv_output_size(
    size: int, kernel: int, stride: int, padding: int, *, layer: str = "layer", axis: str = ""
) -> int:
    """Output length along one axis: ``floor((I + 2P - K) / S) + 1``.

    Parameters
    ----------
    size, kernel, stride, padding
        Input length ``I``, kernel length ``K``, stride ``S`` and zero padding ``P``
        added on each side.
    layer, axis
        Named in the error message (e.g. ``layer="conv1"``, ``axis="height"``).

    Raises
    ------
    ShapeError
        When a number is out of range or the kernel does not fit the padded input;
        the message shows the formula with the numbers.
    """
    where = f"{layer}" + (f" ({axis})" if axis else "")
    if kernel < 1:
        raise ShapeError(f"{where}: kernel size must be at least 1, got {kernel}")
    if stride < 1:
        raise ShapeError(f"{where}: stride must be at least 1, got {stride}")
    if padding < 0:
        raise ShapeError(f"{where}: padding cannot be negative, got {padding}")
    if size < 1:
        raise ShapeError(f"{where}: input size must be at least 1, got {size}")
    out = (size + 2 * padding - kernel) // stride + 1
    if size + 2 * padding - kernel < 0 or out < 1:
        raise ShapeError(
            f"{where}: kernel {kernel} does not fit the input of {size} "
            f"with padding {padding}; output size ({size}+2·{padding}−{kernel})/{stride}+1 < 1"
        )
    return out
