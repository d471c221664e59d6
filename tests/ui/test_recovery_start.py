"""A damaged autosave never stops the app from starting: it is moved aside and named."""

from __future__ import annotations

import zipfile

import pytest
from PySide6.QtWidgets import QMessageBox

from cnnstudio.io import ProjectData, recovery_path, save_project, write_recovery
from cnnstudio.ui import qt_file_controller as files_module
from cnnstudio.ui.main_window import MainWindow
from tests.io import archs


@pytest.fixture
def config(tmp_path, monkeypatch):
    folder = tmp_path / "config"
    monkeypatch.setenv("CNNSTUDIO_CONFIG_DIR", str(folder))
    return folder


@pytest.fixture
def asked(monkeypatch):
    questions: list[str] = []

    def fake(*args):
        questions.append(args[2])
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(files_module, "ask", fake)
    return questions


def start(qtbot) -> MainWindow:
    win = MainWindow(restore_layout=False)
    qtbot.addWidget(win)
    win.show()
    return win


def close(win: MainWindow, monkeypatch) -> None:
    monkeypatch.setattr(files_module, "ask", lambda *a: QMessageBox.StandardButton.Discard)
    win.close()


def aside(config) -> list:
    return sorted(p for p in (config / "recovery").iterdir() if ".damaged-" in p.name)


def test_an_autosave_note_nested_too_deeply_no_longer_stops_the_start(
    qtbot, config, asked, monkeypatch
):
    # Older versions' note beside the project; nested JSON raised RecursionError here.
    recovery_path(config).parent.mkdir(parents=True)
    save_project(recovery_path(config), ProjectData(architecture=archs.lenet()))
    (config / "recovery" / "autosave.json").write_text("[" * 100_000)
    win = start(qtbot)
    assert win.files.offer_recovery()
    assert len(asked) == 1 and "untitled project" in asked[0]
    assert win.context.project.path is None, "the restore is not tied to an unknown file"
    assert [p.name.endswith(".json") for p in aside(config)] == [True]
    close(win, monkeypatch)


def test_a_damaged_autosave_is_moved_aside_and_said_in_one_line(qtbot, config, asked, monkeypatch):
    write_recovery(config, ProjectData(architecture=archs.lenet()))
    recovery_path(config).write_bytes(b"PK\x03\x04 cut short by a crash")
    win = start(qtbot)
    before = win.context.project.graph.to_architecture()
    assert not win.files.offer_recovery()
    assert asked == [], "nothing to offer"
    note = win.files.last_note
    assert "\n" not in note and note.startswith("The autosave could not be read")
    moved = aside(config)
    assert len(moved) == 1 and str(moved[0]) in note
    assert moved[0].read_bytes() == b"PK\x03\x04 cut short by a crash", "not deleted"
    assert win.statusBar().currentMessage() == note
    # the status bar forgets it in 5 s: a message box stays until read (not waited for)
    box = win.files.error_box
    assert box is not None and box.isVisible()
    assert "did not close cleanly" in box.text() and str(moved[0]) in box.text()
    assert win.context.project.graph.to_architecture() == before
    close(win, monkeypatch)


def test_an_autosave_that_fails_to_load_is_kept_aside(qtbot, config, asked, monkeypatch):
    write_recovery(config, ProjectData(architecture=archs.lenet()))
    path = recovery_path(config)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["project.json"] = members["project.json"].replace(b'"Input"', b'"Nonsense"')
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    win = start(qtbot)
    assert not win.files.offer_recovery()
    assert len(asked) == 1
    assert "could not be read" in win.files.last_note
    assert len(aside(config)) == 1 and not path.exists()
    close(win, monkeypatch)
