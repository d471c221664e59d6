"""The Train view's settings without widgets: their values, their form, what they make.

``TrainSettings`` is what ``project.train_settings`` stores; ``SETTING_SPECS``
declares each setting once (its kind, limits, label, help and where the form shows
it), and the form (``qt_settings_form.py``) is generated from it. Also here: the
engine's ``TrainConfig`` and the data layer's transforms for a run, and whether
the project's graph can be trained. Kept apart from the widgets so all of it can be
tested without a window.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from cnnstudio.data.augment import (
    CHANNEL_RULES,
    Augmentation,
    default_augmentation,
    make_transform,
)
from cnnstudio.data.normalize import Normalization
from cnnstudio.engine.training import TrainConfig
from cnnstudio.model.registry import ParamSpec

__all__ = [
    "AUGMENTATIONS",
    "DEFAULT_SETTINGS",
    "RECIPE_FIELDS",
    "SETTING_SPECS",
    "GraphState",
    "SettingSpec",
    "TrainSettings",
    "graph_state",
    "preprocessing_dict",
    "transforms_for",
]


@dataclass(frozen=True)
class SettingSpec:
    """One setting in the Train view's form: what it is (``param``) and how it shows.

    ``param.name`` is the setting's key in :meth:`TrainSettings.flat`. ``group`` is
    the box it sits in (``"data"``, ``"optimizer"``, ``"augmentation"``); settings with
    the same ``row`` share one line of the form under that label. The widget shows the
    value (a float) times ``scale`` with ``decimals`` decimals (None: from the limits), between
    ``prefix`` and ``suffix``. ``while_training``: editable while a run is going
    (the others are fixed for the run). ``enabled_when`` is ``(other setting, value)``: editable
    only while the other setting has that value; the other may also be a fact about the
    data that the form is told (``QtSettingsForm.set_context``: ``"channels"``), and
    ``disabled_note`` says why it is off then. ``min_cores``: only on a computer with at
    least that many processor cores.
    """

    param: ParamSpec
    group: str
    row: str = ""
    scale: float = 1.0
    decimals: int | None = None
    prefix: str = ""
    suffix: str = ""
    adaptive_step: bool = False
    while_training: bool = False
    enabled_when: tuple[str, Any] | None = None
    disabled_note: str = ""
    min_cores: int = 1

    @property
    def name(self) -> str:
        return self.param.name


#: The augmentation settings, in ``TrainSettings.augmentation`` (0 or false means off):
#: the digits' first, then the photos'.
AUGMENTATIONS = (
    "shift",
    "rotation",
    "scale",
    "noise",
    "thickness",
    "crop",
    "flip",
    "brightness",
    "contrast",
    "saturation",
    "cutout",
)
_AUGMENTATION_OFF = Augmentation().to_dict()


def _stored(aug: Augmentation) -> dict[str, Any]:
    """An augmentation as ``TrainSettings.augmentation`` keeps it: only what is on."""
    return {k: v for k, v in aug.to_dict().items() if v}


@dataclass
class TrainSettings:
    """The Train view's settings, stored in ``project.train_settings`` as a plain dict."""

    optimizer: str = "adam"
    # Adam at 3e-3 with a cosine decay takes LeNet-5 past 95% on the sample in 5 epochs.
    lr: float = 3e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    schedule: str = "cosine"
    step_size: int = 2
    gamma: float = 0.5
    batch_size: int = 64
    epochs: int = 5
    seed: int = 0
    val_split: float = 0.1
    augmentation: dict[str, Any] = field(default_factory=dict)
    normalize: bool = False
    # Processes sharing each batch (TrainConfig.processes, engine.parallel.DataParallel);
    # 1 keeps the second core free for the window while the GUI runs.
    processes: int = 1
    # The readable engine tier (engine/reference/): slower, but every step can be
    # followed in a debugger.
    readable_engine: bool = False

    def flat(self) -> dict[str, Any]:
        """One value per form setting (``SETTING_SPECS``): the augmentations unpacked,
        ``processes`` as a bool (use two)."""
        out = self.to_dict()
        aug = out.pop("augmentation")
        out.update({k: aug.get(k, _AUGMENTATION_OFF[k]) for k in AUGMENTATIONS})
        out["processes"] = self.processes > 1
        return out

    @classmethod
    def from_flat(cls, values: dict[str, Any]) -> TrainSettings:
        """The settings of a filled-in form (see :meth:`flat`)."""
        data = dict(values)
        aug = {k: data.pop(k) for k in AUGMENTATIONS if k in data}
        data["augmentation"] = {k: v for k, v in aug.items() if v}
        data["processes"] = 2 if data.get("processes") else 1
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TrainSettings:
        """Settings from a project; unknown or malformed entries fall back to defaults."""
        out = cls()
        if not isinstance(data, dict):
            return out
        for key, default in cls().to_dict().items():
            value = data.get(key, default)
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, float):
                ok = isinstance(value, int | float) and not isinstance(value, bool)
            else:
                ok = isinstance(value, type(default)) and not isinstance(value, bool)
            if ok:
                setattr(out, key, float(value) if isinstance(default, float) else value)
        return out

    def train_config(
        self, *, threads: int | None = 1, snapshot_interval: float = 0.2
    ) -> TrainConfig:
        """The engine's config for these settings (raises ``EngineError`` when out of range)."""
        return TrainConfig(
            epochs=int(self.epochs),
            batch_size=int(self.batch_size),
            optimizer=self.optimizer,
            lr=float(self.lr),
            momentum=float(self.momentum),
            # Nesterov belongs to SGD: another optimizer keeps its own update rule.
            nesterov=bool(self.nesterov) and self.optimizer == "sgd",
            weight_decay=float(self.weight_decay),
            label_smoothing=float(self.label_smoothing),
            schedule=self.schedule,
            step_size=int(self.step_size),
            gamma=float(self.gamma),
            seed=int(self.seed),
            snapshot_interval=snapshot_interval,
            threads=threads,
            processes=max(1, min(int(self.processes), 64)),
            kernels="reference" if self.readable_engine else "fast",
        )

    def augmentation_object(self, channels: int | None = None) -> Augmentation:
        """The augmentation; for ``channels``-channel data without the settings that do
        not apply to it (stroke thickness on photos, saturation on grey images)."""
        aug = Augmentation.from_dict(self.augmentation or {})
        return aug if channels is None else aug.for_channels(channels)

    def with_data_defaults(
        self, channels: int, photo_recipe: Mapping[str, Any] | None = None
    ) -> TrainSettings:
        """These settings with the augmentation that suits ``channels``-channel data:
        none for grey digits, a 4-pixel crop and left-right flips for colour photos
        (``data.augment.default_augmentation``).

        ``photo_recipe`` is the photos' training recipe in the command line's words (a
        table of ``cnnstudio.model.recipes.PRESET_RECIPES``: ``optimizer``, ``lr``,
        ``nesterov``, ``weight_decay``, ``schedule``, ...; other keys are ignored). For
        colour photos, each of its settings still at the app's default takes the
        recipe's value; for grey images, each still at the recipe's value goes back to
        the default. A setting the user changed stays as it is either way.
        """
        out = replace(self, augmentation=_stored(default_augmentation(channels)))
        recipe = {k: v for k, v in (photo_recipe or {}).items() if k in RECIPE_FIELDS}
        default = DEFAULT_SETTINGS.to_dict()
        current = out.to_dict()
        for name, value in recipe.items():
            was, now = (default[name], value) if channels == 3 else (value, default[name])
            if current[name] == was:
                current[name] = now
        return TrainSettings.from_dict(current)


DEFAULT_SETTINGS = TrainSettings()
#: The settings a training recipe (``TrainSettings.with_data_defaults``) may set.
RECIPE_FIELDS = (
    "epochs",
    "batch_size",
    "optimizer",
    "lr",
    "momentum",
    "nesterov",
    "weight_decay",
    "schedule",
    "label_smoothing",
    "normalize",
    "val_split",
    "processes",
)


def _spec(group: str, name: str, label: str, kind: Any, **kw: Any) -> SettingSpec:
    shown = {k: kw.pop(k) for k in list(kw) if k in SettingSpec.__dataclass_fields__}
    default = DEFAULT_SETTINGS.flat()[name]
    return SettingSpec(ParamSpec(name, label, kind, default, **kw), group, **shown)


def _only_for(name: str) -> dict[str, Any]:
    """``enabled_when`` and ``disabled_note`` of an augmentation for one kind of image."""
    channels, why = CHANNEL_RULES[name]
    return {"enabled_when": ("channels", channels), "disabled_note": f"{why}."}


#: Every setting of the Train view, in the order the form shows them.
SETTING_SPECS: tuple[SettingSpec, ...] = (
    _spec(
        "data",
        "val_split",
        "Validation",
        "float",
        min=0.0,
        max=0.5,
        step=0.01,
        scale=100.0,
        decimals=0,
        suffix=" %",
        help="Share of the training data held back to validate each epoch",
    ),
    _spec(
        "optimizer",
        "optimizer",
        "Optimizer",
        "choice",
        choices=("sgd", "adam", "rmsprop"),
        choice_labels=("SGD with momentum", "Adam", "RMSprop"),
    ),
    _spec(
        "optimizer",
        "lr",
        "Learning rate",
        "float",
        min=1e-5,
        max=1000.0,
        adaptive_step=True,
        while_training=True,
        help="Learning rate; can be changed while training",
    ),
    _spec(
        "optimizer",
        "momentum",
        "Momentum",
        "float",
        min=0.0,
        max=0.99,
        step=0.05,
        enabled_when=("optimizer", "sgd"),
    ),
    _spec(
        "optimizer",
        "nesterov",
        "Nesterov momentum",
        "bool",
        enabled_when=("optimizer", "sgd"),
        help="SGD: take the momentum step first and compute the gradient there",
    ),
    _spec(
        "optimizer",
        "weight_decay",
        "Weight decay",
        "float",
        min=0.0,
        max=0.1,
        step=1e-4,
        adaptive_step=True,
        help=(
            "Pull every weight towards 0 by this share of it each step (L2 regularisation;\n"
            "photos: 5e-4)"
        ),
    ),
    _spec(
        "optimizer",
        "label_smoothing",
        "Label smoothing",
        "float",
        min=0.0,
        max=0.9,
        step=0.05,
        help=(
            "Aim at this share less than certainty for the true class, spread over the others:\n"
            "less over-confident networks (photos: 0.2)"
        ),
    ),
    _spec(
        "optimizer",
        "schedule",
        "Schedule",
        "choice",
        choices=("constant", "step", "cosine", "onecycle"),
        choice_labels=("Constant", "Step decay", "Cosine", "One-cycle"),
        help=(
            "Constant; step decay (× factor every N epochs); cosine annealing to 0;\n"
            "one-cycle: up from rate/25 to the rate over the first quarter, then down to 0"
        ),
    ),
    _spec(
        "optimizer",
        "step_size",
        "Decay",
        "int",
        min=1,
        max=1000,
        row="Decay",
        prefix="every ",
        suffix=" ep.",
        enabled_when=("schedule", "step"),
        help="Step decay: multiply the rate by this factor every N epochs",
    ),
    _spec(
        "optimizer",
        "gamma",
        "Decay factor",
        "float",
        min=0.01,
        max=0.99,
        step=0.05,
        row="Decay",
        prefix="× ",
        enabled_when=("schedule", "step"),
        help="Step decay: multiply the rate by this factor every N epochs",
    ),
    _spec("optimizer", "batch_size", "Batch size", "int", min=1, max=4096),
    _spec("optimizer", "epochs", "Epochs", "int", min=1, max=1000),
    _spec("optimizer", "seed", "Seed", "int", min=0, max=2**31 - 1),
    _spec("optimizer", "normalize", "Standardise inputs (mean/std)", "bool"),
    _spec(
        "optimizer",
        "processes",
        "Use 2 processor cores",
        "bool",
        min_cores=2,
        help=(
            "Split every batch between two cores: up to ~1.8x faster on an otherwise idle\n"
            "computer. A helper process takes half of each batch (it starts with each run,\n"
            "about half a second); for networks with BatchNorm, a second thread of this\n"
            "program does, so the batch statistics stay the whole batch's. Networks with\n"
            "Dropout, and batches under 16, train on one core."
        ),
    ),
    _spec(
        "optimizer",
        "readable_engine",
        "Readable engine (slower)",
        "bool",
        help=(
            "Train on the engine's readable tier (cnnstudio/engine/reference/): plain\n"
            "NumPy im2col, two matrix products and col2im per convolution, several times\n"
            "slower than the fast tier, with the same numbers up to rounding. Use it to\n"
            "step through a training step in a debugger. Trains on one core."
        ),
    ),
    _spec(
        "augmentation",
        "shift",
        "Shift",
        "int",
        min=0,
        max=8,
        suffix=" px",
        help="Move each image by up to this many pixels each way; black comes in",
    ),
    _spec(
        "augmentation",
        "rotation",
        "Rotation",
        "float",
        min=0.0,
        max=180.0,
        step=1.0,
        decimals=0,
        suffix="°",
    ),
    _spec("augmentation", "scale", "Scale ±", "float", min=0.0, max=0.5, step=0.05),
    _spec(
        "augmentation",
        "noise",
        "Noise",
        "float",
        min=0.0,
        max=1.0,
        step=0.05,
        help="Standard deviation of random noise added to every pixel (0 to 1 scale)",
    ),
    _spec(
        "augmentation",
        "thickness",
        "Thickness ±",
        "int",
        min=0,
        max=3,
        help="Make pen strokes up to this many pixels thicker or thinner",
        **_only_for("thickness"),
    ),
    _spec(
        "augmentation",
        "crop",
        "Crop, padding",
        "int",
        min=0,
        max=16,
        suffix=" px",
        help=(
            "Random crop: pad each image by this many pixels, mirroring its edges, and\n"
            "cut an image-sized window at a random place (photos: 4)"
        ),
    ),
    _spec(
        "augmentation",
        "flip",
        "Flip left-right",
        "bool",
        help="Mirror half of the images left-right (photos: on; digits: off, a mirrored 3 is no 3)",
    ),
    _spec(
        "augmentation",
        "brightness",
        "Brightness ±",
        "float",
        min=0.0,
        max=1.0,
        step=0.05,
        help="Multiply each image by a factor from 1 - this to 1 + this",
    ),
    _spec(
        "augmentation",
        "contrast",
        "Contrast ±",
        "float",
        min=0.0,
        max=1.0,
        step=0.05,
        help="Scale each image about its mean grey by a factor from 1 - this to 1 + this",
    ),
    _spec(
        "augmentation",
        "saturation",
        "Saturation ±",
        "float",
        min=0.0,
        max=1.0,
        step=0.05,
        help="Mix each pixel with its own grey: factor 0 is grey, 2 twice as colourful",
        **_only_for("saturation"),
    ),
    _spec(
        "augmentation",
        "cutout",
        "Cutout",
        "int",
        min=0,
        max=32,
        suffix=" px",
        help="Black out a square of this side at a random place in each image",
    ),
)


def transforms_for(
    settings: TrainSettings, train_images: np.ndarray
) -> tuple[Any, Any, Normalization]:
    """(training transform, validation transform, normalisation) for ``settings``."""
    norm = Normalization.fit(train_images) if settings.normalize else Normalization()
    aug = settings.augmentation_object(train_images.shape[1])
    return make_transform(norm, aug), make_transform(norm), norm


@dataclass(frozen=True)
class GraphState:
    """Whether the project's graph can be trained: the architecture, or why not."""

    architecture: dict[str, Any] | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.architecture is not None and self.problem is None


def graph_state(graph: Any, num_classes: int | None = None) -> GraphState:
    """The architecture dict of the project's graph, or the first problem in words.

    Uses the model layer's shape inference (``graph.inference.reason`` is the "why is
    Train disabled") and its compiler for the architecture. A plain architecture dict
    is accepted too.
    """
    if graph is None:
        return GraphState(None, "There is no network yet; build one in the Build view.")
    if isinstance(graph, dict):
        return GraphState(graph, None)
    info = getattr(graph, "inference", None)
    if info is not None and not info.is_valid:
        return GraphState(None, info.reason or "The network is not valid.")
    from cnnstudio.model.architecture import graph_to_architecture

    try:
        return GraphState(graph_to_architecture(graph), None)
    except ValueError as exc:
        return GraphState(None, str(exc))


def preprocessing_dict(norm: Normalization, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """The trained model's ``preprocessing`` for a run normalised with ``norm``."""
    return {
        "normalization": None if norm.is_plain else norm.to_dict(),
        "digit": len(input_shape) == 3 and input_shape[0] == 1,
    }
