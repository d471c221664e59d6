"""Colours, fonts and icons shared by the palette, the canvas items and the inspector."""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap

from cnnstudio.model.registry import BlockSpec, block_spec, icon_path

__all__ = ["ERROR_COLOR", "WARNING_COLOR", "block_icon", "group_color"]

#: One hue per palette group, light enough for dark text on top.
_GROUP_COLORS = {
    "Input": "#7fb3d5",
    "Convolution": "#f0a05a",
    "Activation": "#e6c84f",
    "Pooling": "#7dc98f",
    "Flatten": "#b39ddb",
    "Dense": "#5fb8b0",
    "BatchNorm": "#a1b56c",
    "Dropout": "#c9a27e",
    "Branches": "#e48fb3",
    "Output": "#9aa7b8",
}

ERROR_COLOR = QColor("#d32f2f")
WARNING_COLOR = QColor("#f29f05")


def group_color(group: str) -> QColor:
    """The colour of a palette group (grey for an unknown one)."""
    return QColor(_GROUP_COLORS.get(group, "#b0b0b0"))


@lru_cache(maxsize=64)
def _icon_for(block_type: str) -> QIcon:
    spec = block_spec(block_type)
    path = icon_path(spec)
    if path.is_file():
        icon = QIcon(str(path))
        if not icon.isNull():
            return icon
    # No icon file (yet): a coloured tile with the block's initial reads well enough.
    pixmap = QPixmap(48, 48)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(group_color(spec.group))
    painter.setPen(group_color(spec.group).darker(160))
    painter.drawRoundedRect(QRectF(2, 2, 44, 44), 9, 9)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(24)
    painter.setFont(font)
    painter.setPen(QColor("#202020"))
    painter.drawText(QRectF(2, 2, 44, 44), Qt.AlignmentFlag.AlignCenter, spec.label[:1])
    painter.end()
    return QIcon(pixmap)


def block_icon(spec: BlockSpec | str) -> QIcon:
    """The block's icon from ``resources/icons/blocks`` (or a drawn stand-in)."""
    return _icon_for(spec.type if isinstance(spec, BlockSpec) else spec)
