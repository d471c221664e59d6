"""Every layer type describes itself: parameter counts before building, its words on the
canvas, its ONNX operator and what the NumPy predictor needs, as plain data."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.engine.layers import LAYER_TYPES, OnnxOp, layer_from_config

# One configuration per type, with the input shape it is built for.
CASES = {
    "Input": ({"shape": [3, 6, 5]}, None),
    "Conv2D": (
        {"filters": 4, "kernel_size": [3, 2], "stride": 2, "padding": "same", "flip_kernel": True},
        (3, 6, 5),
    ),
    "MaxPool2D": ({"pool_size": 2, "padding": 1}, (3, 6, 5)),
    "AvgPool2D": ({"pool_size": 3, "stride": 1}, (3, 6, 5)),
    "GlobalAvgPool2D": ({}, (3, 6, 5)),
    "GlobalMaxPool2D": ({}, (3, 6, 5)),
    "Flatten": ({}, (3, 6, 5)),
    "Dense": ({"units": 7, "use_bias": False}, (12,)),
    "ReLU": ({}, (3, 6, 5)),
    "LeakyReLU": ({"alpha": 0.05}, (12,)),
    "PReLU": ({"init": 0.2}, (3, 6, 5)),
    "Sigmoid": ({}, (12,)),
    "Tanh": ({}, (12,)),
    "Softmax": ({}, (12,)),
    "BatchNorm": ({"momentum": 0.2, "eps": 1e-3}, (3, 6, 5)),
    "Dropout": ({"rate": 0.3}, (12,)),
    "Add": ({}, [(3, 6, 5), (3, 6, 5)]),
    "Concatenate": ({}, [(3, 6, 5), (2, 6, 5)]),
}


def _built(type_name):
    config, shape = CASES[type_name]
    layer = layer_from_config(type_name, config, name="n1")
    layer.build(shape, np.random.default_rng(0))
    return layer, shape


def test_every_layer_type_has_a_case():
    assert set(CASES) == set(LAYER_TYPES)


@pytest.mark.parametrize("type_name", sorted(CASES))
def test_the_parameter_count_before_building_is_the_built_layers(type_name):
    # The block registry counted parameters a second time, by its own formulas.
    config, shape = CASES[type_name]
    before = layer_from_config(type_name, config).parameter_count_for(shape)
    assert before == _built(type_name)[0].parameter_count()


@pytest.mark.parametrize("type_name", sorted(CASES))
def test_every_layer_describes_itself_in_plain_data(type_name):
    layer, _ = _built(type_name)
    assert isinstance(layer.summary(), str)
    op = layer.onnx_op()
    if type_name in ("Input", "Dropout"):
        assert op is None  # the graph's input; the identity at inference
    else:
        # One operator, or a short chain of them (global pooling, then Flatten).
        for step in op if isinstance(op, tuple) else (op,):
            assert isinstance(step, OnnxOp) and step.op_type
            for key, arr in step.initializers:
                assert isinstance(arr, np.ndarray) and key in layer.export_weights()
    assert set(layer.export_weights()) == set(layer.params) | set(layer.state)
    config = layer.predictor_config()
    assert isinstance(config, dict)


def test_a_flipped_kernel_is_exported_flipped_and_padding_made_explicit():
    conv, _ = _built("Conv2D")
    w = conv.params["w"]
    np.testing.assert_array_equal(conv.export_weights()["w"], w[:, :, ::-1, ::-1])
    assert conv.predictor_config()["pads"] == list(conv.pads()) == [0, 1, 0, 1]
    op = conv.onnx_op()
    assert op.attributes["pads"] == [0, 0, 1, 1]  # ONNX: begins (top, left), then ends
    assert [key for key, _ in op.initializers] == ["w", "b"]


@pytest.mark.parametrize(
    ("type_name", "config", "words"),
    [
        ("Conv2D", {"filters": 6, "kernel_size": 5, "padding": 2}, "6 filters 5x5 pad 2"),
        (
            "Conv2D",
            {"filters": 8, "kernel_size": [5, 3], "stride": [2, 1]},
            "8 filters 5x3 stride 2x1",
        ),
        ("MaxPool2D", {"pool_size": 2}, "max 2x2"),
        (
            "AvgPool2D",
            {"pool_size": 3, "stride": 2, "padding": "same"},
            "avg 3x3 stride 2 pad same",
        ),
        ("Input", {"shape": [1, 28, 28]}, "image 1@28x28"),
        ("Dense", {"units": 120}, "120 units"),
        ("GlobalAvgPool2D", {}, "each map → its mean"),
        ("GlobalMaxPool2D", {}, "each map → its max"),
    ],
)
def test_summaries_say_the_key_settings(type_name, config, words):
    assert layer_from_config(type_name, config).summary() == words
