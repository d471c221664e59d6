"""``*.cnnstudio`` project files: the whole workspace, saved and reopened exactly.

A project file is a zip archive (docs/file-formats.md):

``project.json``
    ``format``, ``version``, ``app_version``, the architecture graph (with each
    node's canvas position under ``"ui"``), training settings, training history,
    dataset choice, class names, preprocessing, view state, and the metadata of the
    trained model and of the drawn samples when there are any.
``weights.npz``
    The trained model's float32 weights (only when the project has a trained model).
``samples.npz``
    The user's drawn samples: ``images`` uint8 (N, C, H, W) and ``labels`` int64
    indices into ``project.json``'s ``samples.class_names`` (only when there are any).

`ProjectData` is the plain-data form; the UI converts its live objects to and from it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cnnstudio import __version__
from cnnstudio.io import _validate as v
from cnnstudio.io.errors import ModelFileError
from cnnstudio.io.model_file import (
    TrainedModel,
    _checked_network,
    check_text_names,
    model_from_meta,
    saved_json,
)
from cnnstudio.io.zipfmt import (
    DEFAULT_LIMITS,
    Limits,
    ZipReader,
    npz_bytes,
    write_zip_atomic,
)

__all__ = [
    "PROJECT_FORMAT",
    "PROJECT_SUFFIX",
    "PROJECT_VERSION",
    "ProjectData",
    "load_project",
    "save_project",
]

PROJECT_FORMAT = "cnnstudio-project"
#: The newest project format this CNN Studio writes and reads.
PROJECT_VERSION = 1
PROJECT_SUFFIX = ".cnnstudio"
_KIND = "CNN Studio project (.cnnstudio)"


@dataclass(eq=False)
class ProjectData:
    """Everything a project file holds, as plain data.

    Attributes
    ----------
    architecture : dict
        The graph being edited, in the architecture format, with canvas positions
        in each node's ``"ui"`` key. It need not compile (a half-built graph saves).
    training_settings : dict
        JSON-able settings (epochs, batch size, optimizer...).
    history : list[dict]
        Training runs, each a JSON object of curves as lists
        (``model.project.RunHistory.to_dict()``).
    dataset : dict
        The dataset choice (``DatasetChoice.to_dict()``).
    class_names : list[str]
        The dataset's class names.
    preprocessing : dict
        As in `TrainedModel.preprocessing`.
    trained : TrainedModel or None
        The trained model; it carries its own architecture (the graph may have been
        edited since training).
    samples : dict or None
        The drawn samples as ``SampleCollection.to_arrays()`` gives them:
        ``{"images": uint8 (N, C, H, W), "labels": str array (N,)}``; None when
        there are none.
    ui_state : dict
        Free-form JSON for the views (zoom, current view...).
    format_version : int
        The project format version read (or to write).
    app_version : str
        The CNN Studio version that wrote the file.
    """

    architecture: dict[str, Any]
    training_settings: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    dataset: dict[str, Any] = field(default_factory=dict)
    class_names: list[str] = field(default_factory=list)
    preprocessing: dict[str, Any] = field(default_factory=dict)
    trained: TrainedModel | None = None
    samples: dict[str, np.ndarray] | None = None
    ui_state: dict[str, Any] = field(default_factory=dict)
    format_version: int = PROJECT_VERSION
    app_version: str = __version__


def _check_samples(path: Path, images: Any, labels: Any, names: list[str]) -> None:
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ModelFileError(
            path,
            f"samples: images must be uint8 (N, C, H, W) with C = 1 or 3, "
            f"found {images.dtype} {tuple(images.shape)}",
        )
    if min(images.shape[2:]) < 1:
        raise ModelFileError(path, f"samples: images have no pixels ({tuple(images.shape)})")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ModelFileError(
            path,
            f"samples: {images.shape[0]} images but labels of shape {tuple(labels.shape)}",
        )
    if labels.dtype.kind == "i":
        if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
            raise ModelFileError(
                path,
                f"samples: a label is outside the {len(names)} sample class names",
            )
    elif labels.dtype.kind not in "US":
        raise ModelFileError(path, f"samples: labels must be class names, found {labels.dtype}")


def _samples_members(
    path: Path, samples: dict[str, np.ndarray] | None
) -> tuple[dict[str, Any] | None, bytes | None]:
    if samples is None:
        return None, None
    try:
        images = np.asarray(samples["images"])
        labels = np.asarray(samples["labels"])
    except (KeyError, TypeError):
        raise ModelFileError(
            path, "cannot be saved: samples must be a dict with 'images' and 'labels'"
        ) from None
    if images.shape[:1] == (0,):
        return None, None
    _check_samples(path, images, labels, [])
    text = [str(s) for s in labels.tolist()]
    names = sorted(set(text))
    index = {n: i for i, n in enumerate(names)}
    codes = np.array([index[t] for t in text], dtype=np.int64)
    data = npz_bytes({"images": np.ascontiguousarray(images), "labels": codes})
    if len(data) > DEFAULT_LIMITS.samples_bytes:
        # Never write what load_project would refuse.
        raise ModelFileError(
            path,
            f"cannot be saved: the {len(text):,} drawn samples take {len(data) >> 20} MB; "
            f"a project holds at most {DEFAULT_LIMITS.samples_bytes >> 20} MB of them; "
            "remove some samples and save again",
        )
    return {"count": int(images.shape[0]), "class_names": names}, data


def save_project(
    path: str | os.PathLike[str],
    project: ProjectData,
    *,
    extra_members: Sequence[tuple[str, bytes]] = (),
) -> Path:
    """Write ``project`` to ``path`` atomically (a crash mid-save keeps the old file).

    ``extra_members`` are further ``(name, bytes)`` zip members written in the same
    save (the autosave keeps its note there); loaders ignore members they do not know.

    Raises
    ------
    ModelFileError
        If the data is inconsistent (trained weights that do not fit their
        architecture, malformed samples...) or the file cannot be written.
    """
    path = Path(path)
    v.check_architecture(path, project.architecture, "architecture")
    v.check_class_names(path, list(project.class_names), "class names")
    check_text_names(path, list(project.class_names), "class name")
    v.check_preprocessing(path, project.preprocessing, "preprocessing")
    doc: dict[str, Any] = {
        "format": PROJECT_FORMAT,
        "version": PROJECT_VERSION,
        "app_version": __version__,
        "saved": datetime.now(UTC).isoformat(timespec="seconds"),
        "architecture": project.architecture,
        "training_settings": project.training_settings,
        "history": project.history,
        "dataset": project.dataset,
        "class_names": list(project.class_names),
        "preprocessing": project.preprocessing,
        "ui_state": project.ui_state,
        "trained": None,
        "samples": None,
    }
    members: list[tuple[str, bytes]] = []
    trained = project.trained
    if trained is not None:
        check_text_names(path, trained.class_names, "class name")
        _checked_network(trained, path, "trained model ")
        meta = trained.meta()
        doc["trained"] = {
            "architecture": trained.architecture,
            "class_names": meta["class_names"],
            "input_shape": meta["input_shape"],
            "preprocessing": meta["preprocessing"],
            "training_summary": meta["training_summary"],
        }
        weights = {k: np.ascontiguousarray(a, dtype=np.float32) for k, a in trained.weights.items()}
        members.append(("weights.npz", npz_bytes(weights)))
    info, samples_npz = _samples_members(path, project.samples)
    if samples_npz is not None:
        doc["samples"] = info
        members.append(("samples.npz", samples_npz))
    body = saved_json(path, doc, "the project")
    write_zip_atomic(path, [("project.json", body), *members, *extra_members], _KIND)
    return path


def load_project(path: str | os.PathLike[str], *, limits: Limits = DEFAULT_LIMITS) -> ProjectData:
    """Read and check a ``*.cnnstudio`` file.

    Raises
    ------
    ModelFileError
        Naming the file and the problem, whatever is wrong (damaged zip, missing
        member, trained weights that do not fit, a newer format...).
    """
    path = Path(path)
    with ZipReader(path, _KIND, limits) as z:
        if z.has("meta.json") and not z.has("project.json"):
            raise ModelFileError(
                path, "is a CNN Studio model file (.cnnmodel), not a project; open it as a model"
            )
        z.require("project.json")
        doc = z.read_json("project.json")
        version = v.check_format(path, doc, "project.json", PROJECT_FORMAT, PROJECT_VERSION, _KIND)
        trained_meta = doc.get("trained")
        samples_meta = doc.get("samples")
        if trained_meta is not None and not isinstance(trained_meta, dict):
            raise ModelFileError(path, "is damaged: the trained model entry must be an object")
        if samples_meta is not None and not isinstance(samples_meta, dict):
            raise ModelFileError(path, "is damaged: the samples entry must be an object")
        weights = (
            z.read_npz("weights.npz", limits.weights_bytes) if trained_meta is not None else None
        )
        samples_arrays = (
            z.read_npz("samples.npz", limits.samples_bytes) if samples_meta is not None else None
        )

    arch = v.check_architecture(path, doc.get("architecture"), "the project's graph")
    history = doc.get("history") or []
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise ModelFileError(path, "is damaged: the training history must be a list of runs")
    project = ProjectData(
        architecture=arch,
        training_settings=v.check_object(path, doc.get("training_settings"), "training settings"),
        history=history,
        dataset=v.check_object(path, doc.get("dataset"), "dataset choice"),
        class_names=v.check_class_names(path, doc.get("class_names") or [], "class names"),
        preprocessing=v.check_preprocessing(path, doc.get("preprocessing"), "preprocessing"),
        ui_state=v.check_object(path, doc.get("ui_state"), "view state"),
        format_version=version,
        app_version=str(doc.get("app_version", "unknown")),
    )
    if trained_meta is not None:
        t_arch = v.check_architecture(
            path, trained_meta.get("architecture"), "the trained model's architecture"
        )
        v.precheck_sizes(path, t_arch, weights or {}, "trained model weights")
        model = model_from_meta(path, trained_meta, t_arch, weights or {}, "trained model")
        model._network = _checked_network(model, path, "trained model ")
        model.weights = model._network.get_weights()
        project.trained = model
    if samples_meta is not None:
        project.samples = _load_samples(path, samples_meta, samples_arrays or {})
    return project


def _load_samples(path: Path, meta: Any, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = v.check_class_names(path, meta.get("class_names"), "samples class_names")
    for key in ("images", "labels"):
        if key not in arrays:
            raise ModelFileError(path, f"samples.npz is missing the {key!r} array")
    extra = sorted(set(arrays) - {"images", "labels"})
    if extra:
        raise ModelFileError(path, f"samples.npz holds unexpected arrays {', '.join(extra)}")
    images, labels = arrays["images"], arrays["labels"]
    if labels.dtype != np.int64:
        raise ModelFileError(path, f"samples.npz: labels must be int64, found {labels.dtype}")
    _check_samples(path, images, labels, names)
    text = np.array([names[i] for i in labels.tolist()], dtype=str)
    if text.size == 0:
        text = np.zeros(0, dtype="<U1")
    return {"images": images, "labels": text}
