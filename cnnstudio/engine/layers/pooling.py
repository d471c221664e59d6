"""Max and average pooling over any window size and stride (overlapping windows included),
and global pooling: one number per channel for an input of any size."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnstudio.engine import kernels
from cnnstudio.engine.errors import EngineError, ShapeError
from cnnstudio.engine.layers._spatial import (
    Pads,
    buffer,
    explicit_pads,
    onnx_pads,
    padding_config,
    padding_text,
    pair_text,
    parse_padding,
    positive_pair,
    spatial_output,
    step_text,
)
from cnnstudio.engine.layers.base import Layer, OnnxOp, Shape, format_shape, register_layer

__all__ = ["AvgPool2D", "GlobalAvgPool2D", "GlobalMaxPool2D", "MaxPool2D"]


class _Pool2D(Layer):
    """Shared arguments: ``pool_size``, ``stride`` (default: the pool size), ``padding``."""

    _pad_value = 0.0

    def __init__(
        self, pool_size: Any = 2, stride: Any = None, padding: Any = 0, *, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        self.pool_size = positive_pair(pool_size, "pool_size", self.name)
        self._stride_config = (
            None if stride is None else list(positive_pair(stride, "stride", self.name))
        )
        self.stride = (
            self.pool_size if stride is None else positive_pair(stride, "stride", self.name)
        )
        self.padding = parse_padding(padding, self.name)
        self._padding_config = padding_config(padding)
        self._pads: Pads = (0, 0, 0, 0)
        self._out_hw = (0, 0)

    def output_shape(self, input_shape: Any) -> Shape:
        (oh, ow), pads = spatial_output(
            self.name, input_shape, self.pool_size, self.stride, self.padding
        )
        kh, kw = self.pool_size
        if max(pads[0], pads[1]) >= kh or max(pads[2], pads[3]) >= kw:
            # A window lying wholly in the padding would have no input to pool.
            raise ShapeError(
                f"{self.name}: padding {pads[0]},{pads[1]},{pads[2]},{pads[3]} "
                f"(top, bottom, left, right) must be smaller than the pool size {kh}x{kw}"
            )
        return (input_shape[0], oh, ow)

    def pads(self, input_shape: Any = None) -> Pads:
        """Explicit padding ``(top, bottom, left, right)`` for ``input_shape`` (C, H, W)."""
        shape = self.input_shape if input_shape is None else tuple(input_shape)
        if shape is None:
            raise EngineError(f"{self.name}: pads() needs an input shape before build")
        return explicit_pads(self.padding, (shape[1], shape[2]), self.pool_size, self.stride)

    def _init_params(self, input_shape: Any, rng: np.random.Generator) -> None:
        (self._out_hw, self._pads) = spatial_output(
            self.name, input_shape, self.pool_size, self.stride, self.padding
        )

    def _padded(self, x: np.ndarray, ctx: dict[str, Any]) -> np.ndarray:
        t, b, lft, rgt = self._pads
        if not (t or b or lft or rgt):
            return x
        c, h, w, n = x.shape
        xpad = buffer(ctx, "xp", (c, h + t + b, w + lft + rgt, n), x.dtype, fill=self._pad_value)
        return kernels.pad(x, self._pads, out=xpad)

    def _xp_shape(self, x_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        c, h, w, n = x_shape
        t, b, lft, rgt = self._pads
        return (c, h + t + b, w + lft + rgt, n)

    def config(self) -> dict[str, Any]:
        return {
            "pool_size": list(self.pool_size),
            "stride": self._stride_config,
            "padding": self._padding_config,
        }

    # -- describing itself ------------------------------------------------------------
    #: ``"max"`` or ``"avg"``: the summary's first word.
    _kind = ""

    def summary(self) -> str:
        parts = [f"{self._kind} {pair_text(self.pool_size)}"]
        if self.stride != self.pool_size:
            parts.append(f"stride {step_text(self.stride)}")
        parts.append(padding_text(self._padding_config))
        return " ".join(p for p in parts if p)

    def _onnx_attributes(self) -> dict[str, Any]:
        return {
            "kernel_shape": list(self.pool_size),
            "strides": list(self.stride),
            "pads": onnx_pads(self.pads()),
        }

    def predictor_config(self) -> dict[str, Any]:
        return {
            "pool_size": list(self.pool_size),
            "stride": list(self.stride),
            "pads": list(self.pads()),
        }


@register_layer
class MaxPool2D(_Pool2D):
    """The maximum of each window. Padding is ``-inf`` (never selected).

    Where several elements of a window share the maximum (frequent on blank
    backgrounds), the gradient goes to the first of them in row-major order, as in
    PyTorch, so the gradient is never counted twice.
    """

    type_name = "MaxPool2D"
    _pad_value = -np.inf
    _kind = "max"

    def onnx_op(self) -> OnnxOp:
        return OnnxOp("MaxPool", self._onnx_attributes())

    def fwd(
        self, x: np.ndarray, training: bool, ctx: dict[str, Any], reuse_output: bool | None = None
    ) -> np.ndarray:
        """Reproduces ``reference.pooling.MaxPool2D.forward`` (batch-last).

        ``reuse_output`` (by default, in training): a training batch's output goes into an
        array kept in ``ctx``, overwritten by the next call. Its readers must not change
        it: the backward pass finds each window's maximum by comparing with it."""
        xp = self._padded(x, ctx)
        c, _, _, n = xp.shape
        keep = None
        if reuse_output is None:
            reuse_output = training
        if reuse_output and training:
            keep = buffer(ctx, "out", (c, *self._out_hw, n), xp.dtype)
        if n <= kernels.SEPARABLE_POOL_BATCH:
            # One or two images: the views are made once for an input that stays the
            # same array from call to call (a padded input's buffer, the fused step's
            # convolution output), as single-image inference's is.
            plan = ctx.get("plan")
            if plan is None or not plan.matches(xp):
                args = (*self.pool_size, *self.stride, *self._out_hw)
                plan = ctx["plan"] = kernels.MaxPoolPlan(xp, *args)
            out = plan(keep)
        else:
            (kh, kw), (sh, sw), (oh, ow) = self.pool_size, self.stride, self._out_hw
            out = kernels.maxpool_forward(xp, kh, kw, sh, sw, oh, ow, out=keep)
        if training:
            ctx["xp"] = xp
            ctx["pooled"] = out
        return out

    def bwd(
        self,
        dout: np.ndarray,
        ctx: dict[str, Any],
        grads: dict[str, np.ndarray],
        need_dx: bool = True,
    ) -> np.ndarray | None:
        """Reproduces ``reference.pooling.MaxPool2D.backward`` (batch-last)."""
        if not need_dx:
            return None
        kh, kw = self.pool_size
        sh, sw = self.stride
        xp, pooled = ctx["xp"], ctx["pooled"]
        out = buffer(ctx, "dxp", xp.shape, dout.dtype)
        if kernels.MaxPoolBackward.fits(kh, kw, sh, sw):  # views made once
            plan = ctx.get("bwd_plan")
            if plan is None or not plan.matches(xp, pooled, out):
                plan = ctx["bwd_plan"] = kernels.MaxPoolBackward(xp, pooled, out, kh, kw, sh, sw)
            dxp = plan(dout)
        else:
            dxp = kernels.maxpool_backward(dout, xp, pooled, kh, kw, sh, sw, out=out)
        return kernels.unpad(dxp, self._pads)


@register_layer
class AvgPool2D(_Pool2D):
    """The mean of each window.

    Padding adds zeros that count in the mean (PyTorch ``count_include_pad=True``,
    ONNX ``AveragePool`` with ``count_include_pad=1``): a 2x2 window over one real
    value 4 and three padded zeros averages to 1.
    """

    type_name = "AvgPool2D"
    _kind = "avg"

    def onnx_op(self) -> OnnxOp:
        # The engine averages padded zeros too.
        return OnnxOp("AveragePool", {**self._onnx_attributes(), "count_include_pad": 1})

    def fwd(self, x: np.ndarray, training: bool, ctx: dict[str, Any]) -> np.ndarray:
        """Reproduces ``reference.pooling.AvgPool2D.forward`` (batch-last)."""
        kh, kw = self.pool_size
        sh, sw = self.stride
        oh, ow = self._out_hw
        if training:
            ctx["x_shape"] = x.shape
        return kernels.avgpool_forward(self._padded(x, ctx), kh, kw, sh, sw, oh, ow)

    def bwd(
        self,
        dout: np.ndarray,
        ctx: dict[str, Any],
        grads: dict[str, np.ndarray],
        need_dx: bool = True,
    ) -> np.ndarray | None:
        """Reproduces ``reference.pooling.AvgPool2D.backward`` (batch-last)."""
        if not need_dx:
            return None
        kh, kw = self.pool_size
        sh, sw = self.stride
        xp_shape = self._xp_shape(ctx["x_shape"])
        dxp = kernels.avgpool_backward(
            dout, xp_shape, kh, kw, sh, sw, out=buffer(ctx, "dxp", xp_shape, dout.dtype)
        )
        return kernels.unpad(dxp, self._pads)


class _GlobalPool2D(Layer):
    """One number per channel, whatever the height and width: ``C@HxW`` -> ``C``.

    The output is a vector, as Flatten's is, so a Dense layer can follow directly and
    the same network accepts any image size. (Keras's ``GlobalAveragePooling2D`` does
    the same; PyTorch's ``adaptive_avg_pool2d(x, 1)`` keeps a ``C@1x1`` map that is then
    flattened, and ONNX's ``GlobalAveragePool`` too, which is why the export adds a
    Flatten.) No parameters and no settings.
    """

    #: ``"mean"`` or ``"max"``: the summary's last word.
    _kind = ""
    #: The ONNX operator, followed by a Flatten.
    _onnx_type = ""

    def output_shape(self, input_shape: Any) -> Shape:
        shape = tuple(input_shape)
        if len(shape) != 3 or any(d < 1 for d in shape):
            got = f"a vector of {format_shape(shape)}" if len(shape) == 1 else f"shape {shape}"
            raise ShapeError(
                f"{self.name}: needs feature maps (channels@height x width) but gets {got}; "
                "global pooling must come before Flatten"
            )
        return (shape[0],)

    # -- describing itself ------------------------------------------------------------
    def summary(self) -> str:
        return f"each map → its {self._kind}"

    def onnx_op(self) -> tuple[OnnxOp, ...]:
        # ONNX's global pooling keeps (N, C, 1, 1); the engine gives (N, C).
        return (OnnxOp(self._onnx_type), OnnxOp("Flatten", {"axis": 1}))


@register_layer
class GlobalAvgPool2D(_GlobalPool2D):
    """The mean of each whole channel: ``(C, H, W)`` -> ``(C,)``."""

    type_name = "GlobalAvgPool2D"
    _kind = "mean"
    _onnx_type = "GlobalAveragePool"

    def fwd(self, x: np.ndarray, training: bool, ctx: dict[str, Any]) -> np.ndarray:
        """Reproduces ``reference.pooling.GlobalAvgPool2D.forward`` (batch-last)."""
        c, h, w, n = x.shape
        if training:
            ctx["x_shape"] = x.shape
        return x.reshape(c, h * w, n).mean(axis=1)

    def bwd(
        self,
        dout: np.ndarray,
        ctx: dict[str, Any],
        grads: dict[str, np.ndarray],
        need_dx: bool = True,
    ) -> np.ndarray | None:
        """Reproduces ``reference.pooling.GlobalAvgPool2D.backward`` (batch-last)."""
        if not need_dx:
            return None
        c, h, w, n = ctx["x_shape"]
        # Every one of a map's H*W values counts 1/(H*W) in its mean.
        dx = buffer(ctx, "dx", (c, h, w, n), dout.dtype)
        np.multiply(dout[:, None, None, :], 1.0 / (h * w), out=dx)
        return dx


@register_layer
class GlobalMaxPool2D(_GlobalPool2D):
    """The maximum of each whole channel: ``(C, H, W)`` -> ``(C,)``.

    The gradient goes to the first maximum of each map in row-major order, as
    MaxPool2D's does, so a map with tied maxima passes its gradient on once.
    """

    type_name = "GlobalMaxPool2D"
    _kind = "max"
    _onnx_type = "GlobalMaxPool"

    def fwd(self, x: np.ndarray, training: bool, ctx: dict[str, Any]) -> np.ndarray:
        """Reproduces ``reference.pooling.GlobalMaxPool2D.forward`` (batch-last)."""
        c, h, w, n = x.shape
        maps = x.reshape(c, h * w, n)
        if not training:
            return maps.max(axis=1)
        first = maps.argmax(axis=1)[:, None, :]  # (C, 1, N): argmax gives the first
        ctx["x_shape"], ctx["first"] = x.shape, first
        return np.take_along_axis(maps, first, axis=1)[:, 0, :]

    def bwd(
        self,
        dout: np.ndarray,
        ctx: dict[str, Any],
        grads: dict[str, np.ndarray],
        need_dx: bool = True,
    ) -> np.ndarray | None:
        """Reproduces ``reference.pooling.GlobalMaxPool2D.backward`` (batch-last)."""
        if not need_dx:
            return None
        c, h, w, n = ctx["x_shape"]
        dx = buffer(ctx, "dx", (c, h, w, n), dout.dtype)
        dx.fill(0)
        np.put_along_axis(dx.reshape(c, h * w, n), ctx["first"], dout[:, None, :], axis=1)
        return dx
