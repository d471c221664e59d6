"""Lesson 5: flattening a feature stack into a row, softmax probabilities and the
cross-entropy loss."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnstudio.engine import reference
from cnnstudio.engine.losses import softmax_cross_entropy
from cnnstudio.model.learn.base import LabError

__all__ = ["cross_entropy", "flatten_size", "flatten_stack", "softmax_probabilities"]


def flatten_stack(stack: np.ndarray) -> np.ndarray:
    """The reference ``Flatten`` on a (C, H, W) stack: channel 0 first, each row by row."""
    a = np.asarray(stack, dtype=np.float64)
    if a.ndim != 3:
        raise LabError(f"a feature stack must have shape (C, H, W), got {a.shape}")
    out: np.ndarray = reference.Flatten(name="lab_flatten").forward(a[None])[0]
    return out


def flatten_size(shape: tuple[int, ...]) -> int:
    """How many numbers ``Flatten`` makes of one (C, H, W) stack."""
    (n,) = reference.Flatten(name="lab_flatten").output_shape(shape)
    return int(n)


def softmax_probabilities(logits: Any) -> np.ndarray:
    """The reference ``Softmax`` layer on one score vector."""
    z = np.asarray(logits, dtype=np.float64).reshape(1, -1)
    if z.shape[1] < 1 or not np.all(np.isfinite(z)):
        raise LabError("softmax needs at least one finite score")
    out: np.ndarray = reference.Softmax(name="lab_softmax").forward(z)[0]
    return out


def cross_entropy(logits: Any, true_class: int) -> float:
    """The engine's softmax cross-entropy of one score vector for ``true_class``."""
    z = np.asarray(logits, dtype=np.float64).reshape(1, -1)
    if not 0 <= int(true_class) < z.shape[1]:
        raise LabError(f"the true class must be between 0 and {z.shape[1] - 1}, got {true_class}")
    loss, _ = softmax_cross_entropy(z, np.array([int(true_class)]))
    return float(loss)
