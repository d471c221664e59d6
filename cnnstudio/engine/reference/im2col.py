"""Padding, and unfolding image windows into columns (``im2col``) and back (``col2im``).

A convolution takes the dot product of each kernel with every window of its input.
``im2col`` copies every window into one column of a matrix, so all those dot products
become one matrix product. ``col2im`` is its exact adjoint (its transpose): it adds
each column back onto the input positions its window covered, which is how a gradient
with respect to the columns becomes one with respect to the input.

Shapes: a padded input ``xp`` of ``(N, C, Hp, Wp)``, windows of ``kh x kw`` moved by
``sh`` rows and ``sw`` columns, ``OH x OW`` windows per image. The columns are
``(C*kh*kw, N*OH*OW)``: row ``(c, i, j)`` holds channel ``c`` at offset ``(i, j)``
inside each window; column ``(n, r, q)`` is the window at output position ``(r, q)``
of image ``n``.
"""

from __future__ import annotations

import numpy as np

from cnnstudio.engine.shapes import conv_output_size

__all__ = ["col2im", "im2col", "pad", "unpad", "windows"]

Pads = tuple[int, int, int, int]


def pad(x: np.ndarray, pads: Pads, value: float = 0.0) -> np.ndarray:
    """``x`` (N, C, H, W) with ``pads = (top, bottom, left, right)`` rows and columns of
    ``value`` around each image (zeros for convolution, ``-inf`` for max pooling)."""
    t, b, lft, rgt = pads
    return np.pad(x, ((0, 0), (0, 0), (t, b), (lft, rgt)), constant_values=value)


def unpad(xp: np.ndarray, pads: Pads) -> np.ndarray:
    """The inverse of ``pad``: the interior of ``xp`` (a view)."""
    t, b, lft, rgt = pads
    return xp[:, :, t : xp.shape[2] - b, lft : xp.shape[3] - rgt]


def windows(xp_shape: tuple[int, ...], kh: int, kw: int, sh: int, sw: int) -> tuple[int, int]:
    """``(OH, OW)``: how many windows fit down and across a padded input,
    ``floor((Hp - kh) / sh) + 1`` and the same for the width."""
    oh = conv_output_size(xp_shape[2], kh, sh, 0, axis="height")
    ow = conv_output_size(xp_shape[3], kw, sw, 0, axis="width")
    return oh, ow


def im2col(xp: np.ndarray, kh: int, kw: int, sh: int, sw: int) -> np.ndarray:
    """Unfold every ``kh x kw`` window of ``xp`` (N, C, Hp, Wp) into a column.

    Returns
    -------
    ndarray (C*kh*kw, N*OH*OW)
    """
    n, c = xp.shape[:2]
    oh, ow = windows(xp.shape, kh, kw, sh, sw)
    cols = np.empty((c, kh, kw, n, oh, ow), dtype=xp.dtype)
    for i in range(kh):
        for j in range(kw):
            # Offset (i, j) of all windows at once: rows i, i + sh, ..., columns j, j + sw, ...
            patch = xp[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw]  # (N, C, OH, OW)
            cols[:, i, j] = patch.transpose(1, 0, 2, 3)  # (C, N, OH, OW)
    return cols.reshape(c * kh * kw, n * oh * ow)


def col2im(
    cols: np.ndarray, xp_shape: tuple[int, ...], kh: int, kw: int, sh: int, sw: int
) -> np.ndarray:
    """Fold columns ``(C*kh*kw, N*OH*OW)`` back onto a padded input of ``xp_shape``,
    adding up where windows overlap: the adjoint of ``im2col``.

    Returns
    -------
    ndarray xp_shape (N, C, Hp, Wp)
    """
    n, c = xp_shape[:2]
    oh, ow = windows(xp_shape, kh, kw, sh, sw)
    cols = cols.reshape(c, kh, kw, n, oh, ow)
    xp = np.zeros(xp_shape, dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            # "+=": when the stride is smaller than the window, one input value sits in
            # several windows and its gradient is the sum of theirs.
            window = cols[:, i, j].transpose(1, 0, 2, 3)  # (N, C, OH, OW)
            xp[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw] += window
    return xp
