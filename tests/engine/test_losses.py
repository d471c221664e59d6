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


# --- label smoothing -------------------------------------------------------------


def _old_softmax_cross_entropy(logits, y):
    """The loss as it was before label smoothing: the default must stay bit-identical."""
    n = logits.shape[0]
    rows = np.arange(n)
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sums = exp.sum(axis=1)
    loss = float(np.log(sums).sum(dtype=np.float64) - shifted[rows, y].sum(dtype=np.float64)) / n
    exp /= sums[:, None]
    exp[rows, y] -= 1.0
    exp /= n
    return loss, exp


def test_label_smoothing_zero_is_bit_identical_to_the_plain_loss():
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(9, 10)).astype(np.float32)
    y = rng.integers(0, 10, 9)
    old_loss, old_grad = _old_softmax_cross_entropy(logits, y)
    for loss, grad in (softmax_cross_entropy(logits, y), softmax_cross_entropy(logits, y, 0.0)):
        assert loss == old_loss
        assert grad.dtype == np.float32
        assert np.array_equal(grad, old_grad)


def test_label_smoothing_matches_the_smoothed_targets_formula():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(6, 5))
    y = rng.integers(0, 5, 6)
    e = 0.2
    t = np.full((6, 5), e / 5)
    t[np.arange(6), y] += 1 - e
    logp = np.log(softmax(logits))
    loss, grad = softmax_cross_entropy(logits, y, e)
    np.testing.assert_allclose(loss, -(t * logp).sum(axis=1).mean(), rtol=1e-12)
    np.testing.assert_allclose(grad, (softmax(logits) - t) / 6, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("e", [0.1, 0.2, 0.9])
def test_label_smoothing_gradient_check_float64(e):
    rng = np.random.default_rng(11)
    logits = rng.normal(size=(4, 6)) * 3
    y = rng.integers(0, 6, 4)
    _, grad = softmax_cross_entropy(logits, y, e)
    num = numeric_grad(lambda z: softmax_cross_entropy(z, y, e)[0], logits.copy())
    np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-9)
    zb = rng.normal(size=(5, 1)) * 3
    yb = rng.integers(0, 2, 5)
    _, gb = sigmoid_binary_cross_entropy(zb, yb, e)
    numb = numeric_grad(lambda z: sigmoid_binary_cross_entropy(z, yb, e)[0], zb.copy())
    np.testing.assert_allclose(gb, numb, rtol=1e-6, atol=1e-9)


def test_label_smoothing_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(8, 10)) * 4
    y = rng.integers(0, 10, 8)
    t = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(t, torch.tensor(y), label_smoothing=0.2)
    ref.backward()
    loss, grad = loss_for(type("N", (), {"output_activation": "softmax"})(), 0.2)(logits, y)
    np.testing.assert_allclose(loss, ref.item(), rtol=1e-10)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-8, atol=1e-12)
    # The binary loss smooths to the two-class targets (1 - e) y + e / 2.
    z = rng.normal(size=(8, 1)) * 4
    yb = rng.integers(0, 2, 8)
    tz = torch.tensor(z, requires_grad=True)
    target = torch.tensor(yb[:, None] * 0.8 + 0.1)
    refb = torch.nn.functional.binary_cross_entropy_with_logits(tz, target)
    refb.backward()
    lossb, gradb = loss_for(type("N", (), {"output_activation": "sigmoid"})(), 0.2)(z, yb)
    np.testing.assert_allclose(lossb, refb.item(), rtol=1e-10)
    np.testing.assert_allclose(gradb, tz.grad.numpy(), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("e", [-0.1, 1.0, float("nan"), "0.2", True])
def test_label_smoothing_out_of_range_is_explained(e):
    with pytest.raises(EngineError, match=r"label smoothing must be a number in \[0, 1\)"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1]), e)
    with pytest.raises(EngineError, match="label smoothing"):
        loss_for(type("N", (), {"output_activation": "softmax"})(), e)
