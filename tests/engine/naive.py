"""Loop-level definitions of convolution and pooling, and a float64 central-difference
gradient checker.

The loops are the definitions the reference tier (``cnnstudio.engine.reference``) is
checked against in test_reference.py, one output value at a time; the fast tier is
checked against the reference. Everything is NCHW and float64; padding is explicit
``(top, bottom, left, right)``. The gradient helpers take a layer of either tier.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def pad_nchw(x: np.ndarray, pads, value: float = 0.0) -> np.ndarray:
    t, b, lft, rgt = pads
    n, c, h, w = x.shape
    out = np.full((n, c, h + t + b, w + lft + rgt), value, dtype=np.float64)
    for ni in range(n):
        for ci in range(c):
            for i in range(h):
                for j in range(w):
                    out[ni, ci, t + i, lft + j] = x[ni, ci, i, j]
    return out


def out_size(size: int, before: int, after: int, k: int, s: int) -> int:
    return (size + before + after - k) // s + 1


def conv_forward(x, w, b, stride, pads):
    """Cross-correlation.

    ``y[n, o, i, j] = b[o] + sum_{c,p,q} xp[n, c, i*s+p, j*s+q] * w[o, c, p, q]``
    """
    n, c, h, wd = x.shape
    co, _, kh, kw = w.shape
    sh, sw = stride
    xp = pad_nchw(x, pads)
    oh = out_size(h, pads[0], pads[1], kh, sh)
    ow = out_size(wd, pads[2], pads[3], kw, sw)
    y = np.zeros((n, co, oh, ow))
    for ni in range(n):
        for o in range(co):
            for i in range(oh):
                for j in range(ow):
                    total = 0.0 if b is None else b[o]
                    for ci in range(c):
                        for p in range(kh):
                            for q in range(kw):
                                total += xp[ni, ci, i * sh + p, j * sw + q] * w[o, ci, p, q]
                    y[ni, o, i, j] = total
    return y


def conv_backward(dout, x, w, stride, pads):
    """Returns ``(dx, dw, db)`` of the cross-correlation above."""
    n, c, h, wd = x.shape
    co, _, kh, kw = w.shape
    sh, sw = stride
    xp = pad_nchw(x, pads)
    dxp = np.zeros_like(xp)
    dw = np.zeros(w.shape)
    db = np.zeros(co)
    _, _, oh, ow = dout.shape
    for ni in range(n):
        for o in range(co):
            for i in range(oh):
                for j in range(ow):
                    g = dout[ni, o, i, j]
                    db[o] += g
                    for ci in range(c):
                        for p in range(kh):
                            for q in range(kw):
                                dw[o, ci, p, q] += g * xp[ni, ci, i * sh + p, j * sw + q]
                                dxp[ni, ci, i * sh + p, j * sw + q] += g * w[o, ci, p, q]
    t, _b, lft, _rgt = pads
    return dxp[:, :, t : t + h, lft : lft + wd], dw, db


def maxpool_forward(x, pool, stride, pads):
    """Max of each window and the position (in the padded input) of its first maximum."""
    n, c, h, wd = x.shape
    kh, kw = pool
    sh, sw = stride
    xp = pad_nchw(x, pads, -np.inf)
    oh = out_size(h, pads[0], pads[1], kh, sh)
    ow = out_size(wd, pads[2], pads[3], kw, sw)
    y = np.zeros((n, c, oh, ow))
    where = np.zeros((n, c, oh, ow, 2), dtype=int)
    for ni in range(n):
        for ci in range(c):
            for i in range(oh):
                for j in range(ow):
                    best, pos = -np.inf, (i * sh, j * sw)
                    for p in range(kh):
                        for q in range(kw):
                            v = xp[ni, ci, i * sh + p, j * sw + q]
                            if v > best:
                                best, pos = v, (i * sh + p, j * sw + q)
                    y[ni, ci, i, j] = best
                    where[ni, ci, i, j] = pos
    return y, where


def maxpool_backward(dout, x, pool, stride, pads):
    """The gradient goes to each window's first maximum only."""
    _, where = maxpool_forward(x, pool, stride, pads)
    n, c, h, wd = x.shape
    t, b, lft, rgt = pads
    dxp = np.zeros((n, c, h + t + b, wd + lft + rgt))
    _, _, oh, ow = dout.shape
    for ni in range(n):
        for ci in range(c):
            for i in range(oh):
                for j in range(ow):
                    p, q = where[ni, ci, i, j]
                    dxp[ni, ci, p, q] += dout[ni, ci, i, j]
    return dxp[:, :, t : t + h, lft : lft + wd]


def avgpool_forward(x, pool, stride, pads):
    """Mean of each window; padded zeros count (PyTorch ``count_include_pad=True``)."""
    n, c, h, wd = x.shape
    kh, kw = pool
    sh, sw = stride
    xp = pad_nchw(x, pads)
    oh = out_size(h, pads[0], pads[1], kh, sh)
    ow = out_size(wd, pads[2], pads[3], kw, sw)
    y = np.zeros((n, c, oh, ow))
    for ni in range(n):
        for ci in range(c):
            for i in range(oh):
                for j in range(ow):
                    total = 0.0
                    for p in range(kh):
                        for q in range(kw):
                            total += xp[ni, ci, i * sh + p, j * sw + q]
                    y[ni, ci, i, j] = total / (kh * kw)
    return y


def avgpool_backward(dout, x, pool, stride, pads):
    n, c, h, wd = x.shape
    kh, kw = pool
    sh, sw = stride
    t, b, lft, rgt = pads
    dxp = np.zeros((n, c, h + t + b, wd + lft + rgt))
    _, _, oh, ow = dout.shape
    for ni in range(n):
        for ci in range(c):
            for i in range(oh):
                for j in range(ow):
                    for p in range(kh):
                        for q in range(kw):
                            dxp[ni, ci, i * sh + p, j * sw + q] += dout[ni, ci, i, j] / (kh * kw)
    return dxp[:, :, t : t + h, lft : lft + wd]


def to_float64(layer: Any) -> Any:
    """Run ``layer`` in float64: its arrays are cast (layers honour the input dtype)."""
    for store in (layer.params, layer.grads, layer.state):
        for key in store:
            store[key] = store[key].astype(np.float64)
    return layer


def numeric_grad(f, arr: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f() / d arr by central differences, perturbing ``arr`` in place."""
    grad = np.zeros_like(arr)
    flat, gflat = arr.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        hi = f()
        flat[i] = old - eps
        lo = f()
        flat[i] = old
        gflat[i] = (hi - lo) / (2 * eps)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest difference relative to the gradients' scale (an all-zero gradient, e.g. a bias
    before BatchNorm, is compared on an absolute scale of 1e-3)."""
    return float(np.max(np.abs(a - b)) / max(1e-3, np.max(np.abs(a)) + np.max(np.abs(b))))


def check_layer(
    layer: Any,
    xs,
    *,
    training: bool = True,
    before_forward=None,
    tol: float = 1e-7,
    seed: int = 0,
) -> None:
    """Assert ``layer.backward`` matches central differences for the input(s) and every param.

    The scalar checked is ``sum(forward(x) * r)`` with a fixed random ``r``.
    ``before_forward`` runs before every forward (e.g. to fix a dropout mask).
    """
    rng = np.random.default_rng(seed)
    merge = isinstance(xs, list)
    inputs = xs if merge else [xs]

    def run():
        if before_forward is not None:
            before_forward()
        return layer.forward(inputs if merge else inputs[0], training=training)

    y = run()
    r = rng.normal(size=y.shape)

    def loss() -> float:
        return float(np.sum(run() * r))

    run()
    dx = layer.backward(r)
    dxs = dx if merge else [dx]
    analytic = {k: layer.grads[k].copy() for k in layer.params}
    for i, (x, d) in enumerate(zip(inputs, dxs, strict=True)):
        num = numeric_grad(loss, x)
        err = rel_error(num, d)
        assert err < tol, f"{layer.name}: input {i} gradient off, relative error {err:.2e}"
    for key, p in layer.params.items():
        num = numeric_grad(loss, p)
        err = rel_error(num, analytic[key])
        assert err < tol, f"{layer.name}: gradient of {key} off, relative error {err:.2e}"
