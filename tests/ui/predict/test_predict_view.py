"""Draw & Predict as a user meets it: draw, see the input and the answer, teach, open files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

from cnnstudio.ui.predict import QtPredictView
from tests.archs import chain
from tests.ui.predict.conftest import ellipse, vertical_line


@pytest.fixture
def view(qtbot, context):
    v = QtPredictView(context)
    qtbot.addWidget(v)
    v.resize(1100, 750)
    v.show()
    return v


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(image.shape)
    mass = image.sum()
    return float((ys * image).sum() / mass), float((xs * image).sum() / mass)


def test_without_a_model_the_pad_works_and_asks_for_a_model(view):
    view.pad.add_stroke(ellipse())
    assert view.last_input is not None, "the preprocessed input is still shown"
    assert "Train or open a model first" in view.confidence_label.text()
    assert view.last_probabilities is None


def test_an_off_centre_stroke_becomes_a_centred_20px_input(view):
    view.pad.add_stroke(vertical_line(x=0.15, top=0.05, bottom=0.45))
    x = view.last_input
    assert x.shape == (1, 28, 28)
    cy, cx = centre_of_mass(x[0])
    assert abs(cy - 13.5) < 1.0 and abs(cx - 13.5) < 1.0
    rows = np.flatnonzero((x[0] > 0.1).any(axis=1))
    assert 18 <= rows[-1] - rows[0] + 1 <= 21, "the longer side is scaled to about 20 px"


def test_trained_model_reads_a_drawn_one_and_zero(view, context, trained_bundle):
    context.project.set_trained(trained_bundle)
    view.pad.add_stroke(vertical_line(), width=0.08)
    assert view.top_label.text() == "1"
    assert view.last_probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    view.pad.clear()
    assert view.last_probabilities is None
    view.pad.add_stroke(ellipse(), width=0.08)
    assert view.top_label.text() == "0"
    bars = view.bars.opts["height"]
    assert len(bars) == 10 and int(np.argmax(bars)) == 0


def test_feature_maps_of_every_conv_layer_follow_the_drawing(view, context, trained_bundle):
    context.project.set_trained(trained_bundle)
    view.pad.add_stroke(ellipse())
    rows = view.feature_strip._rows
    spatial = [n["id"] for n in trained_bundle.architecture["nodes"] if n["type"] != "Input"]
    spatial = [
        n
        for n in spatial
        if trained_bundle.network().activations(np.zeros((1, 1, 28, 28), np.float32))[n].ndim == 4
    ]
    assert len(spatial) == 6 and set(spatial) <= set(rows)
    caption, image = rows[spatial[0]]
    assert "6@28x28" in caption.text()
    mosaic = image.pixmap()
    assert not mosaic.isNull()
    # six 28x28 channels side by side, enlarged by the same integer factor
    assert mosaic.width() > 5 * mosaic.height()


def test_saliency_overlay_comes_from_the_input_gradient(view, context, trained_bundle):
    context.project.set_trained(trained_bundle)
    view.pad.add_stroke(ellipse())
    view.saliency_check.setChecked(True)
    assert view.pad._overlay is not None
    network = trained_bundle.network()
    grad = network.input_gradient(trained_bundle.prepare(view.last_input), 0)
    assert grad.shape == (1, 1, 28, 28) and np.abs(grad).max() > 0


def test_not_sure_when_the_top_class_is_weak(view, context, trained_bundle):
    context.project.set_trained(trained_bundle)
    flat = np.full(10, 0.1)
    view._show_probabilities(flat)
    assert "Not sure" in view.confidence_label.text()


def test_teach_adds_a_labelled_sample(view, context):
    view.pad.add_stroke(vertical_line())
    view.label_combo.setCurrentText("1")
    index = view.add_sample()
    assert index == 0
    sample = context.project.samples[0]
    assert sample.label == "1" and sample.image.shape == (1, 28, 28)
    assert view.samples_list.count() == 1
    assert context.project.dirty
    view.relabel_sample(0, "7")
    assert context.project.samples[0].label == "7"
    view.delete_sample(0)
    assert view.samples_list.count() == 0


def _photo_of_a_zero(path: Path) -> Path:
    # Dark ink on light paper, off-centre, like a phone photo of a written digit.
    image = Image.new("L", (200, 160), 235)
    ImageDraw.Draw(image).ellipse((30, 20, 90, 120), outline=30, width=9)
    image.save(path)
    return path


def test_dropping_a_photo_predicts_it(view, context, trained_bundle, tmp_path):
    context.project.set_trained(trained_bundle)
    photo = _photo_of_a_zero(tmp_path / "zero.png")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo))])
    event = QDropEvent(
        QPointF(50, 50),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    view.dropEvent(event)
    assert "zero.png" in view.input_caption.text()
    assert view.top_label.text() == "0"


def test_an_unreadable_image_says_so_inline_and_changes_nothing(
    view, context, trained_bundle, tmp_path, monkeypatch
):
    context.project.set_trained(trained_bundle)
    view.pad.add_stroke(vertical_line())
    before = view.top_label.text()
    dialogs = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: dialogs.append(a))
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png at all")
    assert view.open_image(bad) is False
    assert not dialogs, "one inline message, no dialog"
    assert view.error_label.isVisible()
    assert "broken.png" in view.error_label.text()
    assert "not an image" in view.error_label.text()
    assert view.top_label.text() == before
    view.pad.add_stroke(ellipse())  # drawing again clears the message
    assert not view.error_label.isVisible()


def test_an_rgb_model_gets_three_equal_channels(view, context):
    from cnnstudio.engine.network import Network
    from cnnstudio.io.model_file import TrainedModel

    arch = chain(
        (3, 28, 28),
        ("Conv2D", {"filters": 2, "kernel_size": 3}),
        ("Flatten", {}),
        ("Dense", {"units": 10}),
        ("Softmax", {}),
    )
    # An RGB model trained on digits keeps the pad (a photo model replaces it by the photo).
    model = TrainedModel.from_network(Network.from_architecture(arch), digit=True)
    context.project.set_trained(model)
    assert view.pad.isVisible() and not view.photo_mode
    view.pad.add_stroke(ellipse())
    x = view.last_input
    assert x.shape == (3, 28, 28)
    assert np.array_equal(x[0], x[1]) and np.array_equal(x[1], x[2])
    assert view.last_probabilities is not None


def test_predictions_follow_training_and_drop_a_discarded_run(qtbot, trained_bundle):
    from cnnstudio.ui.train import QtTrainView
    from tests.ui.train.helpers import tiny_context

    context = tiny_context(epochs=1000)
    context.project.set_trained(trained_bundle)
    train_view = QtTrainView(context)
    view = QtPredictView(context)
    qtbot.addWidget(train_view)
    qtbot.addWidget(view)
    view.pad.add_stroke(vertical_line())
    assert "the trained model" in view.model_label.text()
    train_view.start()
    # The drawing is predicted again with the network as it learns, without a stroke.
    qtbot.waitUntil(lambda: "as it trains" in view.model_label.text(), timeout=10000)
    with qtbot.waitSignal(train_view.session.run_finished, timeout=10000):
        train_view.session.shutdown(keep=False)
    # Discarded: the trained model is still the project's, and predictions use it again.
    assert context.project.trained is trained_bundle
    assert "the trained model" in view.model_label.text()
    assert view.top_label.text() == "1"


def test_a_taught_sample_survives_saving_and_reopening_the_project(view, context, tmp_path):
    from cnnstudio.io.project_file import load_project, save_project
    from cnnstudio.model.project import Project

    view.pad.add_stroke(vertical_line())
    view.label_combo.setCurrentText("1")
    view.add_sample()
    taught = context.project.samples[0].image.copy()
    path = tmp_path / "taught.cnnstudio"
    save_project(path, context.project.to_data())

    reopened = Project()
    reopened.load_data(load_project(path), path)
    assert [s.label for s in reopened.samples] == ["1"]
    assert np.array_equal(reopened.samples[0].image, taught)
