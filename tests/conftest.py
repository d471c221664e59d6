"""Test-wide set-up: headless Qt, one BLAS thread, cycle collection between tests, and leak
checks for threads and windows."""

from __future__ import annotations

import gc
import os
import tempfile
import threading

import pytest

# Headless by default; a test that needs a real X server (Xvfb) is marked `xvfb`
# and run separately with QT_QPA_PLATFORM=xcb.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
# Two pytest workers share two cores: one BLAS thread each keeps them from thrashing.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# Never let tests read or write the user's real settings or recovery files.
os.environ.setdefault("CNNSTUDIO_CONFIG_DIR", tempfile.mkdtemp(prefix="cnnstudio-test-config-"))


# Python's cycle collector runs only between tests (see _collect_cycles),
# as the app runs it only from its event loop (cnnstudio.ui.app.collect_garbage_in_event_loop):
# run mid-test, it once freed a previous test's widgets inside a Qt signal disconnect and
# deadlocked the worker on Qt's lock.
gc.disable()


_TESTS_RUN = [0]


def _collect_cycles() -> None:
    """The youngest generation after every test, the middle one every 10th test and all
    of them every 100th (as automatic collection would, but at a safe moment)."""
    _TESTS_RUN[0] += 1
    n = _TESTS_RUN[0]
    gc.collect(2 if n % 100 == 0 else 1 if n % 10 == 0 else 0)


def _qt_loaded() -> bool:
    import sys

    return "PySide6.QtWidgets" in sys.modules


@pytest.fixture(autouse=True)
def _no_leaked_threads_or_windows(request):
    """Fail a test that leaves a Python thread running or a top-level window open."""
    before = {t.ident for t in threading.enumerate()}
    yield
    if _qt_loaded():
        from PySide6.QtCore import QThreadPool
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance()
        if app is not None:
            # Give finished workers a moment to be reaped, without sleeping blindly.
            QThreadPool.globalInstance().waitForDone(5000)
            app.processEvents()
            leaked_windows = [
                w for w in QApplication.topLevelWidgets() if w.isVisible() and w.isWindow()
            ]
            for w in leaked_windows:  # close them so one failure does not cascade
                w.close()
                w.deleteLater()
            app.processEvents()
            if leaked_windows and not request.node.get_closest_marker("allow_open_windows"):
                names = ", ".join(type(w).__name__ for w in leaked_windows)
                pytest.fail(f"test left window(s) open: {names}", pytrace=False)
            active = QThreadPool.globalInstance().activeThreadCount()
            if active:
                pytest.fail(f"test left {active} Qt pool thread(s) running", pytrace=False)
    leaked = [
        t for t in threading.enumerate() if t.ident not in before and t.is_alive() and not t.daemon
    ]
    for t in leaked:
        t.join(timeout=5)
    still = [t.name for t in leaked if t.is_alive()]
    _collect_cycles()  # between tests: no Qt call is running now
    if still:
        pytest.fail(f"test left thread(s) running: {', '.join(still)}", pytrace=False)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``xvfb`` need a real X server: they run in `make test`'s second pass
    (under xvfb-run with QT_QPA_PLATFORM=xcb) and are deselected from the offscreen pass."""
    on_x = os.environ.get("QT_QPA_PLATFORM") == "xcb" and bool(os.environ.get("DISPLAY"))
    skip_x = pytest.mark.skip(reason="needs a real X display; run by `make test` under xvfb-run")
    for item in items:
        if "xvfb" in item.keywords and not on_x:
            item.add_marker(skip_x)
