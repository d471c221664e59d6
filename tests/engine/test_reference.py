"""The reference tier (``cnnstudio.engine.reference``) and its role as the fast tier's oracle.

1. Every reference layer against central differences in float64 (input and parameter
   gradients), over non-square kernels, strides > 1, padding, odd sizes, batches > 1.
2. Convolution and pooling against the loop-level definitions in ``naive.py`` and,
   when installed, against PyTorch.
3. The oracle: every fast layer's forward and backward (output, input gradient,
   parameter gradients, running statistics) equals its reference twin's in float32,
   training and inference, Dropout with the same generator, max pooling on ties.

``CASES``, ``built_fast`` and ``assert_matches_reference`` are shared with the fast
tier's own tests (test_gradcheck.py, test_kernels.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cnnstudio.engine.errors import EngineError, ShapeError
from cnnstudio.engine.layers import LAYER_TYPES, Layer, layer_from_config
from cnnstudio.engine.reference import REFERENCE_TYPES, reference_layer
from cnnstudio.engine.reference import Conv2D as RefConv2D
from cnnstudio.engine.reference.im2col import col2im, im2col
from tests.engine import naive
from tests.engine.naive import check_layer, to_float64


def _conv(shape: tuple[int, ...], filters: int, kernel_size: Any, **more: Any):
    return ("Conv2D", {"filters": filters, "kernel_size": kernel_size, **more}, shape)


# (type, config, per-sample input shape); merge layers take a list of input shapes.
CASES: dict[str, tuple[str, dict[str, Any], Any]] = {
    "conv 3x2": _conv((2, 6, 5), 3, [3, 2]),
    "conv stride 2 pad 1": _conv((3, 7, 7), 2, 3, stride=2, padding=1),
    "conv 2x3 stride 2x1 pad 1x0": _conv((2, 5, 6), 2, [2, 3], stride=[2, 1], padding=[1, 0]),
    "conv same even kernel": _conv((1, 5, 4), 2, 2, padding="same"),
    "conv same stride 2": _conv((2, 6, 5), 3, 3, stride=2, padding="same"),
    "conv 1x1": _conv((3, 3, 4), 2, 1),
    "conv flipped no bias": _conv((2, 5, 5), 2, [3, 2], use_bias=False, flip_kernel=True),
    "conv wide stride": _conv((1, 9, 6), 4, [2, 3], stride=[3, 2], padding=[2, 1]),
    "conv same 4x4": _conv((2, 6, 6), 2, 4, padding="same"),  # pads 1 top/left, 2 bottom/right
    "conv same 3x2 stride 2x3": _conv((2, 7, 5), 3, [3, 2], stride=[2, 3], padding="same"),
}
for _kind in ("MaxPool2D", "AvgPool2D"):
    CASES |= {
        f"{_kind} 2": (_kind, {"pool_size": 2}, (2, 6, 4)),
        f"{_kind} 3 overlapping": (_kind, {"pool_size": 3, "stride": 1}, (2, 5, 5)),
        f"{_kind} 3x2 stride 2x1 pad 1": (
            _kind,
            {"pool_size": [3, 2], "stride": [2, 1], "padding": 1},
            (2, 7, 5),
        ),
        f"{_kind} same": (_kind, {"pool_size": 2, "padding": "same"}, (1, 5, 7)),
        f"{_kind} odd size": (_kind, {"pool_size": 2}, (1, 5, 5)),
        f"{_kind} one-row windows": (_kind, {"pool_size": [1, 3], "stride": [1, 2]}, (2, 6, 7)),
        f"{_kind} one-column windows": (
            _kind,
            {"pool_size": [3, 1], "stride": [2, 1], "padding": [1, 0]},
            (2, 7, 6),
        ),
    }
for _kind in ("GlobalAvgPool2D", "GlobalMaxPool2D"):
    CASES |= {
        f"{_kind}": (_kind, {}, (3, 5, 4)),
        f"{_kind} one pixel": (_kind, {}, (2, 1, 1)),
        f"{_kind} one row": (_kind, {}, (2, 1, 7)),
    }
_CONFIG = {"LeakyReLU": {"alpha": 0.2}, "Dropout": {"rate": 0.4}}
for _kind in ("ReLU", "LeakyReLU", "PReLU", "Sigmoid", "Tanh", "Softmax", "BatchNorm", "Dropout"):
    CASES[f"{_kind} vector"] = (_kind, _CONFIG.get(_kind, {}), (6,))
    CASES[f"{_kind} image"] = (_kind, _CONFIG.get(_kind, {}), (3, 4, 5))
CASES |= {
    "Dense": ("Dense", {"units": 5}, (7,)),
    "Dense no bias": ("Dense", {"units": 3, "use_bias": False}, (7,)),
    "Flatten": ("Flatten", {}, (2, 3, 4)),
    "Input": ("Input", {"shape": [2, 3, 4]}, (2, 3, 4)),
    "Add": ("Add", {}, [(3, 4, 4)] * 3),
    "Concatenate images": ("Concatenate", {}, [(1, 3, 3), (2, 3, 3)]),
    "Concatenate vectors": ("Concatenate", {}, [(4,), (3,)]),
}


def built_fast(type_name: str, config: dict[str, Any], shape: Any, seed: int = 0) -> Layer:
    """The fast layer of a case, built, with parameters and statistics that are not at
    their starting values (non-zero biases, different slopes per channel...), so a
    mix-up of channels or a dropped term shows."""
    layer = layer_from_config(type_name, config, name=type_name.lower())
    layer.build(shape, np.random.default_rng(seed))
    vary(layer, seed)
    return layer


def vary(layer: Any, seed: int = 0) -> None:
    """Give ``layer``'s (fast or reference) parameters and state non-trivial values."""
    rng = np.random.default_rng(seed + 100)
    for store in (layer.params, layer.state):
        for key, arr in store.items():
            if key in ("b", "beta", "running_mean"):
                arr[...] = rng.normal(size=arr.shape)
            elif key in ("gamma", "running_var"):
                arr[...] = rng.uniform(0.5, 2.0, arr.shape)
            elif key == "alpha":
                arr[...] = np.linspace(0.1, 0.6, arr.size)


def inputs(case: tuple[str, dict[str, Any], Any], n: int, seed: int = 1, dtype: Any = np.float64):
    """A batch of ``n`` inputs for a case (a list for merge layers), kept away from the
    kinks at 0 where central differences of ReLU-like layers mean nothing."""
    rng = np.random.default_rng(seed)
    _, _, shape = case

    def one(s):
        x = rng.normal(size=(n, *s)) * 2 + 0.5
        x[np.abs(x) < 1e-3] = 0.1
        return x.astype(dtype)

    return [one(s) for s in shape] if isinstance(shape, list) else one(shape)


def _listed(d: Any) -> list[np.ndarray]:
    return d if isinstance(d, list) else [d]


def _close(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    tol = 1e-10 if ref.dtype == np.float64 else 1e-4
    scale = max(1.0, float(np.max(np.abs(ref), initial=0.0)))
    np.testing.assert_allclose(ours, ref, rtol=tol, atol=tol * scale, err_msg=what)


def assert_matches_reference(
    fast: Layer, x: Any, *, training: bool = True, seed: int = 2
) -> np.ndarray:
    """Run the built fast layer ``fast`` and its reference twin (a copy, same generator
    state) on ``x`` and assert equal outputs, input gradients, parameter gradients and
    running statistics, to rounding (float64) or to float32 tolerances. Returns the fast
    layer's output."""
    ref = reference_layer(fast, copy=True)
    y = fast.forward(x, training=training)
    y_ref = ref.forward(x, training=training)
    assert y.shape == y_ref.shape
    _close(y, y_ref, f"{fast.name}: output")
    for key in fast.state:
        _close(fast.state[key], ref.state[key], f"{fast.name}: {key}")
    if not (training or type(fast).backward_in_eval):
        return y
    dout = np.random.default_rng(seed).normal(size=y.shape).astype(y.dtype)
    dx, dx_ref = _listed(fast.backward(dout)), _listed(ref.backward(dout))
    for i, (a, b) in enumerate(zip(dx, dx_ref, strict=True)):
        _close(a, b, f"{fast.name}: input gradient {i}")
    assert fast.grads.keys() == ref.grads.keys() == fast.params.keys()
    for key in fast.grads:
        _close(fast.grads[key], ref.grads[key], f"{fast.name}: gradient of {key}")
    return y


# -- what the reference tier covers -------------------------------------------------------
def test_every_layer_type_has_a_reference_twin_and_a_case():
    assert set(REFERENCE_TYPES) == set(LAYER_TYPES)
    assert all(cls.type_name == name for name, cls in REFERENCE_TYPES.items())
    assert {type_name for type_name, _, _ in CASES.values()} == set(LAYER_TYPES)


def test_a_twin_has_the_fast_layers_keys_shapes_config_and_weights():
    fast = built_fast("Conv2D", {"filters": 4, "kernel_size": [3, 2], "padding": "same"}, (2, 7, 6))
    ref = RefConv2D(filters=4, kernel_size=[3, 2], padding="same", name="c")
    ref.build((2, 7, 6), np.random.default_rng(0))
    vary(ref)
    # Same seed, same configuration: the same weights, under the same keys and shapes.
    assert ref.params.keys() == fast.params.keys()
    for key in fast.params:
        np.testing.assert_array_equal(ref.params[key], fast.params[key])
    assert ref.config() == fast.config()
    assert ref.output_shape((2, 7, 6)) == fast.output_shape((2, 7, 6)) == (4, 7, 6)
    assert ref.parameter_count() == fast.parameter_count() == 4 * 2 * 3 * 2 + 4


def test_a_shared_twin_trains_the_fast_layers_own_arrays():
    # reference_layer(fast) without copy shares params and grads: an optimizer holding
    # the fast layer's arrays sees the gradients the reference writes, and its steps
    # change what the reference computes with.
    case = CASES["Dense"]
    fast = built_fast(*case)
    ref = reference_layer(fast)
    g = fast.grads["w"]
    x = inputs(case, 4, dtype=np.float32)
    ref.forward(x, training=True)
    ref.backward(np.ones((4, 5), np.float32))
    assert ref.grads["w"] is g and np.any(g != 0)
    np.testing.assert_allclose(g, np.ones((5, 4)) @ x, rtol=1e-5)
    fast.params["w"] -= 0.1 * g
    np.testing.assert_allclose(ref.forward(x), fast.forward(x), rtol=1e-5, atol=1e-6)


def test_configuration_is_checked_by_the_fast_layers_rules():
    # The same error types and messages as the fast tier: the rules exist once.
    with pytest.raises(ShapeError, match="conv: kernel_size must be at least 1"):
        RefConv2D(filters=2, kernel_size=0, name="conv")
    with pytest.raises(EngineError, match="bad configuration"):
        RefConv2D(filters=2, kernel_size=3, dilation=2, name="conv")
    with pytest.raises(ShapeError, match=r"conv \(height\): kernel 3 does not fit"):
        RefConv2D(filters=2, kernel_size=3, name="conv").output_shape((1, 2, 5))


def test_clear_errors_before_build_and_before_forward():
    conv = RefConv2D(filters=2, kernel_size=3, name="conv")
    with pytest.raises(EngineError, match="conv: layer is not built"):
        conv.forward(np.zeros((1, 1, 4, 4)))
    with pytest.raises(EngineError, match="conv: backward called before forward"):
        conv.backward(np.zeros((1, 2, 2, 2)))
    drop = REFERENCE_TYPES["Dropout"](rate=0.5, name="drop")
    with pytest.raises(EngineError, match="drop: dropout needs an rng"):
        drop.forward(np.zeros((2, 3)), training=True)


# -- 1. central differences, float64 ------------------------------------------------------
# Every case in training mode, and the layers whose inference differs in inference mode.
GRAD_CASES = [pytest.param(case, True, id=name) for name, case in CASES.items()] + [
    pytest.param(case, False, id=f"{name} inference")
    for name, case in CASES.items()
    if case[0] in ("BatchNorm", "Dropout")
]


@pytest.mark.parametrize(("case", "training"), GRAD_CASES)
def test_reference_gradients_match_central_differences(case, training):
    type_name, config, shape = case
    ref = REFERENCE_TYPES[type_name](name=type_name.lower(), **config)
    if type_name not in ("Add", "Concatenate"):
        ref.build(shape, np.random.default_rng(0))
        vary(ref)
    to_float64(ref)

    def same_mask() -> None:  # Dropout: one mask for every forward pass
        ref.rng = np.random.default_rng(7)

    check_layer(ref, inputs(case, 3), training=training, before_forward=same_mask)
    if type_name == "Dense":  # one image: the weight gradient is an outer product
        check_layer(ref, inputs(case, 1), training=training)


# -- 2. loop-level definitions and PyTorch ------------------------------------------------
def _spatial(name: str, dtype: Any = np.float64) -> tuple[Any, Any, np.ndarray]:
    """The reference layer of a conv/pool case in float64, its pads and an input batch."""
    type_name, config, shape = CASES[name]
    ref = REFERENCE_TYPES[type_name](name="l", **config)
    ref.build(shape, np.random.default_rng(0))
    vary(ref)
    to_float64(ref)
    return ref, ref.spec.pads(shape), inputs(CASES[name], 2, dtype=dtype)  # type: ignore[attr-defined]


CONV = [name for name, case in CASES.items() if case[0] == "Conv2D"]
MAX_POOL = [name for name, case in CASES.items() if case[0] == "MaxPool2D"]
AVG_POOL = [name for name, case in CASES.items() if case[0] == "AvgPool2D"]


@pytest.mark.parametrize("name", CONV)
def test_reference_conv_equals_the_loop_definition(name):
    ref, pads, x = _spatial(name)
    w, b = ref.kernel(), ref.params.get("b")
    y = ref.forward(x, training=True)
    np.testing.assert_allclose(y, naive.conv_forward(x, w, b, ref.stride, pads), atol=1e-12)
    dout = np.random.default_rng(3).normal(size=y.shape)
    dx = ref.backward(dout)
    ndx, ndw, ndb = naive.conv_backward(dout, x, w, ref.stride, pads)
    np.testing.assert_allclose(dx, ndx, atol=1e-12)
    # The loops differentiate the kernel as applied, the layer its stored (unturned) form.
    dw = ref.grads["w"][:, :, ::-1, ::-1] if ref.flip_kernel else ref.grads["w"]
    np.testing.assert_allclose(dw, ndw, atol=1e-12)
    if b is not None:
        np.testing.assert_allclose(ref.grads["b"], ndb, atol=1e-12)


@pytest.mark.parametrize("name", MAX_POOL)
def test_reference_max_pool_equals_the_loop_definition_on_ties(name):
    ref, pads, _ = _spatial(name)
    # Three distinct values: many windows have tied maxima, as on MNIST's background.
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, size=(2, *ref.input_shape)).astype(np.float64)
    y = ref.forward(x, training=True)
    ny, _ = naive.maxpool_forward(x, ref.pool_size, ref.stride, pads)
    np.testing.assert_array_equal(y, ny)
    dout = rng.normal(size=y.shape)
    dx = ref.backward(dout)
    expected = naive.maxpool_backward(dout, x, ref.pool_size, ref.stride, pads)
    np.testing.assert_allclose(dx, expected, atol=1e-12)
    assert np.isclose(dx.sum(), dout.sum())  # each window's gradient lands exactly once


@pytest.mark.parametrize("name", AVG_POOL)
def test_reference_avg_pool_equals_the_loop_definition(name):
    ref, pads, x = _spatial(name)
    y = ref.forward(x, training=True)
    np.testing.assert_allclose(
        y, naive.avgpool_forward(x, ref.pool_size, ref.stride, pads), atol=1e-12
    )
    dout = np.random.default_rng(5).normal(size=y.shape)
    expected = naive.avgpool_backward(dout, x, ref.pool_size, ref.stride, pads)
    np.testing.assert_allclose(ref.backward(dout), expected, atol=1e-12)


def test_col2im_is_the_adjoint_of_im2col():
    # <im2col(x), c> == <x, col2im(c)> for every x and c: col2im is im2col's transpose,
    # which is what makes the convolution's input gradient right.
    rng = np.random.default_rng(6)
    xp = rng.normal(size=(3, 2, 9, 7))
    cols = im2col(xp, 3, 2, 2, 1)
    c = rng.normal(size=cols.shape)
    assert np.isclose(np.vdot(cols, c), np.vdot(xp, col2im(c, xp.shape, 3, 2, 2, 1)), rtol=1e-12)


def _torch_run(ref, x, fn, params):
    """Forward and backward ``ref`` and the PyTorch function ``fn`` (of the input tensor)
    in float64 on the same ``dout``; assert equal outputs and gradients."""
    torch = pytest.importorskip("torch")
    xt = torch.tensor(x, requires_grad=True)
    yt = fn(xt)
    y = ref.forward(x, training=True)
    dout = np.random.default_rng(8).normal(size=y.shape)
    yt.backward(torch.tensor(dout))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ref.backward(dout), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for key, tensor in params.items():
        np.testing.assert_allclose(ref.grads[key], tensor.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", CONV)
def test_reference_conv_equals_torch(name):
    torch = pytest.importorskip("torch")
    ref, (t, bot, lft, rgt), x = _spatial(name)
    w = torch.tensor(ref.params["w"].copy(), requires_grad=True)
    b = torch.tensor(ref.params["b"].copy(), requires_grad=True) if ref.use_bias else None
    params = {"w": w} | ({"b": b} if b is not None else {})

    def conv(xt):
        wt = w.flip(2, 3) if ref.flip_kernel else w
        return torch.nn.functional.conv2d(
            torch.nn.functional.pad(xt, (lft, rgt, t, bot)), wt, b, stride=ref.stride
        )

    _torch_run(ref, x, conv, params)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("name", MAX_POOL + AVG_POOL)
def test_reference_pooling_equals_torch(name, ties):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    ref, (t, bot, lft, rgt), x = _spatial(name)
    if ties:
        x = np.random.default_rng(9).integers(0, 2, size=x.shape).astype(np.float64)
    if ref.type_name == "MaxPool2D":

        def pool(xt):
            xt = functional.pad(xt, (lft, rgt, t, bot), value=-np.inf)
            return functional.max_pool2d(xt, ref.pool_size, ref.stride)
    else:

        def pool(xt):
            xt = functional.pad(xt, (lft, rgt, t, bot))  # zeros that count in the mean
            return functional.avg_pool2d(xt, ref.pool_size, ref.stride)

    _torch_run(ref, x, pool, {})


# -- 3. the oracle: fast == reference -----------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 5])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_fast_layer_equals_its_reference_twin_in_float32(case, training, n):
    # One or two images at inference take the fast convolution's whole-row unfolding and
    # the fast max pooling's one-axis-at-a-time passes; five take the blocked paths.
    type_name, config, shape = case
    fast = built_fast(type_name, config, shape)
    x = inputs(case, n, dtype=np.float32)
    if training and n == 1 and type_name == "BatchNorm" and len(shape) == 1:
        # One value per feature: both tiers refuse to compute batch statistics.
        with pytest.raises(ShapeError, match="batchnorm: training BatchNorm needs"):
            fast.forward(x, training=True)
        with pytest.raises(ShapeError, match="batchnorm: training BatchNorm needs"):
            reference_layer(fast, copy=True).forward(x, training=True)
        return
    assert_matches_reference(fast, x, training=training)


def test_dropout_draws_the_same_mask_in_both_tiers():
    case = CASES["Dropout image"]
    fast = built_fast(*case)
    ref = reference_layer(fast, copy=True)
    x = np.ones((6, 3, 4, 5), np.float32)
    y, y_ref = fast.forward(x, training=True), ref.forward(x, training=True)
    np.testing.assert_array_equal(y, y_ref)
    assert 0 < np.count_nonzero(y == 0) < y.size  # some dropped, some kept
    np.testing.assert_array_equal(np.unique(y), [0, np.float32(1 / 0.6)])


@pytest.mark.parametrize("n", [1, 2, 16])
@pytest.mark.parametrize(("pool", "stride"), [(2, 2), (3, 2), (2, 1)])
def test_fast_max_pool_routes_ties_like_the_reference(pool, stride, n):
    # An MNIST-like image: mostly exact zeros, a little ink. Every blank window is a tie;
    # both tiers must give its gradient to its first element only.
    rng = np.random.default_rng(10)
    x = np.zeros((n, 2, 12, 12), np.float32)
    x[:, :, 4:8, 3:9] = rng.random((n, 2, 4, 6)) > 0.5
    fast = layer_from_config("MaxPool2D", {"pool_size": pool, "stride": stride}, name="p")
    fast.build((2, 12, 12))
    ref = reference_layer(fast, copy=True)
    y = fast.forward(x, training=True)
    np.testing.assert_array_equal(y, ref.forward(x, training=True))
    dout = rng.normal(size=y.shape).astype(np.float32)
    dx = fast.backward(dout)
    np.testing.assert_array_equal(dx, ref.backward(dout))
    np.testing.assert_allclose(dx.sum(), dout.sum(), rtol=1e-4)
    if pool == stride:  # windows apart: one element of each window got anything
        assert np.count_nonzero(dx) <= dout.size


def test_batchnorm_statistics_evolve_alike_over_several_steps():
    # Running statistics feed every later inference: both tiers must update them alike.
    case = CASES["BatchNorm image"]
    fast = built_fast(*case)
    ref = reference_layer(fast, copy=True)
    rng = np.random.default_rng(11)
    for _ in range(4):
        x = (rng.normal(size=(8, 3, 4, 5)) * 3 + 2).astype(np.float32)
        fast.forward(x, training=True)
        ref.forward(x, training=True)
    for key in fast.state:
        _close(fast.state[key], ref.state[key], key)
    x = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    _close(fast.forward(x), ref.forward(x), "inference output")
