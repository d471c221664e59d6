"""Global average and max pooling: one number per channel for an input of any size.

Their gradients are checked with every other layer's (test_reference.py's CASES: central
differences in float64, fast == reference), and against PyTorch's adaptive pooling in
test_torch_parity.py. Here: what a network built with them does.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.engine import EngineError, Network
from cnnstudio.engine.layers import GlobalAvgPool2D, GlobalMaxPool2D, layer_from_config
from cnnstudio.engine.optimizers import Adam
from cnnstudio.engine.reference import reference_layer

KINDS = ["GlobalAvgPool2D", "GlobalMaxPool2D"]


def _arch(pool: str, shape: list[int], before_pool: str | None = None) -> dict:
    nodes = [
        {"id": "in", "type": "Input", "config": {"shape": shape}, "inputs": []},
        {
            "id": "conv",
            "type": "Conv2D",
            "config": {"filters": 8, "kernel_size": 3, "padding": 1},
            "inputs": ["in"],
        },
        {"id": "relu", "type": "ReLU", "config": {}, "inputs": ["conv"]},
    ]
    last = "relu"
    if before_pool:
        nodes.append({"id": "before", "type": before_pool, "config": {}, "inputs": [last]})
        last = "before"
    nodes += [
        {"id": "pool", "type": pool, "config": {}, "inputs": [last]},
        {"id": "fc", "type": "Dense", "config": {"units": 3}, "inputs": ["pool"]},
        {"id": "out", "type": "Softmax", "config": {}, "inputs": ["fc"]},
    ]
    return {"nodes": nodes}


@pytest.mark.parametrize("pool", KINDS)
def test_any_image_size_gives_one_number_per_channel_and_the_same_weights(pool):
    # A Dense layer follows directly (no Flatten), and its size does not depend on the
    # image's: the same network takes 32x32 photos and 9x13 crops.
    nets = [Network.from_architecture(_arch(pool, s), seed=1) for s in ([3, 32, 32], [3, 9, 13])]
    assert [net.shapes["pool"] for net in nets] == [(8,), (8,)]
    assert nets[0].parameter_count() == nets[1].parameter_count() == 3 * 9 * 8 + 8 + 8 * 3 + 3
    for net, (h, w) in zip(nets, [(32, 32), (9, 13)], strict=True):
        x = np.random.default_rng(2).random((4, 3, h, w), dtype=np.float32)
        acts = net.activations(x)
        maps = acts["relu"]
        expected = maps.mean(axis=(2, 3)) if pool == "GlobalAvgPool2D" else maps.max(axis=(2, 3))
        np.testing.assert_allclose(acts["pool"], expected, rtol=1e-5, atol=1e-6)
        assert net.predict_proba(x).shape == (4, 3)


@pytest.mark.parametrize("pool", KINDS)
def test_global_pooling_after_flatten_is_refused_naming_the_layer(pool):
    with pytest.raises(EngineError, match=r"pool: needs feature maps .* a vector of 512"):
        Network.from_architecture(_arch(pool, [2, 8, 8], before_pool="Flatten"))


def test_layers_have_no_settings_and_no_parameters():
    for cls in (GlobalAvgPool2D, GlobalMaxPool2D):
        layer = layer_from_config(cls.type_name, {}, name="g")
        assert layer.config() == {} and layer.parameter_count_for((64, 8, 8)) == 0
        with pytest.raises(EngineError, match="bad configuration"):
            layer_from_config(cls.type_name, {"pool_size": 2}, name="g")


@pytest.mark.parametrize("n", [1, 3])
def test_max_ties_send_the_gradient_to_the_first_maximum_only(n):
    # A blank map (every value the maximum) and a map with its maximum twice: only the
    # first maximum in row-major order gets the gradient, in both tiers, as in MaxPool2D.
    x = np.zeros((n, 2, 3, 4), np.float32)
    x[:, 1, 1, 2] = x[:, 1, 2, 0] = 5.0
    fast = GlobalMaxPool2D(name="gmp")
    fast.build((2, 3, 4))
    ref = reference_layer(fast, copy=True)
    dout = np.arange(1, 2 * n + 1, dtype=np.float32).reshape(n, 2)
    np.testing.assert_array_equal(fast.forward(x, training=True), [[0.0, 5.0]] * n)
    dx = fast.backward(dout)
    expected = np.zeros_like(x)
    expected[:, 0, 0, 0] = dout[:, 0]
    expected[:, 1, 1, 2] = dout[:, 1]
    np.testing.assert_array_equal(dx, expected)
    ref.forward(x, training=True)
    np.testing.assert_array_equal(ref.backward(dout), expected)


def test_average_gradient_is_spread_evenly_over_the_map():
    fast = GlobalAvgPool2D(name="gap")
    fast.build((2, 3, 5))
    fast.forward(np.random.default_rng(0).random((2, 2, 3, 5), dtype=np.float32), training=True)
    dout = np.array([[15.0, 30.0], [-15.0, 0.0]], np.float32)
    dx = fast.backward(dout)
    np.testing.assert_allclose(dx, np.broadcast_to(dout[:, :, None, None] / 15, dx.shape))


@pytest.mark.parametrize("pool", KINDS)
def test_a_network_trains_alike_on_both_tiers(pool):
    fast = Network.from_architecture(_arch(pool, [3, 7, 6]), seed=5)
    readable = Network.from_architecture(_arch(pool, [3, 7, 6]), seed=5)
    readable.set_kernels("reference")
    rng = np.random.default_rng(6)
    x, y = rng.random((5, 3, 7, 6), dtype=np.float32), rng.integers(0, 3, 5)
    loss, _ = fast.train_step(x, y)
    loss_ref, _ = readable.train_step(x, y)
    assert loss == pytest.approx(loss_ref, rel=1e-5)
    for (key, _, g1), (_, _, g2) in zip(fast.parameters(), readable.parameters(), strict=True):
        np.testing.assert_allclose(g2, g1, rtol=2e-4, atol=2e-5, err_msg=key)


def test_a_global_max_pooling_network_learns_where_ever_the_pattern_is():
    # Class 1 images hold a bright 2x2 square somewhere, class 0 images none: pooling
    # the whole map finds it wherever it is.
    rng = np.random.default_rng(7)
    n = 64
    x = rng.random((n, 1, 10, 10), dtype=np.float32) * 0.2
    y = np.arange(n) % 2
    for i in np.flatnonzero(y):
        r, c = rng.integers(0, 9, 2)
        x[i, 0, r : r + 2, c : c + 2] = 1.0
    net = Network.from_architecture(_arch("GlobalMaxPool2D", [1, 10, 10]), seed=8)
    opt = Adam(lr=0.02)
    first = None
    for _ in range(60):
        loss, _ = net.train_step(x, y)
        first = loss if first is None else first
        opt.step(net.parameters())
    assert loss < first / 4
    assert (net.predict_proba(x).argmax(axis=1) == y).mean() >= 0.95
