"""The layer contract every engine layer follows (see ../shared/DESIGN.md, "Engine contract").

Public tensors are float32 and NCHW: ``(N, C, H, W)`` for images, ``(N, F)`` for
vectors. A *shape* in this package is the per-sample shape without the batch axis:
``(C, H, W)`` or ``(F,)``.

A layer may keep another internal layout if it is faster (the engine runs a chain
with the batch as the innermost axis); it converts at its public edges.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from cnnstudio.engine.errors import EngineError, ShapeError

__all__ = ["LAYER_TYPES", "Layer", "Shape", "layer_from_config", "register_layer"]

Shape = tuple[int, ...]

#: Every layer class by its architecture ``type`` name, e.g. ``"Conv2D"``.
LAYER_TYPES: dict[str, type[Layer]] = {}


def register_layer(cls: type[Layer]) -> type[Layer]:
    """Class decorator: make ``cls`` buildable from an architecture dict by ``cls.type_name``."""
    if not cls.type_name:
        raise TypeError(f"{cls.__name__} has no type_name")
    LAYER_TYPES[cls.type_name] = cls
    return cls


def layer_from_config(type_name: str, config: dict[str, Any] | None = None, *, name: str = "") -> Layer:
    """Build a layer from its architecture ``type`` and ``config``.

    Raises
    ------
    EngineError
        For an unknown type or a config the layer does not accept (names both).
    """
    cls = LAYER_TYPES.get(type_name)
    if cls is None:
        known = ", ".join(sorted(LAYER_TYPES))
        raise EngineError(f"layer {name or '?'}: unknown layer type {type_name!r} (known: {known})")
    try:
        return cls(**(config or {}), name=name or None)
    except TypeError as exc:
        raise EngineError(f"layer {name or type_name}: bad configuration {config!r}: {exc}") from None


class Layer:
    """Base class of all layers.

    Attributes
    ----------
    name : str
        Unique within a network (the architecture node id).
    params : dict[str, np.ndarray]
        Trainable float32 arrays, e.g. ``{"w": ..., "b": ...}``.
    grads : dict[str, np.ndarray]
        Same keys as ``params``, filled by ``backward``.
    state : dict[str, np.ndarray]
        Persistent arrays that are not trained (BatchNorm's running statistics).
        Saved with the weights.
    """

    type_name: ClassVar[str] = ""
    #: How many inputs ``forward`` takes: 1 for ordinary layers, 0 for Input and
    #: -1 for merge layers (Add, Concatenate), which take and return lists.
    n_inputs: ClassVar[int] = 1

    def __init__(self, *, name: str | None = None) -> None:
        self.name = name or self.type_name.lower()
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.state: dict[str, np.ndarray] = {}
        self.input_shape: Any = None
        self.built = False

    # -- shapes and parameters ---------------------------------------------------
    def output_shape(self, input_shape: Any) -> Shape:
        """Per-sample output shape for ``input_shape``; raises ``ShapeError`` when impossible."""
        raise NotImplementedError

    def build(self, input_shape: Any, rng: np.random.Generator) -> Shape:
        """Check ``input_shape``, create parameters from ``rng`` and return the output shape."""
        out = self.output_shape(input_shape)
        self.input_shape = input_shape
        self._init_params(input_shape, rng)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.built = True
        return out

    def _init_params(self, input_shape: Any, rng: np.random.Generator) -> None:
        """Create ``self.params`` (and ``self.state``); layers without parameters keep none."""

    def parameter_count(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    # -- computation ----------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Compute the output for a batch ``x``; keep what ``backward`` needs when training."""
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Given the loss gradient w.r.t. the output, fill ``grads`` and return it w.r.t. the input."""
        raise NotImplementedError

    # -- persistence ----------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """Plain JSON-able dict such that ``type(self)(**config, name=...)`` rebuilds the layer."""
        return {}

    def _check_input(self, x: np.ndarray) -> None:
        """Raise ``ShapeError`` naming the layer when ``x`` does not match the built input shape."""
        if self.input_shape is not None and tuple(x.shape[1:]) != tuple(self.input_shape):
            raise ShapeError(
                f"{self.name}: expected input of shape (N, {', '.join(map(str, self.input_shape))}),"
                f" got {tuple(x.shape)}"
            )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"
