"""A drawing pad for digits: smooth anti-aliased strokes, eraser, undo, clear.

Strokes are kept as lists of points in the pad's unit square (0..1), not as pixels,
so the drawing scales with the window, "undo last stroke" is exact, and the image
for the network can be rendered at any size. The user sees dark ink on paper; the
image handed to the network is the ink amount (0 = paper, 1 = full ink).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
    QTabletEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

__all__ = ["QtDrawingPad", "Stroke"]

PAPER = QColor(255, 255, 255)
INK = QColor(20, 20, 20)


@dataclass
class Stroke:
    """One pen-down-to-pen-up stroke: points in the unit square, pressures, width, eraser."""

    width: float  # fraction of the pad's side
    erase: bool = False
    points: list[tuple[float, float]] = field(default_factory=list)
    pressures: list[float] = field(default_factory=list)


class QtDrawingPad(QWidget):
    """Square drawing surface.

    Signals
    -------
    stroke_changed()
        After every new stroke segment (while drawing); throttle before heavy work.
    drawing_changed()
        After a stroke ends, undo, clear or any other complete change.
    """

    stroke_changed = Signal()
    drawing_changed = Signal()

    #: Default pen width as a fraction of the pad: 1/12 draws MNIST-like strokes
    #: (about 2-3 px once scaled to a 20 px box in 28x28).
    DEFAULT_WIDTH = 1 / 12

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("drawingPad")
        self.setMinimumSize(160, 160)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setAttribute(Qt.WidgetAttribute.WA_TabletTracking, True)
        self.strokes: list[Stroke] = []
        self._current: Stroke | None = None
        self.pen_width = self.DEFAULT_WIDTH
        self.eraser = False
        self._overlay: QImage | None = None  # e.g. a saliency map, drawn over the ink

    # -- public API -------------------------------------------------------------------
    def is_empty(self) -> bool:
        return not any(not s.erase and s.points for s in self.strokes)

    def clear(self) -> None:
        if not self.strokes:
            return
        self.strokes.clear()
        self._current = None
        self.update()
        self.drawing_changed.emit()

    def undo_stroke(self) -> None:
        if not self.strokes:
            return
        self.strokes.pop()
        self._current = None
        self.update()
        self.drawing_changed.emit()

    def set_pen_width(self, fraction: float) -> None:
        self.pen_width = float(np.clip(fraction, 0.01, 0.3))

    def set_eraser(self, on: bool) -> None:
        self.eraser = bool(on)

    def set_overlay(self, overlay: QImage | None) -> None:
        """Draw ``overlay`` (ARGB, any size: it is scaled to the pad) over the ink."""
        self._overlay = overlay
        self.update()

    def add_stroke(
        self, points: list[tuple[float, float]], width: float | None = None, erase: bool = False
    ) -> None:
        """Add a whole stroke given in unit-square coordinates (tests, scripted demos)."""
        stroke = Stroke(width=self.pen_width if width is None else width, erase=erase)
        stroke.points = [(float(x), float(y)) for x, y in points]
        stroke.pressures = [1.0] * len(stroke.points)
        self.strokes.append(stroke)
        self.update()
        self.drawing_changed.emit()

    def ink_image(self, size: int = 280) -> np.ndarray:
        """The drawing as ink amount, float32 ``(size, size)`` in [0, 1] (1 = ink)."""
        image = QImage(size, size, QImage.Format.Format_Grayscale8)
        image.fill(QColor(0, 0, 0))
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self._paint_strokes(painter, float(size), ink=QColor(255, 255, 255), paper=QColor(0, 0, 0))
        painter.end()
        stride = image.bytesPerLine()
        buffer = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * size)
        pixels = buffer.reshape(size, stride)[:, :size]
        return pixels.astype(np.float32) / 255.0

    # -- painting ----------------------------------------------------------------------
    def heightForWidth(self, width: int) -> int:
        return width

    def sizeHint(self) -> QSize:
        return QSize(320, 320)

    def _pad_rect(self) -> QRectF:
        side = float(min(self.width(), self.height()))
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.fillRect(self.rect(), self.palette().window())
        rect = self._pad_rect()
        painter.fillRect(rect, PAPER)
        painter.save()
        painter.translate(rect.topLeft())
        painter.setClipRect(QRectF(0, 0, rect.width(), rect.height()))
        self._paint_strokes(painter, rect.width(), ink=INK, paper=PAPER)
        if self._overlay is not None:
            painter.setOpacity(0.6)
            painter.drawImage(QRectF(0, 0, rect.width(), rect.height()), self._overlay)
            painter.setOpacity(1.0)
        painter.restore()
        painter.setPen(QPen(QColor(160, 160, 160), 1))
        painter.drawRect(rect.adjusted(0, 0, -1, -1))
        if self.is_empty():
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "Draw a digit here")
        painter.end()

    def _paint_strokes(self, painter: QPainter, side: float, ink: QColor, paper: QColor) -> None:
        strokes = list(self.strokes)
        if self._current is not None and self._current not in strokes:
            strokes.append(self._current)
        for stroke in strokes:
            if not stroke.points:
                continue
            color = paper if stroke.erase else ink
            base = stroke.width * side
            if len(stroke.points) == 1:
                x, y = stroke.points[0]
                radius = base * stroke.pressures[0] / 2
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(color)
                painter.drawEllipse(QPointF(x * side, y * side), radius, radius)
                continue
            uniform = len(set(stroke.pressures)) <= 1
            if uniform:
                pen = QPen(color, base * stroke.pressures[0])
                pen.setCapStyle(Qt.PenCapStyle.RoundCap)
                pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
                painter.setPen(pen)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawPath(self._smooth_path(stroke.points, side))
            else:  # pressure varies along the stroke: segment by segment
                for i in range(1, len(stroke.points)):
                    pen = QPen(color, base * stroke.pressures[i])
                    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
                    painter.setPen(pen)
                    (x0, y0), (x1, y1) = stroke.points[i - 1], stroke.points[i]
                    painter.drawLine(QPointF(x0 * side, y0 * side), QPointF(x1 * side, y1 * side))

    @staticmethod
    def _smooth_path(points: list[tuple[float, float]], side: float) -> QPainterPath:
        # Quadratic curves through the midpoints smooth out the mouse's jagged samples.
        pts = [QPointF(x * side, y * side) for x, y in points]
        path = QPainterPath(pts[0])
        if len(pts) == 2:
            path.lineTo(pts[1])
            return path
        for i in range(1, len(pts) - 1):
            mid = (pts[i] + pts[i + 1]) / 2
            path.quadTo(pts[i], mid)
        path.lineTo(pts[-1])
        return path

    # -- input -----------------------------------------------------------------------
    def _unit(self, pos: QPointF) -> tuple[float, float]:
        rect = self._pad_rect()
        return (
            float(np.clip((pos.x() - rect.left()) / rect.width(), 0.0, 1.0)),
            float(np.clip((pos.y() - rect.top()) / rect.height(), 0.0, 1.0)),
        )

    def _begin(self, pos: QPointF, pressure: float = 1.0) -> None:
        self._current = Stroke(width=self.pen_width, erase=self.eraser)
        self._current.points.append(self._unit(pos))
        self._current.pressures.append(pressure)
        self.strokes.append(self._current)
        self.update()
        self.stroke_changed.emit()

    def _extend(self, pos: QPointF, pressure: float = 1.0) -> None:
        if self._current is None:
            return
        point = self._unit(pos)
        if self._current.points and point == self._current.points[-1]:
            return
        self._current.points.append(point)
        self._current.pressures.append(pressure)
        self.update()
        self.stroke_changed.emit()

    def _end(self) -> None:
        if self._current is None:
            return
        self._current = None
        self.drawing_changed.emit()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._begin(event.position())
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._extend(event.position())
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._extend(event.position())
            self._end()
        event.accept()

    def tabletEvent(self, event: QTabletEvent) -> None:
        # A pen with pressure: light touches draw thinner lines (floor so they show).
        pressure = max(0.3, float(event.pressure()))
        kind = event.type()
        if kind == QTabletEvent.Type.TabletPress:
            self._begin(event.position(), pressure)
        elif kind == QTabletEvent.Type.TabletMove and event.buttons():
            self._extend(event.position(), pressure)
        elif kind == QTabletEvent.Type.TabletRelease:
            self._end()
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Escape, Qt.Key.Key_Backspace):
            self.clear()
            event.accept()
            return
        super().keyPressEvent(event)

    def thumbnail(self, size: int = 64) -> QPixmap:
        """The drawing as it looks on screen, for lists of samples."""
        image = QImage(size, size, QImage.Format.Format_RGB32)
        image.fill(PAPER)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self._paint_strokes(painter, float(size), ink=INK, paper=PAPER)
        painter.end()
        return QPixmap.fromImage(image)
