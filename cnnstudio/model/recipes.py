"""The training settings that come with a preset (its recipe), in the command line's words.

Used where the user gave no setting of their own: by ``cnnstudio train --preset NAME``
(``commands.train``) and by the Train view when photos or a photo preset are chosen
(``ui.train.train_settings.TrainSettings.with_data_defaults``). A module of plain data,
so that the command line can read it without importing the model layer's heavier parts.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PHOTO_RECIPE", "PRESET_RECIPES"]

#: Photo ResNet's recipe: the fast CIFAR-10 recipe of the ResNet-9 / DAWNBench line at a
#: quarter of its width (one-cycle SGD with Nesterov momentum, label smoothing, weight
#: decay, per-channel normalisation; a 4-pixel crop and flips come with colour data).
#: 9 epochs: what the engine trains on CIFAR-10's 50,000 images in a little over 9
#: minutes on two cores, loading included (benchmarks/README.md, "The ten-minute photo
#: recipe").
#: ``lr``, ``momentum`` and ``nesterov`` belong to its optimizer: another optimizer keeps
#: its own. ``val_split``: a 2% validation set (1,000 of CIFAR-10's 50,000 images) shows
#: the curve without taking many images from training or much time from it.
#: ``processes``: both cores of a two-core machine (BatchNorm networks share each batch
#: between two threads, ``engine.threads``).
PHOTO_RECIPE: dict[str, Any] = {
    "data": "cifar10-sample",
    "epochs": 9,
    "batch_size": 256,
    "optimizer": "sgd",
    "lr": 0.2,
    "momentum": 0.9,
    "nesterov": True,
    "weight_decay": 5e-4,
    "schedule": "onecycle",
    "label_smoothing": 0.2,
    "normalize": True,
    "val_split": 0.02,
    "processes": 2,
}

#: Preset key -> its recipe.
PRESET_RECIPES: dict[str, dict[str, Any]] = {"resnet_photo": PHOTO_RECIPE}
