"""Draw & Predict with a photo model, and "Predict a folder", as a user meets them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from cnnstudio.data.normalize import Normalization
from cnnstudio.engine.network import Network
from cnnstudio.io.model_file import TrainedModel
from cnnstudio.model.photo_input import photo_from_array
from cnnstudio.ui.predict import QtPredictView
from tests.archs import chain
from tests.ui.predict.conftest import vertical_line

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture(scope="module")
def photo_model():
    arch = chain(
        (3, 32, 32),
        ("Conv2D", {"filters": 8, "kernel_size": 3, "padding": 1}),
        ("ReLU", {}),
        ("MaxPool2D", {"pool_size": 2}),
        ("Flatten", {}),
        ("Dense", {"units": 10}),
        ("Softmax", {}),
    )
    net = Network.from_architecture(arch, seed=3)
    norm = Normalization((0.49, 0.48, 0.45), (0.25, 0.24, 0.26))
    return TrainedModel.from_network(net, CLASSES, normalization=norm)


@pytest.fixture
def view(qtbot, context, photo_model):
    v = QtPredictView(context)
    qtbot.addWidget(v)
    v.resize(1200, 800)
    v.show()
    qtbot.waitExposed(v)
    context.project.set_trained(photo_model)
    yield v
    if v.folder_dialog is not None:
        v.folder_dialog.close()


def _sunset(w=120, h=80) -> np.ndarray:
    """A colourful wide picture: a red-to-yellow sky over blue water."""
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, :, 0] = 230
    a[: h // 2, :, 1] = np.linspace(40, 220, w).astype(np.uint8)
    a[h // 2 :, :, 2] = 200
    a[h // 2 :, :, 1] = 60
    return a


def _qimage(rgb: np.ndarray) -> QImage:
    h, w = rgb.shape[:2]
    return QImage(np.ascontiguousarray(rgb).data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def test_a_photo_model_puts_the_photo_where_the_pad_was(view, context, trained_bundle):
    assert view.photo_mode
    assert not view.pad.isVisible()
    assert view.photo_view.isVisible() and view.open_photo_button.isVisible()
    assert view.left_box.title() == "Photo"
    assert "photo" in view.confidence_label.text().lower()
    context.project.set_trained(trained_bundle)  # a digit model: the pad is back
    assert view.pad.isVisible() and not view.photo_view.isVisible()
    assert view.left_box.title() == "Draw"


def test_a_pasted_picture_is_predicted_like_the_network_predicts_it(view, qtbot, photo_model):
    pixels = _sunset()
    QApplication.clipboard().setImage(_qimage(pixels))
    view.photo_view.setFocus()
    qtbot.keyClick(view.photo_view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert view.last_probabilities is not None, "Ctrl+V predicted the clipboard's picture"
    expected_input = photo_from_array(pixels, (3, 32, 32)).input
    np.testing.assert_allclose(view.last_input, expected_input, atol=1e-6)
    network = photo_model.network()
    expected = network.predict_proba(photo_model.prepare(expected_input))[0]
    np.testing.assert_allclose(view.last_probabilities, expected, rtol=1e-5, atol=1e-7)
    assert view.top_label.text() == CLASSES[int(np.argmax(expected))]
    assert len(view.bars.opts["height"]) == 10
    # The crop of the 120x80 picture is its middle 80x80, drawn on the picture.
    assert view.photo_view._crop == (20, 0, 100, 80)
    assert "the clipboard" in view.photo_caption.text()
    assert "dashed box (80x80" in view.photo_caption.text()


def test_what_the_network_sees_is_in_colour_with_the_normalisation_spelled_out(view):
    view.show_qimage(_qimage(_sunset()), "sunset.png")
    shown = view.input_label.pixmap().toImage()
    top = shown.pixelColor(shown.width() // 2, shown.height() // 8)
    assert top.red() > 150 and top.blue() < 80, "the sky is shown red, not grey"
    caption = view.normalized_caption.text()
    assert view.normalized_label.isVisible()
    assert "R (x − 0.490) / 0.250" in caption and "B (x − 0.450) / 0.260" in caption
    assert "Values now run from" in caption


def test_a_grayscale_photo_to_a_colour_model_gets_a_note(view, tmp_path):
    path = tmp_path / "grey.png"
    Image.fromarray(np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1))).save(path)
    assert view.open_image(path)
    assert view.photo_notes_label.isVisible()
    note = view.photo_notes_label.text()
    assert "grayscale" in note and "red, green and blue" in note
    x = view.last_input
    assert np.array_equal(x[0], x[1]) and np.array_equal(x[1], x[2])
    assert view.last_probabilities is not None
    # A colour photo afterwards: no note.
    view.show_qimage(_qimage(_sunset()), "sunset.png")
    assert not view.photo_notes_label.isVisible()


def test_a_file_that_is_not_an_image_gets_one_inline_message(view, tmp_path):
    view.show_qimage(_qimage(_sunset()), "sunset.png")
    before = view.last_probabilities.copy()
    text = tmp_path / "notes.jpg"
    text.write_text("this is a shopping list")
    assert view.open_image(text) is False
    assert view.error_label.isVisible()
    assert "notes.jpg" in view.error_label.text() and "not an image" in view.error_label.text()
    np.testing.assert_array_equal(view.last_probabilities, before)
    assert "sunset.png" in view.photo_caption.text(), "the previous photo stays"


def test_a_huge_pasted_picture_is_refused_like_the_loaders_refuse_it(view, monkeypatch):
    from cnnstudio.model import photo_input

    monkeypatch.setattr(photo_input, "MAX_IMAGE_PIXELS", 40 * 40)
    assert view.show_qimage(_qimage(_sunset()), "the clipboard") is False
    assert "too large" in view.error_label.text() and "shrink it" in view.error_label.text()
    assert view.last_probabilities is None


def test_an_empty_clipboard_says_what_to_do(view):
    QApplication.clipboard().setText("just words")
    assert view.paste_image() is False
    assert "no picture" in view.error_label.text()


def _folder(tmp_path, n=5):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (36, 40, 3), dtype=np.uint8)).save(
            folder / f"photo{i}.png"
        )
    (folder / "readme.txt").write_text("not a picture")
    return folder


def _column(dialog, column):
    return [dialog.table.item(r, column).text() for r in range(dialog.table.rowCount())]


def test_predicting_a_folder_fills_a_sortable_table(view, qtbot, tmp_path, photo_model):
    dialog = view.predict_folder(_folder(tmp_path))
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=20000)
    assert dialog.table.rowCount() == 5, "one row per picture"
    assert not dialog.table.item(0, 0).icon().isNull(), "a thumbnail"
    assert sorted(_column(dialog, 1)) == [f"photo{i}.png" for i in range(5)]
    # Sorted by probability, most probable first.
    dialog.table.sortItems(3, Qt.SortOrder.DescendingOrder)
    shown = [float(t.rstrip("%")) for t in _column(dialog, 3)]
    assert shown == sorted(shown, reverse=True)
    # Each row is the model's answer for that file, with its second choice.
    for row in range(5):
        path = dialog.row_path(row)
        photo = photo_from_array(np.asarray(Image.open(path)), (3, 32, 32))
        p = photo_model.predict_proba(photo.input)[0]
        first, second = np.argsort(-p)[:2]
        assert dialog.table.item(row, 2).text() == CLASSES[first]
        assert dialog.table.item(row, 3).text() == f"{p[first]:.1%}"
        assert dialog.table.item(row, 4).text() == f"{CLASSES[second]} ({p[second]:.1%})"
    dialog.table.sortItems(1, Qt.SortOrder.DescendingOrder)
    assert _column(dialog, 1)[0] == "photo4.png"
    # The text file is listed as skipped, with why.
    assert dialog.skipped_list.count() == 1
    assert "readme.txt: not a picture file ('.txt'" in dialog.skipped_list.item(0).text()
    assert "subfolders are not searched" in dialog.summary_label.text()
    assert "Predicted 5 pictures" in dialog.progress.format()
    # Double-clicking a row shows that picture in the view.
    dialog.table.cellDoubleClicked.emit(0, 1)
    assert "photo4.png" in view.photo_caption.text()


def test_a_folder_of_digits_is_predicted_with_a_digit_model(
    view, qtbot, context, trained_bundle, tmp_path
):
    context.project.set_trained(trained_bundle)
    folder = tmp_path / "digits"
    folder.mkdir()
    one = np.full((60, 40), 235, np.uint8)
    one[8:52, 18:23] = 20
    Image.fromarray(one).save(folder / "one.png")
    dialog = view.predict_folder(folder)
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=20000)
    assert dialog.table.rowCount() == 1
    assert dialog.table.item(0, 2).text() == "1"


def test_cancel_stops_a_long_folder_and_keeps_the_rows_so_far(view, qtbot, tmp_path):
    dialog = view.predict_folder(_folder(tmp_path, n=300))
    dialog.cancel()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=20000)
    assert dialog.table.rowCount() < 300
    assert dialog.progress.format().startswith("Cancelled after")
    assert dialog.cancel_button.text() == "Close"


def test_a_drawn_digit_model_still_draws(view, context, trained_bundle):
    context.project.set_trained(trained_bundle)
    view.pad.add_stroke(vertical_line(), width=0.08)
    assert view.top_label.text() == "1"
    assert not view.normalized_caption.isVisible()


def test_a_taught_photo_keeps_its_colours_in_my_samples(view):
    view.show_qimage(_qimage(_sunset()), "sunset.png")
    view.label_combo.setCurrentText("ship")
    assert view.add_sample() == 0
    icon = view.samples_list.item(0).icon().pixmap(32, 32).toImage()
    top = icon.pixelColor(16, 4)
    assert top.red() > 150 and top.blue() < 100, "the sky is red in the sample's icon"


def test_ctrl_v_in_the_window_pastes_into_draw_and_predict_not_the_canvas(qtbot, photo_model):
    from cnnstudio.ui import main_window

    win = main_window.MainWindow(restore_layout=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.context.project.set_trained(photo_model)
    blocks = len(win.context.project.graph.blocks)
    win.show_view("predict")
    view = win.view("predict")
    QApplication.clipboard().setImage(_qimage(_sunset()))
    with warnings.catch_warnings():  # offscreen windows are never activated otherwise
        warnings.simplefilter("ignore", DeprecationWarning)
        QApplication.setActiveWindow(win)
    assert not view.isAncestorOf(QApplication.focusWidget()), "focus is outside the view"
    qtbot.keyClick(win, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert view.last_probabilities is not None, "Ctrl+V with the view showing pastes the photo"
    assert len(win.context.project.graph.blocks) == blocks, "no blocks were pasted"
    win.close()
