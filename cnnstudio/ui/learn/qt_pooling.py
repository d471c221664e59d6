"""Lesson 4: max and average pooling, window by window."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from cnnstudio.model.learn.base import MAX_KERNEL, fmt
from cnnstudio.model.learn.explain import ExplainPreset
from cnnstudio.model.learn.notes import worked_example_pipeline
from cnnstudio.model.learn.pooling import PoolLab
from cnnstudio.ui.learn.qt_common import (
    QtStepper,
    block_signals,
    caption,
    card,
    lesson_header,
    spin,
    wrap_label,
)
from cnnstudio.ui.learn.qt_grid import QtNumberGrid

__all__ = ["QtPoolingLesson"]

TEXT = (
    "Pooling is another sliding window, but without weights to learn: it keeps one number per "
    "window, the largest (<b>max pooling</b>) or the mean (<b>average pooling</b>). With a "
    "stride above 1 the map shrinks (<i>down-sampling</i>): fewer numbers to process, and a "
    "feature that moves a little still gives the same answer. A stride smaller than the size "
    "makes the windows overlap."
)

EXAMPLES: dict[str, np.ndarray] = {
    "A 4x4 feature map": np.array(
        [[1, 3, 2, 1], [4, 6, 5, 0], [3, 1, 1, 2], [0, 2, 7, 8]], dtype=np.float64
    ),
    "Notes: ReLU output [[2, 0], [3, 5]] → 5": worked_example_pipeline().relu,
    "A 6x6 map (try size 3, stride 2)": np.array(
        [
            [0, 1, 2, 0, 1, 3],
            [4, 2, 0, 1, 5, 1],
            [1, 0, 3, 6, 2, 0],
            [2, 7, 1, 0, 1, 4],
            [0, 1, 2, 3, 9, 2],
            [5, 0, 1, 2, 1, 0],
        ],
        dtype=np.float64,
    ),
}


class QtPoolingLesson(QWidget):
    """Editable input, pooling kind, size and stride, stepping, the chosen value."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lab = PoolLab()
        root = QVBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        root.addWidget(lesson_header("4  Pooling", TEXT))

        controls = QHBoxLayout()
        self.example_combo = QComboBox()
        self.example_combo.addItems(list(EXAMPLES))
        controls.addWidget(self.example_combo)
        controls.addSpacing(10)
        self.kind_combo = QComboBox()
        self.kind_combo.addItem("Max pooling", "max")
        self.kind_combo.addItem("Average pooling", "avg")
        controls.addWidget(self.kind_combo)
        controls.addWidget(QLabel("Size"))
        self.size_spin = spin(1, MAX_KERNEL, 2, "The window is size x size")
        controls.addWidget(self.size_spin)
        controls.addWidget(QLabel("Stride"))
        self.stride_spin = spin(1, MAX_KERNEL, 2, "How far the window jumps")
        controls.addWidget(self.stride_spin)
        controls.addStretch(1)
        root.addLayout(controls)

        grids = QGridLayout()
        grids.setHorizontalSpacing(12)
        self.input_grid = QtNumberGrid(editable=True, min_cell=30, max_cell=52)
        self.output_grid = QtNumberGrid(min_cell=30, max_cell=52, tint="#2e7d32")
        self.input_caption = caption("Input")
        self.output_caption = caption("Pooled")
        grids.addWidget(self.input_caption, 0, 0)
        grids.addWidget(self.output_caption, 0, 2)
        grids.addWidget(self.input_grid, 1, 0)
        arrow = QLabel("→")
        arrow.setStyleSheet("font-size: 20pt; color: #555;")
        grids.addWidget(arrow, 1, 1)
        grids.addWidget(self.output_grid, 1, 2)
        grids.setColumnStretch(0, 3)
        grids.setColumnStretch(2, 2)
        root.addLayout(grids, 1)
        self.legend = QLabel(
            "<span style='color:#d81b60'>■</span> the window   "
            "<span style='color:#1b8a3a'>■</span> the value pooling keeps"
        )
        root.addWidget(self.legend)
        self.stepper = QtStepper(self.step)
        root.addWidget(self.stepper)

        bottom = QHBoxLayout()
        window_card, window_layout = card("This window")
        self.window_label = wrap_label()
        window_layout.addWidget(self.window_label)
        shape_card, shape_layout = card("Shapes before and after")
        self.shapes_label = wrap_label()
        shape_layout.addWidget(self.shapes_label)
        bottom.addWidget(window_card, 1)
        bottom.addWidget(shape_card, 1)
        root.addLayout(bottom)

        self.example_combo.activated.connect(self._on_example)
        self.kind_combo.activated.connect(self._on_kind)
        self.size_spin.valueChanged.connect(self._on_size)
        self.stride_spin.valueChanged.connect(self._on_stride)
        self.input_grid.cell_edited.connect(self._on_cell_edited)
        self.output_grid.cell_clicked.connect(self._on_output_clicked)
        self.stepper.back.connect(self.step_back)
        self.stepper.reset.connect(self.reset_steps)
        self.stepper.finish.connect(self.show_all)
        self.refresh()

    # -- public ------------------------------------------------------------------------
    def set_input(self, values: np.ndarray) -> None:
        self.stop()
        self.lab.set_input(values)
        self.refresh()

    def set_settings(self, kind: str, size: int, stride: int) -> None:
        self.stop()
        self.lab.set_kind(kind)
        self.lab.set_size(size)
        self.lab.set_stride(stride)
        self.refresh()

    def apply_explain(self, preset: ExplainPreset) -> None:
        self.stop()
        self.lab.set_kind(preset.pool_kind)
        self.lab.set_size(preset.kernel)
        self.lab.set_stride(preset.stride)
        need = max(4, preset.kernel[0] + preset.stride[0], preset.kernel[1] + preset.stride[1])
        if self.lab.input.shape[0] < need or self.lab.input.shape[1] < need:
            rng = np.random.default_rng(3)
            self.lab.set_input(rng.integers(0, 10, size=(min(need, 12),) * 2).astype(float))
        self.refresh()

    def step(self) -> bool:
        moved = self.lab.step()
        self.refresh()
        return moved

    def step_back(self) -> None:
        if self.lab.position >= 0:
            self.lab.position -= 1
        self.refresh()

    def reset_steps(self) -> None:
        self.lab.position = -1
        self.refresh()

    def show_all(self) -> None:
        self.lab.position = self.lab.n_positions() - 1
        self.refresh()

    def stop(self) -> None:
        self.stepper.stop()

    # -- handlers ------------------------------------------------------------------------
    def _on_example(self, index: int) -> None:
        values = EXAMPLES[self.example_combo.itemText(index)]
        if values.shape == (2, 2):
            self.lab.set_size(2)
            self.lab.set_stride(2)
        self.set_input(values)

    def _on_kind(self, index: int) -> None:
        self.lab.set_kind(self.kind_combo.itemData(index))
        self.refresh()

    def _on_size(self, value: int) -> None:
        self.stop()
        self.lab.set_size(value)
        self.refresh()

    def _on_stride(self, value: int) -> None:
        self.stop()
        self.lab.set_stride(value)
        self.refresh()

    def _on_cell_edited(self, row: int, col: int, value: float) -> None:
        self.lab.set_input_cell(row, col, value)
        self.refresh()

    def _on_output_clicked(self, row: int, col: int) -> None:
        self.stop()
        self.lab.position = row * self.lab.output().shape[1] + col
        self.refresh()

    def refresh(self) -> None:
        lab = self.lab
        with block_signals(self.kind_combo, self.size_spin, self.stride_spin):
            self.kind_combo.setCurrentIndex(0 if lab.kind == "max" else 1)
            self.size_spin.setValue(lab.size[0])
            self.stride_spin.setValue(lab.stride[0])
        h, w = lab.input.shape
        self.input_grid.set_values(lab.input)
        self.input_caption.setText(f"Feature map {h}x{w}")
        self.shapes_label.setText(
            lab.shapes_text()
            + (
                "<br><b>Overlapping:</b> the stride is smaller than the window, so neighbouring "
                "windows share cells."
                if lab.overlapping()
                else ""
            )
        )
        if not lab.fits():
            self.output_grid.set_values(np.full((1, 1), np.nan))
            self.input_grid.set_highlight(None)
            self.input_grid.set_marked([])
            self.output_caption.setText("Pooled: none")
            self.window_label.setText("The window is larger than the input: make it smaller.")
            return
        out = lab.output()
        shown = np.full(out.shape, np.nan)
        shown.reshape(-1)[: lab.position + 1] = out.reshape(-1)[: lab.position + 1]
        self.output_grid.set_values(shown)
        name = "max" if lab.kind == "max" else "average"
        self.output_caption.setText(f"After {name} pooling {out.shape[0]}x{out.shape[1]}")
        current = lab.current()
        if current is None:
            self.input_grid.set_highlight(None)
            self.input_grid.set_marked([])
            self.output_grid.set_marked([])
            self.window_label.setText("Press <b>Step ▶</b> to place the first window.")
            return
        win = lab.window(*current)
        self.input_grid.set_highlight(win.window)
        self.input_grid.set_marked(win.chosen if lab.kind == "max" else [])
        self.output_grid.set_marked([current])
        self.window_label.setText(
            f"Window {lab.position + 1} of {lab.n_positions()}, output cell "
            f"[{current[0] + 1},{current[1] + 1}]:<br><span style='font-size:11pt'>{win.text}"
            f"</span><br><span style='color:#555'>The engine's {name} pooling layer gives "
            f"{fmt(win.value)}.</span>"
        )
