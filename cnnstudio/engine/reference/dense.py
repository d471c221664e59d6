"""The fully connected layer: one matrix product forward, two backward."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnstudio.engine.layers import core as fast
from cnnstudio.engine.reference.base import Layer

__all__ = ["Dense"]


class Dense(Layer):
    """``y = x @ w.T + b``, with ``params["w"]`` of shape ``(units, F)`` (as PyTorch's Linear).

    Takes the configuration of ``cnnstudio.engine.layers.Dense``: ``units``,
    ``use_bias``, ``init``.
    """

    type_name = "Dense"
    spec: fast.Dense

    def __init__(self, *, name: str | None = None, **config: Any) -> None:
        super().__init__(name=name, **config)
        self.use_bias = self.spec.use_bias

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``x`` (N, F) -> ``(N, units)``."""
        y = x @ self._param("w").T  # each output unit is a weighted sum of all inputs
        if self.use_bias:
            y = y + self.params["b"]
        self.cache = x
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """``dout`` (N, units) -> ``dx`` (N, F); fills ``grads["w"]``, ``grads["b"]``."""
        x = self._cached()
        # w[u, f] multiplied x[n, f] into y[n, u], for every image n: sum over the batch.
        self.grads["w"][...] = dout.T @ x  # (units, F)
        if self.use_bias:
            self.grads["b"][...] = dout.sum(axis=0)
        # x[n, f] reached every unit u through w[u, f].
        return dout @ self.params["w"]  # (N, F)
