"""Fused losses: values, numerical stability and central-difference gradient checks."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.losses import (
    labels_to_int,
    loss_for,
    sigmoid,
    sigmoid_binary_cross_entropy,
    softmax,
    softmax_cross_entropy,
)


def numeric_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = f(x)
        x[i] = old - eps
        down = f(x)
        x[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


def test_softmax_rows_sum_to_one_even_for_huge_logits():
    p = softmax(np.array([[1000.0, 1000.0, -1000.0], [0.0, 1.0, 2.0]]))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p[0], [0.5, 0.5, 0.0])


def test_softmax_cross_entropy_matches_the_textbook_formula():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(5, 4))
    y = np.array([0, 3, 1, 1, 2])
    loss, _ = softmax_cross_entropy(logits, y)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.log(p[np.arange(5), y]).mean(), rel=1e-12)


def test_softmax_cross_entropy_gradient_check_float64():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(6, 5)) * 3
    y = rng.integers(0, 5, 6)
    _, d = softmax_cross_entropy(logits.copy(), y)
    num = numeric_grad(lambda z: softmax_cross_entropy(z, y)[0], logits.copy())
    np.testing.assert_allclose(d, num, rtol=1e-6, atol=1e-9)


def test_softmax_cross_entropy_is_finite_for_extreme_logits():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], dtype=np.float32)
    loss, d = softmax_cross_entropy(logits, np.array([1, 1]))
    assert loss == pytest.approx(1e4, rel=1e-6)  # first row: confidently wrong, by 2e4/2
    assert np.isfinite(d).all()
    assert d.dtype == np.float32


def test_binary_cross_entropy_matches_formula_and_is_stable():
    z = np.array([[-3.0], [0.0], [2.0], [800.0], [-800.0]])
    y = np.array([0, 1, 1, 0, 0])
    loss, d = sigmoid_binary_cross_entropy(z, y)
    zs = z[:3, 0]
    s = 1 / (1 + np.exp(-zs))
    textbook = -(y[:3] * np.log(s) + (1 - y[:3]) * np.log(1 - s))
    # the 800 logit with label 0 costs 800, the -800 with label 0 costs ~0
    assert loss == pytest.approx((textbook.sum() + 800.0) / 5, rel=1e-12)
    assert d.shape == z.shape and np.isfinite(d).all()


def test_binary_cross_entropy_gradient_check_float64():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(7, 1)) * 4
    y = rng.integers(0, 2, 7)
    _, d = sigmoid_binary_cross_entropy(z.copy(), y)
    num = numeric_grad(lambda t: sigmoid_binary_cross_entropy(t, y)[0], z.copy())
    np.testing.assert_allclose(d, num, rtol=1e-6, atol=1e-9)


def test_sigmoid_has_no_overflow_warning():
    with np.errstate(over="raise"):
        s = sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(s, [0.0, 0.5, 1.0])


@pytest.mark.parametrize(
    ("logits", "y", "message"),
    [
        (np.zeros((3, 4)), np.array([0, 1, 4]), "labels must be in 0..3"),
        (np.zeros((3, 4)), np.array([0, 1]), "shape (3,)"),
        (np.zeros(4), np.array([0]), "shape (N, K)"),
        (np.zeros((0, 4)), np.zeros(0, int), "empty"),
    ],
)
def test_softmax_cross_entropy_bad_input_is_explained(logits, y, message):
    with pytest.raises(EngineError, match=message.replace("(", r"\(").replace(")", r"\)")):
        softmax_cross_entropy(logits, y)


def test_binary_cross_entropy_rejects_multi_unit_logits_and_bad_labels():
    with pytest.raises(EngineError, match=r"shape \(N, 1\)"):
        sigmoid_binary_cross_entropy(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(EngineError, match=r"0\.\.1"):
        sigmoid_binary_cross_entropy(np.zeros((2, 1)), np.array([0, 2]))


def test_labels_to_int_accepts_whole_floats_only():
    np.testing.assert_array_equal(labels_to_int(np.array([1.0, 2.0])), [1, 2])
    with pytest.raises(EngineError, match="whole class indices"):
        labels_to_int(np.array([0.5]))
    with pytest.raises(EngineError, match="1-D"):
        labels_to_int(np.zeros((2, 2), int))


def test_loss_for_follows_the_output_activation(make_net):
    assert loss_for(make_net(num_classes=1)) is sigmoid_binary_cross_entropy
    assert loss_for(make_net(num_classes=3)) is softmax_cross_entropy


def test_matches_pytorch_losses():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(8, 10)).astype(np.float32) * 5
    y = rng.integers(0, 10, 8)
    t = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(t, torch.tensor(y))
    ref.backward()
    loss, d = softmax_cross_entropy(logits, y)
    assert loss == pytest.approx(ref.item(), rel=1e-5)
    np.testing.assert_allclose(d, t.grad.numpy(), rtol=1e-4, atol=1e-7)

    z = rng.normal(size=(8, 1)).astype(np.float32) * 5
    yb = rng.integers(0, 2, 8)
    tz = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(
        tz, torch.tensor(yb[:, None], dtype=torch.float32)
    )
    ref.backward()
    loss, d = sigmoid_binary_cross_entropy(z, yb)
    assert loss == pytest.approx(ref.item(), rel=1e-5)
    np.testing.assert_allclose(d, tz.grad.numpy(), rtol=1e-4, atol=1e-7)
