"""Autosave recovery files: written, detected, restored and removed without Qt."""

from __future__ import annotations

from cnnstudio.io import (
    ModelFileError,
    ProjectData,
    has_recovery,
    read_recovery,
    recovery_info,
    recovery_path,
    remove_recovery,
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
