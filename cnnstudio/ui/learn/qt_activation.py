"""Lesson 3: an activation function applied to a feature map, with the function plotted."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.model.learn.activation import ACTIVATIONS, activate, activation_curve
from cnnstudio.model.learn.base import MAX_INPUT, LabError, fmt
from cnnstudio.model.learn.notes import worked_example_pipeline
from cnnstudio.ui.learn.qt_common import block_signals, caption, card, lesson_header, wrap_label
from cnnstudio.ui.learn.qt_grid import QtNumberGrid

__all__ = ["QtActivationLesson"]

TEXT = (
    "After a convolution, every cell of the feature map goes through the same simple function, "
    "the <i>activation</i>. Without it, stacking layers would only ever compute one big "
    "weighted sum. <b>ReLU</b> is the usual choice in CNNs: it keeps positive values and "
    "turns negative ones into 0. Click a cell to see where its value lands on the curve."
)

DEFAULT_MAP = np.array(
    [[-3, 1.5, 0, 2], [4, -0.5, -2, 1], [0.5, 3, -4, -1], [2, -1.5, 1, 5]], dtype=np.float64
)


class QtActivationLesson(QWidget):
    """Feature map before and after an activation, and the function's curve."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.values = DEFAULT_MAP.copy()
        self.selected = (0, 0)
        self.take_from_conv: QPushButton = QPushButton("Use the output of lesson 1")
        root = QVBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        root.addWidget(lesson_header("3  Activation", TEXT))

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Function"))
        self.function_combo = QComboBox()
        self.function_combo.addItems(list(ACTIVATIONS))
        controls.addWidget(self.function_combo)
        self.alpha_label = QLabel("slope α for negatives")
        controls.addWidget(self.alpha_label)
        self.alpha_spin = QDoubleSpinBox()
        self.alpha_spin.setRange(0.0, 1.0)
        self.alpha_spin.setSingleStep(0.05)
        self.alpha_spin.setDecimals(2)
        self.alpha_spin.setValue(0.1)
        controls.addWidget(self.alpha_spin)
        controls.addSpacing(12)
        self.notes_button = QPushButton("Notes' example [[2, 0], [3, 5]]")
        controls.addWidget(self.notes_button)
        controls.addWidget(self.take_from_conv)
        controls.addStretch(1)
        root.addLayout(controls)
        self.function_text = wrap_label()
        root.addWidget(self.function_text)

        body = QGridLayout()
        body.setHorizontalSpacing(12)
        self.before_grid = QtNumberGrid(editable=True, min_cell=30, max_cell=52)
        self.after_grid = QtNumberGrid(min_cell=30, max_cell=52, tint="#2e7d32")
        self.before_caption = caption("Feature map (before)")
        self.after_caption = caption("After the activation")
        body.addWidget(self.before_caption, 0, 0)
        arrow = QLabel("→")
        arrow.setStyleSheet("font-size: 20pt; color: #555;")
        body.addWidget(arrow, 1, 1)
        body.addWidget(self.after_caption, 0, 2)
        body.addWidget(self.before_grid, 1, 0)
        body.addWidget(self.after_grid, 1, 2)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumSize(280, 240)
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.setLabel("bottom", "x (value before)")
        self.plot.setLabel("left", "f(x) (value after)")
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.curve = self.plot.plot([], [], pen=pg.mkPen("#1e63b5", width=3))
        self.guides = self.plot.plot(
            [], [], pen=pg.mkPen("#d81b60", width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine)
        )
        self.marker = pg.ScatterPlotItem(size=14, brush=pg.mkBrush("#d81b60"), pen=pg.mkPen("w"))
        self.plot.addItem(self.marker)
        self.others = pg.ScatterPlotItem(size=7, brush=pg.mkBrush(30, 99, 181, 140), pen=None)
        self.plot.addItem(self.others)
        body.addWidget(caption("The function (all cells as dots)"), 0, 3)
        body.addWidget(self.plot, 1, 3)
        body.setColumnStretch(0, 3)
        body.setColumnStretch(2, 3)
        body.setColumnStretch(3, 4)
        root.addLayout(body, 1)

        info, info_layout = card("This cell")
        self.cell_label = wrap_label()
        info_layout.addWidget(self.cell_label)
        root.addWidget(info)

        self.function_combo.currentTextChanged.connect(lambda _t: self.refresh())
        self.alpha_spin.valueChanged.connect(lambda _v: self.refresh())
        self.before_grid.cell_edited.connect(self._on_cell_edited)
        self.before_grid.cell_clicked.connect(self.select)
        self.after_grid.cell_clicked.connect(self.select)
        self.notes_button.clicked.connect(
            lambda: self.set_feature_map(worked_example_pipeline().conv)
        )
        self.refresh()

    # -- public ------------------------------------------------------------------------
    def function(self) -> str:
        return self.function_combo.currentText()

    def set_function(self, name: str) -> None:
        if name not in ACTIVATIONS:
            raise LabError(f"unknown activation {name!r}")
        self.function_combo.setCurrentText(name)

    def set_feature_map(self, values: np.ndarray) -> None:
        a = np.asarray(values, dtype=np.float64)
        if a.ndim != 2 or max(a.shape) > MAX_INPUT:
            raise LabError(f"a feature map here must be 2-D and at most 12x12, got {a.shape}")
        self.values = a.copy()
        self.selected = (0, 0)
        self.refresh()

    def output(self) -> np.ndarray:
        return activate(self.values, self.function(), self.alpha_spin.value())

    def select(self, row: int, col: int) -> None:
        self.selected = (row, col)
        self.refresh()

    def _on_cell_edited(self, row: int, col: int, value: float) -> None:
        self.values[row, col] = value
        self.selected = (row, col)
        self.refresh()

    def refresh(self) -> None:
        name = self.function()
        alpha = self.alpha_spin.value()
        leaky = name == "LeakyReLU"
        with block_signals(self.alpha_spin):
            self.alpha_label.setVisible(leaky)
            self.alpha_spin.setVisible(leaky)
        self.function_text.setText(f"<b>{name}</b>: {ACTIVATIONS[name]}")
        out = self.output()
        r, c = self.selected
        r, c = min(r, out.shape[0] - 1), min(c, out.shape[1] - 1)
        self.selected = (r, c)
        self.before_grid.set_values(self.values)
        self.after_grid.set_values(out)
        for g in (self.before_grid, self.after_grid):
            g.set_marked([(r, c)])
        h, w = self.values.shape
        self.before_caption.setText(f"Feature map {h}x{w} (before)")
        self.after_caption.setText(f"After {name} ({h}x{w}: same size)")
        span = max(6.0, float(np.abs(self.values).max()) + 1)
        xs, ys = activation_curve(name, alpha, -span, span)
        self.curve.setData(xs, ys)
        x, y = float(self.values[r, c]), float(out[r, c])
        lo = float(min(ys.min(), 0))
        self.guides.setData([x, x, -span], [lo, y, y], connect="all")
        self.marker.setData([x], [y])
        self.others.setData(self.values.reshape(-1), out.reshape(-1))
        changed = int(np.sum(~np.isclose(self.values, out)))
        self.cell_label.setText(
            f"Cell [{r + 1},{c + 1}]: {name}({fmt(x)}) = <b>{fmt(y)}</b>. "
            f"{changed} of {out.size} cells changed value (engine's {name} layer)."
        )
