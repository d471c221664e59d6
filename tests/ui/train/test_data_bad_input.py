"""The Train view's data panel with a folder that mixes photos and digits: one note, and
the previous dataset stays."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cnnstudio.ui.train import QtTrainView
from cnnstudio.ui.train import qt_data_panel as data_module
from tests.ui.train.helpers import tiny_context


@pytest.fixture
def view(qtbot):
    v = QtTrainView(tiny_context())
    qtbot.addWidget(v)
    v.resize(1200, 800)
    return v


def test_a_folder_mixing_photos_and_digits_is_one_note_and_the_dataset_stays(
    view, tmp_path, monkeypatch
):
    rng = np.random.default_rng(0)
    for i in range(5):
        for name, shape in (("cat", (32, 32, 3)), ("7", (28, 28))):
            (tmp_path / name).mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 256, shape, np.uint8)).save(
                tmp_path / name / f"{i}.png"
            )
    project = view.project
    before = project.dataset
    monkeypatch.setattr(
        data_module.QFileDialog, "getExistingDirectory", lambda *args: str(tmp_path)
    )
    combo = view.data.source_combo
    index = combo.findData("folder")
    combo.setCurrentIndex(index)
    combo.activated.emit(index)
    note = view.data.data_error_label.text()
    assert view.data.data_error_label.isVisibleTo(view)
    assert note.startswith(f"Could not load the dataset: {tmp_path}: mixes 5 colour images")
    assert "5 grayscale images (all 28x28)" in note and "Keep one kind" in note
    assert project.dataset is before
    assert combo.itemData(combo.currentIndex()) == project.dataset_choice.kind
