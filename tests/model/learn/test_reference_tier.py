"""The lessons compute with the readable tier (``cnnstudio.engine.reference``): their numbers
are the reference layers' outputs, and the fast tier plays no part in them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cnnstudio.engine import layers as fast
from cnnstudio.engine.layers.base import Layer as FastLayer
from cnnstudio.engine.reference import reference_layer
from cnnstudio.model import learn as lm

#: The 1-D lesson's own signal and kernel (``qt_conv1d``).
SIGNAL = np.array([0, 1, 2, 4, 4, 4, 2, 1, 0, 0, 3, 3], dtype=np.float64)
KERNEL_1D = np.array([1, 0, -1], dtype=np.float64)


def _twin(fast_layer: FastLayer, input_shape: tuple[int, ...], **params: np.ndarray) -> Any:
    """The reference twin of a fast layer built for ``input_shape``, with float64 ``params``."""
    fast_layer.build(input_shape, np.random.default_rng(0))
    for key, value in params.items():
        fast_layer.params[key] = np.asarray(value, dtype=np.float64)
    return reference_layer(fast_layer)


def _reference_conv(x, w, b=None, stride=1, padding=0, flip=False) -> np.ndarray:
    """x (C, H, W), w (F, C, KH, KW) through the reference Conv2D, as (F, OH, OW)."""
    layer = fast.Conv2D(
        w.shape[0],
        w.shape[2:],
        stride=stride,
        padding=padding,
        use_bias=b is not None,
        flip_kernel=flip,
    )
    params = {"w": w} if b is None else {"w": w, "b": b}
    return _twin(layer, x.shape, **params).forward(x[None])[0]


def _reference_pool(x: np.ndarray, kind: str, size, stride) -> np.ndarray:
    cls = fast.MaxPool2D if kind == "max" else fast.AvgPool2D
    return _twin(cls(size, stride), x.shape).forward(x[None])[0]


@pytest.mark.parametrize("key", sorted(lm.CONV_PRESETS))
@pytest.mark.parametrize("flip", [False, True])
def test_convolution_presets_are_the_reference_conv2d_output(key, flip):
    lab = lm.ConvLab()
    lab.load_preset(key)
    lab.set_flip(flip)
    expected = _reference_conv(
        lab.input[None], lab.kernel[None, None], np.zeros(1), lab.stride, lab.padding, flip
    )[0]
    np.testing.assert_array_equal(lab.output(), expected)
    if lm.CONV_PRESETS[key].expected and not flip:
        np.testing.assert_array_equal(expected, lm.CONV_PRESETS[key].expected)


@pytest.mark.parametrize("filters", [1, 2, 3])
def test_channels_lesson_is_the_reference_conv2d_output(filters):
    lab = lm.ChannelLab()
    lab.set_filters(filters)
    expected = _reference_conv(lab.input, lab.weights, lab.bias)
    np.testing.assert_array_equal(lab.output(), expected)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(("size", "stride"), [(2, 2), (3, 1), (2, 1)])
def test_pooling_lesson_is_the_reference_pooling_output(kind, size, stride):
    lab = lm.PoolLab()
    lab.set_kind(kind)
    lab.set_size(size)
    lab.set_stride(stride)
    expected = _reference_pool(lab.input[None], kind, size, stride)[0]
    np.testing.assert_array_equal(lab.output(), expected)


def test_worked_example_is_reference_conv_relu_and_max_pool():
    p = lm.CONV_PRESETS["notes-relu-pool"]
    conv = _reference_conv(np.array(p.input)[None], np.array(p.kernel)[None, None])
    relu = _twin(fast.ReLU(), conv.shape).forward(conv[None])[0]
    pooled = _reference_pool(relu, "max", 2, 2)
    pipe = lm.worked_example_pipeline()
    np.testing.assert_array_equal(pipe.conv, conv[0])
    np.testing.assert_array_equal(pipe.relu, relu[0])
    np.testing.assert_array_equal(pipe.pooled, pooled[0])
    assert pipe.pooled.tolist() == [[5.0]]


@pytest.mark.parametrize("name", sorted(lm.IMAGE_FILTERS))
def test_image_filters_are_the_reference_conv2d_output(name):
    img, _ = lm.sample_digit(7)
    img = img.astype(np.float64)
    k = lm.IMAGE_FILTERS[name][0]
    pad = ((k.shape[0] - 1) // 2, (k.shape[1] - 1) // 2)
    if name.startswith("Sobel"):
        both = _reference_conv(img[None], np.stack([k[None], k.T[None]]), None, 1, pad)
        expected = np.hypot(both[0], both[1])
    else:
        expected = _reference_conv(img[None], k[None, None], None, 1, pad)[0]
    np.testing.assert_array_equal(lm.apply_image_filter(img, name), expected)


@pytest.mark.parametrize(("stride", "padding", "flip"), [(1, 0, False), (2, 1, True)])
def test_conv1d_lesson_is_the_reference_conv2d_on_one_row(stride, padding, flip):
    expected = _reference_conv(
        SIGNAL[None, None], KERNEL_1D[None, None, None], None, (1, stride), (0, padding), flip
    )[0, 0]
    np.testing.assert_array_equal(lm.conv1d(SIGNAL, KERNEL_1D, stride, padding, flip), expected)


def test_every_lesson_computes_without_the_fast_tier(monkeypatch):
    """With the fast layers' forward pass broken, every lesson still gives its numbers:
    they come from the reference tier."""

    def fast_tier_used(self, *args, **kwargs):
        raise AssertionError(f"the lab ran the fast tier's {type(self).__name__}")

    monkeypatch.setattr(FastLayer, "forward", fast_tier_used)
    monkeypatch.setattr(FastLayer, "fwd", fast_tier_used)

    np.testing.assert_array_equal(lm.ConvLab().output(), [[4, 4], [4, 3]])
    assert lm.ChannelLab().output().shape == (2, 3, 3)
    np.testing.assert_array_equal(lm.PoolLab().output(), [[6, 5], [3, 8]])
    assert lm.worked_example_pipeline().pooled.tolist() == [[5.0]]
    np.testing.assert_array_equal(lm.activate(np.array([-1.0, 2.0]), "ReLU"), [0, 2])
    for name in lm.ACTIVATIONS:
        assert lm.activation_curve(name)[1].shape == (241,)
    np.testing.assert_array_equal(lm.flatten_stack(np.ones((2, 2, 2))), np.ones(8))
    assert lm.flatten_size((3, 4, 4)) == 48
    assert lm.softmax_probabilities([1.0, 1.0]).tolist() == [0.5, 0.5]
    np.testing.assert_array_equal(lm.conv1d(SIGNAL[:5], KERNEL_1D, flip=True), [2, 3, 2])
    img, _ = lm.sample_digit(0)
    for name in lm.IMAGE_FILTERS:
        assert lm.apply_image_filter(img, name).shape == (28, 28)
