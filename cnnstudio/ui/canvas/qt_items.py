"""Canvas items: a block, its ports, and the wire between two blocks.

The items only mirror the model: they hold a block id and what inference said about
it, and redraw when the scene hands them new text. Moving an item is the one thing
that happens on the canvas first; the scene turns the finished drag into one
undoable command.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsObject,
    QGraphicsPathItem,
    QStyleOptionGraphicsItem,
    QWidget,
)

from cnnstudio.model.graph import BLOCK_HEIGHT, COLUMN_SPACING
from cnnstudio.model.registry import BlockSpec
from cnnstudio.ui.canvas.style import ERROR_COLOR, WARNING_COLOR, block_icon, group_color

if TYPE_CHECKING:
    from cnnstudio.model.checks import BlockInfo

__all__ = [
    "BLOCK_HEIGHT",
    "BLOCK_WIDTH",
    "QtBlockItem",
    "QtLinkItem",
    "QtPortItem",
    "compact_count",
]

#: Items are drawn a little wider than the model's 180 so shapes and counts fit side by side;
#: side-by-side branches stay COLUMN_SPACING (230) apart, so they still do not touch.
BLOCK_WIDTH = min(200.0, COLUMN_SPACING - 24.0)
PORT_RADIUS = 5.5
_CORNER = 7.0
_PAD = 8.0
_LINK_COLOR = QColor("#5a6270")
_SELECT_COLOR = QColor("#1e6fd9")


def _fonts() -> tuple[QFont, QFont, QFont]:
    title = QFont()
    title.setPointSizeF(9.5)
    title.setBold(True)
    body = QFont()
    body.setPointSizeF(8.5)
    shape = QFont()
    shape.setPointSizeF(10.0)
    shape.setBold(True)
    return title, body, shape


class QtPortItem(QGraphicsEllipseItem):
    """A connection point: ``"in"`` on the block's top edge, ``"out"`` on its bottom edge."""

    def __init__(self, block: QtBlockItem, kind: str) -> None:
        super().__init__(-PORT_RADIUS, -PORT_RADIUS, 2 * PORT_RADIUS, 2 * PORT_RADIUS, block)
        self.block = block
        self.kind = kind
        self.setBrush(QBrush(QColor("#ffffff")))
        self.setPen(QPen(_LINK_COLOR, 1.5))
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setZValue(2)
        y = 0.0 if kind == "in" else BLOCK_HEIGHT
        self.setPos(BLOCK_WIDTH / 2, y)
        what = (
            "Drag to another block's top port to connect"
            if kind == "out"
            else ("Drag to another block's bottom port to connect")
        )
        self.setToolTip(what)

    @property
    def block_id(self) -> str:
        return self.block.block_id

    def scene_center(self) -> QPointF:
        return self.mapToScene(QPointF(0, 0))

    def set_highlighted(self, on: bool) -> None:
        self.setBrush(QBrush(_SELECT_COLOR if on else QColor("#ffffff")))

    def shape(self) -> QPainterPath:
        # A larger hit area than the drawn dot: ports are small targets.
        path = QPainterPath()
        r = PORT_RADIUS + 5
        path.addEllipse(QRectF(-r, -r, 2 * r, 2 * r))
        return path

    def hoverEnterEvent(self, event) -> None:
        self.set_highlighted(True)
        super().hoverEnterEvent(event)

    def hoverLeaveEvent(self, event) -> None:
        self.set_highlighted(False)
        super().hoverLeaveEvent(event)


class QtBlockItem(QGraphicsObject):
    """One block on the canvas: name, key parameters, output shape, parameter count, badges.

    Attributes
    ----------
    block_id : str
    spec : BlockSpec
    title_text, summary_text, shape_text, params_text : str
        What the item currently shows (tests read these).
    error, warning : str or None
        The first error / warning inference reported for the block.
    """

    def __init__(self, block_id: str, spec: BlockSpec) -> None:
        super().__init__()
        self.block_id = block_id
        self.spec = spec
        self.title_text = spec.label
        self.summary_text = ""
        self.shape_text = "?"
        self.params_text = ""
        self.error: str | None = None
        self.warning: str | None = None
        self.param_count = 0
        self.links: set[QtLinkItem] = set()
        self._icon = block_icon(spec)
        self._color = group_color(spec.group)
        self.setFlags(
            QGraphicsItem.GraphicsItemFlag.ItemIsMovable
            | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
            | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges
        )
        self.setAcceptHoverEvents(True)
        self.setZValue(1)
        self.in_port = QtPortItem(self, "in") if spec.max_inputs != 0 else None
        self.out_port = QtPortItem(self, "out") if spec.type != "Output" else None
        self._update_tooltip()

    # -- content -------------------------------------------------------------------------
    def set_content(self, title: str, summary: str) -> None:
        """Show the block's name and its key parameters (``6 filters 5x5 pad 2``)."""
        if (title, summary) != (self.title_text, self.summary_text):
            self.title_text, self.summary_text = title, summary
            self._update_tooltip()
            self.update()

    def set_info(self, info: BlockInfo | None) -> None:
        """Show what shape inference found: output shape, parameters, error and warning."""
        if info is None:
            shape, params, error, warning = "?", "", None, None
        else:
            shape = info.shape_text
            params = f"{info.params:,} params" if info.params else "no weights"
            self.param_count = info.params
            error = info.errors[0] if info.errors else None
            warning = info.warnings[0] if info.warnings else None
        if (shape, params, error, warning) != (
            self.shape_text,
            self.params_text,
            self.error,
            self.warning,
        ):
            self.shape_text, self.params_text = shape, params
            self.error, self.warning = error, warning
            self._update_tooltip()
            self.update()

    def _update_tooltip(self) -> None:
        lines = [f"<b>{self.title_text}</b> ({self.spec.label})"]
        if self.summary_text:
            lines.append(self.summary_text)
        lines.append(f"Output: {self.shape_text} · {self.params_text or 'no weights'}")
        if self.error:
            lines.append(
                f"<span style='color:{ERROR_COLOR.name()}'><b>Problem:</b> {self.error}</span>"
            )
        if self.warning:
            lines.append(f"<span style='color:#a06000'><b>Note:</b> {self.warning}</span>")
        self.setToolTip("<div style='max-width:340px'>" + "<br>".join(lines) + "</div>")

    # -- geometry ------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        m = PORT_RADIUS + 3
        return QRectF(-3, -m, BLOCK_WIDTH + 14, BLOCK_HEIGHT + 2 * m)

    def body_rect(self) -> QRectF:
        return QRectF(0, 0, BLOCK_WIDTH, BLOCK_HEIGHT)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRoundedRect(self.body_rect(), _CORNER, _CORNER)
        return path

    def center(self) -> QPointF:
        return self.mapToScene(self.body_rect().center())

    def in_point(self) -> QPointF:
        return self.mapToScene(QPointF(BLOCK_WIDTH / 2, 0))

    def out_point(self) -> QPointF:
        return self.mapToScene(QPointF(BLOCK_WIDTH / 2, BLOCK_HEIGHT))

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value):
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            for link in list(self.links):
                link.update_path()
        elif change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self.setZValue(3 if value else 1)
        return super().itemChange(change, value)

    # -- painting ------------------------------------------------------------------------
    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        body = self.body_rect()
        title_font, body_font, shape_font = _fonts()
        title_h = QFontMetricsF(title_font).height() + 6

        # Body and a coloured title strip.
        if self.error:
            outline = QPen(ERROR_COLOR, 2.5)
        elif self.isSelected():
            outline = QPen(_SELECT_COLOR, 2.5)
        else:
            outline = QPen(self._color.darker(150), 1.2)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 28))
        painter.drawRoundedRect(body.translated(2, 3), _CORNER, _CORNER)
        painter.setBrush(QColor("#ffffff"))
        painter.drawRoundedRect(body, _CORNER, _CORNER)
        strip = QPainterPath()
        strip.addRoundedRect(body, _CORNER, _CORNER)
        clip = QPainterPath()
        clip.addRect(QRectF(body.left(), body.top(), body.width(), title_h))
        painter.setBrush(self._color.lighter(115))
        painter.drawPath(strip.intersected(clip))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(outline)
        painter.drawRoundedRect(body, _CORNER, _CORNER)
        if self.isSelected() and self.error:
            painter.setPen(QPen(_SELECT_COLOR, 1.2, Qt.PenStyle.DashLine))
            painter.drawRoundedRect(body.adjusted(-4, -4, 4, 4), _CORNER + 3, _CORNER + 3)

        # Title: icon, name, and the kind of block when the name is the user's own.
        icon_size = 16.0
        self._icon.paint(
            painter,
            int(body.left() + _PAD),
            int(body.top() + (title_h - icon_size) / 2),
            int(icon_size),
            int(icon_size),
        )
        x = body.left() + _PAD + icon_size + 5
        badge_space = 24.0 if (self.error or self.warning) else 0.0
        painter.setPen(QColor("#1b1b1b"))
        painter.setFont(title_font)
        title_rect = QRectF(x, body.top(), body.right() - x - _PAD - badge_space, title_h)
        fm = QFontMetricsF(title_font)
        painter.drawText(
            title_rect,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            fm.elidedText(self.title_text, Qt.TextElideMode.ElideRight, title_rect.width()),
        )

        # Key parameters (left) over output shape (right) and parameter count (left).
        inner = QRectF(body.left() + _PAD, body.top() + title_h + 2, body.width() - 2 * _PAD, 0)
        painter.setFont(body_font)
        bfm = QFontMetricsF(body_font)
        line_h = bfm.height()
        painter.setPen(QColor("#333333"))
        summary = self.summary_text or self.spec.description
        painter.drawText(
            QRectF(inner.left(), inner.top(), inner.width(), line_h),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            bfm.elidedText(summary, Qt.TextElideMode.ElideRight, inner.width()),
        )
        bottom = QRectF(inner.left(), body.bottom() - line_h - 5, inner.width(), line_h + 2)
        painter.setFont(shape_font)
        painter.setPen(ERROR_COLOR if self.error else QColor("#0b3d91"))
        shape_text = "→ " + self.shape_text
        painter.drawText(
            bottom, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, shape_text
        )
        # The parameter count gets what the shape leaves, in shorter forms if need be.
        room = bottom.width() - QFontMetricsF(shape_font).horizontalAdvance(shape_text) - 8
        painter.setFont(body_font)
        painter.setPen(QColor("#666666"))
        text = self.params_text
        if self.param_count and bfm.horizontalAdvance(text) > room:
            text = f"{compact_count(self.param_count)} params"
            if bfm.horizontalAdvance(text) > room:
                text = compact_count(self.param_count)
        painter.drawText(
            bottom,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            bfm.elidedText(text, Qt.TextElideMode.ElideRight, max(0.0, room)),
        )

        # Badges.
        if self.error or self.warning:
            color = ERROR_COLOR if self.error else WARNING_COLOR
            r = 8.0
            c = QPointF(body.right() - _PAD - r, body.top() + title_h / 2)
            painter.setPen(QPen(QColor("#ffffff"), 1.5))
            painter.setBrush(color)
            if self.error:
                painter.drawEllipse(c, r, r)
            else:
                tri = QPolygonF(
                    [
                        QPointF(c.x(), c.y() - r - 1),
                        QPointF(c.x() + r + 1, c.y() + r - 1),
                        QPointF(c.x() - r - 1, c.y() + r - 1),
                    ]
                )
                painter.drawPolygon(tri)
            badge_font = QFont(title_font)
            badge_font.setPointSizeF(8.5)
            painter.setFont(badge_font)
            painter.setPen(QColor("#ffffff"))
            painter.drawText(
                QRectF(c.x() - r, c.y() - r + (1 if not self.error else 0), 2 * r, 2 * r),
                Qt.AlignmentFlag.AlignCenter,
                "!",
            )


class QtLinkItem(QGraphicsPathItem):
    """A wire from a block's output port to another block's input port (a cubic curve)."""

    def __init__(self, source: QtBlockItem, target: QtBlockItem) -> None:
        super().__init__()
        self.source = source
        self.target = target
        source.links.add(self)
        target.links.add(self)
        self._highlight = False
        self._arrow = QPolygonF()
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self.setZValue(0)
        self.setToolTip("Drop a block here to insert it; select and press Delete to disconnect")
        self.update_path()

    @property
    def key(self) -> tuple[str, str]:
        return (self.source.block_id, self.target.block_id)

    def detach(self) -> None:
        self.source.links.discard(self)
        self.target.links.discard(self)

    def set_highlighted(self, on: bool) -> None:
        if on != self._highlight:
            self._highlight = on
            self.update()

    def update_path(self) -> None:
        start = self.source.out_point() + QPointF(0, PORT_RADIUS)
        end = self.target.in_point() - QPointF(0, PORT_RADIUS + 1)
        self.prepareGeometryChange()
        self.setPath(link_path(start, end, self._detour()))
        self._arrow = _arrow_head(end, self.path())

    def _detour(self) -> float:
        """Sideways bulge so a wire skipping over blocks does not run through them."""
        scene = self.scene()
        if scene is None:
            return 0.0
        start, end = self.source.out_point(), self.target.in_point()
        if end.y() - start.y() < 2 * BLOCK_HEIGHT:
            return 0.0
        # Blocks within 30 px of the wire's straight run count as in the way.
        corridor = QRectF(
            min(start.x(), end.x()) - 30,
            start.y() + 10,
            abs(end.x() - start.x()) + 60,
            end.y() - start.y() - 20,
        )
        blockers = [
            it
            for it in scene.items(corridor)
            if isinstance(it, QtBlockItem) and it is not self.source and it is not self.target
        ]
        if not blockers:
            return 0.0
        right = max(it.sceneBoundingRect().right() for it in blockers)
        return right - max(start.x(), end.x()) + 40

    def boundingRect(self) -> QRectF:
        return super().boundingRect().united(self._arrow.boundingRect()).adjusted(-4, -4, 4, 4)

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(14)
        return stroker.createStroke(self.path())

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self._highlight:
            color, width = QColor("#2e9d4f"), 4.0
        elif self.isSelected():
            color, width = _SELECT_COLOR, 3.0
        else:
            color, width = _LINK_COLOR, 1.8
        painter.setPen(QPen(color, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path())
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawPolygon(self._arrow)


def compact_count(n: int) -> str:
    """``2416`` -> ``2.4k``, ``1250000`` -> ``1.3M``: a parameter count for a tight spot."""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k".replace(".0k", "k")
    return f"{n / 1_000_000:.1f}M".replace(".0M", "M")


def link_path(start: QPointF, end: QPointF, detour: float = 0.0) -> QPainterPath:
    """A cubic curve leaving ``start`` downwards and entering ``end`` from above."""
    path = QPainterPath(start)
    dy = max(30.0, abs(end.y() - start.y()) / 2)
    if end.y() < start.y():  # wiring upwards: loop around instead of cutting through
        dy = max(60.0, abs(end.y() - start.y()) / 2)
    if detour:
        mid_x = max(start.x(), end.x()) + detour
        mid = QPointF(mid_x, (start.y() + end.y()) / 2)
        path.cubicTo(QPointF(start.x(), start.y() + 40), QPointF(mid_x, start.y() + 20), mid)
        path.cubicTo(QPointF(mid_x, end.y() - 20), QPointF(end.x(), end.y() - 40), end)
        return path
    path.cubicTo(QPointF(start.x(), start.y() + dy), QPointF(end.x(), end.y() - dy), end)
    return path


def _arrow_head(tip: QPointF, path: QPainterPath, size: float = 9.0) -> QPolygonF:
    back = path.pointAtPercent(max(0.0, path.percentAtLength(path.length() - size)))
    line = QLineF(back, tip)
    if line.length() < 1e-6:
        angle = math.pi / 2
    else:
        angle = math.atan2(tip.y() - back.y(), tip.x() - back.x())
    left = QPointF(tip.x() - size * math.cos(angle - 0.45), tip.y() - size * math.sin(angle - 0.45))
    right = QPointF(
        tip.x() - size * math.cos(angle + 0.45), tip.y() - size * math.sin(angle + 0.45)
    )
    return QPolygonF([tip, left, right])
