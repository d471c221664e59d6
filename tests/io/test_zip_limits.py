"""Zip bombs in model, project and autosave files are refused from the sizes the zip
declares, before anything is inflated; a legitimately large model still loads."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cnnstudio.engine.network import Network
from cnnstudio.engine.shapes import MAX_WEIGHTS
from cnnstudio.io import (
    ModelFileError,
    ProjectData,
    TrainedModel,
    load_model,
    load_project,
    project_file,
    read_recovery,
    recovery_path,
    save_model,
    save_project,
    write_recovery,
)
from cnnstudio.io.zipfmt import Limits
from tests.fuzz import mutators as m
from tests.io import archs
from tests.io.conftest import make_bundle, rewrite_zip

_MiB = 1 << 20


def _peak_of_refusal(load: Callable[[], object]) -> tuple[ModelFileError, int]:
    """The ModelFileError ``load`` raises and the peak of memory allocated meanwhile."""
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError) as err:
            load()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return err.value, peak


def _bombed(src: Path, dst: Path, member: str, mbytes: int = 900) -> Path:
    """``src`` with ``member`` replaced by ``mbytes`` MB of zeros, true sizes and CRC."""
    dst.write_bytes(m.bombed_zip(m.zip_members(src.read_bytes()), member, mbytes))
    assert dst.stat().st_size < _MiB
    return dst


def _project() -> ProjectData:
    images = np.zeros((3, 1, 28, 28), np.uint8)
    return ProjectData(
        architecture=archs.lenet(),
        trained=make_bundle(archs.binary()),
        samples={"images": images, "labels": np.array(["a", "b", "a"])},
    )


@pytest.mark.parametrize(
    ("mbytes", "words"),
    [
        (900, ["weights.npz is too large", "900.0 MB"]),  # over any model's weights
        (200, ["weights.npz claims to unpack to 200.0 MB", "more than 256 times"]),
    ],
)
def test_model_whose_weights_inflate_to_hundreds_of_mb_is_refused_before_inflating(
    model_path, tmp_path, mbytes, words
):
    bomb = _bombed(model_path, tmp_path / "bomb.cnnmodel", "weights.npz", mbytes)
    err, peak = _peak_of_refusal(lambda: load_model(bomb))
    assert str(bomb) in str(err)
    for word in words:
        assert word in err.reason
    assert peak < 16 * _MiB, f"loading peaked at {peak / _MiB:.0f} MB"
    assert peak < 16 * _MiB, f"loading peaked at {peak / _MiB:.0f} MB"


@pytest.mark.parametrize("member", ["weights.npz", "samples.npz"])
def test_project_whose_arrays_inflate_to_900_mb_is_refused_before_inflating(tmp_path, member):
    path = save_project(tmp_path / "p.cnnstudio", _project())
    bomb = _bombed(path, tmp_path / "bomb.cnnstudio", member)
    err, peak = _peak_of_refusal(lambda: load_project(bomb))
    assert str(bomb) in str(err) and member in err.reason
    assert peak < 16 * _MiB, f"loading peaked at {peak / _MiB:.0f} MB"


def test_autosave_whose_samples_inflate_to_900_mb_is_refused_before_inflating(tmp_path):
    saved = write_recovery(tmp_path, _project())
    _bombed(saved, saved, "samples.npz")
    err, peak = _peak_of_refusal(lambda: read_recovery(tmp_path))
    assert str(recovery_path(tmp_path)) in str(err) and "samples.npz" in err.reason
    assert peak < 16 * _MiB, f"loading peaked at {peak / _MiB:.0f} MB"


def test_array_inside_the_npz_inflating_to_200_mb_is_refused_before_inflating(model_path, tmp_path):
    # weights.npz itself is small and honest; one array in it is the bomb.
    inner = m.bombed_zip([("fc1.w.npy", b"")], "fc1.w.npy", 200)
    bad = rewrite_zip(model_path, tmp_path / "x.cnnmodel", {"weights.npz": inner})
    assert bad.stat().st_size < _MiB
    err, peak = _peak_of_refusal(lambda: load_model(bad))
    assert "weights.npz/fc1.w.npy" in err.reason and "200.0 MB" in err.reason
    assert peak < 16 * _MiB, f"loading peaked at {peak / _MiB:.0f} MB"


def test_samples_over_their_limit_neither_save_nor_load(tmp_path, monkeypatch):
    project = _project()
    project.samples = {
        "images": np.zeros((3000, 1, 28, 28), np.uint8),  # 2.2 MB
        "labels": np.array(["a", "b", "c"] * 1000),
    }
    path = save_project(tmp_path / "p.cnnstudio", project)
    with pytest.raises(ModelFileError, match=r"samples\.npz is too large"):
        load_project(path, limits=Limits(samples_bytes=_MiB))
    monkeypatch.setattr(project_file, "DEFAULT_LIMITS", Limits(samples_bytes=_MiB))
    with pytest.raises(ModelFileError, match="remove some samples") as err:
        save_project(tmp_path / "q.cnnstudio", project)
    assert "3,000 drawn samples" in str(err.value)


def test_a_model_near_the_weight_limit_still_loads(tmp_path):
    # 7 x 2048^2 + 7 = 29.4 M weights (88% of MAX_WEIGHTS), 117 MB of float32 that do
    # not compress: the largest models a user can build must open again.
    arch = {
        "format": "cnnstudio-architecture",
        "version": 1,
        "nodes": [
            {"id": "in", "type": "Input", "config": {"shape": [1, 2048, 2048]}, "inputs": []},
            {"id": "flat", "type": "Flatten", "config": {}, "inputs": ["in"]},
            {"id": "fc", "type": "Dense", "config": {"units": 7}, "inputs": ["flat"]},
            {"id": "out", "type": "Softmax", "config": {}, "inputs": ["fc"]},
        ],
    }
    net = Network.from_architecture(arch, seed=1)
    assert net.parameter_count() > 0.85 * MAX_WEIGHTS
    path = save_model(tmp_path / "big.cnnmodel", TrainedModel.from_network(net))
    del net
    assert path.stat().st_size > 100 * _MiB
    loaded = load_model(path)
    assert loaded.weights["fc.w"].shape == (7, 2048 * 2048)
