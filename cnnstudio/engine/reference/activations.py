"""Element-wise activations and softmax. They work on images ``(N, C, H, W)`` and
vectors ``(N, F)`` alike; PReLU's slopes and softmax's classes run along axis 1."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnstudio.engine.layers import activations as fast
from cnnstudio.engine.reference.base import Layer, channel_sum_axes, per_channel

__all__ = ["LeakyReLU", "PReLU", "ReLU", "Sigmoid", "Softmax", "Tanh"]


class ReLU(Layer):
    """``max(x, 0)``."""

    type_name = "ReLU"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.cache = x > 0
        return np.maximum(x, 0)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        # Slope 1 where the input was positive, 0 elsewhere (0 at exactly 0, by convention).
        return dout * self._cached()


class LeakyReLU(Layer):
    """``x`` where ``x > 0``, ``alpha * x`` elsewhere (configuration: ``alpha``)."""

    type_name = "LeakyReLU"
    spec: fast.LeakyReLU

    def __init__(self, *, name: str | None = None, **config: Any) -> None:
        super().__init__(name=name, **config)
        self.alpha = self.spec.alpha

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.cache = x > 0
        return np.where(x > 0, x, self.alpha * x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.where(self._cached(), dout, self.alpha * dout)


class PReLU(Layer):
    """Leaky ReLU whose slope is learned, one per channel: ``params["alpha"]`` is ``(C,)``
    (configuration: ``init``, the slopes' starting value)."""

    type_name = "PReLU"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        alpha = per_channel(self._param("alpha"), x.ndim)  # (1, C, 1, 1) or (1, C)
        self.cache = x
        return np.where(x > 0, x, alpha * x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x = self._cached()
        # Where x <= 0 the output is alpha * x: its slope w.r.t. alpha is x. A channel's
        # alpha acts on all its values in all images, so their gradients add up.
        self.grads["alpha"][...] = np.where(x > 0, 0, dout * x).sum(axis=channel_sum_axes(x.ndim))
        alpha = per_channel(self.params["alpha"], x.ndim)
        return np.where(x > 0, dout, alpha * dout)


class Sigmoid(Layer):
    """``1 / (1 + exp(-x))``."""

    type_name = "Sigmoid"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        # The same function as 1 / (1 + exp(-x)), without overflowing exp for very
        # negative x.
        y = 0.5 * np.tanh(0.5 * x) + 0.5
        self.cache = y
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        y = self._cached()
        return dout * y * (1 - y)  # the sigmoid's slope, written with its output


class Tanh(Layer):
    """Hyperbolic tangent."""

    type_name = "Tanh"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        y = np.tanh(x)
        self.cache = y
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        y = self._cached()
        return dout * (1 - y * y)


class Softmax(Layer):
    """Probabilities along axis 1 (the classes; the channels of an image at each pixel)."""

    type_name = "Softmax"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        # Subtracting the largest value cancels in the ratio and keeps exp from overflowing.
        e = np.exp(x - x.max(axis=1, keepdims=True))
        y = e / e.sum(axis=1, keepdims=True)
        self.cache = y
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        y = self._cached()
        # dy_i/dx_j = y_i * (delta_ij - y_j): applied to dout without building the matrix.
        return y * (dout - (dout * y).sum(axis=1, keepdims=True))
