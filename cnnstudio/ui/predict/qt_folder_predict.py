"""Predict a folder: every picture in it as a sortable table with thumbnails.

The pictures are read and predicted on a worker thread (:func:`predict_folder`, in
batches), so the window keeps responding; rows appear batch by batch with a progress
bar, and Cancel stops between pictures. Only the folder itself is read, not its
subfolders (the dialog says so). Double-click a row to open that picture in Draw &
Predict.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QThread, Signal
from PySide6.QtGui import QCloseEvent, QIcon, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.data.dataset import SkippedFile
from cnnstudio.model.folder_predict import (
    THUMBNAIL_SIZE,
    FolderChunk,
    ImagePrediction,
    predict_folder,
)
from cnnstudio.ui.predict.qt_photo import rgb_to_qimage

__all__ = ["COLUMNS", "QtFolderPredictDialog"]

COLUMNS = ("Picture", "File", "Predicted", "Probability", "Second choice")
_SORT_KEY = Qt.ItemDataRole.UserRole + 1


class _SortItem(QTableWidgetItem):
    """A cell that sorts by a key of its own (a number, or a name then a number)."""

    def __init__(self, text: str, key: Any) -> None:
        super().__init__(text)
        self.setData(_SORT_KEY, key)
        self.setFlags(self.flags() & ~Qt.ItemFlag.ItemIsEditable)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(_SORT_KEY), other.data(_SORT_KEY)
        if mine is None or theirs is None:
            return super().__lt__(other)
        return bool(mine < theirs)


class _FolderWorker(QThread):
    """Runs :func:`predict_folder` and hands each chunk to the dialog."""

    chunk = Signal(object)
    failed = Signal(str)

    def __init__(self, model: Any, folder: Path, parent: Any = None) -> None:
        super().__init__(parent)
        # A model of its own: the view may predict with the shared one meanwhile.
        self._model = dataclasses.replace(model)
        self._folder = folder
        self._stop = False

    def stop(self) -> None:
        self._stop = True

    def run(self) -> None:
        try:
            for chunk in predict_folder(self._model, self._folder, should_stop=lambda: self._stop):
                self.chunk.emit(chunk)
        except Exception as exc:  # a folder that cannot be listed, a model that cannot run
            self.failed.emit(str(exc))


class QtFolderPredictDialog(QDialog):
    """The table of one folder's predictions.

    Signals
    -------
    picture_chosen(object)
        The Path of a row the user double-clicked.
    """

    picture_chosen = Signal(object)

    def __init__(self, model: Any, folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder = Path(folder)
        self.class_names = [str(c) for c in model.class_names]
        self.predictions: list[ImagePrediction] = []
        self.skipped: list[SkippedFile] = []
        self.setWindowTitle(f"Predictions for {self.folder.name or self.folder}")
        self.resize(760, 620)

        layout = QVBoxLayout(self)
        self.summary_label = QLabel(
            f"Every picture directly in <b>{self.folder}</b> (subfolders are not searched). "
            "Click a column's title to sort by it; double-click a row to open the picture."
        )
        self.summary_label.setWordWrap(True)
        layout.addWidget(self.summary_label)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(THUMBNAIL_SIZE + 6)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setColumnWidth(0, THUMBNAIL_SIZE + 24)
        self.table.setSortingEnabled(True)
        self.table.cellDoubleClicked.connect(self._on_double_click)
        layout.addWidget(self.table, 1)

        self.skipped_label = QLabel("Skipped: none")
        layout.addWidget(self.skipped_label)
        self.skipped_list = QListWidget()
        self.skipped_list.setMaximumHeight(110)
        self.skipped_list.setVisible(False)
        layout.addWidget(self.skipped_list)

        row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setFormat("%v of %m pictures")
        row.addWidget(self.progress, 1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._on_cancel)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)

        self._worker: _FolderWorker | None = _FolderWorker(model, self.folder, self)
        self._worker.chunk.connect(self._add_chunk)
        self._worker.failed.connect(self._on_failed)
        self._worker.finished.connect(self._on_finished)
        self._cancelled = False
        app = QApplication.instance()
        if app is not None:  # never leave the thread running when the app quits
            app.aboutToQuit.connect(self._stop_and_wait)
        self._worker.start()

    # -- state ----------------------------------------------------------------------
    def is_running(self) -> bool:
        """True until the last chunk is in the table (the thread may end a little earlier)."""
        return self._worker is not None

    def cancel(self) -> None:
        """Stop after the picture being read; the rows so far stay."""
        if self._worker is not None:
            self._cancelled = True
            self._worker.stop()

    def wait(self, ms: int = 30000) -> bool:
        return self._worker is None or self._worker.wait(ms)

    # -- rows -----------------------------------------------------------------------
    def _add_chunk(self, chunk: FolderChunk) -> None:
        self.progress.setMaximum(max(chunk.total, 1))
        self.progress.setValue(chunk.done)
        # Sorting while rows are added would move them under our feet.
        self.table.setSortingEnabled(False)
        for prediction in chunk.predictions:
            self._add_row(prediction)
        self.table.setSortingEnabled(True)
        if chunk.skipped:
            self.skipped.extend(chunk.skipped)
            for s in chunk.skipped:
                self.skipped_list.addItem(f"{Path(s.path).name}: {s.reason}")
            self.skipped_list.setVisible(True)
            self.skipped_label.setText(f"Skipped ({len(self.skipped)}):")

    def _name(self, index: int) -> str:
        return self.class_names[index] if index < len(self.class_names) else str(index)

    def _add_row(self, prediction: ImagePrediction) -> None:
        order = len(self.predictions)
        self.predictions.append(prediction)
        (top, p1), (second, p2) = [*prediction.ranked(2), (-1, 0.0)][:2]
        row = self.table.rowCount()
        self.table.insertRow(row)
        picture = _SortItem("", order)
        picture.setIcon(QIcon(QPixmap.fromImage(rgb_to_qimage(prediction.thumbnail))))
        picture.setData(Qt.ItemDataRole.UserRole, str(prediction.path))
        note = "; ".join(prediction.notes)
        picture.setToolTip(f"{prediction.path.name}{': ' + note if note else ''}")
        name = prediction.path.name
        self.table.setItem(row, 0, picture)
        self.table.setItem(row, 1, _SortItem(name, name.lower()))
        self.table.setItem(row, 2, _SortItem(self._name(top), (self._name(top), -p1)))
        probability = _SortItem(f"{p1:.1%}", p1)
        probability.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.table.setItem(row, 3, probability)
        if second >= 0:
            text = f"{self._name(second)} ({p2:.1%})"
            self.table.setItem(row, 4, _SortItem(text, (self._name(second), -p2)))
        else:
            self.table.setItem(row, 4, _SortItem("–", ("", 0.0)))

    def row_path(self, row: int) -> Path:
        """The picture file of a table row (as currently sorted)."""
        item = self.table.item(row, 0)
        if item is None:
            raise IndexError(f"no row {row} in the table")
        return Path(str(item.data(Qt.ItemDataRole.UserRole)))

    def _on_double_click(self, row: int, _column: int) -> None:
        self.picture_chosen.emit(self.row_path(row))

    # -- the end --------------------------------------------------------------------
    def _on_failed(self, message: str) -> None:
        self.summary_label.setText(f"<b>Cannot predict this folder:</b> {message}")

    def _on_finished(self) -> None:
        n = len(self.predictions)
        what = "Cancelled after" if self._cancelled else "Predicted"
        self.progress.setFormat(f"{what} {n} picture{'s' if n != 1 else ''}")
        self.cancel_button.setText("Close")
        self._worker = None

    def _on_cancel(self) -> None:
        if self.is_running():
            self.cancel()
        else:
            self.close()

    def _stop_and_wait(self) -> None:
        self.cancel()
        self.wait()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._stop_and_wait()
        super().closeEvent(event)
