"""Building a network from an untrusted architecture: time linear in its size, memory
bounded before anything is allocated, and every absurd config value refused up front."""

from __future__ import annotations

import copy
import time
import tracemalloc

import numpy as np
import pytest

from cnnstudio.engine import EngineError, Network, ShapeError
from cnnstudio.engine.layers import LAYER_TYPES, layer_from_config
from cnnstudio.engine.shapes import MAX_VALUES_PER_IMAGE, MAX_WEIGHTS
from tests.timing import best_seconds


def node(nid, type_, inputs, **config):
    return {"id": nid, "type": type_, "config": config, "inputs": inputs}


def arch(*nodes):
    return {"format": "cnnstudio-architecture", "version": 1, "nodes": list(nodes)}


def relu_chain(n):
    nodes = [node("in", "Input", [], shape=[4])]
    nodes += [node(f"r{k}", "ReLU", [f"r{k - 1}" if k else "in"]) for k in range(n)]
    nodes += [node("fc", "Dense", [f"r{n - 1}"], units=3), node("out", "Softmax", ["fc"])]
    return arch(*nodes)


# -- time -------------------------------------------------------------------------------
def test_a_long_chain_builds_in_linear_time():
    # Placing one node per pass over the remaining nodes took 230 s for 30,000 layers.
    small = best_seconds(Network.from_architecture, relu_chain(5_000))
    large = best_seconds(Network.from_architecture, relu_chain(20_000))
    assert large / small < 8, f"4x the layers took {large / small:.1f}x the time (quadratic: 16x)"
    start = time.perf_counter()
    net = Network.from_architecture(relu_chain(30_000))
    assert time.perf_counter() - start < 20
    assert len(net.layers) == 30_003 and net.layers[-2].name == "fc"
    assert net.predict(np.ones((2, 4), np.float32)).shape == (2,)


def test_a_long_chain_of_layers_with_default_names_builds_in_linear_time():
    from cnnstudio.engine import Dense, ReLU

    def build(n):
        return Network([ReLU(name=f"r{k}") for k in range(n)] + [Dense(3)], input_shape=(4,))

    small, large = best_seconds(build, 5_000), best_seconds(build, 20_000)
    assert large / small < 8, f"4x the layers took {large / small:.1f}x the time (quadratic: 16x)"


def test_build_order_and_weights_do_not_depend_on_how_the_order_is_found():
    # Nodes listed out of order: the order is by depth, then by listing; weights follow it.
    nodes = [
        node("fc", "Dense", ["b2"], units=3),
        node("b2", "Add", ["a1", "b1"]),
        node("b1", "Dense", ["in"], units=5),
        node("a1", "Dense", ["in"], units=5),
        node("in", "Input", [], shape=[4]),
    ]
    net = Network.from_architecture(arch(*nodes), seed=5)
    assert list(net.nodes) == ["in", "b1", "a1", "b2", "fc"]
    again = Network.from_architecture(arch(*reversed(nodes)), seed=5)
    assert list(again.nodes) == ["in", "a1", "b1", "b2", "fc"]
    # Each node draws from the generator of its place in the order.
    np.testing.assert_array_equal(net.get_weights()["b1.w"], again.get_weights()["a1.w"])


def test_a_cycle_in_a_huge_graph_gives_a_short_message():
    a = relu_chain(5_000)
    a["nodes"][1]["inputs"] = ["r4999"]  # r0 <- r4999: everything after the Input loops
    with pytest.raises(EngineError, match="cycle") as err:
        Network.from_architecture(a)
    assert "and 4992 more" in str(err.value) and len(str(err.value)) < 300


# -- memory -----------------------------------------------------------------------------
def _peak_while(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize(
    ("nodes", "words"),
    [
        # 1x10000x10000 into a Dense: 3 x 10^8 weights (2.3 GB drawn before this check).
        (
            [
                node("in", "Input", [], shape=[1, 10000, 10000]),
                node("flat", "Flatten", ["in"]),
                node("fc", "Dense", ["flat"], units=3),
                node("out", "Softmax", ["fc"]),
            ],
            ["300,000,003 weights", "300,000,000, in fc.w", f"{MAX_WEIGHTS:,}"],
        ),
        # A 10000x10000 kernel: 10^8 weights.
        (
            [
                node("in", "Input", [], shape=[1, 10000, 10000]),
                node("conv", "Conv2D", ["in"], filters=1, kernel_size=10000),
                node("flat", "Flatten", ["conv"]),
                node("out", "Softmax", ["flat"]),
            ],
            ["100,000,001 weights", "in conv.w"],
        ),
        # No weights to speak of, but 4 x 4096 x 4096 values per image (256 MB) at the Input
        # and as many again after the ReLU.
        (
            [
                node("in", "Input", [], shape=[4, 4096, 4096]),
                node("relu", "ReLU", ["in"]),
                node("pool", "AvgPool2D", ["relu"], pool_size=64),
                node("flat", "Flatten", ["pool"]),
                node("fc", "Dense", ["flat"], units=2),
            ],
            ["values per image", f"{MAX_VALUES_PER_IMAGE:,}"],
        ),
    ],
)
def test_a_network_over_the_size_limits_is_refused_before_allocating(nodes, words):
    def build():
        with pytest.raises(EngineError) as err:
            Network.from_architecture(arch(*nodes))
        for word in words:
            assert word in str(err.value)
        with pytest.raises(EngineError):
            Network.weight_shapes_of(arch(*nodes))

    assert _peak_while(build) < 16 * 2**20


def test_weight_shapes_are_found_without_allocating():
    a = arch(
        node("in", "Input", [], shape=[3, 1024, 1024]),
        node("conv", "Conv2D", ["in"], filters=4, kernel_size=5, stride=4),
        node("bn", "BatchNorm", ["conv"]),
        node("act", "PReLU", ["bn"]),
        node("flat", "Flatten", ["act"]),
        node("fc", "Dense", ["flat"], units=30),
    )
    shapes = {}
    peak = _peak_while(lambda: shapes.update(Network.weight_shapes_of(a)))
    assert peak < 2 * 2**20  # the network itself holds 8 M floats (32 MB)
    assert shapes == {
        "conv.w": (4, 3, 5, 5),
        "conv.b": (4,),
        "bn.gamma": (4,),
        "bn.beta": (4,),
        "bn.running_mean": (4,),
        "bn.running_var": (4,),
        "act.alpha": (4,),
        "fc.w": (30, 4 * 255 * 255),
        "fc.b": (30,),
    }


@pytest.mark.parametrize(
    ("type_", "config", "input_shape"),
    [
        ("Dense", {"units": 7}, (5,)),
        ("Dense", {"units": 7, "use_bias": False}, (5,)),
        ("Conv2D", {"filters": 3, "kernel_size": [2, 3]}, (2, 6, 6)),
        ("Conv2D", {"filters": 3, "kernel_size": 1, "use_bias": False}, (2, 6, 6)),
        ("BatchNorm", {}, (3, 4, 4)),
        ("BatchNorm", {}, (6,)),
        ("PReLU", {}, (3, 4, 4)),
        ("ReLU", {}, (3, 4, 4)),
        ("MaxPool2D", {}, (3, 4, 4)),
        ("Flatten", {}, (3, 4, 4)),
        ("Dropout", {}, (3, 4, 4)),
    ],
)
def test_weight_shapes_are_what_build_creates(type_, config, input_shape):
    layer = layer_from_config(type_, config, name="x")
    expected = layer.weight_shapes(input_shape)
    layer.build(input_shape, np.random.default_rng(0))
    assert expected == {k: v.shape for k, v in {**layer.params, **layer.state}.items()}


# -- absurd config values ---------------------------------------------------------------
_SIZES = [2**63, 2**31, -1, 0, True, 1.5, 3.0, "3", None, [2], 10**5000]
_FLAGS = ["no", 2, 1, 0, [], None, "true"]
_NUMBERS = [float("nan"), float("inf"), 10**400, "0.5", None, True]

_CASES = (
    [("Dense", {"units": v}, "units") for v in _SIZES]
    + [("Conv2D", {"filters": v, "kernel_size": 3}, "filters") for v in _SIZES]
    + [("Conv2D", {"filters": 2, "kernel_size": v}, "kernel_size") for v in _SIZES]
    + [("Conv2D", {"filters": 2, "kernel_size": [3, 2**63]}, "kernel_size")]
    + [("Conv2D", {"filters": 2, "kernel_size": 3, "stride": 2**63}, "stride")]
    + [("Conv2D", {"filters": 2, "kernel_size": 3, "padding": [2**63, 0]}, "padding")]
    + [("Conv2D", {"filters": 2, "kernel_size": 3, "padding": -(2**70)}, "padding")]
    + [("MaxPool2D", {"pool_size": 2**63}, "pool_size")]
    + [("AvgPool2D", {"stride": [1, 10**5000]}, "stride")]
    + [("Input", {"shape": [1, 2**63, 2]}, "shape"), ("Input", {"shape": [1, True, 2]}, "shape")]
    + [("Dense", {"units": 3, "use_bias": v}, "use_bias") for v in _FLAGS]
    + [("Conv2D", {"filters": 2, "kernel_size": 3, "use_bias": v}, "use_bias") for v in _FLAGS]
    + [
        ("Conv2D", {"filters": 2, "kernel_size": 3, "flip_kernel": v}, "flip_kernel")
        for v in _FLAGS
    ]
    + [("Dropout", {"rate": v}, "rate") for v in _NUMBERS]
    + [("LeakyReLU", {"alpha": v}, "alpha") for v in _NUMBERS]
    + [("PReLU", {"init": v}, "init") for v in _NUMBERS]
    + [("BatchNorm", {"momentum": v}, "momentum") for v in _NUMBERS]
    + [("BatchNorm", {"eps": v}, "eps") for v in _NUMBERS]
    + [("Dense", {"units": 3, "init": {"name": "normal", "std": v}}, "std") for v in _NUMBERS]
    + [("Dense", {"units": 3, "init": {"name": "uniform", "low": -1e308, "high": 1e308}}, "low")]
)


@pytest.mark.parametrize(("type_", "config", "field"), _CASES)
def test_absurd_config_values_are_engine_errors_naming_layer_and_field(type_, config, field):
    with pytest.raises(EngineError) as err:
        layer_from_config(type_, config, name="bad1")
    message = str(err.value)
    assert message.startswith("bad1: ") and field in message
    assert len(message) < 300  # a 5000-digit number is described, not printed


@pytest.mark.parametrize(("type_", "config", "field"), _CASES[::5])
def test_absurd_config_values_in_an_architecture_are_refused_at_validation(type_, config, field):
    # Nothing reaches NumPy: no ValueError or OverflowError from inside it, and no
    # allocation (the layer sits in front of a huge Dense that would be drawn first).
    a = arch(
        node("in", "Input", [], shape=[1, 8, 8]),
        node("flat", "Flatten", ["in"]),
        node("big", "Dense", ["flat"], units=10**6),
        node("bad1", type_, ["big"], **config),
    )
    with pytest.raises(EngineError, match=f"bad1.*{field}"):
        Network.from_architecture(copy.deepcopy(a))


def test_real_booleans_and_sizes_still_work():
    net = Network.from_architecture(
        arch(
            node("in", "Input", [], shape=[np.int64(1), 6, 6]),
            node("c", "Conv2D", ["in"], filters=2, kernel_size=[3, 3], use_bias=False),
            node("flat", "Flatten", ["c"]),
            node("fc", "Dense", ["flat"], units=3, init={"name": "uniform", "low": -2, "high": 2}),
        )
    )
    assert "c.b" not in net.get_weights() and net.output_shape == (3,)
    with pytest.raises(ShapeError, match="units"):
        layer_from_config("Dense", {"units": 0}, name="fc")


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
def test_a_bad_seed_is_an_engine_error(seed):
    with pytest.raises(EngineError, match="seed"):
        Network.from_architecture(relu_chain(2), seed=seed)


def test_every_layer_type_is_covered_by_the_absurd_value_cases():
    configurable = {
        t for t, cls in LAYER_TYPES.items() if cls.__init__ is not LAYER_TYPES["ReLU"].__init__
    }
    assert configurable - {"Add", "Concatenate"} <= {c[0] for c in _CASES}


@pytest.mark.parametrize(
    "config", [{"units": 3, "extra": 10**5000}, {"units": 3, "extra": list(range(10**5))}]
)
def test_an_unknown_keyword_with_an_absurd_value_is_a_short_engine_error(config):
    with pytest.raises(EngineError, match="bad configuration") as err:
        layer_from_config("Dense", config, name="fc")
    assert "extra" in str(err.value) and len(str(err.value)) < 300
