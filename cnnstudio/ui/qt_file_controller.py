"""File menu behaviour: new, open, save, recent files, export, autosave and recovery.

Nothing the user made is lost: every replacement of the open project (New, Open,
quitting) first asks about unsaved changes; saving is atomic (``cnnstudio.io``); an
autosave goes to a recovery file every minute and after training, and the next start
offers it back when the last session did not end cleanly.

An unattended window (``context.unattended``: screenshot mode) asks nothing and
leaves the autosave and the recent files of the user's real sessions alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QStandardPaths, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from cnnstudio.ui.settings import app_settings, config_dir

__all__ = ["QtFileController", "data_dir"]

PROJECT_FILTER = "CNN Studio projects (*.cnnstudio)"
OPEN_FILTER = (
    "Everything CNN Studio opens (*.cnnstudio *.cnnmodel *.json);;"
    "CNN Studio projects (*.cnnstudio);;Trained models (*.cnnmodel);;Architectures (*.json)"
)
#: What a file whose contents are not recognised is opened as (its loader's error then
#: says what is wrong with it).
SUFFIX_KINDS = {".cnnstudio": "project", ".cnnmodel": "model", ".json": "architecture"}
MAX_RECENT = 8
AUTOSAVE_MS = 60_000

#: Replaced in tests: ``ask(parent, title, text, buttons, default) -> StandardButton``.
ask: Callable[..., QMessageBox.StandardButton] = QMessageBox.question


def data_dir() -> Path:
    """Where the recovery file lives: ``CNNSTUDIO_CONFIG_DIR``, else the app-data folder."""
    folder = config_dir()
    if folder is None:
        location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
        folder = Path(location or Path.home() / ".cnnstudio")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class QtFileController(QObject):
    """Owns the File menu's actions for one main window and its project."""

    def __init__(self, window: Any, context: Any, menu: QMenu) -> None:
        super().__init__(window)
        self.window = window
        self.context = context
        self.project = context.project
        self._export_dir = ""
        self.error_box: QMessageBox | None = None
        self.last_error = ""
        #: The last one-line note given in the status bar about the autosave.
        self.last_note = ""
        self._make_actions(menu)
        self.project.events.dirty_changed.connect(self._update_title)
        self.project.events.path_changed.connect(self._update_title)
        self.project.events.trained_changed.connect(self._autosave_soon)
        self._update_title()

        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()
        self._autosave_error_shown = False
        self._sweep_recovery()

    def _sweep_recovery(self) -> None:
        # Autosaves killed midway leave temporaries in the recovery folder; a start
        # removes those whose writer is gone.
        from cnnstudio.io.recovery import sweep_recovery

        try:
            sweep_recovery(data_dir())
        except OSError:  # no config folder: nothing to sweep, nothing to stop for
            pass

    # -- actions -------------------------------------------------------------------
    def _action(self, text: str, slot: Callable[[], object], shortcut: Any = None) -> QAction:
        action = QAction(text, self.window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _make_actions(self, menu: QMenu) -> None:
        self.new_action = self._action(
            "&New project", self.new_project, QKeySequence.StandardKey.New
        )
        self.open_action = self._action("&Open…", self.ask_open, QKeySequence.StandardKey.Open)
        self.save_action = self._action("&Save", self.save, QKeySequence.StandardKey.Save)
        self.save_as_action = self._action(
            "Save &As…", self.save_as, QKeySequence.StandardKey.SaveAs
        )
        self.recent_menu = QMenu("Open &Recent", self.window)
        self.export_menu = QMenu("&Export trained model", self.window)
        self.export_actions = {
            "cnnmodel": self._action(
                "CNN Studio model (.cnnmodel)…", lambda: self.export("cnnmodel")
            ),
            "onnx": self._action("ONNX (.onnx)…", lambda: self.export("onnx")),
            "numpy": self._action(
                "Standalone NumPy predictor (folder)…", lambda: self.export("numpy")
            ),
        }
        for action in self.export_actions.values():
            self.export_menu.addAction(action)
        self.export_arch_action = self._action(
            "Export &architecture (JSON)…", self.export_architecture
        )
        for item in (
            self.new_action,
            self.open_action,
            self.recent_menu,
            None,
            self.save_action,
            self.save_as_action,
            None,
            self.export_menu,
            self.export_arch_action,
            None,
        ):
            if item is None:
                menu.addSeparator()
            elif isinstance(item, QMenu):
                menu.addMenu(item)
            else:
                menu.addAction(item)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.export_menu.aboutToShow.connect(self._update_export_actions)
        self._update_export_actions()

    def _update_export_actions(self) -> None:
        trained = self.project.trained is not None
        for action in self.export_actions.values():
            action.setEnabled(trained)
        self.export_menu.setToolTip("" if trained else "Train or open a model first")

    def _update_title(self, *_args: Any) -> None:
        self.window.setWindowTitle(f"{self.project.title}[*] — CNN Studio")
        self.window.setWindowModified(self.project.dirty)

    @property
    def unattended(self) -> bool:
        return bool(getattr(self.context, "unattended", False))

    # -- unsaved changes ----------------------------------------------------------------
    def maybe_save(self) -> bool:
        """Ask about unsaved changes; True when it is fine to replace or close the project.

        Unattended, nobody can answer: the changes are dropped (they came from the
        files the run opened, which stay as they are on disk).
        """
        if not self.project.dirty or self.unattended:
            return True
        answer = ask(
            self.window,
            "Unsaved changes",
            f"Save the changes to {self.project.title} first?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    # -- new / open ------------------------------------------------------------------
    def new_project(self) -> bool:
        if not self.maybe_save():
            return False
        from cnnstudio.io.project_file import ProjectData
        from cnnstudio.model.graph import Graph

        data = ProjectData(architecture=Graph().to_architecture())
        self.project.load_data(data, None)
        self.window.show_view("build")
        return True

    def ask_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open", self._last_dir(), OPEN_FILTER)
        if path:
            self.open_path(Path(path))

    def open_path(self, path: Path) -> bool:
        """Open a project, a trained model or an architecture; errors change nothing.

        What the file holds decides how it opens; when its contents are not recognised
        its name does, so that the loader says what is wrong with it (a damaged model,
        a folder, a FIFO) rather than a vague "not a CNN Studio file".
        """
        from cnnstudio.io.detect import file_kind
        from cnnstudio.io.errors import ModelFileError

        path = Path(path)
        kind: str = file_kind(path)
        if kind == "unknown":
            kind = SUFFIX_KINDS.get(path.suffix.lower(), kind)
        try:
            if kind == "project":
                from cnnstudio.io.project_file import load_project

                data = load_project(path)  # before asking: a damaged file asks nothing
                if not self.maybe_save():
                    return False
                self.project.load_data(data, path)
                self._add_recent(path)
                self.context.status_message.emit(f"Opened {path.name}")
                return True
            if kind == "model":
                from cnnstudio.io.model_file import load_model
                from cnnstudio.model.photo_input import is_photo_model

                bundle = load_model(path)
                self.project.set_trained(bundle)
                self._add_recent(path)
                # A photo model predicts photos (open, drop or paste one), not drawings.
                action = "open or paste a photo" if is_photo_model(bundle) else "draw"
                self.context.status_message.emit(
                    f"Opened the model {path.name}: {action} to predict, or inspect it"
                )
                self.window.show_view("predict")
                return True
            if kind == "architecture":
                from cnnstudio.model.files import load_architecture

                graph = load_architecture(path)
                self.project.set_graph(graph)
                self._add_recent(path)
                self.window.show_view("build")
                return True
        except (ModelFileError, ValueError) as exc:
            self._error("Cannot open the file", str(exc))
            return False
        from cnnstudio.fileio import check_regular

        try:
            check_regular(path)
            what = (
                "not a CNN Studio project (.cnnstudio), model (.cnnmodel) or architecture "
                "(.json), or the file is damaged."
            )
        except OSError as exc:  # UnsafeFileError: a folder, a FIFO, a device...
            reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
            what = f"{reason}; open a CNN Studio project, model or architecture file instead."
        self._error("Cannot open the file", f"{path}: {what}")
        return False

    # -- save ------------------------------------------------------------------------
    def save(self) -> bool:
        if self.project.path is None:
            return self.save_as()
        return self._save_to(self.project.path)

    def save_as(self) -> bool:
        start = str(self.project.path or Path(self._last_dir()) / f"{self.project.title}.cnnstudio")
        path, _ = QFileDialog.getSaveFileName(self.window, "Save project", start, PROJECT_FILTER)
        if not path:
            return False
        target = Path(path)
        if target.suffix != ".cnnstudio":
            target = target.with_suffix(".cnnstudio")
        return self._save_to(target)

    def _save_to(self, path: Path) -> bool:
        from cnnstudio.io.errors import ModelFileError
        from cnnstudio.io.project_file import save_project

        try:
            save_project(path, self.project.to_data())
        except (ModelFileError, OSError, ValueError) as exc:
            self._error("Cannot save the project", str(exc))
            return False
        self.project.set_path(path)
        self.project.mark_dirty(False)
        self.clean_exit()  # the saved file supersedes the autosave
        self._add_recent(path)
        self.context.status_message.emit(f"Saved {path.name}")
        return True

    # -- export ----------------------------------------------------------------------
    def export(self, fmt: str) -> bool:
        from cnnstudio.io.errors import ExportError, ModelFileError

        bundle = self.project.trained
        if bundle is None:
            self._error("Nothing to export", "Train a network or open a model first.")
            return False
        stem = self.project.title
        base = Path(self._export_dir or self._last_dir())
        if fmt == "numpy":
            folder = QFileDialog.getExistingDirectory(
                self.window, "Export a standalone NumPy predictor into…", str(base)
            )
            if not folder:
                return False
            target = Path(folder) / f"{stem}-predictor"
        else:
            suffix = {"cnnmodel": ".cnnmodel", "onnx": ".onnx"}[fmt]
            path, _ = QFileDialog.getSaveFileName(
                self.window,
                "Export trained model",
                str(base / f"{stem}{suffix}"),
                f"*{suffix}",
            )
            if not path:
                return False
            target = Path(path)
        try:
            if fmt == "cnnmodel":
                from cnnstudio.io.model_file import save_model

                written = save_model(target, bundle)
            elif fmt == "onnx":
                from cnnstudio.io.onnx_export import export_onnx

                written = export_onnx(bundle, target)
            else:
                from cnnstudio.io.numpy_export import export_numpy

                written = export_numpy(bundle, target)
        except (ExportError, ModelFileError, OSError, ValueError) as exc:
            self._error("Export failed", str(exc))
            return False
        self._export_dir = str(Path(written).parent)
        self.context.status_message.emit(f"Exported {written}")
        return True

    def export_architecture(self) -> bool:
        from cnnstudio.model.files import save_architecture

        start = str(Path(self._last_dir()) / f"{self.project.graph.name or 'architecture'}.json")
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Export the architecture", start, "Architecture (*.json)"
        )
        if not path:
            return False
        try:
            save_architecture(self.project.graph, path)
        except (OSError, ValueError) as exc:
            self._error("Export failed", str(exc))
            return False
        self.context.status_message.emit(f"Exported {Path(path).name}")
        return True

    # -- autosave and recovery -----------------------------------------------------------
    def _autosave_soon(self) -> None:
        QTimer.singleShot(0, self.autosave)

    def autosave(self) -> bool:
        """Write the recovery copy if there are unsaved changes (never asks anything)."""
        if not self.project.dirty or self.unattended:
            return False
        from cnnstudio.io.errors import ModelFileError
        from cnnstudio.io.recovery import write_recovery

        try:
            write_recovery(data_dir(), self.project.to_data(), source=self.project.path)
        except (ModelFileError, OSError, ValueError) as exc:
            if not self._autosave_error_shown:  # once per session, not every minute
                self._autosave_error_shown = True
                self.context.status_message.emit(f"Autosave failed: {exc}")
            return False
        return True

    def offer_recovery(self) -> bool:
        """At start: if the last session left an autosave, offer to restore it.

        A damaged autosave never stops the start: it is moved aside (not deleted), and
        a message box (not waited for) and the status bar say so.
        """
        from cnnstudio.io.errors import ModelFileError
        from cnnstudio.io.recovery import read_recovery, recovery_info, remove_recovery

        if self.unattended:
            return False
        try:
            info = recovery_info(data_dir())
        except (ModelFileError, OSError) as exc:
            self._set_aside_autosave(exc)
            return False
        if info is None:
            return False
        where = f" of {info.source.name}" if info.source else ""
        when = f" from {info.saved}" if info.saved else ""
        problem = f"\n\n{info.problem}" if info.problem else ""
        answer = ask(
            self.window,
            "Restore unsaved work?",
            "CNN Studio did not close cleanly last time. "
            f"Restore the autosaved copy{where}{when}?{problem}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes,
        )
        if answer != QMessageBox.StandardButton.Yes:
            remove_recovery(data_dir())
            return False
        try:
            # load_data checks the graph again and changes nothing when it raises.
            self.project.load_data(read_recovery(data_dir()), info.source)
        except (OSError, ValueError) as exc:  # ModelFileError, ArchitectureFileError...
            self._set_aside_autosave(exc)
            return False
        self.project.mark_dirty(True)  # restored work is not saved in its own file yet
        return True

    def _set_aside_autosave(self, exc: Exception) -> None:
        from cnnstudio.io.errors import ModelFileError
        from cnnstudio.io.recovery import set_aside_recovery

        if isinstance(exc, ModelFileError):
            what = exc.reason
        elif isinstance(exc, OSError):
            what = f"cannot be opened ({exc.strerror or exc})"
        else:
            what = f"cannot be restored ({exc})"
        moved = set_aside_recovery(data_dir())
        kept = f"; it was moved to {moved}" if moved is not None else ""
        self.last_note = f"The autosave could not be read: it {what}{kept}."
        self.context.status_message.emit(self.last_note)
        # The status bar forgets it in seconds, and this is the user's unsaved work of
        # the last session: say it where it stays until read.
        kept = f" It was moved to {moved} (not deleted)." if moved is not None else ""
        self._error(
            "Autosave could not be restored",
            "CNN Studio did not close cleanly last time, and the autosaved copy of your "
            f"work could not be read: it {what}.{kept}",
        )

    def clean_exit(self) -> None:
        from cnnstudio.io.errors import ModelFileError
        from cnnstudio.io.recovery import remove_recovery

        if self.unattended:  # the autosave is a crashed session's, offered at its next start
            return
        try:
            remove_recovery(data_dir())
        except (ModelFileError, OSError):  # never stop a quit; the next start offers it
            pass

    # -- helpers ---------------------------------------------------------------------
    def _error(self, title: str, text: str) -> None:
        if self.error_box is not None:  # one message at a time
            self.error_box.close()
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self.window
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _result: setattr(self, "error_box", None))
        box.open()  # not exec(): never block the event loop (or a test)
        self.error_box = box
        self.last_error = text

    def _parent(self) -> QWidget:
        return self.window

    def _last_dir(self) -> str:
        value = app_settings().value("files/last_dir")
        return value if isinstance(value, str) and os.path.isdir(value) else str(Path.home())

    def recent_files(self) -> list[str]:
        value = app_settings().value("files/recent")
        if isinstance(value, str):
            value = [value]
        return [v for v in (value or []) if isinstance(v, str)]

    def _add_recent(self, path: Path) -> None:
        if self.unattended:
            return
        settings = app_settings()
        entry = str(Path(path).resolve())
        recent = [entry] + [p for p in self.recent_files() if p != entry]
        settings.setValue("files/recent", recent[:MAX_RECENT])
        settings.setValue("files/last_dir", str(Path(entry).parent))
        settings.sync()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = [p for p in self.recent_files() if Path(p).exists()]
        if not recent:
            empty = self.recent_menu.addAction("(none yet)")
            empty.setEnabled(False)
            return
        for entry in recent:
            action = self.recent_menu.addAction(Path(entry).name)
            action.setToolTip(entry)
            action.triggered.connect(lambda _checked=False, p=entry: self.open_path(Path(p)))
