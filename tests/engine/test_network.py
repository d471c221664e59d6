"""Network: chains and graphs, architecture round-trips, weights, activations, summary."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from cnnstudio.engine import (
    BatchNorm,
    Conv2D,
    Dense,
    EngineError,
    Flatten,
    MaxPool2D,
    Network,
    ReLU,
    ShapeError,
    Softmax,
    Tanh,
)
from tests.engine.naive import numeric_grad, rel_error, to_float64


def lenet(seed=0):
    return Network(
        [
            Conv2D(6, 5, padding=2), ReLU(), MaxPool2D(2),
            Conv2D(16, 5), ReLU(), MaxPool2D(2), Flatten(),
            Dense(120), ReLU(), Dense(84), ReLU(), Dense(10), Softmax(),
        ],
        input_shape=(1, 28, 28),
        seed=seed,
    )  # fmt: skip


def node(nid, type_, inputs, **config):
    return {"id": nid, "type": type_, "config": config, "inputs": inputs}


def residual_arch():
    return {
        "format": "cnnstudio-architecture",
        "version": 1,
        "name": "tiny-resnet",
        "nodes": [
            node("input", "Input", [], shape=[2, 6, 6]),
            node("conv1", "Conv2D", ["input"], filters=3, kernel_size=[3, 3], padding="same"),
            node("bn1", "BatchNorm", ["conv1"]),
            node("relu1", "ReLU", ["bn1"]),
            node("conv2", "Conv2D", ["relu1"], filters=3, kernel_size=[3, 2], padding="same"),
            node("skip", "Conv2D", ["input"], filters=3, kernel_size=[1, 1]),
            node("add", "Add", ["conv2", "skip"]),
            node("branch", "Conv2D", ["relu1"], filters=2, kernel_size=3, padding=1),
            node("cat", "Concatenate", ["add", "branch"]),
            node("pool", "AvgPool2D", ["cat"], pool_size=[2, 2]),
            node("flat", "Flatten", ["pool"]),
            node("drop", "Dropout", ["flat"], rate=0.2),
            node("fc", "Dense", ["drop"], units=4),
            node("out", "Softmax", ["fc"]),
        ],
    }


def test_lenet_chain_attributes_and_summary():
    net = lenet()
    assert net.input_shape == (1, 28, 28)
    assert net.output_shape == (10,) and net.n_logits == 10
    assert net.output_activation == "softmax"
    assert net.parameter_count() == 61706
    text = net.summary()
    assert "6@28x28" in text and "16@5x5" in text and "61,706" in text
    rows = net.layer_summaries()
    assert rows[1]["type"] == "Conv2D" and rows[1]["output_text"] == "6@28x28"
    assert rows[1]["params"] == 156
    assert len({r["name"] for r in rows}) == len(rows)


def test_forward_predict_and_probabilities():
    net = lenet()
    x = np.random.default_rng(0).random((5, 1, 28, 28))  # float64 in, float32 out
    logits = net.forward(x)
    assert logits.shape == (5, 10) and logits.dtype == np.float32
    p = net.predict_proba(x, batch_size=2)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(net.predict(x), logits.argmax(axis=1))
    assert net.predict(x).dtype == np.int64
    assert net.predict_proba(x[:0]).shape == (0, 10)


def test_forward_rejects_wrong_input():
    net = lenet()
    with pytest.raises(ShapeError, match=r"\(N, 1, 28, 28\).*\(2, 28, 28\)"):
        net.forward(np.zeros((2, 28, 28)))
    with pytest.raises(EngineError, match="before forward"):
        lenet().backward(np.zeros((1, 10)))
    net.forward(np.zeros((3, 1, 28, 28)), training=True)
    with pytest.raises(ShapeError, match=r"\(3, 10\)"):
        net.backward(np.zeros((3, 9)))


def test_same_seed_gives_bit_identical_weights():
    a, b, c = lenet(7).get_weights(), lenet(7).get_weights(), lenet(8).get_weights()
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv2d1.w"], c["conv2d1.w"])


def test_residual_concat_graph_builds_and_round_trips():
    arch = residual_arch()
    net = Network.from_architecture(arch, seed=1)
    assert next(iter(net.nodes)) == "input" and list(net.nodes)[-1] == "out"
    assert net.shapes["cat"] == (5, 6, 6) and net.n_logits == 4
    again = net.to_architecture()
    json.dumps(again)
    assert again == Network.from_architecture(again).to_architecture()
    assert {n["id"] for n in again["nodes"]} == {n["id"] for n in arch["nodes"]}
    twin = Network.from_architecture(again, seed=1)
    x = np.random.default_rng(0).normal(size=(3, 2, 6, 6))
    np.testing.assert_array_equal(twin.forward(x), net.forward(x))


def test_graph_gradients_match_central_differences():
    net = Network.from_architecture(residual_arch(), seed=2)
    for layer in net.layers:
        to_float64(layer)
    net._dtype = np.float64
    x = np.random.default_rng(1).normal(size=(4, 2, 6, 6))
    r = np.random.default_rng(2).normal(size=(4, 4))

    def loss():
        net.nodes["drop"].rng = np.random.default_rng(5)  # the same dropout mask every time
        return float(np.sum(net.forward(x, training=True) * r))

    loss()
    net.backward(r)
    analytic = {k: g.copy() for k, _, g in net.parameters()}
    for key, p, _ in net.parameters():
        err = rel_error(numeric_grad(loss, p), analytic[key])
        assert err < 1e-6, f"{key}: relative error {err:.1e}"


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda a: a["nodes"].append(node("conv1", "ReLU", ["fc"])), ["conv1", "duplicate"]),
        (lambda a: a["nodes"][3].update(inputs=["nowhere"]), ["relu1", "nowhere"]),
        (lambda a: a["nodes"][3].update(type="Swish"), ["relu1", "Swish"]),
        (lambda a: a["nodes"][1]["config"].update(size=3), ["conv1", "size"]),
        (lambda a: a["nodes"][6].update(inputs=["conv2"]), ["add", "two or more"]),
        (lambda a: a["nodes"][1].update(inputs=["relu1"]), ["cycle"]),
        (lambda a: a["nodes"].append(node("extra", "ReLU", ["fc"])), ["one output", "extra"]),
        (lambda a: a["nodes"][2].update(inputs=["conv1", "skip"]), ["bn1", "one input"]),
        (lambda a: a.update(version=99), ["newer", "99"]),
        (lambda a: a["nodes"].pop(0), ["Input"]),
    ],
)
def test_bad_architectures_name_the_problem(mutate, words):
    arch = copy.deepcopy(residual_arch())
    mutate(arch)
    with pytest.raises(EngineError) as err:
        Network.from_architecture(arch)
    for word in words:
        assert word in str(err.value)


def test_shape_errors_in_graph_name_the_layer():
    arch = residual_arch()
    arch["nodes"][5]["config"]["filters"] = 4  # skip no longer matches conv2
    with pytest.raises(ShapeError, match=r"add.*3@6x6.*4@6x6"):
        Network.from_architecture(arch)
    with pytest.raises(ShapeError, match="Flatten"):
        Network([Conv2D(2, 3)], input_shape=(1, 5, 5))


def test_get_set_weights_round_trip_and_validation():
    net = Network.from_architecture(residual_arch(), seed=3)
    weights = net.get_weights()
    assert "bn1.running_mean" in weights and "conv1.w" in weights
    other = Network.from_architecture(residual_arch(), seed=4)
    grads_before = [g for _, _, g in other.parameters()]
    params_before = [p for _, p, _ in other.parameters()]
    other.set_weights(weights)
    x = np.random.default_rng(0).normal(size=(2, 2, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(other.forward(x), net.forward(x))
    # In place: optimizers holding the arrays keep working.
    assert all(a is b for a, (_, b, _) in zip(params_before, other.parameters(), strict=True))
    assert all(a is b for a, (_, _, b) in zip(grads_before, other.parameters(), strict=True))

    bad = dict(weights, **{"conv1.w": np.zeros((3, 2, 2, 2), np.float32)})
    with pytest.raises(EngineError, match=r"conv1\.w.*\(3, 2, 2, 2\).*\(3, 2, 3, 3\)"):
        other.set_weights(bad)
    missing = {k: v for k, v in weights.items() if k != "fc.b"}
    with pytest.raises(EngineError, match=r"fc\.b"):
        other.set_weights(missing)
    with pytest.raises(EngineError, match=r"zzz\.w"):
        other.set_weights(dict(weights, **{"zzz.w": np.zeros(1, np.float32)}))
    with pytest.raises(EngineError, match=r"fc\.b.*int"):
        other.set_weights(dict(weights, **{"fc.b": np.zeros(4, np.int64)}))
    # Nothing changed by the failed calls.
    np.testing.assert_array_equal(other.forward(x), net.forward(x))


def test_activations_every_node_in_public_layout():
    net = lenet()
    acts = net.activations(np.zeros((1, 1, 28, 28), np.float32))
    assert list(acts) == list(net.nodes)
    assert acts["conv2d1"].shape == (1, 6, 28, 28)
    assert acts["maxpool2d2"].shape == (1, 16, 5, 5)
    assert acts["flatten1"].shape == (1, 400)
    np.testing.assert_allclose(acts["softmax1"].sum(), 1, rtol=1e-5)
    x = np.random.default_rng(0).random((3, 1, 28, 28))
    np.testing.assert_allclose(
        net.activations(x)["softmax1"], net.predict_proba(x), rtol=1e-5, atol=1e-7
    )


def test_sigmoid_output_gives_two_columns():
    arch = {
        "nodes": [
            node("in", "Input", [], shape=[4]),
            node("fc", "Dense", ["in"], units=1),
            node("out", "Sigmoid", ["fc"]),
        ]
    }
    net = Network.from_architecture(arch)
    assert net.output_activation == "sigmoid" and net.n_logits == 1
    x = np.random.default_rng(0).normal(size=(5, 4))
    p = net.predict_proba(x)
    assert p.shape == (5, 2)
    np.testing.assert_allclose(p[:, 1], 1 / (1 + np.exp(-net.forward(x)[:, 0])), rtol=1e-5)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)


def test_chain_without_softmax_treats_output_as_logits():
    net = Network([Flatten(), Dense(3)], input_shape=(1, 2, 2))
    assert net.output_activation == "softmax" and net.logits_id == net.output_id


def test_training_step_reduces_loss_on_a_fixed_batch():
    # A plain softmax cross-entropy + SGD loop: the network must be learnable end to end.
    rng = np.random.default_rng(0)
    net = Network(
        [Conv2D(4, 3, padding=1), BatchNorm(), ReLU(), MaxPool2D(2), Flatten(), Dense(3)],
        input_shape=(1, 8, 8),
    )
    x = rng.normal(size=(12, 1, 8, 8)).astype(np.float32)
    y = np.arange(12) % 3
    x[y == 1, :, :4] += 2
    x[y == 2, :, 4:] += 2

    def step():
        z = net.forward(x, training=True)
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        loss = -np.log(p[np.arange(12), y]).mean()
        p[np.arange(12), y] -= 1
        net.backward(p / 12)
        for _, param, grad in net.parameters():
            param -= 0.1 * grad
        return loss

    first = step()
    for _ in range(30):
        last = step()
    assert last < 0.5 * first
    assert (net.predict(x) == y).mean() == 1.0


def test_fused_steps_give_each_batch_its_own_gradients():
    # The fused Conv -> ReLU -> MaxPool step keeps its arrays (and views of them) from one
    # training step to the next: a second batch must get exactly the gradients a fresh
    # network with the same weights computes for it.
    def make():
        return Network(
            # Tanh: a pooling that is not fused, whose input is a new array every step.
            [Conv2D(4, 3, padding=1), Tanh(), MaxPool2D(2), Conv2D(5, 3), ReLU(),
             MaxPool2D(2), Flatten(), Dense(3)],
            input_shape=(2, 12, 12),
            seed=6,
        )  # fmt: skip

    rng = np.random.default_rng(7)
    used, fresh = make(), make()
    fused = [type(step).__name__ for _, _, step, _ in used._fast.steps]
    assert fused.count("ConvReluMaxPool") == 1 and "MaxPool2D" in fused
    for layer in used.layers:
        if "b" in layer.params:
            layer.params["b"][...] = rng.normal(size=layer.params["b"].shape)
    fresh.set_weights(used.get_weights())
    y = rng.integers(0, 3, 8)
    used.train_step(rng.normal(size=(8, 2, 12, 12)).astype(np.float32), y)
    x2 = rng.normal(size=(8, 2, 12, 12)).astype(np.float32)
    loss_used, _ = used.train_step(x2, y)
    loss_fresh, _ = fresh.train_step(x2, y)
    assert loss_used == loss_fresh
    for (key, _, g1), (_, _, g2) in zip(used.parameters(), fresh.parameters(), strict=True):
        np.testing.assert_array_equal(g1, g2, err_msg=key)


def test_fused_conv_relu_maxpool_matches_the_layers_and_gradchecks():
    net = Network(
        [Conv2D(3, (3, 2), padding=1), ReLU(), MaxPool2D(2), Flatten(), Dense(3)],
        input_shape=(2, 7, 6),
        seed=4,
    )
    assert any(type(step).__name__ == "ConvReluMaxPool" for _, _, step, _ in net._fast.steps)
    for layer in net.layers:
        to_float64(layer)
    net._dtype = np.float64
    # Biases of both signs, as after some training (at initialisation they are all zero,
    # which hid a fused backward that routed gradients through the biased maxima).
    conv = next(layer for layer in net.layers if isinstance(layer, Conv2D))
    conv.params["b"][...] = [0.7, -0.4, 0.2]
    x = np.random.default_rng(1).normal(size=(3, 2, 7, 6))
    # The fused forward equals running the layers one by one (activations() is unfused).
    np.testing.assert_allclose(
        net.forward(x), net.activations(x)[net.logits_id], rtol=1e-12, atol=1e-12
    )
    # One or two images take the whole-row convolution, read in place by the pooling.
    for n in (1, 2):
        np.testing.assert_allclose(
            net.forward(x[:n]), net.activations(x[:n])[net.logits_id], rtol=1e-12, atol=1e-12
        )
        np.testing.assert_allclose(net.forward(x[:n]), net.forward(x)[:n], rtol=1e-12)
    r = np.random.default_rng(2).normal(size=(3, 3))

    def loss():
        return float(np.sum(net.forward(x, training=True) * r))

    loss()
    net.backward(r)
    analytic = {k: g.copy() for k, _, g in net.parameters()}
    for key, p, _ in net.parameters():
        err = rel_error(numeric_grad(loss, p), analytic[key])
        assert err < 1e-6, f"{key}: relative error {err:.1e}"


@pytest.mark.parametrize("merge", ["Add", "Concatenate"])
def test_a_merge_listing_one_input_twice_counts_it_twice(merge):
    # Forward raised KeyError once the first use of "r" had freed its output.
    arch = {
        "format": "cnnstudio-architecture",
        "version": 1,
        "nodes": [
            node("in", "Input", [], shape=[2, 5, 5]),
            node("c", "Conv2D", ["in"], filters=2, kernel_size=3),
            node("r", "ReLU", ["c"]),
            node("m", merge, ["r", "r"]),
            node("flat", "Flatten", ["m"]),
            node("fc", "Dense", ["flat"], units=2),
            node("out", "Softmax", ["fc"]),
        ],
    }
    net = Network.from_architecture(arch, seed=3)
    for layer in net.layers:
        to_float64(layer)
    net._dtype = np.float64
    x = np.random.default_rng(1).normal(size=(3, 2, 5, 5))
    acts = net.activations(x)
    twice = 2 * acts["r"] if merge == "Add" else np.concatenate([acts["r"]] * 2, axis=1)
    np.testing.assert_allclose(acts["m"], twice)
    np.testing.assert_allclose(net.forward(x), acts["fc"], rtol=1e-12)
    r = np.random.default_rng(2).normal(size=(3, 2))

    def loss():
        return float(np.sum(net.forward(x, training=True) * r))

    loss()
    net.backward(r)
    analytic = {k: g.copy() for k, _, g in net.parameters()}
    for key, p, _ in net.parameters():
        err = rel_error(numeric_grad(loss, p), analytic[key])
        assert err < 1e-6, f"{key}: relative error {err:.1e}"
    # The saliency map takes the same path.
    xs = x.copy()

    def score():
        return float(net.forward(xs)[:, 1].sum())

    err = rel_error(numeric_grad(score, xs), net.input_gradient(xs, 1).astype(np.float64))
    assert err < 1e-4, f"input gradient: relative error {err:.1e}"


def _wide_network() -> Network:
    # 3 x 8.4 M values per image (input, ReLU, Flatten): 100 MB of float32 each.
    arch = {
        "format": "cnnstudio-architecture",
        "version": 1,
        "nodes": [
            node("in", "Input", [], shape=[1, 2048, 4096]),
            node("r", "ReLU", ["in"]),
            node("flat", "Flatten", ["r"]),
            node("fc", "Dense", ["flat"], units=2),
            node("out", "Softmax", ["fc"]),
        ],
    }
    return Network.from_architecture(arch, seed=0)


def test_inference_of_a_wide_network_runs_in_batches_within_the_memory_budget(monkeypatch):
    import tracemalloc

    net = _wide_network()
    x = np.random.default_rng(0).integers(0, 255, (8, 1, 2048, 4096), dtype=np.uint8)
    tracemalloc.start()
    try:
        probs = net.predict_proba(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # 256 images a batch held 8 float32 inputs and their ReLU outputs at once (512 MB).
    assert peak < 200 << 20, f"predict_proba peaked at {peak >> 20} MB"
    assert probs.shape == (8, 2)
    batches = spy_batches(monkeypatch, net)
    logits = net.forward(x[:5])
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(e / e.sum(axis=1, keepdims=True), probs[:5], rtol=1e-5)
    acts = net.activations(x[:3])
    assert acts["out"].shape == (3, 2) and acts["r"].shape == (3, 1, 2048, 4096)
    np.testing.assert_allclose(acts["out"], probs[:3], rtol=1e-5)
    grad = net.input_gradient(x[:3], 1)
    assert grad.shape == (3, 1, 2048, 4096)
    np.testing.assert_array_equal(grad[2], net.input_gradient(x[2:3], 1)[0])
    values_per_image = 3 * 2048 * 4096 + 4
    assert batches and max(batches) * values_per_image <= 2**26
    assert min(batches) >= 1


def spy_batches(monkeypatch, net: Network) -> list[int]:
    """The batch sizes the fast tier runs from now on (logits, or every node's output)."""
    batches: list[int] = []
    for name in ("forward", "outputs"):
        real = getattr(net._fast, name)

        def spy(xb, *args, _real=real):
            batches.append(xb.shape[-1])
            return _real(xb, *args)

        monkeypatch.setattr(net._fast, name, spy)
    return batches


def test_small_networks_still_predict_256_images_a_batch(monkeypatch):
    net = lenet()
    batches = spy_batches(monkeypatch, net)
    net.predict_proba(np.zeros((600, 1, 28, 28), np.float32))
    assert batches == [256, 256, 88]
    batches.clear()
    net.forward(np.zeros((600, 1, 28, 28), np.float32))
    assert batches == [600]


def test_one_image_inference_keeps_plans_that_follow_each_new_image():
    # On one or two images the convolution (kernels.RowConv) and the max pooling after it
    # (kernels.MaxPoolPlan) work in arrays and views made once: a padded pooling reads its
    # padded buffer, the fused step its convolution's output. Image after image, the
    # results must be those of a batch, which uses none of them.
    net = Network(
        [Conv2D(3, 3, padding=1), ReLU(), MaxPool2D(2), Conv2D(4, 3), Tanh(),
         MaxPool2D(3, stride=2, padding=1), Flatten(), Dense(5)],
        input_shape=(2, 12, 12),
        seed=2,
    )  # fmt: skip
    x = np.random.default_rng(3).normal(size=(3, 2, 12, 12)).astype(np.float32)
    batch = net.forward(x)
    for i in (0, 1, 2, 0):
        np.testing.assert_allclose(
            net.forward(x[i : i + 1]), batch[i : i + 1], rtol=1e-5, atol=1e-6
        )
    np.testing.assert_allclose(net.forward(x[1:]), batch[1:], rtol=1e-5, atol=1e-6)
