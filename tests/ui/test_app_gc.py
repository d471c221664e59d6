"""Python's cycle collector runs only from the app's event loop (never inside a Qt call)."""

from __future__ import annotations

import gc
import weakref

from cnnstudio.ui import app as app_module


class _Node:
    pass


def test_garbage_cycles_are_collected_by_the_event_loop_not_mid_call(qtbot):
    app_module.ensure_app()
    assert not gc.isenabled()  # no automatic collection inside Qt calls or on worker threads
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a cycle: only the cycle collector frees it
    gone = weakref.ref(a)
    del a, b
    churn: list[list[int]] = []

    def collected() -> bool:
        # Allocate as a running app does, so the generations pass their thresholds.
        churn.extend([] for _ in range(1000))
        return gone() is None

    alive = gone() is not None  # (not in an assert: its rewriting would keep a reference)
    assert alive
    qtbot.waitUntil(collected, timeout=5000)  # the collector's 1 s timer freed the cycle
