"""The lab's one-shot runs of the engine's ``Conv2D`` and pooling layers on its small
examples."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnstudio.engine.layers import AvgPool2D, Conv2D, MaxPool2D
from cnnstudio.model.learn.base import LabError

__all__ = ["conv2d", "pool2d"]


def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: Any = 1,
    padding: Any = 0,
    flip: bool = False,
) -> np.ndarray:
    """Run the engine's ``Conv2D`` once.

    Parameters
    ----------
    x : ndarray, shape (C, H, W)
    w : ndarray, shape (F, C, KH, KW)
    b : ndarray, shape (F,), optional
    stride, padding : int or (h, w)
    flip : bool
        True for the mathematical convolution (kernel rotated 180 degrees).

    Returns
    -------
    ndarray, shape (F, OH, OW), float64
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    layer = Conv2D(
        filters=w.shape[0],
        kernel_size=(int(w.shape[2]), int(w.shape[3])),
        stride=stride,
        padding=padding,
        use_bias=b is not None,
        flip_kernel=flip,
        name="lab_conv",
    )
    layer.build(tuple(x.shape), np.random.default_rng(0))
    # float64 parameters: the lab's sums are written with exact small numbers.
    layer.params["w"] = w.copy()
    if b is not None:
        layer.params["b"] = np.asarray(b, dtype=np.float64).reshape(w.shape[0]).copy()
    return layer.forward(x[None], training=False)[0]


def pool2d(x: np.ndarray, kind: str, size: Any, stride: Any) -> np.ndarray:
    """The engine's ``MaxPool2D`` (``kind="max"``) or ``AvgPool2D`` on a (C, H, W) stack."""
    cls = {"max": MaxPool2D, "avg": AvgPool2D}.get(kind)
    if cls is None:
        raise LabError(f"pooling must be 'max' or 'avg', not {kind!r}")
    layer = cls(pool_size=size, stride=stride, name="lab_pool")
    return layer.forward(np.asarray(x, dtype=np.float64)[None], training=False)[0]
