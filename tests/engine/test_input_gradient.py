"""Network.input_gradient (the saliency map) against central differences at inference."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.engine.errors import EngineError, ShapeError
from cnnstudio.engine.network import Network
from tests.engine.naive import numeric_grad


def branchy_architecture() -> dict:
    def node(nid, kind, config, inputs):
        return {"id": nid, "type": kind, "config": config, "inputs": inputs}

    nodes = [
        node("input", "Input", {"shape": [2, 7, 6]}, []),
        node("conv", "Conv2D", {"filters": 3, "kernel_size": [3, 2], "padding": 1}, ["input"]),
        node("bn", "BatchNorm", {}, ["conv"]),
        node("act", "Tanh", {}, ["bn"]),
        node("conv2", "Conv2D", {"filters": 3, "kernel_size": 3, "padding": "same"}, ["act"]),
        node("add", "Add", {}, ["act", "conv2"]),
        node("pool", "AvgPool2D", {"pool_size": 2}, ["add"]),
        node("flat", "Flatten", {}, ["pool"]),
        node("drop", "Dropout", {"rate": 0.5}, ["flat"]),
        node("fc", "Dense", {"units": 4}, ["drop"]),
        node("out", "Softmax", {}, ["fc"]),
    ]
    return {"format": "cnnstudio-architecture", "version": 1, "nodes": nodes}


@pytest.fixture
def network():
    net = Network.from_architecture(branchy_architecture(), seed=3)
    rng = np.random.default_rng(0)
    # A few training-mode passes give BatchNorm non-trivial running statistics.
    for _ in range(3):
        net.forward(rng.normal(size=(8, 2, 7, 6)).astype(np.float32), training=True)
    return net


@pytest.mark.parametrize("klass", [0, 3])
def test_matches_central_differences_of_the_logit(network, klass):
    x = np.random.default_rng(1).normal(size=(2, 2, 7, 6)).astype(np.float32)
    grads_before = {k: g.copy() for k, _p, g in network.parameters()}
    analytic = network.input_gradient(x, klass)
    assert analytic.shape == x.shape

    def score() -> float:
        return float(network.forward(x, training=False)[:, klass].sum())

    numeric = numeric_grad(score, x, eps=1e-2)  # float32 inputs: a coarse step
    np.testing.assert_allclose(analytic, numeric, rtol=2e-2, atol=2e-3)
    # Saliency never disturbs training: parameter gradients are untouched.
    for key, _p, g in network.parameters():
        np.testing.assert_array_equal(g, grads_before[key])


def test_bad_class_and_shape_are_clear_errors(network):
    x = np.zeros((1, 2, 7, 6), np.float32)
    with pytest.raises(EngineError, match="class index 4 is out of range"):
        network.input_gradient(x, 4)
    with pytest.raises(ShapeError, match="input_gradient: expected input"):
        network.input_gradient(np.zeros((1, 1, 7, 6), np.float32), 0)
