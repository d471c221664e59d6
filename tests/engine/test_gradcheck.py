"""Every layer and every parameter against central differences, in float64."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.engine import kernels
from cnnstudio.engine.layers import (
    Add,
    AvgPool2D,
    BatchNorm,
    Concatenate,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    LeakyReLU,
    MaxPool2D,
    PReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from tests.engine.naive import check_layer, to_float64


def _x(shape, seed=1):
    return np.random.default_rng(seed).normal(size=shape)


def _build(layer, shape, seed=0):
    layer.build(shape, np.random.default_rng(seed))
    return to_float64(layer)


@pytest.mark.parametrize(
    ("kwargs", "shape"),
    [
        ({"filters": 3, "kernel_size": (3, 2)}, (2, 6, 5)),
        ({"filters": 2, "kernel_size": 3, "stride": 2, "padding": 1}, (3, 7, 7)),
        ({"filters": 2, "kernel_size": (2, 3), "stride": (2, 1), "padding": (1, 0)}, (2, 5, 6)),
        ({"filters": 2, "kernel_size": 2, "padding": "same"}, (1, 5, 4)),
        ({"filters": 3, "kernel_size": 3, "stride": 2, "padding": "same"}, (2, 6, 5)),
        ({"filters": 2, "kernel_size": 1}, (3, 3, 4)),
        ({"filters": 2, "kernel_size": (3, 2), "use_bias": False, "flip_kernel": True}, (2, 5, 5)),
    ],
)
@pytest.mark.parametrize("block", ["default", "one row"])
def test_conv2d_gradients(kwargs, shape, block, monkeypatch):
    # "one row": every output row is a block of its own, so training unfolds the input
    # again in the backward pass (kernels.weight_grad_unfolding) instead of keeping it.
    if block == "one row":
        monkeypatch.setattr(kernels, "CONV_BLOCK", 1)
    layer = _build(Conv2D(**kwargs, name="conv"), shape)
    check_layer(layer, _x((3, *shape)))


@pytest.mark.parametrize("cls", [MaxPool2D, AvgPool2D])
@pytest.mark.parametrize(
    ("kwargs", "shape"),
    [
        ({"pool_size": 2}, (2, 6, 4)),
        ({"pool_size": 3, "stride": 1}, (2, 5, 5)),  # overlapping windows
        ({"pool_size": (3, 2), "stride": (2, 1), "padding": 1}, (2, 7, 5)),
        ({"pool_size": 2, "padding": "same"}, (1, 5, 7)),
        ({"pool_size": 2}, (1, 5, 5)),  # odd size: the last row/column is dropped
    ],
)
def test_pooling_gradients(cls, kwargs, shape):
    layer = _build(cls(**kwargs, name="pool"), shape)
    check_layer(layer, _x((3, *shape)))


@pytest.mark.parametrize("shape", [(7,), (2, 3, 4)])
def test_dense_and_flatten_gradients(shape):
    flat = _build(Flatten(name="flat"), shape)
    check_layer(flat, _x((3, *shape)))
    n_in = int(np.prod(shape))
    check_layer(_build(Dense(5, name="fc"), (n_in,)), _x((4, n_in)))
    check_layer(_build(Dense(3, use_bias=False, name="fc"), (n_in,)), _x((2, n_in)))
    check_layer(_build(Dense(4, name="fc"), (n_in,)), _x((1, n_in)))  # batch of one


@pytest.mark.parametrize("cls", [ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, PReLU])
@pytest.mark.parametrize("shape", [(6,), (3, 4, 5)])
def test_activation_gradients(cls, shape):
    layer = cls(name="act")
    _build(layer, shape)
    if isinstance(layer, PReLU):
        # Different slopes per channel catch a channel mix-up.
        layer.params["alpha"][:] = np.linspace(0.1, 0.6, shape[0])
    x = _x((3, *shape))
    # Keep inputs away from the kinks at 0, where central differences are meaningless.
    x[np.abs(x) < 1e-3] = 0.1
    check_layer(layer, x)


@pytest.mark.parametrize("shape", [(5,), (3, 4, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradients(shape, training):
    layer = _build(BatchNorm(name="bn"), shape)
    rng = np.random.default_rng(3)
    layer.params["gamma"][:] = rng.uniform(0.5, 1.5, shape[0])
    layer.params["beta"][:] = rng.normal(size=shape[0])
    layer.state["running_mean"][:] = rng.normal(size=shape[0])
    layer.state["running_var"][:] = rng.uniform(0.5, 2.0, shape[0])
    check_layer(layer, _x((4, *shape)) * 2 + 1, training=training)


def test_dropout_gradient_with_a_fixed_mask():
    layer = _build(Dropout(0.4, name="drop"), (3, 4, 4))

    def fix_mask():
        layer.rng = np.random.default_rng(7)

    check_layer(layer, _x((2, 3, 4, 4)), before_forward=fix_mask)


def test_merge_gradients():
    add = Add(name="add")
    check_layer(add, [_x((2, 3, 4, 4), s) for s in (1, 2, 3)])
    cat = Concatenate(name="cat")
    check_layer(cat, [_x((2, 1, 3, 3), 1), _x((2, 2, 3, 3), 2)])
    check_layer(Concatenate(name="cat2"), [_x((2, 4), 1), _x((2, 3), 2)])
