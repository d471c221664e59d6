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
    assert window.windowTitle().endswith("— CNN Studio")
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


def test_layout_is_remembered_between_runs(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNSTUDIO_CONFIG_DIR", str(tmp_path))  # this test's own settings
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    first.show_view("build")
    first.resize(760, 560)
    first.inspector_dock.toggleViewAction().trigger()  # View > Properties off
    assert not first.inspector_dock.isVisible()
    first.show_view("train")
    size = (first.width(), first.height())
    first.close()  # saves geometry, dock state and the current view

    second = MainWindow()
    qtbot.addWidget(second)
    second.show()
    assert second.current_view_key() == "train"
    # Offscreen Qt clamps widths to its virtual screen, so compare what Qt can honour:
    # the saved geometry restores, and the height (well inside the screen) comes back.
    assert second.restore_layout()
    assert second.height() == size[1]
    second.show_view("build")
    assert second.palette_dock.isVisible()
    assert not second.inspector_dock.isVisible(), "the user's choice survives a restart"
    second.reset_layout()
    assert second.inspector_dock.isVisible()
    second.close()


def test_build_docks_only_on_build_and_the_window_fits_a_laptop(window):
    window.show_view("build")
    assert window.palette_dock.isVisible() and window.inspector_dock.isVisible()
    window.show_view("inspect")
    assert not window.palette_dock.isVisible()
    for key in ("build", "train", "inspect", "predict", "learn"):
        window.show_view(key)
        hint = window.minimumSizeHint()
        assert hint.width() <= 1280 and hint.height() <= 760, (key, hint)
