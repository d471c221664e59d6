"""Every layer's output for one image, as rows of small channel tiles.

Used by Draw & Predict to show what each layer makes of the drawing. Tiles are
QLabels created once per network shape and only get new pixmaps afterwards, so an
update costs a few milliseconds for LeNet-sized networks.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QGridLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from cnnstudio.engine.layers.base import format_shape

__all__ = ["QtFeatureStrip", "array_to_qimage"]

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


class QtFeatureStrip(QScrollArea):
    """Rows ``caption | tile tile tile ...``, one per layer, for one input image."""

    def __init__(self, tile_size: int = 44, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tile_size = tile_size
        self.setWidgetResizable(True)
        self._body = QWidget()
        self._layout = QVBoxLayout(self._body)
        self._layout.setContentsMargins(4, 4, 4, 4)
        self._layout.setSpacing(6)
        self._layout.addStretch(1)
        self.setWidget(self._body)
        self._signature: tuple = ()
        self._rows: dict[str, tuple[QLabel, list[QLabel]]] = {}
        self._empty = QLabel("Feature maps appear here once there is a model and a drawing.")
        self._empty.setWordWrap(True)
        self._layout.insertWidget(0, self._empty)

    def clear(self) -> None:
        for caption, _tiles in self._rows.values():
            caption.parentWidget().deleteLater()
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
            _caption, tiles = self._rows[node]
            for c, tile in enumerate(tiles):
                image = array_to_qimage(fmap[c])
                tile.setPixmap(
                    QPixmap.fromImage(image).scaled(
                        self.tile_size,
                        self.tile_size,
                        Qt.AspectRatioMode.KeepAspectRatio,
                        Qt.TransformationMode.FastTransformation,
                    )
                )

    def _rebuild(self, maps: dict[str, np.ndarray], types: dict[str, str]) -> None:
        self.clear()
        self._empty.setVisible(not maps)
        per_row = 8
        for node, fmap in maps.items():
            row = QWidget()
            grid = QGridLayout(row)
            grid.setContentsMargins(0, 0, 0, 0)
            grid.setHorizontalSpacing(3)
            grid.setVerticalSpacing(3)
            count = fmap.shape[0]
            caption = QLabel(f"<b>{node}</b> · {types[node]}<br>{format_shape(fmap.shape)}")
            caption.setMinimumWidth(110)
            caption.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
            grid.addWidget(caption, 0, 0, 4, 1)
            tiles = []
            for c in range(min(count, MAX_TILES)):
                tile = QLabel()
                tile.setFixedSize(self.tile_size, self.tile_size)
                tile.setToolTip(f"{node}, channel {c + 1} of {count}")
                grid.addWidget(tile, c // per_row, 1 + c % per_row)
                tiles.append(tile)
            if count > MAX_TILES:
                more = QLabel(f"+{count - MAX_TILES} more")
                grid.addWidget(more, (MAX_TILES - 1) // per_row, 1 + per_row)
            grid.setColumnStretch(2 + per_row, 1)
            self._layout.insertWidget(self._layout.count() - 1, row)
            self._rows[node] = (caption, tiles)
