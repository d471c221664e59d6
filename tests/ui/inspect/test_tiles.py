"""The tile canvas under live refreshes: same layout, new values, clicks still land right."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QScrollArea

from cnnstudio.ui.inspect.tiles import QtTileCanvas, TileGroup


def maps(bright: int, n: int = 40, labelled: int = 3) -> list[TileGroup]:
    """A wrapping group of ``n`` 8x8 maps, all black but map ``bright``, and a labelled one."""
    tiles = np.zeros((n, 8, 8), np.float32)
    tiles[bright] = 1.0
    probs = np.zeros((labelled, 1, 1), np.float32)
    probs[bright % labelled] = 1.0
    names = [f"class {i}: {100 if i == bright % labelled else 0}%" for i in range(labelled)]
    return [
        TileGroup("conv", f"conv · {n} maps", tiles),
        TileGroup("out", "out · class probabilities", probs, tile_labels=names),
    ]


def shown_grey(image: QImage, rect: QRect) -> float:
    """Mean brightness inside ``rect`` of ``image`` (its 1-pixel frame left out)."""
    inner = image.copy(rect.adjusted(2, 2, -2, -2)).convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(inner.constBits(), np.uint8).reshape(inner.height(), -1)
    return float(rows[:, : 3 * inner.width()].mean())


@pytest.fixture
def canvas(qtbot):
    canvas = QtTileCanvas(tile_size=40)
    qtbot.addWidget(canvas)
    canvas.resize(600, 400)
    canvas.set_groups(maps(bright=5))
    canvas.show()
    qtbot.waitExposed(canvas)
    return canvas


def test_a_refresh_with_the_same_shapes_keeps_the_layout_and_shows_the_new_values(canvas):
    before = {i: canvas.tile_rect("conv", i) for i in range(40)}
    layouts = canvas.layouts
    assert shown_grey(canvas.grab().toImage(), before[5]) > 250  # map 5 is the bright one
    canvas.set_groups(maps(bright=17))  # a live refresh: new values, same shapes
    assert canvas.layouts == layouts  # not laid out again ...
    assert {i: canvas.tile_rect("conv", i) for i in range(40)} == before  # ... nothing moved
    shown = canvas.grab().toImage()
    assert shown_grey(shown, before[17]) > 250 and shown_grey(shown, before[5]) < 5
    out = canvas.tile_rect("out", 17 % 3)
    assert "class 2: 100%" in canvas.tooltip_at(out.center())
    # a new width or new shapes do lay the tiles out again
    canvas.resize(300, 400)
    assert canvas.layouts == layouts + 1
    assert canvas.tile_rect("conv", 17) != before[17]
    canvas.set_groups(maps(bright=0, n=41))
    assert canvas.layouts == layouts + 2 and canvas.tile_rect("conv", 40) is not None


def test_clicking_a_tile_after_a_refresh_picks_that_map(canvas, qtbot):
    canvas.set_groups(maps(bright=9))
    rect = canvas.tile_rect("conv", 23)
    assert rect is not None and rect.y() > canvas.tile_rect("conv", 0).y()  # a wrapped row
    with qtbot.waitSignal(canvas.tile_clicked) as clicked:
        qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=rect.center())
    assert clicked.args == ["conv", 23]
    # the orange frame is drawn around that tile
    frame = canvas.grab().toImage().pixelColor(rect.left() - 1, rect.center().y())
    assert frame.red() > 200 and frame.green() < 120 and frame.blue() < 60
    canvas.set_groups(maps(bright=23))  # the next refresh keeps the frame on it
    frame = canvas.grab().toImage().pixelColor(rect.left() - 1, rect.center().y())
    assert frame.red() > 200 and frame.green() < 120


def test_scrolling_shows_every_group_and_keeps_only_those_on_screen(qtbot):
    canvas = QtTileCanvas(tile_size=40)
    scroll = QScrollArea()
    qtbot.addWidget(scroll)
    scroll.setWidget(canvas)
    scroll.setWidgetResizable(True)
    scroll.resize(500, 200)
    groups = []
    for k in range(30):
        tiles = np.zeros((6, 8, 8), np.float32)
        tiles[k % 6] = 1.0
        groups.append(TileGroup(f"layer{k}", f"layer{k}", tiles))
    canvas.set_groups(groups)
    scroll.show()
    qtbot.waitExposed(scroll)
    bar = scroll.verticalScrollBar()
    for value in range(0, bar.maximum() + 1, 50):  # as a user scrolls
        bar.setValue(value)
        qtbot.wait(1)
    bar.setValue(bar.maximum())
    qtbot.wait(1)
    screen = scroll.viewport().grab().toImage()
    last = canvas.tile_rect("layer29", 29 % 6)
    other = canvas.tile_rect("layer29", 0)
    on_screen = QRect(canvas.mapTo(scroll.viewport(), last.topLeft()), last.size())
    dark = QRect(canvas.mapTo(scroll.viewport(), other.topLeft()), other.size())
    assert scroll.viewport().rect().contains(on_screen)
    assert shown_grey(screen, on_screen) > 250 and shown_grey(screen, dark) < 5
    # memory stays bounded: the drawn groups kept are the few on screen, not all 30
    visible = canvas.visibleRegion().boundingRect()
    assert 0 < len(canvas._drawn) <= sum(a.intersects(visible) for a in canvas._areas) + 1 < 10
    assert canvas.tile_at(canvas.mapFrom(scroll.viewport(), on_screen.center())) == (
        "layer29",
        5,
    )
    assert canvas.tile_at(QPoint(1, 1)) is None
