"""Vectorised convolution and pooling kernels in the engine's batch-last layout.

(One file of about 750 lines, most of it docstrings: the convolution and pooling
kernels share the window views, the padding and the ufunc-buffer rule below. Should it
grow, it would split into convolution (unfold, fold, products) and pooling modules over
a small one holding those shared helpers.)

Every array here keeps the batch as the innermost axis: images are ``(C, H, W, N)``,
vectors ``(F, N)``. With that layout each shifted-slice copy below moves runs of
``OW * N`` contiguous numbers, flattening is a free reshape, and the unfolded
("im2col") matrix of a convolution multiplies straight into the next layer's layout:
long contiguous runs instead of NumPy calls over short ones, which is where most of
the engine's speed comes from (``docs/architecture.md``, section 4; figures in
``benchmarks/README.md``, "Figures quoted in the code").

No function loops over samples, pixels or channels; the only Python loops run over
the ``kh * kw`` kernel offsets and over blocks of output rows. A convolution's product
runs in blocks of about ``CONV_BLOCK`` columns, each unfolded into one small array
while it is multiplied; a training batch wider than one block never makes the whole
unfolded matrix, forward or backward (``weight_grad_unfolding``, ``FoldByBlocks``).

Padding is given as explicit ``(top, bottom, left, right)`` tuples so asymmetric
"same" padding (even kernels, strides > 1) needs no special case.

Each kernel names the function of the reference tier (``cnnstudio.engine.reference``,
NCHW, written to be read) it reproduces; the tests compare the two.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = [
    "Col2Im",
    "FoldByBlocks",
    "MaxPoolBackward",
    "MaxPoolPlan",
    "RowConv",
    "avgpool_backward",
    "avgpool_forward",
    "col2im",
    "conv_block_rows",
    "conv_forward",
    "im2col",
    "matmul_wide",
    "maxpool_backward",
    "maxpool_forward",
    "pad",
    "to_batch_first",
    "to_batch_last",
    "unpad",
    "weight_grad",
    "weight_grad_unfolding",
]

Pads = tuple[int, int, int, int]

#: Inner length above which a skinny weight-gradient GEMM is split into chunks.
#: OpenBLAS handles (C_out x M) @ (M x K) with a long M and tiny C_out, K badly (LeNet's
#: first convolution: M ~ 50k); chunks of a few thousand columns stay in cache.
GEMM_CHUNK = 4096
#: Columns (output positions x batch) per block of a convolution's product: its
#: forward pass, and for wider training batches the weight gradient and the fold too.
CONV_BLOCK = 2048
#: Largest batch that max pooling takes one axis at a time (see ``maxpool_forward``).
SEPARABLE_POOL_BATCH = 2
#: NumPy's ufunc buffer size (``np.setbufsize``, in elements) for the slice-adds of
#: ``Col2Im``, and for the elementwise operations of pooling. A ufunc whose operands are
#: strided views (runs of ``OW * N`` or only ``N`` contiguous numbers) copies them
#: through buffers of this many elements. With NumPy's default, 8,192, col2im's runs
#: (``OW * N``) are copied in and out; with 256 they are longer than a buffer and added
#: where they are. Pooling's runs are copied at any size, and three buffers of 2,048
#: float32 fit a core's L1 cache where three of 8,192 do not (``benchmarks/README.md``,
#: "NumPy's ufunc buffers").
SLICE_ADD_BUFSIZE = 256
POOL_BUFSIZE = 2048


class _UfuncBuffer:
    """``with _UfuncBuffer(n):`` runs NumPy's ufuncs with buffers of ``n`` elements, and
    restores the previous size after (it is per thread, like ``np.errstate``)."""

    __slots__ = ("old", "size")

    def __init__(self, size: int) -> None:
        self.size, self.old = size, 0

    def __enter__(self) -> None:
        self.old = np.setbufsize(self.size)

    def __exit__(self, *exc: object) -> None:
        np.setbufsize(self.old)


def to_batch_last(x: np.ndarray) -> np.ndarray:
    """``(N, ...)`` -> ``(..., N)`` as a C-contiguous copy."""
    return np.ascontiguousarray(np.moveaxis(x, 0, -1))


def to_batch_first(x: np.ndarray) -> np.ndarray:
    """``(..., N)`` -> ``(N, ...)`` as a C-contiguous copy."""
    return np.ascontiguousarray(np.moveaxis(x, -1, 0))


def pad(x: np.ndarray, pads: Pads, value: float = 0.0, out: np.ndarray | None = None) -> np.ndarray:
    """Pad the two spatial axes of a ``(C, H, W, N)`` array.

    Parameters
    ----------
    x : ndarray (C, H, W, N)
    pads : (top, bottom, left, right)
    value : float
        Fill value of the border (``-inf`` for max pooling).
    out : ndarray, optional
        A preallocated ``(C, H + top + bottom, W + left + right, N)`` buffer whose
        border already holds ``value``; only the interior is written.

    Reproduces ``reference.im2col.pad``.
    """
    t, b, lft, rgt = pads
    if not (t or b or lft or rgt):
        return x
    c, h, w, n = x.shape
    if out is None:
        out = np.full((c, h + t + b, w + lft + rgt, n), value, dtype=x.dtype)
    out[:, t : t + h, lft : lft + w, :] = x
    return out


def unpad(xp: np.ndarray, pads: Pads) -> np.ndarray:
    """The interior of a padded ``(C, Hp, Wp, N)`` array (a view).

    Reproduces ``reference.im2col.unpad``."""
    t, b, lft, rgt = pads
    if not (t or b or lft or rgt):
        return xp
    return xp[:, t : xp.shape[1] - b, lft : xp.shape[2] - rgt, :]


def _windows(xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, oh: int, ow: int) -> np.ndarray:
    """All ``kh * kw`` shifted windows of ``xp`` as one ``(C, kh, kw, OH, OW, N)`` view (read only).

    Built with the ``ndarray`` constructor when ``xp`` is contiguous: ``as_strided`` does
    much more Python-level work per call, and this runs several times a training step.
    """
    c, _, _, n = xp.shape
    s0, s1, s2, s3 = xp.strides
    shape = (c, kh, kw, oh, ow, n)
    strides = (s0, s1, s2, s1 * sh, s2 * sw, s3)
    if xp.flags.c_contiguous:
        return np.ndarray(shape, xp.dtype, xp, 0, strides)
    return as_strided(xp, shape, strides, writeable=False)


def _steps(start: int, step: int, count: int) -> slice:
    """``count`` indices ``start, start + step, ...`` as a slice."""
    return slice(start, start + step * (count - 1) + 1, step)


def _window(xp: np.ndarray, i: int, j: int, sh: int, sw: int, oh: int, ow: int) -> np.ndarray:
    """The ``(C, OH, OW, N)`` view of ``xp`` under kernel offset ``(i, j)``."""
    return xp[:, _steps(i, sh, oh), _steps(j, sw, ow), :]


def im2col(
    xp: np.ndarray,
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    oh: int,
    ow: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Unfold a padded ``(C, Hp, Wp, N)`` input into ``(C*kh*kw, OH*OW*N)``.

    Row ``(c, i, j)`` holds input channel ``c`` shifted by kernel offset ``(i, j)``,
    so ``w.reshape(C_out, -1) @ cols`` is the cross-correlation in ``(C_out, OH, OW, N)``.

    Reproduces ``reference.im2col.im2col``, whose columns run over ``(N, OH, OW)``.
    """
    c, _, _, n = xp.shape
    if out is None:
        out = np.empty((c, kh, kw, oh, ow, n), dtype=xp.dtype)
    cols = out.reshape(c, kh, kw, oh, ow, n)
    # All kh*kw shifted windows as one strided view, copied in a single call: the same
    # data movement as a loop of kh*kw slice copies, minus their per-call cost, which
    # is most of the time for small batches.
    np.copyto(cols, _windows(xp, kh, kw, sh, sw, oh, ow))
    return cols.reshape(c * kh * kw, oh * ow * n)


def conv_block_rows(oh: int, ow: int, n: int) -> int:
    """Output rows per block of ``conv_forward``: about ``CONV_BLOCK`` columns, at least 1."""
    return min(oh, max(1, CONV_BLOCK // (ow * n)))


def conv_forward(
    xp: np.ndarray,
    wmat: np.ndarray,
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    oh: int,
    ow: int,
    cols: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Cross-correlation of a padded ``(C, Hp, Wp, N)`` input with ``wmat`` (C_out, C*kh*kw).

    Returns ``(y, cols)``: ``y`` (C_out, OH*OW*N; in ``out`` if given) and the unfolded
    input (kept for the weight gradient). The unfolding and the product run in blocks
    of ``conv_block_rows`` output rows (about ``CONV_BLOCK`` columns), so each block is
    multiplied while it is still in cache instead of being written out to memory and
    read back, which matters most for large batches.

    ``cols`` may be narrower than the whole unfolding, ``(C*kh*kw, rows * OW * N)`` for
    ``rows = conv_block_rows(...)``: then each block is unfolded into the same small array
    and the returned ``cols`` is ``None`` (``weight_grad_unfolding`` unfolds it again).

    Reproduces ``W @ im2col(xp)`` of ``reference.conv.Conv2D.forward``.
    """
    c, _, _, n = xp.shape
    per_row = ow * n
    m = oh * per_row
    if cols is None:
        cols = np.empty((c * kh * kw, m), dtype=xp.dtype)
    whole = cols.shape[1] == m
    windows = _windows(xp, kh, kw, sh, sw, oh, ow)
    y = np.empty((wmat.shape[0], m), dtype=np.result_type(wmat, xp)) if out is None else out
    rows = conv_block_rows(oh, ow, n)
    for r0 in range(0, oh, rows):
        r1 = min(oh, r0 + rows)
        block = cols[:, r0 * per_row : r1 * per_row] if whole else cols[:, : (r1 - r0) * per_row]
        np.copyto(block.reshape(c, kh, kw, r1 - r0, ow, n), windows[:, :, :, r0:r1])
        np.matmul(wmat, block, out=y[:, r0 * per_row : r1 * per_row])
    return y, (cols if whole else None)


def weight_grad_unfolding(
    dout2: np.ndarray,
    xp: np.ndarray,
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    oh: int,
    ow: int,
    block: np.ndarray,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """``weight_grad(dout2, im2col(xp, ...))`` without the whole unfolded matrix: each block
    of ``conv_block_rows`` output rows is unfolded again into ``block`` (the narrow array
    ``conv_forward`` used) and multiplied while it is in cache.

    A training step that keeps the whole unfolding carries it through the rest of the
    forward and backward passes: LeNet's first convolution's is 1.25 MB at 16 images,
    more than half a core's L2 cache, and was written and read back from further away.
    Unfolding each block again costs one more copy and keeps the step in cache, the
    better trade for every training batch of more than one block (``benchmarks/README.md``,
    "Unfolding twice").

    Reproduces ``dW = dY @ cols.T`` of ``reference.conv.Conv2D.backward``.
    """
    c, _, _, n = xp.shape
    c_out = dout2.shape[0]
    per_row = ow * n
    rows = conv_block_rows(oh, ow, n)
    windows = _windows(xp, kh, kw, sh, sw, oh, ow)
    k = c * kh * kw
    dtype = np.result_type(dout2, xp)
    acc = np.empty((k, c_out), dtype=dtype)
    part = np.empty((k, c_out), dtype=dtype)
    for r0 in range(0, oh, rows):
        r1 = min(oh, r0 + rows)
        cb = block[:, : (r1 - r0) * per_row]
        np.copyto(cb.reshape(c, kh, kw, r1 - r0, ow, n), windows[:, :, :, r0:r1])
        d = dout2[:, r0 * per_row : r1 * per_row]
        if r0 == 0:
            np.matmul(cb, d.T, out=acc)
        else:
            acc += np.matmul(cb, d.T, out=part)
    if out is None:
        return np.ascontiguousarray(acc.T)
    np.copyto(out, acc.T)
    return out


class RowConv:
    """Stride-1 cross-correlation unfolded by whole padded rows, for one or two images.

    Computing each output row over the full padded width ``Wp`` instead of ``OW`` makes
    the unfolded row of kernel offset ``(c, i, j)`` one contiguous run of the flattened
    padded input, starting at ``((c * Hp + i) * Wp + j) * N``: the unfolding copies
    ``C * kh * kw`` long runs instead of ``C * kh * kw * OH`` runs of ``OW * N``
    numbers. Its price is ``Wp / OW`` times the multiply-adds, so it pays only for
    ``N`` of 1 or 2, where copying many short runs costs more than the product
    (``benchmarks/README.md``, "Single-image latency").

    Everything is allocated once per input shape: the padded input (its border and the
    tail the last runs read past its end are zeros written once), the unfolded matrix,
    the output, and the strided views between them, so a call is three NumPy calls.

    Parameters
    ----------
    x_shape : (C, H, W, N)
    pads : (top, bottom, left, right)
    kh, kw : kernel size
    c_out : output channels

    Reproduces ``reference.conv.Conv2D.forward`` at stride 1 (before its bias).
    """

    def __init__(
        self, x_shape: tuple[int, int, int, int], pads: Pads, kh: int, kw: int, c_out: int, dtype
    ) -> None:
        c, h, w, n = x_shape
        t, b, lft, rgt = pads
        hp, wp = h + t + b, w + lft + rgt
        self.key = (tuple(x_shape), np.dtype(dtype))
        self.oh, self.ow = hp - kh + 1, wp - kw + 1
        size = c * hp * wp * n
        #: The padded input flattened, then ``(kw - 1) * N`` more elements: the last
        #: runs read into them, for columns that are dropped.
        self.flat = np.zeros(size + (kw - 1) * n, dtype=dtype)
        self.interior = self.flat[:size].reshape(c, hp, wp, n)[:, t : t + h, lft : lft + w]
        m = self.oh * wp * n
        s = self.flat.itemsize
        self.runs = np.ndarray(
            (c, kh, kw, m), self.flat.dtype, self.flat, 0, (hp * wp * n * s, wp * n * s, n * s, s)
        )
        self.cols = np.empty((c * kh * kw, m), dtype=dtype)
        self.cols4 = self.cols.reshape(c, kh, kw, m)
        self.y = np.empty((c_out, m), dtype=dtype)
        #: The output ``(C_out, OH, Wp, N)``; columns from ``OW`` on are padding.
        self.y4 = self.y.reshape(c_out, self.oh, wp, n)
        #: Its ``(C_out, OH, OW, N)`` part: one view for good, so that a plan made of it
        #: (``MaxPoolPlan``) stays valid.
        self.valid = self.y4[:, :, : self.ow]

    def __call__(self, x: np.ndarray, wmat: np.ndarray) -> np.ndarray:
        """``(C_out, OH, Wp, N)`` for ``x`` (C, H, W, N) and ``wmat`` (C_out, C*kh*kw).

        The array is this object's own, overwritten by the next call.
        """
        np.copyto(self.interior, x)
        np.copyto(self.cols4, self.runs)
        np.matmul(wmat, self.cols, out=self.y)
        return self.y4


class MaxPoolPlan:
    """Max pooling of one fixed ``(C, Hp, Wp, N)`` array of one or two images (such as
    ``RowConv.valid``, or a padded input's buffer) by ``maxpool_forward``'s two passes,
    with every strided view and the scratch array made once.

    ``matches(xp)`` says whether the plan was made for this very array.

    Reproduces ``reference.pooling.MaxPool2D.forward``.
    """

    def __init__(
        self, xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, oh: int, ow: int
    ) -> None:
        c, _, wp, n = xp.shape
        self.xp = xp
        self.rows = [xp[:, _steps(i, sh, oh)] for i in range(kh)]
        self.work = np.empty((c, oh, wp, n), dtype=xp.dtype)
        self.cols = [self.work[:, :, _steps(j, sw, ow)] for j in range(kw)]

    def matches(self, xp: np.ndarray) -> bool:
        """Whether this plan was made for this very array."""
        return self.xp is xp

    def __call__(self, out: np.ndarray | None = None) -> np.ndarray:
        """The pooled ``(C, OH, OW, N)`` of the array's current contents, in ``out`` or a
        new array."""
        _max_of(self.rows, self.work)
        return _max_of(self.cols, out)


def col2im(
    dcols: np.ndarray,
    xp_shape: tuple[int, int, int, int],
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    oh: int,
    ow: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Fold ``(C*kh*kw, OH*OW*N)`` gradients back onto the padded input (adjoint of im2col).

    One slice-add per kernel offset; overlapping windows add up. (``np.add.at`` would do
    the same element by element, far slower.) A training step keeps a ``Col2Im`` instead,
    for its views.

    Reproduces ``reference.im2col.col2im``.
    """
    if out is None:
        out = np.empty(xp_shape, dtype=dcols.dtype)
    return Col2Im(dcols, out, kh, kw, sh, sw, oh, ow)()


class Col2Im:
    """``col2im`` from one fixed ``dcols`` array into one fixed ``out`` array, with the
    ``kh * kw`` pairs of views made once: a training step's buffers stay the same from
    step to step, and for small batches making the views (one pair per kernel offset)
    cost more than the additions themselves.

    ``matches(dcols, out)`` says whether the plan was made for these arrays.

    Reproduces ``reference.im2col.col2im``.
    """

    def __init__(
        self,
        dcols: np.ndarray,
        out: np.ndarray,
        kh: int,
        kw: int,
        sh: int,
        sw: int,
        oh: int,
        ow: int,
    ) -> None:
        c, _, _, n = out.shape
        d6 = dcols.reshape(c, kh, kw, oh, ow, n)
        self.dcols, self.out = dcols, out
        self.pairs = [
            (_window(out, i, j, sh, sw, oh, ow), d6[:, i, j]) for i in range(kh) for j in range(kw)
        ]

    def matches(self, dcols: np.ndarray, out: np.ndarray) -> bool:
        """Whether this plan was made for these very arrays."""
        return self.dcols is dcols and self.out is out

    def __call__(self, accumulate: bool = False) -> np.ndarray:
        """``col2im`` of the current contents of ``dcols``, in ``out`` (added to what
        ``out`` holds with ``accumulate=True``)."""
        out = self.out
        if not accumulate:
            out.fill(0)
        add = np.add
        with _UfuncBuffer(SLICE_ADD_BUFSIZE):
            for dst, src in self.pairs:
                # np.add with out= rather than ``view[...] += src``: the latter also runs a
                # __setitem__ of the view onto itself, more Python-level work per offset.
                add(dst, src, out=dst)
        return out


class FoldByBlocks:
    """The input gradient of a convolution whose forward product ran in blocks of
    ``conv_block_rows`` output rows (``conv_forward`` with a narrow ``cols``): block by
    block, ``wmat.T @ dout2`` into the narrow array ``block``, then folded (``col2im``)
    onto ``out``, the padded input's gradient, where the blocks' windows overlap and add
    up. The whole ``(C*kh*kw, OH*OW*N)`` matrix of column gradients never exists, and each
    block is folded while it is in cache, which made training steps faster than with
    one whole matrix (``benchmarks/README.md``, "Unfolding twice"). Each block's
    ``Col2Im`` views are made once.

    Reproduces ``col2im(W.T @ dY)`` of ``reference.conv.Conv2D.backward``.
    """

    def __init__(
        self,
        block: np.ndarray,
        out: np.ndarray,
        kh: int,
        kw: int,
        sh: int,
        sw: int,
        oh: int,
        ow: int,
    ) -> None:
        n = out.shape[-1]
        per_row = ow * n
        rows = conv_block_rows(oh, ow, n)
        self.block, self.out = block, out
        self.parts: list[tuple[int, int, np.ndarray, Col2Im]] = []
        for r0 in range(0, oh, rows):
            r1 = min(oh, r0 + rows)
            dcols = block[:, : (r1 - r0) * per_row]
            # The input rows this block's windows cover: a view, so the folds add up.
            below = out[:, r0 * sh : (r1 - 1) * sh + kh]
            fold = Col2Im(dcols, below, kh, kw, sh, sw, r1 - r0, ow)
            self.parts.append((r0 * per_row, r1 * per_row, dcols, fold))

    def matches(self, block: np.ndarray, out: np.ndarray) -> bool:
        """Whether this plan was made for these very arrays."""
        return self.block is block and self.out is out

    def __call__(self, wmat_t: np.ndarray, dout2: np.ndarray) -> np.ndarray:
        """``col2im(wmat_t @ dout2)`` into ``out``, for ``dout2`` (C_out, OH*OW*N)."""
        self.out.fill(0)
        for a, b, dcols, fold in self.parts:
            np.matmul(wmat_t, dout2[:, a:b], out=dcols)
            fold(accumulate=True)
        return self.out


def matmul_wide(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` for a small ``a`` and a very wide ``b`` (K, M), in column chunks of ``b``.

    OpenBLAS runs (6 x 25) @ (25 x 50k) -- the first convolution of LeNet -- faster as
    a dozen (25 x 4096) pieces that stay in cache.

    Reproduces the products ``W @ cols`` and ``W.T @ dY`` of ``reference.conv.Conv2D``.
    """
    m = b.shape[1]
    if m <= 2 * GEMM_CHUNK:
        return np.matmul(a, b, out=out)
    if out is None:
        out = np.empty((a.shape[0], m), dtype=np.result_type(a, b))
    for s in range(0, m, GEMM_CHUNK):
        np.matmul(a, b[:, s : s + GEMM_CHUNK], out=out[:, s : s + GEMM_CHUNK])
    return out


def weight_grad(dout2: np.ndarray, cols: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``dout2 @ cols.T`` for ``dout2`` (C_out, M) and ``cols`` (K, M), chunked along ``M``.

    Computed as ``(cols @ dout2.T).T``: OpenBLAS runs that orientation faster for these
    skinny shapes, and chunks of about ``GEMM_CHUNK`` columns keep the first
    convolution's ~50k-long inner dimension in cache (both measured on LeNet's layers:
    ``benchmarks/README.md``, "Figures quoted in the code").

    The chunks run as one batched ``matmul`` over a strided view (no copy).

    Reproduces ``dW = dY @ cols.T`` of ``reference.conv.Conv2D.backward``.
    """
    k, m = cols.shape
    c_out = dout2.shape[0]
    n_chunks = max(1, m // GEMM_CHUNK)
    if n_chunks == 1:
        acc = cols @ dout2.T
    else:
        width = m // n_chunks
        main = n_chunks * width
        a3 = cols[:, :main].reshape(k, n_chunks, width).transpose(1, 0, 2)
        b3 = dout2[:, :main].reshape(c_out, n_chunks, width).transpose(1, 2, 0)
        acc = np.matmul(a3, b3).sum(axis=0)
        if main < m:
            acc += cols[:, main:] @ dout2[:, main:].T
    if out is None:
        return np.ascontiguousarray(acc.T)
    np.copyto(out, acc.T)
    return out


def maxpool_forward(
    xp: np.ndarray,
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    oh: int,
    ow: int,
    work: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Max pooling of a padded ``(C, Hp, Wp, N)`` input by elementwise maxima of strided views.

    The result is a new array, or ``out`` (C, OH, OW, N) if given.

    For one or two images (up to ``SEPARABLE_POOL_BATCH``), one axis at a time: a
    window's maximum is the maximum over its rows of each row's maximum, so a height
    pass takes ``kh - 1`` maxima of whole (contiguous) rows into a ``(C, OH, Wp, N)``
    array (``work``, if given) and a width pass ``kw - 1`` more over half of that. For a
    2x2 window that is 2 calls instead of 3 over strided views whose innermost run is
    only ``N`` long, and for one image the cost is in the calls, not the arithmetic. For
    training batches the two passes were no faster within a whole training step, so
    batches keep the window-by-window maxima.

    (``reshape(...).max(axis=...)`` was much slower, and so was tracking the argmax
    here: the backward pass recovers it from ``xp`` and the output. Figures in
    ``benchmarks/README.md``, "Figures quoted in the code".)

    Reproduces ``reference.pooling.MaxPool2D.forward``.
    """
    n = xp.shape[-1]
    if n > SEPARABLE_POOL_BATCH:
        views = [_window(xp, i, j, sh, sw, oh, ow) for i in range(kh) for j in range(kw)]
        with _UfuncBuffer(POOL_BUFSIZE):
            return _max_of(views, out)
    u = _max_of([xp[:, _steps(i, sh, oh)] for i in range(kh)], work)
    return _max_of([u[:, :, _steps(j, sw, ow)] for j in range(kw)], out)


def _max_of(views: list[np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
    """The elementwise maximum of ``views`` (same shape), into ``out`` or a new array."""
    if len(views) == 1:
        if out is None:
            return views[0].copy()
        np.copyto(out, views[0])
        return out
    out = np.maximum(views[0], views[1], out=out)
    for v in views[2:]:
        np.maximum(out, v, out=out)
    return out


def maxpool_backward(
    dout: np.ndarray,
    xp: np.ndarray,
    pooled: np.ndarray,
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Route ``dout`` (C, OH, OW, N) to each window's *first* maximum in the padded input.

    ``xp`` is the padded input and ``pooled`` the forward output. Windows are scanned in
    row-major order; an element gets the gradient if it equals the window's maximum and
    no earlier element did. Ties are common (blank backgrounds: 12% of MNIST windows),
    and an ``x == max`` mask would hand the gradient to every tied element.

    Reproduces ``reference.pooling.MaxPool2D.backward``.
    """
    if out is None:
        out = np.empty(xp.shape, dtype=dout.dtype)
    if MaxPoolBackward.fits(kh, kw, sh, sw):  # (a training step keeps one)
        return MaxPoolBackward(xp, pooled, out, kh, kw, sh, sw)(dout)
    # Overlapping windows: an element may collect gradients from several of them.
    with _UfuncBuffer(POOL_BUFSIZE):
        _, oh, ow, _ = dout.shape
        out.fill(0)
        taken = np.zeros(dout.shape, dtype=bool)
        last = kh * kw - 1
        for i in range(kh):
            for j in range(kw):
                k = i * kw + j
                if k == last:
                    # Whatever is not taken yet must be the maximum here.
                    sel = np.logical_not(taken, out=taken)
                else:
                    sel = _window(xp, i, j, sh, sw, oh, ow) == pooled
                    if k:
                        sel &= ~taken
                        taken |= sel
                    else:
                        taken[...] = sel
                dst = _window(out, i, j, sh, sw, oh, ow)
                dst += dout * sel
    return out


class MaxPoolBackward:
    """``maxpool_backward`` for one fixed padded input ``xp``, forward output ``pooled``
    and gradient array ``out`` (a training step's buffers), with every window view and
    the two boolean scratch arrays made once. Only for windows that do not overlap
    (stride >= window), the usual case.

    Reproduces ``reference.pooling.MaxPool2D.backward``.
    """

    def __init__(
        self,
        xp: np.ndarray,
        pooled: np.ndarray,
        out: np.ndarray,
        kh: int,
        kw: int,
        sh: int,
        sw: int,
    ) -> None:
        _, oh, ow, _ = pooled.shape
        offsets = [(i, j) for i in range(kh) for j in range(kw)]
        self.xp, self.pooled, self.out = xp, pooled, out
        self.x_windows = [_window(xp, i, j, sh, sw, oh, ow) for i, j in offsets]
        self.out_windows = [_window(out, i, j, sh, sw, oh, ow) for i, j in offsets]
        # Windows that tile the whole input overwrite every element of ``out``.
        self.tiles = sh * oh == xp.shape[1] and sw * ow == xp.shape[2]
        self.taken = np.zeros(pooled.shape, dtype=bool)  # (stays so for a 1x1 window)
        self.sel = np.empty(pooled.shape, dtype=bool)

    @staticmethod
    def fits(kh: int, kw: int, sh: int, sw: int) -> bool:
        """Whether windows of this size and stride do not overlap (what this plan needs)."""
        return sh >= kh and sw >= kw

    def matches(self, xp: np.ndarray, pooled: np.ndarray, out: np.ndarray) -> bool:
        """Whether this plan was made for these very arrays."""
        return self.xp is xp and self.pooled is pooled and self.out is out

    def __call__(self, dout: np.ndarray) -> np.ndarray:
        """As ``maxpool_backward(dout, xp, pooled, ...)``, into ``out``."""
        out, pooled, taken, sel = self.out, self.pooled, self.taken, self.sel
        if not self.tiles:
            out.fill(0)
        last = len(self.x_windows) - 1
        with _UfuncBuffer(POOL_BUFSIZE):
            for k, (xw, dst) in enumerate(zip(self.x_windows, self.out_windows, strict=True)):
                if k == last:
                    np.logical_not(taken, out=sel)  # what is not taken yet is the maximum
                elif k == 0:
                    np.equal(xw, pooled, out=taken)
                    np.multiply(dout, taken, out=dst)
                    continue
                else:
                    np.equal(xw, pooled, out=sel)
                    np.greater(sel, taken, out=sel)  # sel and not taken
                    np.logical_or(taken, sel, out=taken)
                np.multiply(dout, sel, out=dst)
        return out


def avgpool_forward(
    xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, oh: int, ow: int
) -> np.ndarray:
    """Average pooling of a zero-padded input; padded zeros count in every window's mean.

    Summed one axis at a time, as ``maxpool_forward`` takes its maxima.

    Reproduces ``reference.pooling.AvgPool2D.forward``.
    """
    with _UfuncBuffer(POOL_BUFSIZE):
        u = xp[:, _steps(0, sh, oh)].copy()
        for i in range(1, kh):
            u += xp[:, _steps(i, sh, oh)]
        out = u[:, :, _steps(0, sw, ow)].copy()
        for j in range(1, kw):
            out += u[:, :, _steps(j, sw, ow)]
        out *= out.dtype.type(1.0 / (kh * kw))
    return out


def avgpool_backward(
    dout: np.ndarray,
    xp_shape: tuple[int, int, int, int],
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Spread ``dout`` evenly over each window of the padded input.

    Reproduces ``reference.pooling.AvgPool2D.backward``."""
    _, oh, ow, _ = dout.shape
    if out is None:
        out = np.zeros(xp_shape, dtype=dout.dtype)
    else:
        out.fill(0)
    share = dout * dout.dtype.type(1.0 / (kh * kw))
    with _UfuncBuffer(POOL_BUFSIZE):
        for i in range(kh):
            for j in range(kw):
                _window(out, i, j, sh, sw, oh, ow)[...] += share
    return out
