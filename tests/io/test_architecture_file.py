"""Architecture JSON files are read and written in one place (io.architecture_file): the
graph loader and the plain-dict reader refuse a bad file with the same words."""

from __future__ import annotations

import json
import os
import zipfile

import pytest

from cnnstudio import io as cio
from cnnstudio.engine import EngineError, Network
from cnnstudio.io import (
    ModelFileError,
    ProjectData,
    load_project,
    read_architecture,
    save_project,
    write_architecture,
)
from cnnstudio.model import (
    ArchitectureFileError,
    Graph,
    load_architecture,
    load_preset,
    save_architecture,
)
from tests.io import archs
from tests.io.conftest import rewrite_zip

_BAD = {
    "not json": '{"nodes": [',
    "not an object": "[1, 2]",
    "other format": json.dumps({"format": "keras", "nodes": []}),
    "newer": json.dumps({"version": 9, "nodes": []}),
    "node without id": json.dumps({"nodes": [{"type": "ReLU"}]}),
}


@pytest.mark.parametrize("which", [*_BAD, "missing", "folder", "fifo", "too large"])
def test_both_readers_refuse_a_bad_file_with_the_same_message(tmp_path, which):
    # They were two readers: "file not found" against "no such file", "is damaged: the
    # file is not valid JSON" against "not valid JSON", a node without an id passed one.
    path = tmp_path / "net.json"
    if which in _BAD:
        path.write_text(_BAD[which])
    elif which == "folder":
        path.mkdir()
    elif which == "fifo":
        os.mkfifo(path)
    elif which == "too large":
        path.write_bytes(b" " * (cio.architecture_file.MAX_FILE_BYTES + 1))
    with pytest.raises(ModelFileError) as plain:
        read_architecture(path)
    with pytest.raises(ArchitectureFileError) as graph:
        load_architecture(path)
    assert str(plain.value) == str(graph.value)
    assert str(plain.value).startswith(f"{path}: ") and len(str(plain.value)) < 300


def test_a_graph_saved_is_the_dict_read_and_the_other_way_round(tmp_path):
    graph = load_preset("resnet_mini")
    saved = save_architecture(graph, tmp_path / "g.json")
    assert read_architecture(saved) == graph.to_architecture()
    arch = archs.residual()
    written = write_architecture(arch, tmp_path / "a.json")
    assert json.loads(written.read_text()) == arch
    loaded = load_architecture(written).to_architecture()
    assert [(n["id"], n["type"], n["inputs"]) for n in loaded["nodes"]] == [
        (n["id"], n["type"], n["inputs"]) for n in arch["nodes"]
    ]


def test_a_save_that_fails_names_the_file_in_both_forms(tmp_path):
    target = tmp_path / "no" / "such" / "net.json"
    with pytest.raises(ModelFileError, match="cannot save the architecture") as plain:
        write_architecture(archs.lenet(), target)
    with pytest.raises(ArchitectureFileError, match="cannot save the architecture") as graph:
        save_architecture(load_preset("mlp"), target)
    assert str(plain.value).startswith(str(target)) and str(graph.value).startswith(str(target))


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda a: a.update(version=5), "made by a newer CNN Studio (architecture version 5"),
        (lambda a: a.update(format="keras"), "this is not a CNN Studio architecture"),
        (lambda a: a["nodes"][3].update(id="a b"), "node #4 has an invalid id 'a b'"),
        (lambda a: a["nodes"][3].update(id="conv1"), "node conv1: duplicate node id"),
        (lambda a: a["nodes"][3].update(config=[2]), "node pool1: 'config' must be an object"),
    ],
)
def test_every_reader_of_an_architecture_says_the_same(tmp_path, edit, words):
    # Three parsers, three wordings: "architecture: format is 'keras'" from the engine,
    # "is damaged: the architecture has format 'keras'" from io, the graph's own.
    arch = archs.lenet()
    good = save_project(tmp_path / "p.cnnstudio", ProjectData(architecture=arch))
    edit(arch)
    with zipfile.ZipFile(good) as z:
        doc = json.loads(z.read("project.json"))
    project = rewrite_zip(
        good,
        tmp_path / "bad.cnnstudio",
        {"project.json": json.dumps(doc | {"architecture": arch}).encode()},
    )
    (tmp_path / "a.json").write_text(json.dumps(arch))
    failures = []
    for read, error in [
        (Network.from_architecture, EngineError),
        (Graph.from_architecture, ArchitectureFileError),
    ]:
        with pytest.raises(error) as info:
            read(arch)
        failures.append(str(info.value))
    for read, path in [(read_architecture, tmp_path / "a.json"), (load_project, project)]:
        with pytest.raises(ModelFileError) as info:
            read(path)
        failures.append(str(info.value))
    for message in failures:
        assert words in message, failures
