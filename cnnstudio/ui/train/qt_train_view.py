"""The Train view: data, settings, Start/Pause/Stop, progress, live plots and earlier runs.

The view puts its pieces together and runs the project's training through the
window's training session; each piece has its own file: the data panel
(``qt_data_panel.py``), the settings forms generated from their declared specs
(``train_settings.py``, ``qt_settings_form.py``), the run controls
(``qt_run_controls.py``), the plots (``qt_plots.py``) and the run list
(``qt_run_list.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.data import DatasetError, preview_grid
from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.layers.base import format_shape
from cnnstudio.model.recipes import PHOTO_RECIPE
from cnnstudio.model.session import RunHistory, SnapshotBatch, TrainingJob, TrainingResult, make_job
from cnnstudio.ui.train.qt_data_panel import QtDataPanel
from cnnstudio.ui.train.qt_plots import QtTrainingPlots
from cnnstudio.ui.train.qt_run_controls import QtRunControls
from cnnstudio.ui.train.qt_run_list import QtRunList
from cnnstudio.ui.train.qt_settings_form import QtSettingsForm
from cnnstudio.ui.train.train_settings import (
    SETTING_SPECS,
    TrainSettings,
    graph_state,
    preprocessing_dict,
    transforms_for,
)
from cnnstudio.ui.worker import training_session

__all__ = ["QtPage", "QtTrainView", "ask_keep_weights", "input_mismatch", "scrolling_page"]

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


def _image_pixmap(image: np.ndarray, scale: int = 2) -> QPixmap:
    """A grey (H, W) or RGB (H, W, 3) uint8 image, ``scale`` times the size."""
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
        self._watched: Any = None
        # (project, channels): the data whose kind the shown settings were chosen for.
        self._settings_made_for: tuple[Any, int | None] = (None, None)
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
        if project is None or self._watched is project:
            return
        self._watched = project
        events = project.events
        events.graph_replaced.connect(self._on_graph_replaced)
        events.dataset_changed.connect(self.data.show_dataset)
        events.settings_changed.connect(self._on_settings_changed)
        events.history_changed.connect(self._show_runs)
        self._watch_graph()

    def _watch_graph(self) -> None:
        events = getattr(getattr(self.project, "graph", None), "events", None)
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
        self.data = QtDataPanel(self._context)
        left.addWidget(self.data)
        optimizer = QGroupBox("Optimizer")
        self.optimizer_form = QtSettingsForm(_specs("optimizer"), optimizer)
        left.addWidget(optimizer)
        augmentation = QGroupBox("Augmentation")
        self.augmentation_form = QtSettingsForm(_specs("augmentation"), augmentation)
        self.preview_label = QLabel()
        self.preview_label.setObjectName("augmentationPreview")
        self.preview_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_label.setToolTip("First column: the image; others: random augmentations")
        self.preview_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.augmentation_form.addRow(self.preview_label)
        left.addWidget(augmentation)
        left.addStretch(1)
        self.forms = (self.data.form, self.optimizer_form, self.augmentation_form)
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
        self.controls = QtRunControls()
        rlay.addWidget(self.controls)
        plots_row = QHBoxLayout()
        self.plots = QtTrainingPlots()
        plots_row.addWidget(self.plots, 1)
        self.runs = QtRunList(self.plots)
        plots_row.addWidget(self.runs)
        rlay.addLayout(plots_row, 1)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([370, 900])

    def _connect(self) -> None:
        controls = self.controls
        controls.start_button.clicked.connect(self.start)
        controls.pause_button.clicked.connect(self.toggle_pause)
        controls.stop_button.clicked.connect(self.session.stop)
        controls.step_button.clicked.connect(self.one_step)
        controls.epoch_button.clicked.connect(self.one_epoch)
        for form in self.forms:
            form.changed.connect(self._on_setting_changed)
        self.data.dataset_shown.connect(self._on_dataset_shown)
        self.session.state_changed.connect(self._on_state_changed)
        self.session.progress.connect(self._on_progress)
        self.session.run_finished.connect(self._on_run_finished)
        self.session.run_started.connect(self._on_run_started)

    def editor(self, name: str) -> QWidget:
        """The widget of setting ``name`` (a key of ``TrainSettings.flat()``)."""
        form = next(f for f in self.forms if name in f.specs)
        return form.editor(name)

    # -- settings ------------------------------------------------------------------------
    def settings(self) -> TrainSettings:
        """The settings shown in the forms."""
        values: dict[str, Any] = {}
        for form in self.forms:
            values.update(form.values())
        return TrainSettings.from_flat(values)

    def set_settings(self, s: TrainSettings) -> None:
        """Show ``s`` in the forms (and store it in the project)."""
        values = s.flat()
        for form in self.forms:
            form.set_values(values)
        self._store_settings()
        self._refresh_preview()
        self._update_enabled()

    def _load_settings(self) -> None:
        stored = getattr(self.project, "train_settings", None)
        settings = TrainSettings.from_dict(stored)
        channels = self._data_channels()
        if not stored and channels is not None:
            settings = settings.with_data_defaults(channels, PHOTO_RECIPE)
        # A project's saved settings suit its data; new ones are the digits' until data comes.
        made_for = channels if channels is not None else None if stored else 1
        self._settings_made_for = (self.project, made_for)
        self.set_settings(settings)
        self._fit_settings_to_data()

    def _data_channels(self) -> int | None:
        dataset = getattr(self.project, "dataset", None)
        return None if dataset is None else int(dataset.input_shape[0])

    def _fit_settings_to_data(self) -> None:
        """Follow the kind of the data: the form disables what does not apply to it, and
        data of another kind (digits <-> photos) gets that kind's default augmentation."""
        project = self.project
        channels = self._data_channels()
        if channels is None:
            return
        self.augmentation_form.set_context(channels=channels)
        made_for_project, made_for = self._settings_made_for
        if made_for_project is not project:
            return  # this project's settings are not shown yet: _load_settings comes
        if made_for is not None and made_for != channels:
            self.set_settings(self.settings().with_data_defaults(channels, PHOTO_RECIPE))
        self._settings_made_for = (project, channels)

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

    def _store_settings(self) -> None:
        if self._loading:
            return
        project = self.project
        if project is not None:
            data = self.settings().to_dict()
            if data != getattr(project, "train_settings", None):
                project.set_train_settings(data)

    def _on_setting_changed(self, name: str, value: Any) -> None:
        if name == "lr" and self.session.is_active:
            self.session.set_lr(value)
            self.controls.show_status(f"Learning rate set to {value:g} from the next step.")
        if self.augmentation_form.specs.get(name) is not None:
            self._refresh_preview()
        self._store_settings()

    # -- data ----------------------------------------------------------------------------
    def attach_project(self) -> None:
        """Follow ``context.project`` (call again after the main window replaced it)."""
        self._ensure_dataset()
        self._load_settings()
        self._show_runs()
        self.refresh_graph_state()

    def _ensure_dataset(self) -> None:
        self._watch_project()
        if self.project is not None:
            self.data.show_dataset()

    def _on_dataset_shown(self, summary: str) -> None:
        self._fit_settings_to_data()
        self._refresh_preview()
        self._update_enabled()
        self.dataset_loaded.emit(summary)

    def training_data(self) -> tuple[Any, Any]:
        """(training set, validation set or None) for the current settings."""
        return self.data.training_data(self.settings().seed)

    def _refresh_preview(self, *_args: Any) -> None:
        project = self.project
        if project is None or project.dataset is None:
            self.preview_label.clear()
            return
        try:
            images = project.dataset.train.images
            aug = self.settings().augmentation_object(images.shape[1])
            # Images spread over the dataset (sources are often sorted by class).
            picks = images[np.linspace(0, len(images) - 1, 3).astype(int)]
            # As many columns as fit ~300 pixels at twice the size (5 digits, 4 photos).
            cols = max(2, min(5, 151 // (images.shape[-1] + 1)))
            grid = preview_grid(picks, aug, seed=0, rows=3, cols=cols)
        except DatasetError as exc:
            self.preview_label.setText(str(exc))
            return
        scale = 2 if grid.shape[1] <= 150 else 1
        self.preview_label.setPixmap(_image_pixmap(grid, scale))

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
            data_shape = tuple(project.dataset.input_shape)
            if input_shape is not None and tuple(input_shape) != data_shape:
                return None, input_mismatch(tuple(input_shape), data_shape)
        return arch, None

    # -- control -------------------------------------------------------------------------
    def _prepare_job(self) -> TrainingJob | None:
        arch, problem = self._graph_problem()
        if problem is not None or arch is None:
            self.controls.show_message(problem or "The network is not valid.", error=True)
            return None
        if self.project.dataset is None:
            self.controls.show_message("Choose a dataset first.", error=True)
            return None
        settings = self.settings()
        try:
            train, val = self.training_data()
            transform, val_transform, norm = transforms_for(settings, train.images)
            return make_job(
                self.project.graph,
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
            self.controls.show_message(str(exc), error=True)
            return None
        except MemoryError:
            self.controls.show_message(NO_MEMORY_TO_START, error=True)
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
            self.controls.show_message(str(exc), error=True)
            return False
        except MemoryError:
            self.controls.show_message(NO_MEMORY_TO_START, error=True)
            return False
        return True

    def toggle_pause(self) -> None:
        if self.session.state == "running":
            self.session.pause()
            self.controls.pause_button.setEnabled(False)  # until the worker confirms
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
        if state == "paused":
            self.controls.show_progress(self.session.latest, self.session.history, paused=True)
        self._update_enabled()

    def _update_enabled(self, *_args: Any) -> None:
        state = self.session.state
        idle = state == "idle"
        _arch, problem = self._graph_problem() if idle else (None, None)
        has_project = self.project is not None
        self.controls.show_state(
            state, problem if has_project else None, idle and problem is None and has_project
        )
        self.data.set_enabled(idle)
        self.optimizer_form.set_enabled(idle)
        self.augmentation_form.set_enabled(idle)

    def _on_progress(self, batch: SnapshotBatch) -> None:
        if batch.snapshots[0].step == 1:
            self.controls.message_label.hide()
        self._refresh_plots()

    def _refresh_plots(self) -> None:
        self.plots.set_current(self.session.history)
        paused = self.session.state == "paused"
        self.controls.show_progress(self.session.latest, self.session.history, paused)

    def _on_run_started(self, job: TrainingJob) -> None:
        self.plots.set_current(None)
        self._show_runs()
        n = len(job.train_data[1])
        steps = job.config.epochs * -(-n // job.config.batch_size)
        past = [run.steps[-1] for run in self._runs() if run.steps]
        self.plots.fix_ranges(max([steps, *past]), job.config.epochs)
        self.controls.message_label.hide()

    def _on_run_finished(self, result: TrainingResult) -> None:
        self._refresh_plots()
        error = result.outcome in ("diverged", "out of memory", "failed")
        self.controls.show_message(result.message, error=error)
        if self._context is not None and hasattr(self._context, "status_message"):
            self._context.status_message.emit(result.message)
        self._show_runs()

    # -- earlier runs ----------------------------------------------------------------------
    def _runs(self) -> list[RunHistory]:
        """The project's runs (this session's and those saved with the project)."""
        project = self.project
        return list(self.session.model.runs if project is None else project.history)

    def _show_runs(self) -> None:
        self.runs.show_runs(self._runs(), self.session.is_active)

    def showEvent(self, event: Any) -> None:
        if self._watched is not self.project:
            self.attach_project()
        super().showEvent(event)


def _specs(group: str) -> list[Any]:
    return [spec for spec in SETTING_SPECS if spec.group == group]


def input_mismatch(network: tuple[int, ...], data: tuple[int, ...]) -> str:
    """Why a network cannot train on the data (its input is another shape), and what to do.

    A preset loaded in the Build view takes the dataset's shape, so it is the quick way
    out; the presets drawn for images of this kind are named.
    """
    from cnnstudio.model.presets import list_presets

    def kind(shape: tuple[int, ...]) -> str:
        return {1: "grey", 3: "colour"}.get(shape[0], "") if len(shape) == 3 else ""

    def what(shape: tuple[int, ...]) -> str:
        return f"{format_shape(shape)} ({kind(shape)})" if kind(shape) else format_shape(shape)

    presets = list_presets()
    made_for = [p.name for p in presets if tuple(p.input_shape) == data]
    images = f"{format_shape(data)} images"
    if not made_for and kind(data):
        made_for = [p.name for p in presets if p.input_shape[:1] == data[:1]]
        images = f"{kind(data)} images"
    names = " and ".join(f'"{name}"' for name in made_for[:2])
    hint = f"; {names} {'is' if len(made_for[:2]) == 1 else 'are'} made for {images}"
    return (
        f"The network's input is {what(network)} but the dataset's images are {what(data)}. "
        f"In the Build view, set the Input block to {format_shape(data)}, or load a preset, "
        f"which takes the dataset's shape{hint if made_for else ''}."
    )


def _arch_input_shape(arch: dict) -> tuple[int, ...] | None:
    for node in arch.get("nodes", []):
        if node.get("type") == "Input":
            shape = (node.get("config") or {}).get("shape")
            if isinstance(shape, list | tuple):
                return tuple(int(v) for v in shape)
    return None
