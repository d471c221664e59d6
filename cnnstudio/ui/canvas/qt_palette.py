"""The block palette: every block of the registry, grouped, each draggable onto the canvas."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import (
    QByteArray,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QDrag,
    QFont,
    QFontMetrics,
    QIcon,
    QPainter,
    QPalette,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.model.registry import GROUPS, BlockSpec, block_spec, blocks_in_group
from cnnstudio.ui.canvas.style import block_icon, group_color

__all__ = ["BLOCK_MIME_TYPE", "QtBlockPalette", "block_type_from_mime", "mime_for_block"]

#: MIME type of a palette drag; the payload is the block type in UTF-8 (e.g. ``Conv2D``).
BLOCK_MIME_TYPE = "application/x-cnnstudio-block"

_TYPE_ROLE = Qt.ItemDataRole.UserRole + 1
_DESC_ROLE = Qt.ItemDataRole.UserRole + 2


def mime_for_block(block_type: str) -> QMimeData:
    """The drag payload for one block type."""
    mime = QMimeData()
    mime.setData(BLOCK_MIME_TYPE, QByteArray(block_type.encode("utf-8")))
    mime.setText(block_type)
    return mime


def block_type_from_mime(mime: QMimeData | None) -> str | None:
    """The block type carried by a palette drag, or None for any other payload."""
    if mime is None or not mime.hasFormat(BLOCK_MIME_TYPE):
        return None
    return bytes(mime.data(BLOCK_MIME_TYPE).data()).decode("utf-8", errors="replace") or None


class _EntryDelegate(QStyledItemDelegate):
    """Draws a block entry as icon, bold name and a wrapped grey one-line description."""

    PAD = 6
    ICON = 24

    def _fonts(self, option: QStyleOptionViewItem) -> tuple[QFont, QFont]:
        name_font = QFont(option.font)
        name_font.setBold(True)
        desc_font = QFont(option.font)
        desc_font.setPointSizeF(max(7.0, option.font.pointSizeF() * 0.9))
        return name_font, desc_font

    def _text_width(self, option: QStyleOptionViewItem) -> int:
        # During layout option.rect is not set yet: measure against the tree's viewport.
        width = option.rect.width()
        tree = option.widget
        if isinstance(tree, QTreeWidget):
            width = tree.viewport().width() - tree.indentation() * 2
        elif width <= 0:
            width = 200
        return max(60, width - self.ICON - 3 * self.PAD)

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        desc = index.data(_DESC_ROLE)
        if desc is None:  # a group header
            return super().sizeHint(option, index)
        name_font, desc_font = self._fonts(option)
        width = self._text_width(option)
        name_h = QFontMetrics(name_font).height()
        desc_rect = QFontMetrics(desc_font).boundingRect(
            QRect(0, 0, width, 1000), Qt.TextFlag.TextWordWrap, str(desc)
        )
        return QSize(width + self.ICON + 3 * self.PAD, name_h + desc_rect.height() + 2 * self.PAD)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        desc = index.data(_DESC_ROLE)
        if desc is None:
            super().paint(painter, option, index)
            return
        painter.save()
        widget = option.widget
        style = widget.style() if widget is not None else None
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        opt.icon = QIcon()
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        rect = option.rect
        icon = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(icon, QIcon):
            icon.paint(
                painter, QRect(rect.left() + self.PAD, rect.top() + self.PAD, self.ICON, self.ICON)
            )
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        text_color = option.palette.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        name_font, desc_font = self._fonts(option)
        x = rect.left() + self.ICON + 2 * self.PAD
        width = rect.right() - x - self.PAD
        name_h = QFontMetrics(name_font).height()
        painter.setFont(name_font)
        painter.setPen(text_color)
        painter.drawText(
            QRect(x, rect.top() + self.PAD, width, name_h),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            str(index.data(Qt.ItemDataRole.DisplayRole)),
        )
        painter.setFont(desc_font)
        grey = QColor(text_color)
        if not selected:
            grey.setAlpha(170)
        painter.setPen(grey)
        painter.drawText(
            QRect(x, rect.top() + self.PAD + name_h, width, rect.height() - name_h - self.PAD),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
            str(desc),
        )
        painter.restore()


class _PaletteTree(QTreeWidget):
    """The tree of groups and blocks; drags carry :data:`BLOCK_MIME_TYPE`."""

    def mimeTypes(self) -> list[str]:
        return [BLOCK_MIME_TYPE]

    def mimeData(self, items: Sequence[QTreeWidgetItem]) -> QMimeData:  # type: ignore[override]
        types = [it.data(0, _TYPE_ROLE) for it in items if it.data(0, _TYPE_ROLE)]
        return mime_for_block(types[0] if types else "")

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    def startDrag(self, supported_actions: Qt.DropAction) -> None:
        item = self.currentItem()
        block_type = item.data(0, _TYPE_ROLE) if item is not None else None
        if not block_type:
            return
        drag = QDrag(self)
        drag.setMimeData(mime_for_block(str(block_type)))
        drag.setPixmap(_drag_pixmap(str(block_type), self.devicePixelRatioF()))
        # The preview hangs below-right of the pointer so the wire under it stays visible.
        drag.setHotSpot(QPoint(-14, -12))
        drag.exec(Qt.DropAction.CopyAction, Qt.DropAction.CopyAction)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        # Wrapped descriptions change height with the width.
        self.scheduleDelayedItemsLayout()


class QtBlockPalette(QWidget):
    """The Blocks dock: a filter box and the registry's blocks grouped as in the notes.

    Drag an entry onto the canvas, or double-click it to append it to the network.

    Signals
    -------
    block_activated(str)
        The user double-clicked (or pressed Enter on) a block entry; carries its type.
    """

    block_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("blockPalette")
        self.filter_edit = QLineEdit(self)
        self.filter_edit.setPlaceholderText("Filter blocks…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._on_filter_changed)

        self.tree = _PaletteTree(self)
        self.tree.setObjectName("blockPaletteTree")
        self.tree.setHeaderHidden(True)
        self.tree.setColumnCount(1)
        self.tree.setIndentation(10)
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(False)
        self.tree.setWordWrap(True)
        self.tree.setIconSize(QSize(24, 24))
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tree.setItemDelegate(_EntryDelegate(self.tree))
        self.tree.itemActivated.connect(self._on_item_activated)

        self._items: dict[str, QTreeWidgetItem] = {}
        self._groups: dict[str, QTreeWidgetItem] = {}
        self._populate()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.tree)
        self.setMinimumWidth(210)

    def _populate(self) -> None:
        header_font = QFont(self.font())
        header_font.setBold(True)
        for group in GROUPS:
            specs = blocks_in_group(group)
            if not specs:
                continue
            group_item = QTreeWidgetItem([group])
            group_item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            group_item.setFont(0, header_font)
            group_item.setForeground(0, group_color(group).darker(150))
            self.tree.addTopLevelItem(group_item)
            self._groups[group] = group_item
            for spec in specs:
                group_item.addChild(self._entry(spec))
            group_item.setExpanded(True)

    def _entry(self, spec: BlockSpec) -> QTreeWidgetItem:
        item = QTreeWidgetItem([spec.label])
        item.setData(0, _TYPE_ROLE, spec.type)
        item.setData(0, _DESC_ROLE, spec.description)
        item.setIcon(0, block_icon(spec))
        item.setToolTip(0, _tooltip(spec))
        item.setFlags(
            Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled
        )
        self._items[spec.type] = item
        return item

    # -- public --------------------------------------------------------------------------
    def block_types(self) -> list[str]:
        """Block types in palette order."""
        return list(self._items)

    def item_for(self, block_type: str) -> QTreeWidgetItem:
        """The palette entry of ``block_type`` (for tests and screenshots)."""
        return self._items[block_type]

    def mime_data(self, block_type: str) -> QMimeData:
        """The drag payload the palette itself produces for ``block_type``."""
        return self.tree.mimeData([self._items[block_type]])

    def entry_rect(self, block_type: str) -> QRect:
        """Where the entry of ``block_type`` is drawn, in the tree's viewport coordinates."""
        item = self._items[block_type]
        self.tree.scrollToItem(item)
        return self.tree.visualItemRect(item)

    # -- handlers ------------------------------------------------------------------------
    def _on_item_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        block_type = item.data(0, _TYPE_ROLE)
        if block_type:
            self.block_activated.emit(str(block_type))

    def _on_filter_changed(self, text: str) -> None:
        needle = text.strip().lower()
        for group, group_item in self._groups.items():
            visible = 0
            for i in range(group_item.childCount()):
                child = group_item.child(i)
                if child is None:
                    continue
                haystack = " ".join(
                    str(v)
                    for v in (
                        child.text(0),
                        child.data(0, _TYPE_ROLE),
                        child.data(0, _DESC_ROLE),
                        group,
                    )
                ).lower()
                hidden = bool(needle) and needle not in haystack
                child.setHidden(hidden)
                visible += not hidden
            group_item.setHidden(visible == 0)


def _drag_pixmap(block_type: str, ratio: float = 1.0) -> QPixmap:
    """A small block-shaped preview for the drag: icon and name on the group's colour."""
    spec = block_spec(block_type)
    font = QFont()
    font.setBold(True)
    width = QFontMetrics(font).horizontalAdvance(spec.label) + 44
    height = 28
    pixmap = QPixmap(int(width * ratio), int(height * ratio))
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    color = group_color(spec.group)
    color.setAlpha(225)
    painter.setBrush(color)
    painter.setPen(QPen(group_color(spec.group).darker(160), 1.2))
    painter.drawRoundedRect(QRectF(0.5, 0.5, width - 1, height - 1), 6, 6)
    block_icon(spec).paint(painter, QRect(6, 6, 16, 16))
    painter.setFont(font)
    painter.setPen(QColor("#1b1b1b"))
    painter.drawText(
        QRectF(28, 0, width - 30, height),
        Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
        spec.label,
    )
    painter.end()
    return pixmap


def _tooltip(spec: BlockSpec) -> str:
    paragraphs = "".join(f"<p>{p.strip()}</p>" for p in spec.help.split("\n\n") if p.strip())
    return (
        f"<div style='max-width: 360px'><b>{spec.label}</b>{paragraphs}"
        "<p><i>Drag onto the canvas, or double-click to append.</i></p></div>"
    )
