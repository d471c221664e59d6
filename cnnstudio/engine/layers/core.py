"""The network's entry point, fully connected layers and flattening."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cnnstudio.engine.errors import ShapeError
from cnnstudio.engine.initializers import initialize, parse_init
from cnnstudio.engine.layers.base import Layer, OnnxOp, Shape, format_shape, register_layer
from cnnstudio.engine.shapes import config_bool, config_int, describe

__all__ = ["Dense", "Flatten", "Input"]


@register_layer
class Input(Layer):
    """The network input: a per-sample ``shape`` ``(C, H, W)`` or ``(F,)``; passes data through."""

    type_name = "Input"
    n_inputs = 0

    def __init__(self, shape: Any, *, name: str | None = None) -> None:
        super().__init__(name=name)
        if not isinstance(shape, list | tuple | np.ndarray) or len(shape) not in (1, 3):
            raise ShapeError(f"{self.name}: shape must be (C, H, W) or (F,), not {describe(shape)}")
        self.shape: Shape = tuple(config_int(d, "shape", self.name) for d in shape)

    def output_shape(self, input_shape: Any = None) -> Shape:
        if input_shape is not None and tuple(input_shape) != self.shape:
            raise ShapeError(
                f"{self.name}: input shape {tuple(input_shape)} "
                f"does not match the declared {self.shape}"
            )
        return self.shape

    def build(self, input_shape: Any = None, rng: np.random.Generator | None = None) -> Shape:
        return super().build(self.shape if input_shape is None else input_shape, rng)

    def fwd(self, x: np.ndarray, training: bool, ctx: dict[str, Any]) -> np.ndarray:
        """Reproduces ``reference.shape.Input.forward`` (batch-last)."""
        return x

    def bwd(self, dout, ctx, grads, need_dx=True):  # type: ignore[no-untyped-def]
        """Reproduces ``reference.shape.Input.backward`` (batch-last)."""
        return dout if need_dx else None

    def config(self) -> dict[str, Any]:
        return {"shape": list(self.shape)}

    # -- describing itself ------------------------------------------------------------
    def summary(self) -> str:
        kind = "image" if len(self.shape) == 3 else "vector"
        return f"{kind} {format_shape(self.shape)}"

    def onnx_op(self) -> None:
        return None  # the graph's input itself

    def predictor_config(self) -> dict[str, Any]:
        return {"shape": list(self.shape)}


@register_layer
class Flatten(Layer):
    """``(C, H, W)`` -> ``(C*H*W,)`` in C, H, W order (as PyTorch's ``flatten(1)``)."""

    type_name = "Flatten"

    def output_shape(self, input_shape: Any) -> Shape:
        shape = tuple(input_shape)
        if not shape or any(d < 1 for d in shape):
            raise ShapeError(f"{self.name}: cannot flatten an input of shape {shape}")
        return (math.prod(shape),)  # Python ints: np.prod would wrap around past 2**63

    def fwd(self, x: np.ndarray, training: bool, ctx: dict[str, Any]) -> np.ndarray:
        # Batch-last: a free reshape of a contiguous array.
        """Reproduces ``reference.shape.Flatten.forward`` (batch-last)."""
        if training:
            ctx["x_shape"] = x.shape
        return x.reshape(-1, x.shape[-1])

    def bwd(self, dout, ctx, grads, need_dx=True):  # type: ignore[no-untyped-def]
        """Reproduces ``reference.shape.Flatten.backward`` (batch-last)."""
        return dout.reshape(ctx["x_shape"]) if need_dx else None

    # -- describing itself ------------------------------------------------------------
    def summary(self) -> str:
        return "maps → one vector"

    def onnx_op(self) -> OnnxOp:
        return OnnxOp("Flatten", {"axis": 1})


@register_layer
class Dense(Layer):
    """Fully connected: ``y = w @ x + b`` with ``params["w"]`` of shape ``(units, in)``.

    Parameters
    ----------
    units : int
    use_bias : bool
    init : str or dict
        See ``cnnstudio.engine.initializers``; biases start at 0.
    """

    type_name = "Dense"
    has_params = True

    def __init__(
        self, units: int, use_bias: bool = True, init: Any = "he", *, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        self.units = config_int(units, "units", self.name)
        self.use_bias = config_bool(use_bias, "use_bias", self.name)
        parse_init(init, layer=self.name)
        self.init = init

    def output_shape(self, input_shape: Any) -> Shape:
        shape = tuple(input_shape)
        if len(shape) != 1:
            raise ShapeError(
                f"{self.name}: Dense needs a vector input, got {format_shape(shape)} "
                f"{shape}; add a Flatten layer before it"
            )
        return (self.units,)

    def weight_shapes(self, input_shape: Any) -> dict[str, Shape]:
        shapes: dict[str, Shape] = {"w": (self.units, int(input_shape[0]))}
        if self.use_bias:
            shapes["b"] = (self.units,)
        return shapes

    def _init_params(self, input_shape: Any, rng: np.random.Generator) -> None:
        n_in = int(input_shape[0])
        self.params = {
            "w": initialize(self.init, (self.units, n_in), n_in, self.units, rng, layer=self.name)
        }
        if self.use_bias:
            self.params["b"] = np.zeros(self.units, dtype=np.float32)

    def fwd(self, x: np.ndarray, training: bool, ctx: dict[str, Any]) -> np.ndarray:
        """Reproduces ``reference.dense.Dense.forward`` (batch-last)."""
        y = self.params["w"] @ x
        if self.use_bias:
            y += self.params["b"][:, None]
        if training:
            ctx["x"] = x
        return y

    def bwd(
        self,
        dout: np.ndarray,
        ctx: dict[str, Any],
        grads: dict[str, np.ndarray],
        need_dx: bool = True,
    ) -> np.ndarray | None:
        """Reproduces ``reference.dense.Dense.backward`` (batch-last)."""
        x = ctx["x"]
        if x.shape[1] == 1:
            # An outer product: matmul with an inner length of 1 is far slower than a
            # broadcast multiply (benchmarks/README.md, "Figures quoted in the code").
            np.multiply(dout, x.T, out=grads["w"])
        else:
            np.matmul(dout, x.T, out=grads["w"])
        if self.use_bias:
            np.sum(dout, axis=1, out=grads["b"])
        return self.params["w"].T @ dout if need_dx else None

    def config(self) -> dict[str, Any]:
        return {"units": self.units, "use_bias": self.use_bias, "init": self.init}

    # -- describing itself ------------------------------------------------------------
    def summary(self) -> str:
        return f"{self.units} units"

    def onnx_op(self) -> OnnxOp:
        # Gemm computes x @ w.T + b with w stored (units, in), as here.
        return OnnxOp("Gemm", {"transB": 1}, tuple(self.params.items()))
