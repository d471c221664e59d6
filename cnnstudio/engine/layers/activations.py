"""Element-wise activations and softmax. All work on images and vectors alike."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnstudio.engine.errors import ShapeError
from cnnstudio.engine.layers.base import Layer, OnnxOp, Shape, register_layer
from cnnstudio.engine.shapes import config_number

__all__ = ["LeakyReLU", "PReLU", "ReLU", "Sigmoid", "Softmax", "Tanh"]


class _Elementwise(Layer):
    def output_shape(self, input_shape: Any) -> Shape:
        shape = tuple(input_shape)
        if not shape or any(d < 1 for d in shape):
            raise ShapeError(f"{self.name}: invalid input shape {shape}")
        return shape


@register_layer
class ReLU(_Elementwise):
    """``max(x, 0)``."""

    type_name = "ReLU"

    def fwd(self, x: np.ndarray, training: bool, ctx: dict[str, Any]) -> np.ndarray:
        """Reproduces ``reference.activations.ReLU.forward`` (batch-last)."""
        y = np.maximum(x, 0)
        if training:
            ctx["y"] = y
        return y

    def bwd(self, dout, ctx, grads, need_dx=True):  # type: ignore[no-untyped-def]
        """Reproduces ``reference.activations.ReLU.backward`` (batch-last)."""
        if not need_dx:
            return None
        return dout * (ctx["y"] > 0)

    # -- describing itself ------------------------------------------------------------
    def summary(self) -> str:
        return "max(0, x)"

    def onnx_op(self) -> OnnxOp:
        return OnnxOp("Relu")


@register_layer
class LeakyReLU(_Elementwise):
    """``x`` for ``x > 0``, ``alpha * x`` otherwise."""

    type_name = "LeakyReLU"

    def __init__(self, alpha: float = 0.01, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.alpha = config_number(alpha, "alpha", self.name)

    def fwd(self, x: np.ndarray, training: bool, ctx: dict[str, Any]) -> np.ndarray:
        """Reproduces ``reference.activations.LeakyReLU.forward`` (batch-last)."""
        pos = x > 0
        if training:
            ctx["pos"] = pos
        return np.where(pos, x, x * x.dtype.type(self.alpha))

    def bwd(self, dout, ctx, grads, need_dx=True):  # type: ignore[no-untyped-def]
        """Reproduces ``reference.activations.LeakyReLU.backward`` (batch-last)."""
        if not need_dx:
            return None
        return np.where(ctx["pos"], dout, dout * dout.dtype.type(self.alpha))

    def config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    # -- describing itself ------------------------------------------------------------
    def summary(self) -> str:
        return f"slope {self.alpha:g}"

    def onnx_op(self) -> OnnxOp:
        return OnnxOp("LeakyRelu", {"alpha": float(self.alpha)})

    def predictor_config(self) -> dict[str, Any]:
        return {"alpha": float(self.alpha)}


@register_layer
class PReLU(_Elementwise):
    """Leaky ReLU whose slope is learned, one per channel (or per feature for vectors).

    ``params["alpha"]`` has shape ``(C,)`` for ``(C, H, W)`` inputs and ``(F,)`` for
    ``(F,)`` inputs (PyTorch ``PReLU(num_parameters=C)``); every slope starts at ``init``.
    """

    type_name = "PReLU"
    has_params = True

    def __init__(self, init: float = 0.25, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.init = config_number(init, "init", self.name)

    def weight_shapes(self, input_shape: Any) -> dict[str, Shape]:
        return {"alpha": (int(input_shape[0]),)}

    def _init_params(self, input_shape: Any, rng: np.random.Generator) -> None:
        self.params = {"alpha": np.full(input_shape[0], self.init, dtype=np.float32)}

    def _alpha(self, ndim: int) -> np.ndarray:
        # Batch-last: the channel/feature axis is axis 0.
        return self.params["alpha"].reshape((-1,) + (1,) * (ndim - 1))

    def fwd(self, x: np.ndarray, training: bool, ctx: dict[str, Any]) -> np.ndarray:
        """Reproduces ``reference.activations.PReLU.forward`` (batch-last)."""
        pos = x > 0
        if training:
            ctx["pos"] = pos
            ctx["x"] = x
        return np.where(pos, x, x * self._alpha(x.ndim))

    def bwd(self, dout, ctx, grads, need_dx=True):  # type: ignore[no-untyped-def]
        """Reproduces ``reference.activations.PReLU.backward`` (batch-last)."""
        pos, x = ctx["pos"], ctx["x"]
        neg_part = np.where(pos, 0, dout * x)
        np.sum(neg_part.reshape(neg_part.shape[0], -1), axis=1, out=grads["alpha"])
        if not need_dx:
            return None
        return np.where(pos, dout, dout * self._alpha(dout.ndim))

    def config(self) -> dict[str, Any]:
        return {"init": self.init}

    # -- describing itself ------------------------------------------------------------
    def summary(self) -> str:
        return f"learned slopes, start {self.init:g}"

    def onnx_op(self) -> OnnxOp:
        # One slope per channel, shaped (C, 1, 1) to broadcast over H and W.
        slope = self.params["alpha"].reshape((-1,) + (1,) * (len(self.input_shape) - 1))
        return OnnxOp("PRelu", initializers=(("alpha", slope),))


@register_layer
class Sigmoid(_Elementwise):
    """``1 / (1 + exp(-x))``, computed as ``0.5 * tanh(x / 2) + 0.5`` (no overflow)."""

    type_name = "Sigmoid"

    def fwd(self, x: np.ndarray, training: bool, ctx: dict[str, Any]) -> np.ndarray:
        """Reproduces ``reference.activations.Sigmoid.forward`` (batch-last)."""
        half = x.dtype.type(0.5)
        y = np.tanh(x * half)
        y *= half
        y += half
        if training:
            ctx["y"] = y
        return y

    def bwd(self, dout, ctx, grads, need_dx=True):  # type: ignore[no-untyped-def]
        """Reproduces ``reference.activations.Sigmoid.backward`` (batch-last)."""
        if not need_dx:
            return None
        y = ctx["y"]
        return dout * y * (1 - y)

    # -- describing itself ------------------------------------------------------------
    def summary(self) -> str:
        return "1 / (1 + e^−x)"

    def onnx_op(self) -> OnnxOp:
        return OnnxOp("Sigmoid")


@register_layer
class Tanh(_Elementwise):
    """Hyperbolic tangent."""

    type_name = "Tanh"

    def fwd(self, x: np.ndarray, training: bool, ctx: dict[str, Any]) -> np.ndarray:
        """Reproduces ``reference.activations.Tanh.forward`` (batch-last)."""
        y = np.tanh(x)
        if training:
            ctx["y"] = y
        return y

    def bwd(self, dout, ctx, grads, need_dx=True):  # type: ignore[no-untyped-def]
        """Reproduces ``reference.activations.Tanh.backward`` (batch-last)."""
        if not need_dx:
            return None
        y = ctx["y"]
        return dout * (1 - y * y)

    # -- describing itself ------------------------------------------------------------
    def summary(self) -> str:
        return "tanh(x), between −1 and 1"

    def onnx_op(self) -> OnnxOp:
        return OnnxOp("Tanh")


@register_layer
class Softmax(_Elementwise):
    """Probabilities over the feature axis (the channel axis for images).

    As a network's last layer it is fused with the cross-entropy loss (the Network
    returns its input as logits). Used on its own, ``backward`` is the exact
    Jacobian-vector product ``y * (dout - sum(dout * y))``.
    """

    type_name = "Softmax"

    def fwd(self, x: np.ndarray, training: bool, ctx: dict[str, Any]) -> np.ndarray:
        # Batch-last: features are axis 0.
        """Reproduces ``reference.activations.Softmax.forward`` (batch-last)."""
        e = np.exp(x - x.max(axis=0, keepdims=True))
        e /= e.sum(axis=0, keepdims=True)
        if training:
            ctx["y"] = e
        return e

    def bwd(self, dout, ctx, grads, need_dx=True):  # type: ignore[no-untyped-def]
        """Reproduces ``reference.activations.Softmax.backward`` (batch-last)."""
        if not need_dx:
            return None
        y = ctx["y"]
        return y * (dout - (dout * y).sum(axis=0, keepdims=True))

    # -- describing itself ------------------------------------------------------------
    def summary(self) -> str:
        return "e^x / Σ e^x: positive, sums to 1"

    def onnx_op(self) -> OnnxOp:
        return OnnxOp("Softmax", {"axis": 1})
