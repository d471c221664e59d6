"""The Inspect view: live feature maps, kernels, layer health, confusion matrix and gallery."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from cnnstudio.ui.inspect import QtInspectView
from cnnstudio.ui.inspect.diagnostics import layer_warnings
from cnnstudio.ui.train import QtTrainView
from tests.ui.train.helpers import tiny_context


@pytest.fixture
def views(qtbot):
    context = tiny_context(epochs=2)
    train = QtTrainView(context)
    inspect = QtInspectView(context)
    for w in (train, inspect):
        qtbot.addWidget(w)
        w.resize(1100, 760)
    inspect.show()
    yield context, train, inspect
    if train.session.is_active:
        train.session.shutdown(keep=False)


@pytest.fixture
def trained(views, qtbot):
    train, inspect = views[1], views[2]
    with qtbot.waitSignals([train.session.run_finished, inspect.evaluated], timeout=30000):
        train.start()
    return views


def test_no_model_yet_says_so(views):
    _, _, inspect = views
    assert "No trained model" in inspect.model_label.text()
    assert inspect.maps.groups == []


def test_feature_maps_follow_training_live(views, qtbot):
    context, train, inspect = views
    # long enough never to finish during the test (it is stopped at the end)
    context.project.set_train_settings({**context.project.train_settings, "epochs": 1000})
    train.attach_project()
    with qtbot.waitSignal(train.session.progress, timeout=10000):
        train.start()
    with qtbot.waitSignal(inspect.maps_updated, timeout=5000):
        pass
    assert inspect.model_label.text().startswith("Live: Run 1")
    first = {g.key: g.tiles.copy() for g in inspect.maps.groups}
    # every layer's output, with its shape as caption
    captions = [g.caption for g in inspect.maps.groups]
    assert any("conv1" in c and "4@26x26" in c for c in captions)
    assert any("pool1" in c and "4@13x13" in c for c in captions)
    assert first["conv1"].shape == (4, 26, 26)
    step = train.session.latest.step
    qtbot.waitUntil(lambda: train.session.latest_rich.step > step, timeout=10000)
    with qtbot.waitSignal(inspect.maps_updated, timeout=5000):
        pass
    later = {g.key: g.tiles for g in inspect.maps.groups}
    assert not np.array_equal(first["conv1"], later["conv1"])  # the maps moved with the weights
    with qtbot.waitSignal(train.session.run_finished, timeout=10000):
        train.session.stop()


def test_click_a_channel_to_enlarge_it(trained, qtbot):
    _, _, inspect = trained
    rect = inspect.maps.tile_rect("conv1", 2)
    assert rect is not None
    qtbot.mouseClick(inspect.maps, Qt.MouseButton.LeftButton, pos=rect.center())
    assert "channel 3 of 4" in inspect.zoom_caption.text()
    pix = inspect.zoom_image.pixmap()
    assert pix is not None and not pix.isNull() and pix.width() >= 100


def test_kernels_are_drawn_per_conv_layer(trained):
    context, _, inspect = trained
    inspect.tabs.setCurrentIndex(1)
    groups = {g.key: g for g in inspect.kernels.groups}
    assert list(groups) == ["conv1"]
    w = context.project.trained.weights["conv1.w"]
    np.testing.assert_allclose(groups["conv1"].tiles, w.mean(axis=1))
    lo, hi = groups["conv1"].levels
    assert lo == pytest.approx(-hi)  # symmetric levels: white is zero
    assert not groups["conv1"].colour  # a digits network keeps blue < 0 < red tiles
    inspect.kernel_per_channel.setChecked(True)
    assert inspect.kernels.groups[0].tiles.shape == (4, 3, 3)  # one input channel


def test_layer_health_table_lists_trainable_layers(trained):
    _, _, inspect = trained
    inspect.tabs.setCurrentIndex(2)
    names = [inspect.layer_table.item(r, 0).text() for r in range(inspect.layer_table.rowCount())]
    assert names[:1] == ["conv1"] and "fc" in names and "relu1" in names
    assert inspect.warnings_label.text()


def test_layer_warnings_in_plain_words():
    stats = {
        "relu1": {"dead_fraction": 0.75},
        "conv1": {"weight_mean_abs": 0.1, "grad_mean_abs": 1e-9},
        "fc": {"weight_mean_abs": 0.01, "grad_mean_abs": 5.0},
        "conv2": {"weight_mean_abs": 0.1, "grad_mean_abs": 0.01},
    }
    warnings = layer_warnings(stats)
    assert "75% dead" in warnings["relu1"]
    assert "vanishing" in warnings["conv1"]
    assert "exploding" in warnings["fc"]
    assert "conv2" not in warnings


def test_confusion_matrix_counts_every_validation_image_and_opens_a_gallery(trained, qtbot):
    context, train, inspect = trained
    n_val = len(train.session.job.val_data[1])
    assert inspect.evaluation_tab.eval_set.currentText() == "Validation"
    cm = inspect.evaluation_tab.confusion_matrix()
    assert cm is not None and cm.sum() == n_val == 40
    table = inspect.evaluation_tab.confusion_table
    shown = sum(int(table.item(r, c).text()) for r in range(10) for c in range(10))
    assert shown == n_val
    assert "accuracy" in inspect.evaluation_tab.eval_summary.text()
    # a misclassified cell if there is one, else a diagonal one
    off = [(t, p) for t in range(10) for p in range(10) if t != p and cm[t, p]]
    t, p = off[0] if off else (0, 0)
    table.cellClicked.emit(t, p)
    assert inspect.evaluation_tab.gallery.count() == cm[t, p]
    assert "%" in inspect.evaluation_tab.gallery.item(0).text()
    inspect.evaluation_tab.gallery.setCurrentRow(0)
    with qtbot.waitSignal(context.image_to_predict) as blocker:
        inspect.evaluation_tab.send_gallery_button.click()
    image, caption = blocker.args
    assert image.shape == (28, 28) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0 and "true" in caption


def test_test_set_evaluation_per_class(trained):
    _, _, inspect = trained
    inspect.evaluation_tab.eval_set.setCurrentText("Test (held out)")
    result = inspect.evaluation
    assert result is not None and result.confusion.sum() == 100
    assert result.per_class.shape == (10,)
    heights = inspect.evaluation_tab.per_class_bars.opts["height"]
    np.testing.assert_allclose(heights, np.nan_to_num(result.per_class) * 100)


def test_the_drawing_can_be_the_probe(trained):
    context, _, inspect = trained
    drawing = np.zeros((28, 28), np.float32)
    drawing[6:22, 12:16] = 1.0
    context.drawing_changed.emit(drawing)
    inspect.probe_source.setCurrentIndex(1)
    shown = next(g for g in inspect.maps.groups if g.key == "input")
    np.testing.assert_allclose(shown.tiles[0], drawing)
    assert "predicted" in inspect.prediction_label.text()


def test_a_hidden_view_evaluates_when_shown(qtbot):
    context = tiny_context(epochs=1)
    train = QtTrainView(context)
    inspect = QtInspectView(context)
    for w in (train, inspect):
        qtbot.addWidget(w)
    with qtbot.waitSignal(train.session.run_finished, timeout=30000):
        train.start()
    qtbot.wait(20)
    assert inspect.evaluation is None  # nothing computed for a view nobody looks at
    with qtbot.waitSignal(inspect.evaluated, timeout=10000):
        inspect.show()
    assert inspect.evaluation_tab.confusion_matrix().sum() == 40
