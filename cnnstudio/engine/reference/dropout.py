"""Inverted dropout."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.layers import normalization as fast
from cnnstudio.engine.reference.base import Layer

__all__ = ["Dropout"]


class Dropout(Layer):
    """In training each value is zeroed with probability ``rate`` and the survivors are
    scaled by ``1 / (1 - rate)``, so every value keeps its expectation and inference
    (the identity) needs no correction. The mask comes from ``self.rng``.
    """

    type_name = "Dropout"
    spec: fast.Dropout

    def __init__(self, *, name: str | None = None, **config: Any) -> None:
        super().__init__(name=name, **config)
        self.rate = self.spec.rate

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if not training or self.rate == 0.0:
            self.cache = 1.0  # every value kept, unscaled
            return x
        if self.rng is None:
            raise EngineError(f"{self.name}: dropout needs an rng (build the layer first)")
        # Drawn with the batch last, as the fast layer draws it, so both tiers given the
        # same Generator drop the same values.
        u = np.moveaxis(self.rng.random((*x.shape[1:], x.shape[0]), dtype=np.float32), -1, 0)
        mask = (u >= self.rate) * x.dtype.type(1 / (1 - self.rate))
        self.cache = mask
        return x * mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        # A dropped value did not reach the output; a kept one was scaled by 1/(1-rate).
        return dout * self._cached()
