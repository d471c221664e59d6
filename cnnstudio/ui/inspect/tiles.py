"""A painted grid of small images in labelled groups (feature maps, kernels, galleries).

One QImage per group (an atlas of its tiles side by side) is drawn tile by tile, so
repainting dozens of feature maps costs a handful of draw calls, not one per pixel.
Levels are fixed per group (the group's own range, or symmetric around 0 for weights),
so channels of one layer compare honestly. A group's tiles are grey or diverging
(N, H, W), or colour (N, 3, H, W): pictures in [0, 1], or RGB kernels around mid-grey.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

__all__ = ["DIVERGING_LUT", "QtTileCanvas", "TileGroup", "pixmap", "to_rgb_atlas", "to_uint8"]


def _diverging_lut() -> np.ndarray:
    """256 RGB colours: blue (negative) - white (0) - red (positive)."""
    t = np.linspace(-1.0, 1.0, 256)
    lut = np.empty((256, 3), dtype=np.float64)
    neg = t < 0
    lut[neg] = np.outer(1 + t[neg], [1, 1, 1]) + np.outer(-t[neg], [0.13, 0.35, 0.75])
    lut[~neg] = np.outer(1 - t[~neg], [1, 1, 1]) + np.outer(t[~neg], [0.75, 0.12, 0.12])
    return np.clip(lut * 255, 0, 255).astype(np.uint8)


DIVERGING_LUT = _diverging_lut()


def to_uint8(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Scale ``a`` from the fixed levels ``[lo, hi]`` to 0..255 (NaN becomes 0)."""
    span = hi - lo if hi > lo else 1.0
    out = (np.nan_to_num(np.asarray(a, dtype=np.float32), nan=lo) - lo) * (255.0 / span)
    return np.clip(out, 0, 255).astype(np.uint8)


def to_rgb_atlas(tiles: np.ndarray, symmetric: bool) -> tuple[np.ndarray, tuple[float, float]]:
    """(N, H, W) or colour (N, 3, H, W) float tiles -> uint8 (H, N*W, 3) atlas and the levels.

    Grey tiles: ``symmetric`` means levels ``[-m, m]`` through the diverging colour map
    (weights); otherwise ``[min, max]`` in grey (activations).

    Colour tiles: ``symmetric`` means each channel is ``128 + 127 * v / m`` with ``m``
    the largest ``|v|`` of the group, so 0 is mid-grey and a channel brighter than grey
    is positive (RGB kernels); otherwise they are pictures in [0, 1], never stretched.
    """
    colour = tiles.ndim == 4
    finite = tiles[np.isfinite(tiles)]
    if symmetric:
        m = float(np.abs(finite).max()) if finite.size else 1.0
        levels = (-m, m) if m > 0 else (-1.0, 1.0)
    elif colour:
        levels = (0.0, 1.0)
    else:
        lo = float(finite.min()) if finite.size else 0.0
        hi = float(finite.max()) if finite.size else 1.0
        levels = (lo, hi)
    idx = to_uint8(tiles, *levels)
    if colour:
        n, c, h, w = idx.shape
        if c != 3:
            raise ValueError(f"colour tiles need 3 channels, got {c}")
        return np.ascontiguousarray(idx.transpose(2, 0, 3, 1).reshape(h, n * w, 3)), levels
    n, h, w = idx.shape
    flat = np.ascontiguousarray(idx.transpose(1, 0, 2).reshape(h, n * w))
    if symmetric:
        return np.ascontiguousarray(DIVERGING_LUT[flat]), levels
    return np.ascontiguousarray(np.repeat(flat[..., None], 3, axis=2)), levels


def pixmap(image: np.ndarray, size: int) -> QPixmap:
    """A float [0, 1] (H, W) or (C, H, W) image as a pixmap ``size`` pixels high (nearest)."""
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    u8 = np.clip(np.nan_to_num(a) * 255.0, 0, 255).astype(np.uint8)
    if u8.ndim == 2:
        u8 = np.ascontiguousarray(u8)
        qimg = QImage(
            u8.data, u8.shape[1], u8.shape[0], u8.strides[0], QImage.Format.Format_Grayscale8
        )
    else:
        u8 = np.ascontiguousarray(u8.transpose(1, 2, 0))
        qimg = QImage(u8.data, u8.shape[1], u8.shape[0], u8.strides[0], QImage.Format.Format_RGB888)
    pix = QPixmap.fromImage(qimg.copy())
    return pix.scaledToHeight(size, Qt.TransformationMode.FastTransformation)


@dataclass
class TileGroup:
    """One labelled row of tiles: ``tiles`` (N, H, W) or colour (N, 3, H, W) float.

    Each tile may have a label under it; ``tooltip`` says how the group is drawn;
    ``run`` tiles in a row belong together (kept on one line, a wider gap after).
    """

    key: str
    caption: str
    tiles: np.ndarray
    symmetric: bool = False
    tile_labels: list[str] | None = None
    image: QImage | None = None
    levels: tuple[float, float] = (0.0, 1.0)
    tooltip: str = ""
    run: int = 1

    @property
    def colour(self) -> bool:
        return self.tiles.ndim == 4

    @property
    def tile_shape(self) -> tuple[int, int]:
        """(H, W) of one tile."""
        h, w = self.tiles.shape[-2:]
        return int(h), int(w)

    def render(self) -> None:
        atlas, self.levels = to_rgb_atlas(np.asarray(self.tiles, dtype=np.float32), self.symmetric)
        h, w = atlas.shape[:2]
        self._atlas = atlas  # QImage does not own the buffer; keep it alive
        self.image = QImage(atlas.data, w, h, 3 * w, QImage.Format.Format_RGB888)


class QtTileCanvas(QWidget):
    """Groups of tiles, wrapped to the widget's width; click a tile to pick it.

    Live feature maps refresh a few times a second with hundreds or thousands of
    tiles, so the canvas does as little as it can per refresh: the layout is kept
    while the groups' shapes and the width stay the same, and each group (caption,
    tiles, frames, labels) is drawn once into an image the first time it is painted
    after a refresh. A repaint then draws one image per exposed group; only the
    groups on screen are ever drawn, and only their images are kept.

    Signals
    -------
    tile_clicked(str, int)
        The group key and the tile index.
    """

    tile_clicked = Signal(str, int)

    CAPTION_H = 20
    GAP = 3
    GROUP_GAP = 10
    LABEL_H = 14

    def __init__(self, tile_size: int = 48, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tile_size = tile_size
        self.groups: list[TileGroup] = []
        self._rects: list[tuple[QRect, str, int]] = []
        #: Per group (same order as ``groups``): its area on the canvas, caption included,
        #: and where its tiles are in ``_rects``.
        self._areas: list[QRect] = []
        self._spans: list[range] = []
        self._layout_key: tuple | None = None
        #: Times the tiles were laid out (a refresh with the same shapes does not).
        self.layouts = 0
        #: Group index -> the group drawn at the canvas's scale (until the next refresh).
        self._drawn: dict[int, QImage] = {}
        self._selected: tuple[str, int] | None = None
        self._height = 40
        self.empty_text = "Nothing to show yet."
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
        self.setMouseTracking(False)
        self.setAutoFillBackground(True)

    def set_groups(self, groups: list[TileGroup]) -> None:
        for g in groups:
            if g.image is None:
                g.render()
        self.groups = groups
        self._drawn.clear()
        self._relayout()
        self.update()

    def set_selected(self, key: str | None, index: int = 0) -> None:
        self._selected = None if key is None else (key, index)
        self.update()

    def tile_rect(self, key: str, index: int) -> QRect | None:
        for rect, k, i in self._rects:
            if k == key and i == index:
                return QRect(rect)
        return None

    def _tile_px(self, group: TileGroup) -> tuple[int, int]:
        h, w = group.tile_shape
        scale = self.tile_size / max(h, w)
        return max(round(w * scale), 4), max(round(h * scale), 4)

    def _relayout(self) -> None:
        width = max(self.width(), 200)
        # Everything the positions depend on; captions and values do not move a tile.
        key = (
            width,
            self.tile_size,
            tuple(
                (g.key, g.tiles.shape[0], g.tile_shape, bool(g.tile_labels), g.run)
                for g in self.groups
            ),
        )
        if key == self._layout_key:
            return
        self._layout_key = key
        self.layouts += 1
        self._drawn.clear()
        y = 4
        rects: list[tuple[QRect, str, int]] = []
        areas: list[QRect] = []
        spans: list[range] = []
        for g in self.groups:
            top = y
            first = len(rects)
            y += self.CAPTION_H
            tw, th = self._tile_px(g)
            label_h = self.LABEL_H if g.tile_labels else 0
            x = 4
            right = width
            run = max(g.run, 1)
            run_w = run * tw + (run - 1) * self.GAP
            for i in range(g.tiles.shape[0]):
                # A run (e.g. one kernel's R, G, B) wraps as a whole, a gap after it.
                if i % run == 0 and x + run_w > width - 4 and x > 4:
                    x = 4
                    y += th + label_h + self.GAP
                rects.append((QRect(x, y, tw, th), g.key, i))
                right = max(right, x + tw + 2)  # a label reaches 2 px past its tile
                x += tw + self.GAP + (2 * self.GAP if run > 1 and i % run == run - 1 else 0)
            y += th + label_h
            areas.append(QRect(0, top, right, y - top))
            spans.append(range(first, len(rects)))
            y += self.GROUP_GAP
        self._rects = rects
        self._areas = areas
        self._spans = spans
        self._height = max(y, 40)
        self.updateGeometry()
        self.setMinimumHeight(self._height)

    def sizeHint(self) -> QSize:
        return QSize(600, self._height)

    def resizeEvent(self, event) -> None:
        self._relayout()
        super().resizeEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        exposed = event.rect()
        painter.fillRect(exposed, QColor("white"))
        if not self.groups:
            painter.setPen(QColor("#666"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.empty_text)
            return
        # Keep the images of the groups on screen only (a scroll exposes a strip).
        seen = self.visibleRegion().boundingRect().united(exposed)
        for index in [i for i in self._drawn if not self._areas[i].intersects(seen)]:
            del self._drawn[index]
        for index, area in enumerate(self._areas):
            if not area.intersects(exposed):
                continue
            image = self._drawn.get(index)
            if image is None:
                image = self._drawn[index] = self._draw_group(index)
            painter.drawImage(area.topLeft(), image)
        if self._selected is not None:
            rect = self.tile_rect(*self._selected)
            if rect is not None:
                painter.setPen(QPen(QColor("#e65100"), 2))
                painter.drawRect(rect.adjusted(-1, -1, 0, 0))

    def _draw_group(self, index: int) -> QImage:
        """Group ``index`` (caption, tiles, their frames and labels) at the canvas's scale."""
        g, area = self.groups[index], self._areas[index]
        ratio = self.devicePixelRatioF()
        image = QImage(
            max(round(area.width() * ratio), 1),
            max(round(area.height() * ratio), 1),
            QImage.Format.Format_RGB32,
        )
        image.setDevicePixelRatio(ratio)
        image.fill(QColor("white"))
        painter = QPainter(image)
        painter.translate(-area.topLeft())
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        small = QFont(self.font())
        small.setPointSizeF(max(self.font().pointSizeF() * 0.8, 6.0))
        frame = QPen(QColor("#bbb"), 1)
        h, w = g.tile_shape
        for n in self._spans[index]:
            rect, _key, i = self._rects[n]
            if g.image is not None:
                painter.drawImage(rect, g.image, QRect(i * w, 0, w, h))
            painter.setPen(frame)
            painter.drawRect(rect.adjusted(0, 0, -1, -1))
            if g.tile_labels:
                painter.setFont(small)
                painter.setPen(QColor("#333"))
                painter.drawText(
                    QRect(rect.x() - 2, rect.bottom() + 1, rect.width() + 4, self.LABEL_H),
                    Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                    g.tile_labels[i],
                )
        if self._spans[index]:
            first = self._rects[self._spans[index][0]][0]
            caption_font = QFont(self.font())
            caption_font.setBold(True)
            painter.setFont(caption_font)
            painter.setPen(QColor("#222"))
            painter.drawText(
                QRect(4, first.y() - self.CAPTION_H, self.width() - 8, self.CAPTION_H - 2),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom,
                g.caption,
            )
        painter.end()
        return image

    def tile_at(self, pos: QPoint) -> tuple[str, int] | None:
        for rect, key, i in self._rects:
            if rect.contains(pos):
                return key, i
        return None

    def event(self, event: QEvent) -> bool:
        # A tile's tooltip: its own label and how its group is drawn.
        if event.type() == QEvent.Type.ToolTip:
            text = self.tooltip_at(event.pos())  # type: ignore[attr-defined]
            if text:
                QToolTip.showText(event.globalPos(), text, self)  # type: ignore[attr-defined]
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)

    def tooltip_at(self, pos: QPoint) -> str:
        """The tooltip the tile at ``pos`` shows (empty between tiles)."""
        hit = self.tile_at(pos)
        group = next((g for g in self.groups if hit and g.key == hit[0]), None)
        if group is None or hit is None:
            return ""
        label = group.tile_labels[hit[1]] if group.tile_labels else ""
        return "\n".join(t for t in (label, group.tooltip) if t)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        hit = self.tile_at(event.position().toPoint())
        if hit is not None:
            self.set_selected(*hit)
            self.tile_clicked.emit(*hit)
        super().mousePressEvent(event)
