"""The Build page: canvas, toolbar and status strip, plus the palette and inspector docks.

Why one file of about 670 lines: ``QtBuildView`` is the one place where every edit made
on the canvas, the palette, the inspector, the menus or the clipboard becomes an undo
command (``commands.py``), and those paths are read together. The items, the scene,
the canvas widget, the palette, the inspector and the commands each have their own
file already; what stays here is that wiring.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QByteArray, QMimeData, QPoint, QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.model.errors import ModelError
from cnnstudio.model.graph import CLIPBOARD_FORMAT, COLUMN_SPACING, Block, Graph
from cnnstudio.model.registry import block_spec
from cnnstudio.ui.canvas._signals import ModelConnections
from cnnstudio.ui.canvas.commands import (
    AddBlock,
    ApplyArchitecture,
    AutoArrange,
    Connect,
    GraphCommand,
    InsertOnLink,
    MoveBlocks,
    Paste,
    RemoveItems,
    SetBlockLabel,
    SetBlockParam,
)
from cnnstudio.ui.canvas.qt_canvas import QtCanvas
from cnnstudio.ui.canvas.qt_inspector import QtBlockInspector
from cnnstudio.ui.canvas.qt_items import BLOCK_HEIGHT, BLOCK_WIDTH
from cnnstudio.ui.canvas.qt_palette import QtBlockPalette
from cnnstudio.ui.canvas.qt_scene import QtGraphScene
from cnnstudio.ui.context import AppContext

__all__ = ["CLIPBOARD_MIME_TYPE", "QtBuildView"]

#: Clipboard MIME type of copied blocks (JSON of :meth:`Graph.copy`).
CLIPBOARD_MIME_TYPE = "application/x-cnnstudio-blocks"
_ARCH_FILTER = "Architecture JSON (*.json);;All files (*)"


class QtBuildView(QWidget):
    """The Build view over ``context.project.graph``.

    Public attributes the main window wires: :attr:`undo_stack` (Edit > Undo/Redo and
    the title's unsaved marker), :meth:`edit_actions` (Edit and View menus) and
    :meth:`dock_widgets` (the Blocks and Properties docks).

    Parameters
    ----------
    context : AppContext
        ``context.project`` is the open project (a new one is made if it is None).
    """

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        if context.project is None:
            from cnnstudio.model.project import Project

            context.project = Project()
        self.project = context.project
        self.undo_stack = QUndoStack(self)
        self._clipboard: dict[str, Any] | None = None
        self._paste_count = 0
        self.error_box: QMessageBox | None = None

        self.scene = QtGraphScene(None, self)
        self.canvas = QtCanvas(self.scene, self)
        # Parentless until the main window docks them, so they never sit on the canvas.
        self.block_palette = QtBlockPalette()
        self.inspector = QtBlockInspector()
        self.status_label = QLabel()
        self.status_label.setObjectName("buildStatus")
        self.status_label.setTextFormat(Qt.TextFormat.RichText)
        self.status_label.setWordWrap(True)
        self.status_label.linkActivated.connect(self._on_status_link)
        self.zoom_label = QLabel("100%")
        self.zoom_label.setMinimumWidth(44)
        self.zoom_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        self._make_actions()
        self.toolbar = self._make_toolbar()

        strip = QWidget()
        strip.setObjectName("buildStatusStrip")
        strip.setStyleSheet(
            "#buildStatusStrip { background: #ffffff; border-top: 1px solid #d5d8dd; }"
        )
        strip_layout = QHBoxLayout(strip)
        strip_layout.setContentsMargins(8, 4, 8, 4)
        strip_layout.addWidget(self.status_label, 1)
        strip_layout.addWidget(self.zoom_label)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(strip)

        self.scene.connect_requested.connect(self._on_connect_requested)
        self.scene.move_finished.connect(self._on_move_finished)
        self.scene.rename_requested.connect(self._on_rename_requested)
        self.scene.selectionChanged.connect(self._on_selection_changed)
        self.canvas.block_dropped.connect(self.drop_block)
        self.canvas.describe_drop = self.describe_drop
        self.canvas.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.canvas.customContextMenuRequested.connect(self._on_context_menu)
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{round(z * 100)}%"))
        self.block_palette.block_activated.connect(self.append_block)
        self.inspector.param_edited.connect(self.set_param)
        self.inspector.edit_finished.connect(self.close_edit)
        self.inspector.label_edited.connect(self._on_label_edited)
        self.inspector.explain_clicked.connect(self.context.explain_requested.emit)
        # The docked panels belong to this view: they go when it goes.
        panels = (self.block_palette, self.inspector)

        def drop_panels(*_args: Any) -> None:
            for panel in panels:
                if shiboken6.isValid(panel):
                    panel.deleteLater()
            _release_clipboard()

        self.destroyed.connect(drop_panels)
        self._graph_connections = ModelConnections(self)
        self._project_connections = ModelConnections(self)
        self._project_connections.connect(
            self.project.events.graph_replaced, self._on_graph_replaced
        )
        self._bind_graph()

    # -- public API ------------------------------------------------------------------------
    @property
    def graph(self) -> Graph:
        return self.project.graph

    def dock_widgets(self) -> dict[str, QWidget]:
        """The side panels: ``{"palette": ..., "inspector": ...}``."""
        return {"palette": self.block_palette, "inspector": self.inspector}

    def edit_actions(self) -> list[QAction]:
        """Cut, Copy, Paste, Delete, Select all, Auto-arrange, Zoom in/out/fit.

        Their shortcuts only act while the Build view has focus. Undo and Redo are not
        here: the host makes them from :attr:`undo_stack` (window-wide, so they also work
        from the docks); a second Ctrl+Z here would make the shortcut ambiguous.
        """
        return [
            self.cut_action,
            self.copy_action,
            self.paste_action,
            self.delete_action,
            self.select_all_action,
            self.arrange_action,
            self.zoom_in_action,
            self.zoom_out_action,
            self.zoom_fit_action,
        ]

    def push(self, command: GraphCommand) -> bool:
        """Apply ``command`` and put it on the undo stack; show why if the graph refuses it."""
        try:
            command.first_apply()
        except ModelError as exc:
            self._tell(str(exc))
            return False
        self.undo_stack.push(command)
        return True

    def _drop_plan(self, block_type: str, scene_pos: QPointF) -> tuple[str, Any]:
        """``("insert", link)``, ``("append", last block)`` or ``("place", None)``."""
        spec = block_spec(block_type)
        link = self.scene.link_at(scene_pos)
        if link is not None and spec.max_inputs != 0:
            return "insert", link
        last = _last_block(self.graph)
        over_block = self.scene.block_at(scene_pos) is not None
        below = last is not None and scene_pos.y() > last.position[1] + BLOCK_HEIGHT / 2
        if below and not over_block and block_type != "Input":
            return "append", last
        return "place", None

    def describe_drop(self, block_type: str, scene_pos: QPointF) -> str:
        """What dropping ``block_type`` at ``scene_pos`` would do, in words (drag banner)."""
        label = block_spec(block_type).label
        kind, target = self._drop_plan(block_type, scene_pos)
        if kind == "insert":
            source = self.graph.block(target.source).label
            dest = self.graph.block(target.target).label
            return f"Drop to insert {label} between {source} and {dest}"
        if kind == "append":
            return f"Drop to add {label} after {target.label}"
        if not self.graph.blocks:
            return f"Drop to start the network with {label}"
        return f"Drop to place {label} here (not connected yet)"

    def drop_block(self, block_type: str, scene_pos: QPointF) -> str | None:
        """What a palette drop at ``scene_pos`` does; returns the new block's id.

        On a wire: insert the block there. Below the last block: append it and wire
        it up. Anywhere else: place it unconnected.
        """
        graph = self.graph
        kind, target = self._drop_plan(block_type, scene_pos)
        position = (scene_pos.x(), scene_pos.y())
        command: GraphCommand
        if kind == "insert":
            # Used only on a long wire (a skip connection); short ones make room below.
            command = InsertOnLink(graph, target, block_type, self._free_spot(position))
        elif kind == "append":
            command = AddBlock(graph, block_type, after=target.id)
        else:
            command = AddBlock(graph, block_type, self._free_spot(position))
        if not self.push(command):
            return None
        block_id = getattr(command, "block_id", None)
        if block_id:
            self.scene.select_blocks([block_id])
            self.canvas.ensureVisible(self.scene.block_item(block_id), 40, 40)
            self.canvas.setFocus()  # so Delete, Ctrl+C... act on the new block at once
        return block_id

    def _free_spot(self, position: tuple[float, float]) -> tuple[float, float]:
        """``position``, moved right until a block placed there covers no other block."""
        x, y = position
        for _ in range(50):
            rect = QRectF(
                x - BLOCK_WIDTH / 2 - 8,
                y - BLOCK_HEIGHT / 2 - 8,
                BLOCK_WIDTH + 16,
                BLOCK_HEIGHT + 16,
            )
            if not any(
                it.sceneBoundingRect().intersects(rect) for it in self.scene.block_items().values()
            ):
                break
            x += COLUMN_SPACING
        return (x, y)

    def append_block(self, block_type: str) -> str | None:
        """Add a block below the last one and wire it up (palette double-click)."""
        last = _last_block(self.graph)
        if last is None or block_type == "Input":
            position = (0.0, 0.0) if last is None else (last.position[0] + 230, last.position[1])
            command = AddBlock(self.graph, block_type, position)
        else:
            command = AddBlock(self.graph, block_type, after=last.id)
        if not self.push(command):
            return None
        assert command.block_id is not None
        self.scene.select_blocks([command.block_id])
        self.canvas.ensureVisible(self.scene.block_item(command.block_id), 40, 40)
        return command.block_id

    def set_param(self, block_id: str, name: str, value: Any) -> bool:
        """Undoable parameter change (consecutive changes of one parameter merge)."""
        if self.graph.block(block_id).params.get(name) == value:
            return True
        ok = self.push(SetBlockParam(self.graph, block_id, name, value))
        if not ok:
            self.inspector.show_blocks(self.scene.selected_block_ids())  # show the old value
        return ok

    def close_edit(self) -> None:
        """End the current run of parameter changes: the next one is its own undo step."""
        top = self.undo_stack.command(self.undo_stack.index() - 1)
        if isinstance(top, SetBlockParam):
            top.closed = True

    def connect_blocks(self, source: str, target: str) -> bool:
        """Undoable wire from ``source`` to ``target``."""
        return self.push(Connect(self.graph, source, target))

    def delete_selection(self) -> None:
        """Delete the selected blocks (with their wires), or else the selected wires.

        A rubber band also catches the wires it crosses; with blocks selected those wires
        are left alone, so only what the user meant to remove goes.
        """
        ids = self.scene.selected_block_ids()
        links = [] if ids else self.scene.selected_links()
        if ids or links:
            self.push(RemoveItems(self.graph, ids, links))

    def copy_selection(self) -> bool:
        ids = self.scene.selected_block_ids()
        if not ids:
            return False
        data = self.graph.copy(ids)
        self._clipboard = data
        self._paste_count = 0
        mime = QMimeData()
        text = json.dumps(data)
        mime.setData(CLIPBOARD_MIME_TYPE, QByteArray(text.encode("utf-8")))
        mime.setText(text)
        QApplication.clipboard().setMimeData(mime)
        return True

    def cut_selection(self) -> None:
        if self.copy_selection():
            self.delete_selection()

    def paste(self) -> list[str]:
        """Paste copied blocks next to the originals; returns the new ids (selected)."""
        data = self._clipboard_data()
        if data is None:
            self._tell("Nothing to paste: copy some blocks first.")
            return []
        self._paste_count += 1
        offset = (40.0 * self._paste_count, 40.0 * self._paste_count)
        command = Paste(self.graph, data, offset)
        if not self.push(command):
            return []
        self.scene.select_blocks(command.block_ids)
        return command.block_ids

    def select_all(self) -> None:
        self.scene.select_blocks(list(self.graph.blocks))

    def auto_arrange(self) -> None:
        self.push(AutoArrange(self.graph))
        self.canvas.fit()

    def load_preset(self, key: str) -> bool:
        """Replace the network by a preset (undoable); the Input keeps the dataset's shape."""
        from cnnstudio.model.presets import load_preset

        try:
            arch = load_preset(key).to_architecture()
        except (ModelError, OSError) as exc:
            self._error("Cannot load the preset", str(exc))
            return False
        ok = self._apply_architecture(arch, f"Load preset {arch.get('name', key)}")
        return ok

    def open_architecture(self, path: str | Path | None = None) -> bool:
        """Replace the network by an architecture JSON file (undoable); errors in a dialog."""
        from cnnstudio.model.files import load_architecture

        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Open architecture", "", _ARCH_FILTER)
            if not path:
                return False
        try:
            arch = load_architecture(path).to_architecture()
        except (ModelError, OSError) as exc:
            self._error("Cannot open the architecture", str(exc))
            return False
        return self._apply_architecture(arch, f"Open {Path(path).name}")

    def save_architecture(self, path: str | Path | None = None) -> bool:
        """Write the network as architecture JSON; errors in a dialog."""
        from cnnstudio.model.files import save_architecture

        if path is None:
            suggestion = f"{self.graph.name or 'network'}.json"
            path, _ = QFileDialog.getSaveFileName(
                self, "Save architecture", suggestion, _ARCH_FILTER
            )
            if not path:
                return False
        try:
            saved = save_architecture(self.graph, path)
        except (ModelError, OSError) as exc:
            self._error("Cannot save the architecture", str(exc))
            return False
        self.context.status_message.emit(f"Saved the architecture to {saved}")
        return True

    # -- actions and toolbar ---------------------------------------------------------------
    def _action(self, text: str, slot: Any, shortcut: Any = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.setToolTip(tip or text.replace("&", ""))
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def _make_actions(self) -> None:
        K = QKeySequence.StandardKey
        self.cut_action = self._action("Cu&t", self.cut_selection, K.Cut)
        self.copy_action = self._action("&Copy", self.copy_selection, K.Copy)
        self.paste_action = self._action("&Paste", self.paste, K.Paste)
        self.delete_action = self._action("&Delete", self.delete_selection, K.Delete)
        self.delete_action.setShortcuts([QKeySequence(K.Delete), QKeySequence("Backspace")])
        self.select_all_action = self._action("Select &all", self.select_all, K.SelectAll)
        self.arrange_action = self._action(
            "Auto-&arrange", self.auto_arrange, "Ctrl+L", "Lay the network out top to bottom"
        )
        self.zoom_in_action = self._action("Zoom &in", self.canvas.zoom_in, K.ZoomIn)
        self.zoom_out_action = self._action("Zoom &out", self.canvas.zoom_out, K.ZoomOut)
        self.zoom_fit_action = self._action(
            "&Fit to view", self.canvas.fit, "Ctrl+0", "Show the whole network"
        )
        self.open_action = self._action(
            "Open JSON…",
            self.open_architecture,
            None,
            "Replace the network by an architecture JSON file (undoable)",
        )
        self.save_action = self._action(
            "Save JSON…",
            self.save_architecture,
            None,
            "Save the network alone as architecture JSON (File > Save keeps the whole project)",
        )

    def _make_toolbar(self) -> QToolBar:
        bar = QToolBar("Build", self)
        bar.setObjectName("buildToolbar")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.preset_button = QToolButton(bar)
        self.preset_button.setText("Presets")
        self.preset_button.setToolTip("Replace the network by a ready-made one (undoable)")
        self.preset_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.preset_menu = QMenu(self.preset_button)
        self.preset_menu.setToolTipsVisible(True)
        self.preset_menu.aboutToShow.connect(self._fill_preset_menu)
        self.preset_button.setMenu(self.preset_menu)
        bar.addWidget(self.preset_button)
        bar.addAction(self.open_action)
        bar.addAction(self.save_action)
        bar.addSeparator()
        # Short fixed labels on the toolbar; the menu actions say what they undo.
        self.undo_button_action = QAction("Undo", self)
        self.undo_button_action.setToolTip("Undo the last edit (Ctrl+Z)")
        self.undo_button_action.triggered.connect(self.undo_stack.undo)
        self.undo_stack.canUndoChanged.connect(self.undo_button_action.setEnabled)
        self.redo_button_action = QAction("Redo", self)
        self.redo_button_action.setToolTip("Redo what was undone (Ctrl+Shift+Z)")
        self.redo_button_action.triggered.connect(self.undo_stack.redo)
        self.undo_stack.canRedoChanged.connect(self.redo_button_action.setEnabled)
        for action in (self.undo_button_action, self.redo_button_action):
            action.setEnabled(False)
            bar.addAction(action)
        bar.addSeparator()
        bar.addAction(self.delete_action)
        bar.addAction(self.arrange_action)
        bar.addSeparator()
        bar.addAction(self.zoom_out_action)
        bar.addAction(self.zoom_in_action)
        bar.addAction(self.zoom_fit_action)
        return bar

    def _fill_preset_menu(self) -> None:
        from cnnstudio.model.presets import list_presets

        self.preset_menu.clear()
        try:
            presets = list_presets()
        except (ModelError, OSError, ValueError) as exc:
            action = self.preset_menu.addAction(f"Presets unavailable: {exc}")
            action.setEnabled(False)
            return
        if not presets:
            self.preset_menu.addAction("No presets installed").setEnabled(False)
        for info in presets:
            shape = (
                f"  ({info.input_shape[0]}@{info.input_shape[1]}x{info.input_shape[2]})"
                if len(info.input_shape) == 3
                else ""
            )
            action = self.preset_menu.addAction(info.name + shape)
            action.setToolTip(info.description)
            action.triggered.connect(lambda _c=False, key=info.key: self.load_preset(key))

    # -- graph binding ---------------------------------------------------------------------
    def _bind_graph(self) -> None:
        self._graph_connections.clear()
        graph = self.graph
        self.scene.set_graph(graph)
        self.inspector.set_graph(graph)
        self._graph_connections.connect(graph.events.inference_changed, self._refresh_status)
        self._refresh_status()
        QTimer.singleShot(0, self._fit_if_alive)

    def _guarded(self, slot: Any) -> Any:
        def call(*args: Any) -> None:
            if shiboken6.isValid(self):
                slot(*args)

        return call

    def _fit_if_alive(self) -> None:
        if shiboken6.isValid(self) and shiboken6.isValid(self.canvas):
            self.canvas.show_network()

    def _on_graph_replaced(self) -> None:
        # New, Open or another view put a different Graph object in the project: the old
        # commands refer to the old graph, so they cannot stay on the stack.
        self.undo_stack.clear()
        self._bind_graph()

    def _apply_architecture(self, arch: dict[str, Any], text: str) -> bool:
        shape = getattr(self.project.dataset, "input_shape", None)
        if shape is not None and len(shape) == 3:
            for node in arch.get("nodes", []):
                if node.get("type") == "Input":
                    node["config"] = {"shape": [int(v) for v in shape]}
        if not self.push(ApplyArchitecture(self.graph, arch, text)):
            return False
        self.scene.select_blocks([])
        self.canvas.show_network()
        return True

    # -- handlers --------------------------------------------------------------------------
    def _on_connect_requested(self, source: str, target: str) -> None:
        self.connect_blocks(source, target)

    def _on_move_finished(self, old: dict, new: dict) -> None:
        # The items already sit where the user left them; the command records it in the model.
        self.push(MoveBlocks(self.graph, old, new))

    def _on_selection_changed(self) -> None:
        if not shiboken6.isValid(self.inspector):
            return
        self.close_edit()
        self.inspector.show_blocks(self.scene.selected_block_ids())

    def _on_rename_requested(self, block_id: str) -> None:
        self.scene.select_blocks([block_id])
        self.inspector.name_edit.setFocus()
        self.inspector.name_edit.selectAll()

    def _on_label_edited(self, block_id: str, label: str) -> None:
        self.push(SetBlockLabel(self.graph, block_id, label))

    def context_menu(self, scene_pos: QPointF) -> QMenu:
        """The right-click menu for what is under ``scene_pos`` (selecting it first)."""
        menu = QMenu(self)
        block = self.scene.block_at(scene_pos)
        link = self.scene.link_at(scene_pos) if block is None else None
        if block is not None:
            if not block.isSelected():
                self.scene.select_blocks([block.block_id])
            menu.addAction(self.copy_action)
            menu.addAction(self.cut_action)
            menu.addAction(self.delete_action)
            if block.spec.type in ("Conv2D", "MaxPool2D", "AvgPool2D"):
                menu.addSeparator()
                explain = menu.addAction("Explain step by step in Learn")
                explain.triggered.connect(self.inspector.explain_button.click)
        elif link is not None:
            self.scene.select_blocks([])
            self.scene.link_item(link).setSelected(True)
            menu.addAction(self.delete_action)
        else:
            menu.addAction(self.paste_action)
            menu.addAction(self.select_all_action)
        menu.addSeparator()
        menu.addAction(self.arrange_action)
        menu.addAction(self.zoom_fit_action)
        return menu

    def _on_context_menu(self, pos: QPoint) -> None:
        menu = self.context_menu(self.canvas.mapToScene(pos))
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(self.canvas.viewport().mapToGlobal(pos))

    def _on_status_link(self, href: str) -> None:
        if href.startswith("block:"):
            block_id = href[len("block:") :]
            if block_id in self.graph:
                self.scene.select_blocks([block_id])
                self.canvas.ensureVisible(self.scene.block_item(block_id), 60, 60)

    def _refresh_status(self) -> None:
        graph = self.graph
        net = graph.inference
        n = len(graph.blocks)
        total = f"<b>{n}</b> block{'s' if n != 1 else ''} · <b>{net.total_params:,}</b> parameters"
        if net.is_valid:
            status = "<span style='color:#1b7f3b'><b>✓ Ready to train</b></span>"
            if net.warnings:
                bid, _msg = net.warnings[0]
                status += (
                    f" · <a href='block:{bid}'>{len(net.warnings)} note"
                    f"{'s' if len(net.warnings) != 1 else ''}</a>"
                )
        else:
            culprit, _msg = net.problems[0]
            reason = _esc(net.reason or "")
            if culprit is not None:
                reason = f"<a href='block:{culprit}' style='color:#c62828'>{reason}</a>"
            more = len(net.problems) - 1
            extra = f" <span style='color:#777'>(+{more} more)</span>" if more > 0 else ""
            status = f"<span style='color:#c62828'><b>✗ Not ready:</b></span> {reason}{extra}"
        self.status_label.setText(f"{total} &nbsp;—&nbsp; {status}")

    def _clipboard_data(self) -> dict[str, Any] | None:
        mime = QApplication.clipboard().mimeData()
        if mime is not None and mime.hasFormat(CLIPBOARD_MIME_TYPE):
            try:
                data = json.loads(bytes(mime.data(CLIPBOARD_MIME_TYPE).data()).decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                data = None
            if isinstance(data, dict) and data.get("format") == CLIPBOARD_FORMAT:
                if data != self._clipboard:
                    self._clipboard = data
                    self._paste_count = 0
                return data
        return self._clipboard

    def _tell(self, message: str) -> None:
        text = message[:1].upper() + message[1:]
        self.context.status_message.emit(text)
        self.status_label.setText(
            f"<span style='color:#c62828'><b>Cannot do that:</b></span> {_esc(text)}"
        )
        QTimer.singleShot(6000, self._guarded(self._refresh_status))

    def _error(self, title: str, message: str) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.error_box = box
        box.open()


def _release_clipboard() -> None:
    """Take our copied blocks off the clipboard when the Build view goes away.

    Qt's offscreen platform crashes at exit while the clipboard holds data set from
    Python (PySide6 6.11, reproduced with a bare QMimeData); copied blocks are of no use
    once the view is gone anyway.
    """
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return
    clipboard = QApplication.clipboard()
    mime = clipboard.mimeData()
    if mime is not None and mime.hasFormat(CLIPBOARD_MIME_TYPE):
        clipboard.clear()


def _last_block(graph: Graph) -> Block | None:
    """The lowest block that feeds nothing (where a new block is appended)."""
    feeding = {lk.source for lk in graph.links}
    blocks = list(graph.blocks.values())
    ends = [b for b in blocks if b.id not in feeding] or blocks
    if not ends:
        return None
    order = {bid: k for k, bid in enumerate(graph.blocks)}
    return max(ends, key=lambda b: (b.position[1], order[b.id]))


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
