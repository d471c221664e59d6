"""*.cnnstudio projects: exact round trips of graph, settings, history, weights and samples."""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cnnstudio.data.samples import SampleCollection
from cnnstudio.io import ModelFileError, ProjectData, load_project, save_project
from tests.io import archs
from tests.io.conftest import make_bundle, rewrite_zip


def _samples() -> SampleCollection:
    rng = np.random.default_rng(5)
    s = SampleCollection()
    for label in ["7", "1", "7", "star", "0"]:
        s.add(rng.integers(0, 256, (1, 28, 28), dtype=np.uint8), label)
    return s


def _project(trained: bool = True, samples: bool = True) -> ProjectData:
    graph = archs.kitchen_sink()
    graph["nodes"][3]["ui"] = {"x": 123.25, "y": -40.5}
    graph["nodes"][3]["label"] = "pool, the first"
    return ProjectData(
        architecture=graph,
        training_settings={"epochs": 5, "batch_size": 64, "optimizer": {"name": "adam"}},
        history=[
            {
                "name": "run 1",
                "steps": [1, 2, 3],
                "loss": [2.3, 1.1, math.nan],  # a diverged run still saves
                "val_accuracy": [None, 0.5, 0.75],
            }
        ],
        dataset={"kind": "builtin", "path": None, "options": {"size": [28, 28]}},
        class_names=[str(i) for i in range(10)],
        preprocessing={"normalization": None, "digit": True},
        trained=make_bundle(archs.lenet()) if trained else None,
        samples=_samples().to_arrays() if samples else None,
        ui_state={"view": "build", "zoom": 1.5},
    )


def test_round_trip_is_exact(tmp_path):
    project = _project()
    path = save_project(tmp_path / "p.cnnstudio", project)
    loaded = load_project(path)

    assert loaded.architecture == project.architecture  # positions and labels included
    assert loaded.training_settings == project.training_settings
    assert loaded.dataset == project.dataset
    assert loaded.class_names == project.class_names
    assert loaded.preprocessing == project.preprocessing
    assert loaded.ui_state == project.ui_state
    run, run0 = loaded.history[0], project.history[0]
    assert run["steps"] == run0["steps"] and run["val_accuracy"] == run0["val_accuracy"]
    assert run["loss"][:2] == run0["loss"][:2] and math.isnan(run["loss"][2])

    t, t0 = loaded.trained, project.trained
    assert t is not None and t0 is not None
    assert t.architecture == t0.architecture
    assert t.class_names == t0.class_names and t.preprocessing == t0.preprocessing
    assert t.training_summary == t0.training_summary
    for key, arr in t0.weights.items():
        assert t.weights[key].tobytes() == arr.tobytes(), key

    assert loaded.samples is not None
    restored = SampleCollection.from_arrays(loaded.samples)
    original = _samples()
    assert restored.labels == original.labels
    for a, b in zip(restored, original, strict=True):
        np.testing.assert_array_equal(a.image, b.image)


def test_members_and_samples_format(tmp_path):
    path = save_project(tmp_path / "p.cnnstudio", _project())
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["project.json", "samples.npz", "weights.npz"]
        doc = json.loads(z.read("project.json").decode())
        with np.load(io.BytesIO(z.read("samples.npz")), allow_pickle=False) as npz:
            images, labels = npz["images"], npz["labels"]
    assert doc["format"] == "cnnstudio-project" and doc["version"] == 1
    assert doc["samples"]["class_names"] == ["0", "1", "7", "star"]
    assert images.dtype == np.uint8 and images.shape == (5, 1, 28, 28)
    assert labels.dtype == np.int64
    assert [doc["samples"]["class_names"][i] for i in labels] == ["7", "1", "7", "star", "0"]


def test_minimal_project_without_weights_or_samples(tmp_path):
    # A graph still being edited (it does not compile: Dense straight after a conv).
    graph = archs.lenet()
    graph["nodes"] = [n for n in graph["nodes"] if n["id"] != "flat"]
    path = save_project(tmp_path / "p.cnnstudio", ProjectData(architecture=graph))
    with zipfile.ZipFile(path) as z:
        assert z.namelist() == ["project.json"]
    loaded = load_project(path)
    assert loaded.architecture == graph
    assert loaded.trained is None and loaded.samples is None and loaded.history == []


def test_empty_sample_collection_saves_as_none(tmp_path):
    project = _project(trained=False, samples=False)
    project.samples = SampleCollection().to_arrays()
    loaded = load_project(save_project(tmp_path / "p.cnnstudio", project))
    assert loaded.samples is None


def _saved(tmp_path: Path) -> Path:
    return save_project(tmp_path / "p.cnnstudio", _project())


def _assert_error(path: Path, *fragments: str) -> None:
    with pytest.raises(ModelFileError) as info:
        load_project(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message


def _doc(path: Path) -> dict:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("project.json"))


def _with_doc(path: Path, tmp_path: Path, doc: dict) -> Path:
    return rewrite_zip(path, tmp_path / "bad.cnnstudio", {"project.json": json.dumps(doc).encode()})


def test_newer_project_version(tmp_path):
    path = _saved(tmp_path)
    doc = _doc(path)
    doc["version"] = 2
    _assert_error(_with_doc(path, tmp_path, doc), "newer CNN Studio", "update CNN Studio")


def test_model_file_is_not_a_project(tmp_path):
    from cnnstudio.io import save_model

    p = save_model(tmp_path / "m.cnnstudio", make_bundle())
    _assert_error(p, "is a CNN Studio model file (.cnnmodel), not a project")


def test_missing_weights_member(tmp_path):
    path = _saved(tmp_path)
    bad = rewrite_zip(path, tmp_path / "bad.cnnstudio", {"weights.npz": None})
    _assert_error(bad, "weights.npz is missing")


def test_trained_weights_that_do_not_fit(tmp_path):
    path = _saved(tmp_path)
    doc = _doc(path)
    doc["trained"]["architecture"]["nodes"][1]["config"]["filters"] = 7
    _assert_error(_with_doc(path, tmp_path, doc), "trained model weights", "conv1.w")


def test_sample_label_out_of_range(tmp_path):
    path = _saved(tmp_path)
    doc = _doc(path)
    doc["samples"]["class_names"] = ["0", "1"]
    _assert_error(_with_doc(path, tmp_path, doc), "samples", "outside")


def test_sample_images_wrong_dtype(tmp_path):
    path = _saved(tmp_path)
    buf = io.BytesIO()
    np.savez(buf, images=np.zeros((5, 1, 28, 28), np.float32), labels=np.zeros(5, np.int64))
    bad = rewrite_zip(path, tmp_path / "bad.cnnstudio", {"samples.npz": buf.getvalue()})
    _assert_error(bad, "samples", "uint8", "float32")


def test_history_must_be_a_list_of_runs(tmp_path):
    path = _saved(tmp_path)
    doc = _doc(path)
    doc["history"] = "oops"
    _assert_error(_with_doc(path, tmp_path, doc), "training history")


def test_graph_must_be_an_object(tmp_path):
    path = _saved(tmp_path)
    doc = _doc(path)
    doc["architecture"] = [1, 2]
    _assert_error(_with_doc(path, tmp_path, doc), "graph must be a JSON object")


def test_save_refuses_non_json_settings(tmp_path):
    project = _project(trained=False, samples=False)
    project.training_settings = {"lr": object()}
    with pytest.raises(ModelFileError, match="not plain JSON data"):
        save_project(tmp_path / "p.cnnstudio", project)
    assert not (tmp_path / "p.cnnstudio").exists()


def test_save_is_atomic(tmp_path, monkeypatch):
    path = _saved(tmp_path)
    before = path.read_bytes()
    real = zipfile.ZipFile.writestr

    def failing(self, name, data, *a, **k):
        if name == "samples.npz":
            raise OSError(5, "Input/output error")
        return real(self, name, data, *a, **k)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing)
    with pytest.raises(ModelFileError, match="cannot be saved"):
        save_project(path, _project())
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
