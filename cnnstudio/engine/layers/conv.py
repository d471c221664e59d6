"""2-D convolution (cross-correlation, or true convolution with ``flip_kernel``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnstudio.engine import kernels
from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.initializers import initialize, parse_init
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
from cnnstudio.engine.layers.base import Layer, OnnxOp, Shape, register_layer
from cnnstudio.engine.shapes import config_bool, config_int

__all__ = ["Conv2D"]


@register_layer
class Conv2D(Layer):
    """A bank of ``filters`` learned kernels slid over the input.

    Parameters
    ----------
    filters : int
        Output channels ``C_out``.
    kernel_size, stride : int or (h, w)
    padding : int, (h, w), "valid" or "same"
        Zeros added around the input. "same" gives ``ceil(I / S)`` outputs per axis;
        when the needed total padding is odd (even kernels) the extra row/column goes
        at the bottom/right (ONNX ``SAME_UPPER``). ``pads(input_shape)`` gives the
        explicit ``(top, bottom, left, right)`` values.
    use_bias : bool
    flip_kernel : bool
        False (default): cross-correlation, what frameworks call convolution.
        True: the mathematical convolution of the reference notes (kernel rotated
        180 degrees). The stored weights are the unrotated kernel either way.
    init : str or dict
        Weight initialiser (see ``cnnstudio.engine.initializers``); biases start at 0.

    Weights are ``params["w"]`` of shape ``(C_out, C_in, KH, KW)`` and ``params["b"]``
    of shape ``(C_out,)``, as in PyTorch and ONNX.
    """

    type_name = "Conv2D"
    has_params = True

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        use_bias: bool = True,
        flip_kernel: bool = False,
        init: Any = "he",
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.filters = config_int(filters, "filters", self.name)
        self.kernel_size = positive_pair(kernel_size, "kernel_size", self.name)
        self.stride = positive_pair(stride, "stride", self.name)
        self.padding = parse_padding(padding, self.name)
        self._padding_config = padding_config(padding)
        self.use_bias = config_bool(use_bias, "use_bias", self.name)
        self.flip_kernel = config_bool(flip_kernel, "flip_kernel", self.name)
        parse_init(init, layer=self.name)
        self.init = init
        self._pads: Pads = (0, 0, 0, 0)
        self._out_hw = (0, 0)

    def output_shape(self, input_shape: Any) -> Shape:
        (oh, ow), _ = spatial_output(
            self.name, input_shape, self.kernel_size, self.stride, self.padding
        )
        return (self.filters, oh, ow)

    def pads(self, input_shape: Any = None) -> Pads:
        """Explicit zero padding ``(top, bottom, left, right)`` for ``input_shape`` (C, H, W).

        Without an argument, for the input shape the layer was built with.
        """
        shape = self.input_shape if input_shape is None else tuple(input_shape)
        if shape is None:
            raise EngineError(f"{self.name}: pads() needs an input shape before build")
        return explicit_pads(self.padding, (shape[1], shape[2]), self.kernel_size, self.stride)

    def weight_shapes(self, input_shape: Any) -> dict[str, Shape]:
        shapes: dict[str, Shape] = {"w": (self.filters, int(input_shape[0]), *self.kernel_size)}
        if self.use_bias:
            shapes["b"] = (self.filters,)
        return shapes

    def _init_params(self, input_shape: Any, rng: np.random.Generator) -> None:
        c_in = input_shape[0]
        kh, kw = self.kernel_size
        self.params = {
            "w": initialize(
                self.init,
                (self.filters, c_in, kh, kw),
                c_in * kh * kw,
                self.filters * kh * kw,
                rng,
                layer=self.name,
            )
        }
        if self.use_bias:
            self.params["b"] = np.zeros(self.filters, dtype=np.float32)
        (self._out_hw, self._pads) = spatial_output(
            self.name, input_shape, self.kernel_size, self.stride, self.padding
        )

    def _weight_matrix(self) -> np.ndarray:
        w = self.params["w"]
        if self.flip_kernel:
            w = w[:, :, ::-1, ::-1]
        return w.reshape(self.filters, -1)

    def _is_pointwise(self) -> bool:
        return self.kernel_size == (1, 1) and self.stride == (1, 1) and not any(self._pads)

    def _rows_apply(self, training: bool, n: int) -> bool:
        """Use ``kernels.RowConv``: inference on 1 or 2 images at stride 1."""
        return not training and n <= 2 and self.stride == (1, 1) and not self._is_pointwise()

    def _row_conv(self, x: np.ndarray, ctx: dict[str, Any]) -> kernels.RowConv:
        """The ``kernels.RowConv`` kept in ``ctx`` for inputs of ``x``'s shape and dtype."""
        rc = ctx.get("rows")
        if rc is None or rc.key != (x.shape, x.dtype):
            kh, kw = self.kernel_size
            rc = kernels.RowConv(x.shape, self._pads, kh, kw, self.filters, x.dtype)
            ctx["rows"] = rc
        return rc

    def fwd(
        self,
        x: np.ndarray,
        training: bool,
        ctx: dict[str, Any],
        add_bias: bool = True,
        contiguous: bool = True,
        reuse_output: bool | None = None,
    ) -> np.ndarray:
        """Reproduces ``reference.conv.Conv2D.forward`` (batch-last).

        ``add_bias=False`` leaves the bias out. ``contiguous=False`` allows a strided view
        as the output. ``reuse_output`` (by default, in training) writes a training
        batch's output into an array kept in ``ctx`` and overwritten by the next call: a
        new array every step would cost its page faults again, a sixth of the time of
        a photo network's widest convolution. Both views of kept arrays
        are the same objects from call to call, so a reader may keep plans made of them
        (``engine.fused``, whose max pooling reads the output in place)."""
        if reuse_output is None:
            reuse_output = training
        if self._rows_apply(training, x.shape[-1]):  # (first: single-image latency)
            rc = self._row_conv(x, ctx)
            y4 = rc(x, self._weight_matrix())
            if self.use_bias and add_bias:
                y4 += self.params["b"][:, None, None, None]
            return np.ascontiguousarray(rc.valid) if contiguous else rc.valid
        c, h, w, n = x.shape
        kh, kw = self.kernel_size
        sh, sw = self.stride
        oh, ow = self._out_hw
        t, b, lft, rgt = self._pads
        ybuf = None
        cols: np.ndarray | None
        if self._is_pointwise():
            cols = x.reshape(c, h * w * n)
            y = kernels.matmul_wide(self._weight_matrix(), cols)
        else:
            xp = x
            if t or b or lft or rgt:
                xpad = buffer(ctx, "xp", (c, h + t + b, w + lft + rgt, n), x.dtype, fill=0.0)
                xp = kernels.pad(x, self._pads, out=xpad)
            # Training keeps the whole unfolded input for the weight gradient when it fits
            # in one block of the product; when it does not, the backward pass unfolds it
            # again block by block (kernels.weight_grad_unfolding). Inference never keeps it.
            rows = kernels.conv_block_rows(oh, ow, n)
            width = rows * ow * n
            cbuf = buffer(ctx, "cols", (c * kh * kw, width), x.dtype)
            if reuse_output and training:
                ybuf = buffer(ctx, "y", (self.filters, oh * ow * n), x.dtype)
            wmat = self._weight_matrix()
            y, cols = kernels.conv_forward(xp, wmat, kh, kw, sh, sw, oh, ow, cbuf, ybuf)
            if training and cols is None:
                ctx["x_padded"], ctx["cols_block"] = xp, cbuf
        if self.use_bias and add_bias:
            y += self.params["b"][:, None]
        if training:
            ctx["x_cols"] = cols
            ctx["x_shape"] = x.shape
        if ybuf is not None:  # the same view every step, so plans made of it stay valid
            kept = ctx.get("y4")
            if kept is None or kept[0] is not ybuf:
                kept = ctx["y4"] = (ybuf, ybuf.reshape(self.filters, oh, ow, n))
            return kept[1]
        return y.reshape(self.filters, oh, ow, n)

    def bwd(
        self,
        dout: np.ndarray,
        ctx: dict[str, Any],
        grads: dict[str, np.ndarray],
        need_dx: bool = True,
        bias_grad: bool = True,
    ) -> np.ndarray | None:
        """Reproduces ``reference.conv.Conv2D.backward`` (batch-last)."""
        cols = ctx["x_cols"]
        d2 = dout.reshape(self.filters, -1)
        if self.use_bias and bias_grad:
            np.sum(d2, axis=1, out=grads["b"])
        kh, kw = self.kernel_size
        sh, sw = self.stride
        oh, ow = self._out_hw
        gw = grads["w"]
        gw2 = None if self.flip_kernel else gw.reshape(self.filters, -1)
        if cols is None:  # unfolded again, block by block (see fwd)
            xp, block = ctx["x_padded"], ctx["cols_block"]
            gw2 = kernels.weight_grad_unfolding(d2, xp, kh, kw, sh, sw, oh, ow, block, out=gw2)
        else:
            gw2 = kernels.weight_grad(d2, cols, out=gw2)
        if self.flip_kernel:
            gw[...] = gw2.reshape(gw.shape)[:, :, ::-1, ::-1]
        if not need_dx:
            return None
        c, h, w, n = ctx["x_shape"]
        if self._is_pointwise():
            return kernels.matmul_wide(self._weight_matrix().T, d2).reshape(c, h, w, n)
        t, b, lft, rgt = self._pads
        xp_shape = (c, h + t + b, w + lft + rgt, n)
        dxp = buffer(ctx, "dxp", xp_shape, d2.dtype)
        if cols is None:  # the product ran by blocks: so does the fold
            block = ctx["cols_block"]
            fold_blocks = ctx.get("fold_blocks")
            if fold_blocks is None or not fold_blocks.matches(block, dxp):
                fold_blocks = kernels.FoldByBlocks(block, dxp, kh, kw, sh, sw, oh, ow)
                ctx["fold_blocks"] = fold_blocks
            return kernels.unpad(fold_blocks(self._weight_matrix().T, d2), self._pads)
        # One block: one whole matrix of column gradients.
        dcols = buffer(ctx, "dcols", (c * kh * kw, d2.shape[1]), d2.dtype)
        kernels.matmul_wide(self._weight_matrix().T, d2, out=dcols)
        fold = ctx.get("col2im")
        if fold is None or not fold.matches(dcols, dxp):
            fold = ctx["col2im"] = kernels.Col2Im(dcols, dxp, kh, kw, sh, sw, oh, ow)
        return kernels.unpad(fold(), self._pads)

    def config(self) -> dict[str, Any]:
        return {
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": self._padding_config,
            "use_bias": self.use_bias,
            "flip_kernel": self.flip_kernel,
            "init": self.init,
        }

    # -- describing itself ------------------------------------------------------------
    def summary(self) -> str:
        parts = [f"{self.filters} filters {pair_text(self.kernel_size)}"]
        if self.stride != (1, 1):
            parts.append(f"stride {step_text(self.stride)}")
        parts.append(padding_text(self._padding_config))
        return " ".join(p for p in parts if p)

    def export_weights(self) -> dict[str, np.ndarray]:
        # Exports cross-correlate, as nearly every framework does: a flipped kernel is
        # stored flipped.
        weights = dict(self.params)
        if self.flip_kernel:
            weights["w"] = np.ascontiguousarray(weights["w"][:, :, ::-1, ::-1])
        return weights

    def onnx_op(self) -> OnnxOp:
        weights = self.export_weights()
        return OnnxOp(
            "Conv",
            {
                "kernel_shape": list(self.kernel_size),
                "strides": list(self.stride),
                "pads": onnx_pads(self.pads()),
            },
            tuple((key, weights[key]) for key in ("w", "b") if key in weights),
        )

    def predictor_config(self) -> dict[str, Any]:
        return {
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "pads": list(self.pads()),
        }
