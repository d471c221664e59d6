"""Guard against PySide6 builds that leak references to None (6.12.0 on Python 3.11).

Such a build passes short GUI tests, then aborts the interpreter after a few thousand
Qt calls ("Fatal Python error: none_dealloc"). The pin in pyproject.toml keeps PySide6
below 6.12.
"""

from __future__ import annotations

import sys

import pytest


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12 on")
def test_qt_calls_leave_refcount_of_none_unchanged(qtbot):
    from PySide6.QtWidgets import QLabel

    label = QLabel()
    qtbot.addWidget(label)
    for i in range(50):  # warm up caches that may legitimately keep a reference
        label.setText(str(i))
    before = sys.getrefcount(None)
    for i in range(1000):
        label.setText(str(i))
    after = sys.getrefcount(None)
    # The broken build moves this by -1000; a sound one by (nearly) nothing.
    assert abs(after - before) < 50, f"refcount of None moved by {after - before}"


def test_text_renders_with_a_real_font(qtbot):
    """Without a font Qt draws every character as the same empty box, silently."""
    from PySide6.QtGui import QFontMetrics
    from PySide6.QtWidgets import QLabel

    label = QLabel("W")
    qtbot.addWidget(label)
    metrics = QFontMetrics(label.font())
    assert metrics.horizontalAdvance("W") > metrics.horizontalAdvance("i")
