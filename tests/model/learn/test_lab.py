"""The Learn lab's numbers (no Qt): presets, stepping, formulas, flip, channels, pooling,
softmax, 1-D convolution and the Explain mapping."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.layers import Conv2D
from cnnstudio.model import learn as lm


def _engine_conv(x: np.ndarray, k: np.ndarray, stride=1, padding=0, flip=False) -> np.ndarray:
    """The fast tier's Conv2D, built the way a network builds it (float32): an independent
    check of the lab, which computes with the reference tier."""
    layer = Conv2D(1, k.shape, stride=stride, padding=padding, flip_kernel=flip)
    layer.build((1, *x.shape), np.random.default_rng(0))
    layer.params["w"][...] = k
    layer.params["b"][...] = 0
    return layer.forward(x[None, None].astype(np.float32))[0, 0]


# -- the notes' worked examples ---------------------------------------------------------


def test_first_notes_preset_gives_4_4_4_3():
    lab = lm.ConvLab()
    lab.load_preset("notes-3x3")
    np.testing.assert_allclose(lab.output(), [[4, 4], [4, 3]])
    np.testing.assert_allclose(lab.output(), lm.CONV_PRESETS["notes-3x3"].expected)


def test_relu_pool_preset_gives_conv_2_0_3_5_then_5():
    lab = lm.ConvLab()
    lab.load_preset("notes-relu-pool")
    np.testing.assert_allclose(lab.output(), [[2, 0], [3, 5]])
    pipe = lm.worked_example_pipeline()
    np.testing.assert_allclose(pipe.conv, [[2, 0], [3, 5]])
    np.testing.assert_allclose(pipe.relu, [[2, 0], [3, 5]])
    assert pipe.pooled.shape == (1, 1)
    assert pipe.pooled[0, 0] == 5


def test_half_kernel_preset_writes_the_notes_sums():
    lab = lm.ConvLab()
    lab.load_preset("notes-half-kernel")
    assert lab.input.shape[1] == 5
    np.testing.assert_array_equal(lab.kernel, np.full((2, 2), 0.5))
    first, second = lab.cell(0, 0), lab.cell(0, 1)
    assert first.symbolic() == "0.5·in1 + 0.5·in2 + 0.5·in6 + 0.5·in7 = 4.25"
    assert second.symbolic() == "0.5·in2 + 0.5·in3 + 0.5·in7 + 0.5·in8 = 2.5"
    out = lab.output()
    assert out[0, 0] == pytest.approx(4.25)
    assert out[0, 1] == pytest.approx(2.5)


# -- stepping fills the output with the engine's numbers ---------------------------------


@pytest.mark.parametrize(
    ("shape", "kernel", "stride", "padding", "flip"),
    [
        ((5, 5), (2, 2), (1, 1), (0, 0), False),
        ((7, 6), (3, 2), (2, 1), (1, 0), False),
        ((6, 8), (2, 3), (1, 2), (2, 1), True),
        ((12, 12), (7, 5), (3, 3), (3, 2), True),
    ],
)
def test_stepping_through_every_position_fills_the_engine_output(
    shape, kernel, stride, padding, flip
):
    rng = np.random.default_rng(1)
    lab = lm.ConvLab()
    lab.set_input(rng.integers(-3, 5, size=shape).astype(float))
    lab.set_kernel(rng.integers(-2, 3, size=kernel).astype(float) / 2)
    lab.set_stride(stride)
    lab.set_padding(padding)
    lab.set_flip(flip)
    assert np.isnan(lab.revealed_output()).all()
    steps = 0
    while lab.step():
        steps += 1
        r, c = lab.current()
        # The written-out sum equals the engine's output cell.
        assert lab.cell(r, c).total == pytest.approx(lab.output()[r, c], abs=1e-9)
    assert steps == lab.n_positions()
    expected = _engine_conv(lab.input, lab.kernel, stride, padding, flip)
    np.testing.assert_allclose(lab.revealed_output(), expected, rtol=1e-5, atol=1e-5)
    assert not lab.step(), "stepping past the end must not move"


def test_padding_terms_are_named_pad_and_count_zero():
    lab = lm.ConvLab()
    lab.load_preset("notes-3x3")
    lab.set_padding(1)
    cell = lab.cell(0, 0)
    labels = [t.label for t in cell.terms]
    assert labels == ["pad", "pad", "pad", "in1"]
    assert cell.total == pytest.approx(lab.output()[0, 0]) == pytest.approx(1.0)
    assert cell.window == (0, 0, 2, 2)


def test_step_back_and_reset():
    lab = lm.ConvLab()
    for _ in range(3):
        lab.step()
    assert lab.current() == (1, 0)
    lab.step_back()
    assert lab.current() == (0, 1)
    lab.reset_steps()
    assert lab.current() is None
    lab.finish()
    assert not np.isnan(lab.revealed_output()).any()


# -- flip ---------------------------------------------------------------------------------


def test_flip_gives_the_result_of_the_rotated_kernel():
    lab = lm.ConvLab()
    lab.set_input(np.arange(16, dtype=float).reshape(4, 4))
    lab.set_kernel([[1, 2], [0, -1]])
    plain = lab.output()
    lab.set_flip(True)
    flipped = lab.output()
    assert not np.allclose(plain, flipped)
    np.testing.assert_allclose(flipped, _engine_conv(lab.input, np.array([[-1, 0], [2, 1]])))
    np.testing.assert_array_equal(lab.used_kernel(), [[-1, 0], [2, 1]])
    assert lab.cell(0, 0).terms[0].weight == -1


def test_symmetric_notes_kernel_is_unchanged_by_flip():
    lab = lm.ConvLab()
    lab.load_preset("notes-3x3")
    lab.set_flip(True)
    np.testing.assert_allclose(lab.output(), [[4, 4], [4, 3]])


# -- the output-size formula ------------------------------------------------------------


def test_formula_28_5_1_1_is_26_and_24_without_padding():
    f = lm.output_size_formula(28, 5, 1, 1)
    assert f.result == 26
    assert f.text == "(28 + 2·1 − 5) / 1 + 1 = 26"
    assert not f.is_fractional and f.note == ""
    assert lm.output_size_formula(28, 5, 1, 0).result == 24


def test_fractional_formula_is_flagged_and_rounded_down():
    f = lm.output_size_formula(6, 3, 2, 0)
    assert f.is_fractional
    assert f.exact == pytest.approx(2.5)
    assert f.result == 2
    assert "2.5" in f.text and "→ 2" in f.text
    assert "rounded down" in f.note


def test_kernel_too_big_is_an_error_not_an_exception():
    f = lm.output_size_formula(3, 5, 1, 0)
    assert f.error and "does not fit" in f.error
    lab = lm.ConvLab()
    lab.set_input(np.ones((3, 3)))
    lab.set_kernel(np.ones((5, 5)))
    assert not lab.fits()
    with pytest.raises(lm.LabError, match="does not fit"):
        lab.output()
    assert not lab.step()


def test_bad_settings_raise_lab_errors_naming_the_setting():
    lab = lm.ConvLab()
    with pytest.raises(lm.LabError, match="kernel size"):
        lab.resize_kernel(8, 2)
    with pytest.raises(lm.LabError, match="padding"):
        lab.set_padding(-1)
    with pytest.raises(lm.LabError, match="input"):
        lab.set_input(np.ones((13, 2)))
    with pytest.raises(lm.LabError, match="finite"):
        lab.set_kernel_cell(0, 0, float("nan"))
    with pytest.raises(lm.LabError, match="outside"):
        lab.set_input_cell(9, 0, 1.0)
    assert issubclass(lm.LabError, EngineError)


def test_resizing_keeps_overlapping_values():
    lab = lm.ConvLab()
    lab.load_preset("notes-3x3")
    lab.resize_input(4, 2)
    np.testing.assert_array_equal(lab.input, [[1, 2], [2, 1], [1, 1], [0, 0]])


# -- channels -------------------------------------------------------------------------


def test_three_channels_are_summed_with_the_bias_and_filters_give_maps():
    ch = lm.ChannelLab(size=4, kernel=2, filters=3)
    ch.set_filters(3)
    out = ch.output()
    assert out.shape == (3, 3, 3)
    for f in range(3):
        per_channel = sum(_engine_conv(ch.input[c], ch.weights[f, c]) for c in range(3))
        np.testing.assert_allclose(out[f], per_channel + ch.bias[f], atol=1e-5)
    cell = ch.cell(0, 1, 2)
    assert len(cell.channel_sums) == 3
    assert cell.total == pytest.approx(out[0, 1, 2])
    lines = cell.per_channel()
    assert lines[0].startswith("R:") and lines[2].startswith("B:")
    assert lines[-1].endswith(f"= {lm.fmt(out[0, 1, 2])}")
    ch.set_filters(1)
    assert ch.output().shape == (1, 3, 3)


# -- activation, pooling, softmax -------------------------------------------------------


def test_activations_come_from_the_engine():
    x = np.array([[-2.0, 0.5], [3.0, -0.25]])
    np.testing.assert_allclose(lm.activate(x, "ReLU"), [[0, 0.5], [3, 0]])
    np.testing.assert_allclose(lm.activate(x, "LeakyReLU", 0.1), [[-0.2, 0.5], [3, -0.025]])
    np.testing.assert_allclose(lm.activate(x, "Tanh"), np.tanh(x), rtol=1e-6)
    xs, ys = lm.activation_curve("Sigmoid")
    assert ys.min() > 0 and ys.max() < 1 and xs.size == ys.size
    with pytest.raises(lm.LabError, match="unknown activation"):
        lm.activate(x, "Swish")


def test_pooling_windows_choose_the_engine_value():
    pool = lm.PoolLab()
    np.testing.assert_array_equal(pool.output(), [[6, 5], [3, 8]])
    win = pool.window(0, 0)
    assert win.text == "max(1, 3, 4, 6) = 6"
    assert win.chosen == ((1, 1),)
    pool.set_kind("avg")
    assert pool.window(0, 0).value == pytest.approx(3.5)
    assert pool.window(0, 0).text.endswith("/ 4 = 3.5")
    assert "4x4 → 2x2" in pool.shapes_text()


def test_overlapping_pooling():
    pool = lm.PoolLab()
    pool.set_size(3)
    pool.set_stride(1)
    assert pool.overlapping()
    np.testing.assert_array_equal(pool.output(), [[6, 6], [7, 8]])
    positions = 0
    while pool.step():
        positions += 1
    assert positions == 4


def test_flatten_softmax_and_cross_entropy():
    stack = np.arange(12, dtype=float).reshape(3, 2, 2)
    np.testing.assert_array_equal(lm.flatten_stack(stack), np.arange(12))
    p = lm.softmax_probabilities([2.0, 1.0, 0.1])
    assert p.sum() == pytest.approx(1.0)
    assert p.argmax() == 0
    loss = lm.cross_entropy([2.0, 1.0, 0.1], 1)
    assert loss == pytest.approx(-np.log(p[1]), rel=1e-6)
    with pytest.raises(lm.LabError, match="true class"):
        lm.cross_entropy([1.0, 2.0], 5)


# -- filters, 1-D, images ----------------------------------------------------------------


def test_image_filters_keep_the_size_and_find_edges():
    img = np.zeros((10, 10))
    img[:, 5:] = 1.0  # a vertical edge
    vertical = lm.apply_image_filter(img, "Edges (vertical)")
    horizontal = lm.apply_image_filter(img, "Edges (horizontal)")
    assert vertical.shape == img.shape
    assert np.abs(vertical[2:-2]).max() == pytest.approx(3.0)
    assert np.abs(horizontal[2:-2, 1:-1]).max() == pytest.approx(0.0)
    sobel = lm.apply_image_filter(img, "Sobel (edge strength)")
    assert sobel[5, 4] > 0 and sobel[5, 1] == 0
    for name in lm.IMAGE_FILTERS:
        assert lm.apply_image_filter(img, name).shape == (10, 10)


def test_conv1d_flip_and_cells():
    sig = [0, 1, 2, 4, 4]
    out = lm.conv1d(sig, [1, 0, -1], flip=True)
    np.testing.assert_allclose(out, [2, 3, 2])
    np.testing.assert_allclose(lm.conv1d(sig, [1, 0, -1]), [-2, -3, -2])
    cell = lm.conv1d_cell(sig, [1, 0, -1], 1, 0, True, 1)
    assert cell.symbolic() == "-1·in2 + 0·in3 + 1·in4 = 3"
    with pytest.raises(lm.LabError, match="does not fit"):
        lm.conv1d([1, 2], [1, 1, 1])


def test_downsample_and_sample_digit():
    img, caption = lm.sample_digit(3)
    assert img.shape == (28, 28) and 0 <= img.min() and img.max() <= 1
    assert caption
    small = lm.downsample(img, 12, 12)
    assert small.shape == (12, 12)
    assert small.max() <= 1.0 and small.sum() > 0


def test_fmt_writes_numbers_like_the_notes():
    assert lm.fmt(4.0) == "4"
    assert lm.fmt(4.25) == "4.25"
    assert lm.fmt(-0.0) == "0"
    assert lm.fmt(1 / 3) == "0.333"


# -- Explain ----------------------------------------------------------------------------


def test_explain_conv_block():
    p = lm.explain_preset(
        {"type": "Conv2D", "kernel_size": [5, 3], "stride": [2, 1], "padding": [1, 0]}
    )
    assert (p.lesson, p.kernel, p.stride, p.padding) == ("conv", (5, 3), (2, 1), (1, 0))
    same = lm.explain_preset({"type": "Conv2D", "kernel_size": 3, "padding": "same"})
    assert same.padding == (1, 1)
    big = lm.explain_preset({"type": "Conv2D", "kernel_size": [11, 11]})
    assert big.kernel == (7, 7) and big.notes


def test_explain_pool_activation_and_unknown():
    p = lm.explain_preset({"type": "AvgPool2D", "pool_size": [3, 3], "stride": None})
    assert (p.lesson, p.kernel, p.stride, p.pool_kind) == ("pool", (3, 3), (3, 3), "avg")
    assert lm.explain_preset({"type": "Tanh"}).activation == "Tanh"
    with pytest.raises(lm.LabError, match="no lesson"):
        lm.explain_preset({"type": "BatchNorm"})


def test_the_lab_imports_without_qt():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('PySide6', 'pyqtgraph', 'superqt'):\n"
        "            raise ImportError('Qt blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from cnnstudio.model import learn\n"
        "lab = learn.ConvLab()\n"
        "print(lab.output().tolist())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[[4.0, 4.0], [4.0, 3.0]]"
