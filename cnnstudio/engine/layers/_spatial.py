"""Shared argument checking and padding arithmetic of Conv2D and the pooling layers."""

from __future__ import annotations

from typing import Any

from cnnstudio.engine.errors import ShapeError
from cnnstudio.engine.shapes import conv_output_size, describe, pair

Pads = tuple[int, int, int, int]


def positive_pair(value: Any, what: str, layer: str) -> tuple[int, int]:
    """``value`` as an ``(h, w)`` pair of positive ints, or ``ShapeError`` naming ``layer``."""
    h, w = pair(value, f"{layer}: {what}")
    if h < 1 or w < 1:
        raise ShapeError(f"{layer}: {what} must be at least 1, got {describe(value)}")
    return h, w


def parse_padding(value: Any, layer: str) -> str | tuple[int, int]:
    """``"valid"`` -> ``(0, 0)``; ``"same"`` stays; an int or pair becomes a non-negative pair."""
    if isinstance(value, str):
        v = value.lower()
        if v == "valid":
            return (0, 0)
        if v == "same":
            return "same"
        raise ShapeError(
            f"{layer}: padding must be an int, a pair, 'valid' or 'same', not {describe(value)}"
        )
    ph, pw = pair(value, f"{layer}: padding")
    if ph < 0 or pw < 0:
        raise ShapeError(f"{layer}: padding cannot be negative, got {describe(value)}")
    return ph, pw


def padding_config(value: Any) -> Any:
    """The padding as written in a config: strings kept, ints/pairs as ``[h, w]`` lists."""
    if isinstance(value, str):
        return value.lower()
    ph, pw = pair(value)
    return [ph, pw]


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Pads ``(before, after)`` giving ``ceil(size / stride)`` outputs.

    The total is split evenly; when it is odd (even kernels at stride 1, or some
    strides) the extra row/column goes after (bottom/right), as TensorFlow and
    ONNX ``auto_pad="SAME_UPPER"`` do.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def explicit_pads(
    padding: str | tuple[int, int],
    hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
) -> Pads:
    """``(top, bottom, left, right)`` for an input of spatial size ``hw``."""
    if padding == "same":
        t, b = same_pads(hw[0], kernel[0], stride[0])
        lft, rgt = same_pads(hw[1], kernel[1], stride[1])
        return t, b, lft, rgt
    assert not isinstance(padding, str)
    ph, pw = padding
    return ph, ph, pw, pw


def spatial_output(
    layer: str,
    input_shape: Any,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: str | tuple[int, int],
) -> tuple[tuple[int, int], Pads]:
    """Check a ``(C, H, W)`` input and return ``((OH, OW), pads)``."""
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise ShapeError(
            f"{layer}: expects an image input (C, H, W), got a {len(shape)}-D input {shape}"
        )
    _, h, w = shape
    pads = explicit_pads(padding, (h, w), kernel, stride)
    if padding == "same":
        if h < 1 or w < 1:
            raise ShapeError(f"{layer}: input size must be at least 1, got {h}x{w}")
        return (-(-h // stride[0]), -(-w // stride[1])), pads
    oh = conv_output_size(h, kernel[0], stride[0], pads[0], layer=layer, axis="height")
    ow = conv_output_size(w, kernel[1], stride[1], pads[2], layer=layer, axis="width")
    return (oh, ow), pads


def buffer(
    ctx: dict[str, Any], key: str, shape: tuple[int, ...], dtype: Any, fill: float | None = None
):
    """A scratch array kept in ``ctx`` across calls and reused while shape and dtype match.

    Saves the allocation (and, for padded inputs, refilling the border: only the
    interior is ever written) on every call; single-image latency depends on it.
    """
    import numpy as np

    buf = ctx.get(key)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = np.empty(shape, dtype=dtype) if fill is None else np.full(shape, fill, dtype=dtype)
        ctx[key] = buf
    return buf


# -- describing a window layer (summaries and exports of Conv2D and the pooling layers) --
def pair_text(pair_: tuple[int, int]) -> str:
    """``(5, 3)`` as ``5x3``."""
    return f"{pair_[0]}x{pair_[1]}"


def step_text(pair_: tuple[int, int]) -> str:
    """A stride or padding reads best as one number when both sides agree (``pad 2``)."""
    return str(pair_[0]) if pair_[0] == pair_[1] else pair_text(pair_)


def padding_text(padding_config_: Any) -> str:
    """``pad same``, ``pad valid``, ``pad 2``, or nothing for no padding."""
    if isinstance(padding_config_, str):
        return f"pad {padding_config_}"
    ph, pw = padding_config_
    return f"pad {step_text((ph, pw))}" if (ph, pw) != (0, 0) else ""


def onnx_pads(pads: Pads) -> list[int]:
    """``(top, bottom, left, right)`` in ONNX's order: begins, then ends."""
    top, bottom, left, right = pads
    return [top, left, bottom, right]
