"""The Train view's list of runs: each run's name and accuracy, ticked to overlay it.

The runs are the project's (``project.history``); the list draws them on the plots:
while a run is going, every earlier run is an overlay; when idle, the newest is drawn
as the current run and the others are overlaid.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QGroupBox, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from cnnstudio.model.session import RunHistory
from cnnstudio.ui.train.qt_plots import PAST, SMOOTH, QtTrainingPlots

__all__ = ["QtRunList"]


class QtRunList(QGroupBox):
    """The "Runs" box beside the plots."""

    def __init__(self, plots: QtTrainingPlots, parent: QWidget | None = None) -> None:
        super().__init__("Runs", parent)
        self.plots = plots
        self._runs: list[RunHistory] = []
        self._active = False
        self._visible: list[bool] = []
        layout = QVBoxLayout(self)
        self.list = QListWidget()
        self.list.setToolTip("Earlier runs of this session, overlaid on the plots")
        self.list.setMaximumWidth(170)
        layout.addWidget(self.list)
        self.setMaximumWidth(190)
        self.list.itemChanged.connect(self._on_toggled)

    def show_runs(self, runs: list[RunHistory], active: bool) -> None:
        """List ``runs`` (oldest first) and draw them; ``active``: a new run is going."""
        self._runs, self._active = list(runs), active
        del self._visible[len(runs) :]
        while len(self._visible) < len(runs):
            self._visible.append(True)
        self.list.blockSignals(True)
        self.list.clear()
        for i, run in enumerate(runs):
            last_val = run.last_val_accuracy
            label = run.name if last_val is None else f"{run.name} ({last_val * 100:.1f}%)"
            item = QListWidgetItem(label)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Checked if self._visible[i] else Qt.CheckState.Unchecked
            )
            item.setToolTip(
                ", ".join(f"{k}={v}" for k, v in run.settings.items() if k != "augmentation")
            )
            # the run's colour in the plots: the newest is "current" unless a run is on
            newest = i == len(runs) - 1 and not active
            colour = SMOOTH if newest else PAST[i % len(PAST)]
            item.setForeground(QBrush(QColor(*colour[:3])))
            self.list.addItem(item)
        self.list.blockSignals(False)
        self._draw()

    def _draw(self) -> None:
        runs, plots = self._runs, self.plots
        if self._active:
            plots.set_past_runs(runs, self._visible[: len(runs)])
            plots.current.set_visible(True)
            return
        plots.set_past_runs(runs[:-1], self._visible[: max(len(runs) - 1, 0)])
        plots.set_current(runs[-1] if runs else None)
        plots.current.set_visible(bool(self._visible[-1]) if runs else True)
        plots.fit_ranges()

    def _on_toggled(self, item: QListWidgetItem) -> None:
        row = self.list.row(item)
        if 0 <= row < len(self._visible):
            self._visible[row] = item.checkState() == Qt.CheckState.Checked
            self._draw()
