"""A small model file that declares a huge network is refused before anything is allocated."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cnnstudio.io import ModelFileError, load_model

_MiB = 2**20


def node(nid, type_, inputs, **config):
    return {"id": nid, "type": type_, "config": config, "inputs": inputs}


def _model_file(path: Path, nodes: list, weights: dict[str, tuple[int, ...]]) -> Path:
    """A hand-made .cnnmodel: meta, architecture, and tiny weight arrays of the given shapes."""
    meta = {
        "format": "cnnstudio-model",
        "version": 1,
        "class_names": ["a", "b", "c"],
        "input_shape": nodes[0]["config"]["shape"],
        "preprocessing": {},
    }
    arch = {"format": "cnnstudio-architecture", "version": 1, "nodes": nodes}
    buf = io.BytesIO()
    np.savez(buf, **{k: np.zeros(shape, np.float32) for k, shape in weights.items()})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("meta.json", json.dumps(meta))
        z.writestr("architecture.json", json.dumps(arch))
        z.writestr("weights.npz", buf.getvalue())
    return path


def _load_refused(path: Path) -> tuple[str, int]:
    """The ModelFileError's message and the peak of memory allocated while loading."""
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError) as err:
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(err.value)
    assert str(path) in message
    return message, peak


@pytest.mark.parametrize(
    ("nodes", "weights", "words"),
    [
        # An Input of 1x10000x10000 into a Dense of 3 units: 3 x 10^8 weights (2.3 GB were
        # drawn before the weights were compared, as only the first dimension was).
        (
            [
                node("in", "Input", [], shape=[1, 10000, 10000]),
                node("flat", "Flatten", ["in"]),
                node("fc", "Dense", ["flat"], units=3),
                node("out", "Softmax", ["fc"]),
            ],
            {"fc.w": (3, 1), "fc.b": (3,)},
            ["too large", "300,000,003 weights", "fc.w"],
        ),
        # A 10000x10000 kernel of one filter.
        (
            [
                node("in", "Input", [], shape=[1, 10000, 10000]),
                node("conv", "Conv2D", ["in"], filters=1, kernel_size=10000),
                node("flat", "Flatten", ["conv"]),
                node("fc", "Dense", ["flat"], units=3),
                node("out", "Softmax", ["fc"]),
            ],
            {"conv.w": (1, 1, 1, 1), "conv.b": (1,), "fc.w": (3, 1), "fc.b": (3,)},
            ["too large", "conv.w"],
        ),
        # Within the limits (29 M weights), but the stored array is not the one declared:
        # the full shapes are compared before building, not after.
        (
            [
                node("in", "Input", [], shape=[1, 2048, 2048]),
                node("flat", "Flatten", ["in"]),
                node("fc", "Dense", ["flat"], units=7),
                node("out", "Softmax", ["fc"]),
            ],
            {"fc.w": (7, 1), "fc.b": (7,)},
            ["weight fc.w has shape (7, 1), the architecture needs (7, 4194304)"],
        ),
        # No weights to speak of, but 2 x 2^26 values per image.
        (
            [
                node("in", "Input", [], shape=[4, 4096, 4096]),
                node("relu", "ReLU", ["in"]),
                node("pool", "AvgPool2D", ["relu"], pool_size=4096),
                node("flat", "Flatten", ["pool"]),
                node("fc", "Dense", ["flat"], units=3),
                node("out", "Softmax", ["fc"]),
            ],
            {"fc.w": (3, 4), "fc.b": (3,)},
            ["too large", "values per image"],
        ),
    ],
)
def test_a_small_file_declaring_a_huge_network_is_refused_before_allocating(
    tmp_path, nodes, weights, words
):
    path = _model_file(tmp_path / "huge.cnnmodel", nodes, weights)
    assert path.stat().st_size < 2000
    message, peak = _load_refused(path)
    for word in words:
        assert word in message
    assert peak < 16 * _MiB, f"loading peaked at {peak / _MiB:.0f} MB"


def test_an_absurd_size_in_a_model_file_is_a_model_file_error(tmp_path):
    nodes = [
        node("in", "Input", [], shape=[1, 4, 4]),
        node("flat", "Flatten", ["in"]),
        node("fc", "Dense", ["flat"], units=3, use_bias="no"),
        node("out", "Softmax", ["fc"]),
    ]
    path = _model_file(tmp_path / "bias.cnnmodel", nodes, {"fc.w": (3, 16), "fc.b": (3,)})
    message, _ = _load_refused(path)
    assert "fc: use_bias must be true or false" in message
