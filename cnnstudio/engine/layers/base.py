"""The layer contract every engine layer follows (docs/architecture.md, "The engine contract").

Public tensors are float32 and NCHW: ``(N, C, H, W)`` for images, ``(N, F)`` for
vectors. A *shape* in this package is the per-sample shape without the batch axis:
``(C, H, W)`` or ``(F,)``.

A layer may keep another internal layout if it is faster (the engine runs a chain
with the batch as the innermost axis); it converts at its public edges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from cnnstudio.engine.errors import EngineError, ShapeError
from cnnstudio.engine.shapes import describe

__all__ = [
    "LAYER_TYPES",
    "Layer",
    "OnnxOp",
    "Shape",
    "format_shape",
    "layer_from_config",
    "register_layer",
]

Shape = tuple[int, ...]


def format_shape(shape: Any) -> str:
    """A per-sample shape in the reference notes' notation: ``6@28x28`` or ``120``."""
    shape = tuple(shape)
    if len(shape) == 3:
        return f"{shape[0]}@{shape[1]}x{shape[2]}"
    return "x".join(str(int(s)) for s in shape)


def _batch_last(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(x, 0, -1))


def _batch_first(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(x, -1, 0))


@dataclass(frozen=True)
class OnnxOp:
    """One ONNX operator standing for a layer, as plain data (``cnnstudio.io.onnx_export``
    makes the protobuf; the engine needs no onnx).

    The operator reads the layer's inputs, then ``initializers`` in order: each
    ``(key, array)`` becomes a float32 tensor named ``"<node>.<key>"``. ``attributes``
    are the operator's ONNX attributes (ints, floats and lists of them).
    """

    op_type: str
    attributes: dict[str, Any] = field(default_factory=dict)
    initializers: tuple[tuple[str, np.ndarray], ...] = ()


#: Every layer class by its architecture ``type`` name, e.g. ``"Conv2D"``.
LAYER_TYPES: dict[str, type[Layer]] = {}


def register_layer(cls: type[Layer]) -> type[Layer]:
    """Class decorator: make ``cls`` buildable from an architecture dict by ``cls.type_name``."""
    if not cls.type_name:
        raise TypeError(f"{cls.__name__} has no type_name")
    LAYER_TYPES[cls.type_name] = cls
    return cls


def layer_from_config(
    type_name: str, config: dict[str, Any] | None = None, *, name: str = ""
) -> Layer:
    """Build a layer from its architecture ``type`` and ``config``.

    Raises
    ------
    EngineError
        For an unknown type or a config the layer does not accept (names both).
    """
    cls = LAYER_TYPES.get(type_name)
    if cls is None:
        known = ", ".join(sorted(LAYER_TYPES))
        raise EngineError(
            f"layer {name or '?'}: unknown layer type {describe(type_name)} (known: {known})"
        )
    try:
        return cls(**(config or {}), name=name or None)
    except TypeError as exc:
        raise EngineError(
            f"layer {name or describe(type_name)}: bad configuration {describe(config)}: {exc}"
        ) from None


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

    #: Whether ``build`` draws parameters (such a layer cannot build itself lazily).
    has_params: ClassVar[bool] = False
    #: Whether ``backward`` may follow ``forward(x, training=False)`` (layers whose
    #: inference forward is a different function, like BatchNorm's, say so).
    backward_in_eval: ClassVar[bool] = False
    #: Keys of ``weight_shapes`` that are ``state``, not trained (BatchNorm's statistics).
    state_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, name: str | None = None) -> None:
        if name is not None and not isinstance(name, str):
            raise EngineError(f"layer name must be a string, not {describe(name)}")
        #: True when no name was given (a Network may then rename it to keep names unique).
        self.auto_named = not name
        self.name = name or self.type_name.lower()
        #: Generator for run-time randomness (Dropout); a Network gives each layer its own.
        self.rng: np.random.Generator | None = None
        self._ctx: dict[str, Any] = {}
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.state: dict[str, np.ndarray] = {}
        self.input_shape: Any = None
        self.built = False

    # -- shapes and parameters ---------------------------------------------------
    def output_shape(self, input_shape: Any) -> Shape:
        """Per-sample output shape for ``input_shape``; raises ``ShapeError`` when impossible."""
        raise NotImplementedError

    def build(self, input_shape: Any, rng: np.random.Generator | None = None) -> Shape:
        """Check ``input_shape``, create parameters from ``rng`` and return the output shape."""
        out = self.output_shape(input_shape)
        self._auto_built = False
        self.input_shape = input_shape
        if rng is None:
            if self.has_params:
                raise EngineError(f"{self.name}: building a layer with parameters needs an rng")
            rng = np.random.default_rng(0)
        if self.rng is None:
            self.rng = rng
        self._init_params(input_shape, rng)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.built = True
        return out

    def _init_params(self, input_shape: Any, rng: np.random.Generator) -> None:
        """Create ``self.params`` (and ``self.state``); layers without parameters keep none."""

    def weight_shapes(self, input_shape: Any) -> dict[str, Shape]:
        """The shapes of the arrays ``build(input_shape)`` creates, ``params`` then ``state``,
        without creating them: a network checks its size from these before it allocates."""
        return {}

    def parameter_count(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def parameter_count_for(self, input_shape: Any) -> int:
        """Trainable numbers ``build(input_shape)`` would create, found without building
        (what a block on the canvas shows before any network exists)."""
        shapes = self.weight_shapes(input_shape)
        return sum(math.prod(s) for key, s in shapes.items() if key not in self.state_keys)

    # -- computation ----------------------------------------------------------------
    # Public ``forward``/``backward`` take and return NCHW / (N, F) arrays. Internally
    # every layer computes in the batch-last layout ((C, H, W, N) / (F, N)) through
    # ``fwd``/``bwd``, which the Network calls directly so a whole chain runs without
    # transposes. Caches live in a caller-owned ``ctx`` dict, and gradients go into a
    # caller-given dict of arrays (filled in place, so optimizers may hold them).
    # Both honour the dtype of the input, so tests can run them in float64.

    def fwd(self, x: Any, training: bool, ctx: dict[str, Any]) -> Any:
        """Batch-last forward pass; store in ``ctx`` what ``bwd`` needs when ``training``.

        Each layer's reproduces the ``forward`` of its twin in ``cnnstudio.engine.reference``
        (the readable NCHW tier, and the oracle its tests compare it with)."""
        raise NotImplementedError

    def bwd(
        self, dout: Any, ctx: dict[str, Any], grads: dict[str, np.ndarray], need_dx: bool = True
    ) -> Any:
        """Batch-last backward pass: write parameter gradients into ``grads`` (in place) and
        return the gradient w.r.t. the input (``None`` when ``need_dx`` is false).

        Each layer's reproduces the ``backward`` of its reference twin."""
        raise NotImplementedError

    def _ensure_built(self, input_shape: Any) -> None:
        # A parameter-free layer used on its own builds itself for whatever it is given
        # (and rebuilds for a new shape); one built explicitly (by a Network) stays strict.
        auto = getattr(self, "_auto_built", False)
        if not self.built or (auto and tuple(input_shape) != tuple(self.input_shape)):
            if self.has_params:
                raise EngineError(
                    f"{self.name}: layer is not built; call build(input_shape, rng) first"
                )
            self.build(input_shape)
            self._auto_built = True

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Compute the output for a batch ``x``; keep what ``backward`` needs when training."""
        x = self._as_batch(x)
        self._ensure_built(tuple(x.shape[1:]))
        self._check_input(x)
        self._ctx = {"_training": bool(training)}
        return _batch_first(self.fwd(_batch_last(x), training, self._ctx))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Given the loss gradient w.r.t. the output, fill ``grads``; return it w.r.t. the input."""
        ran = "_training" in self._ctx
        if not (self._ctx.get("_training") or (ran and self.backward_in_eval)):
            raise EngineError(f"{self.name}: backward called before forward(x, training=True)")
        dout = self._as_batch(dout)
        return _batch_first(self.bwd(_batch_last(dout), self._ctx, self.grads))

    def _as_batch(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype.kind != "f":
            x = x.astype(np.float32)
        if x.ndim < 2:
            raise ShapeError(
                f"{self.name}: expected a batch (N, ...) with at least 2 axes, got shape {x.shape}"
            )
        return x

    # -- persistence ----------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """Plain JSON-able dict such that ``type(self)(**config, name=...)`` rebuilds the layer."""
        return {}

    # -- describing itself ------------------------------------------------------------
    # What the exporters and the canvas say about a layer lives with the layer, so a new
    # layer type is described in its own module (see this package's docstring).

    def summary(self) -> str:
        """Its key settings in a few words for the canvas (``6 filters 5x5 pad 2``); empty
        when there is nothing to say beyond the type."""
        return ""

    def onnx_op(self) -> OnnxOp | tuple[OnnxOp, ...] | None:
        """The ONNX operator computing this (built) layer at inference, a short chain of
        them applied in order (global pooling is GlobalAveragePool then Flatten), or
        ``None`` where the layer passes its input on unchanged (Dropout; the Input is the
        graph's input).

        Raises
        ------
        NotImplementedError
            For a layer type with no ONNX form.
        """
        raise NotImplementedError(f"{self.type_name} has no ONNX form")

    def predictor_config(self) -> dict[str, Any]:
        """What the exported NumPy predictor (``io/templates/predict.py``) needs to run this
        built layer, beyond its weights: plain JSON, padding made explicit."""
        return {}

    def export_weights(self) -> dict[str, np.ndarray]:
        """The arrays an exported model stores for this layer, ``params`` then ``state``,
        as a plain framework applies them (Conv2D's ``flip_kernel`` already applied)."""
        return {**self.params, **self.state}

    def _check_input(self, x: np.ndarray) -> None:
        """Raise ``ShapeError`` naming the layer when ``x`` does not match the built input shape."""
        if self.input_shape is not None and tuple(x.shape[1:]) != tuple(self.input_shape):
            want = ", ".join(map(str, self.input_shape))
            raise ShapeError(
                f"{self.name}: expected input of shape (N, {want}), got {tuple(x.shape)}"
            )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"
