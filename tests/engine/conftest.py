"""Shared fixtures for the engine tests: small data sets and a stand-in network.

``StandInMLP`` implements the public ``Network`` API that training, metrics and the
optimizers rely on (forward/backward/parameters/get_weights/set_weights/activations)
with a plain two-layer perceptron, so those modules are tested independently of
the layer implementations. The real ``Network`` is exercised by the LeNet test.
"""

from __future__ import annotations

import numpy as np
import pytest


class _Named:
    def __init__(self, name: str, type_name: str) -> None:
        self.name = name
        self.type_name = type_name


class StandInMLP:
    """flatten -> dense(hidden) -> ReLU -> dense(K); same public API as engine.Network."""

    def __init__(self, input_shape=(1, 4, 4), hidden=16, num_classes=3, seed=0, dtype=np.float32):
        rng = np.random.default_rng(seed)
        self.input_shape = tuple(input_shape)
        f = int(np.prod(input_shape))
        self.n_logits = num_classes
        self.output_activation = "sigmoid" if num_classes == 1 else "softmax"
        self.output_shape = (num_classes,)
        self.params = {
            "fc1.w": (rng.standard_normal((hidden, f)) * np.sqrt(2.0 / f)).astype(dtype),
            "fc1.b": np.zeros(hidden, dtype),
            "fc2.w": (rng.standard_normal((num_classes, hidden)) * np.sqrt(1.0 / hidden)).astype(
                dtype
            ),
            "fc2.b": np.zeros(num_classes, dtype),
        }
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.layers = [
            _Named("flat", "Flatten"),
            _Named("fc1", "Dense"),
            _Named("relu1", "ReLU"),
            _Named("fc2", "Dense"),
        ]
        self.forward_calls = 0

    def _forward(self, x):
        p = self.params
        x2 = x.reshape(x.shape[0], -1)
        h = x2 @ p["fc1.w"].T + p["fc1.b"]
        r = np.maximum(h, 0)
        out = r @ p["fc2.w"].T + p["fc2.b"]
        return x2, h, r, out

    def forward(self, x, training=False):
        self.forward_calls += 1
        x2, h, r, out = self._forward(x)
        if training:
            self._cache = (x2, h, r)
        return out

    def backward(self, dout):
        x2, h, r = self._cache
        p, g = self.params, self.grads
        g["fc2.w"][...] = dout.T @ r
        g["fc2.b"][...] = dout.sum(axis=0)
        dr = dout @ p["fc2.w"]
        dh = dr * (h > 0)
        g["fc1.w"][...] = dh.T @ x2
        g["fc1.b"][...] = dh.sum(axis=0)

    def parameters(self):
        return [(k, self.params[k], self.grads[k]) for k in self.params]

    def get_weights(self):
        return {k: v.copy() for k, v in self.params.items()}

    def set_weights(self, weights):
        for k, v in weights.items():
            self.params[k][...] = v

    def activations(self, x):
        x2, h, r, out = self._forward(x)
        return {"flat": x2, "fc1": h, "relu1": r, "fc2": out}

    def predict_proba(self, x, batch_size=256):
        out = self.forward(x)
        if self.n_logits == 1:
            p = 1 / (1 + np.exp(-out[:, :1]))
            return np.concatenate([1 - p, p], axis=1)
        e = np.exp(out - out.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, x):
        return self.predict_proba(x).argmax(axis=1)

    def parameter_count(self):
        return sum(v.size for v in self.params.values())


def blobs(n=300, num_classes=3, shape=(1, 4, 4), seed=0, uint8=False):
    """Separable classes: each class lights up its own block of pixels, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, max(num_classes, 2), n)
    f = int(np.prod(shape))
    # the same class centres for every seed, so a second seed draws a fair validation set
    centres = np.random.default_rng(1234).uniform(0, 1, (max(num_classes, 2), f))
    x = centres[y] + rng.normal(0, 0.15, (n, f))
    x = np.clip(x, 0, 1).reshape((n, *shape))
    if uint8:
        return (x * 255).round().astype(np.uint8), y
    return x.astype(np.float32), y


@pytest.fixture
def make_net():
    return StandInMLP


@pytest.fixture
def make_blobs():
    return blobs
