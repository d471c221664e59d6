"""Every layer's output for one image, as rows of small channel tiles.

Used by Draw & Predict to show what each layer makes of the drawing. Tiles are
one image per layer, built with NumPy, so an update costs a few milliseconds for
LeNet-sized networks.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from cnnstudio.engine.layers.base import format_shape

__all__ = ["QtFeatureStrip", "array_to_qimage", "channel_mosaic"]

#: At most this many channels per layer are drawn (wide layers get "+N more").
MAX_TILES = 32


def array_to_qimage(values: np.ndarray, *, signed: bool = False) -> QImage:
    """A 2-D float array as an 8-bit grayscale QImage scaled to its own range.

    ``signed`` maps 0 to mid-grey (for kernels and gradients); otherwise the
    minimum is black and the maximum white. A constant map is drawn black.
    """
    a = np.asarray(values, dtype=np.float32)
    if signed:
        peak = float(np.abs(a).max()) or 1.0
        scaled = (a / peak) * 127.5 + 127.5
    else:
        lo, hi = float(a.min()), float(a.max())
        scaled = (a - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(a)
    pixels = np.ascontiguousarray(np.clip(scaled, 0, 255).astype(np.uint8))
    h, w = pixels.shape
    image = QImage(pixels.data, w, h, w, QImage.Format.Format_Grayscale8)
    return image.copy()  # own the pixels: `pixels` dies with this frame


def channel_mosaic(fmap: np.ndarray, columns: int, tile: int, gap: int = 2) -> np.ndarray:
    """Channels ``(C, H, W)`` as one uint8 grid image, each channel scaled to its own range.

    Tiles are enlarged by an integer factor (nearest neighbour, so pixels stay visible)
    to about ``tile`` pixels; unused cells and gaps are dark grey.
    """
    c, h, w = fmap.shape
    factor = max(1, tile // max(h, w))
    lo = fmap.min(axis=(1, 2), keepdims=True)
    span = fmap.max(axis=(1, 2), keepdims=True) - lo
    norm = np.divide(fmap - lo, span, out=np.zeros_like(fmap), where=span > 0)
    tiles = (norm * 255.0).astype(np.uint8)
    tiles = tiles.repeat(factor, axis=1).repeat(factor, axis=2)
    rows = -(-c // columns)
    th, tw = h * factor + gap, w * factor + gap
    padded = np.full((rows * columns, th, tw), 60, dtype=np.uint8)
    padded[:c, : th - gap, : tw - gap] = tiles
    grid = (
        padded.reshape(rows, columns, th, tw).transpose(0, 2, 1, 3).reshape(rows * th, columns * tw)
    )
    return np.ascontiguousarray(grid[: rows * th - gap, : columns * tw - gap])


class QtFeatureStrip(QScrollArea):
    """Rows ``caption | mosaic of the layer's channels``, one per layer, for one input.

    Each layer is one image (not one widget per channel), so a refresh costs well
    under a millisecond per layer.
    """

    def __init__(
        self, tile_size: int = 40, columns: int = 8, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.tile_size = tile_size
        self.columns = columns
        self.setWidgetResizable(True)
        self._body = QWidget()
        self._layout = QVBoxLayout(self._body)
        self._layout.setContentsMargins(4, 4, 4, 4)
        self._layout.setSpacing(6)
        self._layout.addStretch(1)
        self.setWidget(self._body)
        self._signature: tuple = ()
        self._rows: dict[str, tuple[QLabel, QLabel]] = {}
        self._empty = QLabel(
            "Feature maps appear here once there is a model and a drawing or a photo."
        )
        self._empty.setWordWrap(True)
        self._layout.insertWidget(0, self._empty)

    def clear(self) -> None:
        for caption, _image in self._rows.values():
            row = caption.parentWidget()
            if row is not None:
                row.deleteLater()
        self._rows.clear()
        self._signature = ()
        self._empty.show()

    def set_activations(self, activations: dict[str, np.ndarray], types: dict[str, str]) -> None:
        """Show ``{node_id: (1, C, H, W) or (1, F)}``; ``types`` maps node id to layer type."""
        maps = {k: v[0] for k, v in activations.items() if v.ndim == 4 and k in types}
        signature = tuple((k, v.shape) for k, v in maps.items())
        if signature != self._signature:
            self._rebuild(maps, types)
            self._signature = signature
        for node, fmap in maps.items():
            shown = fmap[:MAX_TILES].astype(np.float32, copy=False)
            grid = channel_mosaic(shown, min(self.columns, len(shown)), self.tile_size)
            height, width = grid.shape
            image = QImage(grid.data, width, height, width, QImage.Format.Format_Grayscale8)
            self._rows[node][1].setPixmap(QPixmap.fromImage(image))

    def _rebuild(self, maps: dict[str, np.ndarray], types: dict[str, str]) -> None:
        self.clear()
        self._empty.setVisible(not maps)
        for node, fmap in maps.items():
            row = QWidget()
            layout = QHBoxLayout(row)
            layout.setContentsMargins(0, 0, 0, 0)
            count = fmap.shape[0]
            more = f"<br>first {MAX_TILES} shown" if count > MAX_TILES else ""
            caption = QLabel(f"<b>{node}</b> · {types[node]}<br>{format_shape(fmap.shape)}{more}")
            caption.setFixedWidth(140)
            caption.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
            image = QLabel()
            image.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
            image.setToolTip(
                f"{node}: {count} channels, each scaled from its darkest to its brightest value"
            )
            layout.addWidget(caption)
            layout.addWidget(image, 1)
            self._layout.insertWidget(self._layout.count() - 1, row)
            self._rows[node] = (caption, image)
