"""The canvas scene: one item per block and per link of a :class:`Graph`, nothing more.

The scene listens to the graph's events and adds, removes, moves and relabels its
items to match. It never edits the graph: finished gestures (a move, a wire drawn
port to port) come out as signals, and the build view turns them into undoable
commands.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import (
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsSceneMouseEvent,
    QWidget,
)

from cnnstudio.model.graph import Block, Graph, Link
from cnnstudio.ui.canvas._signals import ModelConnections
from cnnstudio.ui.canvas.qt_items import (
    BLOCK_HEIGHT,
    BLOCK_WIDTH,
    QtBlockItem,
    QtLinkItem,
    QtPortItem,
    link_path,
)

__all__ = ["QtGraphScene", "block_summary"]


def block_summary(block: Block) -> str:
    """The key parameters of a block in a few words: ``6 filters 5x5 pad 2`` (the engine
    layer says them: ``BlockSpec.summary``)."""
    return block.spec.summary(block.params)


class QtGraphScene(QGraphicsScene):
    """A QGraphicsScene mirroring one :class:`Graph`.

    Signals
    -------
    connect_requested(str, str)
        The user drew a wire from the first block's output to the second's input.
    move_finished(dict, dict)
        A drag of blocks ended: ``{id: (x, y)}`` old and new centres.
    rename_requested(str)
        A block was double-clicked (the view focuses its name field).
    """

    connect_requested = Signal(str, str)
    move_finished = Signal(dict, dict)
    rename_requested = Signal(str)

    def __init__(self, graph: Graph | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        self.setBackgroundBrush(QColor("#f4f5f7"))
        self.graph: Graph | None = None
        self._blocks: dict[str, QtBlockItem] = {}
        self._links: dict[Link, QtLinkItem] = {}
        self._connections = ModelConnections(self)
        self._press_positions: dict[str, tuple[float, float]] = {}
        self._wire_from: QtPortItem | None = None
        self._wire: QGraphicsPathItem | None = None
        self._wire_target: QtPortItem | None = None
        self._updating = False
        if graph is not None:
            self.set_graph(graph)

    # -- binding ---------------------------------------------------------------------------
    def set_graph(self, graph: Graph | None) -> None:
        """Mirror ``graph`` (dropping every item of the previous one)."""
        self.unbind()
        self.clear()
        self._blocks.clear()
        self._links.clear()
        self.graph = graph
        if graph is None:
            return
        ev = graph.events
        for signal, slot in (
            (ev.block_added, self._on_block_added),
            (ev.block_removed, self._on_block_removed),
            (ev.block_changed, self._on_block_changed),
            (ev.block_moved, self._on_block_moved),
            (ev.link_added, self._on_link_added),
            (ev.link_removed, self._on_link_removed),
            (ev.inference_changed, self._on_inference_changed),
        ):
            self._connections.connect(signal, slot)
        for block in graph.blocks.values():
            self._on_block_added(block)
        for link in graph.links:
            self._on_link_added(link)
        self._on_inference_changed()

    def unbind(self) -> None:
        """Stop listening to the graph."""
        self._connections.clear()

    # -- lookup ----------------------------------------------------------------------------
    def block_item(self, block_id: str) -> QtBlockItem:
        return self._blocks[block_id]

    def block_items(self) -> dict[str, QtBlockItem]:
        return dict(self._blocks)

    def link_item(self, link: Link) -> QtLinkItem:
        return self._links[link]

    def link_items(self) -> dict[Link, QtLinkItem]:
        return dict(self._links)

    def link_for_item(self, item: QtLinkItem) -> Link | None:
        return next((lk for lk, it in self._links.items() if it is item), None)

    def selected_block_ids(self) -> list[str]:
        """Selected blocks, in graph order."""
        chosen = {it.block_id for it in self.selectedItems() if isinstance(it, QtBlockItem)}
        order = list(self.graph.blocks) if self.graph is not None else []
        return [bid for bid in order if bid in chosen]

    def selected_links(self) -> list[Link]:
        return [lk for lk, it in self._links.items() if it.isSelected()]

    def select_blocks(self, block_ids: list[str]) -> None:
        """Select exactly these blocks."""
        wanted = set(block_ids)
        self.blockSignals(True)
        try:
            for item in self.selectedItems():
                item.setSelected(False)
            for bid in wanted:
                if bid in self._blocks:
                    self._blocks[bid].setSelected(True)
        finally:
            self.blockSignals(False)
        self.selectionChanged.emit()

    def link_at(self, pos: QPointF) -> Link | None:
        """The wire under ``pos`` (scene coordinates), ignoring blocks in the way."""
        for item in self.items(pos, Qt.ItemSelectionMode.IntersectsItemShape):
            if isinstance(item, QtLinkItem):
                return self.link_for_item(item)
        return None

    def block_at(self, pos: QPointF) -> QtBlockItem | None:
        for item in self.items(pos):
            if isinstance(item, QtBlockItem):
                return item
            if isinstance(item, QtPortItem):
                return item.block
        return None

    def blocks_rect(self) -> QRectF:
        """The rectangle holding every block (empty when there are none)."""
        rect = QRectF()
        for item in self._blocks.values():
            rect = rect.united(item.sceneBoundingRect())
        return rect

    # -- graph events ----------------------------------------------------------------------
    def _on_block_added(self, block: Block) -> None:
        item = QtBlockItem(block.id, block.spec)
        self._blocks[block.id] = item
        self.addItem(item)
        self._place(item, block.position)
        item.set_content(block.label, block_summary(block))
        if self.graph is not None and block.id in self.graph.inference.blocks:
            item.set_info(self.graph.inference.blocks[block.id])

    def _on_block_removed(self, block_id: str) -> None:
        item = self._blocks.pop(block_id, None)
        if item is None:
            return
        for link, link_item in list(self._links.items()):
            if link_item.source is item or link_item.target is item:
                self._drop_link(link)
        self.removeItem(item)

    def _on_block_changed(self, block_id: str, _name: str) -> None:
        item = self._blocks.get(block_id)
        if item is not None and self.graph is not None:
            block = self.graph.block(block_id)
            item.set_content(block.label, block_summary(block))

    def _on_block_moved(self, block_id: str, position: tuple) -> None:
        item = self._blocks.get(block_id)
        if item is not None:
            self._place(item, position)
            self._refresh_wires()

    def _on_link_added(self, link: Link) -> None:
        source, target = self._blocks.get(link.source), self._blocks.get(link.target)
        if source is None or target is None or link in self._links:
            return
        item = QtLinkItem(source, target)
        self._links[link] = item
        self.addItem(item)
        self._refresh_wires()

    def _on_link_removed(self, link: Link) -> None:
        self._drop_link(link)
        self._refresh_wires()

    def _drop_link(self, link: Link) -> None:
        item = self._links.pop(link, None)
        if item is not None:
            item.detach()
            self.removeItem(item)

    def _on_inference_changed(self) -> None:
        if self.graph is None:
            return
        infos = self.graph.inference.blocks
        for bid, item in self._blocks.items():
            item.set_info(infos.get(bid))

    def _place(self, item: QtBlockItem, center: tuple | QPointF) -> None:
        x, y = (center.x(), center.y()) if isinstance(center, QPointF) else center
        self._updating = True
        try:
            item.setPos(x - BLOCK_WIDTH / 2, y - BLOCK_HEIGHT / 2)
        finally:
            self._updating = False

    def _refresh_wires(self) -> None:
        # Detours depend on where every block is, so a move can reshape any wire.
        for item in self._links.values():
            item.update_path()

    @staticmethod
    def item_center(item: QtBlockItem) -> tuple[float, float]:
        pos = item.pos()
        return (round(pos.x() + BLOCK_WIDTH / 2, 1), round(pos.y() + BLOCK_HEIGHT / 2, 1))

    # -- gestures: moving and wiring ---------------------------------------------------------
    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            port = self._port_at(event.scenePos())
            if port is not None:
                self._start_wire(port)
                event.accept()
                return
        super().mousePressEvent(event)
        if event.button() == Qt.MouseButton.LeftButton:
            self._press_positions = {
                it.block_id: self.item_center(it)
                for it in self.selectedItems()
                if isinstance(it, QtBlockItem)
            }

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._wire_from is not None:
            self._update_wire(event.scenePos())
            event.accept()
            return
        super().mouseMoveEvent(event)
        if self._press_positions:
            self._refresh_wires()

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._wire_from is not None and event.button() == Qt.MouseButton.LeftButton:
            self._finish_wire(event.scenePos())
            event.accept()
            return
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and self._press_positions:
            old, new = {}, {}
            for bid, before in self._press_positions.items():
                item = self._blocks.get(bid)
                if item is None:
                    continue
                after = self.item_center(item)
                if after != before:
                    old[bid], new[bid] = before, after
            self._press_positions = {}
            if new:
                self.move_finished.emit(old, new)

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        block = self.block_at(event.scenePos())
        if block is not None and event.button() == Qt.MouseButton.LeftButton:
            self.rename_requested.emit(block.block_id)
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def _port_at(self, pos: QPointF) -> QtPortItem | None:
        for item in self.items(pos):
            if isinstance(item, QtPortItem):
                return item
        return None

    def _start_wire(self, port: QtPortItem) -> None:
        self._wire_from = port
        self._wire = QGraphicsPathItem()
        self._wire.setPen(QPen(QColor("#1e6fd9"), 2.0, Qt.PenStyle.DashLine))
        self._wire.setZValue(5)
        self.addItem(self._wire)
        self._update_wire(port.scene_center())

    def _wanted_kind(self) -> str:
        return "in" if self._wire_from is not None and self._wire_from.kind == "out" else "out"

    def _target_port(self, pos: QPointF) -> QtPortItem | None:
        """The port a wire dropped at ``pos`` would attach to (a block body counts too)."""
        assert self._wire_from is not None
        wanted = self._wanted_kind()
        port = self._port_at(pos)
        if port is not None and port.kind == wanted and port.block is not self._wire_from.block:
            return port
        block = self.block_at(pos)
        if block is None or block is self._wire_from.block:
            return None
        return block.in_port if wanted == "in" else block.out_port

    def _update_wire(self, pos: QPointF) -> None:
        assert self._wire_from is not None and self._wire is not None
        target = self._target_port(pos)
        if target is not self._wire_target:
            if self._wire_target is not None:
                self._wire_target.set_highlighted(False)
            if target is not None:
                target.set_highlighted(True)
            self._wire_target = target
        end = target.scene_center() if target is not None else pos
        start = self._wire_from.scene_center()
        if self._wire_from.kind == "in":
            start, end = end, start
        path: QPainterPath = link_path(start, end)
        self._wire.setPath(path)

    def _finish_wire(self, pos: QPointF) -> None:
        assert self._wire_from is not None
        target = self._target_port(pos)
        start = self._wire_from
        if self._wire_target is not None:
            self._wire_target.set_highlighted(False)
        if self._wire is not None:
            self.removeItem(self._wire)
        self._wire = None
        self._wire_from = None
        self._wire_target = None
        if target is None:
            return
        if start.kind == "out":
            self.connect_requested.emit(start.block_id, target.block_id)
        else:
            self.connect_requested.emit(target.block_id, start.block_id)

    def drag_wire(self, source_port: QtPortItem, scene_pos: QPointF) -> None:
        """Draw a wire from ``source_port`` to ``scene_pos`` as the mouse would (for tests)."""
        self._start_wire(source_port)
        self._update_wire(scene_pos)
        self._finish_wire(scene_pos)
