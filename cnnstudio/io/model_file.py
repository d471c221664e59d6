"""``*.cnnmodel`` files: a trained network with everything needed to use it elsewhere.

A model file is a zip archive with three members (docs/file-formats.md):

``architecture.json``
    The architecture dict (the engine's format).
``weights.npz``
    ``numpy.savez`` of float32 arrays keyed ``"<node>.<name>"``; never pickled.
``meta.json``
    ``format``, ``version``, ``app_version``, ``class_names``, ``input_shape``,
    ``preprocessing`` and ``training_summary``.

``load_model`` needs no Qt and checks everything it reads; any problem is a
``ModelFileError`` that names the file and says what is wrong.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cnnstudio import __version__
from cnnstudio.engine.metrics import n_classes_of
from cnnstudio.fileio import JsonError
from cnnstudio.io import _validate as v
from cnnstudio.io.errors import ModelFileError
from cnnstudio.io.zipfmt import (
    DEFAULT_LIMITS,
    Limits,
    ZipReader,
    json_bytes,
    npz_bytes,
    write_zip_atomic,
)

__all__ = [
    "MODEL_FORMAT",
    "MODEL_SUFFIX",
    "MODEL_VERSION",
    "TrainedModel",
    "load_model",
    "save_model",
]

MODEL_FORMAT = "cnnstudio-model"
#: The newest model format this CNN Studio writes and reads.
MODEL_VERSION = 1
MODEL_SUFFIX = ".cnnmodel"
_KIND = "CNN Studio model file (.cnnmodel)"


def _default_preprocessing(input_shape: tuple[int, ...]) -> dict[str, Any]:
    # MNIST-style digit preprocessing only makes sense for grayscale images.
    return {"normalization": None, "digit": len(input_shape) == 3 and input_shape[0] == 1}


@dataclass(eq=False)
class TrainedModel:
    """A trained model: architecture, weights and what is needed to feed it.

    The one model concept: what a run keeps (and, while it trains, the session's
    ``live_model``), what a model or project file holds, and what the views ask for
    probabilities (`predict_proba`) and feature maps (`activations`).

    Attributes
    ----------
    architecture : dict
        The architecture dict (docs/file-formats.md), canvas positions included.
    weights : dict[str, numpy.ndarray]
        float32 arrays keyed ``"<node>.<name>"`` (``Network.get_weights()``).
    class_names : list[str]
        One name per output class (2 for a sigmoid network).
    input_shape : tuple[int, ...]
        ``(C, H, W)`` per sample.
    preprocessing : dict
        ``{"normalization": Normalization.to_dict() or None, "digit": bool}``: how raw
        images become network input. ``digit`` means MNIST-style preprocessing of
        drawings and photos (``cnnstudio.data.preprocess_digit``).
    training_summary : dict
        Free-form JSON: epochs, accuracy, dataset, date...
    format_version : int
        The model format version the model was read from (or will be written as).
    app_version : str
        The CNN Studio version that wrote it.
    """

    architecture: dict[str, Any]
    weights: dict[str, np.ndarray]
    class_names: list[str]
    input_shape: tuple[int, ...]
    preprocessing: dict[str, Any] = field(default_factory=dict)
    training_summary: dict[str, Any] = field(default_factory=dict)
    format_version: int = MODEL_VERSION
    app_version: str = __version__
    _network: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(d) for d in self.input_shape)
        if not self.preprocessing:
            self.preprocessing = _default_preprocessing(self.input_shape)

    @classmethod
    def from_network(
        cls,
        network: Any,
        class_names: list[str] | None = None,
        *,
        normalization: Any = None,
        digit: bool | None = None,
        training_summary: dict[str, Any] | None = None,
    ) -> TrainedModel:
        """A model holding a copy of ``network``'s architecture and weights.

        Parameters
        ----------
        network : cnnstudio.engine.Network
        class_names
            Defaults to ``"0"``, ``"1"``, ... for each output class.
        normalization : cnnstudio.data.Normalization or dict, optional
            The normalisation used in training.
        digit
            Whether drawings/photos get MNIST-style preprocessing (default: for
            1-channel inputs).
        training_summary
            Free-form JSON-able dict.
        """
        n = n_classes_of(network)
        names = [str(i) for i in range(n)] if class_names is None else [str(c) for c in class_names]
        shape = tuple(int(d) for d in network.input_shape)
        prep = _default_preprocessing(shape)
        if normalization is not None:
            prep["normalization"] = (
                normalization if isinstance(normalization, dict) else normalization.to_dict()
            )
        if digit is not None:
            prep["digit"] = bool(digit)
        return cls(
            architecture=network.to_architecture(),
            weights=network.get_weights(),
            class_names=names,
            input_shape=shape,
            preprocessing=prep,
            training_summary=dict(training_summary or {}),
        )

    # -- using the model ---------------------------------------------------------------
    def network(self) -> Any:
        """The engine ``Network`` with these weights (built once, then shared).

        Raises
        ------
        ModelFileError
            If the architecture and weights do not fit together.
        """
        if self._network is None:
            self._network = _checked_network(self, "<model>")
        return self._network

    @property
    def normalization(self) -> Any:
        """The ``cnnstudio.data.Normalization`` applied before the network."""
        from cnnstudio.data.normalize import Normalization

        d = self.preprocessing.get("normalization")
        return Normalization() if d is None else Normalization.from_dict(d)

    @property
    def digit_preprocessing(self) -> bool:
        """True when images get MNIST-style preprocessing (crop, fit 20x20, centre of mass)."""
        d = self.preprocessing.get("digit")
        return bool(d) if d is not None else _default_preprocessing(self.input_shape)["digit"]

    def prepare(self, images: Any) -> np.ndarray:
        """Network input from images in [0, 1] (or uint8), ``(N, C, H, W)`` or one ``(C, H, W)``.

        Applies the stored normalisation; returns float32 ``(N, C, H, W)``.
        """
        x = self.normalization.apply(np.asarray(images))
        if x.ndim == len(self.input_shape):
            x = x[None]
        return x

    def predict_proba(self, images: Any) -> np.ndarray:
        """Class probabilities ``(N, K)`` for images in [0, 1] (see `prepare`)."""
        return self.network().predict_proba(self.prepare(images))

    def activations(self, images: Any) -> dict[str, np.ndarray]:
        """Every layer's output for images in [0, 1] (see `prepare`), keyed by node id."""
        return self.network().activations(self.prepare(images))

    def load_image(self, path: str | os.PathLike[str]) -> np.ndarray:
        """An image file as this model's input ``(C, H, W)`` in [0, 1], before normalisation.

        Uses MNIST-style preprocessing when ``digit_preprocessing`` is set, else
        resizes the centre crop with the input's proportions (as Draw & Predict does); a
        grayscale picture gives an RGB model three equal channels.

        Raises
        ------
        cnnstudio.data.DatasetError
            For a missing or unreadable image (naming it), or a model whose input
            is not an image.
        """
        from cnnstudio.data.errors import DatasetError
        from cnnstudio.data.preprocess import load_image_for_prediction

        if len(self.input_shape) != 3 or self.input_shape[0] not in (1, 3):
            shape = "x".join(map(str, self.input_shape))
            raise DatasetError(
                f"this model's input is {shape}, not a grayscale or RGB image; "
                "it cannot classify image files"
            )
        mode = "digit" if self.digit_preprocessing else "resize"
        return load_image_for_prediction(path, self.input_shape, mode=mode)  # type: ignore[arg-type]

    # -- persistence -----------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        """The ``meta.json`` contents."""
        return {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "app_version": __version__,
            "saved": datetime.now(UTC).isoformat(timespec="seconds"),
            "class_names": list(self.class_names),
            "input_shape": list(self.input_shape),
            "preprocessing": self.preprocessing,
            "training_summary": self.training_summary,
        }


def _checked_network(model: TrainedModel, path: v.PathLike, prefix: str = "") -> Any:
    """Build the model's network, check weights, class names and input shape; set weights."""
    net = v.build_network(path, model.architecture, f"{prefix}architecture")
    weights = v.check_weights(path, net, model.weights, f"{prefix}weights")
    net.set_weights(weights)
    n = n_classes_of(net)
    if len(model.class_names) != n:
        raise ModelFileError(
            path,
            f"{prefix}class names do not fit the architecture: {len(model.class_names)} "
            f"names for {n} output classes",
        )
    if tuple(model.input_shape) != tuple(net.input_shape):
        raise ModelFileError(
            path,
            f"{prefix}input shape {list(model.input_shape)} differs from the architecture's "
            f"Input {list(net.input_shape)}",
        )
    return net


def model_members(model: TrainedModel, path: v.PathLike) -> list[tuple[str, bytes]]:
    """The zip members of ``model`` after checking it (so we never write what we cannot read)."""
    v.check_class_names(path, model.class_names, "class names")
    v.check_preprocessing(path, model.preprocessing, "preprocessing")
    v.check_object(path, model.training_summary, "training summary")
    check_text_names(path, model.class_names, "class name")
    _checked_network(model, path)
    weights = {k: np.ascontiguousarray(a, dtype=np.float32) for k, a in model.weights.items()}
    return [
        ("meta.json", saved_json(path, model.meta(), "the model's metadata")),
        ("architecture.json", saved_json(path, model.architecture, "the architecture")),
        ("weights.npz", npz_bytes(weights)),
    ]


def check_text_names(path: v.PathLike, names: Any, what: str) -> None:
    """Refuse to save names that are not valid Unicode text.

    A folder whose name has bytes that are not UTF-8 becomes, through ``os.fsdecode``,
    a class name with lone surrogates that no file format can hold.
    """
    for name in names if isinstance(names, list | tuple) else ():
        if isinstance(name, str):
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                raise ModelFileError(
                    path,
                    f"cannot be saved: the {what} {name!r} is not valid UTF-8 text (it comes "
                    "from a file or folder name with undecodable bytes); rename it and try again",
                ) from None


def saved_json(path: v.PathLike, obj: Any, what: str) -> bytes:
    """``obj`` as the JSON of a member; ``ModelFileError`` naming ``path`` if it cannot be."""
    try:
        return json_bytes(obj)
    except JsonError as exc:
        raise ModelFileError(path, f"cannot be saved: {what} is {exc.reason}") from None


def save_model(path: str | os.PathLike[str], model: TrainedModel) -> Path:
    """Write ``model`` to ``path`` atomically (a crash mid-save keeps the old file).

    Returns the path written. The ``.cnnmodel`` suffix is not added; callers (file
    dialogs, the command line) choose the name.

    Raises
    ------
    ModelFileError
        If the model is inconsistent (weights that do not fit the architecture...)
        or the file cannot be written.
    """
    path = Path(path)
    write_zip_atomic(path, model_members(model, path), _KIND)
    return path


def load_model(path: str | os.PathLike[str], *, limits: Limits = DEFAULT_LIMITS) -> TrainedModel:
    """Read and check a ``*.cnnmodel`` file.

    Everything is validated: the zip, the members, the JSON, the format version,
    the architecture (built with the engine), every weight's key, shape and dtype,
    the class names and the preprocessing. Nothing is unpickled.

    Raises
    ------
    ModelFileError
        Naming the file and the problem, whatever is wrong.
    """
    path = Path(path)
    with ZipReader(path, _KIND, limits) as z:
        if z.has("project.json") and not z.has("meta.json"):
            raise ModelFileError(
                path, "is a CNN Studio project (.cnnstudio), not a model file; open it as a project"
            )
        z.require("meta.json", "architecture.json", "weights.npz")
        meta = z.read_json("meta.json")
        version = v.check_format(path, meta, "meta.json", MODEL_FORMAT, MODEL_VERSION, _KIND)
        arch = z.read_json("architecture.json")
        v.check_architecture(path, arch, "architecture.json")
        weights = z.read_npz("weights.npz", limits.weights_bytes)
    v.precheck_sizes(path, arch, weights, "weights.npz")
    model = model_from_meta(path, meta, arch, weights, "meta.json", version)
    model._network = _checked_network(model, path)
    # The checked float32 copies, so callers see exactly what the network holds.
    model.weights = model._network.get_weights()
    return model


def model_from_meta(
    path: Path,
    meta: dict[str, Any],
    arch: dict[str, Any],
    weights: dict[str, np.ndarray],
    where: str,
    version: int = MODEL_VERSION,
) -> TrainedModel:
    """A `TrainedModel` from parsed metadata (shared with project files); checks the fields."""
    names = v.check_class_names(path, meta.get("class_names"), f"{where} class_names")
    shape = v.check_input_shape(path, meta.get("input_shape"), f"{where} input_shape")
    prep = v.check_preprocessing(path, meta.get("preprocessing"), f"{where} preprocessing")
    summary = v.check_object(path, meta.get("training_summary"), f"{where} training_summary")
    app_version = meta.get("app_version")
    return TrainedModel(
        architecture=arch,
        weights=weights,
        class_names=names,
        input_shape=shape,
        preprocessing=prep,
        training_summary=summary,
        format_version=version,
        app_version=app_version if isinstance(app_version, str) else "unknown",
    )
