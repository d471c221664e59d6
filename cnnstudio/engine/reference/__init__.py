"""The readable tier of the engine: every layer type written to be read, in NCHW.

The fast tier (``cnnstudio.engine.layers`` and ``kernels``) is what training runs on:
batch-last arrays, blocked products, reused buffers. This package computes the same
numbers the plain way, one module per family, and is the oracle the fast tier is
tested against (``tests/engine/test_reference.py``), itself checked against central
differences, loop-level definitions and PyTorch.

Where to start reading:

- ``im2col.py``: unfolding windows into columns and folding them back;
- ``conv.py``: convolution as im2col, ``W @ cols``; backward ``dW = dY @ cols.T``,
  ``dcols = W.T @ dY``, col2im;
- ``pooling.py``: max pooling (the gradient to each window's first maximum), average
  pooling, and global max and average pooling (one number per channel);
- ``dense.py``, ``activations.py``, ``normalization.py`` (BatchNorm), ``dropout.py``,
  ``merge.py`` (Add, Concatenate), ``shape.py`` (Input, Flatten).

Each layer has ``forward(x, training)`` and ``backward(dout)`` on NCHW (or ``(N, F)``)
arrays of any float dtype, and ``params``/``grads``/``state`` under the same keys and
shapes as its fast twin, built from the same configuration dict. ``REFERENCE_TYPES``
maps each architecture type name to its class; ``reference_layer(fast_layer)`` makes the
twin of a built fast layer.
"""

from __future__ import annotations

import copy as _copy

from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.layers.base import Layer as FastLayer
from cnnstudio.engine.reference.activations import (
    LeakyReLU,
    PReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from cnnstudio.engine.reference.base import Layer
from cnnstudio.engine.reference.conv import Conv2D
from cnnstudio.engine.reference.dense import Dense
from cnnstudio.engine.reference.dropout import Dropout
from cnnstudio.engine.reference.merge import Add, Concatenate
from cnnstudio.engine.reference.normalization import BatchNorm
from cnnstudio.engine.reference.pooling import (
    AvgPool2D,
    GlobalAvgPool2D,
    GlobalMaxPool2D,
    MaxPool2D,
)
from cnnstudio.engine.reference.shape import Flatten, Input

__all__ = [
    "REFERENCE_TYPES",
    "Add",
    "AvgPool2D",
    "BatchNorm",
    "Concatenate",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2D",
    "GlobalMaxPool2D",
    "Input",
    "Layer",
    "LeakyReLU",
    "MaxPool2D",
    "PReLU",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "reference_layer",
]

#: Every reference layer class by its architecture ``type`` name (the keys of
#: ``cnnstudio.engine.layers.LAYER_TYPES``).
REFERENCE_TYPES: dict[str, type[Layer]] = {
    cls.type_name: cls
    for cls in (
        Add,
        AvgPool2D,
        BatchNorm,
        Concatenate,
        Conv2D,
        Dense,
        Dropout,
        Flatten,
        GlobalAvgPool2D,
        GlobalMaxPool2D,
        Input,
        LeakyReLU,
        MaxPool2D,
        PReLU,
        ReLU,
        Sigmoid,
        Softmax,
        Tanh,
    )
}


def reference_layer(fast: FastLayer, *, copy: bool = False) -> Layer:
    """The reference twin of the fast layer ``fast``: same type, configuration, name and
    input shape, and the same parameters, gradients, running statistics and ``rng``.

    Parameters
    ----------
    fast : cnnstudio.engine.layers.Layer
    copy : bool
        False: the twin shares ``fast``'s dicts and generator, so whichever tier runs,
        the other sees its weights, gradients and statistics (an optimizer holding
        ``fast``'s arrays trains both). True: independent copies (the generator too),
        so the two tiers can run side by side from the same start.

    Raises
    ------
    EngineError
        For a layer type without a reference twin.
    """
    cls = REFERENCE_TYPES.get(fast.type_name)
    if cls is None:
        raise EngineError(f"{fast.name}: layer type {fast.type_name} has no reference version")
    twin = cls(name=fast.name, **fast.config())
    twin.input_shape = fast.input_shape
    if copy:
        twin.params = {k: v.copy() for k, v in fast.params.items()}
        twin.grads = {k: v.copy() for k, v in fast.grads.items()}
        twin.state = {k: v.copy() for k, v in fast.state.items()}
        twin.rng = _copy.deepcopy(fast.rng)
    else:
        twin.params, twin.grads, twin.state, twin.rng = (
            fast.params,
            fast.grads,
            fast.state,
            fast.rng,
        )
    return twin
