"""Classification metrics and whole-dataset evaluation.

Conventions
-----------
- Labels and predictions are integer class indices ``0..n_classes-1``.
- The confusion matrix has one **row per true class** and one **column per predicted
  class** (``confusion[t, p]`` = samples of class ``t`` predicted as ``p``), int64.
- :func:`per_class_accuracy` gives ``NaN`` for a class with no samples: "not
  measured" is different from 0 %, and NaN survives arithmetic and plotting without
  special cases (test with ``np.isnan``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.losses import labels_to_int, loss_for, sigmoid, softmax

__all__ = [
    "Evaluation",
    "Transform",
    "accuracy",
    "check_inputs",
    "confusion_matrix",
    "default_transform",
    "evaluate",
    "n_classes_of",
    "per_class_accuracy",
    "probabilities_from_logits",
]

#: ``transform(x_batch, rng) -> float32 batch``. Called with a ``numpy.random.Generator``
#: while training (augmentation allowed) and with ``rng=None`` for validation and
#: evaluation, where it must be deterministic (normalisation only).
Transform = Callable[[np.ndarray, np.random.Generator | None], np.ndarray]


def default_transform(x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """The conversion used when no transform is given: float32, and ``/ 255`` for uint8 input.

    So uint8 images (0..255) become floats in 0..1, and float images are used as they are.
    """
    if x.dtype == np.uint8:
        out = x.astype(np.float32)
        out /= np.float32(255.0)
        return out
    return x.astype(np.float32, copy=False)


def n_classes_of(network: Any) -> int:
    """Number of classes a network predicts (``n_classes``): its ``n_logits``, or 2 for a
    1-unit sigmoid. The one place that says so."""
    k = int(getattr(network, "n_logits", 0) or network.output_shape[-1])
    return max(k, 2) if getattr(network, "output_activation", "softmax") == "sigmoid" else k


def _check_pred_labels(pred: Any, y: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    p = labels_to_int(pred, f"{what}: predictions")
    t = labels_to_int(y, f"{what}: labels")
    if p.shape != t.shape:
        raise EngineError(
            f"{what}: {p.shape[0]} predictions but {t.shape[0]} labels; they must match"
        )
    return p, t


def _check_range(a: np.ndarray, n_classes: int, what: str) -> None:
    if a.size and (a.min() < 0 or a.max() >= n_classes):
        raise EngineError(
            f"{what} must be in 0..{n_classes - 1}, got values from {a.min()} to {a.max()}"
        )


def accuracy(pred: Any, y: Any) -> float:
    """Fraction of predictions equal to the labels (0..1); NaN for zero samples."""
    p, t = _check_pred_labels(pred, y, "accuracy")
    if p.size == 0:
        return float("nan")
    return float(np.count_nonzero(p == t)) / p.size


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class) pairs: rows are true, columns predicted, int64."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer) or n_classes < 1:
        raise EngineError(f"confusion matrix: n_classes must be an integer >= 1, got {n_classes!r}")
    p, t = _check_pred_labels(y_pred, y_true, "confusion matrix")
    _check_range(t, n_classes, "confusion matrix: labels")
    _check_range(p, n_classes, "confusion matrix: predictions")
    counts = np.bincount(t * n_classes + p, minlength=n_classes * n_classes)
    return counts.astype(np.int64, copy=False).reshape(n_classes, n_classes)


def per_class_accuracy(pred: Any, y: Any, n_classes: int) -> np.ndarray:
    """Accuracy within each true class (recall), float64 of length ``n_classes``.

    A class with no samples in ``y`` gets ``NaN``.
    """
    cm = confusion_matrix(y, pred, n_classes)
    support = cm.sum(axis=1)
    out = np.full(n_classes, np.nan)
    present = support > 0
    out[present] = np.diag(cm)[present] / support[present]
    return out


def probabilities_from_logits(logits: np.ndarray, output_activation: str) -> np.ndarray:
    """Class probabilities ``(N, n_classes)``; a 1-unit sigmoid gives ``(N, 2)``: [1-p, p]."""
    if output_activation == "sigmoid":
        p1 = sigmoid(logits.reshape(logits.shape[0], -1)[:, :1])
        return np.concatenate([1 - p1, p1], axis=1)
    return softmax(logits, axis=1)


def check_inputs(network: Any, x: Any, y: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate an ``(x, y)`` pair against ``network``; return ``x`` (as is) and int64 labels."""
    if not isinstance(x, np.ndarray):
        raise EngineError(f"{what}: images must be a NumPy array, got {type(x).__name__}")
    want = tuple(network.input_shape)
    if x.ndim != len(want) + 1 or tuple(x.shape[1:]) != want:
        raise EngineError(
            f"{what}: images have shape {x.shape}, but the network expects "
            f"(N, {', '.join(map(str, want))})"
        )
    if not (x.dtype == np.uint8 or np.issubdtype(x.dtype, np.floating)):
        raise EngineError(f"{what}: images must be uint8 or floating point, got {x.dtype}")
    labels = labels_to_int(y, f"{what}: labels")
    if labels.shape[0] != x.shape[0]:
        raise EngineError(
            f"{what}: {x.shape[0]} images but {labels.shape[0]} labels; they must match"
        )
    if x.shape[0] == 0:
        raise EngineError(f"{what}: there are no samples")
    k = n_classes_of(network)
    _check_range(labels, k, f"{what}: labels (the network has {k} classes)")
    return x, labels


def _check_batch_size(batch_size: Any) -> int:
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int | np.integer)
        or batch_size < 1
    ):
        raise EngineError(f"batch size must be an integer >= 1, got {batch_size!r}")
    return int(batch_size)


def _checked_batch(xb: Any, network: Any, what: str, n: int | None = None) -> np.ndarray:
    """Check a transform's output: float32, the network's input shape, ``n`` samples."""
    want = tuple(network.input_shape)
    if (
        not isinstance(xb, np.ndarray)
        or xb.dtype != np.float32
        or xb.shape[1:] != want
        or (n is not None and xb.shape[0] != n)
    ):
        desc = f"{xb.dtype} {xb.shape}" if isinstance(xb, np.ndarray) else type(xb).__name__
        size = "N" if n is None else str(n)
        raise EngineError(
            f"{what}: the transform must return float32 batches of shape "
            f"({size}, {', '.join(map(str, want))}), got {desc}"
        )
    return xb


@dataclass(frozen=True, eq=False)
class Evaluation:
    """The result of :func:`evaluate` (all arrays are owned copies).

    Attributes
    ----------
    loss : float
        Mean loss (the same fused loss as training).
    accuracy : float
        0..1.
    per_class : ndarray, float64, (n_classes,)
        Accuracy within each true class; NaN where the class has no samples.
    confusion : ndarray, int64, (n_classes, n_classes)
        Rows true class, columns predicted class.
    predictions : ndarray, int64, (N,)
    probabilities : ndarray, float32, (N, n_classes)
    """

    loss: float
    accuracy: float
    per_class: np.ndarray
    confusion: np.ndarray
    predictions: np.ndarray
    probabilities: np.ndarray

    @property
    def n_samples(self) -> int:
        return int(self.predictions.shape[0])


def evaluate(
    network: Any,
    x: np.ndarray,
    y: Any,
    batch_size: int = 256,
    transform: Transform | None = None,
) -> Evaluation:
    """Run ``network`` in inference mode over ``(x, y)`` and measure it.

    Parameters
    ----------
    network : Network
    x : ndarray, (N, *network.input_shape)
        uint8 or float images; never converted as a whole, only batch by batch.
    y : array of int, (N,)
    batch_size : int
        Samples per forward pass (memory vs. speed; does not change the results).
    transform : callable, optional
        ``transform(x_batch, None) -> float32``: the deterministic preprocessing used in
        training (``None`` as rng means: no augmentation). Default:
        :func:`default_transform` (uint8 divided by 255).

    Returns
    -------
    Evaluation
    """
    x, labels = check_inputs(network, x, y, "evaluate")
    batch_size = _check_batch_size(batch_size)
    activation = getattr(network, "output_activation", "softmax")
    loss_fn = loss_for(network)
    k = n_classes_of(network)
    n = x.shape[0]
    probs = np.empty((n, k), dtype=np.float32)
    loss_sum = 0.0
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        xb = x[start:stop]
        if transform is None:
            xb = default_transform(xb)
        else:
            xb = _checked_batch(transform(xb, None), network, "evaluate", stop - start)
        logits = network.forward(xb, training=False)
        batch_loss, _ = loss_fn(logits, labels[start:stop])
        loss_sum += batch_loss * (stop - start)
        probs[start:stop] = probabilities_from_logits(logits, activation)
    pred = probs.argmax(axis=1).astype(np.int64)
    cm = confusion_matrix(labels, pred, k)
    support = cm.sum(axis=1)
    per_class = np.full(k, np.nan)
    present = support > 0
    per_class[present] = np.diag(cm)[present] / support[present]
    return Evaluation(
        loss=loss_sum / n,
        accuracy=float(np.trace(cm)) / n,
        per_class=per_class,
        confusion=cm,
        predictions=pred,
        probabilities=probs,
    )
