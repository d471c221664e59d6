"""The Train view's augmentation settings per kind of data: digits and colour photos."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
from PySide6.QtGui import QImage

from cnnstudio.data import Augmentation, DatasetSplit, load_builtin
from cnnstudio.model.project import DatasetChoice, Project
from cnnstudio.ui.context import AppContext
from cnnstudio.ui.train import QtTrainView
from cnnstudio.ui.train.train_settings import (
    AUGMENTATIONS,
    SETTING_SPECS,
    TrainSettings,
    transforms_for,
)
from tests.ui.train.helpers import tiny_context, tiny_split

PHOTO_CHOICE = DatasetChoice(kind="builtin", path="cifar10-sample")


@pytest.fixture(scope="module")
def photos() -> DatasetSplit:
    full = load_builtin("cifar10-sample")
    picks = np.linspace(0, len(full.train) - 1, 200).astype(int)
    return DatasetSplit(train=full.train.subset(picks), test=None)


def make_view(qtbot, context) -> QtTrainView:
    view = QtTrainView(context)
    qtbot.addWidget(view)
    view.resize(1200, 800)
    return view


def preview_is_colour(view: QtTrainView) -> bool:
    image = view.preview_label.pixmap().toImage().convertToFormat(QImage.Format.Format_RGB888)
    ptr = image.constBits()
    rgb = np.frombuffer(ptr, np.uint8, image.sizeInBytes()).reshape(
        image.height(), image.bytesPerLine()
    )[:, : image.width() * 3]
    rgb = rgb.reshape(image.height(), image.width(), 3).astype(int)
    return bool(np.abs(rgb - rgb.mean(axis=2, keepdims=True)).mean() > 3)


def test_every_augmentation_is_in_the_form():
    names = {spec.name for spec in SETTING_SPECS if spec.group == "augmentation"}
    assert names == set(AUGMENTATIONS) == {f.name for f in fields(Augmentation)}


def test_defaults_per_kind_of_data_and_old_settings_load_unchanged():
    assert TrainSettings().augmentation == {}  # digits: as before, flips off
    assert TrainSettings().with_data_defaults(3).augmentation == {"crop": 4, "flip": True}
    assert TrainSettings().with_data_defaults(3).with_data_defaults(1).augmentation == {}
    old = TrainSettings.from_dict({"epochs": 3, "augmentation": {"shift": 2, "thickness": 1}})
    assert old.augmentation == {"shift": 2, "thickness": 1}
    flat = old.flat()
    assert flat["flip"] is False and flat["crop"] == 0 and flat["shift"] == 2
    photo = TrainSettings.from_flat({**flat, "flip": True, "crop": 4, "thickness": 0})
    assert photo.augmentation == {"shift": 2, "flip": True, "crop": 4}


def test_a_run_on_photos_leaves_out_the_digits_only_augmentation(photos):
    settings = TrainSettings(augmentation={"thickness": 2, "saturation": 0.5, "flip": True})
    assert settings.augmentation_object(3) == Augmentation(saturation=0.5, flip=True)
    assert settings.augmentation_object(1) == Augmentation(thickness=2, flip=True)
    transform, _val, _norm = transforms_for(settings, photos.train.images)
    out = transform(photos.train.images[:8], np.random.default_rng(0))
    assert out.dtype == np.float32 and out.shape == (8, 3, 32, 32)


def test_choosing_photos_gives_their_defaults_and_disables_thickness(qtbot, photos):
    context = tiny_context()
    view = make_view(qtbot, context)
    project = context.project
    assert view.settings().augmentation == {}
    assert view.editor("thickness").isEnabled() and not view.editor("saturation").isEnabled()
    assert "colour (3-channel)" in view.editor("saturation").toolTip()
    assert not preview_is_colour(view)

    project.set_dataset(PHOTO_CHOICE, photos)
    assert view.settings().augmentation == {"crop": 4, "flip": True}
    assert project.train_settings["augmentation"] == {"crop": 4, "flip": True}
    assert view.editor("crop").value() == 4 and view.editor("flip").isChecked()
    thickness = view.editor("thickness")
    assert not thickness.isEnabled()
    assert thickness.toolTip() == "Stroke thickness is for grey (1-channel) images such as digits."
    assert view.editor("saturation").isEnabled() and view.editor("cutout").isEnabled()
    assert preview_is_colour(view)
    # Four 32-pixel photos a row at twice the size: as wide as five digits.
    assert view.preview_label.pixmap().width() == 2 * (4 * 33 - 1)

    # The user's own choice for the photos stays while the data stays photos.
    view.editor("cutout").setValue(8)
    project.set_dataset(PHOTO_CHOICE, photos)
    assert view.settings().augmentation == {"crop": 4, "flip": True, "cutout": 8}

    # Back to digits: their defaults, flips off.
    project.set_dataset(DatasetChoice(), tiny_split())
    assert view.settings().augmentation == {}
    assert not view.editor("flip").isChecked() and view.editor("thickness").isEnabled()
    assert "Make pen strokes" in view.editor("thickness").toolTip()


def test_a_new_project_on_photos_starts_with_their_defaults_unmodified(qtbot, photos):
    project = Project()
    project.set_dataset(PHOTO_CHOICE, photos)
    project.mark_dirty(False)
    context = AppContext()
    context.project = project
    view = make_view(qtbot, context)
    assert view.settings().augmentation == {"crop": 4, "flip": True}
    assert project.train_settings["augmentation"] == {"crop": 4, "flip": True}
    assert not project.dirty


def test_a_saved_photo_project_opens_with_its_own_augmentation(qtbot, photos):
    project = Project()
    project.set_dataset(PHOTO_CHOICE, photos)
    project.set_train_settings({"epochs": 2, "augmentation": {"crop": 2, "thickness": 1}})
    context = AppContext()
    context.project = project
    view = make_view(qtbot, context)
    assert view.settings().augmentation == {"crop": 2, "thickness": 1}
    assert not view.editor("thickness").isEnabled()  # kept, but not used on photos
    assert view.settings().augmentation_object(3) == Augmentation(crop=2)
