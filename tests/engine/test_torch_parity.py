"""Forward outputs and gradients against PyTorch (skipped when torch is not installed)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.engine import (
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    MaxPool2D,
    Network,
    PReLU,
)
from cnnstudio.engine.layers import GlobalAvgPool2D, GlobalMaxPool2D
from tests.engine.naive import to_float64

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _t(a):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def _close(ours, theirs, what):
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-9, atol=1e-10, err_msg=what)


def _run_both(layer, x, torch_fn, torch_params, training=True):
    """Forward both, backprop the same random ``dout``; compare outputs and all gradients."""
    y = layer.forward(x, training=training)
    dout = np.random.default_rng(9).normal(size=y.shape)
    dx = layer.backward(dout)
    xt = _t(x)
    yt = torch_fn(xt)
    yt.backward(torch.tensor(dout))
    _close(y, yt, "output")
    _close(dx, xt.grad, "input gradient")
    for key, tp in torch_params.items():
        _close(layer.grads[key], tp.grad, f"gradient of {key}")


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "shape"),
    [
        ((3, 3), (1, 1), 0, (3, 8, 8)),
        ((3, 2), (2, 1), (1, 0), (2, 7, 6)),
        ((5, 5), (2, 2), 2, (1, 11, 9)),
        ((1, 1), (1, 1), 0, (4, 5, 5)),
        ((3, 3), (1, 1), "same", (2, 6, 7)),
    ],
)
def test_conv2d_matches_torch(kernel, stride, padding, shape):
    rng = np.random.default_rng(0)
    layer = Conv2D(4, kernel, stride=stride, padding=padding, name="conv")
    layer.build(shape, rng)
    to_float64(layer)
    layer.params["b"][:] = rng.normal(size=4)
    x = rng.normal(size=(3, *shape))
    w, b = _t(layer.params["w"]), _t(layer.params["b"])
    t, bot, lft, rgt = layer.pads()

    def fn(xt):
        return F.conv2d(F.pad(xt, (lft, rgt, t, bot)), w, b, stride=stride)

    _run_both(layer, x, fn, {"w": w, "b": b})


@pytest.mark.parametrize(
    ("pool", "stride", "padding"), [(2, None, 0), (3, 1, 1), ((3, 2), (2, 1), (1, 1))]
)
def test_pooling_matches_torch(pool, stride, padding):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 9, 8))
    mp = MaxPool2D(pool, stride=stride, padding=padding, name="mp")
    mp.build(x.shape[1:])
    _run_both(mp, x, lambda xt: F.max_pool2d(xt, pool, stride, padding), {})
    ap = AvgPool2D(pool, stride=stride, padding=padding, name="ap")
    ap.build(x.shape[1:])
    _run_both(ap, x, lambda xt: F.avg_pool2d(xt, pool, stride, padding, count_include_pad=True), {})


def test_maxpool_ties_match_torch():
    # Blank regions: every window is a tie; both route the gradient to one element.
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = 1.0
    mp = MaxPool2D(2, name="mp")
    mp.build((1, 4, 4))
    _run_both(mp, x, lambda xt: F.max_pool2d(xt, 2), {})


@pytest.mark.parametrize("shape", [(3, 9, 8), (4, 1, 1), (2, 1, 6), (5, 32, 32)])
@pytest.mark.parametrize("ties", [False, True])
def test_global_pooling_matches_torch_adaptive_pooling(shape, ties):
    # Global pooling is PyTorch's adaptive pooling to 1x1, flattened; on ties (blank
    # maps) both give the gradient to the first maximum.
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, *shape))
    if ties:
        x = rng.integers(0, 2, size=x.shape).astype(np.float64)
    gap = GlobalAvgPool2D(name="gap")
    gap.build(shape)
    _run_both(gap, x, lambda xt: F.adaptive_avg_pool2d(xt, 1).flatten(1), {})
    gmp = GlobalMaxPool2D(name="gmp")
    gmp.build(shape)
    _run_both(gmp, x, lambda xt: F.adaptive_max_pool2d(xt, 1).flatten(1), {})


def test_dense_matches_torch():
    rng = np.random.default_rng(2)
    layer = Dense(5, name="fc")
    layer.build((7,), rng)
    to_float64(layer)
    layer.params["b"][:] = rng.normal(size=5)
    w, b = _t(layer.params["w"]), _t(layer.params["b"])
    _run_both(layer, rng.normal(size=(4, 7)), lambda xt: F.linear(xt, w, b), {"w": w, "b": b})


@pytest.mark.parametrize("shape", [(5,), (3, 4, 4)])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_matches_torch(shape, training):
    rng = np.random.default_rng(3)
    layer = BatchNorm(momentum=0.1, eps=1e-5, name="bn")
    layer.build(shape, rng)
    to_float64(layer)
    c = shape[0]
    layer.params["gamma"][:] = rng.uniform(0.5, 1.5, c)
    layer.params["beta"][:] = rng.normal(size=c)
    layer.state["running_mean"][:] = rng.normal(size=c)
    layer.state["running_var"][:] = rng.uniform(0.5, 2, c)
    rm = torch.tensor(layer.state["running_mean"].copy())
    rv = torch.tensor(layer.state["running_var"].copy())
    g, b = _t(layer.params["gamma"]), _t(layer.params["beta"])
    x = rng.normal(size=(6, *shape)) * 2 + 1

    def fn(xt):
        return F.batch_norm(xt, rm, rv, g, b, training=training, momentum=0.1, eps=1e-5)

    _run_both(layer, x, fn, {"gamma": g, "beta": b}, training=training)
    _close(layer.state["running_mean"], rm, "running mean")
    _close(layer.state["running_var"], rv, "running variance")


@pytest.mark.parametrize("shape", [(6,), (3, 4, 4)])
def test_prelu_matches_torch(shape):
    rng = np.random.default_rng(4)
    layer = PReLU(name="prelu")
    layer.build(shape, rng)
    to_float64(layer)
    layer.params["alpha"][:] = rng.uniform(0.05, 0.5, shape[0])
    a = _t(layer.params["alpha"])
    _run_both(layer, rng.normal(size=(4, *shape)), lambda xt: F.prelu(xt, a), {"alpha": a})


def test_lenet_gradients_match_torch_after_some_training():
    # After a few steps the biases are no longer zero: the fused Conv -> ReLU -> MaxPool
    # backward must still route each window's gradient to the element PyTorch picks.
    from cnnstudio.engine import Dense, Flatten, MaxPool2D, ReLU, Softmax
    from cnnstudio.engine.optimizers import SGD

    net = Network(
        [
            Conv2D(6, 5, padding=2), ReLU(), MaxPool2D(2),
            Conv2D(16, 5), ReLU(), MaxPool2D(2), Flatten(),
            Dense(32), ReLU(), Dense(10), Softmax(),
        ],
        input_shape=(1, 28, 28),
        seed=3,
    )  # fmt: skip
    assert any(type(step).__name__ == "ConvReluMaxPool" for _, _, step, _ in net._fast.steps)
    rng = np.random.default_rng(4)
    x = (rng.random((16, 1, 28, 28)) > 0.7).astype(np.float32)  # ties on blank pixels
    y = rng.integers(0, 10, 16)
    opt = SGD(lr=0.05, momentum=0.9)
    for _ in range(5):
        net.train_step(x, y)
        opt.step(net.parameters())
    assert all(np.any(layer.params["b"] != 0) for layer in net.layers if "b" in layer.params)
    loss, _ = net.train_step(x, y)

    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(400, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10),
    )  # fmt: skip
    ours = [layer for layer in net.layers if layer.params]
    theirs = [m for m in model if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    with torch.no_grad():
        for layer, m in zip(ours, theirs, strict=True):
            m.weight.copy_(torch.from_numpy(layer.params["w"]))
            m.bias.copy_(torch.from_numpy(layer.params["b"]))
    t_loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
    t_loss.backward()
    assert loss == pytest.approx(t_loss.item(), rel=1e-5)
    for layer, m in zip(ours, theirs, strict=True):
        for key, t in (("w", m.weight), ("b", m.bias)):
            np.testing.assert_allclose(
                layer.grads[key],
                t.grad.numpy(),
                rtol=1e-4,
                atol=1e-5,
                err_msg=f"{layer.name}.{key}",
            )


def test_lenet_logits_match_torch():
    net = Network.from_architecture(
        {
            "nodes": [
                {"id": "in", "type": "Input", "config": {"shape": [1, 28, 28]}, "inputs": []},
                {"id": "c1", "type": "Conv2D", "config": {"filters": 6, "kernel_size": 5,
                 "padding": 2}, "inputs": ["in"]},
                {"id": "r1", "type": "ReLU", "config": {}, "inputs": ["c1"]},
                {"id": "p1", "type": "MaxPool2D", "config": {}, "inputs": ["r1"]},
                {"id": "c2", "type": "Conv2D", "config": {"filters": 16, "kernel_size": 5},
                 "inputs": ["p1"]},
                {"id": "r2", "type": "ReLU", "config": {}, "inputs": ["c2"]},
                {"id": "p2", "type": "MaxPool2D", "config": {}, "inputs": ["r2"]},
                {"id": "f", "type": "Flatten", "config": {}, "inputs": ["p2"]},
                {"id": "d1", "type": "Dense", "config": {"units": 10}, "inputs": ["f"]},
            ]
        }
    )  # fmt: skip
    wts = net.get_weights()
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(400, 10),
    )  # fmt: skip
    with torch.no_grad():
        for idx, nid in ((0, "c1"), (3, "c2"), (7, "d1")):
            model[idx].weight.copy_(torch.from_numpy(wts[f"{nid}.w"]))
            model[idx].bias.copy_(torch.from_numpy(wts[f"{nid}.b"]))
    x = np.random.default_rng(5).random((4, 1, 28, 28)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(net.forward(x), expected, rtol=1e-4, atol=1e-5)
