"""What the Train and Inspect views need from the model, data and io layers (no widgets).

Kept apart from the widgets so the translation between the user's settings and the
engine's ``TrainConfig`` / the data layer's transforms can be tested without a window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnnstudio.data.augment import Augmentation, make_transform
from cnnstudio.data.normalize import Normalization
from cnnstudio.engine.training import TrainConfig

__all__ = [
    "DEFAULT_SETTINGS",
    "GraphState",
    "TrainSettings",
    "graph_state",
    "preprocessing_dict",
    "transforms_for",
]


@dataclass
class TrainSettings:
    """The Train view's settings, stored in ``project.train_settings`` as a plain dict."""

    optimizer: str = "adam"
    # Adam at 3e-3 with a cosine decay takes LeNet-5 past 95% on the sample in 5 epochs.
    lr: float = 3e-3
    momentum: float = 0.9
    schedule: str = "cosine"
    step_size: int = 2
    gamma: float = 0.5
    batch_size: int = 64
    epochs: int = 5
    seed: int = 0
    val_split: float = 0.1
    augmentation: dict[str, Any] = field(default_factory=dict)
    normalize: bool = False
    # Processes sharing each batch (engine Network.set_processes); 1 keeps the second
    # core free for the window, as DESIGN.md advises while the GUI runs.
    processes: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer,
            "lr": self.lr,
            "momentum": self.momentum,
            "schedule": self.schedule,
            "step_size": self.step_size,
            "gamma": self.gamma,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "seed": self.seed,
            "val_split": self.val_split,
            "augmentation": dict(self.augmentation),
            "normalize": self.normalize,
            "processes": self.processes,
        }

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
            schedule=self.schedule,
            step_size=int(self.step_size),
            gamma=float(self.gamma),
            seed=int(self.seed),
            snapshot_interval=snapshot_interval,
            threads=threads,
            processes=max(1, min(int(self.processes), 64)),
        )

    def augmentation_object(self) -> Augmentation:
        return Augmentation.from_dict(self.augmentation or {})


DEFAULT_SETTINGS = TrainSettings()


def transforms_for(
    settings: TrainSettings, train_images: np.ndarray
) -> tuple[Any, Any, Normalization]:
    """(training transform, validation transform, normalisation) for ``settings``."""
    norm = Normalization.fit(train_images) if settings.normalize else Normalization()
    aug = settings.augmentation_object()
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
