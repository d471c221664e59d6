"""Layers that only move data: the network's entry point and flattening."""

from __future__ import annotations

import numpy as np

from cnnstudio.engine.reference.base import Layer

__all__ = ["Flatten", "Input"]


class Input(Layer):
    """The network's input (configuration: ``shape``, per sample); passes data through."""

    type_name = "Input"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout


class Flatten(Layer):
    """``(N, C, H, W)`` -> ``(N, C*H*W)`` in C, H, W order (as PyTorch's ``flatten(1)``)."""

    type_name = "Flatten"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout.reshape(self._cached())
