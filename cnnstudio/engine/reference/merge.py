"""Layers joining branches of a graph. Both take a list of batches in ``forward`` and
return a list of input gradients from ``backward``."""

from __future__ import annotations

import numpy as np

from cnnstudio.engine.reference.base import Layer

__all__ = ["Add", "Concatenate"]


class Add(Layer):
    """The element-wise sum of inputs of one shape (residual connections)."""

    type_name = "Add"

    def forward(self, xs: list[np.ndarray], training: bool = False) -> np.ndarray:
        self.cache = len(xs)
        return np.sum(xs, axis=0)

    def backward(self, dout: np.ndarray) -> list[np.ndarray]:
        # A sum passes its gradient unchanged to every term (the same array: callers
        # must not change it in place).
        return [dout] * self._cached()


class Concatenate(Layer):
    """The inputs stacked along axis 1 (channels of images, features of vectors)."""

    type_name = "Concatenate"

    def forward(self, xs: list[np.ndarray], training: bool = False) -> np.ndarray:
        self.cache = [x.shape[1] for x in xs]
        return np.concatenate(xs, axis=1)

    def backward(self, dout: np.ndarray) -> list[np.ndarray]:
        # Each input gets back its own slice of channels.
        ends = np.cumsum(self._cached())
        return np.split(dout, ends[:-1], axis=1)
