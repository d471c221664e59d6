"""Every parameter, and every gradient, of a network in one contiguous array each.

Each layer's ``params`` and ``grads`` become views of the two arrays, so an optimizer
step can be a dozen array operations for the whole network instead of a dozen per
parameter, and ``engine.parallel`` exchanges weights and gradients in one copy.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from cnnstudio.engine.layers import Layer

__all__ = ["FlatParameters"]


class FlatParameters:
    """The parameters of ``layers`` moved into ``params`` and their gradients into
    ``grads``: two 1-D arrays, the given ones (shared memory, say) or new ones.

    ``ok`` is false, and nothing moved, when the parameters differ in dtype (a test
    made some float64); ``intact()`` says whether the layers still hold the views.
    """

    def __init__(
        self, layers: Iterable[Layer], buffers: tuple[np.ndarray, np.ndarray] | None = None
    ) -> None:
        entries = [(layer, k) for layer in layers for k in layer.params]
        dtypes = {layer.params[k].dtype for layer, k in entries}
        self.ok = len(dtypes) <= 1
        self.views: list[tuple[Layer, str, np.ndarray, np.ndarray]] = []
        self.params = self.grads = np.empty(0)
        if not self.ok:
            return
        if buffers is None:
            total = sum(layer.params[k].size for layer, k in entries)
            dtype = dtypes.pop() if dtypes else np.dtype(np.float32)
            buffers = (np.empty(total, dtype=dtype), np.zeros(total, dtype=dtype))
        self.params, self.grads = buffers
        at = 0
        for layer, k in entries:
            p = layer.params[k]
            pv = self.params[at : at + p.size].reshape(p.shape)
            gv = self.grads[at : at + p.size].reshape(p.shape)
            np.copyto(pv, p)
            layer.params[k], layer.grads[k] = pv, gv
            self.views.append((layer, k, pv, gv))
            at += p.size

    def intact(self) -> bool:
        """Whether every layer still holds its views (a test may replace an array)."""
        return self.ok and all(
            layer.params.get(k) is pv and layer.grads.get(k) is gv
            for layer, k, pv, gv in self.views
        )
