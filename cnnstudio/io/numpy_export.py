"""Export a standalone NumPy predictor.

The NumPy predictor is a folder anyone can run with only NumPy and Pillow::

    predict.py    readable NumPy code, one small function per layer type
    model.json    the layers in running order with explicit padding, class names,
                  input shape and preprocessing
    weights.npz   the trained arrays, keyed "<node>.<name>" as in CNN Studio

``python predict.py image.png`` prints the class and its probability.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from cnnstudio import __version__
from cnnstudio.fileio import JsonError
from cnnstudio.io.errors import ExportError, ModelFileError
from cnnstudio.io.zipfmt import json_bytes, npz_bytes, write_atomic

__all__ = [
    "PREDICTOR_FILES",
    "export_numpy",
    "predictor_model",
    "template_path",
]

#: The files an exported predictor folder holds.
PREDICTOR_FILES = ("predict.py", "model.json", "weights.npz")


def template_path() -> Path:
    """The ``predict.py`` template shipped inside the package."""
    return Path(__file__).resolve().parent / "templates" / "predict.py"


def predictor_model(bundle: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``model.json`` contents and the weights for the exported predictor.

    Each layer says what predict.py needs (``Layer.predictor_config``, padding made
    explicit, and ``Layer.export_weights``, flipped kernels already flipped), so
    predict.py needs no special cases. predict.py runs every engine layer type
    (tests/io/test_numpy_export.py checks that it does).
    """
    network = bundle.network()
    shape = tuple(network.input_shape)
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise ExportError(
            f"the NumPy predictor reads image files, but this model's input is "
            f"{'x'.join(map(str, shape))}; export it as ONNX instead"
        )
    weights: dict[str, np.ndarray] = {}
    nodes = []
    for nid, layer in network.nodes.items():
        for key, arr in layer.export_weights().items():
            weights[f"{nid}.{key}"] = np.ascontiguousarray(arr, dtype=np.float32)
        nodes.append(
            {
                "id": nid,
                "type": layer.type_name,
                "config": layer.predictor_config(),
                "inputs": network.inputs[nid],
            }
        )
    model = {
        "format": "cnnstudio-numpy-predictor",
        "version": 1,
        "app_version": __version__,
        "name": str(bundle.architecture.get("name") or "network"),
        "input_shape": list(network.input_shape),
        "class_names": list(bundle.class_names),
        "preprocessing": {
            "digit": bool(bundle.digit_preprocessing),
            "normalization": bundle.preprocessing.get("normalization"),
        },
        "output_activation": network.output_activation,
        "logits": network.logits_id,
        "nodes": nodes,
    }
    return model, weights


def export_numpy(bundle: Any, folder: str | os.PathLike[str]) -> Path:
    """Write the standalone predictor for ``bundle`` into ``folder`` (created if needed).

    The folder must be new, empty, or an earlier export (holding only the
    predictor's files); anything else is refused so no user file is overwritten.

    Returns the path of the written ``predict.py``.

    Raises
    ------
    ExportError
        If the folder holds other files or the input is not an image.
    ModelFileError
        If a file cannot be written.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"{folder} is a file; the NumPy predictor needs a folder")
    if folder.is_dir():
        others = sorted(p.name for p in folder.iterdir() if p.name not in PREDICTOR_FILES)
        others = [n for n in others if n != "__pycache__"]
        if others:
            shown = ", ".join(others[:3]) + (" ..." if len(others) > 3 else "")
            raise ExportError(
                f"{folder} is not empty ({shown}); choose a new or empty folder for the predictor"
            )
    model, weights = predictor_model(bundle)
    try:
        model_json = json_bytes(model)
    except JsonError as exc:
        raise ExportError(f"the model cannot be described as JSON: it is {exc.reason}") from None
    try:
        folder.mkdir(parents=False, exist_ok=True)
    except OSError as exc:
        raise ModelFileError(folder, f"cannot be created ({exc.strerror or exc})") from None
    script = template_path().read_bytes()
    write_atomic(folder / "weights.npz", _writer(npz_bytes(weights)), "weights file")
    write_atomic(folder / "model.json", _writer(model_json), "model description")
    write_atomic(folder / "predict.py", _writer(script), "predict script")
    return folder / "predict.py"


def _writer(data: bytes) -> Any:
    return lambda f: f.write(data)
