"""A run nobody watches (``cnnstudio gui --screenshot``) never waits for an answer, and
leaves the user's autosave, window layout and recent files as they were."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image
from PySide6.QtWidgets import QMessageBox

from cnnstudio.io import ProjectData, recovery_path, write_recovery
from cnnstudio.model.compile import graph_to_architecture
from cnnstudio.model.files import save_architecture
from cnnstudio.model.presets import load_preset
from cnnstudio.ui import qt_file_controller as files_module
from cnnstudio.ui.main_window import MainWindow
from cnnstudio.ui.train import qt_train_view as train_module
from tests.ui.train.helpers import tiny_context

#: Seconds a screenshot run may take (about 3 s here): more means it waits for someone.
TIMEOUT = 90


def gui(*args: str | Path, config: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CNNSTUDIO_CONFIG_DIR=str(config))
    return subprocess.run(
        [sys.executable, "-m", "cnnstudio", "gui", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,  # TimeoutExpired (and the child killed) if a question waits
    )


def test_a_screenshot_of_a_modified_document_never_asks_and_keeps_the_autosave(tmp_path):
    # Opening an architecture makes the document "modified"; closing used to ask
    # "Save the changes?" with nobody there to answer, forever. It also deleted the
    # autosave a crashed session had left, and stored the screenshot's window size.
    arch = save_architecture(load_preset("lenet5"), tmp_path / "tiny.json")
    config = tmp_path / "config"
    write_recovery(config, ProjectData(architecture=graph_to_architecture(load_preset("mlp"))))
    autosave = recovery_path(config).read_bytes()
    shot = tmp_path / "s.png"
    result = gui(arch, "--screenshot", shot, "--size", "900x600", config=config)
    assert result.returncode == 0, result.stderr
    assert Image.open(shot).size == (900, 600)
    assert recovery_path(config).read_bytes() == autosave, "the crash autosave is kept"
    settings = (config / "cnnstudio.ini").read_text() if (config / "cnnstudio.ini").exists() else ""
    assert "geometry" not in settings and "tiny.json" not in settings


def test_a_screenshot_of_a_file_that_cannot_be_opened_says_why_in_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[" * 100_000)
    shot = tmp_path / "s.png"
    result = gui(bad, "--screenshot", shot, config=tmp_path / "config")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnnstudio gui: "), result.stderr
    assert "bad.json" in lines[0] and "Traceback" not in result.stderr
    assert shot.is_file(), "the window is still rendered"


def test_an_unattended_window_closes_without_a_question_mid_training(qtbot, monkeypatch):
    asked: list[str] = []
    monkeypatch.setattr(files_module, "ask", lambda *a, **k: asked.append(a[2]))
    monkeypatch.setattr(train_module, "ask_keep_weights", lambda parent: asked.append("keep?"))
    window = MainWindow(restore_layout=False, unattended=True)
    qtbot.addWidget(window)
    window.files.project.mark_dirty(True)  # the File menu's project: unsaved changes
    window.context.project = tiny_context(epochs=1000).project
    view = window.view("train")
    window.show()
    with qtbot.waitSignal(view.session.progress, timeout=10000):
        assert view.start()
    assert window.close()
    assert asked == []
    assert not view.session.is_active
    assert window.context.project.trained is not None, "the weights trained so far are kept"


def test_the_question_is_still_asked_when_someone_is_there(qtbot, monkeypatch):
    asked: list[str] = []

    def answer(*args, **kwargs):
        asked.append(args[2])
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(files_module, "ask", answer)
    window = MainWindow(restore_layout=False)
    qtbot.addWidget(window)
    window.show()
    window.context.project.mark_dirty(True)
    assert not window.close()
    assert len(asked) == 1 and "Save the changes" in asked[0]
    monkeypatch.setattr(files_module, "ask", lambda *a, **k: QMessageBox.StandardButton.Discard)
