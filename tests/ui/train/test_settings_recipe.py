"""The Train view's recipe settings: weight decay, label smoothing, Nesterov momentum and
the one-cycle schedule in the form, in TrainSettings and in the run's TrainConfig, and
the photos' recipe (the command line's ``--preset photo`` defaults) for colour data."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QWidget

from cnnstudio.engine.optimizers import SGD
from cnnstudio.model.recipes import PHOTO_RECIPE
from cnnstudio.ui.train.qt_settings_form import QtSettingsForm
from cnnstudio.ui.train.train_settings import SETTING_SPECS, TrainSettings


def test_the_recipe_settings_reach_the_training_job():
    settings = TrainSettings(
        optimizer="sgd",
        lr=0.2,
        nesterov=True,
        weight_decay=5e-4,
        label_smoothing=0.2,
        schedule="onecycle",
    )
    config = TrainSettings.from_dict(settings.to_dict()).train_config()  # as a project keeps it
    assert (config.optimizer, config.lr, config.schedule) == ("sgd", 0.2, "onecycle")
    assert config.nesterov is True
    assert config.weight_decay == 5e-4
    assert config.label_smoothing == 0.2
    optimizer = config.make_optimizer()
    assert isinstance(optimizer, SGD)
    assert optimizer.nesterov and optimizer.weight_decay == 5e-4


def test_nesterov_is_left_out_for_another_optimizer():
    config = TrainSettings(optimizer="adam", nesterov=True, weight_decay=1e-4).train_config()
    assert config.nesterov is False and config.weight_decay == 1e-4


def test_colour_data_gets_the_command_lines_photo_recipe():
    photo = TrainSettings().with_data_defaults(3, PHOTO_RECIPE)
    config = photo.train_config()
    for name in ("optimizer", "lr", "momentum", "nesterov", "weight_decay", "schedule"):
        assert getattr(config, name) == PHOTO_RECIPE[name], name
    assert config.label_smoothing == PHOTO_RECIPE["label_smoothing"]
    assert config.epochs == PHOTO_RECIPE["epochs"]
    assert config.batch_size == PHOTO_RECIPE["batch_size"]
    assert photo.normalize is PHOTO_RECIPE["normalize"]
    assert photo.augmentation == {"crop": 4, "flip": True}
    # both cores and a small validation share, as on the command line; back to the
    # digits' defaults for grey data
    assert (config.processes, photo.val_split) == (2, PHOTO_RECIPE["val_split"])
    grey = photo.with_data_defaults(1, PHOTO_RECIPE)
    assert (grey.processes, grey.val_split) == (1, 0.1)
    # Back to digits: the recipe's values go, the digits' defaults come back.
    assert TrainSettings().with_data_defaults(1) == photo.with_data_defaults(1, PHOTO_RECIPE)


def test_settings_the_user_changed_stay_when_the_data_changes_kind():
    mine = TrainSettings(epochs=3, weight_decay=1e-3).with_data_defaults(3, PHOTO_RECIPE)
    assert (mine.epochs, mine.weight_decay) == (3, 1e-3)
    assert mine.schedule == "onecycle"  # untouched ones follow the recipe
    tuned = TrainSettings().with_data_defaults(3, PHOTO_RECIPE)
    tuned.label_smoothing = 0.1
    back = tuned.with_data_defaults(1, PHOTO_RECIPE)
    assert back.label_smoothing == 0.1 and back.optimizer == "adam"


def test_the_recipe_settings_survive_the_form_round_trip():
    settings = TrainSettings(nesterov=True, weight_decay=5e-4, label_smoothing=0.2)
    assert TrainSettings.from_flat(settings.flat()) == settings


@pytest.fixture
def form(qtbot):
    host = QWidget()
    form = QtSettingsForm([s for s in SETTING_SPECS if s.group == "optimizer"], host)
    qtbot.addWidget(host)
    yield form  # while ``host`` lives


def test_the_form_shows_and_edits_the_recipe_settings(form, qtbot):
    form.set_values(TrainSettings().with_data_defaults(3, PHOTO_RECIPE).flat())
    decay = form.editor("weight_decay")
    assert isinstance(decay, QDoubleSpinBox) and decay.text() == "0.0005"
    smoothing = form.editor("label_smoothing")
    assert isinstance(smoothing, QDoubleSpinBox) and smoothing.value() == pytest.approx(0.2)
    nesterov = form.editor("nesterov")
    assert isinstance(nesterov, QCheckBox) and nesterov.isChecked() and nesterov.isEnabled()
    schedule = form.editor("schedule")
    assert isinstance(schedule, QComboBox) and schedule.currentText() == "One-cycle"
    with qtbot.waitSignal(form.changed) as edited:
        decay.setValue(0.001)
    assert edited.args == ["weight_decay", 0.001]
    form.set_values({"optimizer": "adam"})
    assert not nesterov.isEnabled()  # Nesterov is SGD's
