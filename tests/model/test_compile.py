"""Graph -> architecture dict -> engine Network: shapes, parameters and training agree."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnstudio.engine.losses import loss_for
from cnnstudio.model import Graph, GraphError, compile_network, list_presets, load_preset
from cnnstudio.model.errors import ArchitectureFileError, ParamError
from cnnstudio.model.graph import BLOCK_HEIGHT, BLOCK_WIDTH

PRESET_KEYS = [p.key for p in list_presets()]


def test_every_named_architecture_has_a_preset():
    assert set(PRESET_KEYS) == {
        "mlp",
        "lenet5",
        "lenet5_rgb",
        "alexnet_mini",
        "vgg_mini",
        "resnet_mini",
        "densenet_mini",
        "vgg_photo",
        "resnet_photo",
    }
    for info in list_presets():
        assert info.name and len(info.description) > 80
        assert info.input_shape in ((1, 28, 28), (3, 32, 32))


@pytest.mark.parametrize("key", PRESET_KEYS)
def test_preset_is_valid_without_warnings_and_neatly_placed(key):
    g = load_preset(key)
    assert g.inference.is_valid, g.inference.problems
    assert g.inference.warnings == []
    boxes = [b.position for b in g.blocks.values()]
    for i, (x1, y1) in enumerate(boxes):
        for x2, y2 in boxes[i + 1 :]:
            assert abs(x1 - x2) >= BLOCK_WIDTH or abs(y1 - y2) >= BLOCK_HEIGHT
    # top to bottom: every link points downwards
    for link in g.links:
        assert g.block(link.target).position[1] > g.block(link.source).position[1]


@pytest.mark.parametrize("key", PRESET_KEYS)
def test_compiled_network_matches_inferred_shapes_and_parameters(key):
    g = load_preset(key)
    net = compile_network(g, seed=1)
    summaries = {s["name"]: s for s in net.layer_summaries()}
    assert set(summaries) == set(g.blocks)
    for bid in g.blocks:
        assert summaries[bid]["output_shape"] == g.info(bid).output_shape, bid
        assert summaries[bid]["params"] == g.info(bid).params, bid
    assert net.parameter_count() == g.inference.total_params


@pytest.mark.parametrize("key", PRESET_KEYS)
def test_engine_config_is_what_the_graph_wrote(key):
    g = load_preset(key)
    ours = {n["id"]: (n["type"], n["config"], n["inputs"]) for n in g.to_architecture()["nodes"]}
    theirs = compile_network(g).to_architecture()["nodes"]
    assert {n["id"]: (n["type"], n["config"], n["inputs"]) for n in theirs} == ours


@pytest.mark.parametrize("key", PRESET_KEYS)
def test_preset_trains_a_step_on_a_random_batch(key):
    g = load_preset(key)
    net = compile_network(g, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, *net.input_shape)).astype(np.float32)
    y = np.array([0, 1, 2, 3])
    logits = net.forward(x, training=True)
    assert logits.shape == (4, 10)
    loss, dlogits = loss_for(net)(logits, y)
    assert np.isfinite(loss)
    net.backward(dlogits)
    grads = [grad for _, _, grad in net.parameters()]
    assert grads and all(np.isfinite(gr).all() for gr in grads)
    assert any(np.abs(gr).sum() > 0 for gr in grads)


@pytest.mark.parametrize("key", PRESET_KEYS)
def test_architecture_round_trip_is_exact(key):
    g = load_preset(key)
    arch = g.to_architecture()
    text = json.dumps(arch)
    again = Graph.from_architecture(json.loads(text))
    assert again.to_architecture() == arch
    assert again.description == g.description


def test_sigmoid_output_round_trips_and_compiles():
    g = Graph("binary")
    g.set_input_shape((1, 8, 8))
    g.add_block("Input")
    for t, p in [("Flatten", None), ("Dense", {"units": 1}), ("Output", {"activation": "sigmoid"})]:
        g.append_block(t, p)
    arch = g.to_architecture()
    assert arch["nodes"][-1]["type"] == "Sigmoid"
    assert Graph.from_architecture(arch).to_architecture() == arch
    assert compile_network(g).output_activation == "sigmoid"
    # a Sigmoid *activation* at the end stays an activation after a round trip
    g.remove_block("output1")
    g.append_block("Sigmoid")
    arch = g.to_architecture()
    assert arch["nodes"][-1]["block"] == "Sigmoid"
    assert Graph.from_architecture(arch).block("sigmoid1").type == "Sigmoid"


def test_foreign_architecture_without_positions_is_laid_out():
    arch = {
        "format": "cnnstudio-architecture",
        "version": 1,
        "name": "LeNet-5",
        "nodes": [
            {"id": "input", "type": "Input", "config": {"shape": [1, 28, 28]}, "inputs": []},
            {
                "id": "conv1",
                "type": "Conv2D",
                "config": {
                    "filters": 6,
                    "kernel_size": [5, 5],
                    "stride": [1, 1],
                    "padding": [2, 2],
                },
                "inputs": ["input"],
            },
            {"id": "relu1", "type": "ReLU", "config": {}, "inputs": ["conv1"]},
            {
                "id": "pool1",
                "type": "MaxPool2D",
                "config": {"pool_size": [2, 2]},
                "inputs": ["relu1"],
            },
            {"id": "flat", "type": "Flatten", "config": {}, "inputs": ["pool1"]},
            {"id": "fc", "type": "Dense", "config": {"units": 10}, "inputs": ["flat"]},
            {"id": "out", "type": "Softmax", "config": {}, "inputs": ["fc"]},
        ],
    }  # fmt: skip  (the example of docs/file-formats.md)
    g = Graph.from_architecture(arch)
    assert g.block("out").type == "Output"
    assert g.info("pool1").shape_text == "6@14x14"
    assert g.inference.is_valid
    ys = [b.position[1] for b in g.blocks.values()]
    assert ys == sorted(ys) and len(set(ys)) == len(ys)


def test_compile_refuses_an_invalid_graph_with_the_reason():
    g = Graph()
    g.add_block("Input")
    g.append_block("Dense")
    with pytest.raises(GraphError, match="cannot be built yet: Dense 1: needs a vector"):
        compile_network(g)


def test_every_edit_then_undo_leaves_the_preset_unchanged():
    g = load_preset("resnet_mini")
    before = g.to_architecture()
    link = g.inputs_of("add1")[1]
    new = g.insert_on_link(link, "Dropout")
    g.remove_block(new.id)
    g.connect(link.source, link.target, link.index)
    removed = g.remove_blocks(["bn2", "add2", "conv6"])
    g.restore(removed)
    old = g.block("conv1").params["filters"]
    g.set_param("conv1", "filters", 3)
    g.set_param("conv1", "filters", old)
    moved = g.auto_arrange()
    g.move_blocks(moved)
    assert g.to_architecture() == before


def _deep(n: int) -> list:
    value: list = [0]
    for _ in range(n):
        value = [value]
    return value


def _edit(path: tuple, value) -> dict:
    """load_preset("lenet5")'s architecture with the item at ``path`` set to ``value``."""
    arch = load_preset("lenet5").to_architecture()
    conv = next(n for n in arch["nodes"] if n["type"] == "Conv2D")
    where = {"arch": arch, "conv": conv, "config": conv["config"]}[path[0]]
    for key in path[1:-1]:
        where = where[key]
    where[path[-1]] = value
    return arch


_HUGE = 10**4301  # 4,302 digits: str() of it raises ValueError


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        (("config", "filters"), _HUGE, ["filters", "about 4302 digits"]),
        (("config", "kernel_size"), [3, _HUGE], ["kernel_size", "about 4302 digits"]),
        (("config", "stride"), _deep(5000), ["stride", "[[[[["]),
        (("config", "padding"), {"a": _deep(5000)}, ["padding"]),
        (("conv", "config"), _deep(5000), ["config must be an object"]),
        (("arch", "name"), _HUGE, ["name must be text"]),
        (("arch", "name"), _deep(5000), ["name must be text"]),
        (("arch", "version"), _HUGE + 1, ["newer", "about 4302 digits"]),
        (("conv", "ui"), {"x": _HUGE, "y": 0}, None),  # an unusable position: laid out afresh
    ],
    ids=[
        "huge-filters",
        "huge-in-pair",
        "deep-stride",
        "deep-in-object",
        "deep-config",
        "huge-name",
        "deep-name",
        "huge-version",
        "huge-position",
    ],
)
def test_huge_integers_and_deep_nesting_are_architecture_file_errors(path, value, words):
    # Formatting the value for the message raised ValueError or RecursionError.
    arch = _edit(path, value)
    if words is None:
        assert Graph.from_architecture(arch).inference.is_valid
        return
    with pytest.raises(ArchitectureFileError) as err:
        Graph.from_architecture(arch)
    conv_id = next(n["id"] for n in arch["nodes"] if n["type"] == "Conv2D")
    if path[0] != "arch":
        assert f"node {conv_id}" in str(err.value)
    for word in words:
        assert word in str(err.value).replace("'", "")
    assert len(str(err.value)) < 300


def test_graph_edits_with_unprintable_values_are_graph_errors():
    g = load_preset("lenet5")
    bid = next(iter(g.blocks))
    with pytest.raises(GraphError, match="finite numbers"):
        g.move_block(bid, (_HUGE, 0))
    with pytest.raises(GraphError, match="about 4302 digits"):
        g.block(_HUGE)  # type: ignore[arg-type]
    with pytest.raises(ParamError, match="about 4302 digits"):
        g.set_num_classes(-_HUGE)
