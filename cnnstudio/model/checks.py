"""Shape inference and validation of a block graph, in plain words.

:func:`infer` walks the graph once in topological order. Every output size comes
from the engine's own ``Layer.output_shape`` (one implementation of the
``(I + 2P − K)/S + 1`` arithmetic); this module only decides *which block* a problem
belongs to and rewords the engine's findings for a person who is building a network.

A fractional output size (``(I + 2P − K)/S`` not a whole number) is a *warning*, not
an error: the engine rounds down, as PyTorch does, and the last rows or columns of
the padded input are simply never covered. Common networks (a 5x5 map pooled by 2)
must still train.

Why one file of a little over 600 lines: the walk (`infer`), the structural checks
(cycles, inputs, outputs) and the plain-words messages for each kind of problem are
read together when a message needs changing; the shape arithmetic itself is the
engine's.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.layers import layer_from_config
from cnnstudio.engine.layers.base import format_shape as engine_format_shape
from cnnstudio.engine.shapes import check_network_size
from cnnstudio.model.registry import BLOCK_SPECS, BlockSpec

__all__ = ["BlockInfo", "NetworkInfo", "format_shape", "infer"]

Shape = tuple[int, ...]


class _BlockLike(Protocol):
    id: str
    type: str
    params: dict[str, Any]
    label: str


class _LinkLike(Protocol):
    @property
    def source(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def index(self) -> int: ...


def format_shape(shape: Sequence[int] | None) -> str:
    """A per-sample shape in the reference notes' notation: ``6@28x28``, ``120``, or ``?``."""
    return "?" if shape is None else engine_format_shape(shape)


@dataclass(frozen=True)
class BlockInfo:
    """What inference found out about one block.

    Attributes
    ----------
    output_shape : tuple of int or None
        Per-sample output shape, ``None`` when it cannot be known (an error here or
        upstream, or no input).
    shape_text : str
        ``output_shape`` as ``C@HxW`` (``6@28x28``), a vector length (``120``) or ``?``.
    input_shapes : tuple of shapes
        The shapes arriving at the block, in input order (empty when unknown).
    params : int
        Trainable parameters (0 when the shape is unknown).
    errors, warnings : tuple of str
        Plain sentences; an error keeps the network from training, a warning does not.
    formula : tuple of str
        For convolution and pooling, the output-size arithmetic with this block's
        numbers, one line per axis (for the inspector's formula card).
    """

    output_shape: Shape | None = None
    input_shapes: tuple[Shape, ...] = ()
    params: int = 0
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    formula: tuple[str, ...] = ()

    @property
    def shape_text(self) -> str:
        return format_shape(self.output_shape)

    @property
    def error(self) -> str | None:
        """The first error, or ``None``."""
        return self.errors[0] if self.errors else None

    @property
    def params_text(self) -> str:
        """Parameter count with thousands separators, e.g. ``48,120``."""
        return f"{self.params:,}"


@dataclass(frozen=True)
class NetworkInfo:
    """Inference results for the whole graph.

    Attributes
    ----------
    blocks : dict[str, BlockInfo]
        Per block id.
    problems : list of (block id or None, message)
        Every error, blocks in graph order; ``None`` for a problem of the whole
        network (empty, no Input).
    warnings : list of (block id, message)
    total_params : int
    """

    blocks: dict[str, BlockInfo] = field(default_factory=dict)
    problems: list[tuple[str | None, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    total_params: int = 0
    labels: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def is_valid(self) -> bool:
        """True when the network can be compiled and trained."""
        return not self.problems

    @property
    def reason(self) -> str | None:
        """The first problem as one sentence naming its block (the "why is Train disabled")."""
        if not self.problems:
            return None
        block_id, message = self.problems[0]
        if block_id is None:
            return message[0].upper() + message[1:]
        return f"{self.labels.get(block_id, block_id)}: {message}"

    @property
    def total_params_text(self) -> str:
        return f"{self.total_params:,}"


# -- the walk ---------------------------------------------------------------------------
@dataclass
class _Work:
    output: Shape | None = None
    inputs: tuple[Shape, ...] = ()
    params: int = 0
    weights: int = 0  # numbers in the engine layer's arrays (parameters and statistics)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    formula: tuple[str, ...] = ()


def infer(
    blocks: Mapping[str, _BlockLike],
    links: Sequence[_LinkLike],
    num_classes: int | None = None,
) -> NetworkInfo:
    """Infer every block's output shape and parameter count and find every problem.

    Parameters
    ----------
    blocks
        Block id -> block (``id``, ``type``, ``params``, ``label``), in graph order.
    links
        ``source``/``target`` ids with the input ``index`` at the target.
    num_classes
        Classes of the chosen dataset, if known: the Output must give that many scores.
    """
    labels = {bid: (b.label or bid) for bid, b in blocks.items()}
    if not blocks:
        return NetworkInfo(
            problems=[(None, "the network is empty; start with an Input block")], labels=labels
        )
    inputs: dict[str, list[_LinkLike]] = {bid: [] for bid in blocks}
    outputs: dict[str, list[str]] = {bid: [] for bid in blocks}
    for link in links:
        inputs[link.target].append(link)
        outputs[link.source].append(link.target)
    for lst in inputs.values():
        lst.sort(key=lambda link: link.index)

    work = {bid: _Work() for bid in blocks}
    global_problems: list[str] = []

    order, in_cycle = _topological(blocks, inputs, outputs)
    for cycle in _cycles([bid for bid in blocks if bid in in_cycle], outputs):
        # One message for the whole loop, naming at most a few of its blocks (a damaged
        # file's loop can run through 30,000 of them, every one showing the message).
        shown = (
            [labels[b] for b in cycle]
            if len(cycle) <= 8
            else [
                *(labels[b] for b in cycle[:4]),
                f"… {len(cycle) - 6} more …",
                *(labels[b] for b in cycle[-2:]),
            ]
        )
        message = (
            f"is part of a loop ({' → '.join([*shown, labels[cycle[0]]])}); data must flow "
            "one way, from the Input to the Output"
        )
        for bid in cycle:
            work[bid].errors.append(message)

    for bid in order:
        _infer_block(blocks[bid], inputs[bid], work, labels, num_classes)

    _check_structure(blocks, inputs, outputs, in_cycle, work, labels, global_problems)
    size_problem = _size_problem(work, labels)
    if size_problem:
        global_problems.append(size_problem)

    infos: dict[str, BlockInfo] = {}
    problems: list[tuple[str | None, str]] = [(None, msg) for msg in global_problems]
    warnings: list[tuple[str, str]] = []
    total = 0
    for bid in blocks:
        w = work[bid]
        infos[bid] = BlockInfo(
            output_shape=w.output,
            input_shapes=w.inputs,
            params=w.params,
            errors=tuple(w.errors),
            warnings=tuple(w.warnings),
            formula=w.formula,
        )
        problems.extend((bid, msg) for msg in w.errors)
        warnings.extend((bid, msg) for msg in w.warnings)
        total += w.params
    return NetworkInfo(
        blocks=infos, problems=problems, warnings=warnings, total_params=total, labels=labels
    )


def _topological(
    blocks: Mapping[str, Any], inputs: Mapping[str, list], outputs: Mapping[str, list[str]]
) -> tuple[list[str], set[str]]:
    """Kahn's order of the acyclic part (graph order among ready blocks) and the blocks left
    over, which lie on or after a cycle."""
    remaining = {bid: len(inputs[bid]) for bid in blocks}
    ready = deque(bid for bid in blocks if remaining[bid] == 0)
    order: list[str] = []
    while ready:
        bid = ready.popleft()
        order.append(bid)
        for nxt in outputs[bid]:
            remaining[nxt] -= 1
            if remaining[nxt] == 0:
                ready.append(nxt)
    placed = set(order)
    left = {bid for bid in blocks if bid not in placed}
    return order, left


def _cycles(ordered: list[str], outputs: Mapping[str, list[str]]) -> list[list[str]]:
    """The cycles among ``candidates`` (strongly connected parts with more than one block or a
    self-link), each as a path in link order; blocks merely downstream of a cycle are left out."""
    candidates = set(ordered)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(root: str) -> None:
        nonlocal counter
        # Iterative Tarjan: a network can be deep enough to hit the recursion limit.
        work = [(root, iter(outputs[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in candidates:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(outputs[nxt])))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in outputs[node]:
                    start = next(b for b in ordered if b in component)
                    found.append(_cycle_path(set(component), outputs, start))

    for bid in ordered:
        if bid not in index:
            visit(bid)
    return found


def _cycle_path(component: set[str], outputs: Mapping[str, list[str]], start: str) -> list[str]:
    """One loop through ``component`` for the message, starting at ``start``."""
    path = [start]
    node = start
    seen = {start}
    while True:
        nxt = next(n for n in outputs[node] if n in component)
        if nxt in seen:
            return path[path.index(nxt) :] if nxt != start else path
        path.append(nxt)
        seen.add(nxt)
        node = nxt


def _infer_block(
    block: _BlockLike,
    in_links: list[_LinkLike],
    work: dict[str, _Work],
    labels: Mapping[str, str],
    num_classes: int | None,
) -> None:
    spec = BLOCK_SPECS[block.type]
    w = work[block.id]
    params = block.params
    if spec.type == "Input":
        w.output = (params["channels"], params["height"], params["width"])
        if in_links:
            w.errors.append("the Input block takes no inputs; remove the link into it")
        return
    if not in_links:
        w.errors.append("has no input; connect a block above it")
        return
    if not spec.is_merge and len(in_links) > 1:
        w.errors.append(
            f"has {len(in_links)} inputs but takes one; join branches with an Add or "
            "Concatenate block"
        )
        return
    if spec.is_merge and len(in_links) < spec.min_inputs:
        w.errors.append(
            f"{spec.label} joins two or more branches but has only one input; "
            "connect a second branch or delete it"
        )
        return
    shapes = [work[link.source].output for link in in_links]
    if any(s is None for s in shapes):
        return  # the problem is upstream and is reported there
    in_shapes: list[Shape] = [s for s in shapes if s is not None]
    w.inputs = tuple(in_shapes)
    sources = [labels[link.source] for link in in_links]

    message = _precheck(spec, params, in_shapes, sources, num_classes)
    if message:
        w.errors.append(message)
        return
    engine_type, config = spec.to_engine(params)
    try:
        layer = layer_from_config(engine_type, config, name=block.id)
        in_shape = in_shapes if spec.is_merge else in_shapes[0]
        out = layer.output_shape(in_shape)
    except EngineError as exc:
        w.errors.append(_plain(spec, params, in_shapes[0], exc, block.id))
        return
    w.output = tuple(int(d) for d in out)
    w.weights = sum(math.prod(s) for s in layer.weight_shapes(in_shape).values())
    w.params = layer.parameter_count_for(in_shape)
    if spec.type in ("Conv2D", "MaxPool2D", "AvgPool2D"):
        w.formula, warnings = _window_arithmetic(spec, params, in_shapes[0])
        w.warnings.extend(warnings)
    if spec.type == "Flatten" and len(in_shapes[0]) == 1:
        w.warnings.append("its input is already a vector; Flatten changes nothing here")
    if spec.type == "Output" and params["activation"] == "softmax" and w.output == (1,):
        w.warnings.append(
            "softmax over a single score always gives 1; use one unit per class, or the "
            "sigmoid option for two classes"
        )


def _size_problem(work: Mapping[str, _Work], labels: Mapping[str, str]) -> str | None:
    """The engine's refusal of a network over its size limits, said before Train is
    pressed (``engine.shapes.check_network_size``), or ``None``."""
    weights: dict[str, int] = {}
    values: dict[str, int] = {}
    for bid, w in work.items():
        name = labels[bid] if labels[bid] not in values else f"{labels[bid]} ({bid})"
        weights[name] = w.weights
        values[name] = math.prod(w.output) if w.output is not None else 0
    try:
        check_network_size(weights, values)
    except EngineError as exc:
        return str(exc)
    return None


def _precheck(
    spec: BlockSpec,
    params: Mapping[str, Any],
    shapes: list[Shape],
    sources: list[str],
    num_classes: int | None,
) -> str | None:
    """Problems worth explaining better than the engine's message, or ``None``."""
    shape = shapes[0]
    if spec.type in ("Conv2D", "MaxPool2D", "AvgPool2D") and len(shape) != 3:
        what = "convolution" if spec.type == "Conv2D" else "pooling"
        return (
            f"needs an image (channels@height x width) but gets a vector of {format_shape(shape)}; "
            f"{what} must come before Flatten"
        )
    if spec.type == "Dense" and len(shape) != 1:
        return f"needs a vector but gets {format_shape(shape)}; add a Flatten block before it"
    if spec.type == "Add" and len(set(shapes)) > 1:
        listed = _listed(shapes, sources)
        return f"Add needs inputs of the same shape, but gets {listed}"
    if spec.type == "Concatenate":
        if len({len(s) for s in shapes}) > 1:
            return f"cannot join images and vectors: it gets {_listed(shapes, sources)}"
        if len({s[1:] for s in shapes}) > 1:
            return (
                "Concatenate stacks channels, so its inputs need the same height and width, "
                f"but gets {_listed(shapes, sources)}"
            )
    if spec.type == "Output":
        if len(shape) != 1:
            return (
                f"needs a vector of class scores but gets {format_shape(shape)}; add Flatten "
                "and a Dense block with one unit per class before it"
            )
        if params["activation"] == "sigmoid":
            if shape != (1,):
                return (
                    "the sigmoid output (two classes) needs exactly 1 unit before it, but gets "
                    f"{shape[0]}; set the last Dense block to 1 unit or choose softmax"
                )
            if num_classes is not None and num_classes != 2:
                return (
                    f"the sigmoid output is for 2 classes, but the dataset has {num_classes}; "
                    "choose softmax"
                )
        elif num_classes is not None and shape[0] != num_classes:
            return (
                f"the network gives {_count(shape[0], 'class score')} but the dataset has "
                f"{_count(num_classes, 'class')}; set the last Dense block to "
                f"{_count(num_classes, 'unit')}"
            )
    return None


def _listed(shapes: list[Shape], sources: list[str]) -> str:
    parts = [f"{format_shape(s)} (from {src})" for s, src in zip(shapes, sources, strict=True)]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _window(spec: BlockSpec, params: Mapping[str, Any]) -> tuple[str, tuple[int, int]]:
    if spec.type == "Conv2D":
        return "kernel", params["kernel_size"]
    return "pool window", params["pool_size"]


def _strides(spec: BlockSpec, params: Mapping[str, Any]) -> tuple[int, int]:
    stride = params["stride"]
    if stride is None:  # pooling default: the pool size
        return params["pool_size"]
    return stride


def _paddings(params: Mapping[str, Any]) -> tuple[int, int] | None:
    padding = params["padding"]
    if padding == "same":
        return None
    if padding == "valid":
        return (0, 0)
    return padding


def _plain(
    spec: BlockSpec, params: Mapping[str, Any], shape: Shape, exc: Exception, block_id: str
) -> str:
    """Reword an engine ``ShapeError`` for the block that raised it."""
    if spec.type in ("Conv2D", "MaxPool2D", "AvgPool2D") and len(shape) == 3:
        what, (kh, kw) = _window(spec, params)
        (sh, sw) = _strides(spec, params)
        pads = _paddings(params)
        if pads is not None:
            ph, pw = pads
            _, h, w = shape
            if spec.type != "Conv2D" and (ph >= kh or pw >= kw):
                return (
                    f"padding {ph}x{pw} must be smaller than the pool size {kh}x{kw}; a window "
                    "lying wholly in the padding would have nothing to pool"
                )
            for size, k, s, p in ((h, kh, sh, ph), (w, kw, sw, pw)):
                if size + 2 * p - k < 0:
                    padded = f" even with padding {ph}x{pw}" if (ph or pw) else ""
                    return (
                        f"{what} {kh}x{kw} does not fit the {h}x{w} input{padded}; "
                        f"output size ({size}+2·{p}−{k})/{s}+1 < 1"
                    )
    text = str(exc)
    prefix = f"{block_id}: "
    if text.startswith(prefix):
        text = text[len(prefix) :]
    return text


def _window_arithmetic(
    spec: BlockSpec, params: Mapping[str, Any], shape: Shape
) -> tuple[tuple[str, ...], list[str]]:
    """The formula lines for the inspector and the warnings about fractional sizes."""
    _, (kh, kw) = _window(spec, params)
    sh, sw = _strides(spec, params)
    pads = _paddings(params)
    _, h, w = shape
    lines: list[str] = []
    warnings: list[str] = []
    for axis, size, k, s, p, unit in (
        ("height", h, kh, sh, None if pads is None else pads[0], "row"),
        ("width", w, kw, sw, None if pads is None else pads[1], "column"),
    ):
        if p is None:
            out = -(-size // s)
            lines.append(f"{axis}: padding 'same' keeps ceil({size}/{s}) = {out}")
            continue
        span = size + 2 * p - k
        out = span // s + 1
        exact = span / s + 1
        if span % s == 0:
            lines.append(f"{axis}: ({size} + 2·{p} − {k})/{s} + 1 = {out}")
            continue
        lines.append(
            f"{axis}: ({size} + 2·{p} − {k})/{s} + 1 = {_short(exact)}, rounded down to {out}"
        )
        left = span % s
        warnings.append(
            f"output {axis} ({size}+2·{p}−{k})/{s}+1 = {_short(exact)} is not a whole number; "
            f"it is rounded down to {out}, so the last {left} {unit}{'s' if left > 1 else ''} "
            "of the padded input " + ("is" if left == 1 else "are") + " not covered"
        )
    return tuple(lines), warnings


def _short(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text if not math.isclose(value, round(value)) else str(round(value))


def _check_structure(
    blocks: Mapping[str, _BlockLike],
    inputs: Mapping[str, list[_LinkLike]],
    outputs: Mapping[str, list[str]],
    in_cycle: set[str],
    work: dict[str, _Work],
    labels: Mapping[str, str],
    global_problems: list[str],
) -> None:
    """Input/Output counts, blocks after the Output and branches that lead nowhere."""
    input_ids = [bid for bid, b in blocks.items() if b.type == "Input"]
    output_ids = [bid for bid, b in blocks.items() if b.type == "Output"]
    if not input_ids:
        global_problems.append("there is no Input block; add one at the top of the network")
    elif len(input_ids) > 1:
        names = ", ".join(labels[b] for b in input_ids)
        for bid in input_ids:
            work[bid].errors.append(
                f"one of {len(input_ids)} Input blocks ({names}); a network has exactly one "
                "Input, delete the others"
            )
    if len(output_ids) > 1:
        names = ", ".join(labels[b] for b in output_ids)
        for bid in output_ids:
            work[bid].errors.append(
                f"one of {len(output_ids)} Output blocks ({names}); a network has exactly one "
                "Output, delete the others or join the branches first"
            )

    after_output: set[str] = set()
    frontier = [n for bid in output_ids for n in outputs[bid]]
    for bid in output_ids:
        for nxt in outputs[bid]:
            if nxt not in output_ids:
                work[nxt].errors.append(
                    f"comes after the Output block ({labels[bid]}); the Output must be the "
                    "last block"
                )
    while frontier:
        node = frontier.pop()
        if node not in after_output:
            after_output.add(node)
            frontier.extend(outputs[node])

    sinks = [
        bid
        for bid in blocks
        if not outputs[bid] and bid not in after_output and blocks[bid].type != "Output"
    ]
    for bid in sinks:
        if bid in in_cycle:
            continue
        if not output_ids:
            work[bid].errors.append(
                "the network does not end in an Output block; add an Output block after this one"
            )
        else:
            work[bid].errors.append(
                "this branch ends here without reaching the Output; connect it onward or delete it"
            )
    if not output_ids and not sinks:
        global_problems.append("there is no Output block; add one at the end of the network")


def _count(n: int, noun: str) -> str:
    """``1 class``, ``3 classes``, ``1 unit``, ``10 units``."""
    if n == 1:
        return f"1 {noun}"
    return f"{n} {noun}es" if noun.endswith("s") else f"{n} {noun}s"
