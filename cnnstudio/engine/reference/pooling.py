"""Max and average pooling, written with the same im2col as convolution.

The columns of one channel's windows are stacked so that each window's ``kh*kw``
values lie along one axis; pooling is then a ``max`` or a ``mean`` over that axis, and
its backward pass a routing of each window's gradient back through ``col2im``.

Global pooling needs no windows: each channel's whole map is one "window", so it is a
``mean`` or a ``max`` over the height and width axes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnstudio.engine.layers import pooling as fast
from cnnstudio.engine.reference.base import Layer
from cnnstudio.engine.reference.im2col import Pads, col2im, im2col, pad, unpad

__all__ = ["AvgPool2D", "GlobalAvgPool2D", "GlobalMaxPool2D", "MaxPool2D"]


class _Pool2D(Layer):
    """Takes the configuration of the fast pooling layers: ``pool_size``, ``stride``
    (default: the pool size) and ``padding`` (int, pair, "valid" or "same")."""

    spec: fast.MaxPool2D | fast.AvgPool2D

    def __init__(self, *, name: str | None = None, **config: Any) -> None:
        super().__init__(name=name, **config)
        self.pool_size: tuple[int, int] = self.spec.pool_size
        self.stride: tuple[int, int] = self.spec.stride

    def _windows(self, x: np.ndarray, fill: float) -> tuple[np.ndarray, Any, Pads]:
        """Every window of ``x`` (N, C, H, W) padded with ``fill``, as ``(C, kh*kw, N*OH*OW)``
        (axis 1 runs over a window's values in row-major order); and the padded shape
        and the pads, for ``_fold``."""
        (kh, kw), (sh, sw) = self.pool_size, self.stride
        pads = self.spec.pads(x.shape[1:])
        xp = pad(x, pads, fill)
        cols = im2col(xp, kh, kw, sh, sw)  # (C*kh*kw, N*OH*OW)
        return cols.reshape(x.shape[1], kh * kw, -1), xp.shape, pads

    def _images(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """One value per window, ``(C, N*OH*OW)``, as the images ``(N, C, OH, OW)``."""
        c, oh, ow = self.output_shape(x.shape[1:])
        return y.reshape(c, x.shape[0], oh, ow).transpose(1, 0, 2, 3)

    def _fold(self, dcols: np.ndarray, xp_shape: Any, pads: Pads) -> np.ndarray:
        """The input gradient ``(N, C, H, W)`` from window gradients ``(C, kh*kw, N*OH*OW)``."""
        (kh, kw), (sh, sw) = self.pool_size, self.stride
        c = dcols.shape[0]
        return unpad(col2im(dcols.reshape(c * kh * kw, -1), xp_shape, kh, kw, sh, sw), pads)


class MaxPool2D(_Pool2D):
    """The maximum of each window; the gradient goes to the window's first maximum."""

    type_name = "MaxPool2D"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``x`` (N, C, H, W) -> ``(N, C, OH, OW)``."""
        # Padding is -inf, which never wins a maximum.
        cols, xp_shape, pads = self._windows(x, -np.inf)  # (C, kh*kw, N*OH*OW)
        y = cols.max(axis=1)  # (C, N*OH*OW)
        # Where the maximum was, for the backward pass. argmax gives its FIRST position
        # in row-major order: ties are common (12% of MNIST's windows are blank), and
        # only that first element gets the gradient, so it is never counted twice.
        first = cols.argmax(axis=1)  # (C, N*OH*OW)
        self.cache = (xp_shape, pads, first)
        return self._images(y, x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """``dout`` (N, C, OH, OW) -> ``dx`` (N, C, H, W)."""
        xp_shape, pads, first = self._cached()
        kh, kw = self.pool_size
        c = dout.shape[1]
        dy = dout.transpose(1, 0, 2, 3).reshape(c, 1, -1)  # (C, 1, N*OH*OW)
        # A window's output is one of its values: that value gets the whole gradient,
        # the window's other kh*kw - 1 values none.
        dcols = np.zeros((c, kh * kw, dy.shape[2]), dtype=dout.dtype)
        np.put_along_axis(dcols, first[:, None], dy, axis=1)
        return self._fold(dcols, xp_shape, pads)


class AvgPool2D(_Pool2D):
    """The mean of each window. Padded zeros count in the mean (PyTorch's
    ``count_include_pad=True``)."""

    type_name = "AvgPool2D"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``x`` (N, C, H, W) -> ``(N, C, OH, OW)``."""
        cols, xp_shape, pads = self._windows(x, 0.0)  # (C, kh*kw, N*OH*OW)
        y = cols.mean(axis=1)  # (C, N*OH*OW)
        self.cache = (xp_shape, pads)
        return self._images(y, x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """``dout`` (N, C, OH, OW) -> ``dx`` (N, C, H, W)."""
        xp_shape, pads = self._cached()
        kh, kw = self.pool_size
        c = dout.shape[1]
        dy = dout.transpose(1, 0, 2, 3).reshape(c, 1, -1)  # (C, 1, N*OH*OW)
        # Each of a window's kh*kw values counts 1/(kh*kw) in its mean.
        dcols = np.repeat(dy / (kh * kw), kh * kw, axis=1)  # (C, kh*kw, N*OH*OW)
        return self._fold(dcols, xp_shape, pads)


class GlobalAvgPool2D(Layer):
    """The mean of each whole channel: ``(N, C, H, W)`` -> ``(N, C)``, a vector per image
    (no settings)."""

    type_name = "GlobalAvgPool2D"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.cache = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """``dout`` (N, C) -> ``dx`` (N, C, H, W)."""
        n, c, h, w = self._cached()
        # Each of a map's H*W values counts 1/(H*W) in its mean.
        return np.broadcast_to(dout[:, :, None, None] / (h * w), (n, c, h, w)).copy()


class GlobalMaxPool2D(Layer):
    """The maximum of each whole channel: ``(N, C, H, W)`` -> ``(N, C)``; the gradient goes
    to each map's first maximum, as in ``MaxPool2D`` (no settings)."""

    type_name = "GlobalMaxPool2D"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        n, c, h, w = x.shape
        maps = x.reshape(n, c, h * w)  # each map's values in row-major order
        first = maps.argmax(axis=2)  # (N, C): the FIRST position of the maximum
        self.cache = (x.shape, first)
        return maps.max(axis=2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """``dout`` (N, C) -> ``dx`` (N, C, H, W)."""
        (n, c, h, w), first = self._cached()
        # The output is one of the map's values: it gets the whole gradient, the others none.
        dmaps = np.zeros((n, c, h * w), dtype=dout.dtype)
        np.put_along_axis(dmaps, first[:, :, None], dout[:, :, None], axis=2)
        return dmaps.reshape(n, c, h, w)
