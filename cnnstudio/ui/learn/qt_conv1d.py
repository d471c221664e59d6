"""Lesson 7: a 1-D convolution over a short signal."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QCheckBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from cnnstudio.model.learn.base import LabError, fmt
from cnnstudio.model.learn.conv1d import conv1d, conv1d_cell
from cnnstudio.model.learn.formula import output_size_formula
from cnnstudio.ui.learn.qt_common import (
    QtStepper,
    block_signals,
    card,
    fixed_height_area,
    lesson_header,
    spin,
    wrap_label,
)
from cnnstudio.ui.learn.qt_grid import QtNumberGrid

__all__ = ["QtConv1DLesson"]

TEXT = (
    "Convolution started with sequences: a sound, a sensor reading, a price over time. A short "
    "kernel slides along the signal and each output is the weighted sum of the values under "
    "it, so the same weights are used at every position. The mathematical definition flips "
    "the kernel first (here it is flipped when the box is ticked); a kernel like [1, 0, −1] "
    "then reacts to rises and falls."
)

MAX_SIGNAL = 16


class QtConv1DLesson(QWidget):
    """Signal and kernel rows, stride, padding, flip; the window stepping along a plot."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.signal = np.array([0, 1, 2, 4, 4, 4, 2, 1, 0, 0, 3, 3], dtype=np.float64)
        self.kernel = np.array([1, 0, -1], dtype=np.float64)
        self.position = -1
        root = QVBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        root.addWidget(lesson_header("7  1-D convolution", TEXT))

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Signal length"))
        self.length_spin = spin(2, MAX_SIGNAL, self.signal.size)
        controls.addWidget(self.length_spin)
        controls.addWidget(QLabel("Kernel length"))
        self.klen_spin = spin(1, 7, self.kernel.size)
        controls.addWidget(self.klen_spin)
        controls.addWidget(QLabel("Stride"))
        self.stride_spin = spin(1, 4, 1)
        controls.addWidget(self.stride_spin)
        controls.addWidget(QLabel("Padding"))
        self.pad_spin = spin(0, 3, 0)
        controls.addWidget(self.pad_spin)
        self.flip_check = QCheckBox("Flip the kernel (true convolution)")
        self.flip_check.setChecked(True)
        controls.addWidget(self.flip_check)
        controls.addStretch(1)
        root.addLayout(controls)

        grids = QGridLayout()
        grids.setVerticalSpacing(2)
        self.signal_grid = QtNumberGrid(editable=True, min_cell=34, max_cell=46)
        self.kernel_grid = QtNumberGrid(editable=True, min_cell=34, max_cell=46, tint="#8e24aa")
        self.output_grid = QtNumberGrid(min_cell=34, max_cell=46, tint="#2e7d32")
        self.signal_caption = QLabel()
        self.output_caption = QLabel()
        for row, (label, grid) in enumerate(
            (
                (self.signal_caption, self.signal_grid),
                (QLabel("<b>Kernel</b>"), self.kernel_grid),
                (self.output_caption, self.output_grid),
            )
        ):
            grids.addWidget(label, 2 * row, 0)
            grids.addWidget(grid, 2 * row + 1, 0)
        root.addLayout(grids)

        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(170)
        self.plot.setMaximumHeight(240)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.addLegend(offset=(10, 5))
        self.region = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(216, 27, 96, 45))
        self.plot.addItem(self.region)
        self.signal_curve = self.plot.plot(
            [],
            [],
            pen=pg.mkPen("#1e63b5", width=2),
            symbol="o",
            symbolSize=7,
            symbolBrush="#1e63b5",
            name="signal",
        )
        self.output_curve = self.plot.plot(
            [],
            [],
            pen=pg.mkPen("#2e7d32", width=2),
            symbol="s",
            symbolSize=7,
            symbolBrush="#2e7d32",
            name="output (at the window's centre)",
        )
        root.addWidget(self.plot, 1)

        self.stepper = QtStepper(self.step)
        root.addWidget(self.stepper)
        arith, arith_layout = card("This output value")
        self.arithmetic_label = wrap_label()
        arith_layout.addWidget(self.arithmetic_label)
        arith_layout.addStretch(1)
        holder = QVBoxLayout()
        holder.addWidget(arith)
        root.addWidget(fixed_height_area(holder, 120))

        self.length_spin.valueChanged.connect(self._on_length)
        self.klen_spin.valueChanged.connect(self._on_klen)
        self.stride_spin.valueChanged.connect(self._reset_and_refresh)
        self.pad_spin.valueChanged.connect(self._reset_and_refresh)
        self.flip_check.toggled.connect(lambda _on: self.refresh())
        self.signal_grid.cell_edited.connect(self._on_signal_edited)
        self.kernel_grid.cell_edited.connect(self._on_kernel_edited)
        self.output_grid.cell_clicked.connect(self._on_output_clicked)
        self.stepper.back.connect(self.step_back)
        self.stepper.reset.connect(lambda: self._set_position(-1))
        self.stepper.finish.connect(lambda: self._set_position(self.n_positions() - 1))
        self.refresh()

    # -- model -------------------------------------------------------------------------
    def settings(self) -> tuple[int, int, bool]:
        return self.stride_spin.value(), self.pad_spin.value(), self.flip_check.isChecked()

    def formula(self):  # type: ignore[no-untyped-def]
        stride, pad, _ = self.settings()
        return output_size_formula(self.signal.size, self.kernel.size, stride, pad)

    def output(self) -> np.ndarray:
        stride, pad, flip = self.settings()
        return conv1d(self.signal, self.kernel, stride, pad, flip)

    def n_positions(self) -> int:
        return self.formula().result

    def step(self) -> bool:
        if self.position + 1 >= self.n_positions():
            return False
        self._set_position(self.position + 1)
        return True

    def step_back(self) -> None:
        self._set_position(max(self.position - 1, -1))

    def stop(self) -> None:
        self.stepper.stop()

    def _set_position(self, position: int) -> None:
        self.position = position
        self.refresh()

    # -- handlers ------------------------------------------------------------------------
    def _on_length(self, n: int) -> None:
        self.signal = np.resize(np.concatenate([self.signal, np.zeros(MAX_SIGNAL)]), n)
        self.signal[n:] = 0
        self._reset_and_refresh()

    def _on_klen(self, n: int) -> None:
        k = np.zeros(n)
        m = min(n, self.kernel.size)
        k[:m] = self.kernel[:m]
        self.kernel = k
        self._reset_and_refresh()

    def _reset_and_refresh(self, *_args: object) -> None:
        self.stop()
        self.position = -1
        self.refresh()

    def _on_signal_edited(self, _r: int, c: int, v: float) -> None:
        self.signal[c] = v
        self.refresh()

    def _on_kernel_edited(self, _r: int, c: int, v: float) -> None:
        self.kernel[c] = v
        self.refresh()

    def _on_output_clicked(self, _r: int, c: int) -> None:
        self.stop()
        self._set_position(c)

    def refresh(self) -> None:
        stride, pad, flip = self.settings()
        with block_signals(self.length_spin, self.klen_spin):
            self.length_spin.setValue(self.signal.size)
            self.klen_spin.setValue(self.kernel.size)
        self.signal_grid.set_values(self.signal[None, :])
        self.signal_grid.set_padding(0, pad)
        self.kernel_grid.set_values(self.kernel[None, :])
        self.signal_caption.setText(
            f"<b>Signal</b> (length {self.signal.size})"
            + (f", padded with {pad} zero(s) each side" if pad else "")
        )
        xs = np.arange(self.signal.size)
        self.signal_curve.setData(xs, self.signal)
        f = self.formula()
        if f.error:
            self.output_grid.set_values(np.full((1, 1), np.nan))
            self.output_curve.setData([], [])
            self.signal_grid.set_highlight(None)
            self.output_caption.setText("<b>Output</b>: none")
            self.arithmetic_label.setText(f"The kernel does not fit: {f.error}")
            return
        try:
            out = self.output()
        except LabError as exc:  # pragma: no cover - formula catches the same cases
            self.arithmetic_label.setText(str(exc))
            return
        shown = np.full(out.shape, np.nan)
        shown[: self.position + 1] = out[: self.position + 1]
        self.output_grid.set_values(shown[None, :])
        centres = np.arange(out.size) * stride - pad + (self.kernel.size - 1) / 2
        self.output_curve.setData(centres[: self.position + 1], out[: self.position + 1])
        self.output_caption.setText(f"<b>Output</b> (length {f.text.split('= ')[-1]}: {f.text})")
        if self.position < 0:
            self.signal_grid.set_highlight(None)
            self.output_grid.set_marked([])
            self.region.hide()
            self.arithmetic_label.setText("Press <b>Step ▶</b> to place the kernel on the signal.")
            return
        cell = conv1d_cell(self.signal, self.kernel, stride, pad, flip, self.position)
        used = self.kernel[::-1] if flip else self.kernel
        self.signal_grid.set_highlight(cell.window, used[None, :])
        self.output_grid.set_marked([(0, self.position)])
        left = self.position * stride - pad
        self.region.setRegion((left - 0.5, left + self.kernel.size - 0.5))
        self.region.show()
        self.arithmetic_label.setText(
            f"out{self.position + 1} ({'kernel flipped' if flip else 'kernel as it is'}): "
            f"<span style='font-size:11pt'>{cell.symbolic()}</span><br>"
            f"<span style='font-size:11pt'>{cell.numeric()}</span><br>"
            f"<span style='color:#555'>The engine gives {fmt(out[self.position])}.</span>"
        )
