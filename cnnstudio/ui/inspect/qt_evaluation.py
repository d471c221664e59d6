"""The Inspect view's Evaluation tab: accuracy on a set, the confusion matrix, per-class
accuracy, and the gallery of the images in a cell.

Evaluates the model the Inspect view shows (blocking, or on a worker thread after a
run) on the sets it offers; while training, the validation confusion of each epoch
end is shown live instead.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import create_worker
from threadpoolctl import threadpool_limits

from cnnstudio.data.augment import make_transform
from cnnstudio.engine.metrics import Evaluation, evaluate
from cnnstudio.engine.training import TrainingSnapshot
from cnnstudio.io.model_file import TrainedModel
from cnnstudio.ui.inspect.tiles import pixmap

__all__ = ["GALLERY_LIMIT", "EvalSets", "QtEvaluationTab"]

#: Most images shown in the gallery of a cell.
GALLERY_LIMIT = 200

#: Evaluation sets by name: (images uint8 NCHW, labels, class names).
EvalSets = dict[str, tuple[np.ndarray, np.ndarray, list[str]]]


class QtEvaluationTab(QWidget):
    """The Evaluation tab.

    ``model_source()`` returns the model to evaluate and what to call it;
    ``sets_source()`` the sets to offer.

    Signals
    -------
    evaluated(object)
        An ``engine.metrics.Evaluation`` was computed and shown.
    send_image(object, str)
        Send this image (uint8 or float, (C, H, W)) with a caption to Draw & Predict.
    """

    evaluated = Signal(object)
    send_image = Signal(object, str)

    def __init__(
        self,
        model_source: Callable[[], tuple[TrainedModel | None, str]],
        sets_source: Callable[[], EvalSets],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._model_source = model_source
        self._sets_source = sets_source
        self._model_label = ""
        self.evaluation: Evaluation | None = None
        self._eval_data: tuple[np.ndarray, np.ndarray, list[str]] | None = None
        self._confusion: np.ndarray | None = None
        self._gallery_indices: list[int] = []
        self._eval_worker: Any = None
        el = QVBoxLayout(self)
        erow = QHBoxLayout()
        self.eval_set = QComboBox()
        erow.addWidget(QLabel("Evaluate on:"))
        erow.addWidget(self.eval_set)
        self.evaluate_button = QPushButton("Evaluate")
        erow.addWidget(self.evaluate_button)
        self.eval_summary = QLabel("")
        self.eval_summary.setObjectName("evalSummary")
        self.eval_summary.setWordWrap(True)
        erow.addWidget(self.eval_summary, 1)
        el.addLayout(erow)
        esplit = QSplitter(Qt.Orientation.Horizontal)
        cm_box = QWidget()
        cl = QVBoxLayout(cm_box)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(
            QLabel("Confusion matrix (rows: true class, columns: predicted). Click a cell.")
        )
        self.confusion_table = QTableWidget(0, 0)
        self.confusion_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.confusion_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.confusion_table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.confusion_table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        cl.addWidget(self.confusion_table, 1)
        esplit.addWidget(cm_box)
        self.per_class_plot = pg.PlotWidget()
        self.per_class_plot.setBackground("w")
        self.per_class_plot.setTitle("Accuracy per class (%)", color="#222", size="11pt")
        self.per_class_plot.setYRange(0, 100, padding=0.02)
        self.per_class_plot.setMouseEnabled(x=False, y=False)
        for axis in ("left", "bottom"):
            self.per_class_plot.getAxis(axis).setTextPen("#333")
        self.per_class_bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush=(70, 130, 220))
        self.per_class_plot.addItem(self.per_class_bars)
        esplit.addWidget(self.per_class_plot)
        esplit.setSizes([520, 420])
        el.addWidget(esplit, 3)
        grow = QHBoxLayout()
        self.gallery_label = QLabel("Click a cell of the matrix to see those images.")
        grow.addWidget(self.gallery_label, 1)
        self.send_gallery_button = QPushButton("Send to Draw && Predict")
        self.send_gallery_button.setEnabled(False)
        grow.addWidget(self.send_gallery_button)
        el.addLayout(grow)
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListWidget.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(56, 56))
        self.gallery.setGridSize(QSize(92, 96))
        self.gallery.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.gallery.setMovement(QListWidget.Movement.Static)
        self.gallery.setWordWrap(True)
        el.addWidget(self.gallery, 2)

        self.evaluate_button.clicked.connect(self.run_evaluation)
        self.eval_set.currentIndexChanged.connect(lambda _i: self.run_evaluation())
        self.confusion_table.cellClicked.connect(self.show_cell)
        self.gallery.itemDoubleClicked.connect(lambda _item: self.send_gallery_image())
        self.gallery.currentRowChanged.connect(
            lambda row: self.send_gallery_button.setEnabled(row >= 0)
        )
        self.send_gallery_button.clicked.connect(self.send_gallery_image)

    def set_sets(self, names: list[str]) -> None:
        """Offer the sets ``names`` (keeping the chosen one); forget the last evaluation."""
        current = self.eval_set.currentText()
        self.eval_set.blockSignals(True)
        self.eval_set.clear()
        for name in names:
            self.eval_set.addItem(name)
        if current in names:
            self.eval_set.setCurrentText(current)
        self.eval_set.blockSignals(False)
        self.evaluation = None

    def choose(self, name: str) -> None:
        """Choose set ``name`` (if offered) without evaluating."""
        if name in [self.eval_set.itemText(i) for i in range(self.eval_set.count())]:
            self.eval_set.blockSignals(True)
            self.eval_set.setCurrentText(name)
            self.eval_set.blockSignals(False)

    def show_live(self, snapshots: tuple[TrainingSnapshot, ...], class_names: list[str]) -> None:
        """The validation confusion of the epoch ends among ``snapshots`` (while training)."""
        for snap in snapshots:
            if snap.val_confusion is not None and snap.val_accuracy is not None:
                self._show_confusion(np.asarray(snap.val_confusion), class_names)
                cm = np.asarray(snap.val_confusion)
                rows = cm.sum(axis=1)
                per = np.divide(np.diag(cm), rows, out=np.full(len(rows), np.nan), where=rows > 0)
                self._show_per_class(per, class_names)
                self.eval_summary.setText(
                    f"<b>Validation accuracy {snap.val_accuracy * 100:.1f}%</b> after epoch "
                    f"{snap.epoch} (live; click a cell to see the images)"
                )
                self.evaluation = None  # the gallery re-evaluates with the newest weights

    def _evaluation_job(self) -> tuple[TrainedModel, str, tuple, Any] | None:
        """What an evaluation needs: (model, set name, (images, labels, names), transform),
        or None (with the reason shown) when there is nothing to evaluate."""
        model, self._model_label = self._model_source()
        sets = self._sets_source()
        name = self.eval_set.currentText()
        if model is None or name not in sets:
            self.eval_summary.setText("Train a model first." if model is None else "")
            return None
        transform = make_transform(model.normalization)
        return model, name, sets[name], transform

    def run_evaluation(self) -> Evaluation | None:
        """Evaluate the current model on the chosen set and show the results (blocking)."""
        job = self._evaluation_job()
        if job is None:
            return None
        model, name, data, transform = job
        images, labels, _names = data
        try:
            result = evaluate(
                model.network(), images, labels, 256, lambda xb, _rng: transform(xb, None)
            )
        except ValueError as exc:
            self.eval_summary.setText(f"Cannot evaluate on this set: {exc}")
            return None
        self._show_evaluation(result, name, model, data)
        return result

    def run_evaluation_in_background(self) -> None:
        """Evaluate on a worker thread so the window never stalls (used after a run).

        The worker gets its own copy of the model (and so of its network): a Network
        is not shared across threads. ``evaluated`` is emitted when the results are on
        screen.
        """
        job = self._evaluation_job()
        if job is None:
            return
        model, name, data, transform = job
        images, labels, _names = data
        copy = dataclasses.replace(model)
        self.eval_summary.setText(f"Evaluating on {len(labels):,} {name.lower()} images…")

        def compute() -> Evaluation:
            with threadpool_limits(1):
                return evaluate(
                    copy.network(), images, labels, 256, lambda xb, _rng: transform(xb, None)
                )

        worker = create_worker(compute, _start_thread=False)
        worker.returned.connect(lambda result: self._show_evaluation(result, name, model, data))
        worker.errored.connect(
            lambda exc: self.eval_summary.setText(f"Cannot evaluate on this set: {exc}")
        )
        self._eval_worker = worker
        worker.start()

    def _show_evaluation(self, result: Evaluation, name: str, model: Any, data: tuple) -> None:
        self.evaluation = result
        self._eval_data = data
        self.eval_summary.setText(
            f"<b>{name} accuracy {result.accuracy * 100:.1f}%</b> on {result.n_samples:,} images "
            f"(loss {result.loss:.3f}) · {self._model_label}"
        )
        self._show_confusion(result.confusion, model.class_names)
        self._show_per_class(result.per_class, model.class_names)
        self.evaluated.emit(result)

    def _show_confusion(self, cm: np.ndarray, class_names: list[str]) -> None:
        self._confusion = cm
        k = cm.shape[0]
        names = [class_names[i] if i < len(class_names) else str(i) for i in range(k)]
        table = self.confusion_table
        table.setRowCount(k)
        table.setColumnCount(k)
        table.setHorizontalHeaderLabels(names)
        table.setVerticalHeaderLabels(names)
        rows = cm.sum(axis=1, keepdims=True).astype(np.float64)
        share = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
        for t in range(k):
            for p in range(k):
                item = QTableWidgetItem(str(int(cm[t, p])))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                s = float(share[t, p])
                if t == p:
                    colour = QColor(int(255 - 160 * s), int(255 - 60 * s), int(255 - 160 * s))
                elif cm[t, p]:
                    fade = int(235 - 190 * min(s * 3, 1))
                    colour = QColor(255, fade, fade)
                else:
                    colour = QColor(255, 255, 255)
                item.setBackground(QBrush(colour))
                item.setToolTip(f"true {names[t]}, predicted {names[p]}: {int(cm[t, p])}")
                table.setItem(t, p, item)

    def _show_per_class(self, per_class: np.ndarray, class_names: list[str]) -> None:
        k = len(per_class)
        heights = np.nan_to_num(np.asarray(per_class, dtype=np.float64) * 100.0)
        self.per_class_bars.setOpts(x=np.arange(k), height=heights, width=0.7)
        names = [class_names[i] if i < len(class_names) else str(i) for i in range(k)]
        self.per_class_plot.getAxis("bottom").setTicks([list(enumerate(names))])
        self.per_class_plot.setXRange(-0.6, k - 0.4, padding=0)

    def confusion_matrix(self) -> np.ndarray | None:
        """The matrix on display (rows true, columns predicted)."""
        return self._confusion

    def show_cell(self, true_class: int, predicted: int) -> list[int]:
        """Show the images of ``true_class`` predicted as ``predicted``; returns their indices."""
        if self.evaluation is None or self._eval_data is None:
            if self.run_evaluation() is None:
                return []
        assert self.evaluation is not None and self._eval_data is not None
        images, labels, class_names = self._eval_data
        model, _label = self._model_source()
        names = model.class_names if model is not None else class_names
        pred = self.evaluation.predictions
        probs = self.evaluation.probabilities
        idx = np.flatnonzero((labels == true_class) & (pred == predicted))
        self._gallery_indices = [int(i) for i in idx[:GALLERY_LIMIT]]
        self.gallery.clear()

        def nm(i: int) -> str:
            return names[i] if i < len(names) else str(i)

        for i in self._gallery_indices:
            image = images[i].astype(np.float32) / 255.0
            p = probs[i]
            top = np.argsort(p)[::-1][:3]
            item = QListWidgetItem(
                QIcon(pixmap(image, 56)), f"{nm(predicted)} {p[predicted] * 100:.0f}%"
            )
            item.setToolTip(
                f"image #{i}: true {nm(true_class)}\n"
                + "\n".join(f"{nm(int(c))}: {p[c] * 100:.1f}%" for c in top)
            )
            self.gallery.addItem(item)
        what = "correctly classified" if true_class == predicted else "misclassified"
        self.gallery_label.setText(
            f"{len(idx)} image(s) of {nm(true_class)} predicted as {nm(predicted)} ({what})"
            + (f"; showing the first {GALLERY_LIMIT}" if len(idx) > GALLERY_LIMIT else "")
            + ". Double-click one to send it to Draw & Predict."
        )
        return self._gallery_indices

    def send_gallery_image(self) -> None:
        row = self.gallery.currentRow()
        if self._eval_data is None or not 0 <= row < len(self._gallery_indices):
            return
        images, labels, class_names = self._eval_data
        i = self._gallery_indices[row]
        self.send_image.emit(
            images[i], f"{self.eval_set.currentText()} image #{i} (true {class_names[labels[i]]})"
        )
