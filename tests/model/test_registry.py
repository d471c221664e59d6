"""The block registry: palette groups, parameter limits and validation, engine mapping."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from cnnstudio.engine.layers import LAYER_TYPES, layer_from_config
from cnnstudio.model import BLOCK_SPECS, GROUPS, ParamError, block_spec, blocks_in_group, icon_path


def test_palette_groups_follow_the_reference_notes():
    palette = {group: [s.type for s in blocks_in_group(group)] for group in GROUPS}
    assert palette == {
        "Input": ["Input"],
        "Convolution": ["Conv2D"],
        "Activation": ["ReLU", "LeakyReLU", "PReLU", "Sigmoid", "Tanh"],
        "Pooling": ["MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "GlobalMaxPool2D"],
        "Flatten": ["Flatten"],
        "Dense": ["Dense"],
        "BatchNorm": ["BatchNorm"],
        "Dropout": ["Dropout"],
        "Branches": ["Add", "Concatenate"],
        "Output": ["Output"],
    }


@pytest.mark.parametrize("spec", list(BLOCK_SPECS.values()), ids=list(BLOCK_SPECS))
def test_every_block_has_text_an_icon_and_an_engine_layer(spec):
    assert spec.label and spec.description.endswith(".") and "\n" not in spec.description
    assert len(spec.help) > 150
    root = ET.parse(icon_path(spec)).getroot()
    assert root.get("viewBox") == "0 0 24 24"
    for param in spec.params:
        assert param.label and param.help
        assert param.validate(param.default) == param.default
    engine_type, config = spec.to_engine(spec.defaults())
    assert engine_type in LAYER_TYPES
    layer = layer_from_config(engine_type, config, name="x")  # the engine accepts our defaults
    if spec.type not in ("Input", "Output"):
        assert layer.config() == config
    assert spec.params_from_config(config) == spec.defaults() or spec.type == "Output"


def test_help_texts_teach_the_formula_where_it_applies():
    for block_type in ("Conv2D", "MaxPool2D", "AvgPool2D"):
        assert "(I + 2P − K) / S + 1" in block_spec(block_type).help
    assert "16·5·5 = 400" in block_spec("Flatten").help
    assert "add up to 1" in block_spec("Output").help


def test_limits_from_the_brief():
    conv, dense = block_spec("Conv2D"), block_spec("Dense")
    assert (conv.param("filters").min, conv.param("filters").max) == (1, 512)
    assert (conv.param("kernel_size").min, conv.param("kernel_size").max) == (1, 11)
    assert (conv.param("stride").min, conv.param("stride").max) == (1, 8)
    assert conv.param("padding").max == 10 and conv.param("padding").choices == ("same", "valid")
    assert conv.param("init").choices == ("he", "glorot", "fan_in_uniform", "normal", "uniform")
    assert (dense.param("units").min, dense.param("units").max) == (1, 4096)
    assert block_spec("Dropout").param("rate").max == 0.95
    assert block_spec("LeakyReLU").param("alpha").max == 1.0
    assert block_spec("MaxPool2D").param("pool_size").max == 8


@pytest.mark.parametrize(
    ("block", "name", "value", "expected"),
    [
        ("Conv2D", "kernel_size", 5, (5, 5)),
        ("Conv2D", "kernel_size", [3, 1], (3, 1)),
        ("Conv2D", "padding", "SAME", "same"),
        ("Conv2D", "filters", 6.0, 6),
        ("MaxPool2D", "stride", None, None),
        ("Dropout", "rate", 0, 0.0),
        ("Output", "activation", "Sigmoid", "sigmoid"),
    ],
)
def test_values_are_made_canonical(block, name, value, expected):
    assert block_spec(block).param(name).validate(value) == expected


@pytest.mark.parametrize(
    ("block", "name", "value", "message"),
    [
        ("Conv2D", "filters", 0, "conv1: Filters must be between 1 and 512, got 0"),
        ("Conv2D", "filters", 2.5, "Filters must be a whole number, got 2.5"),
        ("Conv2D", "filters", True, "Filters must be a whole number"),
        ("Conv2D", "kernel_size", (3, 12), "Kernel size must be between 1 and 11, got 12"),
        (
            "Conv2D",
            "padding",
            "full",
            "Padding must be a number or a pair of numbers or one of same",
        ),
        ("Conv2D", "stride", None, "Stride needs a value"),
        ("Conv2D", "init", "zeros", "Initialiser must be one of he, glorot, fan_in_uniform"),
        ("Conv2D", "use_bias", 1, "Bias must be true or false"),
        ("Dropout", "rate", 0.99, "Rate must be between 0 and 0.95, got 0.99"),
        ("LeakyReLU", "alpha", float("nan"), "finite"),
        ("Dense", "units", "ten", "Units must be a whole number"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(block, name, value, message):
    with pytest.raises(ParamError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        block_spec(block).param(name).validate(value, "conv1")
    assert isinstance(info.value, ValueError)


def test_display_text_of_values():
    conv = block_spec("Conv2D")
    assert conv.param("kernel_size").format((5, 3)) == "5x3"
    assert block_spec("MaxPool2D").param("stride").format(None) == "same as pool size"
    assert block_spec("Output").param("activation").format("sigmoid").startswith("Sigmoid + binary")


def test_output_maps_to_softmax_or_sigmoid():
    out = block_spec("Output")
    assert out.to_engine({"activation": "softmax"}) == ("Softmax", {})
    assert out.to_engine({"activation": "sigmoid"}) == ("Sigmoid", {})


def test_unknown_block_type():
    with pytest.raises(ParamError, match="unknown block type 'Conv1D' \\(known: Input, Conv2D"):
        block_spec("Conv1D")


def test_absurd_values_are_refused_with_a_short_message():
    """An int too long to print (over 4,300 digits) or a deep list is a ParamError whose
    message stays short, not Python's ValueError from formatting the message."""
    from cnnstudio.model.errors import ParamError
    from cnnstudio.model.registry import block_spec

    spec = block_spec("Conv2D")
    for params in ({"filters": 10**5000}, {"filters": -(10**5000)}, {"use_bias": [[[[]]]]}):
        with pytest.raises(ParamError) as info:
            spec.validate_params(params)
        assert len(str(info.value)) < 200


@pytest.mark.parametrize(
    ("block", "params", "words"),
    [
        ("Conv2D", {"filters": 6, "kernel_size": 5, "padding": 2}, "6 filters 5x5 pad 2"),
        ("Conv2D", {"padding": "valid", "stride": 2}, "8 filters 3x3 stride 2 pad valid"),
        ("MaxPool2D", {"stride": (1, 1)}, "max 2x2 stride 1"),
        ("AvgPool2D", {"pool_size": (3, 3), "stride": (3, 3)}, "avg 3x3"),
        ("Input", {"channels": 3, "height": 32, "width": 30}, "image 3@32x30"),
        ("Dense", {"units": 10}, "10 units"),
        ("Dropout", {"rate": 0.25}, "rate 0.25"),
        ("Output", {}, "softmax + cross-entropy"),
        ("Output", {"activation": "sigmoid"}, "sigmoid + BCE"),
        ("ReLU", {}, "max(0, x)"),
        ("GlobalAvgPool2D", {}, "each map → its mean"),
        ("GlobalMaxPool2D", {}, "each map → its max"),
    ],
)
def test_a_block_summary_is_its_engine_layers_own(block, params, words):
    spec = block_spec(block)
    assert spec.summary(spec.validate_params(params)) == words


def test_parameter_counts_are_the_engine_layers():
    """The canvas shows the count the engine layer gives (one formula, in the engine)."""
    from cnnstudio.model import Graph

    g = Graph.from_architecture(
        {
            "format": "cnnstudio-architecture",
            "version": 1,
            "nodes": [
                {"id": "in", "type": "Input", "config": {"shape": [1, 28, 28]}, "inputs": []},
                {
                    "id": "c",
                    "type": "Conv2D",
                    "config": {"filters": 6, "kernel_size": 5},
                    "inputs": ["in"],
                },
                {"id": "bn", "type": "BatchNorm", "config": {}, "inputs": ["c"]},
            ],
        }
    )
    assert g.info("c").params == 6 * 25 + 6
    assert g.info("bn").params == 12  # scale and shift per channel, not the running stats


@pytest.mark.parametrize("block", ["GlobalAvgPool2D", "GlobalMaxPool2D"])
def test_a_global_pooling_block_gives_a_vector_a_dense_block_can_take(block):
    """Any map size becomes one number per channel: the canvas shows "C" and 0
    parameters, a Dense block follows without Flatten, and a Flatten there is flagged."""
    from cnnstudio.model import Graph
    from cnnstudio.model.architecture import graph_to_architecture

    def graph(shape, after):
        nodes = [
            {"id": "in", "type": "Input", "config": {"shape": shape}, "inputs": []},
            {"id": "c", "type": "Conv2D", "config": {"filters": 16}, "inputs": ["in"]},
            {"id": "g", "type": block, "config": {}, "inputs": ["c"]},
            *after,
        ]
        return Graph.from_architecture(
            {"format": "cnnstudio-architecture", "version": 1, "nodes": nodes}
        )

    dense = [
        {"id": "fc", "type": "Dense", "config": {"units": 10}, "inputs": ["g"]},
        {"id": "out", "type": "Softmax", "config": {}, "inputs": ["fc"]},
    ]
    for shape in ([3, 32, 32], [3, 9, 13]):
        g = graph(shape, dense)
        info = g.info("g")
        assert info.output_shape == (16,) and info.shape_text == "16"
        assert info.params == 0 and not info.errors
        assert g.info("fc").params == 16 * 10 + 10 and not g.info("fc").errors
        assert graph_to_architecture(g)["nodes"][2]["type"] == block

    flat = [{"id": "f", "type": "Flatten", "config": {}, "inputs": ["g"]}]
    assert "already a vector" in " ".join(graph([3, 8, 8], flat).info("f").warnings)


@pytest.mark.parametrize("block", ["GlobalAvgPool2D", "GlobalMaxPool2D"])
def test_a_global_pooling_block_after_flatten_says_where_it_belongs(block):
    from cnnstudio.model import Graph

    g = Graph.from_architecture(
        {
            "format": "cnnstudio-architecture",
            "version": 1,
            "nodes": [
                {"id": "in", "type": "Input", "config": {"shape": [1, 6, 6]}, "inputs": []},
                {"id": "f", "type": "Flatten", "config": {}, "inputs": ["in"]},
                {"id": "g", "type": block, "config": {}, "inputs": ["f"]},
            ],
        }
    )
    error = g.info("g").error
    assert error is not None and "gets a vector of 36" in error and "before Flatten" in error
