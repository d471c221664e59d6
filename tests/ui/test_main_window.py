"""The main window a user sees on start: title, views, menus, About, remembered layout."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from cnnstudio import __version__
from cnnstudio.ui.main_window import VIEWS, MainWindow


@pytest.fixture
def window(qtbot):
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()


def test_title_views_and_menus(window):
    assert window.windowTitle() == "CNN Studio"
    titles = [window.tabs.tabText(i).replace("&&", "&") for i in range(window.tabs.count())]
    assert titles == ["Build", "Train", "Inspect", "Draw & Predict", "Learn"]
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus == ["File", "Edit", "View", "Help"]
    assert not window.windowIcon().isNull()


def test_view_shortcuts_switch_views(window, qtbot):
    for i, spec in enumerate(VIEWS, start=1):
        qtbot.keyClick(window, Qt.Key(Qt.Key.Key_0 + i), Qt.KeyboardModifier.ControlModifier)
        assert window.current_view_key() == spec.key


def test_unknown_view_is_a_clear_error(window):
    with pytest.raises(ValueError, match="unknown view 'bogus'"):
        window.show_view("bogus")


def test_about_box_shows_version_licence_and_mnist_attribution(window, qtbot):
    box = window.show_about()
    qtbot.addWidget(box)
    text = box.text()
    assert __version__ in text
    assert "MIT" in text
    assert "MNIST" in text and "CC BY-SA 3.0" in text
    box.close()


def test_layout_is_remembered_between_runs(qtbot):
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    first.resize(760, 560)  # inside the offscreen screen (800x600)
    first.inspector_dock.hide()
    first.show_view("train")
    size = (first.width(), first.height())
    first.close()  # saves geometry, dock state and the current view

    second = MainWindow()
    qtbot.addWidget(second)
    second.show()
    assert second.current_view_key() == "train"
    assert not second.inspector_dock.isVisible()
    assert (second.width(), second.height()) == size
    second.reset_layout()
    assert second.inspector_dock.isVisible()
    second.close()
