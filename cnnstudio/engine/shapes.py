"""Output-size arithmetic shared by convolution and pooling (one place, one message)."""

from __future__ import annotations

from cnnstudio.engine.errors import ShapeError

__all__ = ["conv_output_size", "pair"]


def pair(value: int | tuple[int, int] | list[int], what: str = "value") -> tuple[int, int]:
    """Return ``value`` as an ``(h, w)`` pair of ints; an int ``n`` becomes ``(n, n)``."""
    if isinstance(value, bool):
        raise ShapeError(f"{what} must be an integer or a pair of integers, not {value!r}")
    if isinstance(value, int):
        return (value, value)
    try:
        h, w = value
    except (TypeError, ValueError):
        raise ShapeError(
            f"{what} must be an integer or a pair of integers, not {value!r}"
        ) from None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (h, w)):
        raise ShapeError(f"{what} must be an integer or a pair of integers, not {value!r}")
    return (int(h), int(w))


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
