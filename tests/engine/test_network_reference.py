"""``Network(kernels="reference")``: a whole network on the readable NCHW tier gives the
fast tier's numbers (same weights, float32 rounding), for training steps, predictions,
feature maps and saliency maps, and shares its arrays with it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cnnstudio.engine import (
    Conv2D,
    Dense,
    Dropout,
    EngineError,
    Flatten,
    MaxPool2D,
    Network,
    ReLU,
    Softmax,
)
from cnnstudio.engine import reference as ref
from cnnstudio.engine.optimizers import SGD

PRESETS = Path(__file__).resolve().parents[2] / "resources" / "presets"


def preset(name: str, kernels: str = "fast", seed: int = 4) -> Network:
    arch = json.loads((PRESETS / f"{name}.json").read_text(encoding="utf-8"))
    net = Network.from_architecture(arch, seed=seed)
    net.set_kernels(kernels)
    return net


def batch(n: int, shape, k: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, *shape), dtype=np.float32)
    x[x < 0.6] = 0.0  # blank backgrounds, as digits have: max-pool windows with ties
    return x, rng.integers(0, k, n)


def assert_close(a, b, what: str = "") -> None:
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5, err_msg=what)


def assert_same_state(fast: Network, readable: Network) -> None:
    for (key, p1, g1), (_, p2, g2) in zip(fast.parameters(), readable.parameters(), strict=True):
        assert_close(g2, g1, f"gradient {key}")
        assert_close(p2, p1, f"parameter {key}")
    for key, value in fast.get_weights().items():
        assert_close(readable.get_weights()[key], value, key)  # BatchNorm statistics too


@pytest.mark.parametrize(
    ("name", "graph"), [("lenet5", False), ("resnet_mini", True)], ids=["lenet5", "resnet"]
)
def test_training_and_predictions_match_the_fast_tier(name, graph):
    fast, readable = preset(name), preset(name, "reference")
    assert readable.kernels == "reference" and fast.kernels == "fast"
    assert any(len(srcs) > 1 for srcs in readable.inputs.values()) == graph  # Add nodes
    x, y = batch(24, fast.input_shape)
    opts = [SGD(0.05, momentum=0.9) for _ in "ab"]
    for step in range(3):
        loss1, z1 = fast.train_step(x[step:], y[step:])
        loss2, z2 = readable.train_step(x[step:], y[step:])
        assert loss2 == pytest.approx(loss1, rel=1e-4)
        assert_close(z2, z1, "logits")
        assert_same_state(fast, readable)
        for opt, net in zip(opts, (fast, readable), strict=True):
            opt.step(net.flat_parameters())
    assert_close(readable.predict_proba(x), fast.predict_proba(x), "probabilities")
    np.testing.assert_array_equal(readable.predict(x[:5]), fast.predict(x[:5]))
    acts1, acts2 = fast.activations(x[:3]), readable.activations(x[:3])
    assert list(acts2) == list(acts1)
    for nid, a in acts1.items():
        assert_close(acts2[nid], a, nid)
    assert_close(readable.input_gradient(x[:2], 3), fast.input_gradient(x[:2], 3), "saliency")


def test_the_reference_tier_runs_each_node_on_its_readable_layer(monkeypatch):
    # What a student stepping through a training step sees: every node's reference layer
    # forward in order, then backward in reverse; the fast layers are not called.
    net = preset("lenet5", "reference")
    calls: list[str] = []
    for cls in (ref.Conv2D, ref.ReLU, ref.MaxPool2D, ref.Flatten, ref.Dense):
        for method in ("forward", "backward"):
            real = getattr(cls, method)

            def spy(self, *args, _real=real, _method=method, **kwargs):
                calls.append(f"{_method} {self.name}")
                return _real(self, *args, **kwargs)

            monkeypatch.setattr(cls, method, spy)
    for layer in net.layers:
        monkeypatch.setattr(layer, "fwd", None)  # any fast-tier call would fail
        monkeypatch.setattr(layer, "bwd", None)
    net.train_step(*batch(4, net.input_shape))
    order = [nid for nid in net.nodes if nid != net.input_id and nid != net.output_id]
    assert calls == [f"forward {n}" for n in order] + [f"backward {n}" for n in reversed(order)]


def test_both_tiers_share_the_weights_and_switching_keeps_them():
    net = preset("lenet5")
    x, y = batch(8, net.input_shape)
    before = net.forward(x)
    net.set_kernels("reference")
    assert_close(net.forward(x), before, "same weights")
    net.train_step(x, y)
    SGD(0.1).step(net.flat_parameters())  # the optimizer holds the fast layers' arrays
    after = net.forward(x)
    net.set_kernels("fast")
    assert_close(net.forward(x), after, "the reference tier's update is the network's")
    assert not np.allclose(after, before)


def test_dropout_draws_the_same_masks_on_both_tiers():
    def make(kernels: str) -> Network:
        return Network(
            [Conv2D(4, 3), ReLU(), MaxPool2D(2), Flatten(), Dropout(0.5), Dense(10), Softmax()],
            input_shape=(1, 10, 10),
            seed=3,
            kernels=kernels,
        )

    fast, readable = make("fast"), make("reference")
    x, y = batch(6, (1, 10, 10))
    for _ in range(2):  # the generators advance alike
        loss1, _ = fast.train_step(x, y)
        loss2, _ = readable.train_step(x, y)
        assert loss2 == pytest.approx(loss1, rel=1e-5)
        assert_same_state(fast, readable)


def test_an_unknown_tier_is_refused_and_backward_needs_a_forward():
    with pytest.raises(EngineError, match="kernels must be 'fast' or 'reference', got 'slow'"):
        Network([Flatten(), Dense(2)], input_shape=(1, 2, 2), kernels="slow")
    net = Network([Flatten(), Dense(2)], input_shape=(1, 2, 2), kernels="reference")
    with pytest.raises(EngineError, match="before forward"):
        net.backward(np.zeros((1, 2), np.float32))
    with pytest.raises(EngineError, match="expected shape"):
        net.forward(np.zeros((1, 1, 3, 3), np.float32))
