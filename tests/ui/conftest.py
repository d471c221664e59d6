"""UI test set-up: no modal question may ever block a test."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox


@pytest.fixture(autouse=True)
def _never_block_on_questions(monkeypatch):
    """Windows closed by pytest-qt's teardown may hold unsaved changes; their "Save the
    changes?" question would block an offscreen test forever. Answer Discard (tests
    that check the question patch ``qt_file_controller.ask`` themselves)."""
    from cnnstudio.ui import qt_file_controller

    monkeypatch.setattr(
        qt_file_controller, "ask", lambda *args, **kwargs: QMessageBox.StandardButton.Discard
    )
