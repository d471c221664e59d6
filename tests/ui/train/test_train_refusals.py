"""What the Train view says when data or a run cannot go on: one clear note each, never
a traceback, and the previous dataset and model stay."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnstudio.engine.optimizers import Adam
from cnnstudio.ui.train import QtTrainView
from cnnstudio.ui.train import qt_train_view as train_module
from tests.ui.train.helpers import tiny_context


@pytest.fixture
def view(qtbot):
    v = QtTrainView(tiny_context())
    qtbot.addWidget(v)
    v.resize(1200, 800)
    yield v
    if v.session.is_active:
        v.session.shutdown(keep=False)


def run(qtbot, view):
    with qtbot.waitSignal(view.session.run_finished, timeout=30000) as blocker:
        assert view.start()
    return blocker.args[0]


def fail_step(monkeypatch, at: int) -> None:
    """Make optimizer step number ``at`` (counted from 1) run out of memory."""
    real = Adam.step
    calls = [0]

    def step(self, parameters):
        calls[0] += 1
        if calls[0] == at:
            raise MemoryError
        real(self, parameters)

    monkeypatch.setattr(Adam, "step", step)


def test_running_out_of_memory_keeps_the_last_good_model_and_says_lower_the_batch_size(
    view, qtbot, monkeypatch
):
    project = view.project
    fail_step(monkeypatch, at=3)
    result = run(qtbot, view)
    assert result.outcome == "out of memory"
    text = view.controls.message_label.text()
    assert view.controls.message_label.isVisibleTo(view)
    assert text.startswith("Training ran out of memory after step 2")
    assert "Lower the batch size (now 32)" in text and "failed" not in text.lower()
    assert "model of step 2" in text
    trained = project.trained
    assert trained is not None and trained.training_summary["steps"] == 2
    assert trained.training_summary["outcome"] == "out of memory"
    assert all(np.isfinite(w).all() for w in trained.weights.values())
    assert len(project.history) == 1 and len(project.history[0].loss) == 2
    assert view.controls.start_button.isEnabled()  # ready for a run with a smaller batch


def test_running_out_of_memory_at_the_first_step_keeps_the_previous_model(view, qtbot, monkeypatch):
    project = view.project
    assert run(qtbot, view).outcome == "finished"
    previous = project.trained
    fail_step(monkeypatch, at=1)
    result = run(qtbot, view)
    assert result.outcome == "out of memory" and result.model is None
    assert "before the first step" in view.controls.message_label.text()
    assert "previous model is unchanged" in view.controls.message_label.text()
    assert project.trained is previous


def test_a_one_class_dataset_is_refused_when_picked(view, tmp_path):
    # A CSV whose label column holds one value: it used to load, and Start then
    # suggested shrinking the output layer to 1 unit, which could never train.
    project = view.project
    before = project.dataset
    csv = tmp_path / "one.csv"
    rows = ["label," + ",".join(f"p{i}" for i in range(784))]
    rows += ["7," + ",".join(str((r * i) % 256) for i in range(784)) for r in range(20)]
    csv.write_text("\n".join(rows) + "\n")
    assert not view.data.load_source("csv", str(csv))
    note = view.data.data_error_label.text()
    assert view.data.data_error_label.isVisibleTo(view)
    assert note.startswith("Could not load the dataset: one.csv has only one class")
    assert "labelled '7'" in note and "add another class" in note and "\n" not in note
    assert project.dataset is before
    assert view.data.source_combo.currentData() == "builtin"
    assert view.controls.start_button.isEnabled()


def test_an_image_with_nan_values_is_refused_at_start_naming_it(view, qtbot, monkeypatch):
    # Datasets are uint8; float images (another source) reach the engine's own check.
    project = view.project
    assert run(qtbot, view).outcome == "finished"
    previous = project.trained
    real = view._prepare_job

    def job_with_nan():
        job = real()
        x = job.train_data[0].astype(np.float32) / 255
        x[5, 0, 3, 3] = np.nan
        job.train_data = (x, job.train_data[1])
        return job

    monkeypatch.setattr(view, "_prepare_job", job_with_nan)
    assert not view.start()
    text = view.controls.message_label.text()
    assert view.controls.message_label.isVisibleTo(view)
    assert text.startswith("image 5 of the training data contains NaN/inf values")
    assert not view.session.is_active and project.trained is previous


def test_nan_made_by_the_transform_is_not_blamed_on_the_learning_rate(view, qtbot, monkeypatch):
    project = view.project
    real = train_module.transforms_for

    def poisoned(settings, images):
        transform, val_transform, norm = real(settings, images)

        def broken(x, rng):
            out = transform(x, rng) if transform is not None else x.astype(np.float32) / 255
            out[0, 0, 0, 0] = np.inf
            return out

        return broken, val_transform, norm

    monkeypatch.setattr(train_module, "transforms_for", poisoned)
    result = run(qtbot, view)
    assert result.outcome == "diverged"
    text = view.controls.message_label.text()
    assert "contains NaN/inf values after the training transform" in text
    assert "learning rate" not in text
    assert project.trained is None  # nothing trained, nothing kept


def _png_bomb(width: int, height: int) -> bytes:
    """A 57-byte PNG header claiming ``width`` x ``height`` pixels (no pixel data)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def _two_classes(root: Path) -> None:
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (10, 12), 40 * i).save(root / label / f"{i}.png")


def test_a_folder_with_links_out_and_a_bomb_image_loads_and_lists_what_was_skipped(view, tmp_path):
    root = tmp_path / "pets"
    _two_classes(root)
    os.symlink("/", root / "everything")  # a "class" linking to the whole file system
    os.symlink(tmp_path, root / "dog" / "up")  # a folder linking out of the dataset
    (root / "cat" / "bomb.png").write_bytes(_png_bomb(100_000, 100_000))
    assert view.data.load_source("folder", str(root), size=[16, 16], color="L")
    assert len(view.project.dataset.train) == 6
    summary = view.data.dataset_label.text()
    assert "3 files skipped" in summary
    # what and why, without hovering: the first reason is in the note itself
    assert "everything: a link to a folder outside the dataset folder" in summary
    listing = view.data.dataset_label.toolTip()
    assert all(name in listing for name in ("everything", "up", "bomb.png"))
    assert "too large" in listing
    assert not view.data.data_error_label.isVisibleTo(view)


def test_a_class_folder_named_with_invalid_bytes_is_one_note_and_the_previous_dataset_stays(
    view, tmp_path
):
    root = tmp_path / "pets"
    _two_classes(root)
    bad = Path(os.fsdecode(bytes(root) + b"/caf\xe9"))
    bad.mkdir()
    Image.new("L", (10, 12), 0).save(bad / "0.png")
    before = view.project.dataset
    assert not view.data.load_source("folder", str(root), size=[16, 16], color="L")
    note = view.data.data_error_label.text()
    assert view.data.data_error_label.isVisibleTo(view)
    assert note.startswith("Could not load the dataset: ") and "\n" not in note
    assert "caf\\xe9" in note and "not valid UTF-8" in note and "rename the folder" in note
    assert view.project.dataset is before


def test_why_start_is_disabled_is_on_the_page_not_only_in_a_tooltip(view, tmp_path):
    # Two classes for a network with ten outputs: Start is disabled, and the page used
    # to keep saying "Press Start to train." with the reason only in a tooltip.
    root = tmp_path / "pets"
    _two_classes(root)
    assert view.data.load_source("folder", str(root), size=[28, 28], color="L")
    reason = view.controls.start_button.toolTip()
    assert not view.controls.start_button.isEnabled() and "2 classes" in reason
    assert view.controls.status_label.text() == f"Cannot start: {reason}"
    assert view.data.load_source("builtin")
    assert view.controls.start_button.isEnabled()
    assert view.controls.status_label.text() == "Press Start to train."
