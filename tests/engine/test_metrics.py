"""Accuracy, per-class accuracy, confusion matrix and evaluate()."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.metrics import (
    accuracy,
    confusion_matrix,
    default_transform,
    evaluate,
    per_class_accuracy,
)


def test_accuracy_counts_matches():
    assert accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    with pytest.raises(EngineError, match="3 predictions but 2 labels"):
        accuracy([0, 1, 2], [0, 1])


def test_confusion_matrix_rows_are_true_columns_predicted():
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 4)
    expected = np.array([[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(cm, expected)
    assert cm.dtype == np.int64


def test_confusion_matrix_rejects_out_of_range_classes():
    with pytest.raises(EngineError, match=r"predictions must be in 0\.\.2, got values from 0 to 5"):
        confusion_matrix([0, 1], [0, 5], 3)
    with pytest.raises(EngineError, match="n_classes"):
        confusion_matrix([0], [0], 0)


def test_per_class_accuracy_is_nan_for_absent_classes():
    pca = per_class_accuracy([0, 1, 1, 1], [0, 1, 1, 0], 3)
    np.testing.assert_allclose(pca[:2], [0.5, 1.0])
    assert np.isnan(pca[2])


def test_default_transform_scales_uint8_only():
    x = np.array([[0, 255]], np.uint8)
    np.testing.assert_allclose(default_transform(x), [[0.0, 1.0]])
    f = np.array([[0.5, 2.0]], np.float64)
    out = default_transform(f)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, f)


def test_evaluate_agrees_with_the_network_and_with_the_metrics(make_net, make_blobs):
    net = make_net(num_classes=3)
    x, y = make_blobs(n=101, num_classes=3, uint8=True)
    ev = evaluate(net, x, y, batch_size=16)
    probs = net.predict_proba(x.astype(np.float32) / 255)
    np.testing.assert_allclose(ev.probabilities, probs, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ev.predictions, probs.argmax(axis=1))
    assert ev.accuracy == pytest.approx(accuracy(ev.predictions, y))
    assert ev.confusion.sum() == 101
    np.testing.assert_array_equal(ev.confusion, confusion_matrix(y, ev.predictions, 3))
    assert ev.n_samples == 101 and np.isfinite(ev.loss)
    # batch size does not change the result
    assert evaluate(net, x, y, batch_size=1000).loss == pytest.approx(ev.loss, rel=1e-6)


def test_evaluate_binary_network_gives_two_probability_columns(make_net, make_blobs):
    net = make_net(num_classes=1)
    x, y = make_blobs(n=40, num_classes=1)
    ev = evaluate(net, x, y)
    assert ev.probabilities.shape == (40, 2)
    np.testing.assert_allclose(ev.probabilities.sum(axis=1), 1.0, rtol=1e-6)
    assert ev.confusion.shape == (2, 2)


def test_evaluate_uses_the_transform_without_augmentation(make_net, make_blobs):
    net = make_net()
    x, y = make_blobs(n=20)
    seen = []

    def transform(xb, rng):
        seen.append(rng)
        return (xb * 2).astype(np.float32)

    ev = evaluate(net, x, y, batch_size=8, transform=transform)
    assert seen == [None, None, None]
    np.testing.assert_allclose(ev.probabilities, net.predict_proba(x * 2), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("x_shape", "y", "message"),
    [
        (
            (5, 1, 4, 5),
            [0] * 5,
            r"images have shape \(5, 1, 4, 5\), but the network expects \(N, 1, 4, 4\)",
        ),
        ((5, 1, 4, 4), [0] * 4, "5 images but 4 labels"),
        ((5, 1, 4, 4), [0, 1, 2, 3, 9], r"labels \(the network has 3 classes\) must be in 0\.\.2"),
        ((0, 1, 4, 4), [], "no samples"),
    ],
)
def test_evaluate_bad_input_is_explained(make_net, x_shape, y, message):
    with pytest.raises(EngineError, match=message):
        evaluate(make_net(), np.zeros(x_shape, np.float32), np.array(y, dtype=np.int64))


def test_evaluate_rejects_a_transform_returning_the_wrong_thing(make_net, make_blobs):
    x, y = make_blobs(n=4)
    with pytest.raises(EngineError, match="transform must return float32"):
        evaluate(make_net(), x, y, transform=lambda xb, rng: xb.astype(np.float64))
