"""Live training plots: loss per step (raw and smoothed), accuracy per epoch, learning rate.

Plot items are created once and updated with ``setData``; long curves are clipped to
the view and downsampled. Finished runs of the session are overlaid in muted colours
and can be hidden one by one.
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from cnnstudio.model.session import RunHistory

__all__ = ["QtTrainingPlots"]

#: Colours of the current run: raw loss (faint), smoothed loss, train acc, val acc, lr.
RAW = (70, 130, 220, 70)
SMOOTH = (40, 100, 210)
TRAIN_ACC = (40, 100, 210)
VAL_ACC = (230, 120, 30)
LR = (60, 150, 90)
#: Colours cycled through for earlier runs.
PAST = [(150, 90, 190), (120, 120, 120), (190, 80, 110), (60, 160, 170), (160, 140, 60)]


def _as_float(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


class _RunItems:
    """The plot items of one run (created once)."""

    def __init__(self, plots: QtTrainingPlots, colour: tuple, current: bool) -> None:
        #: The curves drawn (past runs), to redraw only when they change.
        self.curves: RunHistory | None = None
        width = 2 if current else 1.5
        style = Qt.PenStyle.SolidLine if current else Qt.PenStyle.DashLine
        self.raw = None
        if current:
            self.raw = plots.loss_plot.plot(pen=pg.mkPen(RAW, width=1), name="loss (per step)")
        self.smooth = plots.loss_plot.plot(
            pen=pg.mkPen(colour, width=width, style=style),
            name="loss (smoothed)" if current else None,
        )
        self.train_acc = plots.acc_plot.plot(
            pen=pg.mkPen(colour, width=width, style=style),
            symbol="o",
            symbolSize=6,
            symbolBrush=colour,
            symbolPen=None,
            name="training" if current else None,
        )
        val_colour = VAL_ACC if current else colour
        self.val_acc = plots.acc_plot.plot(
            pen=pg.mkPen(
                val_colour, width=width, style=Qt.PenStyle.DotLine if not current else style
            ),
            symbol="s",
            symbolSize=6,
            symbolBrush=val_colour,
            symbolPen=None,
            name="validation" if current else None,
        )
        self.lr = plots.lr_plot.plot(
            pen=pg.mkPen(LR if current else colour, width=width, style=style)
        )
        for item in self.items():
            item.setClipToView(True)
            item.setDownsampling(auto=True, method="mean")

    def items(self) -> list[pg.PlotDataItem]:
        return [i for i in (self.raw, self.smooth, self.train_acc, self.val_acc, self.lr) if i]

    def set_curves(self, curves: RunHistory | None) -> None:
        if curves is None or not curves.steps:
            for item in self.items():
                item.setData([], [])
            return
        steps = np.asarray(curves.steps, dtype=np.float64)
        if self.raw is not None:
            self.raw.setData(steps, np.asarray(curves.loss, dtype=np.float64))
        self.smooth.setData(steps, np.asarray(curves.smooth, dtype=np.float64))
        self.lr.setData(steps, np.asarray(curves.lr, dtype=np.float64))
        epochs = np.asarray(curves.epochs, dtype=np.float64)
        self.train_acc.setData(epochs, np.asarray(curves.train_accuracy) * 100.0)
        val = _as_float(curves.val_accuracy) * 100.0
        if np.isnan(val).all():
            self.val_acc.setData([], [])
        else:
            self.val_acc.setData(epochs, val, connect="finite")

    def set_visible(self, visible: bool) -> None:
        for item in self.items():
            item.setVisible(visible)

    def remove(self, plots: QtTrainingPlots) -> None:
        for plot, item in (
            (plots.loss_plot, self.raw),
            (plots.loss_plot, self.smooth),
            (plots.acc_plot, self.train_acc),
            (plots.acc_plot, self.val_acc),
            (plots.lr_plot, self.lr),
        ):
            if item is not None:
                plot.removeItem(item)


class QtTrainingPlots(pg.GraphicsLayoutWidget):
    """Three stacked plots sharing the step axis where it makes sense."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self.setMinimumHeight(300)
        label_style = {"color": "#333", "font-size": "10pt"}
        self.loss_plot: pg.PlotItem = self.addPlot(row=0, col=0)
        self.loss_plot.setTitle("Loss", color="#222", size="11pt")
        self.loss_plot.setLabel("bottom", "step", **label_style)
        self.loss_plot.addLegend(offset=(-10, 10), labelTextColor="#333")
        self.acc_plot: pg.PlotItem = self.addPlot(row=0, col=1)
        self.acc_plot.setTitle("Accuracy per epoch (%)", color="#222", size="11pt")
        self.acc_plot.setLabel("bottom", "epoch", **label_style)
        self.acc_plot.setYRange(0, 100, padding=0.02)
        self.acc_plot.addLegend(offset=(-10, -10), labelTextColor="#333")
        self.lr_plot: pg.PlotItem = self.addPlot(row=1, col=0, colspan=2)
        self.lr_plot.setTitle("Learning rate (log scale)", color="#222", size="11pt")
        # Rates of different runs differ by orders of magnitude.
        self.lr_plot.setLogMode(x=False, y=True)
        self.lr_plot.setLabel("bottom", "step", **label_style)
        # Before any run: a readable decade range instead of pyqtgraph's crowded minor ticks.
        self._set_lr_range(1e-3, 1e-2)
        self.ci.layout.setRowStretchFactor(0, 3)
        self.ci.layout.setRowStretchFactor(1, 1)
        for plot in (self.loss_plot, self.acc_plot, self.lr_plot):
            # One fixed width: labels like "0.0005" fit, and the step axes line up.
            plot.getAxis("left").setWidth(56)
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setTextPen("#333")
                plot.getAxis(axis).setPen("#888")
        self._fixed = False
        self._loss_top = 0.0
        self._lr_top = 0.0
        self._lr_bottom = 0.0
        self.current = _RunItems(self, SMOOTH, current=True)
        self._past: dict[int, _RunItems] = {}

    def set_current(self, curves: RunHistory | None) -> None:
        """Redraw the current run (cheap enough for ~20 calls a second).

        While a run is on (:meth:`fix_ranges`), the axes keep fixed ranges that only
        grow: redrawing an axis costs more than redrawing the curves.
        """
        self.current.set_curves(curves)
        if not self._fixed or curves is None or not curves.loss:
            return
        loss = np.asarray(curves.loss[-512:], dtype=np.float64)
        finite = loss[np.isfinite(loss)]
        top = float(finite.max()) if finite.size else 0.0
        if top > self._loss_top:
            self._loss_top = top * 1.1
            self.loss_plot.setYRange(0, self._loss_top, padding=0)
        recent = curves.lr[-512:]
        lo, hi = min(recent), max(recent)
        if hi > self._lr_top or lo < self._lr_bottom:
            self._lr_top = max(hi, self._lr_top)
            self._lr_bottom = min(lo, self._lr_bottom) if self._lr_bottom > 0 else lo
            self._set_lr_range(self._lr_bottom, self._lr_top)

    def fix_ranges(self, total_steps: int, epochs: int) -> None:
        """Fixed axes for a run of ``total_steps`` steps and ``epochs`` epochs."""
        self._fixed = True
        self._loss_top = 0.0
        self._lr_top = 0.0
        self._lr_bottom = 0.0
        for plot in (self.loss_plot, self.lr_plot):
            plot.disableAutoRange()
            plot.setXRange(0, max(total_steps, 1), padding=0.02)
        self.acc_plot.disableAutoRange()
        self.acc_plot.setXRange(0.5, max(epochs, 1) + 0.5, padding=0)
        self.acc_plot.setYRange(0, 100, padding=0.02)
        major = max(1, -(-epochs // 10))
        self.acc_plot.getAxis("bottom").setTickSpacing(major, major)

    def fit_ranges(self) -> None:
        """Fit the axes to everything shown (no run on)."""
        self._fixed = False
        for plot in (self.loss_plot, self.lr_plot):
            plot.enableAutoRange()
        self.acc_plot.enableAutoRange(axis="x")
        self.acc_plot.setYRange(0, 100, padding=0.02)
        self.acc_plot.getAxis("bottom").setTickSpacing()
        self.lr_plot.enableAutoRange(axis="y", enable=False)
        rates = [r for i in self._past.values() if i.curves is not None for r in i.curves.lr]
        if self.current.lr.yData is not None:
            rates += [float(v) for v in self.current.lr.yData]
        rates = [r for r in rates if r > 0 and math.isfinite(r)]
        if rates:
            self._set_lr_range(min(rates), max(rates))

    def _set_lr_range(self, lo: float, hi: float) -> None:
        """Show rates from ``lo`` to ``hi`` on the log axis, with some room."""
        if lo <= 0 or hi <= 0:
            return
        bottom, top = math.log10(lo) - 0.5, math.log10(hi) + 0.5
        self.lr_plot.setYRange(bottom, top, padding=0)
        # Labelled ticks at the rates used and at powers of ten: pyqtgraph's own log
        # ticks crowd a short axis with overlapping labels.
        kept = [lo] if math.log10(hi / lo) < 0.15 else [lo, hi]
        for k in range(math.ceil(bottom), math.floor(top) + 1):
            if all(abs(k - math.log10(v)) > 0.35 for v in kept):
                kept.append(10.0**k)
        self.lr_plot.getAxis("left").setTicks([[(math.log10(v), f"{v:g}") for v in kept], []])

    def set_past_runs(self, runs: list[RunHistory], visible: list[bool]) -> None:
        """Overlay earlier runs; ``visible[i]`` shows or hides ``runs[i]``."""
        for key in [k for k in self._past if k >= len(runs)]:
            self._past.pop(key).remove(self)
        for i, curves in enumerate(runs):
            items = self._past.get(i)
            if items is None:
                items = self._past[i] = _RunItems(self, PAST[i % len(PAST)], current=False)
                items.set_curves(curves)
                items.curves = curves
            elif items.curves is not curves:
                items.set_curves(curves)
                items.curves = curves
            items.set_visible(bool(visible[i]) if i < len(visible) else True)

    def past_items(self, index: int) -> _RunItems | None:
        return self._past.get(index)
