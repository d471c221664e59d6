"""Batch normalisation: each channel (or feature) shifted to mean 0 and scaled to
variance 1 over the batch, then scaled by ``gamma`` and shifted by ``beta``."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnstudio.engine.errors import ShapeError
from cnnstudio.engine.layers import normalization as fast
from cnnstudio.engine.reference.base import Layer, channel_sum_axes, per_channel

__all__ = ["BatchNorm"]


class BatchNorm(Layer):
    """Training normalises with the batch's mean and (biased) variance, per channel, and
    updates the running statistics PyTorch's way (with the unbiased variance);
    inference normalises with the running statistics.

    Takes the configuration of ``cnnstudio.engine.layers.BatchNorm``: ``momentum``,
    ``eps``. ``params``: ``gamma``, ``beta``; ``state``: ``running_mean``,
    ``running_var``; each ``(C,)``.
    """

    type_name = "BatchNorm"
    spec: fast.BatchNorm

    def __init__(self, *, name: str | None = None, **config: Any) -> None:
        super().__init__(name=name, **config)
        self.momentum, self.eps = self.spec.momentum, self.spec.eps

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``x`` (N, C, H, W) or (N, C) -> the same shape."""
        axes = channel_sum_axes(x.ndim)  # a channel's values: all images, all pixels
        if training:
            m = x.size // x.shape[1]  # values per channel
            if m < 2:
                raise ShapeError(f"{self.name}: training BatchNorm needs a batch of 2 or more")
            mean, var = x.mean(axis=axes), x.var(axis=axes)  # (C,) each
            # Moving averages for inference, of the unbiased variance (as PyTorch keeps).
            run_mean, run_var = self.state["running_mean"], self.state["running_var"]
            mom = self.momentum
            run_mean[...] = (1 - mom) * run_mean + mom * mean
            run_var[...] = (1 - mom) * run_var + mom * var * (m / (m - 1))
        else:
            mean, var = self.state["running_mean"], self.state["running_var"]
        inv_std = 1 / np.sqrt(var + self.eps)  # (C,)
        xhat = (x - per_channel(mean, x.ndim)) * per_channel(inv_std, x.ndim)
        self.cache = (training, xhat, inv_std)
        gamma, beta = self._param("gamma"), self.params["beta"]
        return per_channel(gamma, x.ndim) * xhat + per_channel(beta, x.ndim)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """``dout`` -> ``dx`` of the same shape; fills ``grads["gamma"]``, ``grads["beta"]``."""
        training, xhat, inv_std = self._cached()
        axes = channel_sum_axes(dout.ndim)
        self.grads["beta"][...] = dout.sum(axis=axes)
        self.grads["gamma"][...] = (dout * xhat).sum(axis=axes)
        dxhat = dout * per_channel(self.params["gamma"], dout.ndim)
        inv_std = per_channel(inv_std, dout.ndim)
        if not training:
            # The running statistics are constants: the layer is a per-channel line.
            return dxhat * inv_std
        # In training the batch's mean and variance depend on every x as well; through
        # them each value's gradient loses the channel's mean gradient and the part
        # along xhat:  dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)).
        mean_dxhat = dxhat.mean(axis=axes, keepdims=True)
        mean_dxhat_xhat = (dxhat * xhat).mean(axis=axes, keepdims=True)
        return inv_std * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)
