"""The architecture format (docs/file-formats.md): its constants and its one parser.

An architecture is a JSON object::

    {"format": "cnnstudio-architecture", "version": 1, "name": "LeNet-5",
     "nodes": [{"id": "conv1", "type": "Conv2D", "config": {...}, "inputs": ["input"]},
               ...]}

:func:`parse_architecture` checks what every reader needs (the format and version,
the node list, each node's id, type, config and inputs) and raises one error type,
:class:`ArchitectureError`, whose message names the node. What each reader adds is
its own: ``Network.from_architecture`` builds the layers (:func:`layers_of`) and checks
the graph can run; ``cnnstudio.model.architecture`` maps nodes onto canvas blocks;
``cnnstudio.io`` puts the file's name in front of the message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.layers import Layer, layer_from_config
from cnnstudio.engine.shapes import describe

__all__ = [
    "ARCHITECTURE_FORMAT",
    "ARCHITECTURE_VERSION",
    "ID_PATTERN",
    "Architecture",
    "ArchitectureError",
    "Node",
    "layers_of",
    "parse_architecture",
]

ARCHITECTURE_FORMAT = "cnnstudio-architecture"
#: The newest version this code reads and the one it writes.
ARCHITECTURE_VERSION = 1
#: What a node id may be made of (ids also name weights, ``"<id>.w"``, and files).
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")


class ArchitectureError(EngineError):
    """An architecture dict that is not one; the message names the node and says why."""


@dataclass(frozen=True)
class Node:
    """One checked node.

    Attributes
    ----------
    id, type : str
    config : dict
        The layer's keyword arguments (``{}`` when the node has none).
    inputs : list of str
        Ids of the nodes feeding it, in input order.
    fields : Mapping
        The node as written, for the keys a reader adds (the canvas's ``label``,
        ``ui`` and ``block``).
    """

    id: str
    type: str
    config: dict[str, Any]
    inputs: list[str]
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class Architecture:
    """A checked architecture: ``name`` is ``None`` when the dict has none."""

    name: str | None
    description: str
    nodes: list[Node]


def parse_architecture(arch: Any) -> Architecture:
    """Check an architecture dict and return its nodes; linear in its size.

    A missing ``format`` or ``version`` means this format, version 1; a missing (or
    null) ``config`` and missing ``inputs`` mean none. Nothing is built: whether the
    types exist, the configs fit them, the inputs name nodes and the graph can run is
    for the reader to check (a network and a canvas graph word those differently).

    Raises
    ------
    ArchitectureError
        For a value that is not an object, another format, a version that is not a
        whole number from 1 or is newer than :data:`ARCHITECTURE_VERSION`, a name that
        is not text, no list of nodes, a node that is not an object, an invalid or
        duplicate id, a type that is not text, a config that is not an object, inputs
        that are not a list of ids. Each message names the node
        (``node conv1: ...``, or ``node #3`` when it has no usable id).
    """
    if not isinstance(arch, Mapping):
        raise ArchitectureError(f"an architecture must be a JSON object, not {type(arch).__name__}")
    fmt = arch.get("format", ARCHITECTURE_FORMAT)
    if fmt != ARCHITECTURE_FORMAT:
        raise ArchitectureError(
            f"this is not a CNN Studio architecture (format {describe(fmt)}, "
            f"expected {ARCHITECTURE_FORMAT!r})"
        )
    version = arch.get("version", ARCHITECTURE_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ArchitectureError(
            f"the architecture version must be 1 or more, got {describe(version)}"
        )
    if version > ARCHITECTURE_VERSION:
        raise ArchitectureError(
            f"made by a newer CNN Studio (architecture version {describe(version)}; this one "
            f"reads version {ARCHITECTURE_VERSION}); update CNN Studio to open it"
        )
    name = arch.get("name")
    if name is not None and not isinstance(name, str):
        raise ArchitectureError(f"the architecture's name must be text, not {describe(name)}")
    description = arch.get("description")
    nodes = arch.get("nodes")
    if not isinstance(nodes, list):
        raise ArchitectureError("the architecture has no 'nodes' list")
    parsed = [_node(k, node) for k, node in enumerate(nodes)]
    ids: set[str] = set()
    for node in parsed:
        if node.id in ids:
            raise ArchitectureError(
                f"node {node.id}: duplicate node id (two nodes have the id {node.id!r})"
            )
        ids.add(node.id)
    return Architecture(name, description if isinstance(description, str) else "", parsed)


def layers_of(arch: Any) -> tuple[list[tuple[str, Layer, list[str]]], str | None]:
    """``(node id, layer, input ids)`` for each node of ``arch``, unbuilt, and its name.

    Raises
    ------
    EngineError
        ``ArchitectureError`` as :func:`parse_architecture` does, or ``EngineError`` for
        an unknown layer type or a config the layer refuses; the message names the node.
    """
    parsed = parse_architecture(arch)
    layers = [
        (n.id, layer_from_config(n.type, n.config, name=n.id), n.inputs) for n in parsed.nodes
    ]
    return layers, parsed.name


def _node(k: int, node: Any) -> Node:
    if not isinstance(node, Mapping):
        raise ArchitectureError(f"node #{k + 1} must be an object, not {describe(node)}")
    nid = node.get("id")
    if not isinstance(nid, str) or not ID_PATTERN.match(nid):
        raise ArchitectureError(
            f"node #{k + 1} has an invalid id {describe(nid)} (use letters, digits, '_', '.', '-')"
        )
    type_name = node.get("type")
    if not isinstance(type_name, str):
        raise ArchitectureError(f"node {nid}: 'type' must be a string, not {describe(type_name)}")
    config = node.get("config")
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise ArchitectureError(f"node {nid}: 'config' must be an object, not {describe(config)}")
    inputs = node.get("inputs", [])
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise ArchitectureError(
            f"node {nid}: 'inputs' must be a list of node ids, not {describe(inputs)}"
        )
    return Node(nid, type_name, dict(config), list(inputs), node)
