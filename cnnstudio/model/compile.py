"""Graph <-> architecture dict (docs/file-formats.md) -> engine ``Network``.

The dict is the engine's, plus per node a display ``"label"``, the canvas position
``"ui": {"x", "y"}`` and, only where the engine type alone would be read back as a
different block, ``"block"`` (e.g. an Output block using a sigmoid). A graph survives
``Graph.from_architecture(graph.to_architecture())`` exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cnnstudio.engine.architecture import (
    ARCHITECTURE_FORMAT,
    ARCHITECTURE_VERSION,
    ArchitectureError,
    parse_architecture,
)
from cnnstudio.engine.shapes import describe
from cnnstudio.model.errors import ArchitectureFileError, GraphError
from cnnstudio.model.registry import BLOCK_SPECS, block_type_for_engine

if TYPE_CHECKING:
    from cnnstudio.engine.network import Network
    from cnnstudio.model.graph import Graph

__all__ = [
    "ARCHITECTURE_FORMAT",
    "ARCHITECTURE_VERSION",
    "compile_network",
    "graph_from_architecture",
    "graph_to_architecture",
]


def _guess_block_type(engine_type: str, is_sink: bool) -> str | None:
    """How a node without a ``"block"`` key is read: a sink ``Sigmoid`` is the Output."""
    if engine_type == "Sigmoid" and is_sink:
        return "Output"
    return block_type_for_engine(engine_type)


def graph_to_architecture(graph: Graph) -> dict[str, Any]:
    """The architecture dict of ``graph`` (JSON-able; node order = graph order)."""
    links = graph.links
    feeding = {lk.source for lk in links}
    inputs: dict[str, list[Any]] = {}
    for lk in sorted(links, key=lambda k: k.index):  # input order, as Graph.inputs_of
        inputs.setdefault(lk.target, []).append(lk.source)
    nodes = []
    for block in graph.blocks.values():
        engine_type, config = block.spec.to_engine(block.params)
        node: dict[str, Any] = {
            "id": block.id,
            "type": engine_type,
            "config": config,
            "inputs": inputs.get(block.id, []),
            "label": block.label,
            "ui": {"x": block.position[0], "y": block.position[1]},
        }
        if _guess_block_type(engine_type, block.id not in feeding) != block.type:
            node["block"] = block.type
        nodes.append(node)
    arch: dict[str, Any] = {
        "format": ARCHITECTURE_FORMAT,
        "version": ARCHITECTURE_VERSION,
        "name": graph.name,
    }
    if graph.description:
        arch["description"] = graph.description
    arch["nodes"] = nodes
    return arch


def graph_from_architecture(arch: Mapping[str, Any]) -> Graph:
    """Rebuild a graph from an architecture dict.

    Node positions come from ``"ui"``; if any node lacks one, the whole graph is laid
    out afresh. Structural problems a user can fix on the canvas (a cycle, a missing
    Output, mismatched shapes) load fine and are shown by inference.

    Raises
    ------
    ArchitectureFileError
        For anything that cannot be a graph: wrong format or a newer version, a node
        that is not an object, a bad or duplicate id, an unknown type or keyword, a
        value outside its limits, an input naming no node, several inputs into a
        block that takes one. The message names the node.
    """
    from cnnstudio.model.graph import Block, Graph, Link, layout_positions

    try:
        checked = parse_architecture(arch)
    except ArchitectureError as exc:
        raise ArchitectureFileError(str(exc)) from None
    parsed = [(dict(node.fields), node.id) for node in checked.nodes]
    name = checked.name if checked.name is not None else "Untitled"

    feeding = {src for node, _ in parsed for src in node.get("inputs", [])}
    graph = Graph(name)
    graph.description = checked.description
    missing_position = False
    for node, nid in parsed:
        engine_type = node.get("type")
        if not isinstance(engine_type, str):
            raise ArchitectureFileError(
                f"node {nid}: 'type' must be a string, not {describe(engine_type)}"
            )
        block_type = node.get("block") or _guess_block_type(engine_type, nid not in feeding)
        spec = BLOCK_SPECS.get(block_type) if isinstance(block_type, str) else None
        if spec is None and node.get("block"):
            raise ArchitectureFileError(f"node {nid}: unknown block type {describe(block_type)}")
        if spec is None:
            known = ", ".join(sorted({s.engine_type for s in BLOCK_SPECS.values()} | {"Sigmoid"}))
            raise ArchitectureFileError(
                f"node {nid}: unknown layer type {describe(engine_type)} (known: {known})"
            )
        allowed = ("Softmax", "Sigmoid") if spec.type == "Output" else (spec.engine_type,)
        if engine_type not in allowed:
            raise ArchitectureFileError(
                f"node {nid}: a {spec.label} block cannot be a {describe(engine_type)} layer"
            )
        config = node.get("config") or {}
        _check_config(config, nid)
        params = spec.params_from_config(config, where=f"node {nid}")
        if spec.type == "Output":
            params["activation"] = "sigmoid" if engine_type == "Sigmoid" else "softmax"
        position = (0.0, 0.0)
        ui = node.get("ui")
        if isinstance(ui, Mapping) and _is_number(ui.get("x")) and _is_number(ui.get("y")):
            position = (float(ui["x"]), float(ui["y"]))
        else:
            missing_position = True
        label = node.get("label")
        if not isinstance(label, str) or not label.strip():
            label = graph._default_label(spec, nid)
        graph._blocks[nid] = Block(nid, spec.type, params, position, label)

    for node, nid in parsed:
        inputs = node.get("inputs", [])
        spec = graph._blocks[nid].spec
        if len(set(inputs)) != len(inputs):
            raise ArchitectureFileError(f"node {nid}: lists the same input twice")
        if spec.max_inputs is not None and len(inputs) > max(spec.max_inputs, 1):
            raise ArchitectureFileError(
                f"node {nid}: a {spec.label} block takes "
                f"{'no inputs' if spec.max_inputs == 0 else 'one input'}, "
                f"but the file gives {len(inputs)}"
            )
        for k, src in enumerate(inputs):
            if src not in graph._blocks:
                raise ArchitectureFileError(f"node {nid}: input {describe(src)} is not a node")
            if src == nid:
                raise ArchitectureFileError(f"node {nid}: a node cannot be its own input")
            graph._links.append(Link(src, nid, k))

    if missing_position:
        for bid, pos in layout_positions(list(graph._blocks), graph._links).items():
            graph._blocks[bid].position = pos
    graph._reinfer()
    return graph


def _check_config(config: Any, nid: str) -> None:
    """Refuse what no block parameter can be before the registry quotes it in a message:
    an integer too long to print (over 4,300 digits) or a value nested in a list or
    object (nested thousands deep, quoting it exhausts Python's recursion limit). Every
    parameter is a number, a word, or a list of numbers and words (a pair, a shape)."""
    if not isinstance(config, Mapping):
        raise ArchitectureFileError(
            f"node {nid}: 'config' must be an object, not {describe(config)}"
        )
    for key, value in config.items():
        if not isinstance(key, str):
            raise ArchitectureFileError(
                f"node {nid}: a config key must be text, not {describe(key)}"
            )
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if isinstance(item, list | tuple | Mapping) or (
                isinstance(item, int) and item.bit_length() > 64
            ):
                raise ArchitectureFileError(
                    f"node {nid}: {describe(key)} cannot be {describe(value)}; a parameter is a "
                    "number, a word or a pair of numbers"
                )


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an int beyond any float
        return False


def compile_network(graph: Graph, seed: int = 0) -> Network:
    """Build the engine ``Network`` of a valid graph.

    Raises
    ------
    GraphError
        When inference finds a problem; the message is ``graph.inference.reason``.
    """
    from cnnstudio.engine.network import Network

    info = graph.inference
    if not info.is_valid:
        raise GraphError(f"the network cannot be built yet: {info.reason}")
    return Network.from_architecture(graph_to_architecture(graph), seed=seed)
