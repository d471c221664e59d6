"""Lesson 6: classic image filters (edges, blur, sharpen, emboss) on a drawing or a digit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.model.learn.activation import activate
from cnnstudio.model.learn.filters import IMAGE_FILTERS, apply_image_filter
from cnnstudio.model.learn.images import sample_digit
from cnnstudio.ui.learn.qt_common import block_signals, caption, lesson_header, spin, wrap_label
from cnnstudio.ui.learn.qt_grid import QtNumberGrid

__all__ = ["QtFiltersLesson"]

TEXT = (
    "The same sliding sum, with hand-picked kernels, gives familiar image effects. Kernels "
    "whose weights add up to 0 answer 0 on flat areas and react where brightness changes: "
    "they find <i>edges</i>. A CNN learns kernels like these by itself. Change a weight and "
    "watch the feature map."
)


def _diverging_lut() -> np.ndarray:
    """Blue for negative, white for 0, red for positive (256 steps)."""
    t = np.linspace(-1, 1, 256)
    lut = np.empty((256, 3), dtype=np.ubyte)
    neg, pos = t < 0, t >= 0
    lut[neg] = (255 * (1 + t[neg, None] * np.array([0.85, 0.6, 0.1]))).astype(np.ubyte)
    lut[pos] = (255 * (1 - t[pos, None] * np.array([0.1, 0.75, 0.85]))).astype(np.ubyte)
    return lut


class QtFiltersLesson(QWidget):
    """Source image, a named 3x3 kernel (editable) and the feature map."""

    def __init__(
        self,
        drawing: Callable[[], np.ndarray | None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._drawing = drawing or (lambda: None)
        self.image, self.source_text = sample_digit(7)
        root = QVBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        root.addWidget(lesson_header("6  Image filters", TEXT))

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Filter"))
        self.filter_combo = QComboBox()
        self.filter_combo.addItems(list(IMAGE_FILTERS))
        controls.addWidget(self.filter_combo)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Image: digit"))
        self.digit_spin = spin(0, 9, 7, "A digit from the built-in MNIST sample")
        controls.addWidget(self.digit_spin)
        self.drawing_button = QPushButton("Use my drawing")
        self.file_button = QPushButton("Open an image…")
        controls.addWidget(self.drawing_button)
        controls.addWidget(self.file_button)
        self.relu_check = QCheckBox("then ReLU")
        self.relu_check.setToolTip("Keep only the positive responses, as a CNN layer would")
        controls.addWidget(self.relu_check)
        controls.addStretch(1)
        root.addLayout(controls)
        self.filter_text = wrap_label()
        root.addWidget(self.filter_text)

        body = QGridLayout()
        body.setHorizontalSpacing(12)
        self.image_caption = caption("Image")
        self.map_caption = caption("Feature map")
        body.addWidget(self.image_caption, 0, 0)
        body.addWidget(caption("Kernel"), 0, 1)
        body.addWidget(self.map_caption, 0, 2)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        self.image_box = self.view.addViewBox(
            row=0, col=0, lockAspect=True, invertY=True, enableMouse=False
        )
        self.map_view = pg.GraphicsLayoutWidget()
        self.map_view.setBackground("w")
        self.map_box = self.map_view.addViewBox(
            row=0, col=0, lockAspect=True, invertY=True, enableMouse=False
        )
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.map_item = pg.ImageItem(axisOrder="row-major")
        self.image_box.addItem(self.image_item)
        self.map_box.addItem(self.map_item)
        for w in (self.view, self.map_view):
            w.setMinimumSize(240, 240)
        self.kernel_grid = QtNumberGrid(editable=True, min_cell=40, max_cell=54, tint="#8e24aa")
        body.addWidget(self.view, 1, 0)
        body.addWidget(self.kernel_grid, 1, 1)
        body.addWidget(self.map_view, 1, 2)
        body.setColumnStretch(0, 3)
        body.setColumnStretch(1, 2)
        body.setColumnStretch(2, 3)
        root.addLayout(body, 1)
        self.scale_label = wrap_label()
        root.addWidget(self.scale_label)

        self.kernel = IMAGE_FILTERS[self.filter_combo.currentText()][0].copy()
        self.filter_combo.currentTextChanged.connect(self._on_filter_changed)
        self.digit_spin.valueChanged.connect(self._on_digit)
        self.drawing_button.clicked.connect(self.use_my_drawing)
        self.file_button.clicked.connect(self._open_file)
        self.relu_check.toggled.connect(lambda _on: self.refresh())
        self.kernel_grid.cell_edited.connect(self._on_kernel_edited)
        self.refresh()

    # -- public ------------------------------------------------------------------------
    def set_filter(self, name: str) -> None:
        self.filter_combo.setCurrentText(name)

    def set_image(self, image: np.ndarray, text: str) -> None:
        img = np.asarray(image, dtype=np.float64)
        if img.ndim == 3:
            img = img.mean(axis=0) if img.shape[0] in (1, 3) else img.mean(axis=2)
        self.image, self.source_text = img, text
        self.refresh()

    def use_my_drawing(self) -> None:
        drawing = self._drawing()
        if drawing is None:
            self.source_text = "no drawing yet: draw one in Draw & Predict"
            self.refresh()
            return
        self.set_image(drawing, "your drawing")

    def feature_map(self) -> np.ndarray:
        out = apply_image_filter(self.image, self.filter_combo.currentText(), self.kernel)
        return activate(out, "ReLU") if self.relu_check.isChecked() else out

    # -- handlers ------------------------------------------------------------------------
    def _on_filter_changed(self, name: str) -> None:
        self.kernel = IMAGE_FILTERS[name][0].copy()
        self.refresh()

    def _on_digit(self, digit: int) -> None:
        image, text = sample_digit(digit)
        self.set_image(image, text)

    def _open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open an image", str(Path.home()), "Images (*.png *.jpg *.jpeg *.bmp *.gif)"
        )
        if not path:
            return
        from PIL import Image

        try:
            with Image.open(path) as im:
                gray = im.convert("L")
            gray.thumbnail((256, 256))
            image = np.asarray(gray, dtype=np.float64) / 255.0
        except (OSError, ValueError) as exc:
            self.source_text = f"could not read {Path(path).name}: {exc}"
            self.refresh()
            return
        self.set_image(image, Path(path).name)

    def _on_kernel_edited(self, row: int, col: int, value: float) -> None:
        self.kernel[row, col] = value
        self.refresh()

    def refresh(self) -> None:
        name = self.filter_combo.currentText()
        self.filter_text.setText(f"<b>{name}</b>: {IMAGE_FILTERS[name][1]}")
        with block_signals(self.kernel_grid):
            self.kernel_grid.set_values(self.kernel)
        h, w = self.image.shape
        self.image_item.setImage(self.image.astype(np.float32), levels=(0.0, 1.0))
        self.image_caption.setText(f"Image {h}x{w} ({self.source_text})")
        fmap = self.feature_map()
        m = float(np.abs(fmap).max()) or 1.0
        self.map_item.setImage(fmap.astype(np.float32), levels=(-m, m), lut=_diverging_lut())
        self.map_caption.setText(
            f"Feature map {fmap.shape[0]}x{fmap.shape[1]} (padding 1 keeps the size)"
        )
        self.scale_label.setText(
            f"Colours of the feature map: <span style='color:#c62828'><b>red</b></span> positive "
            f"(up to {m:.2f}), white 0, <span style='color:#1e63b5'><b>blue</b></span> negative. "
            "Computed by the engine's Conv2D."
        )
        self.image_box.autoRange(padding=0)
        self.map_box.autoRange(padding=0)
