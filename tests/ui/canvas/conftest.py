"""Fixtures for the Build view tests: a view over a fresh project, and drag-and-drop helpers."""

from __future__ import annotations

import pytest
import shiboken6
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from cnnstudio.model.project import Project
from cnnstudio.ui.canvas.qt_build_view import QtBuildView
from cnnstudio.ui.context import AppContext


@pytest.fixture(autouse=True)
def _empty_clipboard(qapp):
    """Leave the clipboard empty: offscreen Qt crashes at exit if it still holds data."""
    yield
    qapp.clipboard().clear()


@pytest.fixture
def view(qtbot):
    context = AppContext()
    context.project = Project()
    build = QtBuildView(context)
    qtbot.addWidget(build)
    qtbot.addWidget(build.block_palette)
    qtbot.addWidget(build.inspector)
    build.resize(1000, 760)
    build.show()
    qtbot.waitExposed(build)
    yield build
    if build.error_box is not None and shiboken6.isValid(build.error_box):
        build.error_box.close()


def drop(view: QtBuildView, block_type: str, scene_pos: QPointF) -> None:
    """Drag ``block_type`` from the palette and drop it at ``scene_pos``, as Qt would deliver it.

    Offscreen Qt ignores QDrag, so the canvas gets the enter/move/drop events directly,
    carrying the palette's own MIME data.
    """
    mime = view.block_palette.mime_data(block_type)
    viewport = view.canvas.viewport()
    point: QPoint = view.canvas.mapFromScene(scene_pos)
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    action = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(point, action, mime, buttons, mods)
    QApplication.sendEvent(viewport, enter)
    assert enter.isAccepted(), "the canvas refused the palette's drag"
    move = QDragMoveEvent(point, action, mime, buttons, mods)
    QApplication.sendEvent(viewport, move)
    assert move.isAccepted()
    event = QDropEvent(QPointF(point), action, mime, buttons, mods)
    QApplication.sendEvent(viewport, event)
    assert event.isAccepted()


def below(view: QtBuildView, block_id: str, rows: float = 1.0) -> QPointF:
    """A scene point ``rows`` rows below a block's centre."""
    x, y = view.graph.block(block_id).position
    return QPointF(x, y + 100.0 * rows)


@pytest.fixture
def build_window(qtbot):
    """The Build view with its palette and inspector docked, as the main window shows them."""
    from PySide6.QtWidgets import QDockWidget, QMainWindow

    window = QMainWindow()
    context = AppContext(window)
    context.project = Project()
    build = QtBuildView(context, window)
    window.setCentralWidget(build)
    for name, area, title in (
        ("palette", Qt.DockWidgetArea.LeftDockWidgetArea, "Blocks"),
        ("inspector", Qt.DockWidgetArea.RightDockWidgetArea, "Properties"),
    ):
        dock = QDockWidget(title, window)
        dock.setWidget(build.dock_widgets()[name])
        window.addDockWidget(area, dock)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.move(0, 0)
    window.show()
    qtbot.waitExposed(window)
    window.raise_()
    window.activateWindow()
    yield window, build
    window.close()
