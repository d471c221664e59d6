"""The fast (batch-last, vectorised) kernels.

Each path a fast convolution or pooling layer can take (blocks of the product, the
whole-row unfolding for one or two images, the two max-pooling algorithms, plans kept
from step to step, NumPy's ufunc buffer sizes) against the reference tier in float64:
``assert_matches_reference`` compares outputs and gradients with the layer's reference
twin, itself checked against loop-level definitions, central differences and PyTorch
in test_reference.py. The kernels' plans and chunked products are checked against the
plain kernels they stand for.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.engine import kernels
from cnnstudio.engine.layers import AvgPool2D, Conv2D, MaxPool2D
from cnnstudio.engine.reference.im2col import col2im as reference_col2im
from tests.engine.naive import to_float64
from tests.engine.test_reference import (
    AVG_POOL,
    CASES,
    CONV,
    MAX_POOL,
    assert_matches_reference,
    built_fast,
    inputs,
)


def _fast64(name: str, **config):
    """The built fast layer of a case in float64 (``config`` overriding the case's)."""
    type_name, case_config, shape = CASES[name]
    return to_float64(built_fast(type_name, case_config | config, shape))


@pytest.mark.parametrize("block", [None, 1, 7])
@pytest.mark.parametrize("name", CONV)
def test_conv_training_equals_the_reference(name, block, monkeypatch):
    # block: columns per block of the product (kernels.CONV_BLOCK). Small ones split the
    # batch's output rows into blocks (7: ragged ones), and training then unfolds the
    # input again for the weight gradient and folds block by block instead of keeping it.
    if block is not None:
        monkeypatch.setattr(kernels, "CONV_BLOCK", block)
    assert_matches_reference(_fast64(name), inputs(CASES[name], 3))


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("n", [1, 2, 5])
@pytest.mark.parametrize("name", CONV)
def test_conv_inference_equals_the_reference(name, n, flip):
    # One or two images at stride 1 take the whole-row unfolding (kernels.RowConv);
    # the rest the blocked one. Calling twice reuses the layer's buffers.
    layer = _fast64(name, flip_kernel=flip)
    for seed in range(2):
        y = assert_matches_reference(layer, inputs(CASES[name], n, seed), training=False)
        assert y.flags.c_contiguous


def test_row_unfolding_reads_its_tail_only_into_dropped_columns():
    # Whatever follows the padded input (NaN here) must not reach a kept column.
    rng = np.random.default_rng(6)
    c, h, w, n, kh, kw, pads = 3, 6, 5, 2, 3, 4, (0, 1, 1, 0)
    rc = kernels.RowConv((c, h, w, n), pads, kh, kw, 5, np.float64)
    size = rc.flat.size - (kw - 1) * n
    rc.flat[size:] = np.nan
    wmat = rng.normal(size=(5, c * kh * kw))
    for _ in range(2):  # the second call reuses every array
        x = rng.normal(size=(c, h, w, n))
        y = rc(x, wmat)
        assert y.shape == (5, rc.oh, w + 1, n) and (rc.oh, rc.ow) == (
            h + 1 - kh + 1,
            w + 1 - kw + 1,
        )
        xp = kernels.pad(x, pads)
        ref, _ = kernels.conv_forward(xp, wmat, kh, kw, 1, 1, rc.oh, rc.ow)
        np.testing.assert_allclose(y[:, :, : rc.ow], ref.reshape(5, rc.oh, rc.ow, n), rtol=1e-12)


def test_max_pool_plan_equals_maxpool_forward():
    rng = np.random.default_rng(7)
    src = rng.integers(0, 4, size=(3, 9, 8, 1)).astype(np.float32)
    for kh, kw, sh, sw in [(2, 2, 2, 2), (3, 3, 2, 2), (1, 2, 1, 2), (2, 1, 1, 1)]:
        oh, ow = (9 - kh) // sh + 1, (8 - kw) // sw + 1
        plan = kernels.MaxPoolPlan(src, kh, kw, sh, sw, oh, ow)
        first = plan()
        np.testing.assert_array_equal(first, kernels.maxpool_forward(src, kh, kw, sh, sw, oh, ow))
        src[...] = rng.integers(0, 4, size=src.shape)  # the plan reads the array in place
        np.testing.assert_array_equal(plan(), kernels.maxpool_forward(src, kh, kw, sh, sw, oh, ow))
        assert not np.shares_memory(first, plan())  # each result is a new array


def test_same_padding_even_kernel_puts_the_extra_row_at_the_bottom_right():
    layer = Conv2D(1, 4, padding="same", name="c")
    assert layer.pads((1, 6, 6)) == (1, 2, 1, 2)
    assert layer.output_shape((1, 6, 6)) == (1, 6, 6)
    strided = Conv2D(1, 3, stride=2, padding="same", name="s")
    assert strided.output_shape((1, 7, 8)) == (1, 4, 4)
    assert strided.pads((1, 7, 8)) == (1, 1, 0, 1)


def _ties(name: str, n: int, seed: int) -> np.ndarray:
    """A batch for a pooling case with three distinct values: many windows have tied
    maxima, as on MNIST's blank background."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 3, size=(n, *CASES[name][2])).astype(np.float64)


@pytest.mark.parametrize("separable", [True, False])
@pytest.mark.parametrize("name", MAX_POOL)
def test_maxpool_equals_the_reference_on_ties(monkeypatch, name, separable):
    # Both forward algorithms: one axis at a time (small batches) and window by window.
    monkeypatch.setattr(kernels, "SEPARABLE_POOL_BATCH", 16 if separable else 0)
    assert_matches_reference(_fast64(name), _ties(name, 2, 1))


@pytest.mark.parametrize("name", MAX_POOL)
def test_maxpool_backward_stays_right_from_step_to_step(name):
    # The layer keeps its backward pass's views of its arrays between steps: each new
    # batch (new inputs, new gradients) must be routed afresh, never by stale views.
    layer = _fast64(name)
    for step in range(3):
        assert_matches_reference(layer, _ties(name, 2, step), seed=step)


@pytest.mark.parametrize(
    ("shape", "kernel", "stride"), [((2, 7, 6, 3), (3, 2), (2, 1)), ((3, 9, 9, 4), (5, 5), (1, 1))]
)
def test_col2im_plan_equals_col2im_on_every_call(shape, kernel, stride):
    rng = np.random.default_rng(6)
    (kh, kw), (sh, sw) = kernel, stride
    oh, ow = (shape[1] - kh) // sh + 1, (shape[2] - kw) // sw + 1
    dcols = np.empty((shape[0] * kh * kw, oh * ow * shape[3]))
    out = np.empty(shape)
    fold = kernels.Col2Im(dcols, out, kh, kw, sh, sw, oh, ow)
    c, h, w, n = shape
    for _ in range(3):  # the same arrays, new contents each time
        dcols[...] = rng.normal(size=dcols.shape)
        # The reference folds NCHW columns ordered (N, OH, OW); these are (OH, OW, N).
        cols_nchw = dcols.reshape(-1, oh * ow, n).transpose(0, 2, 1).reshape(len(dcols), -1)
        expected = kernels.to_batch_last(reference_col2im(cols_nchw, (n, c, h, w), kh, kw, sh, sw))
        assert fold() is out
        np.testing.assert_allclose(out, expected, atol=1e-12)
    assert fold.matches(dcols, out)
    assert not fold.matches(dcols.copy(), out)


@pytest.mark.parametrize("name", AVG_POOL)
def test_avgpool_equals_the_reference(name):
    assert_matches_reference(_fast64(name), inputs(CASES[name], 2))


def test_avgpool_padding_counts_zeros():
    layer = AvgPool2D(2, stride=2, padding=1, name="p")
    x = np.full((1, 1, 2, 2), 4.0)
    # Every 2x2 window covers one real 4 and three padded zeros.
    np.testing.assert_array_equal(layer.forward(x), np.ones((1, 1, 2, 2)))


def test_im2col_and_col2im_are_adjoint():
    # <im2col(x), c> == <x, col2im(c)>: col2im is exactly the transpose of im2col.
    rng = np.random.default_rng(3)
    xp = rng.normal(size=(2, 7, 6, 3))
    kh, kw, sh, sw = 3, 2, 2, 1
    oh, ow = (7 - kh) // sh + 1, (6 - kw) // sw + 1
    cols = kernels.im2col(xp, kh, kw, sh, sw, oh, ow)
    c = rng.normal(size=cols.shape)
    back = kernels.col2im(c, xp.shape, kh, kw, sh, sw, oh, ow)
    assert np.isclose(np.sum(cols * c), np.sum(xp * back))


def test_chunked_weight_gradient_equals_one_matmul():
    rng = np.random.default_rng(4)
    d = rng.normal(size=(6, 3 * kernels.GEMM_CHUNK + 17))
    cols = rng.normal(size=(25, d.shape[1]))
    np.testing.assert_allclose(kernels.weight_grad(d, cols), d @ cols.T, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("m", [7, 300, 1025, 12_544, 2 * 4096 + 17])
def test_weight_gradient_chunking_any_width(m):
    # Every width, in one product or in chunks with or without a remainder, must give
    # the plain product.
    rng = np.random.default_rng(m)
    d = rng.normal(size=(6, m))
    cols = rng.normal(size=(25, m))
    out = np.empty((6, 25))
    kernels.weight_grad(d, cols, out=out)
    np.testing.assert_allclose(out, d @ cols.T, rtol=1e-10, atol=1e-10)


def test_layout_round_trip():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    xb = kernels.to_batch_last(x)
    assert xb.shape == (3, 4, 5, 2) and xb.flags.c_contiguous
    np.testing.assert_array_equal(kernels.to_batch_first(xb), x)


@pytest.mark.parametrize("chunk", [1, 37, 10_000])
def test_blocked_conv_forward_equals_one_unfold_and_matmul(monkeypatch, chunk):
    # Blocks of output rows (one row per block with chunk=1, a ragged last block with 37).
    monkeypatch.setattr(kernels, "CONV_BLOCK", chunk)
    rng = np.random.default_rng(5)
    xp = rng.normal(size=(2, 9, 8, 3))
    w = rng.normal(size=(4, 2 * 3 * 2))
    kh, kw, sh, sw = 3, 2, 2, 1
    oh, ow = (9 - kh) // sh + 1, (8 - kw) // sw + 1
    y, cols = kernels.conv_forward(xp, w, kh, kw, sh, sw, oh, ow)
    ref_cols = kernels.im2col(xp, kh, kw, sh, sw, oh, ow)
    np.testing.assert_array_equal(cols, ref_cols)
    np.testing.assert_allclose(y, w @ ref_cols, rtol=1e-12)


def test_kernels_past_their_ufunc_buffers_match_the_reference_and_restore_numpy():
    # The pooling and col2im kernels run NumPy's ufuncs with their own buffer sizes
    # (kernels.POOL_BUFSIZE, SLICE_ADD_BUFSIZE). Arrays many buffers long, with
    # contiguous runs longer than a buffer, must give the reference's numbers, and
    # the caller's buffer size must be back afterwards.
    rng = np.random.default_rng(8)
    old = np.setbufsize(4096)
    try:
        x = rng.integers(0, 4, size=(40, 3, 12, 12)).astype(np.float64)  # ties
        for layer_type in (MaxPool2D, AvgPool2D):
            for pool, stride in ((2, 2), (3, 2)):  # tiling and overlapping windows
                layer = layer_type(pool, stride=stride, name="p")
                layer.build(x.shape[1:])
                assert_matches_reference(layer, x)
                assert np.getbufsize() == 4096
        # col2im: runs of 8 * 40 = 320 numbers, longer than SLICE_ADD_BUFSIZE.
        cols_x = rng.normal(size=(3, 12, 12, 40))
        cols = kernels.im2col(cols_x, 5, 5, 1, 1, 8, 8)
        d = rng.normal(size=cols.shape)
        folded = kernels.col2im(d, cols_x.shape, 5, 5, 1, 1, 8, 8)
        assert np.getbufsize() == 4096
        # Adjoint identity <im2col(x), d> == <x, col2im(d)> holds only for the right fold.
        assert np.isclose(np.vdot(cols, d), np.vdot(cols_x, folded), rtol=1e-12)
    finally:
        np.setbufsize(old)


@pytest.mark.parametrize("chunk", [1, 37, 10_000])
@pytest.mark.parametrize("stride", [(1, 1), (2, 1)])
def test_unfolding_again_by_blocks_equals_the_kept_unfolding(monkeypatch, chunk, stride):
    # conv_forward with a block-wide cols array keeps no unfolding (returns None); the
    # weight gradient unfolded again block by block equals the one from the whole matrix.
    monkeypatch.setattr(kernels, "CONV_BLOCK", chunk)
    rng = np.random.default_rng(6)
    xp = rng.normal(size=(2, 9, 8, 3))
    w = rng.normal(size=(4, 2 * 3 * 2))
    kh, kw = 3, 2
    sh, sw = stride
    oh, ow = (9 - kh) // sh + 1, (8 - kw) // sw + 1
    rows = kernels.conv_block_rows(oh, ow, 3)
    block = np.empty((2 * kh * kw, rows * ow * 3))
    y, kept = kernels.conv_forward(xp, w, kh, kw, sh, sw, oh, ow, block)
    ref_cols = kernels.im2col(xp, kh, kw, sh, sw, oh, ow)
    np.testing.assert_allclose(y, w @ ref_cols, rtol=1e-12)
    assert kept is None if rows < oh else kept is block
    d = rng.normal(size=(4, oh * ow * 3))
    gw = kernels.weight_grad_unfolding(d, xp, kh, kw, sh, sw, oh, ow, block)
    np.testing.assert_allclose(gw, d @ ref_cols.T, rtol=1e-12)
    out = np.full((4, 2 * kh * kw), np.nan)
    assert kernels.weight_grad_unfolding(d, xp, kh, kw, sh, sw, oh, ow, block, out=out) is out
    np.testing.assert_allclose(out, gw, rtol=1e-12)


def test_a_training_batch_bigger_than_a_block_keeps_no_unfolding_and_inference_none():
    # LeNet's first convolution on 64 images: 25 x 50,176 numbers (5 MB) unfolded. Training
    # keeps only a block of it (the backward pass unfolds again); so does inference.
    layer = Conv2D(6, 5, padding=2, name="c")
    layer.build((1, 28, 28), np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(64, 1, 28, 28)).astype(np.float32)
    block_cols = kernels.conv_block_rows(28, 28, 64) * 28 * 64
    for training in (True, False):
        ctx: dict = {}
        layer.fwd(kernels.to_batch_last(x), training, ctx)
        assert ctx["cols"].shape == (25, block_cols) and block_cols < 28 * 28 * 64
        assert ctx.get("x_cols") is None


@pytest.mark.parametrize("chunk", [1, 37, 10_000])
@pytest.mark.parametrize(
    ("kernel", "stride"), [((3, 2), (1, 1)), ((3, 2), (2, 1)), ((2, 2), (3, 3))]
)
def test_folding_by_blocks_equals_one_col2im(monkeypatch, chunk, kernel, stride):
    # Blocks of output rows whose windows overlap (stride 1, 2 < kernel 3), touch or leave
    # gaps (stride 3 > kernel 2): the folds add up to col2im of the whole matrix, call
    # after call (the plan keeps its views).
    monkeypatch.setattr(kernels, "CONV_BLOCK", chunk)
    rng = np.random.default_rng(7)
    (kh, kw), (sh, sw) = kernel, stride
    xp_shape = (2, 11, 8, 3)
    oh, ow = (11 - kh) // sh + 1, (8 - kw) // sw + 1
    rows = kernels.conv_block_rows(oh, ow, 3)
    block = np.empty((2 * kh * kw, rows * ow * 3))
    out = np.full(xp_shape, np.nan)
    plan = kernels.FoldByBlocks(block, out, kh, kw, sh, sw, oh, ow)
    assert plan.matches(block, out) and not plan.matches(block.copy(), out)
    for _ in range(2):
        w = rng.normal(size=(4, 2 * kh * kw))
        d = rng.normal(size=(4, oh * ow * 3))
        ref = kernels.col2im(w.T @ d, xp_shape, kh, kw, sh, sw, oh, ow)
        assert plan(w.T, d) is out
        np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
