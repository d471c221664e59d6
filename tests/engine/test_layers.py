"""Layer behaviour a user can see: the reference notes' worked examples, shapes, configs, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnstudio.engine import EngineError, ShapeError
from cnnstudio.engine.initializers import initialize
from cnnstudio.engine.layers import (
    LAYER_TYPES,
    Add,
    AvgPool2D,
    BatchNorm,
    Concatenate,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    LeakyReLU,
    MaxPool2D,
    PReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    format_shape,
    layer_from_config,
)


def _conv_with_kernel(kernel, **kwargs):
    k = np.asarray(kernel, dtype=np.float32)
    layer = Conv2D(1, k.shape, name="conv", **kwargs)
    layer.build((1, 3, 3), np.random.default_rng(0))
    layer.params["w"][0, 0] = k
    return layer


# -- the reference notes' worked examples --------------------------------------------
def test_worked_example_conv_with_half_weights():
    layer = _conv_with_kernel([[1, 0.5], [0.5, 1]])
    x = np.array([[1, 2, 1], [2, 1, 1], [1, 1, 1]], dtype=np.float32)[None, None]
    np.testing.assert_array_equal(layer.forward(x)[0, 0], [[4, 4], [4, 3]])


def test_worked_example_conv_relu_maxpool():
    layer = _conv_with_kernel([[1, 0], [0, 1]])
    x = np.array([[1, 0, 2], [3, 1, 0], [0, 0, 4]], dtype=np.float32)[None, None]
    y = layer.forward(x)
    np.testing.assert_array_equal(y[0, 0], [[2, 0], [3, 5]])
    r = ReLU().forward(y)
    np.testing.assert_array_equal(r, y)
    assert MaxPool2D(2).forward(r)[0, 0, 0, 0] == 5


@pytest.mark.parametrize(("padding", "size"), [(1, 26), (0, 24)])
def test_output_size_formula(padding, size):
    assert Conv2D(6, 5, padding=padding).output_shape((1, 28, 28)) == (6, size, size)


def test_flip_kernel_is_true_convolution():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 2, 6, 5)).astype(np.float32)
    conv = Conv2D(3, (3, 2), padding=1, flip_kernel=True, name="conv")
    conv.build((2, 6, 5), rng)
    xcorr = Conv2D(3, (3, 2), padding=1, name="xcorr")
    xcorr.build((2, 6, 5), rng)
    xcorr.params["w"][...] = conv.params["w"][:, :, ::-1, ::-1]
    np.testing.assert_allclose(conv.forward(x), xcorr.forward(x), rtol=1e-6, atol=1e-6)
    # By hand: convolving [1, 10, 100] with [1, 2] gives x[i] * 2 + x[i + 1] * 1.
    line = Conv2D(1, (1, 2), flip_kernel=True, use_bias=False, name="line")
    line.build((1, 1, 3), rng)
    line.params["w"][0, 0] = [[1, 2]]
    y = line.forward(np.array([[[[1, 10, 100]]]], dtype=np.float32))
    np.testing.assert_array_equal(y, [[[[1 * 2 + 10 * 1, 10 * 2 + 100 * 1]]]])


# -- shapes -------------------------------------------------------------------------------
def test_lenet_shapes_and_notation():
    shape = (1, 28, 28)
    layers = [Conv2D(6, 5, padding=2), ReLU(), MaxPool2D(2), Conv2D(16, 5), MaxPool2D(2), Flatten()]
    texts = []
    for layer in layers:
        shape = layer.output_shape(shape)
        texts.append(format_shape(shape))
    assert texts == ["6@28x28", "6@28x28", "6@14x14", "16@10x10", "16@5x5", "400"]
    assert Dense(120).output_shape((400,)) == (120,)


def test_flatten_of_hundred_2x2_maps_gives_400():
    assert Flatten().output_shape((100, 2, 2)) == (400,)


def test_concatenate_and_add_shapes():
    assert Concatenate().output_shape([(3, 8, 8), (5, 8, 8)]) == (8, 8, 8)
    assert Concatenate().output_shape([(3,), (4,)]) == (7,)
    assert Add().output_shape([(3, 8, 8), (3, 8, 8)]) == (3, 8, 8)


def test_pool_default_stride_is_pool_size():
    assert MaxPool2D(3).output_shape((2, 9, 9)) == (2, 3, 3)
    assert AvgPool2D(3, stride=1).output_shape((2, 9, 9)) == (2, 7, 7)


# -- bad input ------------------------------------------------------------------------------
def test_kernel_bigger_than_padded_input_names_layer_and_numbers():
    with pytest.raises(ShapeError) as err:
        Conv2D(4, 5, name="conv3").output_shape((1, 4, 4))
    msg = str(err.value)
    assert (
        "conv3" in msg and "kernel 5" in msg and "input of 4" in msg and "(4+2·0−5)/1+1 < 1" in msg
    )


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: Conv2D(4, 3, stride=0, name="c1"), ["c1", "stride", "0"]),
        (lambda: Conv2D(0, 3, name="c2"), ["c2", "filters", "0"]),
        (lambda: Conv2D(4, -3, name="c3"), ["c3", "kernel_size", "-3"]),
        (lambda: Conv2D(4, 3, padding=-1, name="c4"), ["c4", "padding", "-1"]),
        (lambda: Conv2D(4, 3, padding="full", name="c5"), ["c5", "padding", "full"]),
        (lambda: MaxPool2D(0, name="p1"), ["p1", "pool_size", "0"]),
        (lambda: MaxPool2D(2, stride=(1, 0), name="p2"), ["p2", "stride"]),
        (lambda: Dense(-4, name="fc"), ["fc", "units", "-4"]),
        (lambda: Dropout(1.0, name="d"), ["d", "rate", "1.0"]),
        (lambda: Input((0, 28, 28), name="in"), ["in", "shape"]),
        (lambda: Conv2D(4, 3, init="magic", name="c6"), ["c6", "magic"]),
        (lambda: BatchNorm(momentum=2, name="bn"), ["bn", "momentum"]),
    ],
)
def test_bad_arguments_raise_clear_errors(make, words):
    with pytest.raises(EngineError) as err:
        make()
    for word in words:
        assert word in str(err.value)


def test_dense_on_an_image_says_to_flatten():
    with pytest.raises(ShapeError, match=r"fc1.*6@14x14.*Flatten"):
        Dense(10, name="fc1").output_shape((6, 14, 14))


def test_add_with_mismatched_shapes_lists_them():
    with pytest.raises(ShapeError, match=r"add1.*6@14x14.*8@14x14"):
        Add(name="add1").output_shape([(6, 14, 14), (8, 14, 14)])
    with pytest.raises(ShapeError, match=r"cat1.*2@4x4.*2@5x5"):
        Concatenate(name="cat1").output_shape([(2, 4, 4), (2, 5, 5)])


def test_wrong_input_at_forward_is_a_shape_error():
    conv = Conv2D(2, 3, name="conv1")
    conv.build((1, 8, 8), np.random.default_rng(0))
    with pytest.raises(ShapeError, match=r"conv1.*\(N, 1, 8, 8\).*\(2, 3, 8, 8\)"):
        conv.forward(np.zeros((2, 3, 8, 8), np.float32))
    with pytest.raises(ShapeError, match="conv1"):
        conv.forward(np.zeros(8, np.float32))
    with pytest.raises(ShapeError, match="pool"):
        MaxPool2D(2, name="pool").forward(np.zeros((2, 8), np.float32))


def test_unbuilt_layer_with_parameters_says_so():
    with pytest.raises(EngineError, match="not built"):
        Dense(3, name="fc").forward(np.zeros((1, 4)))


def test_backward_before_forward_is_an_error():
    with pytest.raises(EngineError, match=r"relu.*before forward"):
        ReLU(name="relu").backward(np.zeros((1, 3)))


def test_unknown_layer_type_and_bad_keyword():
    with pytest.raises(EngineError, match=r"n7.*'Conv3D'.*Conv2D"):
        layer_from_config("Conv3D", {}, name="n7")
    with pytest.raises(EngineError, match=r"n8.*kernal"):
        layer_from_config("Conv2D", {"filters": 2, "kernal": 3}, name="n8")


# -- configs -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "layer",
    [
        Input((1, 28, 28)),
        Conv2D(6, (5, 3), stride=(2, 1), padding="same", use_bias=False, init="glorot"),
        Conv2D(4, 3, padding=1, flip_kernel=True, init={"name": "normal", "std": 0.1}),
        MaxPool2D(3, stride=2, padding=1),
        AvgPool2D((2, 3)),
        Dense(10, init={"name": "uniform", "low": -1, "high": 1}),
        Flatten(),
        ReLU(),
        LeakyReLU(0.2),
        PReLU(0.1),
        Sigmoid(),
        Tanh(),
        Softmax(),
        BatchNorm(momentum=0.2, eps=1e-3),
        Dropout(0.3),
        Add(),
        Concatenate(),
    ],
)
def test_config_is_json_and_rebuilds_the_layer(layer):
    config = json.loads(json.dumps(layer.config()))
    rebuilt = layer_from_config(layer.type_name, config, name="x")
    assert type(rebuilt) is type(layer)
    assert rebuilt.config() == layer.config()
    assert LAYER_TYPES[layer.type_name] is type(layer)


def test_padding_is_kept_as_given_and_pads_are_explicit():
    conv = Conv2D(2, 2, padding="same")
    assert conv.config()["padding"] == "same"
    assert conv.pads((1, 5, 5)) == (0, 1, 0, 1)
    assert Conv2D(2, 3, padding=2).config()["padding"] == [2, 2]
    assert Conv2D(2, 3, padding="valid").pads((1, 5, 5)) == (0, 0, 0, 0)


# -- behaviour of individual layers -------------------------------------------------------
def test_activation_values():
    x = np.array([[-2.0, 0.0, 3.0]], dtype=np.float32)
    np.testing.assert_array_equal(ReLU().forward(x), [[0, 0, 3]])
    np.testing.assert_allclose(LeakyReLU(0.1).forward(x), [[-0.2, 0, 3]], rtol=1e-6)
    np.testing.assert_allclose(Sigmoid().forward(x), 1 / (1 + np.exp(-x)), rtol=1e-6)
    np.testing.assert_allclose(Tanh().forward(x), np.tanh(x), rtol=1e-6)
    p = Softmax().forward(x)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    assert p.argmax() == 2
    big = Sigmoid().forward(np.array([[-1000.0, 1000.0]], dtype=np.float32))
    np.testing.assert_array_equal(big, [[0, 1]])


def test_prelu_has_one_slope_per_channel():
    layer = PReLU()
    layer.build((3, 2, 2), np.random.default_rng(0))
    assert layer.params["alpha"].shape == (3,)
    layer.params["alpha"][:] = [0.1, 0.2, 0.3]
    y = layer.forward(-np.ones((1, 3, 2, 2), np.float32))
    np.testing.assert_allclose(y[0, :, 0, 0], [-0.1, -0.2, -0.3], rtol=1e-6)


def test_batchnorm_training_and_inference():
    rng = np.random.default_rng(0)
    bn = BatchNorm(momentum=0.5)
    bn.build((2, 3, 3), rng)
    x = (rng.normal(size=(8, 2, 3, 3)) * 3 + 5).astype(np.float32)
    y = bn.forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(0, 2, 3)), 1, atol=1e-3)
    m = x.mean(axis=(0, 2, 3))
    v = x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(bn.state["running_mean"], 0.5 * m, rtol=1e-5)
    np.testing.assert_allclose(bn.state["running_var"], 0.5 + 0.5 * v, rtol=1e-5)
    y_inf = bn.forward(x, training=False)
    expected = (x - bn.state["running_mean"][:, None, None]) / np.sqrt(
        bn.state["running_var"][:, None, None] + 1e-5
    )
    np.testing.assert_allclose(y_inf, expected, rtol=1e-5, atol=1e-5)


def test_dropout_is_inverted_and_identity_at_inference():
    layer = Dropout(0.25)
    layer.build((1000,), np.random.default_rng(0))
    x = np.ones((4, 1000), np.float32)
    np.testing.assert_array_equal(layer.forward(x, training=False), x)
    y = layer.forward(x, training=True)
    kept = y != 0
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)


def test_layers_keep_float32():
    rng = np.random.default_rng(0)
    conv = Conv2D(2, 3, padding=1)
    conv.build((1, 5, 5), rng)
    y = conv.forward(np.zeros((2, 1, 5, 5), np.float32), training=True)
    assert y.dtype == np.float32
    assert conv.backward(np.ones_like(y)).dtype == np.float32
    assert conv.grads["w"].dtype == np.float32


# -- initialisers -------------------------------------------------------------------------------
def test_initialisers_statistics_and_seed():
    rng = np.random.default_rng
    he = initialize("he", (200, 100), 100, 200, rng(0))
    assert he.dtype == np.float32 and abs(he.std() - np.sqrt(2 / 100)) < 0.01
    limit = np.sqrt(6 / 300)
    gl = initialize("glorot", (200, 100), 100, 200, rng(0))
    assert gl.min() >= -limit and gl.max() <= limit and gl.max() > 0.9 * limit
    nrm = initialize({"name": "normal", "std": 0.2}, (300, 100), 100, 300, rng(0))
    assert abs(nrm.std() - 0.2) < 0.01
    uni = initialize("uniform", (300, 100), 100, 300, rng(0))
    assert uni.min() >= -1 and uni.max() <= 1 and uni.min() < -0.99
    # PyTorch's default for Conv2d / Linear: kaiming_uniform(a=sqrt(5)) = uniform(±1/sqrt(fan_in))
    fan = initialize("fan_in_uniform", (64, 16, 3, 3), 144, 576, rng(0))
    assert fan.min() >= -1 / 12 and fan.max() <= 1 / 12 and fan.max() > 0.99 / 12
    np.testing.assert_array_equal(he, initialize("he", (200, 100), 100, 200, rng(0)))
    with pytest.raises(EngineError, match="std"):
        initialize({"name": "normal", "std": -1}, (2,), 1, 1, rng(0))


def test_parameter_free_layer_on_its_own_takes_any_shape_but_network_layers_are_strict():
    pool = MaxPool2D(2, name="pool")
    assert pool.forward(np.ones((1, 2, 4, 4), np.float32)).shape == (1, 2, 2, 2)
    assert pool.forward(np.ones((1, 3, 6, 6), np.float32)).shape == (1, 3, 3, 3)
    built = MaxPool2D(2, name="pool2")
    built.build((2, 4, 4))
    with pytest.raises(ShapeError, match=r"pool2.*\(N, 2, 4, 4\)"):
        built.forward(np.ones((1, 3, 6, 6), np.float32))
