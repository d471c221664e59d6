"""The architecture graph the user edits: blocks, links, canvas positions, live inference.

Every method validates, stores, then emits on :attr:`Graph.events` (psygnal), and
every edit that can change a shape re-runs shape inference and emits
``inference_changed`` once. Views mirror the graph; undo commands call these methods
and nothing else. Each edit has an inverse made of the graph's own methods:

=================================  ===============================================
edit                               undo
=================================  ===============================================
``b = add_block(...)``             ``remove_block(b.id)``
``r = remove_block(id)``           ``restore(r)``
``r = remove_blocks(ids)``         ``restore(r)``
``link = connect(a, b, i)``        ``disconnect(link)``
``disconnect(link)``               ``connect(link.source, link.target, link.index)``
``b = insert_on_link(link, t)``    ``remove_block(b.id)`` then ``connect(link.source,
                                   link.target, link.index)``
``b = append_block(t)``            ``remove_block(b.id)``
``set_param(id, n, v)``            ``set_param(id, n, old)`` (read ``block.params[n]``
                                   first)
``set_label(id, t)``               ``set_label(id, old)``
``move_block(id, p)``              ``move_block(id, old)``
``old = auto_arrange()``           ``move_blocks(old)``
``set_input_shape(s)``             ``set_input_shape(old)`` (read ``input_shape`` first)
``bs = paste(data)``               ``remove_blocks([b.id for b in bs])``
``r = clear()``                    ``restore(r)``
=================================  ===============================================

Redo must pass the same ``block_id`` again so later commands keep referring to the
right block. After any such round trip :meth:`Graph.to_architecture` is equal to
what it was before.

Why one file of about 900 lines: ``Graph`` is one class whose edits all keep the same
private state consistent (the blocks, the links and the index of the links into each
block) and re-run inference once per edit or batch; split over files, that rule would
be too. Shape checks (``checks.py``), reading and writing architectures
(``architecture.py``) and the block table (``registry.py``) already live outside.
"""

from __future__ import annotations

import copy as _copy
import itertools
import math
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from psygnal import Signal, SignalGroup

from cnnstudio.engine.shapes import describe
from cnnstudio.model.architecture import graph_to_architecture, read_into
from cnnstudio.model.checks import BlockInfo, NetworkInfo, infer
from cnnstudio.model.errors import GraphError, ParamError
from cnnstudio.model.registry import BLOCK_SPECS, BlockSpec, block_spec

__all__ = [
    "BLOCK_HEIGHT",
    "BLOCK_WIDTH",
    "CLIPBOARD_FORMAT",
    "COLUMN_SPACING",
    "ROW_SPACING",
    "Block",
    "Graph",
    "GraphEvents",
    "Link",
    "Removed",
]

#: Canvas geometry the model lays blocks out with; positions are block *centres*.
BLOCK_WIDTH = 180.0
BLOCK_HEIGHT = 60.0
#: Distance between the centres of two rows / two side-by-side branches.
ROW_SPACING = 100.0
COLUMN_SPACING = 230.0

CLIPBOARD_FORMAT = "cnnstudio-blocks"
_ID_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass
class Block:
    """One block on the canvas. Read it freely; change it only through :class:`Graph`.

    Attributes
    ----------
    id : str
        Unique in the graph (``[A-Za-z0-9_.-]+``); the architecture node id.
    type : str
        Block type, a key of :data:`cnnstudio.model.registry.BLOCK_SPECS`.
    params : dict
        Canonical parameter values (see :mod:`cnnstudio.model.registry`).
    position : (float, float)
        Centre on the canvas, scene coordinates.
    label : str
        Display name, e.g. ``"Convolution 2"``.
    """

    id: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)
    position: tuple[float, float] = (0.0, 0.0)
    label: str = ""

    @property
    def spec(self) -> BlockSpec:
        return BLOCK_SPECS[self.type]

    def copy(self) -> Block:
        return Block(self.id, self.type, dict(self.params), self.position, self.label)


@dataclass(frozen=True)
class Link:
    """A wire from ``source``'s output to input number ``index`` of ``target``.

    ``index`` orders the inputs of a merge block (Add, Concatenate); it is 0 for every
    other block.
    """

    source: str
    target: str
    index: int = 0


@dataclass(frozen=True)
class Removed:
    """What :meth:`Graph.remove_block` took away; :meth:`Graph.restore` puts it back.

    ``blocks`` holds ``(position in graph order, block copy)`` pairs.
    """

    blocks: tuple[tuple[int, Block], ...]
    links: tuple[Link, ...]

    @property
    def block_ids(self) -> list[str]:
        return [b.id for _, b in self.blocks]


class GraphEvents(SignalGroup):
    """Signals of a :class:`Graph`."""

    block_added = Signal(object)  # Block
    block_removed = Signal(str)  # block id
    block_changed = Signal(str, str)  # block id, parameter name or "label"
    block_moved = Signal(str, tuple)  # block id, (x, y)
    link_added = Signal(object)  # Link
    link_removed = Signal(object)  # Link
    name_changed = Signal(str)
    inference_changed = Signal()  # graph.inference holds new results


def _finite_point(pos: Any, what: str) -> tuple[float, float]:
    try:
        x, y = pos
        x, y = float(x), float(y)
    except (TypeError, ValueError, OverflowError):
        raise GraphError(
            f"{what}: a position is a pair of finite numbers (x, y), got {describe(pos)}"
        ) from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise GraphError(f"{what}: position must be finite, got {describe(pos)}")
    return (x, y)


class Graph:
    """The architecture document: blocks, links, name, and live inference results.

    Parameters
    ----------
    name : str
        Architecture name (saved in files).
    """

    def __init__(self, name: str = "Untitled") -> None:
        self.events = GraphEvents()
        self._name = str(name)
        self.description = ""
        self._blocks: dict[str, Block] = {}
        self._links: list[Link] = []
        #: The links into each block that has any (connect checks them without a scan
        #: of every link, which loading a file of 30,000 blocks relies on).
        self._into: dict[str, list[Link]] = {}
        self._num_classes: int | None = None
        self._default_input_shape: tuple[int, int, int] | None = None
        self._batch_depth = 0
        self._dirty = False
        self._inference: NetworkInfo = infer({}, [])

    # -- reading ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def blocks(self) -> Mapping[str, Block]:
        """Read-only view of the blocks by id, in graph order."""
        return MappingProxyType(self._blocks)

    @property
    def links(self) -> tuple[Link, ...]:
        return tuple(self._links)

    def __len__(self) -> int:
        return len(self._blocks)

    def __contains__(self, block_id: object) -> bool:
        return block_id in self._blocks

    def block(self, block_id: str) -> Block:
        """The block ``block_id``; :class:`GraphError` if there is none."""
        try:
            return self._blocks[block_id]
        except (KeyError, TypeError):
            raise GraphError(f"there is no block {describe(block_id)}") from None

    def inputs_of(self, block_id: str) -> list[Link]:
        """Links into ``block_id``, in input order."""
        self.block(block_id)
        return sorted(self._into.get(block_id, ()), key=lambda k: k.index)

    def outputs_of(self, block_id: str) -> list[Link]:
        """Links out of ``block_id``."""
        self.block(block_id)
        return [lk for lk in self._links if lk.source == block_id]

    def link_between(self, source: str, target: str) -> Link | None:
        return next((lk for lk in self._into.get(target, ()) if lk.source == source), None)

    @property
    def inference(self) -> NetworkInfo:
        """The latest shape inference and validation results."""
        return self._inference

    def info(self, block_id: str) -> BlockInfo:
        """Inference results of one block."""
        self.block(block_id)
        return self._inference.blocks[block_id]

    @property
    def input_shape(self) -> tuple[int, int, int] | None:
        """The (first) Input block's ``(C, H, W)``, else the shape a new Input would get."""
        for block in self._blocks.values():
            if block.type == "Input":
                p = block.params
                return (p["channels"], p["height"], p["width"])
        return self._default_input_shape

    @property
    def num_classes(self) -> int | None:
        return self._num_classes

    # -- batching and inference -----------------------------------------------------------------
    @contextmanager
    def batch(self) -> Iterator[Graph]:
        """Group edits: inference runs (and ``inference_changed`` fires) once, at the end."""
        self._batch_depth += 1
        try:
            yield self
        finally:
            self._batch_depth -= 1
            if self._batch_depth == 0 and self._dirty:
                self._reinfer()

    def _changed(self) -> None:
        if self._batch_depth:
            self._dirty = True
        else:
            self._reinfer()

    def _reinfer(self) -> None:
        self._dirty = False
        self._inference = infer(self._blocks, self._links, self._num_classes)
        self.events.inference_changed.emit()

    # -- blocks ---------------------------------------------------------------------------------
    def _new_id(self, spec: BlockSpec) -> str:
        n = 1
        while f"{spec.id_prefix}{n}" in self._blocks:
            n += 1
        return f"{spec.id_prefix}{n}"

    def _default_label(self, spec: BlockSpec, block_id: str) -> str:
        match = re.fullmatch(re.escape(spec.id_prefix) + r"(\d+)", block_id)
        return f"{spec.label} {match.group(1)}" if match else spec.label

    def add_block(
        self,
        block_type: str,
        params: Mapping[str, Any] | None = None,
        position: Sequence[float] = (0.0, 0.0),
        block_id: str | None = None,
        label: str | None = None,
    ) -> Block:
        """Add a block (not yet connected) and return it.

        Parameters
        ----------
        block_type
            A key of ``BLOCK_SPECS`` (``"Conv2D"``, ``"Output"``...).
        params
            Values overriding the defaults; each is validated against its spec.
        position
            Centre on the canvas.
        block_id
            Keep this id (redo, paste, files); a fresh ``<prefix><n>`` by default.
        label
            Display name; ``"<spec label> <n>"`` by default.

        Raises
        ------
        GraphError
            Unknown type, bad or duplicate id, bad position.
        ParamError
            A parameter value outside its spec.
        """
        try:
            spec = block_spec(block_type)
        except ParamError as exc:
            raise GraphError(str(exc)) from None
        if block_id is None:
            block_id = self._new_id(spec)
        elif not isinstance(block_id, str) or not _ID_RE.match(block_id):
            raise GraphError(
                f"block id {describe(block_id)} is not allowed; use letters, digits, '_', '.' "
                "and '-'"
            )
        elif block_id in self._blocks:
            raise GraphError(f"there is already a block {block_id!r}")
        merged = dict(params or {})
        if spec.type == "Input" and self._default_input_shape:
            c, h, w = self._default_input_shape
            merged = {"channels": c, "height": h, "width": w, **merged}
        values = spec.validate_params(merged, block_id)
        pos = _finite_point(position, block_id)
        if label is None:
            label = self._default_label(spec, block_id)
        block = Block(block_id, spec.type, values, pos, str(label))
        self._blocks[block_id] = block
        self.events.block_added.emit(block)
        self._changed()
        return block

    def remove_block(self, block_id: str) -> Removed:
        """Remove a block and its links; return the record :meth:`restore` takes back."""
        return self.remove_blocks([block_id])

    def remove_blocks(self, block_ids: Iterable[str]) -> Removed:
        """Remove several blocks and every link touching them (one inference run)."""
        ids = list(dict.fromkeys(block_ids))
        for bid in ids:
            self.block(bid)
        position = {bid: k for k, bid in enumerate(self._blocks)}
        gone = set(ids)
        links = tuple(lk for lk in self._links if lk.source in gone or lk.target in gone)
        record = Removed(
            blocks=tuple(
                sorted(((position[b], self._blocks[b].copy()) for b in ids), key=lambda p: p[0])
            ),
            links=links,
        )
        with self.batch():
            # One pass over the links, not one search per removed link (clearing a graph
            # of 30,000 blocks must not take minutes).
            self._links = [
                lk for lk in self._links if lk.source not in gone and lk.target not in gone
            ]
            self._into = {}
            for lk in self._links:
                self._into.setdefault(lk.target, []).append(lk)
            for link in links:
                self.events.link_removed.emit(link)
            for bid in ids:
                del self._blocks[bid]
                self.events.block_removed.emit(bid)
            self._dirty = True
        return record

    def restore(self, removed: Removed) -> list[Block]:
        """Put back what :meth:`remove_block` / :meth:`remove_blocks` / :meth:`clear` removed.

        The blocks return to their old places in graph order, with their ids, params,
        positions, labels and links (input order included).
        """
        for _, block in removed.blocks:
            if block.id in self._blocks:
                raise GraphError(f"cannot restore {block.id!r}: a block with that id exists")
        known = set(self._blocks) | set(removed.block_ids)
        for link in removed.links:
            if link.source not in known or link.target not in known:
                raise GraphError(
                    f"cannot restore the link {link.source!r} -> {link.target!r}: "
                    "a block it joins is gone"
                )
        restored: list[Block] = []
        with self.batch():
            # Merge the blocks back by their old indices (ascending): each lands where it was.
            kept = iter(self._blocks.items())
            items: list[tuple[str, Block]] = []
            for index, block in sorted(removed.blocks, key=lambda p: p[0]):
                items.extend(itertools.islice(kept, max(index - len(items), 0)))
                fresh = block.copy()
                items.append((fresh.id, fresh))
                restored.append(fresh)
            items.extend(kept)
            self._blocks = dict(items)
            for block in restored:
                self.events.block_added.emit(block)
            present = set(self._links)
            for link in removed.links:
                if link not in present:
                    present.add(link)
                    self._add_link(link)
            self._dirty = True
        return restored

    def clear(self) -> Removed:
        """Remove everything; ``restore`` the returned record to undo."""
        return self.remove_blocks(list(self._blocks))

    # -- links ------------------------------------------------------------------------------
    def _add_link(self, link: Link) -> None:
        self._links.append(link)
        self._into.setdefault(link.target, []).append(link)
        self.events.link_added.emit(link)

    def _drop_link(self, link: Link) -> None:
        self._links.remove(link)
        self._into[link.target].remove(link)
        self.events.link_removed.emit(link)

    def can_connect(self, source: str, target: str, index: int | None = None) -> str | None:
        """Why ``connect(source, target, index)`` would fail, or ``None`` if it would work."""
        try:
            self._check_link(source, target, index)
        except GraphError as exc:
            return str(exc)
        return None

    def _check_link(
        self, source: str, target: str, index: int | None, allow_problems: bool = False
    ) -> int:
        src, dst = self.block(source), self.block(target)
        spec = dst.spec
        if source == target:
            raise GraphError(f"{src.label} cannot feed itself")
        if spec.max_inputs == 0 and not allow_problems:
            raise GraphError(f"the {spec.label} block takes no inputs")
        if self.link_between(source, target):
            raise GraphError(f"{src.label} is already connected to {dst.label}")
        existing = self.inputs_of(target)
        if not spec.is_merge:
            if existing:
                other = self.block(existing[0].source).label
                raise GraphError(
                    f"{dst.label} already has an input (from {other}); remove that link first, "
                    "or join the branches with an Add or Concatenate block"
                )
            if index not in (None, 0):
                raise GraphError(f"{dst.label} has a single input (index 0), not {describe(index)}")
            index = 0
        elif index is None:
            index = max((lk.index for lk in existing), default=-1) + 1
        elif isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise GraphError(f"an input index is a whole number from 0, got {describe(index)}")
        elif any(lk.index == index for lk in existing):
            raise GraphError(f"input {index} of {dst.label} is already connected")
        if allow_problems:
            return index
        path = self._path(target, source)
        if path is not None:
            loop = " → ".join(self._blocks[b].label for b in [source, *path])
            raise GraphError(
                f"linking {src.label} to {dst.label} would make a loop ({loop}); data must flow "
                "one way, from the Input to the Output"
            )
        return index

    def _path(self, start: str, goal: str) -> list[str] | None:
        """A path of block ids from ``start`` to ``goal`` along links, or ``None``."""
        nexts: dict[str, list[str]] = {}
        for lk in self._links:
            nexts.setdefault(lk.source, []).append(lk.target)
        parent: dict[str, str | None] = {start: None}
        frontier = deque([start])
        while frontier:
            node = frontier.popleft()
            if node == goal:
                path = [node]
                while parent[path[-1]] is not None:
                    path.append(parent[path[-1]])  # type: ignore[arg-type]
                return path[::-1]
            for nxt in nexts.get(node, []):
                if nxt not in parent:
                    parent[nxt] = node
                    frontier.append(nxt)
        return None

    def connect(
        self,
        source: str,
        target: str,
        index: int | None = None,
        *,
        allow_problems: bool = False,
    ) -> Link:
        """Link ``source``'s output to ``target`` and return the new :class:`Link`.

        ``index`` is the input slot of a merge block (appended after the others by
        default); other blocks take a single input, slot 0.

        ``allow_problems=True`` keeps a link that closes a loop or feeds the Input
        instead of refusing it: a file may hold one, and inference then shows it as a
        problem the user fixes on the canvas. The other rules still hold.

        Raises
        ------
        GraphError
            Unknown block, self-link, duplicate link, a second input into a non-merge
            block, a link into the Input, a taken slot, or a cycle; in plain words.
        """
        index = self._check_link(source, target, index, allow_problems)
        link = Link(source, target, index)
        self._add_link(link)
        self._changed()
        return link

    def disconnect(self, link: Link) -> None:
        """Remove ``link``; :class:`GraphError` if the graph has no such link."""
        if link not in self._links:
            raise GraphError(f"there is no link from {link.source!r} to {link.target!r}")
        self._drop_link(link)
        self._changed()

    def insert_on_link(
        self,
        link: Link,
        block_type: str,
        params: Mapping[str, Any] | None = None,
        position: Sequence[float] | None = None,
        block_id: str | None = None,
    ) -> Block:
        """Put a new block on ``link``: ``source -> new -> target`` (same input slot).

        ``position`` defaults to the middle of the wire.
        """
        if link not in self._links:
            raise GraphError(f"there is no link from {link.source!r} to {link.target!r}")
        spec = block_spec(block_type) if block_type in BLOCK_SPECS else None
        if spec is not None and spec.max_inputs == 0:
            raise GraphError(f"the {spec.label} block takes no inputs, so it cannot go on a wire")
        if position is None:
            (x1, y1), (x2, y2) = self.block(link.source).position, self.block(link.target).position
            position = ((x1 + x2) / 2, (y1 + y2) / 2)
        with self.batch():
            block = self.add_block(block_type, params, position, block_id)
            self._drop_link(link)
            self.connect(link.source, block.id, 0)
            self.connect(block.id, link.target, link.index)
        return block

    def append_block(
        self,
        block_type: str,
        params: Mapping[str, Any] | None = None,
        after: str | None = None,
        block_id: str | None = None,
    ) -> Block:
        """Add a block one row below ``after`` (default: the last block) and connect it.

        The last block is the lowest block on the canvas that feeds nothing. In an
        empty graph the block goes to (0, 0) unconnected; an Input is never connected.
        """
        anchor = self.block(after) if after is not None else self.last_block()
        if anchor is None:
            return self.add_block(block_type, params, (0.0, 0.0), block_id)
        x, y = anchor.position
        with self.batch():
            block = self.add_block(block_type, params, (x, y + ROW_SPACING), block_id)
            if block.type != "Input":
                try:
                    self.connect(anchor.id, block.id)
                except GraphError:
                    self._undo_add(block.id)
                    raise
        return block

    def _undo_add(self, block_id: str) -> None:
        del self._blocks[block_id]
        self.events.block_removed.emit(block_id)
        self._dirty = True

    def last_block(self) -> Block | None:
        """The block :meth:`append_block` attaches to: the lowest one that feeds nothing."""
        feeding = {lk.source for lk in self._links}
        ends = [b for b in self._blocks.values() if b.id not in feeding] or list(
            self._blocks.values()
        )
        if not ends:
            return None
        order = {bid: k for k, bid in enumerate(self._blocks)}
        return max(ends, key=lambda b: (b.position[1], order[b.id]))

    # -- parameters, labels, positions ---------------------------------------------------------
    def set_param(self, block_id: str, name: str, value: Any) -> None:
        """Validate ``value`` against the parameter's spec, store it, emit, re-infer.

        Raises
        ------
        ParamError
            Unknown parameter or a value outside its limits (the message names both).
        """
        self.set_params(block_id, {name: value})

    def set_params(self, block_id: str, values: Mapping[str, Any]) -> None:
        """Set several parameters of one block at once (all validated before any is stored)."""
        block = self.block(block_id)
        spec = block.spec
        checked = {name: spec.param(name).validate(v, block.label) for name, v in values.items()}
        changed = [n for n, v in checked.items() if block.params[n] != v]
        if not changed:
            return
        for name in changed:
            block.params[name] = checked[name]
        for name in changed:
            self.events.block_changed.emit(block_id, name)
        self._changed()

    def set_label(self, block_id: str, label: str) -> None:
        """Rename a block on the canvas (problems name blocks by label, so this re-infers)."""
        block = self.block(block_id)
        label = str(label).strip() or block.spec.label
        if label == block.label:
            return
        block.label = label
        self.events.block_changed.emit(block_id, "label")
        self._changed()

    def move_block(self, block_id: str, position: Sequence[float]) -> None:
        """Move a block's centre to ``position``; shapes do not depend on it (no re-inference)."""
        block = self.block(block_id)
        pos = _finite_point(position, block.label)
        if pos == block.position:
            return
        block.position = pos
        self.events.block_moved.emit(block_id, pos)

    def move_blocks(self, positions: Mapping[str, Sequence[float]]) -> None:
        """Move several blocks (e.g. undo of :meth:`auto_arrange`)."""
        checked = {bid: _finite_point(p, bid) for bid, p in positions.items()}
        for bid in checked:
            self.block(bid)
        for bid, pos in checked.items():
            self.move_block(bid, pos)

    def set_name(self, name: str) -> None:
        name = str(name)
        if name != self._name:
            self._name = name
            self.events.name_changed.emit(name)

    def set_input_shape(self, shape: Sequence[int]) -> None:
        """Give the Input block the dataset's ``(C, H, W)``; remembered for a later Input.

        Raises
        ------
        ParamError
            A shape that is not three sizes within the Input block's limits.
        """
        try:
            c, h, w = (int(v) for v in shape)
        except (TypeError, ValueError):
            raise ParamError(
                f"an input shape is (channels, height, width), got {describe(shape)}"
            ) from None
        values = block_spec("Input").validate_params(
            {"channels": c, "height": h, "width": w}, "Input"
        )
        self._default_input_shape = (values["channels"], values["height"], values["width"])
        with self.batch():
            for block in list(self._blocks.values()):
                if block.type == "Input":
                    self.set_params(block.id, values)

    def set_num_classes(self, num_classes: int | None) -> None:
        """Tell inference how many classes the dataset has (the Output must match)."""
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1
        ):
            raise ParamError(
                "the number of classes must be a positive whole number, got "
                f"{describe(num_classes)}"
            )
        if num_classes != self._num_classes:
            self._num_classes = num_classes
            self._changed()

    # -- layout ---------------------------------------------------------------------------------
    def auto_arrange(self) -> dict[str, tuple[float, float]]:
        """Lay the graph out top to bottom; return the old positions of the blocks that moved.

        Rows follow the longest path from the top; blocks of one row sit side by side,
        each near the mean column of the blocks feeding it, so a chain is one straight
        column and parallel branches stand next to each other.
        """
        new = layout_positions(list(self._blocks), self._links)
        old = {
            bid: self._blocks[bid].position
            for bid, pos in new.items()
            if self._blocks[bid].position != pos
        }
        for bid in old:
            self.move_block(bid, new[bid])
        return old

    # -- copy and paste ---------------------------------------------------------------------------
    def copy(self, block_ids: Iterable[str]) -> dict[str, Any]:
        """Serialise some blocks and the links among them (a JSON-able clipboard dict)."""
        wanted = set(block_ids)
        ids = [bid for bid in self._blocks if bid in wanted]
        chosen = set(ids)
        nodes = []
        for bid in ids:
            block = self._blocks[bid]
            nodes.append(
                {
                    "id": bid,
                    "type": block.type,
                    "params": _copy.deepcopy({k: _plain(v) for k, v in block.params.items()}),
                    "label": block.label,
                    "ui": {"x": block.position[0], "y": block.position[1]},
                }
            )
        links = [
            {"source": lk.source, "target": lk.target, "index": lk.index}
            for lk in self._links
            if lk.source in chosen and lk.target in chosen
        ]
        return {"format": CLIPBOARD_FORMAT, "version": 1, "blocks": nodes, "links": links}

    def paste(self, data: Mapping[str, Any], offset: Sequence[float] = (40.0, 40.0)) -> list[Block]:
        """Add copies of clipboard blocks with fresh ids, shifted by ``offset``.

        Labels are renumbered when they were default labels. Returns the new blocks
        (undo: ``remove_blocks`` of their ids).

        Raises
        ------
        GraphError
            When ``data`` is not a clipboard dict from :meth:`copy`.
        """
        if not isinstance(data, Mapping) or data.get("format") != CLIPBOARD_FORMAT:
            raise GraphError("the clipboard does not hold CNN Studio blocks")
        dx, dy = _finite_point(offset, "paste offset")
        try:
            nodes = list(data["blocks"])
            links = list(data.get("links", []))
            with self.batch():
                new_ids: dict[str, str] = {}
                added: list[Block] = []
                for node in nodes:
                    spec = block_spec(node["type"])
                    new_id = self._new_id(spec)
                    old_label = node.get("label", "")
                    label = (
                        None if old_label == self._default_label(spec, node["id"]) else old_label
                    )
                    x, y = node.get("ui", {}).get("x", 0.0), node.get("ui", {}).get("y", 0.0)
                    block = self.add_block(
                        spec.type, node.get("params"), (x + dx, y + dy), new_id, label
                    )
                    new_ids[node["id"]] = new_id
                    added.append(block)
                for lk in links:
                    self.connect(new_ids[lk["source"]], new_ids[lk["target"]], lk.get("index"))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, GraphError):
                raise
            raise GraphError(f"the clipboard data is damaged: {exc}") from None
        return added

    # -- architecture dicts ----------------------------------------------------------------------
    def to_architecture(self) -> dict[str, Any]:
        """The architecture dict of ``docs/file-formats.md``, with canvas positions and labels
        (:func:`cnnstudio.model.architecture.graph_to_architecture`)."""
        return graph_to_architecture(self)

    @classmethod
    def from_architecture(cls, arch: Mapping[str, Any]) -> Graph:
        """Build a graph from an architecture dict (positions kept, or laid out if absent;
        :func:`cnnstudio.model.architecture.read_into`).

        Raises
        ------
        ArchitectureFileError
            Naming the node and the problem.
        """
        graph = cls()
        read_into(graph, arch)
        return graph

    def set_architecture(self, arch: Mapping[str, Any]) -> None:
        """Replace the whole content with ``arch`` in place (emits removals, then additions)."""
        other = Graph.from_architecture(arch)
        with self.batch():
            self.clear()
            self.set_name(other.name)
            self.description = other.description
            for block in other._blocks.values():
                self._blocks[block.id] = block
                self.events.block_added.emit(block)
            for link in other._links:
                self._add_link(link)
            self._dirty = True

    def __repr__(self) -> str:
        return f"Graph({self._name!r}, {len(self._blocks)} blocks, {len(self._links)} links)"


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def layout_positions(
    block_ids: Sequence[str], links: Sequence[Link]
) -> dict[str, tuple[float, float]]:
    """Top-to-bottom layered positions (block centres) for :meth:`Graph.auto_arrange`.

    A block's row is the length of the longest path reaching it; inside a row blocks
    are ordered by the mean column of their sources and spaced :data:`COLUMN_SPACING`
    apart. Blocks on a cycle (only possible in a loaded file) get rows after the rest.
    """
    parents: dict[str, list[str]] = {bid: [] for bid in block_ids}
    children: dict[str, list[str]] = {bid: [] for bid in block_ids}
    for lk in sorted(links, key=lambda k: k.index):
        parents[lk.target].append(lk.source)
        children[lk.source].append(lk.target)
    remaining = {bid: len(parents[bid]) for bid in block_ids}
    row: dict[str, int] = {}
    ready = deque(bid for bid in block_ids if remaining[bid] == 0)
    while ready:
        bid = ready.popleft()
        row[bid] = max((row[p] + 1 for p in parents[bid] if p in row), default=0)
        for child in children[bid]:
            remaining[child] -= 1
            if remaining[child] == 0:
                ready.append(child)
    last = max(row.values(), default=-1)
    for bid in block_ids:
        if bid not in row:
            last += 1
            row[bid] = last
    # Long wires (a shortcut over several rows) get a placeholder in every row they cross,
    # so the rows make room for them and a skip connection runs beside the blocks it
    # skips rather than through them. The placeholders are bounded by a few per block: a
    # file whose every block links back to the top would otherwise need rows x links of
    # them (wires beyond the budget simply cross the blocks).
    order: dict[Any, int] = {bid: k for k, bid in enumerate(block_ids)}
    vparents: dict[Any, list[Any]] = {bid: [] for bid in block_ids}
    vrow: dict[Any, int] = dict(row)
    budget = 8 * len(block_ids) + 1000
    for lk in sorted(links, key=lambda k: k.index):
        prev: Any = lk.source
        crossed = range(row[lk.source] + 1, row[lk.target])
        if len(crossed) > budget:
            crossed = range(0)
        budget -= len(crossed)
        for r in crossed:
            dummy = ("wire", lk.source, lk.target, r)
            vparents[dummy] = [prev]
            vrow[dummy] = r
            order[dummy] = len(order)
            prev = dummy
        vparents[lk.target].append(prev)
    rows: dict[int, list[Any]] = {}
    for node in vparents:
        rows.setdefault(vrow[node], []).append(node)
    x: dict[Any, float] = {}
    for r in sorted(rows):
        members = rows[r]

        def wanted(node: Any) -> float:
            placed = [x[p] for p in vparents[node] if p in x]
            return sum(placed) / len(placed) if placed else 0.0

        members.sort(key=lambda b: (wanted(b), order[b]))
        targets = [wanted(b) for b in members]
        # Start from the ideal spots and push right to keep COLUMN_SPACING, then centre the
        # row on the mean of its ideal spots so branches fan out around their source.
        xs: list[float] = []
        for t in targets:
            xs.append(t if not xs else max(t, xs[-1] + COLUMN_SPACING))
        shift = sum(targets) / len(targets) - sum(xs) / len(xs)
        for node, value in zip(members, xs, strict=True):
            x[node] = value + shift
    return {bid: (round(x[bid], 1) + 0.0, float(row[bid] * ROW_SPACING)) for bid in block_ids}
