"""A network's graph checked before anything is allocated: its structure (one Input,
one output, the right number of inputs per node, no cycle), its order, every node's
shape and the size limits; and the names of a chain's layers.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.layers import Input, Layer
from cnnstudio.engine.layers.base import Shape
from cnnstudio.engine.shapes import check_network_size, describe

__all__ = ["GraphPlan", "assign_names", "check_graph"]


@dataclass
class GraphPlan:
    """What ``check_graph`` finds out about a graph before anything is allocated."""

    order: list[str]
    by_id: dict[str, tuple[Layer, list[str]]]
    input_id: str
    shapes: dict[str, Shape]
    weight_shapes: dict[str, Shape]


def check_graph(specs: list[tuple[str, Layer, list[str]]]) -> GraphPlan:
    """Check the graph's structure, order it, infer every shape and check the size limits.

    Linear in the number of nodes and links, and allocation-free: a file declaring a
    huge layer, or 30,000 of them, is refused (or ordered) before any weight exists.
    """
    ids = [s[0] for s in specs]
    seen: set[str] = set()
    for nid in ids:
        if nid in seen:
            raise EngineError(f"node {nid}: duplicate node id")
        seen.add(nid)
    by_id = {nid: (layer, inputs) for nid, layer, inputs in specs}
    input_ids = [nid for nid, layer, _ in specs if isinstance(layer, Input)]
    if len(input_ids) != 1:
        raise EngineError(
            f"the network needs exactly one Input node, found {len(input_ids)}"
            + (f" ({_listed(input_ids)})" if input_ids else "")
        )
    consumers: dict[str, list[str]] = {nid: [] for nid in ids}
    for nid, layer, inputs in specs:
        for src in inputs:
            if src not in by_id:
                raise EngineError(f"node {nid}: input {describe(src)} is not a node of the network")
            consumers[src].append(nid)
        n = len(inputs)
        if layer.n_inputs == 0 and n:
            raise EngineError(f"node {nid}: an Input node takes no inputs, got {n}")
        if layer.n_inputs == 1 and n != 1:
            raise EngineError(f"node {nid}: {layer.type_name} takes exactly one input, got {n}")
        if layer.n_inputs == -1 and n < 2:
            raise EngineError(f"node {nid}: {layer.type_name} merges two or more inputs, got {n}")
    order = _stable_order(ids, by_id, consumers)
    sinks = [nid for nid in order if not consumers[nid]]
    if len(sinks) != 1:
        raise EngineError(
            f"the network needs exactly one output (a node nothing else reads), found "
            f"{len(sinks)}: {_listed(sinks)}"
        )
    shapes: dict[str, Shape] = {}
    weight_shapes: dict[str, Shape] = {}
    for nid in order:
        layer, inputs = by_id[nid]
        layer.name = nid
        in_shape: Any
        if isinstance(layer, Input):
            in_shape = None
        elif layer.n_inputs == -1:
            in_shape = [shapes[i] for i in inputs]
        else:
            in_shape = shapes[inputs[0]]
        shapes[nid] = tuple(int(d) for d in layer.output_shape(in_shape))
        for key, shape in layer.weight_shapes(in_shape).items():
            weight_shapes[f"{nid}.{key}"] = shape
    check_network_size(
        {key: math.prod(shape) for key, shape in weight_shapes.items()},
        {nid: math.prod(shape) for nid, shape in shapes.items()},
    )
    return GraphPlan(order, by_id, input_ids[0], shapes, weight_shapes)


def _stable_order(
    ids: list[str], by_id: dict[str, tuple[Layer, list[str]]], consumers: dict[str, list[str]]
) -> list[str]:
    """Topological order: by depth (the longest path from the Input), then by listing order.

    The order every network has always been built in (each node's random generator is
    drawn in this order, so the same seed keeps giving the same weights); found in one
    pass over the links instead of one pass over the nodes per depth.
    """
    waiting = {nid: len(by_id[nid][1]) for nid in ids}
    depth = {nid: 0 for nid in ids if not waiting[nid]}
    queue = deque(depth)
    while queue:
        nid = queue.popleft()
        for nxt in consumers[nid]:
            depth[nxt] = max(depth.get(nxt, 0), depth[nid] + 1)
            waiting[nxt] -= 1
            if not waiting[nxt]:
                queue.append(nxt)
    left = [nid for nid in ids if waiting[nid]]  # on a cycle, or after one
    if left:
        raise EngineError(f"the graph has a cycle through nodes {_listed(left)}")
    position = {nid: k for k, nid in enumerate(ids)}
    return sorted(ids, key=lambda nid: (depth[nid], position[nid]))


def _listed(names: list[str], most: int = 10) -> str:
    """Up to ``most`` names, then how many more (a damaged file can have thousands)."""
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def assign_names(layers: Iterable[Layer]) -> None:
    """Give every layer without an explicit name a unique one (``conv2d1``, ``relu2``...;
    ``input`` for the Input); ``EngineError`` for explicit names given twice."""
    layers = list(layers)
    explicit = [layer.name for layer in layers if not layer.auto_named]
    dup = {n for n, count in Counter(explicit).items() if count > 1}
    if dup:
        raise EngineError(f"Network: duplicate layer name(s) {', '.join(sorted(dup))}")
    taken = set(explicit)
    counters: dict[str, int] = {}
    for layer in layers:
        if not layer.auto_named:
            continue
        base = layer.type_name.lower()
        if isinstance(layer, Input) and "input" not in taken:
            layer.name = "input"
            taken.add("input")
            continue
        while True:
            counters[base] = counters.get(base, 0) + 1
            candidate = f"{base}{counters[base]}"
            if candidate not in taken:
                break
        layer.name = candidate
        taken.add(candidate)
