"""Batch normalisation's fast kernels (optionally with the ReLU after it), over ``(C, M)``
arrays in column chunks that stay in cache.

A per-channel affine map over a big activation is a memory-bound job: NumPy makes one
full pass over memory per operation, and the textbook forward and backward (centre,
square, mean, scale, shift; then four products and sums) make a dozen passes and as many
full-size temporaries. Here every elementwise operation runs on chunks of about
``CHUNK`` numbers, so the two or three operations applied to each chunk find it in
cache: a forward pass reads its input twice for the statistics and writes its output
once, a backward pass reads its inputs twice and writes the gradient once.

The algebra, for one channel with batch mean ``mu``, ``s = 1 / sqrt(var + eps)`` and
``xhat = (z - mu) * s``:

- forward: ``y = gamma * xhat + beta = z * a + b`` with ``a = gamma * s`` and
  ``b = beta - mu * a`` (then ``max(y, 0)`` with the ReLU);
- backward, with ``g`` the gradient reaching the normalisation (``dout`` where the ReLU
  passed, 0 where it did not): ``dbeta = sum(g)``, ``dgamma = sum(g * xhat) =
  s * (sum(g * z) - mu * dbeta)``, and
  ``dz = (gamma * s / M) * (M * g - dbeta - xhat * dgamma) = A * g + B * z + C`` with
  ``A = gamma * s``, ``B = -gamma * s**2 * dgamma / M``, ``C = -A * dbeta / M - B * mu``.

The variance is computed in two passes (the mean, then the sum of squared deviations,
chunk by chunk), not as ``E[z^2] - E[z]^2``, which loses every digit when a channel's
mean is large against its spread. Per-channel sums are accumulated in float64.

``sums_hook``: training with a batch shared between threads (``engine.threads``) needs
the statistics of the whole batch; each kernel hands its per-channel sums to
``sums_hook`` (which returns the sums over every part) before it uses them.

Reproduces ``reference.normalization.BatchNorm`` followed by ``reference.activations.ReLU``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["CHUNK", "BatchStats", "bn_backward", "bn_forward_apply", "bn_stats"]

#: Numbers per chunk: 512 KB of float32, so that the two or three chunks an operation
#: touches fit a core's L2 cache; smaller chunks made the passes slower, not faster.
CHUNK = 1 << 17

#: ``hook(sums) -> sums over the whole batch``, for an array of per-channel sums.
SumsHook = Callable[[np.ndarray], np.ndarray]


def _blocks(c: int, m: int) -> list[tuple[int, int, int, int]]:
    """``(r0, r1, s0, s1)`` blocks of a ``(c, m)`` array, each about ``CHUNK`` numbers and
    contiguous in memory: whole rows (channels) together, or pieces of one long row.
    (Blocks of all channels and a narrow band of columns were up to twice as slow: many
    short runs, far apart.)"""
    if m >= CHUNK:
        return [(r, r + 1, s, min(m, s + CHUNK)) for r in range(c) for s in range(0, m, CHUNK)]
    rows = CHUNK // m
    return [(r, min(c, r + rows), 0, m) for r in range(0, c, rows)]


class BatchStats:
    """A channel's batch mean and ``1 / sqrt(var + eps)`` (float64), the biased variance,
    and ``m``, the number of values each was taken over."""

    __slots__ = ("inv_std", "m", "mean", "var")

    def __init__(self, mean: np.ndarray, var: np.ndarray, eps: float, m: int) -> None:
        self.mean, self.var, self.m = mean, var, m
        self.inv_std = 1.0 / np.sqrt(var + eps)


def bn_stats(
    z2: np.ndarray,
    eps: float,
    scratch: np.ndarray | None = None,
    sums_hook: SumsHook | None = None,
) -> BatchStats:
    """Per-channel batch statistics of ``z2`` (C, M), in two passes.

    ``scratch`` is a float array of at least ``CHUNK`` numbers (made if not given).
    """
    c, m_local = z2.shape
    # Pass 1: sums (float32 pairwise summation along each row, then float64).
    head = np.empty(c + 1, dtype=np.float64)
    head[:c] = np.add.reduce(z2, axis=1)
    head[c] = m_local
    if sums_hook is not None:
        head = sums_hook(head)
    m = round(float(head[c]))
    mean = head[:c] / m
    mean32 = mean.astype(z2.dtype)[:, None]
    # Pass 2: squared deviations, a chunk at a time through the scratch array.
    if scratch is None:
        scratch = np.empty(CHUNK, dtype=z2.dtype)
    sq = np.zeros(c, dtype=np.float64)
    for r0, r1, s0, s1 in _blocks(c, m_local):
        t = scratch[: (r1 - r0) * (s1 - s0)].reshape(r1 - r0, s1 - s0)
        np.subtract(z2[r0:r1, s0:s1], mean32[r0:r1], out=t)
        sq[r0:r1] += np.vecdot(t, t)
    if sums_hook is not None:
        sq = sums_hook(sq)
    return BatchStats(mean, sq / m, eps, m)


def bn_forward_apply(
    z2: np.ndarray, a: np.ndarray, b: np.ndarray, relu: bool, out: np.ndarray
) -> np.ndarray:
    """``out = z2 * a + b`` per channel (``a``, ``b``: (C,)), then ``max(out, 0)`` with
    ``relu``, chunk by chunk. ``out`` may be ``z2`` itself."""
    c, m = z2.shape
    a2 = a.astype(z2.dtype)[:, None]
    b2 = b.astype(z2.dtype)[:, None]
    for r0, r1, s0, s1 in _blocks(c, m):
        oc = out[r0:r1, s0:s1]
        np.multiply(z2[r0:r1, s0:s1], a2[r0:r1], out=oc)
        np.add(oc, b2[r0:r1], out=oc)
        if relu:
            np.maximum(oc, 0, out=oc)
    return out


def bn_backward(
    dout2: np.ndarray,
    z2: np.ndarray,
    y2: np.ndarray | None,
    stats: BatchStats,
    gamma: np.ndarray,
    out: np.ndarray,
    scratch: np.ndarray,
    sums_hook: SumsHook | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The gradients of a training-mode batch normalisation (with the ReLU after it when
    ``y2``, the ReLU's output, is given).

    Parameters
    ----------
    dout2 : (C, M)
        Gradient of the output (of the ReLU's output when ``y2`` is given).
    z2 : (C, M)
        The normalisation's input.
    stats : BatchStats
        What the forward pass computed.
    out : (C, M)
        Receives ``dz``; may not be ``dout2`` or ``z2``.
    scratch : float array of at least ``CHUNK`` numbers.

    Returns
    -------
    (dz, dgamma, dbeta)
        ``dz`` is ``out``; ``dgamma`` and ``dbeta`` are float64 ``(C,)``.
    """
    c, m_local = z2.shape
    blocks = _blocks(c, m_local)
    sums = np.zeros(2 * c, dtype=np.float64)
    sg, sgz = sums[:c], sums[c:]
    mask = None if y2 is None else np.empty(CHUNK, dtype=bool)
    # Sweep 1: g (masked by the ReLU, into ``out``) and its two per-channel sums.
    for r0, r1, s0, s1 in blocks:
        if y2 is None or mask is None:
            gc = dout2[r0:r1, s0:s1]
        else:
            shape = (r1 - r0, s1 - s0)
            passed = np.greater(y2[r0:r1, s0:s1], 0, out=mask[: shape[0] * shape[1]].reshape(shape))
            gc = np.multiply(dout2[r0:r1, s0:s1], passed, out=out[r0:r1, s0:s1])
        sg[r0:r1] += np.add.reduce(gc, axis=1)
        sgz[r0:r1] += np.vecdot(gc, z2[r0:r1, s0:s1])
    if sums_hook is not None:
        sums = sums_hook(sums)
        sg, sgz = sums[:c], sums[c:]
    m = stats.m
    s = stats.inv_std
    dbeta = sg
    dgamma = s * (sgz - stats.mean * sg)
    g64 = gamma.astype(np.float64)
    a = g64 * s
    bcoef = -g64 * s * s * dgamma / m
    ccoef = -a * dbeta / m - bcoef * stats.mean
    a2 = a.astype(z2.dtype)[:, None]
    b2 = bcoef.astype(z2.dtype)[:, None]
    c2 = ccoef.astype(z2.dtype)[:, None]
    # Sweep 2: dz = A * g + B * z + C.
    for r0, r1, s0, s1 in blocks:
        oc = out[r0:r1, s0:s1]
        gc = dout2[r0:r1, s0:s1] if y2 is None else oc
        t = scratch[: (r1 - r0) * (s1 - s0)].reshape(r1 - r0, s1 - s0)
        np.multiply(z2[r0:r1, s0:s1], b2[r0:r1], out=t)
        t += c2[r0:r1]
        np.multiply(gc, a2[r0:r1], out=oc)
        oc += t
    return out, dgamma, dbeta
