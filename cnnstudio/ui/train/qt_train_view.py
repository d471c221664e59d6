"""The Train view: dataset, settings, Start/Pause/Stop, progress and live plots."""

from __future__ import annotations

import os
import threading
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.data import DatasetError, DatasetSplit, load_builtin, preview_grid
from cnnstudio.data.augment import Augmentation
from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.layers.base import format_shape
from cnnstudio.engine.training import check_training_data
from cnnstudio.model.session import (
    RunHistory,
    SnapshotBatch,
    TrainingJob,
    TrainingResult,
    make_job,
)
from cnnstudio.ui.train.bridge import (
    TrainSettings,
    graph_state,
    preprocessing_dict,
    transforms_for,
)
from cnnstudio.ui.train.qt_plots import PAST, SMOOTH, QtTrainingPlots
from cnnstudio.ui.worker import training_session

__all__ = ["LoadCancelled", "QtPage", "QtTrainView", "ask_keep_weights", "load_choice"]

#: Milliseconds a dataset takes to load before its progress dialog shows.
LOAD_DIALOG_DELAY_MS = 500
#: Dataset kinds read from the user's files: loaded on a worker thread (seconds for a
#: folder of thousands of images). The built-in sample and the drawn samples are quick.
FILE_KINDS = ("idx", "folder", "csv")


class LoadCancelled(Exception):
    """The user cancelled loading a dataset."""


#: Dataset sources in the picker: (kind, label).
SOURCES = (
    ("builtin", "Built-in MNIST sample"),
    ("idx", "IDX folder…"),
    ("folder", "Image folder…"),
    ("csv", "CSV file…"),
    ("samples", "My drawn samples"),
)
OPTIMIZERS = (("sgd", "SGD with momentum"), ("adam", "Adam"), ("rmsprop", "RMSprop"))
SCHEDULES = (("constant", "Constant"), ("step", "Step decay"), ("cosine", "Cosine"))
#: Shown when a run cannot even be set up (a plain MemoryError says nothing itself).
NO_MEMORY_TO_START = (
    "Not enough free memory (RAM) to set up this run: use a smaller dataset or network, "
    "or close other programs."
)


class QtPage(QWidget):
    """A view's page inside a scroll area: scrolls only below its minimum size.

    Word-wrapping labels make a layout height-for-width, and a scroll area then sizes
    the page for the narrowest wrap (showing a needless scroll bar); a page opts out.
    """

    def hasHeightForWidth(self) -> bool:
        return False


def scrolling_page(view: QWidget) -> QtPage:
    """Fill ``view`` with a frameless scroll area holding a new page, and return the page.

    The page scrolls rather than forcing a minimum width on the main window.
    """
    outer = QHBoxLayout(view)
    outer.setContentsMargins(0, 0, 0, 0)
    page_scroll = QScrollArea(view)
    page_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    page_scroll.setWidgetResizable(True)
    outer.addWidget(page_scroll)
    page = QtPage()
    page_scroll.setWidget(page)
    return page


def ask_keep_weights(parent: QWidget) -> str:
    """Ask whether to stop training and keep the weights: "keep", "discard" or "cancel".

    Tests replace this function to answer without a dialog.
    """
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Training is running")
    box.setText("Stop training? Keep the weights trained so far?")
    keep = box.addButton("Keep", QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(keep)
    box.exec()
    clicked = box.clickedButton()
    if clicked is keep:
        return "keep"
    if clicked is discard:
        return "discard"
    return "cancel"


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
    from cnnstudio.data import load_csv, load_idx_dir, load_image_folder

    options = dict(choice.options or {})
    if choice.kind == "builtin":
        return load_builtin(options.get("name", "mnist-sample"))
    if choice.kind == "samples":
        if samples is None or len(samples) == 0:
            raise DatasetError(
                "there are no drawn samples yet; draw digits in Draw & Predict and add them"
            )
        return DatasetSplit(train=samples.to_dataset())
    path = Path(choice.path or "")
    if not path.exists():
        raise DatasetError("no such file or folder", path)
    if choice.kind == "idx":
        if path.is_file():
            from cnnstudio.data import load_dataset

            return load_dataset(path)
        return load_idx_dir(path)
    if choice.kind == "folder":
        size = options.get("size", [28, 28])
        color = options.get("color") or None
        return DatasetSplit(
            train=load_image_folder(
                path, input_size=(int(size[0]), int(size[1])), color=color, progress=progress
            )
        )
    return DatasetSplit(train=load_csv(path))


def _clock(seconds: float) -> str:
    s = round(max(seconds, 0.0))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _gray_pixmap(image: np.ndarray, scale: int = 2) -> QPixmap:
    a = np.ascontiguousarray(image)
    if a.ndim == 2:
        qimg = QImage(a.data, a.shape[1], a.shape[0], a.strides[0], QImage.Format.Format_Grayscale8)
    else:
        qimg = QImage(a.data, a.shape[1], a.shape[0], a.strides[0], QImage.Format.Format_RGB888)
    pix = QPixmap.fromImage(qimg.copy())
    return pix.scaled(pix.width() * scale, pix.height() * scale)


class QtTrainView(QWidget):
    """Pick data and settings, train on a background thread, watch the curves.

    Built as ``QtTrainView(context, parent)``; reads and writes ``context.project``.
    """

    #: Emitted with the dataset summary after a dataset was loaded.
    dataset_loaded = Signal(str)

    def __init__(self, context: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._context = context
        self.session = training_session(context)
        self._loading = False
        #: (project, dataset choice) whose saved dataset is being loaded again.
        self._reloading: tuple[Any, Any] | None = None
        self._past_visible: list[bool] = []
        #: The status line shows why Start is disabled (a tooltip alone goes unseen).
        self._start_problem_shown = False
        self._build_ui()
        self._connect()
        self._load_settings()
        self._ensure_dataset()
        self._on_state_changed(self.session.state)
        self.refresh_graph_state()
        self._refresh_preview()

    # -- project access ------------------------------------------------------------------
    @property
    def project(self) -> Any:
        return getattr(self._context, "project", None)

    def _watch_project(self) -> None:
        project = self.project
        if project is None or getattr(self, "_watched", None) is project:
            return
        self._watched = project
        events = project.events
        events.graph_replaced.connect(self._on_graph_replaced)
        events.dataset_changed.connect(self._on_dataset_changed)
        events.settings_changed.connect(self._on_settings_changed)
        events.history_changed.connect(self._rebuild_runs_list)
        self._watch_graph()

    def _watch_graph(self) -> None:
        project = self.project
        graph = getattr(project, "graph", None)
        events = getattr(graph, "events", None)
        if events is None:
            return
        signal = getattr(events, "inference_changed", None)
        if signal is not None:
            signal.connect(self._on_graph_edited)

    def _on_graph_replaced(self) -> None:
        self._watch_graph()
        self.refresh_graph_state()

    def _on_graph_edited(self, *_args: Any) -> None:
        self.refresh_graph_state()

    # -- UI ------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        page = scrolling_page(self)
        page_layout = QHBoxLayout(page)
        page_layout.setContentsMargins(6, 6, 6, 6)
        splitter = QSplitter(Qt.Orientation.Horizontal, page)
        page_layout.addWidget(splitter)

        settings = QWidget()
        left = QVBoxLayout(settings)
        left.setContentsMargins(4, 4, 4, 4)
        left.addWidget(self._build_data_box())
        left.addWidget(self._build_optimizer_box())
        left.addWidget(self._build_augmentation_box())
        left.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(settings)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(300)
        settings.setMinimumWidth(280)
        splitter.addWidget(scroll)

        right = QWidget()
        rlay = QVBoxLayout(right)
        rlay.setContentsMargins(4, 4, 4, 4)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("startButton")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.step_button = QPushButton("One step")
        self.epoch_button = QPushButton("One epoch")
        self.start_button.setToolTip("Train a freshly initialised network with these settings")
        self.step_button.setToolTip("Run exactly one optimizer step, then pause")
        self.epoch_button.setToolTip("Run to the end of the current epoch, then pause")
        self.stop_button.setToolTip("Stop after the current step and keep the weights")
        for b in (
            self.start_button,
            self.pause_button,
            self.stop_button,
            self.step_button,
            self.epoch_button,
        ):
            buttons.addWidget(b)
        buttons.addStretch(1)
        rlay.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        # The text goes in a label: on a half-filled bar it would be half unreadable.
        self.progress.setTextVisible(False)
        self.progress.setFormat("Not started")
        self.progress.setMaximumHeight(12)
        self.progress_label = QLabel("Not started")
        self.progress_label.setObjectName("progressText")
        rlay.addWidget(self.progress_label)
        rlay.addWidget(self.progress)
        self.status_label = QLabel("Press Start to train.")
        self.status_label.setObjectName("trainStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        rlay.addWidget(self.status_label)
        self.message_label = QLabel()
        self.message_label.setObjectName("trainMessage")
        self.message_label.setWordWrap(True)
        self.message_label.setTextFormat(Qt.TextFormat.PlainText)  # messages quote file names
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.hide()
        rlay.addWidget(self.message_label)
        plots_row = QHBoxLayout()
        self.plots = QtTrainingPlots()
        plots_row.addWidget(self.plots, 1)
        runs_box = QGroupBox("Runs")
        rb = QVBoxLayout(runs_box)
        self.runs_list = QListWidget()
        self.runs_list.setToolTip("Earlier runs of this session, overlaid on the plots")
        self.runs_list.setMaximumWidth(170)
        rb.addWidget(self.runs_list)
        runs_box.setMaximumWidth(190)
        plots_row.addWidget(runs_box)
        rlay.addLayout(plots_row, 1)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([370, 900])

    def _build_data_box(self) -> QGroupBox:
        box = QGroupBox("Data")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.source_combo = QComboBox()
        for kind, label in SOURCES:
            self.source_combo.addItem(label, kind)
        form.addRow("Source", self.source_combo)
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
        form.addRow("Images", self.folder_options)
        self.add_samples_check = QCheckBox("Add my drawn samples")
        self.add_samples_check.setToolTip(
            "Train on this dataset plus the digits you drew and labelled in Draw & Predict"
        )
        form.addRow("", self.add_samples_check)
        self.dataset_label = QLabel("No dataset")
        self.dataset_label.setObjectName("datasetSummary")
        self.dataset_label.setWordWrap(True)
        form.addRow(self.dataset_label)
        self.data_error_label = QLabel()
        self.data_error_label.setObjectName("datasetError")
        self.data_error_label.setWordWrap(True)
        self.data_error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.data_error_label.setStyleSheet("color: #b00020;")
        self.data_error_label.hide()
        form.addRow(self.data_error_label)
        self.val_split = QDoubleSpinBox()
        self.val_split.setRange(0.0, 50.0)
        self.val_split.setDecimals(0)
        self.val_split.setSuffix(" %")
        self.val_split.setToolTip("Share of the training data held back to validate each epoch")
        form.addRow("Validation", self.val_split)
        return box

    def _build_optimizer_box(self) -> QGroupBox:
        box = QGroupBox("Optimizer")
        form = QFormLayout(box)
        self.optimizer_combo = QComboBox()
        for key, label in OPTIMIZERS:
            self.optimizer_combo.addItem(label, key)
        form.addRow("Optimizer", self.optimizer_combo)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(5)
        self.lr_spin.setRange(0.00001, 1000.0)
        self.lr_spin.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
        self.lr_spin.setToolTip("Learning rate; can be changed while training")
        form.addRow("Learning rate", self.lr_spin)
        self.momentum_spin = QDoubleSpinBox()
        self.momentum_spin.setRange(0.0, 0.99)
        self.momentum_spin.setSingleStep(0.05)
        form.addRow("Momentum", self.momentum_spin)
        self.schedule_combo = QComboBox()
        for key, label in SCHEDULES:
            self.schedule_combo.addItem(label, key)
        self.schedule_combo.setToolTip(
            "Constant; step decay (× factor every N epochs); cosine annealing to 0"
        )
        form.addRow("Schedule", self.schedule_combo)
        step_row = QHBoxLayout()
        step_row.setContentsMargins(0, 0, 0, 0)
        self.step_size_spin = QSpinBox()
        self.step_size_spin.setRange(1, 1000)
        self.step_size_spin.setPrefix("every ")
        self.step_size_spin.setSuffix(" ep.")
        self.gamma_spin = QDoubleSpinBox()
        self.gamma_spin.setRange(0.01, 0.99)
        self.gamma_spin.setSingleStep(0.05)
        self.gamma_spin.setPrefix("× ")
        step_row.addWidget(self.step_size_spin)
        step_row.addWidget(self.gamma_spin)
        self.step_options = QWidget()
        self.step_options.setLayout(step_row)
        self.step_options.setToolTip("Step decay: multiply the rate by this factor every N epochs")
        form.addRow("Decay", self.step_options)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 4096)
        form.addRow("Batch size", self.batch_spin)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 1000)
        form.addRow("Epochs", self.epochs_spin)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        form.addRow("Seed", self.seed_spin)
        self.normalize_check = QCheckBox("Standardise inputs (mean/std)")
        form.addRow("", self.normalize_check)
        self.processes_check = QCheckBox("Use 2 processor cores")
        self.processes_check.setToolTip(
            "Split every batch between this program and a helper process, one core each:\n"
            "up to ~1.7x faster on an otherwise idle computer, slower when another program\n"
            "keeps a core busy. The helper starts with each run (about half a second).\n"
            "Networks with BatchNorm or Dropout, and batches under 16, train on one core."
        )
        self.processes_check.setEnabled((os.cpu_count() or 1) >= 2)
        form.addRow("", self.processes_check)
        return box

    def _build_augmentation_box(self) -> QGroupBox:
        box = QGroupBox("Augmentation")
        form = QFormLayout(box)
        self.aug_shift = QSpinBox()
        self.aug_shift.setRange(0, 8)
        self.aug_shift.setSuffix(" px")
        self.aug_rotation = QDoubleSpinBox()
        self.aug_rotation.setRange(0.0, 180.0)
        self.aug_rotation.setDecimals(0)
        self.aug_rotation.setSuffix("°")
        self.aug_scale = QDoubleSpinBox()
        self.aug_scale.setRange(0.0, 0.5)
        self.aug_scale.setSingleStep(0.05)
        self.aug_noise = QDoubleSpinBox()
        self.aug_noise.setRange(0.0, 1.0)
        self.aug_noise.setSingleStep(0.05)
        self.aug_thickness = QSpinBox()
        self.aug_thickness.setRange(0, 3)
        form.addRow("Shift", self.aug_shift)
        form.addRow("Rotation", self.aug_rotation)
        form.addRow("Scale ±", self.aug_scale)
        form.addRow("Noise", self.aug_noise)
        form.addRow("Thickness ±", self.aug_thickness)
        self.preview_label = QLabel()
        self.preview_label.setObjectName("augmentationPreview")
        self.preview_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_label.setToolTip("First column: the image; others: random augmentations")
        self.preview_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        form.addRow(self.preview_label)
        return box

    def _connect(self) -> None:
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.session.stop)
        self.step_button.clicked.connect(self.one_step)
        self.epoch_button.clicked.connect(self.one_epoch)
        self.source_combo.activated.connect(self._on_source_activated)
        self.add_samples_check.toggled.connect(self._on_add_samples_toggled)
        self.lr_spin.valueChanged.connect(self._on_lr_changed)
        for w in (
            self.aug_shift,
            self.aug_rotation,
            self.aug_scale,
            self.aug_noise,
            self.aug_thickness,
        ):
            w.valueChanged.connect(self._refresh_preview)
        for w in (
            self.val_split,
            self.momentum_spin,
            self.step_size_spin,
            self.gamma_spin,
            self.batch_spin,
            self.epochs_spin,
            self.seed_spin,
            self.aug_shift,
            self.aug_rotation,
            self.aug_scale,
            self.aug_noise,
            self.aug_thickness,
        ):
            w.valueChanged.connect(self._store_settings)
        for c in (self.optimizer_combo, self.schedule_combo):
            c.currentIndexChanged.connect(self._store_settings)
        self.optimizer_combo.currentIndexChanged.connect(self._update_enabled)
        self.schedule_combo.currentIndexChanged.connect(self._update_enabled)
        self.normalize_check.toggled.connect(self._store_settings)
        self.processes_check.toggled.connect(self._store_settings)
        self.runs_list.itemChanged.connect(self._on_run_toggled)
        self.session.state_changed.connect(self._on_state_changed)
        self.session.progress.connect(self._on_progress)
        self.session.run_finished.connect(self._on_run_finished)
        self.session.run_started.connect(self._on_run_started)

    # -- settings ------------------------------------------------------------------------
    def settings(self) -> TrainSettings:
        """The settings shown in the widgets."""
        aug = {
            "shift": int(self.aug_shift.value()),
            "rotation": float(self.aug_rotation.value()),
            "scale": float(self.aug_scale.value()),
            "noise": float(self.aug_noise.value()),
            "thickness": int(self.aug_thickness.value()),
        }
        return TrainSettings(
            optimizer=self.optimizer_combo.currentData(),
            lr=float(self.lr_spin.value()),
            momentum=float(self.momentum_spin.value()),
            schedule=self.schedule_combo.currentData(),
            step_size=int(self.step_size_spin.value()),
            gamma=float(self.gamma_spin.value()),
            batch_size=int(self.batch_spin.value()),
            epochs=int(self.epochs_spin.value()),
            seed=int(self.seed_spin.value()),
            val_split=float(self.val_split.value()) / 100.0,
            augmentation={k: v for k, v in aug.items() if v},
            normalize=self.normalize_check.isChecked(),
            processes=2 if self.processes_check.isChecked() else 1,
        )

    def set_settings(self, s: TrainSettings) -> None:
        """Show ``s`` in the widgets (and store it in the project)."""
        self._loading = True
        try:
            self.optimizer_combo.setCurrentIndex(max(self.optimizer_combo.findData(s.optimizer), 0))
            self.lr_spin.setValue(s.lr)
            self.momentum_spin.setValue(s.momentum)
            self.schedule_combo.setCurrentIndex(max(self.schedule_combo.findData(s.schedule), 0))
            self.step_size_spin.setValue(s.step_size)
            self.gamma_spin.setValue(s.gamma)
            self.batch_spin.setValue(s.batch_size)
            self.epochs_spin.setValue(s.epochs)
            self.seed_spin.setValue(s.seed)
            self.val_split.setValue(round(s.val_split * 100))
            aug = s.augmentation or {}
            self.aug_shift.setValue(int(aug.get("shift", 0)))
            self.aug_rotation.setValue(float(aug.get("rotation", 0.0)))
            self.aug_scale.setValue(float(aug.get("scale", 0.0)))
            self.aug_noise.setValue(float(aug.get("noise", 0.0)))
            self.aug_thickness.setValue(int(aug.get("thickness", 0)))
            self.normalize_check.setChecked(bool(s.normalize))
            self.processes_check.setChecked(s.processes > 1)
        finally:
            self._loading = False
        self._store_settings()
        self._update_enabled()

    def _load_settings(self) -> None:
        project = self.project
        self.set_settings(TrainSettings.from_dict(getattr(project, "train_settings", None)))

    def _on_settings_changed(self) -> None:
        project = self.project
        if project is None or self._loading:
            return
        if project.train_settings != self.settings().to_dict():
            self._loading = True  # show them without writing them back
            try:
                self.set_settings(TrainSettings.from_dict(project.train_settings))
            finally:
                self._loading = False

    def _store_settings(self, *_args: Any) -> None:
        if self._loading:
            return
        project = self.project
        if project is not None:
            data = self.settings().to_dict()
            if data != getattr(project, "train_settings", None):
                project.set_train_settings(data)

    def _on_lr_changed(self, value: float) -> None:
        if self.session.is_active:
            self.session.set_lr(value)
            self.status_label.setText(f"Learning rate set to {value:g} from the next step.")
        self._store_settings()

    # -- data ----------------------------------------------------------------------------
    def attach_project(self) -> None:
        """Follow ``context.project`` (call again after the main window replaced it)."""
        self._ensure_dataset()
        self._load_settings()
        self._rebuild_runs_list()
        self.refresh_graph_state()

    def _ensure_dataset(self) -> None:
        self._watch_project()
        if self.project is not None:
            self._on_dataset_changed()

    def _on_dataset_changed(self) -> None:
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
                self.source_combo.setCurrentIndex(max(self.source_combo.findData(choice.kind), 0))
                self.dataset_label.setText(f"<b>{escape(choice.label)}</b><br>Loading…")
                QTimer.singleShot(0, self, lambda: self._reload_saved(project, choice))
            return
        choice = project.dataset_choice
        index = self.source_combo.findData(choice.kind)
        self.source_combo.setCurrentIndex(max(index, 0))
        self.add_samples_check.blockSignals(True)
        self.add_samples_check.setChecked(bool(choice.options.get("add_samples")))
        self.add_samples_check.blockSignals(False)
        split = project.dataset
        train = split.train
        text = f"<b>{escape(choice.label)}</b><br>{len(train):,} training images"
        if split.test is not None:
            text += f", {len(split.test):,} held out"
        text += f"<br>{format_shape(train.input_shape)}, {train.num_classes} classes"
        if choice.options.get("add_samples") and project.samples is not None:
            text += f"<br>+ {len(project.samples)} drawn sample(s)"
        skipped = getattr(train, "skipped", ())
        if skipped:
            text += f"<br><span style='color:#a05000'>{_skipped_note(skipped, choice.path)}</span>"
            listing = [str(s) for s in skipped[:30]]
            if len(skipped) > 30:
                listing.append(f"… and {len(skipped) - 30:,} more")
            self.dataset_label.setToolTip("\n".join(listing))
        else:
            self.dataset_label.setToolTip("")
        self.dataset_label.setText(text)
        self._refresh_preview()
        self._update_enabled()
        self.dataset_loaded.emit(train.summary())

    def _is_reloading(self, project: Any, choice: Any) -> bool:
        r = self._reloading
        return r is not None and r[0] is project and r[1] is choice

    def _reload_saved(self, project: Any, choice: Any) -> None:
        """Load the dataset an opened project names, as ``load_source`` would (files and
        folders in the background, with the progress dialog). If it cannot be loaded,
        or the user cancels, the built-in sample takes its place and a note says why.
        Nothing happens if the project moved on meanwhile (another file was opened or
        another dataset picked)."""
        from cnnstudio.model.project import DatasetChoice

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

    def _on_source_activated(self, index: int) -> None:
        kind = self.source_combo.itemData(index)
        path: str | None = None
        if kind in ("idx", "folder"):
            path = QFileDialog.getExistingDirectory(self, "Choose a dataset folder")
        elif kind == "csv":
            path, _ = QFileDialog.getOpenFileName(
                self, "Choose a CSV file", "", "CSV files (*.csv *.csv.gz);;All files (*)"
            )
        if kind in FILE_KINDS and not path:
            self._show_current_source()
            return
        self.load_source(kind, path)

    def load_source(self, kind: str, path: str | None = None, **options: Any) -> bool:
        """Load a dataset into the project; on failure show why and keep the previous one."""
        from cnnstudio.model.project import DatasetChoice

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
            if kind in FILE_KINDS:
                self.data_error_label.hide()  # an earlier failure is not this load's news
                split = self._load_in_background(choice)
            else:  # built in or drawn: quick, and the drawn samples belong to this thread
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
        timer.stop()
        dialog.close()
        dialog.deleteLater()
        error = outcome.get("error")
        if error is not None:
            raise error
        if "split" not in outcome:  # the application is quitting (it ends every loop)
            cancelled.set()
            raise LoadCancelled
        return outcome["split"]

    def show_data_error(self, text: str) -> None:
        self._show_data_note(f"Could not load the dataset: {text}")

    def _show_data_note(self, text: str) -> None:
        self.data_error_label.setText(text)
        self.data_error_label.show()

    def _show_current_source(self) -> None:
        project = self.project
        kind = project.dataset_choice.kind if project is not None else "builtin"
        self.source_combo.setCurrentIndex(max(self.source_combo.findData(kind), 0))

    def _on_add_samples_toggled(self, checked: bool) -> None:
        project = self.project
        if project is None:
            return
        choice = project.dataset_choice
        options = dict(choice.options)
        options["add_samples"] = bool(checked)
        from cnnstudio.model.project import DatasetChoice

        if project.dataset is not None:
            project.set_dataset(DatasetChoice(choice.kind, choice.path, options), project.dataset)

    def training_data(self) -> tuple[Any, Any]:
        """(training set, validation set or None) for the current settings."""
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
        fraction = self.settings().val_split
        val: Any = None
        if fraction > 0 and len(train) > 1:
            train, val = train.split(fraction, seed=self.settings().seed)
            if len(val) == 0:
                val = None
        return train, val

    def _refresh_preview(self, *_args: Any) -> None:
        project = self.project
        if project is None or project.dataset is None:
            self.preview_label.clear()
            return
        try:
            aug = Augmentation.from_dict(self.settings().augmentation)
            images = project.dataset.train.images
            # Images spread over the dataset (sources are often sorted by class).
            picks = images[np.linspace(0, len(images) - 1, 3).astype(int)]
            grid = preview_grid(picks, aug, seed=0, rows=3, cols=5)
        except DatasetError as exc:
            self.preview_label.setText(str(exc))
            return
        scale = 2 if grid.shape[1] <= 150 else 1
        self.preview_label.setPixmap(_gray_pixmap(grid, scale))

    # -- graph ---------------------------------------------------------------------------
    def refresh_graph_state(self) -> None:
        """Enable Start only when the graph compiles; say why not in the tooltip."""
        self._update_enabled()

    def _graph_problem(self) -> tuple[dict | None, str | None]:
        project = self.project
        if project is None:
            return None, "No project is open."
        num_classes = project.dataset.train.num_classes if project.dataset is not None else None
        state = graph_state(getattr(project, "graph", None), num_classes)
        if not state.ok:
            return None, state.problem
        arch = state.architecture
        if arch is not None and project.dataset is not None:
            input_shape = _arch_input_shape(arch)
            if input_shape is not None and tuple(input_shape) != tuple(project.dataset.input_shape):
                c, h, w = project.dataset.input_shape
                return None, (
                    f"The network's input is {format_shape(input_shape)} "
                    f"but the dataset's images are {format_shape((c, h, w))}."
                )
        return arch, None

    # -- control -------------------------------------------------------------------------
    def _prepare_job(self) -> TrainingJob | None:
        arch, problem = self._graph_problem()
        if problem is not None or arch is None:
            self._show_message(problem or "The network is not valid.", error=True)
            return None
        project = self.project
        if project.dataset is None:
            self._show_message("Choose a dataset first.", error=True)
            return None
        settings = self.settings()
        try:
            train, val = self.training_data()
            transform, val_transform, norm = transforms_for(settings, train.images)
            return make_job(
                arch,
                train,
                val,
                settings.train_config(threads=1),
                seed=settings.seed,
                preprocessing=preprocessing_dict(norm, train.input_shape),
                transform=transform,
                val_transform=val_transform,
                name=self.session.next_run_name(),
                settings=settings.to_dict(),
            )
        except (EngineError, DatasetError, ValueError) as exc:
            self._show_message(str(exc), error=True)
            return None
        except MemoryError:
            self._show_message(NO_MEMORY_TO_START, error=True)
            return None

    def start(self, *, then_pause: str | None = None) -> bool:
        """Start a new run with the current settings; False (and a message) if it cannot."""
        if self.session.is_active:
            return False
        job = self._prepare_job()
        if job is None:
            return False
        try:
            self.session.start(job, then_pause=then_pause)
        except (EngineError, ValueError) as exc:  # the engine's refusals, before any step
            self._show_message(str(exc), error=True)
            return False
        except MemoryError:
            self._show_message(NO_MEMORY_TO_START, error=True)
            return False
        return True

    def toggle_pause(self) -> None:
        if self.session.state == "running":
            self.session.pause()
            self.pause_button.setEnabled(False)  # until the worker confirms
        elif self.session.state == "paused":
            self.session.resume()

    def one_step(self) -> None:
        if self.session.state == "idle":
            self.start(then_pause="step")
        else:
            self.session.step_once()

    def one_epoch(self) -> None:
        if self.session.state == "idle":
            self.start(then_pause="epoch")
        else:
            self.session.run_epoch()

    def can_close(self) -> bool:
        """Called by the main window before closing: stop a running worker cleanly.

        Unattended (nobody to ask), the weights trained so far are kept.
        """
        if not self.session.is_active:
            return True
        answer = "keep" if getattr(self._context, "unattended", False) else ask_keep_weights(self)
        if answer == "cancel":
            return False
        return self.session.shutdown(keep=answer == "keep")

    # -- session callbacks -----------------------------------------------------------------
    def _on_state_changed(self, state: str) -> None:
        running = state == "running"
        paused = state == "paused"
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.setEnabled(running or paused)
        self.stop_button.setEnabled(running or paused)
        if paused:
            self.status_label.setText(self._status_text() + "  —  paused")
        self._update_enabled()

    def _update_enabled(self, *_args: Any) -> None:
        state = self.session.state
        idle = state == "idle"
        paused = state == "paused"
        _arch, problem = self._graph_problem() if idle else (None, None)
        can_start = idle and problem is None and self.project is not None
        self.start_button.setEnabled(can_start)
        tip = problem if (idle and problem) else "Train a freshly initialised network"
        self.start_button.setToolTip(tip or "")
        if idle and problem and self.project is not None:
            self.status_label.setText(f"Cannot start: {problem}")
            self._start_problem_shown = True
        elif self._start_problem_shown:
            self._start_problem_shown = False
            self.status_label.setText("Press Start to train.")
        self.step_button.setEnabled(paused or can_start)
        self.epoch_button.setEnabled(paused or can_start)
        for w in (
            self.source_combo,
            self.add_samples_check,
            self.folder_options,
            self.val_split,
            self.optimizer_combo,
            self.schedule_combo,
            self.batch_spin,
            self.epochs_spin,
            self.seed_spin,
            self.normalize_check,
            self.aug_shift,
            self.aug_rotation,
            self.aug_scale,
            self.aug_noise,
            self.aug_thickness,
        ):
            w.setEnabled(idle)
        self.processes_check.setEnabled(idle and (os.cpu_count() or 1) >= 2)
        self.momentum_spin.setEnabled(idle and self.optimizer_combo.currentData() == "sgd")
        self.step_options.setEnabled(idle and self.schedule_combo.currentData() == "step")

    def _on_progress(self, batch: SnapshotBatch) -> None:
        if self.message_label.isVisible() and batch.snapshots[0].step == 1:
            self.message_label.hide()
        self._refresh_plots()

    def _status_text(self) -> str:
        snap = self.session.latest
        if snap is None:
            return "Starting…"
        text = f"loss {snap.loss:.4f} · accuracy {snap.accuracy * 100:.1f}% · lr {snap.lr:.2g}"
        history = self.session.history
        if history is not None and history.val_accuracy and history.val_accuracy[-1] is not None:
            text += f" · validation {history.val_accuracy[-1] * 100:.1f}%"
        return text

    def _refresh_plots(self) -> None:
        self.plots.set_current(self.session.history)
        snap = self.session.latest
        if snap is not None:
            self.progress.setValue(round(1000 * snap.progress))
            eta = "done" if snap.done else f"ETA {_clock(snap.eta_seconds)}"
            text = (
                f"Epoch {snap.epoch}/{snap.epochs} · step {snap.step_in_epoch}/"
                f"{snap.steps_per_epoch} · {snap.samples_per_sec:,.0f} samples/s · {eta}"
            )
            self.progress.setFormat(text)
            self.progress_label.setText(f"<b>{text}</b>")
            suffix = "  —  paused" if self.session.state == "paused" else ""
            self.status_label.setText(self._status_text() + suffix)

    def _on_run_started(self, job: TrainingJob) -> None:
        self.plots.set_current(None)
        self._rebuild_runs_list()
        n = len(job.train_data[1])
        steps = job.config.epochs * -(-n // job.config.batch_size)
        past = [run.steps[-1] for run in self._runs() if run.steps]
        self.plots.fix_ranges(max([steps, *past]), job.config.epochs)
        self.message_label.hide()

    def _on_run_finished(self, result: TrainingResult) -> None:
        self._refresh_plots()
        error = result.outcome in ("diverged", "out of memory", "failed")
        self._show_message(result.message, error=error)
        if self._context is not None and hasattr(self._context, "status_message"):
            self._context.status_message.emit(result.message)
        self._rebuild_runs_list()

    def _show_message(self, text: str, *, error: bool = False) -> None:
        colour = "#b00020" if error else "#1b5e20"
        self.message_label.setStyleSheet(f"color: {colour};")
        self.message_label.setText(text)
        self.message_label.show()

    # -- earlier runs ----------------------------------------------------------------------
    def _runs(self) -> list[RunHistory]:
        """The project's runs (this session's and those saved with the project)."""
        project = self.project
        return list(self.session.model.runs if project is None else project.history)

    def _rebuild_runs_list(self) -> None:
        runs = self._runs()
        del self._past_visible[len(runs) :]
        while len(self._past_visible) < len(runs):
            self._past_visible.append(True)
        self.runs_list.blockSignals(True)
        self.runs_list.clear()
        for i, run in enumerate(runs):
            last_val = run.last_val_accuracy
            label = run.name if last_val is None else f"{run.name} ({last_val * 100:.1f}%)"
            item = QListWidgetItem(label)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Checked if self._past_visible[i] else Qt.CheckState.Unchecked
            )
            item.setToolTip(
                ", ".join(f"{k}={v}" for k, v in run.settings.items() if k != "augmentation")
            )
            # the run's colour in the plots: the newest is "current" unless a run is on
            newest = i == len(runs) - 1 and not self.session.is_active
            colour = SMOOTH if newest else PAST[i % len(PAST)]
            item.setForeground(QBrush(QColor(*colour[:3])))
            self.runs_list.addItem(item)
        self.runs_list.blockSignals(False)
        self._apply_overlays()

    def _apply_overlays(self) -> None:
        runs = self._runs()
        if self.session.is_active:
            self.plots.set_past_runs(runs, self._past_visible[: len(runs)])
            self.plots.current.set_visible(True)
            return
        # Idle: the newest run is drawn as "current", the others are overlaid.
        self.plots.set_past_runs(runs[:-1], self._past_visible[: max(len(runs) - 1, 0)])
        self.plots.set_current(runs[-1] if runs else None)
        self.plots.current.set_visible(bool(self._past_visible[-1]) if runs else True)
        self.plots.fit_ranges()

    def _on_run_toggled(self, item: QListWidgetItem) -> None:
        row = self.runs_list.row(item)
        if 0 <= row < len(self._past_visible):
            self._past_visible[row] = item.checkState() == Qt.CheckState.Checked
            self._apply_overlays()

    def showEvent(self, event: Any) -> None:
        if getattr(self, "_watched", None) is not self.project:
            self.attach_project()
        super().showEvent(event)


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


def _arch_input_shape(arch: dict) -> tuple[int, ...] | None:
    for node in arch.get("nodes", []):
        if node.get("type") == "Input":
            shape = (node.get("config") or {}).get("shape")
            if isinstance(shape, list | tuple):
                return tuple(int(v) for v in shape)
    return None
