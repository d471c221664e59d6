"""Loss functions fused with the network's output activation.

The network's last layer (``Softmax`` or ``Sigmoid``) is never run during training:
its activation is folded into the loss, which is both cheaper and numerically stable
(log-sum-exp for softmax, ``softplus`` for the sigmoid). Each loss returns the mean
loss over the batch and its gradient with respect to the *logits*, which is what
``Network.backward`` expects.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from cnnstudio.engine.errors import EngineError

__all__ = [
    "LossFn",
    "check_label_smoothing",
    "labels_to_int",
    "loss_for",
    "sigmoid",
    "sigmoid_binary_cross_entropy",
    "softmax",
    "softmax_cross_entropy",
]

#: ``loss(logits, y) -> (mean loss, dlogits)``.
LossFn = Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis`` (the maximum is subtracted first)."""
    z = x - x.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function without overflow warnings for large ``|x|``."""
    # exp(-|x|) never overflows; the two branches are then rearranged algebraically.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def _check_logits_labels(logits: np.ndarray, y: np.ndarray, n_classes: int, what: str) -> None:
    if logits.ndim != 2:
        raise EngineError(f"{what}: logits must have shape (N, K), got {logits.shape}")
    check_labels(y, logits.shape[0], n_classes, what)


def check_labels(y: np.ndarray, n: int, n_classes: int, what: str) -> None:
    """Raise ``EngineError`` unless ``y`` is ``n`` class indices in ``0..n_classes-1``."""
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise EngineError(
            f"{what}: labels must have shape ({n},) to match the logits, got {y.shape}"
        )
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise EngineError(
            f"{what}: labels must be in 0..{n_classes - 1}, got values from {y.min()} to {y.max()}"
        )


def softmax_cross_entropy(
    logits: np.ndarray, y: np.ndarray, label_smoothing: float = 0.0
) -> tuple[float, np.ndarray]:
    """Softmax followed by cross-entropy, fused.

    Parameters
    ----------
    logits : ndarray, shape (N, K)
        Unnormalised scores (the input of the network's ``Softmax``).
    y : ndarray of int, shape (N,)
        Class indices in ``0..K-1``.
    label_smoothing : float in [0, 1)
        ``e``: the target of each sample is ``(1 - e) onehot(y) + e / K`` instead of
        ``onehot(y)`` (PyTorch's ``cross_entropy(..., label_smoothing=e)``). 0 is the
        plain loss, computed exactly as without the argument.

    Returns
    -------
    loss : float
        Mean over the batch of ``-sum_k t_k log softmax(logits)_k`` with the targets
        ``t`` above (``-log softmax(logits)[i, y_i]`` for ``e = 0``), computed with
        log-sum-exp so large logits neither overflow nor give ``log(0)``.
    dlogits : ndarray, shape (N, K)
        ``(softmax(logits) - t) / N``, same dtype as ``logits``.
    """
    k = logits.shape[-1] if logits.ndim else 0
    check_label_smoothing(label_smoothing, "softmax cross-entropy")
    _check_logits_labels(logits, y, k, "softmax cross-entropy")
    n = logits.shape[0]
    if n == 0:
        raise EngineError("softmax cross-entropy: the batch is empty")
    rows = np.arange(n)
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sums = exp.sum(axis=1)
    # log p_y = shifted_y - log(sum exp(shifted)); summed in float64 for an exact mean.
    target_sum = shifted[rows, y].sum(dtype=np.float64)
    if label_smoothing:
        # sum_k t_k log p_k = (1-e) log p_y + e/K sum_k log p_k, and sum_k t_k = 1.
        e = float(label_smoothing)
        target_sum = (1.0 - e) * target_sum + e / k * shifted.sum(dtype=np.float64)
    loss = float(np.log(sums).sum(dtype=np.float64) - target_sum) / n
    exp /= sums[:, None]
    if label_smoothing:
        exp[rows, y] -= 1.0 - e
        exp -= e / k
    else:
        exp[rows, y] -= 1.0
    exp /= n
    return loss, exp


def check_label_smoothing(value: Any, what: str = "label smoothing") -> None:
    """Raise ``EngineError`` unless ``value`` is a number in [0, 1)."""
    ok = (
        isinstance(value, int | float | np.floating | np.integer)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value < 1
    )
    if not ok:
        raise EngineError(f"{what}: label smoothing must be a number in [0, 1), got {value!r}")


def sigmoid_binary_cross_entropy(
    logits: np.ndarray, y: np.ndarray, label_smoothing: float = 0.0
) -> tuple[float, np.ndarray]:
    """Sigmoid followed by binary cross-entropy, fused.

    Parameters
    ----------
    logits : ndarray, shape (N, 1) or (N,)
        The single logit ``z`` per sample (the input of the network's ``Sigmoid``).
    y : ndarray of int, shape (N,)
        0 or 1 per sample.
    label_smoothing : float in [0, 1)
        ``e``: the target is ``t = (1 - e) y + e / 2`` (the two-class case of the
        softmax smoothing); 0 is the plain loss.

    Returns
    -------
    loss : float
        Mean of ``softplus(z) - t z`` (= ``-t log σ(z) - (1-t) log(1-σ(z))``), written
        as ``max(z, 0) - t z + log1p(exp(-|z|))`` so it is finite for any finite ``z``.
    dlogits : ndarray, same shape as ``logits``
        ``(σ(z) - t) / N``.
    """
    check_label_smoothing(label_smoothing, "sigmoid binary cross-entropy")
    if logits.ndim not in (1, 2):
        raise EngineError(
            f"sigmoid binary cross-entropy: logits must have shape (N, 1), got {logits.shape}"
        )
    z = logits if logits.ndim == 2 else logits.reshape(-1, 1)
    if z.shape[1] != 1:
        raise EngineError(
            f"sigmoid binary cross-entropy: logits must have shape (N, 1), got {logits.shape}"
        )
    _check_logits_labels(z, y, 2, "sigmoid binary cross-entropy")
    n = z.shape[0]
    if n == 0:
        raise EngineError("sigmoid binary cross-entropy: the batch is empty")
    z = z[:, 0]
    yf = y.astype(z.dtype)
    if label_smoothing:
        yf = yf * (1.0 - float(label_smoothing)) + 0.5 * float(label_smoothing)
        yf = yf.astype(z.dtype, copy=False)
    loss_terms = np.maximum(z, 0) - z * yf + np.log1p(np.exp(-np.abs(z)))
    loss = float(loss_terms.sum(dtype=np.float64)) / n
    d = sigmoid(z) - yf
    d /= n
    return loss, d.reshape(logits.shape)


#: The fused losses by function name, with the name their messages use. Helper
#: processes (engine/parallel.py) look a loss up here by name.
FUSED_LOSSES: dict[str, tuple[LossFn, str]] = {}


def labels_to_int(y: Any, what: str = "labels") -> np.ndarray:
    """Return ``y`` as a 1-D int64 array; floats are accepted only when they are whole numbers."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise EngineError(f"{what} must be a 1-D array of class indices, got shape {arr.shape}")
    if arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64, copy=False)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise EngineError(f"{what} must be whole class indices, got non-integer values")
        return arr.astype(np.int64)
    raise EngineError(f"{what} must be integer class indices, got dtype {arr.dtype}")


def loss_for(network: Any, label_smoothing: float = 0.0) -> LossFn:
    """The loss matching ``network.output_activation``.

    ``"sigmoid"`` (a 1-unit output) gives :func:`sigmoid_binary_cross_entropy`;
    ``"softmax"`` (or anything else: raw outputs are treated as logits for softmax,
    see docs/file-formats.md) gives :func:`softmax_cross_entropy`.

    A ``label_smoothing`` above 0 smooths the targets (see the two losses). The
    smoothed loss is not one of ``FUSED_LOSSES``, so ``engine.parallel`` runs it in
    the main process.
    """
    check_label_smoothing(label_smoothing)
    activation = getattr(network, "output_activation", "softmax")
    base = sigmoid_binary_cross_entropy if activation == "sigmoid" else softmax_cross_entropy
    if not label_smoothing:
        return base
    e = float(label_smoothing)

    def smoothed(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        return base(logits, y, e)

    smoothed.__name__ = f"smoothed_{base.__name__}"
    return smoothed


FUSED_LOSSES.update(
    softmax_cross_entropy=(softmax_cross_entropy, "softmax cross-entropy"),
    sigmoid_binary_cross_entropy=(sigmoid_binary_cross_entropy, "sigmoid binary cross-entropy"),
)
