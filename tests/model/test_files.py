"""Architecture JSON save/open and the messages for files that cannot be opened."""

from __future__ import annotations

import json

import pytest

from cnnstudio.model import ArchitectureFileError, load_architecture, load_preset, save_architecture


def test_save_and_load_round_trip(tmp_path):
    g = load_preset("densenet_mini")
    g.move_block("conv2", (333.5, 1.25))
    path = save_architecture(g, tmp_path / "net.json")
    loaded = load_architecture(path)
    assert loaded.to_architecture() == g.to_architecture()
    assert loaded.block("conv2").position == (333.5, 1.25)
    data = json.loads(path.read_text())
    assert data["format"] == "cnnstudio-architecture" and data["version"] == 1
    assert data["nodes"][1]["ui"] == {"x": g.block("conv1").position[0], "y": 100.0}
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed


def _write(tmp_path, payload) -> str:
    path = tmp_path / "bad.json"
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


def _node(nid="in", type_="Input", config=None, inputs=()):
    return {
        "id": nid,
        "type": type_,
        "config": {"shape": [1, 8, 8]} if config is None else config,
        "inputs": list(inputs),
    }


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ('{"nodes": [', r"bad\.json: not valid JSON \(line 1, column 12"),
        ("[1, 2]", "must be a JSON object"),
        ({"format": "something-else", "nodes": []}, "not a CNN Studio architecture"),
        (
            {"version": 7, "nodes": []},
            r"made by a newer CNN Studio \(architecture version 7; this one reads version 1\); "
            "update CNN Studio to open it",
        ),
        ({"version": 1}, "no 'nodes' list"),
        (
            {"nodes": [_node(), _node("c", "Conv3D", {}, ["in"])]},
            "node c: unknown layer type 'Conv3D'",
        ),
        (
            {"nodes": [_node(), _node("c", "Conv2D", {"filters": 4, "kernels": 3}, ["in"])]},
            r"node c: unknown config key\(s\) kernels",
        ),
        (
            {"nodes": [_node(), _node("c", "Conv2D", {"filters": 9999}, ["in"])]},
            "node c: Filters must be between 1 and 512, got 9999",
        ),
        (
            {"nodes": [_node(), _node("r", "ReLU", {}, ["nowhere"])]},
            "node r: input 'nowhere' is not a node",
        ),
        ({"nodes": [_node(), _node("in", "ReLU", {}, [])]}, "two nodes have the id 'in'"),
        ({"nodes": [_node("bad id")]}, "invalid id 'bad id'"),
        ({"nodes": [_node(), _node("r", "ReLU", {}, ["in", "in"])]}, "lists the same input twice"),
        (
            {
                "nodes": [
                    _node(),
                    _node("a", "Tanh", {}, ["in"]),
                    _node("r", "ReLU", {}, ["in", "a"]),
                ]
            },
            "takes one input",
        ),
        (
            {"nodes": [_node(config={"shape": [8, 8]})]},
            r"Input shape must be \[channels, height, width\]",
        ),
    ],
)
def test_bad_files_give_one_clear_error_naming_the_file(tmp_path, payload, message):
    path = _write(tmp_path, payload)
    with pytest.raises(ArchitectureFileError, match=message) as info:
        load_architecture(path)
    assert str(info.value).startswith(str(path))


def test_missing_binary_and_folder(tmp_path):
    with pytest.raises(ArchitectureFileError, match="no such file"):
        load_architecture(tmp_path / "none.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ArchitectureFileError, match="not UTF-8 text"):
        load_architecture(tmp_path / "bin.json")
    with pytest.raises(ArchitectureFileError, match="is a folder"):
        load_architecture(tmp_path)


def test_save_into_a_missing_folder_says_so(tmp_path):
    with pytest.raises(ArchitectureFileError, match="cannot save"):
        save_architecture(load_preset("mlp"), tmp_path / "no" / "such" / "net.json")
