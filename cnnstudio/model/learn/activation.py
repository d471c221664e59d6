"""Lesson 3: activation functions, applied by the reference tier's activation layers."""

from __future__ import annotations

import numpy as np

from cnnstudio.engine import reference
from cnnstudio.model.learn.base import LabError

__all__ = ["ACTIVATIONS", "activate", "activation_curve"]

#: The activations the lesson offers: name -> what it does, in one line.
ACTIVATIONS: dict[str, str] = {
    "ReLU": "max(0, x): negative values become 0, positive ones pass unchanged.",
    "LeakyReLU": "x for positive x, α·x for negative x: a small slope keeps negatives alive.",
    "Sigmoid": "1 / (1 + e^−x): squashes any number into (0, 1).",
    "Tanh": "(e^x − e^−x) / (e^x + e^−x): squashes any number into (−1, 1), 0 stays 0.",
}


def _activation_layer(name: str, alpha: float) -> reference.Layer:
    if name not in ACTIVATIONS:
        raise LabError(f"unknown activation {name!r} (choose one of: {', '.join(ACTIVATIONS)})")
    config = {"alpha": float(alpha)} if name == "LeakyReLU" else {}
    return reference.REFERENCE_TYPES[name](name="lab_act", **config)


def activate(x: np.ndarray, name: str, alpha: float = 0.1) -> np.ndarray:
    """Apply the reference activation layer ``name`` to an array of any shape."""
    a = np.asarray(x, dtype=np.float64)
    layer = _activation_layer(name, alpha)
    out: np.ndarray = layer.forward(a.reshape(1, -1)).reshape(a.shape)
    return out


def activation_curve(
    name: str, alpha: float = 0.1, lo: float = -6.0, hi: float = 6.0, n: int = 241
) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(xs, ys)`` of an activation function, computed by the reference layer."""
    xs = np.linspace(lo, hi, n)
    return xs, activate(xs, name, alpha)
