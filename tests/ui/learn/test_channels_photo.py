"""The channels lesson with a photo from the built-in CIFAR-10 sample."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6.QtWidgets")
pytest.importorskip("pytestqt")

from cnnstudio.data.builtin import load_builtin
from cnnstudio.model.learn.base import LabError
from cnnstudio.model.learn.channels import PHOTO_CLASSES, ChannelLab, sample_photo
from cnnstudio.ui.learn.qt_channels import QtChannelsLesson


@pytest.fixture
def lesson(qtbot):
    w = QtChannelsLesson()
    qtbot.addWidget(w)
    w.resize(1040, 740)
    w.show()
    qtbot.waitExposed(w)
    return w


def _choose(lesson, text):
    index = lesson.input_combo.findText(text)
    assert index >= 0, f"{text!r} is offered"
    lesson.input_combo.activated.emit(index)


def _direct_conv(x, w, b):
    """Each filter's three slices times their windows, all summed, plus its bias."""
    f, _c, k, _ = w.shape
    n = x.shape[1] - k + 1
    out = np.zeros((f, n, n))
    for i in range(f):
        for r in range(n):
            for c in range(n):
                out[i, r, c] = (x[:, r : r + k, c : c + k] * w[i]).sum() + b[i]
    return out


def test_a_sample_photo_becomes_the_three_input_channels(lesson):
    assert [lesson.input_combo.itemText(i) for i in range(lesson.input_combo.count())] == [
        "Small numbers",
        *(f"Photo: {k}" for k in PHOTO_CLASSES),
    ]
    _choose(lesson, "Photo: ship")
    lab = lesson.lab
    test = load_builtin("cifar10-sample").test
    ship = test.class_names.index("ship")
    first = test.images[int(np.flatnonzero(test.labels == ship)[0])].reshape(3, 32, 32)
    np.testing.assert_allclose(lab.photo, first / 255.0, atol=1e-6)
    # Each cell is the mean of its 32/6-pixel patch, on the network's 0..1 scale.
    assert lab.input.shape == (3, 6, 6)
    assert 0.0 <= lab.input.min() and lab.input.max() <= 1.0
    assert lab.input[2].mean() == pytest.approx(first[2].mean() / 255.0, abs=0.02)
    for c in range(3):
        np.testing.assert_allclose(lesson.input_grids[c].values(), lab.input[c])
    # The maps are still the convolution of these numbers, summed over the channels.
    expected = _direct_conv(lab.input, lab.weights, lab.bias)
    for f in range(lab.n_filters):
        np.testing.assert_allclose(lesson.map_grids[f].values(), expected[f], atol=1e-9)
    assert lesson.photo_panel.isVisible()
    assert not lesson.photo_label.pixmap().isNull()
    colour = lesson.photo_label.pixmap().toImage()
    assert not colour.isGrayscale(), "the photo is shown in colour"
    assert "averaged down from 32x32" in lesson.input_caption.text()
    assert "CIFAR-10 sample ship" in lesson.input_caption.text()
    assert lesson.photo_caption.text() == "32x32 → 6x6"


def test_editing_a_photo_cell_and_going_back_to_numbers(lesson):
    _choose(lesson, "Photo: cat")
    lesson.input_grids[0].edit_cell(0, 0, 1.0)
    assert lesson.lab.input[0, 0, 0] == 1.0
    lesson.select(0, 0, 0)
    expected = _direct_conv(lesson.lab.input, lesson.lab.weights, lesson.lab.bias)[0, 0, 0]
    assert f"gives {expected:.3f}".rstrip("0").rstrip(".") in lesson.arithmetic_label.text()
    _choose(lesson, "Small numbers")
    assert lesson.lab.input.shape == (3, 4, 4) and lesson.lab.photo is None
    assert np.array_equal(lesson.lab.input, ChannelLab().input)
    assert not lesson.photo_panel.isVisible()


def test_an_unknown_photo_class_is_a_lab_error():
    with pytest.raises(LabError, match="no class 'unicorn'"):
        sample_photo("unicorn")
