"""The Train view's data panel: pick a dataset, load it (in the background), say what it is.

The one dataset dispatch is ``data.loader.load_source`` (the command line's too);
this panel adds what a window needs around it: one Source entry per built-in
sample, file dialogs, a progress dialog with Cancel for slow loads, reloading the
dataset an opened project names, saying when the data changed the network's input,
and refusing data no network can learn from when it is picked.
"""

from __future__ import annotations

import itertools
import threading
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QWidget,
)

from cnnstudio.data import (
    BUILTIN_DATASETS,
    DatasetError,
    DatasetSplit,
    is_cifar_source,
    load_builtin,
)
from cnnstudio.data.loader import load_source
from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.layers.base import format_shape
from cnnstudio.engine.training import check_training_data
from cnnstudio.model.project import PATH_KINDS, DatasetChoice
from cnnstudio.ui.train.qt_settings_form import QtSettingsForm
from cnnstudio.ui.train.train_settings import SETTING_SPECS

__all__ = [
    "FILE_KINDS",
    "SOURCES",
    "LoadCancelled",
    "QtDataPanel",
    "choose_cifar_source",
    "load_choice",
]

#: Milliseconds a dataset takes to load before its progress dialog shows.
LOAD_DIALOG_DELAY_MS = 500
#: Dataset kinds read from the user's files: loaded on a worker thread (seconds for a
#: folder of thousands of images or CIFAR-10's archive), and so is a built-in sample
#: when picked (the photos are decoded once per process). The drawn samples are quick.
FILE_KINDS = PATH_KINDS
#: Dataset sources in the picker: (kind, built-in sample's name or None, label).
SOURCES: tuple[tuple[str, str | None, str], ...] = (
    *(("builtin", name, DatasetChoice(options={"name": name}).label) for name in BUILTIN_DATASETS),
    ("idx", None, "IDX folder…"),
    ("folder", None, "Image folder…"),
    ("csv", None, "CSV file…"),
    ("cifar", None, "CIFAR-10 binary batches…"),
    ("samples", None, "My drawn samples"),
)
#: The Source menu's item role holding a built-in sample's name (the kind is UserRole).
NAME_ROLE = Qt.ItemDataRole.UserRole + 1


class LoadCancelled(Exception):
    """The user cancelled loading a dataset."""


def load_choice(choice: Any, samples: Any = None, progress: Any = None) -> DatasetSplit:
    """Load the dataset a ``DatasetChoice`` names (raises ``DatasetError``).

    ``progress(done, total)`` is called while the images of a folder are converted.
    Training data no network can learn from (a single class) is refused here, when
    it is picked, rather than at Start, after the network was edited to fit it.
    """
    split = _load_choice(choice, samples, progress)
    what = Path(choice.path).name if choice.path else choice.label
    if choice.kind == "samples":
        what = "the drawn samples"
    try:
        check_training_data(split.train.images, split.train.labels, what, split.train.class_names)
    except EngineError as exc:
        raise DatasetError(str(exc)) from None
    return split


def _load_choice(choice: Any, samples: Any, progress: Any) -> DatasetSplit:
    options = dict(choice.options or {})
    if choice.kind == "builtin":
        return load_source("builtin", choice.builtin_name)
    size = options.get("size", [28, 28]) if choice.kind == "folder" else None
    return load_source(
        choice.kind,
        choice.path,
        input_size=None if size is None else (int(size[0]), int(size[1])),
        color=(options.get("color") or None) if choice.kind == "folder" else None,
        samples=samples,
        progress=progress,
    )


class QtDataPanel(QGroupBox):
    """The "Data" box: source, image-folder options, drawn samples, validation share.

    Built as ``QtDataPanel(context, parent)``; reads ``context.project`` and puts the
    loaded dataset there with ``project.set_dataset``.

    Signals
    -------
    dataset_shown(str)
        The project's dataset is loaded and described (its summary).
    """

    dataset_shown = Signal(str)

    def __init__(self, context: Any, parent: QWidget | None = None) -> None:
        super().__init__("Data", parent)
        self._context = context
        #: (project, dataset choice) whose saved dataset is being loaded again.
        self._reloading: tuple[Any, Any] | None = None
        #: (dataset choice picked, the network's input shape before it was used).
        self._input_before: tuple[Any, tuple[int, ...]] | None = None
        self.form = QtSettingsForm([s for s in SETTING_SPECS if s.group == "data"], self)
        self._build()
        self.source_combo.activated.connect(self._on_source_activated)
        self.add_samples_check.toggled.connect(self._on_add_samples_toggled)

    @property
    def project(self) -> Any:
        return getattr(self._context, "project", None)

    def set_enabled(self, enabled: bool) -> None:
        """Let the user pick data (not while a run is going)."""
        for widget in (self.source_combo, self.add_samples_check, self.folder_options):
            widget.setEnabled(enabled)
        self.form.set_enabled(enabled)

    def _build(self) -> None:
        form = self.form
        rows = itertools.count()  # these rows go above the settings'
        self.source_combo = QComboBox()
        for kind, name, label in SOURCES:
            index = self.source_combo.count()
            self.source_combo.addItem(label, kind)
            if name is not None:
                self.source_combo.setItemData(index, name, NAME_ROLE)
                self.source_combo.setItemData(
                    index, BUILTIN_DATASETS[name][1], Qt.ItemDataRole.ToolTipRole
                )
            elif kind == "cifar":
                self.source_combo.setItemData(
                    index,
                    "CIFAR-10's binary distribution: cifar-10-binary.tar.gz, or the folder "
                    "holding data_batch_1.bin … test_batch.bin",
                    Qt.ItemDataRole.ToolTipRole,
                )
        form.insertRow(next(rows), "Source", self.source_combo)
        size_row = QHBoxLayout()
        self.folder_h = QSpinBox()
        self.folder_w = QSpinBox()
        for spin in (self.folder_h, self.folder_w):
            spin.setRange(4, 256)
            spin.setValue(28)
        self.folder_color = QComboBox()
        self.folder_color.addItem("Auto", "")
        self.folder_color.addItem("Grayscale", "L")
        self.folder_color.addItem("Colour", "RGB")
        size_row.addWidget(self.folder_h)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.folder_w)
        size_row.addWidget(self.folder_color)
        self.folder_options = QWidget()
        self.folder_options.setLayout(size_row)
        size_row.setContentsMargins(0, 0, 0, 0)
        self.folder_options.setToolTip("Input size (H × W) and colour mode for image folders")
        form.insertRow(next(rows), "Image folders", self.folder_options)
        self.add_samples_check = QCheckBox("Add my drawn samples")
        self.add_samples_check.setToolTip(
            "Train on this dataset plus the digits you drew and labelled in Draw & Predict"
        )
        form.insertRow(next(rows), "", self.add_samples_check)
        self.dataset_label = QLabel("No dataset")
        self.dataset_label.setObjectName("datasetSummary")
        self.dataset_label.setWordWrap(True)
        form.insertRow(next(rows), self.dataset_label)
        self.data_error_label = QLabel()
        self.data_error_label.setObjectName("datasetError")
        self.data_error_label.setWordWrap(True)
        self.data_error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.data_error_label.setStyleSheet("color: #b00020;")
        self.data_error_label.hide()
        form.insertRow(next(rows), self.data_error_label)

    def show_dataset(self) -> None:
        """Describe the project's dataset (loading it again first for an opened project)."""
        project = self.project
        if project is None:
            self.dataset_label.setText("No dataset")
            return
        if project.dataset is None:
            # An opened project stores only the choice: load the data again.
            choice = project.dataset_choice
            if choice.kind not in FILE_KINDS:
                self._reload_saved(project, choice)
            elif not self._is_reloading(project, choice):
                # From the event loop, once whoever replaced the project has finished
                # (File > Open is still on the stack here), and off the GUI thread.
                self._reloading = (project, choice)
                self.source_combo.setCurrentIndex(self._source_index(choice))
                self.dataset_label.setText(f"<b>{escape(choice.label)}</b><br>Loading…")
                QTimer.singleShot(0, self, lambda: self._reload_saved(project, choice))
            return
        choice = project.dataset_choice
        self.source_combo.setCurrentIndex(self._source_index(choice))
        self.add_samples_check.blockSignals(True)
        self.add_samples_check.setChecked(bool(choice.options.get("add_samples")))
        self.add_samples_check.blockSignals(False)
        split = project.dataset
        train = split.train
        text = f"<b>{escape(choice.label)}</b><br>{len(train):,} training images"
        if split.test is not None:
            text += f", {len(split.test):,} held out"
        text += (
            f"<br>{format_shape(train.input_shape)} {_colour_word(train.input_shape[0])}, "
            f"{train.num_classes} classes: {escape(_class_list(train.class_names))}"
        )
        if choice.options.get("add_samples") and project.samples is not None:
            text += f"<br>+ {len(project.samples)} drawn sample(s)"
        changed = self._input_change(project, choice)
        if changed:
            text += f"<br><i>{escape(changed, quote=False)}</i>"
        skipped = getattr(train, "skipped", ())
        if skipped:
            text += f"<br><span style='color:#a05000'>{_skipped_note(skipped, choice.path)}</span>"
            listing = [str(s) for s in skipped[:30]]
            if len(skipped) > 30:
                listing.append(f"… and {len(skipped) - 30:,} more")
            self.dataset_label.setToolTip("\n".join(listing))
        else:
            name = choice.builtin_name
            self.dataset_label.setToolTip(
                BUILTIN_DATASETS[name][1] if name in BUILTIN_DATASETS else ""
            )
        self.dataset_label.setText(text)
        self.dataset_shown.emit(train.summary())

    def _is_reloading(self, project: Any, choice: Any) -> bool:
        r = self._reloading
        return r is not None and r[0] is project and r[1] is choice

    def _reload_saved(self, project: Any, choice: Any) -> None:
        """Load the dataset an opened project names, as ``load_source`` would (files and
        folders in the background, with the progress dialog). If it cannot be loaded,
        or the user cancels, the built-in sample takes its place and a note says why.
        Nothing happens if the project moved on meanwhile (another file was opened or
        another dataset picked)."""

        def current() -> bool:
            return (
                project is self.project
                and project.dataset is None
                and project.dataset_choice is choice
            )

        if not current():
            return
        note = ""
        try:
            if choice.kind in FILE_KINDS:
                split = self._load_in_background(choice)
            else:
                split = load_choice(choice, project.samples)
        except LoadCancelled:
            note = (
                "Loading cancelled: using the built-in MNIST sample instead. "
                f"To use {choice.label}, choose it again under Source."
            )
        except (DatasetError, ValueError, OSError, MemoryError) as exc:
            note = f"Could not load the dataset: {exc} — using the built-in MNIST sample instead."
        finally:
            if self._is_reloading(project, choice):
                self._reloading = None
        if not current():
            return
        if note:
            self._show_data_note(note)
            project.set_dataset(DatasetChoice(), load_builtin())
        else:
            self.data_error_label.hide()
            project.set_dataset(choice, split)

    def _input_change(self, project: Any, choice: Any) -> str:
        """How picking ``choice`` changed the network's input, in words ("" if it did not)."""
        before = self._input_before
        now = getattr(project.graph, "input_shape", None)
        if before is None or before[0] is not choice or now is None or tuple(now) == before[1]:
            return ""
        return (
            f"The network's input changed from {format_shape(before[1])} to "
            f"{format_shape(now)} to fit this data."
        )

    def _on_source_activated(self, index: int) -> None:
        kind = self.source_combo.itemData(index)
        path: str | None = None
        if kind in ("idx", "folder"):
            path = QFileDialog.getExistingDirectory(self, "Choose a dataset folder")
        elif kind == "csv":
            path, _ = QFileDialog.getOpenFileName(
                self, "Choose a CSV file", "", "CSV files (*.csv *.csv.gz);;All files (*)"
            )
        elif kind == "cifar":
            path = choose_cifar_source(self)
        if kind in FILE_KINDS and not path:
            self._show_current_source()
            return
        name = self.source_combo.itemData(index, NAME_ROLE)
        self.load_source(kind, path, **({"name": name} if name else {}))

    def load_source(self, kind: str, path: str | None = None, **options: Any) -> bool:
        """Load a dataset into the project; on failure show why and keep the previous one."""
        project = self.project
        if project is None:
            return False
        opts: dict[str, Any] = dict(options)
        if kind == "folder":
            opts.setdefault("size", [self.folder_h.value(), self.folder_w.value()])
            if self.folder_color.currentData():
                opts.setdefault("color", self.folder_color.currentData())
        if self.add_samples_check.isChecked() and kind != "samples":
            opts.setdefault("add_samples", True)
        try:
            choice = DatasetChoice(kind=kind, path=path, options=opts)
            if kind != "samples":
                self.data_error_label.hide()  # an earlier failure is not this load's news
                split = self._load_in_background(choice)
            else:  # quick, and the drawn samples belong to this thread
                split = load_choice(choice, project.samples)
        except LoadCancelled:
            self._show_data_note("Loading cancelled: the previous dataset is still in use.")
            self._show_current_source()
            return False
        except (DatasetError, ValueError, OSError, MemoryError) as exc:
            self.show_data_error(str(exc))
            self._show_current_source()
            return False
        self.data_error_label.hide()
        shape = getattr(project.graph, "input_shape", None)
        self._input_before = None if shape is None else (choice, tuple(shape))
        project.set_dataset(choice, split)
        return True

    def _load_in_background(self, choice: Any) -> DatasetSplit:
        """``load_choice`` on a worker thread, so the window keeps painting: a folder of
        thousands of images takes seconds. After half a second a progress dialog shows
        how far it got and offers Cancel (``LoadCancelled``). Returns when it is done."""
        from PySide6.QtCore import QEventLoop
        from PySide6.QtWidgets import QProgressDialog
        from superqt.utils import create_worker

        cancelled = threading.Event()
        counts = [0, 0]  # images done, total: written by the worker, read by the timer

        def progress(done: int, total: int) -> None:
            counts[0], counts[1] = done, total
            if cancelled.is_set():
                raise LoadCancelled

        outcome: dict[str, Any] = {}
        worker = create_worker(
            load_choice, choice, None, progress, _start_thread=False, _ignore_errors=True
        )
        worker.returned.connect(lambda split: outcome.setdefault("split", split))
        worker.errored.connect(lambda exc: outcome.setdefault("error", exc))
        loop = QEventLoop()

        def finished(*_: Any) -> None:
            loop.quit()

        worker.finished.connect(finished)
        dialog = QProgressDialog(f"Loading {choice.label}…", "Cancel", 0, 0, self)
        dialog.setWindowTitle("Loading dataset")
        dialog.setMinimumWidth(460)  # so the growing counts do not resize it
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(LOAD_DIALOG_DELAY_MS)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.canceled.connect(cancelled.set)
        dialog.setValue(0)  # shows it after the delay even if the loader reports no progress

        def show_progress() -> None:
            done, total = counts
            if total:
                dialog.setMaximum(total)
                dialog.setValue(done)
                dialog.setLabelText(f"Loading {choice.label}: {done:,} of {total:,} images")

        timer = QTimer(dialog, interval=100)
        timer.timeout.connect(lambda: show_progress())
        timer.start()
        worker.start()
        loop.exec()  # the worker's signals arrive (queued) in here, "finished" last
        # Cancel drops the result even when the loader could not be interrupted (CIFAR-10's
        # batches report no progress). Read before close(), which emits "canceled" too.
        dropped = cancelled.is_set()
        timer.stop()
        dialog.close()
        dialog.deleteLater()
        error = outcome.get("error")
        # No result and no error: the application is quitting (it ends every loop).
        if dropped or (error is None and "split" not in outcome):
            cancelled.set()
            raise LoadCancelled
        if error is not None:
            raise error
        return outcome["split"]

    def show_data_error(self, text: str) -> None:
        self._show_data_note(f"Could not load the dataset: {text}")

    def _show_data_note(self, text: str) -> None:
        self.data_error_label.setText(text)
        self.data_error_label.show()

    def _show_current_source(self) -> None:
        project = self.project
        choice = project.dataset_choice if project is not None else DatasetChoice()
        self.source_combo.setCurrentIndex(self._source_index(choice))

    def _source_index(self, choice: Any) -> int:
        """The Source entry of ``choice``: its kind, and for a built-in sample its name."""
        combo = self.source_combo
        for i in range(combo.count()):
            if combo.itemData(i) == choice.kind and (
                choice.kind != "builtin" or combo.itemData(i, NAME_ROLE) == choice.builtin_name
            ):
                return i
        return max(combo.findData(choice.kind), 0)  # a sample this release does not ship

    def _on_add_samples_toggled(self, checked: bool) -> None:
        project = self.project
        if project is None:
            return
        choice = project.dataset_choice
        options = dict(choice.options)
        options["add_samples"] = bool(checked)
        if project.dataset is not None:
            project.set_dataset(DatasetChoice(choice.kind, choice.path, options), project.dataset)

    def training_data(self, seed: int) -> tuple[Any, Any]:
        """(training set, validation set or None), the validation part drawn with ``seed``."""
        project = self.project
        split: DatasetSplit = project.dataset
        train = split.train
        if project.dataset_choice.options.get("add_samples") and len(project.samples):
            try:
                mine = project.samples.to_dataset(train.class_names)
            except DatasetError:
                mine = project.samples.to_dataset()
            if mine.input_shape != train.input_shape:
                mine = mine.converted(train.input_shape[1:], train.color_mode)
            train = train.concatenate(mine, name=f"{train.name} + my samples")
        fraction = float(self.form.values()["val_split"])
        val: Any = None
        if fraction > 0 and len(train) > 1:
            train, val = train.split(fraction, seed=seed)
            if len(val) == 0:
                val = None
        return train, val


def choose_cifar_source(parent: QWidget) -> str:
    """Ask for CIFAR-10's binary batches: the ``.tar.gz``, a batch file, or the folder
    holding the batches (selected, then Open). "" if the user cancelled.

    Qt's own file dialogs take either files or folders; this one takes a file, or a
    folder that holds CIFAR-10 batches (any other folder opens, as usual).
    Tests replace this function to answer without a dialog.
    """
    dialog = _CifarDialog(parent)
    if dialog.exec() != QFileDialog.DialogCode.Accepted:
        return ""
    return dialog.chosen


class _CifarDialog(QFileDialog):
    def __init__(self, parent: QWidget) -> None:
        super().__init__(
            parent,
            "Choose cifar-10-binary.tar.gz, or select the folder of batches and press Open",
        )
        self.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        self.setFileMode(QFileDialog.FileMode.ExistingFile)
        self.setNameFilters(["CIFAR-10 binary (*.tar.gz *.tgz *.tar *.bin)", "All files (*)"])
        self.chosen = ""

    def accept(self) -> None:
        picked = self.selectedFiles()
        if len(picked) == 1 and Path(picked[0]).is_dir() and is_cifar_source(picked[0]):
            self.chosen = picked[0]
            self.done(QFileDialog.DialogCode.Accepted)
            return
        super().accept()  # a file is taken; another folder is opened
        if self.result() == QFileDialog.DialogCode.Accepted and self.selectedFiles():
            self.chosen = self.selectedFiles()[0]


def _colour_word(channels: int) -> str:
    return {1: "grey", 3: "colour"}.get(channels, f"{channels} channels")


def _class_list(names: Any, shown: int = 10) -> str:
    """The first ``shown`` class names, comma-separated ("… and 5 more" after them)."""
    names = [str(n) for n in names]
    text = ", ".join(names[:shown])
    if len(names) > shown:
        text += f", … and {len(names) - shown} more"
    return text


def _skipped_note(skipped: Any, root: str | None) -> str:
    """One line (rich text) on the files a loader left out: how many, the first and why.

    The whole list is the tooltip; a count alone would leave the user guessing why.
    """
    from cnnstudio.data.errors import printable_path

    first = Path(skipped[0].path)
    try:
        shown = first.relative_to(root) if root else Path(first.name)
    except ValueError:
        shown = Path(first.name)
    n = len(skipped)
    more = f"; hover here for all {n:,}" if n > 1 else ""
    return (
        f"{n:,} {'file' if n == 1 else 'files'} skipped "
        f"({escape(printable_path(shown))}: {escape(skipped[0].reason)}{more})"
    )
