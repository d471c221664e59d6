"""Layers joining branches of a graph: ``Add`` (residual connections) and ``Concatenate``.

Both take a list of inputs in ``forward`` and return a list of input gradients from
``backward``; ``output_shape`` takes the list of input shapes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnstudio.engine.errors import EngineError, ShapeError
from cnnstudio.engine.layers.base import (
    Layer,
    OnnxOp,
    Shape,
    _batch_first,
    _batch_last,
    format_shape,
    register_layer,
)

__all__ = ["Add", "Concatenate"]


class _Merge(Layer):
    n_inputs = -1

    def _shapes(self, input_shapes: Any) -> list[Shape]:
        try:
            shapes = [tuple(int(d) for d in s) for s in input_shapes]
        except TypeError:
            raise ShapeError(
                f"{self.name}: expects a list of input shapes, got {input_shapes!r}"
            ) from None
        if len(shapes) < 2:
            raise ShapeError(
                f"{self.name}: {self.type_name} needs at least 2 inputs, got {len(shapes)}"
            )
        return shapes

    def forward(self, xs: Any, training: bool = False) -> np.ndarray:  # type: ignore[override]
        if not isinstance(xs, list | tuple):
            raise ShapeError(f"{self.name}: {self.type_name} takes a list of input batches")
        xs = [self._as_batch(x) for x in xs]
        if len({x.shape[0] for x in xs}) > 1:
            raise ShapeError(
                f"{self.name}: inputs have different batch sizes {[x.shape[0] for x in xs]}"
            )
        shapes = [tuple(x.shape[1:]) for x in xs]
        self.output_shape(shapes)
        if not self.built or [tuple(s) for s in self.input_shape] != shapes:
            self.build(shapes)
        self._ctx = {"_training": bool(training)}
        return _batch_first(self.fwd([_batch_last(x) for x in xs], training, self._ctx))

    def backward(self, dout: np.ndarray) -> list[np.ndarray]:  # type: ignore[override]
        if not self._ctx.get("_training"):
            raise EngineError(f"{self.name}: backward called before forward(x, training=True)")
        dout = self._as_batch(dout)
        return [_batch_first(d) for d in self.bwd(_batch_last(dout), self._ctx, self.grads)]


@register_layer
class Add(_Merge):
    """Element-wise sum of inputs of identical shape."""

    type_name = "Add"

    def output_shape(self, input_shapes: Any) -> Shape:
        shapes = self._shapes(input_shapes)
        if len(set(shapes)) > 1:
            listed = ", ".join(format_shape(s) for s in shapes)
            raise ShapeError(f"{self.name}: Add needs inputs of the same shape, got {listed}")
        return shapes[0]

    def fwd(self, xs: list[np.ndarray], training: bool, ctx: dict[str, Any]) -> np.ndarray:
        """Reproduces ``reference.merge.Add.forward`` (batch-last)."""
        if training:
            ctx["n"] = len(xs)
        y = xs[0] + xs[1]
        for x in xs[2:]:
            y += x
        return y

    def bwd(self, dout, ctx, grads, need_dx=True):  # type: ignore[no-untyped-def]
        # The same array goes to every input: consumers must not modify it in place.
        """Reproduces ``reference.merge.Add.backward`` (batch-last)."""
        return [dout] * ctx["n"]

    # -- describing itself ------------------------------------------------------------
    def summary(self) -> str:
        return "sum of the branches"

    def onnx_op(self) -> OnnxOp:
        return OnnxOp("Sum")


@register_layer
class Concatenate(_Merge):
    """Stack inputs along the channel axis (feature axis for vectors).

    Images must agree in height and width; all inputs must be images or all vectors.
    """

    type_name = "Concatenate"

    def output_shape(self, input_shapes: Any) -> Shape:
        shapes = self._shapes(input_shapes)
        rests = {s[1:] for s in shapes}
        if len(rests) > 1 or len({len(s) for s in shapes}) > 1:
            listed = ", ".join(format_shape(s) for s in shapes)
            raise ShapeError(
                f"{self.name}: Concatenate joins along channels; the other sizes must match, "
                f"got {listed}"
            )
        return (sum(s[0] for s in shapes), *shapes[0][1:])

    def fwd(self, xs: list[np.ndarray], training: bool, ctx: dict[str, Any]) -> np.ndarray:
        """Reproduces ``reference.merge.Concatenate.forward`` (batch-last)."""
        if training:
            ctx["sizes"] = [x.shape[0] for x in xs]
        return np.concatenate(xs, axis=0)

    def bwd(self, dout, ctx, grads, need_dx=True):  # type: ignore[no-untyped-def]
        """Reproduces ``reference.merge.Concatenate.backward`` (batch-last)."""
        cuts = np.cumsum(ctx["sizes"])[:-1]
        return np.split(dout, cuts, axis=0)

    # -- describing itself ------------------------------------------------------------
    def summary(self) -> str:
        return "stack the branches' channels"

    def onnx_op(self) -> OnnxOp:
        return OnnxOp("Concat", {"axis": 1})
