"""Start the desktop app: QApplication set-up, the main window, screenshot mode."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

from PySide6.QtCore import (
    QEventLoop,
    QMessageLogContext,
    Qt,
    QTimer,
    QtMsgType,
    qInstallMessageHandler,
)
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from cnnstudio import __version__
from cnnstudio.resources import resource_path
from cnnstudio.ui.settings import APPLICATION, ORGANIZATION

__all__ = ["app_icon", "collect_garbage_in_event_loop", "ensure_app", "run_gui"]


def app_icon() -> QIcon:
    return QIcon(str(resource_path("icons", "cnnstudio.svg")))


def _quiet_qt_messages(mode: QtMsgType, context: QMessageLogContext, message: str) -> None:
    # The offscreen platform warns about window hints it ignores; that is noise to a
    # user rendering a screenshot. Everything else goes to stderr as Qt would print it.
    if "propagateSizeHints" in message:
        return
    print(message, file=sys.stderr)


_GARBAGE_COLLECTOR = None


def collect_garbage_in_event_loop() -> None:
    """Run Python's cycle collector only from the GUI thread's event loop, never in the
    middle of a Qt call or on the training thread (pyqtgraph's ``GarbageCollector``: a
    1 s timer that collects each generation past its usual threshold).

    Left to itself the collector runs whenever allocations pass a threshold, wherever
    that happens. Once it ran inside a signal ``disconnect`` (pyqtgraph re-parenting a
    plot item) and freed a forgotten widget tree there: the widget's destructor waited
    for the lock Qt held for the ``disconnect``, and the process hung for good. Qt objects
    freed from another thread can crash it the same way. Call after the QApplication
    exists; calling again does nothing.
    """
    global _GARBAGE_COLLECTOR
    if _GARBAGE_COLLECTOR is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _GARBAGE_COLLECTOR = GarbageCollector(interval=1.0)


def ensure_app(argv: list[str] | None = None) -> QApplication:
    """Return the running QApplication, creating and configuring it if needed."""
    app = QApplication.instance()
    if app is None:
        qInstallMessageHandler(_quiet_qt_messages)
        QApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
        )
        app = QApplication(argv if argv is not None else [sys.argv[0]])
    assert isinstance(app, QApplication)
    collect_garbage_in_event_loop()
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(APPLICATION)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("cnnstudio")
    app.setWindowIcon(app_icon())
    return app


def run_gui(
    *,
    screenshot: Path | None = None,
    size: tuple[int, int] | None = None,
    view: str | None = None,
    open_path: Path | None = None,
) -> int:
    """Show the main window and run the event loop (or render one screenshot and exit).

    A screenshot run is unattended: it never waits for an answer to a dialog, and a
    file it cannot open is one line on stderr (exit code 1) instead of a message box
    nobody sees.
    """
    app = ensure_app()
    from cnnstudio.ui.main_window import MainWindow

    unattended = screenshot is not None
    window = MainWindow(restore_layout=not unattended, unattended=unattended)
    if size is not None:
        window.resize(*size)
    if view:
        window.show_view(view)
    window.show()
    opened = True
    if open_path is not None:
        opened = window.open_path(open_path)
    elif screenshot is None:
        window.files.offer_recovery()
    if screenshot is None:
        return app.exec()
    code = _save_screenshot(app, window, screenshot)
    if not opened:
        problem = " ".join(window.files.last_error.split())
        print(f"cnnstudio gui: {problem or f'cannot open {open_path}'}", file=sys.stderr)
        return 1
    return code


def _save_screenshot(app: QApplication, window, path: Path) -> int:
    # Let layouts settle and pending timers (first plot draws) run before grabbing.
    for _ in range(5):
        app.processEvents()
    loop = QEventLoop()
    QTimer.singleShot(300, loop.quit)
    loop.exec()
    ok = window.grab().save(str(path))
    window.close()
    app.processEvents()
    if not ok:
        print(f"cnnstudio: could not write the screenshot to {path}", file=sys.stderr)
        return 1
    return 0
