"""Lesson 2: an RGB input, 3-channel kernels summed into one map plus a bias, several filters."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.engine.layers.base import format_shape
from cnnstudio.model.learn.base import LabError, fmt
from cnnstudio.model.learn.channels import CHANNEL_NAMES, PHOTO_CLASSES, ChannelLab
from cnnstudio.ui.learn.qt_common import (
    block_signals,
    caption,
    card,
    lesson_header,
    spin,
    wrap_label,
)
from cnnstudio.ui.learn.qt_grid import QtNumberGrid

__all__ = ["QtChannelsLesson"]

TEXT = (
    "A colour image has three channels (red, green, blue), so each kernel has three slices, "
    "one per channel. Every slice slides over its own channel; the three sums and the "
    "filter's bias are added into <b>one</b> number. A layer has several filters, and each "
    "gives its own feature map: the output has as many channels as there are filters "
    "(written C@HxW). Click a cell of any feature map to see its sum; double-click to edit."
)

_TINTS = ("#c62828", "#2e7d32", "#1565c0")
#: Side in pixels of the photo and of its averaged grid beside the input channels.
_PHOTO_SIDE = 48


def _rgb_pixmap(x: np.ndarray, side: int) -> QPixmap:
    """A (3, H, W) picture in [0, 1] enlarged to ``side`` with its pixels visible."""
    rgb = np.ascontiguousarray((np.clip(x, 0, 1) * 255).round().astype(np.uint8).transpose(1, 2, 0))
    h, w = rgb.shape[:2]
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(image).scaled(
        side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation
    )


class QtChannelsLesson(QWidget):
    """Three input channels, the selected filter's three slices and bias, all feature maps."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lab = ChannelLab()
        self.selected = (0, 0, 0)  # filter, row, col
        root = QVBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        root.addWidget(lesson_header("2  Channels and feature maps", TEXT))

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Input"))
        self.input_combo = QComboBox()
        self.input_combo.addItem("Small numbers", "")
        for klass in PHOTO_CLASSES:
            self.input_combo.addItem(f"Photo: {klass}", klass)
        self.input_combo.setToolTip(
            "A few whole numbers, or a photo from the built-in CIFAR-10 sample averaged down "
            "to a grid small enough to read"
        )
        controls.addWidget(self.input_combo)
        # Beside the choice, small: the photo behind the numbers, and the photo averaged
        # down to the grid (the input grids already take the lesson's width).
        self.photo_label = QLabel()
        self.photo_label.setToolTip("The photo")
        self.grid_photo_label = QLabel()
        self.grid_photo_label.setToolTip("The photo averaged down to the input grid")
        self.photo_caption = QLabel()
        self.photo_caption.setStyleSheet("color: #555;")
        self.photo_panel = QWidget()
        photo_row = QHBoxLayout(self.photo_panel)
        photo_row.setContentsMargins(0, 0, 0, 0)
        photo_row.addWidget(self.photo_label)
        photo_row.addWidget(QLabel("→"))
        photo_row.addWidget(self.grid_photo_label)
        photo_row.addWidget(self.photo_caption)
        self.photo_panel.setVisible(False)
        controls.addWidget(self.photo_panel)
        controls.addSpacing(16)
        controls.addWidget(QLabel("Filters"))
        self.filters_spin = spin(1, 4, self.lab.n_filters, "How many feature maps the layer makes")
        controls.addWidget(self.filters_spin)
        controls.addSpacing(16)
        controls.addWidget(QLabel("Showing the weights of"))
        self.filter_combo = QComboBox()
        controls.addWidget(self.filter_combo)
        controls.addWidget(QLabel("Bias"))
        self.bias_spin = QDoubleSpinBox()
        self.bias_spin.setRange(-99, 99)
        self.bias_spin.setDecimals(2)
        self.bias_spin.setSingleStep(0.5)
        self.bias_spin.setKeyboardTracking(False)
        controls.addWidget(self.bias_spin)
        controls.addStretch(1)
        root.addLayout(controls)

        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        self.input_caption = caption("")
        self.input_caption.setWordWrap(True)  # a photo's caption is long
        grid.addWidget(self.input_caption, 0, 0, 1, 3)
        self.input_grids: list[QtNumberGrid] = []
        self.kernel_grids: list[QtNumberGrid] = []
        for c, name in enumerate(("Red", "Green", "Blue")):
            g = QtNumberGrid(editable=True, min_cell=34, max_cell=48, tint=_TINTS[c])
            g.cell_edited.connect(lambda r, cc, v, ch=c: self._on_input_edited(ch, r, cc, v))
            self.input_grids.append(g)
            box = QVBoxLayout()
            box.addWidget(QLabel(f"<b style='color:{_TINTS[c]}'>{name}</b>"))
            box.addWidget(g, 1)
            grid.addLayout(box, 1, c)
        grid.setRowStretch(1, 1)
        root.addLayout(grid, 3)

        lower = QGridLayout()
        lower.setHorizontalSpacing(14)
        self.kernel_caption = caption("")
        self.kernel_caption.setWordWrap(True)
        lower.addWidget(self.kernel_caption, 0, 0)
        kernels = QHBoxLayout()
        for c, name in enumerate(CHANNEL_NAMES):
            k = QtNumberGrid(editable=True, min_cell=30, max_cell=40, tint="#8e24aa")
            k.cell_edited.connect(lambda r, cc, v, ch=c: self._on_weight_edited(ch, r, cc, v))
            self.kernel_grids.append(k)
            box = QVBoxLayout()
            box.addWidget(QLabel(f"<b style='color:{_TINTS[c]}'>{name} slice</b>"))
            box.addWidget(k, 1)
            kernels.addLayout(box)
        lower.addLayout(kernels, 1, 0)
        self.maps_caption = caption("")
        self.maps_caption.setWordWrap(True)
        lower.addWidget(self.maps_caption, 0, 1)
        self.maps_row = QHBoxLayout()
        self.map_grids: list[QtNumberGrid] = []
        self.map_labels: list[QLabel] = []
        for f in range(4):
            g = QtNumberGrid(min_cell=26, max_cell=40, tint="#2e7d32")
            g.cell_clicked.connect(lambda r, c, ff=f: self.select(ff, r, c))
            label = QLabel(f"Map {f + 1}")
            box = QVBoxLayout()
            box.addWidget(label)
            box.addWidget(g, 1)
            self.maps_row.addLayout(box)
            self.map_grids.append(g)
            self.map_labels.append(label)
        lower.addLayout(self.maps_row, 1, 1)
        lower.setColumnStretch(0, 2)
        lower.setColumnStretch(1, 3)
        root.addLayout(lower, 2)

        arith, arith_layout = card("This feature-map cell")
        self.arithmetic_label = wrap_label()
        arith_layout.addWidget(self.arithmetic_label)
        root.addWidget(arith)

        self.input_combo.activated.connect(
            lambda i: self.use_input(str(self.input_combo.itemData(i) or ""))
        )
        self.filters_spin.valueChanged.connect(self._on_filters_changed)
        self.filter_combo.activated.connect(lambda i: self.select(i, *self.selected[1:]))
        self.bias_spin.valueChanged.connect(self._on_bias_changed)
        self.refresh()

    def use_input(self, klass: str) -> None:
        """Small numbers (``""``) or the sample photo of ``klass`` as the input."""
        try:
            if klass:
                self.lab.use_photo(klass)
            else:
                self.lab.use_numbers()
        except LabError as exc:  # the sample cannot be read: keep the input, say why
            self.photo_caption.setText(str(exc))
            self.photo_panel.setVisible(True)
            return
        with block_signals(self.input_combo):
            self.input_combo.setCurrentIndex(max(0, self.input_combo.findData(klass)))
        self.refresh()

    def select(self, f: int, row: int, col: int) -> None:
        """Show filter ``f``'s weights and the sum behind its cell (row, col)."""
        self.selected = (f, row, col)
        self.refresh()

    def _on_filters_changed(self, n: int) -> None:
        self.lab.set_filters(n)
        f = min(self.selected[0], n - 1)
        self.selected = (f, *self.selected[1:])
        self.refresh()

    def _on_bias_changed(self, value: float) -> None:
        self.lab.set_bias(self.selected[0], value)
        self.refresh()

    def _on_input_edited(self, ch: int, r: int, c: int, v: float) -> None:
        self.lab.set_input_cell(ch, r, c, v)
        self.refresh()

    def _on_weight_edited(self, ch: int, r: int, c: int, v: float) -> None:
        self.lab.set_weight(self.selected[0], ch, r, c, v)
        self.refresh()

    def refresh(self) -> None:
        lab = self.lab
        out = lab.output()
        f, row, col = self.selected
        row, col = min(row, out.shape[1] - 1), min(col, out.shape[2] - 1)
        self.selected = (f, row, col)
        with block_signals(self.filter_combo, self.bias_spin, self.filters_spin):
            self.filters_spin.setValue(lab.n_filters)
            self.filter_combo.clear()
            self.filter_combo.addItems([f"filter {i + 1}" for i in range(lab.n_filters)])
            self.filter_combo.setCurrentIndex(f)
            self.bias_spin.setValue(float(lab.bias[f]))
        cell = lab.cell(f, row, col)
        kh, kw = lab.weights.shape[2:]
        for c in range(3):
            self.input_grids[c].set_values(lab.input[c])
            self.input_grids[c].set_highlight(cell.window, lab.weights[f, c])
            self.kernel_grids[c].set_values(lab.weights[f, c])
        shape = format_shape(lab.input.shape)
        if lab.photo is not None:
            ph, pw = lab.photo.shape[1:]
            self.input_caption.setText(
                f"Input {shape} (3 channels): the {lab.photo_caption}, averaged down from "
                f"{ph}x{pw}; each cell is the mean brightness of its patch, 0 (dark) to 1 (bright)"
            )
            self.photo_label.setPixmap(_rgb_pixmap(lab.photo, _PHOTO_SIDE))
            self.grid_photo_label.setPixmap(_rgb_pixmap(lab.input, _PHOTO_SIDE))
            self.photo_caption.setText(f"{ph}x{pw} → {lab.input.shape[1]}x{lab.input.shape[2]}")
            self.photo_panel.setVisible(True)
        else:
            self.input_caption.setText(f"Input {shape} (3 channels)")
            self.photo_panel.setVisible(False)
        self.kernel_caption.setText(
            f"Filter {f + 1}: a {format_shape((3, kh, kw))} kernel (one slice per channel), "
            f"bias {fmt(lab.bias[f])}"
        )
        self.maps_caption.setText(
            f"Output {format_shape(out.shape)}: {lab.n_filters} filter"
            f"{'s' if lab.n_filters > 1 else ''} → {lab.n_filters} feature map"
            f"{'s' if lab.n_filters > 1 else ''}"
        )
        for i, (g, label) in enumerate(zip(self.map_grids, self.map_labels, strict=True)):
            visible = i < lab.n_filters
            g.setVisible(visible)
            label.setVisible(visible)
            if visible:
                g.set_values(out[i])
                g.set_marked([(row, col)] if i == f else [])
                label.setText(f"<b>Map {i + 1}</b>")
        lines = "<br>".join(cell.per_channel())
        self.arithmetic_label.setText(
            f"Map {f + 1}, cell [{row + 1},{col + 1}]: each channel's window times its slice, "
            f"then all added with the bias:<br><span style='font-size:11pt'>{lines}</span>"
            f"<br><span style='color:#555'>The engine's Conv2D gives {fmt(out[f, row, col])}."
            "</span>"
        )
