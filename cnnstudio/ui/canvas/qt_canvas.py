"""The canvas view: zoom, pan, rubber-band selection and drops from the palette."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QFont,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsView, QWidget

from cnnstudio.model.graph import Link
from cnnstudio.ui.canvas.qt_palette import block_type_from_mime
from cnnstudio.ui.canvas.qt_scene import QtGraphScene

__all__ = ["MAX_ZOOM", "MIN_ZOOM", "QtCanvas"]

MIN_ZOOM = 0.25
MAX_ZOOM = 3.0
_GRID = 20.0


class QtCanvas(QGraphicsView):
    """Shows a :class:`QtGraphScene`.

    Ctrl + wheel zooms around the mouse, the wheel alone scrolls; drag with the middle
    button (or hold Space and drag) to pan; drag on empty canvas to select with a
    rubber band; Ctrl + click adds to the selection.

    Signals
    -------
    block_dropped(str, QPointF)
        A palette block was dropped at a scene position.
    zoom_changed(float)
    """

    block_dropped = Signal(str, QPointF)
    zoom_changed = Signal(float)

    def __init__(self, scene: QtGraphScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.setObjectName("buildCanvas")
        self.setAcceptDrops(True)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._pan_from: QPointF | None = None
        self._space_down = False
        self._drop_link: Link | None = None
        #: Set by the build view: says in words what a drop at a scene point would do.
        self.describe_drop: Callable[[str, QPointF], str] | None = None
        self._drop_text = ""
        self.hint_text = (
            "Drag blocks here from the Blocks panel, starting with Input,\n"
            "or pick a ready-made network under Presets."
        )
        self._update_scene_rect()
        scene.changed.connect(lambda _rects: self._update_scene_rect())

    @property
    def graph_scene(self) -> QtGraphScene:
        scene = self.scene()
        assert isinstance(scene, QtGraphScene)
        return scene

    # -- zoom ------------------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, factor: float) -> None:
        factor = min(MAX_ZOOM, max(MIN_ZOOM, factor))
        current = self.zoom()
        if abs(factor - current) < 1e-9:
            return
        self.scale(factor / current, factor / current)
        self.zoom_changed.emit(factor)

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom() * 1.25)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom() / 1.25)

    def reset_zoom(self) -> None:
        self.set_zoom(1.0)

    def fit(self, max_zoom: float = 1.0, min_zoom: float = MIN_ZOOM) -> None:
        """Show every block, within ``min_zoom``..``max_zoom`` (never past 100 %: it reads best).

        When the network is too tall for ``min_zoom`` the view starts at its top.
        """
        rect = self.graph_scene.blocks_rect()
        if rect.isEmpty():
            self.set_zoom(1.0)
            self.centerOn(0, 0)
            return
        self._update_scene_rect()
        rect = rect.adjusted(-30, -30, 30, 30)
        view = self.viewport().rect()
        if view.width() < 10 or view.height() < 10:
            return
        factor = min(view.width() / rect.width(), view.height() / rect.height(), max_zoom)
        self.set_zoom(max(factor, min_zoom))
        visible_h = view.height() / self.zoom()
        if rect.height() <= visible_h:
            self.centerOn(rect.center())
        else:
            self.centerOn(rect.center().x(), rect.top() + visible_h / 2)

    def show_network(self) -> None:
        """Show a freshly loaded network readably: fitted, but not below 75 %."""
        self.fit(max_zoom=1.0, min_zoom=0.75)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            steps = event.angleDelta().y() / 120.0
            if steps:
                self.set_zoom(self.zoom() * (1.15**steps))
            event.accept()
            return
        super().wheelEvent(event)

    def _update_scene_rect(self) -> None:
        # Generous room around the blocks so there is always space to drop below the last.
        rect = self.graph_scene.blocks_rect()
        if rect.isEmpty():
            rect = QRectF(-300, -200, 600, 400)
        self.setSceneRect(rect.adjusted(-600, -400, 600, 600))

    # -- pan -------------------------------------------------------------------------------
    def _start_pan(self, event: QMouseEvent) -> None:
        self._pan_from = event.position()
        self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton or (
            self._space_down and event.button() == Qt.MouseButton.LeftButton
        ):
            self._start_pan(event)
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            h, v = self.horizontalScrollBar(), self.verticalScrollBar()
            h.setValue(h.value() - int(delta.x()))
            v.setValue(v.value() - int(delta.y()))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            self.viewport().setCursor(
                Qt.CursorShape.OpenHandCursor if self._space_down else Qt.CursorShape.ArrowCursor
            )
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        super().keyReleaseEvent(event)

    # -- drops from the palette ------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self._drag_over(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        self._drag_over(event)

    def _drag_over(self, event: QDragMoveEvent) -> None:
        block_type = block_type_from_mime(event.mimeData())
        if not block_type:
            event.ignore()
            return
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        pos = self.mapToScene(event.position().toPoint())
        self._highlight_link(pos)
        text = self.describe_drop(block_type, pos) if self.describe_drop is not None else ""
        if text != self._drop_text:
            self._drop_text = text
            self.viewport().update()

    def _end_drag(self) -> None:
        self._highlight_link(None)
        if self._drop_text:
            self._drop_text = ""
            self.viewport().update()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self._end_drag()
        event.accept()

    def dropEvent(self, event: QDropEvent) -> None:
        block_type = block_type_from_mime(event.mimeData())
        self._end_drag()
        if not block_type:
            event.ignore()
            return
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        self.block_dropped.emit(block_type, self.mapToScene(event.position().toPoint()))

    def _highlight_link(self, pos: QPointF | None) -> None:
        scene = self.graph_scene
        link = scene.link_at(pos) if pos is not None else None
        if link == self._drop_link:
            return
        items = scene.link_items()
        if self._drop_link is not None and self._drop_link in items:
            items[self._drop_link].set_highlighted(False)
        if link is not None:
            items[link].set_highlighted(True)
        self._drop_link = link

    # -- drawing ---------------------------------------------------------------------------
    def drawBackground(self, painter: QPainter, rect: QRectF | QRect) -> None:
        rect = QRectF(rect)
        super().drawBackground(painter, rect)
        if self.zoom() < 0.5:
            return
        painter.setPen(QPen(QColor("#dcdfe4"), 1.5))
        left = int(rect.left() // _GRID) * _GRID
        top = int(rect.top() // _GRID) * _GRID
        points = []
        y = top
        while y < rect.bottom():
            x = left
            while x < rect.right():
                points.append(QPointF(x, y))
                x += _GRID
            y += _GRID
        painter.drawPoints(points)

    def drawForeground(self, painter: QPainter, rect: QRectF | QRect) -> None:
        super().drawForeground(painter, rect)
        if self._drop_text:
            self._draw_banner(painter, self._drop_text)
        if self.graph_scene.block_items():
            return
        painter.save()
        painter.resetTransform()
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.2)
        painter.setFont(font)
        painter.setPen(QColor("#7a808a"))
        painter.drawText(
            QRectF(self.viewport().rect()), Qt.AlignmentFlag.AlignCenter, self.hint_text
        )
        painter.restore()

    def _draw_banner(self, painter: QPainter, text: str) -> None:
        """What the drop will do, in a pill at the top of the view."""
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = QFont(self.font())
        font.setBold(True)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        width = metrics.horizontalAdvance(text) + 28
        height = metrics.height() + 12
        box = QRectF((self.viewport().width() - width) / 2, 10, width, height)
        painter.setPen(QPen(QColor("#2e9d4f"), 1.2))
        painter.setBrush(QColor(235, 248, 238, 240))
        painter.drawRoundedRect(box, height / 2, height / 2)
        painter.setPen(QColor("#1d5e31"))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    @property
    def drop_text(self) -> str:
        """The banner shown while a palette block is dragged over the canvas."""
        return self._drop_text
