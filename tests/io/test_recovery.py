"""Autosave recovery files: written, detected, restored and removed without Qt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cnnstudio.io import (
    ModelFileError,
    ProjectData,
    has_recovery,
    read_recovery,
    recovery_info,
    recovery_path,
    remove_recovery,
    save_project,
    set_aside_recovery,
    sweep_recovery,
    write_recovery,
)
from tests.io import archs


def test_write_detect_read_remove(tmp_path):
    config = tmp_path / "config"  # created on first write
    assert not has_recovery(config)
    assert recovery_info(config) is None

    project = ProjectData(architecture=archs.residual(), training_settings={"epochs": 2})
    written = write_recovery(config, project, source=tmp_path / "mine.cnnstudio")
    assert written == recovery_path(config)
    assert has_recovery(config)

    info = recovery_info(config)
    assert info is not None
    assert info.source == (tmp_path / "mine.cnnstudio").resolve()
    assert info.saved is not None and info.saved.startswith("20")

    restored = read_recovery(config)
    assert restored.architecture == project.architecture
    assert restored.training_settings == {"epochs": 2}

    remove_recovery(config)
    assert not has_recovery(config)
    remove_recovery(config)  # removing twice is fine (clean exit after a save)


def test_untitled_project_has_no_source(tmp_path):
    write_recovery(tmp_path, ProjectData(architecture=archs.lenet()))
    info = recovery_info(tmp_path)
    assert info is not None and info.source is None


def test_damaged_recovery_file_is_a_model_file_error(tmp_path):
    write_recovery(tmp_path, ProjectData(architecture=archs.lenet()))
    recovery_path(tmp_path).write_bytes(b"PK\x03\x04 truncated")
    try:
        read_recovery(tmp_path)
    except ModelFileError as exc:
        assert str(recovery_path(tmp_path)) in str(exc)
        assert "damaged" in str(exc)
    else:
        raise AssertionError("a damaged recovery file loaded")


def test_autosave_overwrites_the_previous_one(tmp_path):
    write_recovery(tmp_path, ProjectData(architecture=archs.lenet(), ui_state={"n": 1}))
    write_recovery(tmp_path, ProjectData(architecture=archs.lenet(), ui_state={"n": 2}))
    assert read_recovery(tmp_path).ui_state == {"n": 2}
    # One file holds the project and its note, so the two can never disagree.
    assert sorted(p.name for p in recovery_path(tmp_path).parent.iterdir()) == [
        "autosave.cnnstudio"
    ]


# -- damaged, interrupted and older autosaves ---------------------------------------
def _legacy(config, project: ProjectData, note: bytes) -> None:
    """The layout of older versions: the project, and the note as a separate file."""
    recovery_path(config).parent.mkdir(parents=True, exist_ok=True)
    save_project(recovery_path(config), project)
    (recovery_path(config).parent / "autosave.json").write_bytes(note)


def _note(source, saved: str) -> bytes:
    return json.dumps({"source": str(source), "saved": saved, "app_version": "0.1"}).encode()


def test_an_older_versions_autosave_still_restores(tmp_path):
    _legacy(
        tmp_path,
        ProjectData(architecture=archs.lenet()),
        _note(tmp_path / "a.cnnstudio", "2999-01-01T00:00:00+00:00"),
    )
    info = recovery_info(tmp_path)
    assert info is not None and info.problem is None
    assert info.source == tmp_path / "a.cnnstudio"
    assert read_recovery(tmp_path).architecture == archs.lenet()


def test_an_older_note_that_names_the_previous_project_is_not_trusted(tmp_path):
    # A kill between the two writes of older versions: a new project, the old note.
    _legacy(
        tmp_path,
        ProjectData(architecture=archs.lenet()),
        _note(tmp_path / "old.cnnstudio", "2001-01-01T00:00:00+00:00"),
    )
    info = recovery_info(tmp_path)
    assert info is not None
    assert info.source is None, "restoring it would later save over a different file"
    assert "earlier autosave" in info.problem and "untitled" in info.problem


def test_the_note_and_the_project_are_one_write(tmp_path):
    write_recovery(
        tmp_path, ProjectData(architecture=archs.lenet()), source=tmp_path / "a.cnnstudio"
    )
    write_recovery(
        tmp_path, ProjectData(architecture=archs.residual()), source=tmp_path / "b.cnnstudio"
    )
    with zipfile.ZipFile(recovery_path(tmp_path)) as zf:
        note = json.loads(zf.read("recovery.json"))
    assert note["source"] == str((tmp_path / "b.cnnstudio").resolve())
    info = recovery_info(tmp_path)
    assert info is not None and info.source == (tmp_path / "b.cnnstudio").resolve()
    assert read_recovery(tmp_path).architecture == archs.residual()


@pytest.mark.parametrize(
    "note",
    [b"[" * 100_000, b'{"source": ' + b"7" * 5000 + b"}", b"\xff\xfe", b"{"],
    ids=["deep", "big-int", "not-utf8", "truncated"],
)
def test_a_damaged_older_note_is_moved_aside_and_the_project_offered(tmp_path, note):
    _legacy(tmp_path, ProjectData(architecture=archs.lenet()), note)
    info = recovery_info(tmp_path)  # raised RecursionError at every start before
    assert info is not None and info.source is None
    assert "untitled" in info.problem and "moved to autosave.damaged-" in info.problem
    folder = recovery_path(tmp_path).parent
    aside = [p for p in folder.iterdir() if p.name.startswith("autosave.damaged-")]
    assert len(aside) == 1 and aside[0].read_bytes() == note, "the user's data is kept"
    assert not (folder / "autosave.json").exists()
    assert recovery_info(tmp_path).problem is None  # the next start is clean


def test_a_damaged_autosave_is_set_aside_not_deleted(tmp_path):
    write_recovery(tmp_path, ProjectData(architecture=archs.lenet()))
    recovery_path(tmp_path).write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelFileError, match=r"autosave\.cnnstudio"):
        recovery_info(tmp_path)
    moved = set_aside_recovery(tmp_path)
    assert moved is not None and moved.read_bytes() == b"PK\x03\x04 truncated"
    assert moved.parent == recovery_path(tmp_path).parent
    assert not has_recovery(tmp_path) and recovery_info(tmp_path) is None


def test_a_source_path_that_is_not_utf8_comes_back_the_same(tmp_path):
    source = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.cnnstudio"))
    write_recovery(tmp_path, ProjectData(architecture=archs.lenet()), source=source)
    info = recovery_info(tmp_path)
    assert info is not None and info.source == source


def test_temporaries_of_killed_autosaves_are_swept_at_start(tmp_path):
    write_recovery(tmp_path, ProjectData(architecture=archs.lenet()))
    folder = recovery_path(tmp_path).parent
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    stale = [
        folder / f".autosave.cnnstudio.{child.pid}.0123abcd.tmp",
        folder / ".autosave.json.a1b2c3d4.tmp",
    ]
    for p in stale:
        p.write_bytes(b"half an autosave")
    sweep_recovery(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["autosave.cnnstudio"]
