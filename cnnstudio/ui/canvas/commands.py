"""Undoable edits of the architecture graph.

Each command changes only the model (through :class:`Graph`'s methods, with the
inverses listed in ``cnnstudio.model.graph``); the canvas redraws from the graph's
events. Redo passes the same block ids again, so later commands on the stack keep
referring to the right blocks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtGui import QUndoCommand

from cnnstudio.model.graph import ROW_SPACING, Graph, Link, Removed

__all__ = [
    "AddBlock",
    "ApplyArchitecture",
    "AutoArrange",
    "Connect",
    "Disconnect",
    "GraphCommand",
    "InsertOnLink",
    "MoveBlocks",
    "Paste",
    "RemoveItems",
    "SetBlockLabel",
    "SetBlockParam",
]

_SET_PARAM_ID = 5101


class GraphCommand(QUndoCommand):
    """Base: :meth:`apply` and :meth:`revert` edit the graph; redo/undo call them.

    :meth:`first_apply` runs the edit *before* the command goes on the stack, so an
    edit the graph refuses (a loop, a value out of range) raises there and never
    leaves a broken entry behind; the stack's own first ``redo`` is then skipped.
    """

    _applied_once = False

    def apply(self) -> None:
        raise NotImplementedError

    def revert(self) -> None:
        raise NotImplementedError

    def first_apply(self) -> None:
        self.apply()
        self._applied_once = True

    def redo(self) -> None:
        if self._applied_once:
            self._applied_once = False
            return
        self.apply()

    def undo(self) -> None:
        self.revert()


def _label(graph: Graph, block_type: str) -> str:
    from cnnstudio.model.registry import block_spec

    return block_spec(block_type).label


class AddBlock(GraphCommand):
    """Add a block at ``position``, or, with ``after``, one row below that block and wired to it.

    ``after=""`` appends after the graph's last block (see :meth:`Graph.append_block`).
    """

    def __init__(
        self,
        graph: Graph,
        block_type: str,
        position: Sequence[float] = (0.0, 0.0),
        *,
        after: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"Add {_label(graph, block_type)}")
        self.graph = graph
        self.block_type = block_type
        self.position = tuple(position)
        self.after = after
        self.params = dict(params) if params else None
        self.block_id: str | None = None

    def apply(self) -> None:
        if self.after is None:
            block = self.graph.add_block(self.block_type, self.params, self.position, self.block_id)
        else:
            block = self.graph.append_block(
                self.block_type, self.params, self.after or None, self.block_id
            )
        self.block_id = block.id

    def revert(self) -> None:
        assert self.block_id is not None
        self.graph.remove_block(self.block_id)


class RemoveItems(GraphCommand):
    """Delete blocks (with their wires) and wires."""

    def __init__(self, graph: Graph, block_ids: Sequence[str], links: Sequence[Link] = ()) -> None:
        n = len(block_ids)
        what = f"{n} block{'s' if n != 1 else ''}" if n else f"{len(links)} link(s)"
        if n == 1:
            what = graph.block(block_ids[0]).label
        super().__init__(f"Delete {what}")
        self.graph = graph
        self.block_ids = list(block_ids)
        gone = set(block_ids)
        self.links = [lk for lk in links if lk.source not in gone and lk.target not in gone]
        self.removed: Removed | None = None

    def apply(self) -> None:
        with self.graph.batch():
            for link in self.links:
                self.graph.disconnect(link)
            self.removed = self.graph.remove_blocks(self.block_ids) if self.block_ids else None

    def revert(self) -> None:
        with self.graph.batch():
            if self.removed is not None:
                self.graph.restore(self.removed)
            for link in self.links:
                self.graph.connect(link.source, link.target, link.index)


class Connect(GraphCommand):
    """Draw a wire from ``source``'s output to ``target``'s input."""

    def __init__(self, graph: Graph, source: str, target: str, index: int | None = None) -> None:
        super().__init__(f"Connect {graph.block(source).label} to {graph.block(target).label}")
        self.graph = graph
        self.source, self.target, self.index = source, target, index
        self.link: Link | None = None

    def apply(self) -> None:
        self.link = self.graph.connect(self.source, self.target, self.index)
        self.index = self.link.index

    def revert(self) -> None:
        assert self.link is not None
        self.graph.disconnect(self.link)


class Disconnect(GraphCommand):
    """Remove wires."""

    def __init__(self, graph: Graph, links: Sequence[Link]) -> None:
        super().__init__("Disconnect" if len(links) == 1 else f"Disconnect {len(links)} links")
        self.graph = graph
        self.links = list(links)

    def apply(self) -> None:
        with self.graph.batch():
            for link in self.links:
                self.graph.disconnect(link)

    def revert(self) -> None:
        with self.graph.batch():
            for link in self.links:
                self.graph.connect(link.source, link.target, link.index)


class InsertOnLink(GraphCommand):
    """Put a new block on a wire, pushing the blocks below down a row when there is no room."""

    def __init__(
        self,
        graph: Graph,
        link: Link,
        block_type: str,
        position: Sequence[float] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"Insert {_label(graph, block_type)}")
        self.graph = graph
        self.link = link
        self.block_type = block_type
        self.position = (float(position[0]), float(position[1])) if position is not None else None
        self.params = dict(params) if params else None
        self.block_id: str | None = None
        self.moved: dict[str, tuple[float, float]] = {}

    def _layout(self) -> tuple[tuple[float, float], dict[str, tuple[float, float]]]:
        """Where the new block goes and which blocks must move down to make room."""
        g = self.graph
        sx, sy = g.block(self.link.source).position
        tx, ty = g.block(self.link.target).position
        if ty - sy >= 2 * ROW_SPACING - 1e-6:
            # A long wire (a skip connection, a spread-out chain): room enough already.
            if self.position is not None:
                return self.position, {}
            return ((sx + tx) / 2, (sy + ty) / 2), {}
        x = tx if len(g.inputs_of(self.link.target)) == 1 else sx
        pushed = {
            bid: (b.position[0], b.position[1] + ROW_SPACING)
            for bid, b in g.blocks.items()
            if b.position[1] >= ty - 1e-6
        }
        return (x, sy + ROW_SPACING), pushed

    def apply(self) -> None:
        position, pushed = self._layout()
        with self.graph.batch():
            block = self.graph.insert_on_link(
                self.link, self.block_type, self.params, position, self.block_id
            )
            self.moved = {bid: self.graph.block(bid).position for bid in pushed}
            self.graph.move_blocks(pushed)
        self.block_id = block.id

    def revert(self) -> None:
        assert self.block_id is not None
        with self.graph.batch():
            self.graph.remove_block(self.block_id)
            self.graph.connect(self.link.source, self.link.target, self.link.index)
            self.graph.move_blocks(self.moved)


class MoveBlocks(GraphCommand):
    """Blocks dragged to new places (one command per finished drag)."""

    def __init__(
        self,
        graph: Graph,
        old: Mapping[str, Sequence[float]],
        new: Mapping[str, Sequence[float]],
        text: str = "",
    ) -> None:
        n = len(new)
        super().__init__(text or ("Move block" if n == 1 else f"Move {n} blocks"))
        self.graph = graph
        self.old = {k: tuple(v) for k, v in old.items()}
        self.new = {k: tuple(v) for k, v in new.items()}

    def apply(self) -> None:
        self.graph.move_blocks(self.new)

    def revert(self) -> None:
        self.graph.move_blocks(self.old)


class AutoArrange(GraphCommand):
    """Lay the whole graph out top to bottom."""

    def __init__(self, graph: Graph) -> None:
        super().__init__("Auto-arrange")
        self.graph = graph
        self.old: dict[str, tuple[float, float]] = {}

    def apply(self) -> None:
        self.old = self.graph.auto_arrange()

    def revert(self) -> None:
        self.graph.move_blocks(self.old)


class SetBlockParam(GraphCommand):
    """Change one parameter of one block; consecutive changes of the same one merge.

    Scrubbing a spin box sends a value per step; merging them makes the whole scrub
    one entry on the undo stack (and an entry that ends where it started vanishes).
    """

    def __init__(self, graph: Graph, block_id: str, name: str, value: Any) -> None:
        block = graph.block(block_id)
        label = block.spec.param(name).label if name != "label" else "name"
        super().__init__(f"Set {block.label} {label.lower()}")
        self.graph = graph
        self.block_id = block_id
        self.name = name
        self.old = block.params[name]
        self.value = value

    #: Set when the user finished this edit (left the field, picked another block):
    #: a later change of the same parameter is then a new undo step.
    closed = False

    def id(self) -> int:
        return _SET_PARAM_ID

    def apply(self) -> None:
        self.graph.set_param(self.block_id, self.name, self.value)

    def revert(self) -> None:
        self.graph.set_param(self.block_id, self.name, self.old)

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetBlockParam) or self.closed:
            return False
        if (other.graph, other.block_id, other.name) != (self.graph, self.block_id, self.name):
            return False
        self.value = other.value
        if self.graph.block(self.block_id).params[self.name] == self.old:
            self.setObsolete(True)
        return True


class SetBlockLabel(GraphCommand):
    """Rename a block."""

    def __init__(self, graph: Graph, block_id: str, label: str) -> None:
        super().__init__("Rename block")
        self.graph = graph
        self.block_id = block_id
        self.old = graph.block(block_id).label
        self.label = label

    def apply(self) -> None:
        self.graph.set_label(self.block_id, self.label)

    def revert(self) -> None:
        self.graph.set_label(self.block_id, self.old)


class Paste(GraphCommand):
    """Paste copied blocks and the wires among them, shifted off the originals."""

    def __init__(
        self, graph: Graph, data: Mapping[str, Any], offset: Sequence[float] = (40.0, 40.0)
    ) -> None:
        n = len(data.get("blocks", ())) if isinstance(data, Mapping) else 0
        super().__init__(f"Paste {n} block{'s' if n != 1 else ''}")
        self.graph = graph
        self.data = data
        self.offset = tuple(offset)
        self.block_ids: list[str] = []

    def apply(self) -> None:
        # Fresh ids come from the graph's state, which undo restored: redo gets the same.
        self.block_ids = [b.id for b in self.graph.paste(self.data, self.offset)]

    def revert(self) -> None:
        self.graph.remove_blocks(self.block_ids)


class ApplyArchitecture(GraphCommand):
    """Replace the whole graph in place (a preset, an opened architecture file)."""

    def __init__(self, graph: Graph, arch: Mapping[str, Any], text: str) -> None:
        super().__init__(text)
        self.graph = graph
        self.arch = dict(arch)
        self.old: dict[str, Any] | None = None

    def apply(self) -> None:
        self.old = self.graph.to_architecture()
        self.graph.set_architecture(self.arch)

    def revert(self) -> None:
        assert self.old is not None
        self.graph.set_architecture(self.old)
