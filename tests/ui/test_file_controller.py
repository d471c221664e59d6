"""File menu as a user meets it: save and reopen, unsaved changes, recovery, export, bad files."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from cnnstudio.ui import qt_file_controller as files_module
from cnnstudio.ui.main_window import MainWindow


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNSTUDIO_CONFIG_DIR", str(tmp_path / "config"))
    win = MainWindow(restore_layout=False)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.project_dirty_answer = QMessageBox.StandardButton.Discard
    monkeypatch.setattr(files_module, "ask", lambda *a: QMessageBox.StandardButton.Discard)
    win.close()


def answer(monkeypatch, button):
    asked = []

    def fake(*args):
        asked.append(args[2])
        return button

    monkeypatch.setattr(files_module, "ask", fake)
    return asked


def save_dialog_returns(monkeypatch, path: Path):
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))


def test_a_fresh_window_has_lenet_and_no_unsaved_changes(window):
    project = window.context.project
    assert not project.dirty
    assert len(project.graph) == 14
    assert window.windowTitle() == "Untitled[*] — CNN Studio"
    assert not window.isWindowModified()


def test_edit_marks_the_title_then_save_and_reopen_is_exact(window, tmp_path, monkeypatch):
    project = window.context.project
    first = next(iter(project.graph.blocks))
    project.graph.move_block(first, (321.0, 45.0))
    assert window.isWindowModified()
    project.samples.add(np.full((1, 28, 28), 200, np.uint8), "7")
    target = tmp_path / "mine.cnnstudio"
    save_dialog_returns(monkeypatch, target)
    assert window.files.autosave()
    assert window.files.save()
    assert target.is_file() and not window.isWindowModified()
    from cnnstudio.io.recovery import has_recovery

    assert not has_recovery(files_module.data_dir()), "a save supersedes the autosave"
    assert window.windowTitle().startswith("mine")
    saved_arch = project.graph.to_architecture()

    assert window.files.new_project()
    assert len(window.context.project.graph) == 0

    assert window.files.open_path(target)
    reopened = window.context.project
    assert reopened.graph.to_architecture() == saved_arch
    assert reopened.graph.block(first).position == (321.0, 45.0)
    assert [s.label for s in reopened.samples] == ["7"]
    assert str(target.resolve()) in window.files.recent_files()


def test_unsaved_changes_are_offered_before_new(window, monkeypatch):
    project = window.context.project
    project.graph.move_block(next(iter(project.graph.blocks)), (1.0, 2.0))
    asked = answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    assert not window.files.new_project()
    assert asked and "Save the changes" in asked[0]
    assert len(window.context.project.graph) == 14, "cancel keeps the work"


def test_a_damaged_project_is_refused_and_the_open_one_is_untouched(window, tmp_path):
    before = window.context.project.graph.to_architecture()
    bad = tmp_path / "broken.cnnstudio"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("project.json", "{ not json")
    assert not window.files.open_path(bad)
    assert "broken.cnnstudio" in window.files.last_error
    assert window.context.project.graph.to_architecture() == before
    not_ours = tmp_path / "notes.txt"
    not_ours.write_text("hello")
    assert not window.files.open_path(not_ours)
    assert "not a CNN Studio" in window.files.last_error
    assert window.files.error_box is not None and window.files.error_box.isVisible()
    window.files.error_box.close()


@pytest.mark.parametrize(
    ("name", "make", "says"),
    [
        ("cut.cnnmodel", lambda p: p.write_bytes(b"PK\x03\x04 cut short"), "cnnmodel: "),
        ("fifo.json", lambda p: os.mkfifo(p), "FIFO"),
        ("folder.cnnstudio", lambda p: p.mkdir(), "folder"),
        ("fifo", lambda p: os.mkfifo(p), "is a pipe (FIFO)"),
    ],
)
def test_a_file_that_cannot_be_opened_says_what_is_wrong_with_it(
    window, tmp_path, monkeypatch, name, make, says
):
    # It used to say only "not a CNN Studio project, model or architecture, or the file
    # is damaged"; the loader of its kind knows which.
    asked = answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    window.context.project.mark_dirty(True)
    path = tmp_path / name
    make(path)
    assert not window.files.open_path(path)
    error = window.files.last_error
    assert name in error and says in error and "or the file is damaged" not in error
    assert asked == [], "nothing to save for a file that cannot be opened"
    window.files.error_box.close()


def test_autosave_and_recovery_after_a_crash(window, qtbot, tmp_path, monkeypatch):
    project = window.context.project
    block = next(iter(project.graph.blocks))
    project.graph.move_block(block, (77.0, 88.0))
    assert window.files.autosave()
    # A crash: the next start finds the recovery file and offers it.
    answer(monkeypatch, QMessageBox.StandardButton.Yes)
    other = MainWindow(restore_layout=False)
    qtbot.addWidget(other)
    other.show()
    assert other.files.offer_recovery()
    assert other.context.project.graph.block(block).position == (77.0, 88.0)
    assert other.context.project.dirty, "restored work still needs saving"
    answer(monkeypatch, QMessageBox.StandardButton.Discard)
    other.close()  # a clean exit removes the recovery file
    from cnnstudio.io.recovery import has_recovery

    assert not has_recovery(files_module.data_dir())


def test_export_needs_a_trained_model_then_writes_every_format(window, tmp_path, monkeypatch):
    from cnnstudio.engine.network import Network
    from cnnstudio.io.model_file import TrainedModel, load_model
    from tests.archs import lenet5

    window.files._update_export_actions()
    assert not window.files.export_actions["onnx"].isEnabled()
    bundle = TrainedModel.from_network(Network.from_architecture(lenet5(), seed=1))
    window.context.project.set_trained(bundle)
    window.files._update_export_actions()
    assert window.files.export_actions["onnx"].isEnabled()

    save_dialog_returns(monkeypatch, tmp_path / "net.cnnmodel")
    assert window.files.export("cnnmodel")
    assert load_model(tmp_path / "net.cnnmodel").class_names == bundle.class_names
    save_dialog_returns(monkeypatch, tmp_path / "net.onnx")
    assert window.files.export("onnx")
    assert (tmp_path / "net.onnx").stat().st_size > 1000
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    assert window.files.export("numpy")
    assert (tmp_path / "Untitled-predictor" / "predict.py").is_file()


def test_opening_a_model_file_goes_to_draw_and_predict(window, tmp_path):
    from cnnstudio.engine.network import Network
    from cnnstudio.io.model_file import TrainedModel, save_model
    from tests.archs import lenet5

    path = save_model(
        tmp_path / "m.cnnmodel", TrainedModel.from_network(Network.from_architecture(lenet5()))
    )
    messages: list[str] = []
    window.context.status_message.connect(messages.append)
    assert window.open_path(path)
    assert window.current_view_key() == "predict"
    assert window.context.project.trained is not None
    assert "draw to predict" in messages[-1]


def test_opening_a_photo_model_says_to_open_or_paste_a_photo(window, tmp_path):
    from cnnstudio.io.model_file import TrainedModel, save_model
    from cnnstudio.model.compile import compile_network
    from cnnstudio.model.presets import load_preset

    net = compile_network(load_preset("photo"))
    path = save_model(tmp_path / "photo.cnnmodel", TrainedModel.from_network(net))
    messages: list[str] = []
    window.context.status_message.connect(messages.append)
    assert window.open_path(path)
    assert "open or paste a photo to predict" in messages[-1]


def _drop(window, path: Path) -> None:
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(
        QPointF(20, 20).toPoint(),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(drop)


def test_dropping_files_on_the_window_opens_them(window, tmp_path):
    from PIL import Image, ImageDraw

    from cnnstudio.engine.network import Network
    from cnnstudio.io.model_file import TrainedModel, save_model
    from tests.archs import lenet5

    model = save_model(
        tmp_path / "m.cnnmodel", TrainedModel.from_network(Network.from_architecture(lenet5()))
    )
    _drop(window, model)
    assert window.context.project.trained is not None
    picture = tmp_path / "digit.png"
    image = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(image).line((32, 8, 32, 56), fill=0, width=6)
    image.save(picture)
    window.show_view("build")
    _drop(window, picture)
    assert window.current_view_key() == "predict"
    assert "digit.png" in window.view("predict").input_caption.text()
