"""The lab's numbers come from the engine's readable tier.

Each function here builds one layer of ``cnnstudio.engine.reference`` from the lab's
settings and runs it once on the lab's small example, so a student who wants to know
where a number came from can read the code that made it: ``engine/reference/conv.py``
(im2col and one matrix product) and ``engine/reference/pooling.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnstudio.engine import reference
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
    """Run the reference ``Conv2D`` once.

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

    Raises
    ------
    ShapeError
        When the kernel does not fit the (padded) input.
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    layer = reference.Conv2D(
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
    layer.params["w"] = w
    if b is not None:
        layer.params["b"] = np.asarray(b, dtype=np.float64).reshape(w.shape[0])
    out: np.ndarray = layer.forward(x[None])[0]
    return out


def pool2d(x: np.ndarray, kind: str, size: Any, stride: Any) -> np.ndarray:
    """The reference ``MaxPool2D`` (``kind="max"``) or ``AvgPool2D`` on a (C, H, W) stack."""
    cls = {"max": reference.MaxPool2D, "avg": reference.AvgPool2D}.get(kind)
    if cls is None:
        raise LabError(f"pooling must be 'max' or 'avg', not {kind!r}")
    layer = cls(pool_size=size, stride=stride, name="lab_pool")
    out: np.ndarray = layer.forward(np.asarray(x, dtype=np.float64)[None])[0]
    return out
