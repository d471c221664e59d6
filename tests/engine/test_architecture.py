"""The one parser of the architecture format: what it accepts, and messages naming the node."""

from __future__ import annotations

import copy

import pytest

from cnnstudio.engine.architecture import (
    ARCHITECTURE_FORMAT,
    ARCHITECTURE_VERSION,
    ArchitectureError,
    parse_architecture,
)
from cnnstudio.engine.errors import EngineError


def _arch() -> dict:
    return {
        "format": ARCHITECTURE_FORMAT,
        "version": ARCHITECTURE_VERSION,
        "name": "tiny",
        "nodes": [
            {"id": "in", "type": "Input", "config": {"shape": [4]}, "inputs": []},
            {"id": "fc", "type": "Dense", "config": {"units": 2}, "inputs": ["in"], "label": "x"},
        ],
    }


def test_a_good_architecture_gives_its_nodes_in_order():
    parsed = parse_architecture(_arch())
    assert parsed.name == "tiny" and parsed.description == ""
    assert [(n.id, n.type, n.config, n.inputs) for n in parsed.nodes] == [
        ("in", "Input", {"shape": [4]}, []),
        ("fc", "Dense", {"units": 2}, ["in"]),
    ]
    assert parsed.nodes[1].fields["label"] == "x"  # what a reader adds is kept for it


def test_format_version_config_and_inputs_may_be_left_out():
    parsed = parse_architecture({"nodes": [{"id": "in", "type": "Input", "config": None}]})
    assert parsed.name is None
    assert (parsed.nodes[0].config, parsed.nodes[0].inputs) == ({}, [])


def _set(path, value):
    def edit(arch):
        where = arch
        for key in path[:-1]:
            where = where[key]
        where[path[-1]] = value

    return edit


_HUGE = 10**4301  # cannot even be printed


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (_set(("format",), "onnx"), ["not a CNN Studio architecture", "'onnx'"]),
        (_set(("version",), 2), ["newer CNN Studio", "version 2", "update CNN Studio"]),
        (_set(("version",), _HUGE), ["newer CNN Studio", "about 4302 digits"]),
        (_set(("version",), True), ["version must be 1 or more"]),
        (_set(("version",), 0), ["version must be 1 or more"]),
        (_set(("name",), ["x"]), ["name must be text"]),
        (_set(("nodes",), {"in": {}}), ["no 'nodes' list"]),
        (lambda a: a.pop("nodes"), ["no 'nodes' list"]),
        (_set(("nodes", 1), list(range(100_000))), ["node #2 must be an object"]),
        (_set(("nodes", 1, "id"), "f c"), ["node #2", "invalid id 'f c'"]),
        (_set(("nodes", 1, "id"), "in"), ["node in", "duplicate node id"]),
        (_set(("nodes", 1, "type"), 7), ["node fc", "'type' must be a string"]),
        (_set(("nodes", 1, "config"), [1]), ["node fc", "'config' must be an object"]),
        (_set(("nodes", 1, "inputs"), "in"), ["node fc", "'inputs' must be a list of node ids"]),
    ],
)
def test_what_is_not_an_architecture_is_one_error_naming_the_node(edit, words):
    arch = copy.deepcopy(_arch())
    edit(arch)
    with pytest.raises(ArchitectureError) as err:
        parse_architecture(arch)
    message = str(err.value)
    assert isinstance(err.value, EngineError) and isinstance(err.value, ValueError)
    for word in words:
        assert word in message, message
    assert len(message) < 300


def test_not_a_mapping_at_all():
    with pytest.raises(ArchitectureError, match="must be a JSON object, not list"):
        parse_architecture([1, 2])
