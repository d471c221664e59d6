"""2-D convolution as im2col, one matrix product, and col2im for the way back.

Forward:  ``Y = W @ cols``          (F, C*kh*kw) @ (C*kh*kw, N*OH*OW)
Backward: ``dW = dY @ cols.T``      the weight gradient: the same columns again
          ``dcols = W.T @ dY``      then ``col2im(dcols)``, the input gradient
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnstudio.engine.layers import conv as fast
from cnnstudio.engine.reference.base import Layer
from cnnstudio.engine.reference.im2col import col2im, im2col, pad, unpad

__all__ = ["Conv2D"]


class Conv2D(Layer):
    """A bank of ``filters`` kernels slid over the input (cross-correlation, as in
    PyTorch; the mathematical convolution with ``flip_kernel=True``).

    Takes the configuration of ``cnnstudio.engine.layers.Conv2D``: ``filters``,
    ``kernel_size``, ``stride``, ``padding`` (int, pair, "valid" or "same"),
    ``use_bias``, ``flip_kernel``, ``init``. ``params["w"]`` is ``(F, C, kh, kw)``,
    ``params["b"]`` is ``(F,)``.
    """

    type_name = "Conv2D"
    spec: fast.Conv2D

    def __init__(self, *, name: str | None = None, **config: Any) -> None:
        super().__init__(name=name, **config)
        self.kernel_size: tuple[int, int] = self.spec.kernel_size
        self.stride: tuple[int, int] = self.spec.stride
        self.use_bias: bool = self.spec.use_bias
        self.flip_kernel: bool = self.spec.flip_kernel

    def kernel(self) -> np.ndarray:
        """The kernels the input is cross-correlated with, ``(F, C, kh, kw)``: ``params["w"]``,
        turned by 180 degrees for ``flip_kernel``."""
        w = self._param("w")
        return w[:, :, ::-1, ::-1] if self.flip_kernel else w

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``x`` (N, C, H, W) -> ``(N, F, OH, OW)``."""
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        n = x.shape[0]
        f, oh, ow = self.output_shape(x.shape[1:])
        pads = self.spec.pads(x.shape[1:])
        xp = pad(x, pads)  # (N, C, Hp, Wp), zeros around each image
        cols = im2col(xp, kh, kw, sh, sw)  # (C*kh*kw, N*OH*OW), one column per window
        # One row per filter: every output value is one row times one column.
        y = self.kernel().reshape(f, -1) @ cols  # (F, N*OH*OW)
        if self.use_bias:
            y = y + self.params["b"][:, None]
        self.cache = (xp.shape, pads, cols)
        return y.reshape(f, n, oh, ow).transpose(1, 0, 2, 3)  # (N, F, OH, OW)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """``dout`` (N, F, OH, OW) -> ``dx`` (N, C, H, W); fills ``grads["w"]``, ``grads["b"]``."""
        xp_shape, pads, cols = self._cached()
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        w = self.kernel()
        f = w.shape[0]
        # dout laid out like y was: one row per filter, one column per window.
        dy = dout.transpose(1, 0, 2, 3).reshape(f, -1)  # (F, N*OH*OW)
        if self.use_bias:
            # Each bias was added to every output value of its filter.
            self.grads["b"][...] = dy.sum(axis=1)
        # y = W @ cols, so dW = dy @ cols.T: each weight's gradient sums its input values
        # times the output gradients they contributed to, over all windows and images.
        dw = (dy @ cols.T).reshape(w.shape)  # (F, C, kh, kw)
        # With flip_kernel the stored weights are the kernel turned: so is their gradient.
        self.grads["w"][...] = dw[:, :, ::-1, ::-1] if self.flip_kernel else dw
        dcols = w.reshape(f, -1).T @ dy  # (C*kh*kw, N*OH*OW)
        # Each column came from one window of the input: fold the columns back onto it.
        return unpad(col2im(dcols, xp_shape, kh, kw, sh, sw), pads)
