"""What every reference layer shares with its fast twin, and two NCHW helpers.

A reference layer is built from the same configuration dict as the fast layer of the
same type. It does not check that configuration itself: it builds the fast layer from
it (one set of rules and error messages for both tiers) and reads that layer's
normalised fields, e.g. ``kernel_size=3`` becomes ``(3, 3)``. Shapes, padding,
parameter shapes and the initial weights come from there too, so the two tiers can
never disagree about them; what the reference writes out itself is the arithmetic of
``forward`` and ``backward``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.layers.base import Layer as FastLayer
from cnnstudio.engine.layers.base import Shape, layer_from_config

__all__ = ["Layer", "channel_sum_axes", "per_channel"]


def per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    """A per-channel vector ``(C,)`` shaped to broadcast over a batch of ``ndim`` axes:
    ``(1, C, 1, 1)`` for images ``(N, C, H, W)``, ``(1, C)`` for vectors ``(N, C)``."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def channel_sum_axes(ndim: int) -> tuple[int, ...]:
    """The axes a per-channel sum runs over: batch and space, ``(0, 2, 3)`` or ``(0,)``."""
    return (0, *range(2, ndim))


class Layer:
    """Base class of the reference layers.

    Parameters
    ----------
    name : str, optional
    **config
        The fast layer's configuration, e.g. ``Conv2D(filters=6, kernel_size=5)``.

    Attributes
    ----------
    spec : cnnstudio.engine.layers.Layer
        The fast layer built from the same configuration (validation, shapes, padding).
    params, grads, state : dict[str, np.ndarray]
        Under the same keys and shapes as the fast layer's. ``backward`` writes the
        gradients *into* the arrays of ``grads`` (an optimizer, or a fast twin sharing
        the dict, holds them).
    rng : numpy.random.Generator or None
        Randomness at run time (Dropout).
    cache
        What the last ``forward`` kept for ``backward``.
    """

    type_name: ClassVar[str] = ""

    def __init__(self, *, name: str | None = None, **config: Any) -> None:
        self.spec: FastLayer = layer_from_config(self.type_name, config, name=name or "")
        self.name = self.spec.name
        #: 1 for ordinary layers, 0 for Input, -1 for merge layers (which take lists).
        self.n_inputs = self.spec.n_inputs
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.state: dict[str, np.ndarray] = {}
        self.rng: np.random.Generator | None = None
        self.input_shape: Any = None
        self.cache: Any = None

    def config(self) -> dict[str, Any]:
        """The plain dict that rebuilds this layer (or its fast twin)."""
        return self.spec.config()

    def output_shape(self, input_shape: Any) -> Shape:
        """Per-sample output shape; ``ShapeError`` when the input does not fit."""
        return self.spec.output_shape(input_shape)

    def build(self, input_shape: Any, rng: np.random.Generator | None = None) -> Shape:
        """Create the parameters for ``input_shape`` and return the output shape.

        The fast layer draws them, so one ``rng`` seed gives both tiers the same weights.
        """
        out = self.spec.build(input_shape, rng)
        self.params, self.grads, self.state = self.spec.params, self.spec.grads, self.spec.state
        self.rng, self.input_shape = self.spec.rng, self.spec.input_shape
        return out

    def parameter_count(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def forward(self, x: Any, training: bool = False) -> Any:
        """The output for the batch ``x`` (NCHW or ``(N, F)``, any float dtype).

        ``training`` matters only to BatchNorm and Dropout. Every call keeps in
        ``cache`` what ``backward`` needs.
        """
        raise NotImplementedError

    def backward(self, dout: Any) -> Any:
        """Given ``dout``, the loss gradient w.r.t. the last output, write the parameter
        gradients into ``grads`` and return the gradient w.r.t. the input."""
        raise NotImplementedError

    def _cached(self) -> Any:
        if self.cache is None:
            raise EngineError(f"{self.name}: backward called before forward")
        return self.cache

    def _param(self, key: str) -> np.ndarray:
        """``params[key]``, or a clear error when the layer was never built."""
        if key not in self.params:
            raise EngineError(f"{self.name}: layer is not built; call build(input_shape, rng)")
        return self.params[key]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"reference.{type(self).__name__}({args})"
