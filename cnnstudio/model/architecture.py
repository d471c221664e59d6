"""A graph as an architecture dict (docs/file-formats.md), and back.

The dict is the engine's, plus per node a display ``"label"``, the canvas position
``"ui": {"x", "y"}`` and, only where the engine type alone would be read back as a
different block, ``"block"`` (e.g. an Output block using a sigmoid). A graph survives
``Graph.from_architecture(graph.to_architecture())`` exactly.

Reading goes through the graph's public methods (``add_block``, ``connect``,
``auto_arrange``), as an edit would, so the graph's own rules apply to a file too;
``Graph.from_architecture`` and ``Graph.to_architecture`` call this module (it never
imports ``graph.py``).
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
from cnnstudio.model.errors import ArchitectureFileError, ModelError
from cnnstudio.model.registry import BLOCK_SPECS, block_type_for_engine

if TYPE_CHECKING:
    from cnnstudio.model.graph import Graph

__all__ = ["graph_to_architecture", "read_into"]


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


def read_into(graph: Graph, arch: Any) -> None:
    """Add the blocks and links of the architecture dict ``arch`` to the empty ``graph``.

    Node positions come from ``"ui"``; if any node lacks one, the whole graph is laid
    out afresh. Structural problems a user can fix on the canvas (a cycle, a missing
    Output, mismatched shapes) load fine and are shown by inference. Linear in the
    size of ``arch``: inference runs once, at the end.

    Raises
    ------
    ArchitectureFileError
        For anything that cannot be a graph: what ``engine.architecture`` refuses (wrong
        format or a newer version, a node that is not an object, a bad or duplicate id),
        an input naming no node, an unknown type or keyword, a value outside its
        limits, a node listing an input twice or feeding itself, several inputs into a
        block that takes one. The message names the node.
    """
    try:
        parsed = parse_architecture(arch)
    except ArchitectureError as exc:
        raise ArchitectureFileError(str(exc)) from None
    feeding = {src for node in parsed.nodes for src in node.inputs}
    missing_position = False
    with graph.batch():
        graph.set_name(parsed.name if parsed.name is not None else "Untitled")
        graph.description = parsed.description
        for node in parsed.nodes:
            block_type, params = _block_params(
                node.id, node.type, node.config, node.fields, feeding
            )
            position = _position(node.fields.get("ui"))
            missing_position |= position is None
            label = node.fields.get("label")
            if not isinstance(label, str) or not label.strip():
                label = None
            _checked(
                node.id, graph.add_block, block_type, params, position or (0.0, 0.0), node.id, label
            )
        for node in parsed.nodes:
            spec = graph.block(node.id).spec
            if len(set(node.inputs)) != len(node.inputs):
                raise ArchitectureFileError(f"node {node.id}: lists the same input twice")
            if spec.max_inputs is not None and len(node.inputs) > max(spec.max_inputs, 1):
                raise ArchitectureFileError(
                    f"node {node.id}: a {spec.label} block takes "
                    f"{'no inputs' if spec.max_inputs == 0 else 'one input'}, "
                    f"but the file gives {len(node.inputs)}"
                )
            for k, src in enumerate(node.inputs):
                if src not in graph:
                    raise ArchitectureFileError(
                        f"node {node.id}: input {describe(src)} is not a node"
                    )
                if src == node.id:
                    raise ArchitectureFileError(f"node {node.id}: a node cannot be its own input")
                _checked(node.id, graph.connect, src, node.id, k, allow_problems=True)
        if missing_position:
            graph.auto_arrange()


def _block_params(
    nid: str, engine_type: str, config: dict[str, Any], fields: Mapping[str, Any], feeding: set[str]
) -> tuple[str, dict[str, Any]]:
    """The block type and canonical parameters of one node."""
    block = fields.get("block")
    block_type = block or _guess_block_type(engine_type, nid not in feeding)
    spec = BLOCK_SPECS.get(block_type) if isinstance(block_type, str) else None
    if spec is None and block:
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
    _check_config(config, nid)
    params = spec.params_from_config(config, where=f"node {nid}")
    if spec.type == "Output":
        params["activation"] = "sigmoid" if engine_type == "Sigmoid" else "softmax"
    return spec.type, params


def _checked(nid: str, edit: Any, *args: Any, **kwargs: Any) -> Any:
    """``edit(*args, **kwargs)``, a graph edit refused as an ``ArchitectureFileError``."""
    try:
        return edit(*args, **kwargs)
    except ModelError as exc:
        raise ArchitectureFileError(f"node {nid}: {exc}") from None


def _check_config(config: Mapping[str, Any], nid: str) -> None:
    """Refuse what no block parameter can be before the registry quotes it in a message:
    an integer too long to print (over 4,300 digits) or a value nested in a list or
    object (nested thousands deep, quoting it exhausts Python's recursion limit). Every
    parameter is a number, a word, or a list of numbers and words (a pair, a shape)."""
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


def _position(ui: Any) -> tuple[float, float] | None:
    """The canvas position in a node's ``"ui"``, or ``None`` when it has no usable one."""
    if isinstance(ui, Mapping) and _is_number(ui.get("x")) and _is_number(ui.get("y")):
        return (float(ui["x"]), float(ui["y"]))
    return None


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an int beyond any float
        return False
