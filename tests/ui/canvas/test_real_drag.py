"""A real drag and drop from the palette to the canvas, on an X server (Xvfb), driven by xdotool."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from PySide6.QtCore import QPoint, QPointF

from cnnstudio.model.graph import Link

pytestmark = [pytest.mark.xvfb, pytest.mark.timeout(60)]


def _xdotool_drag(start: QPoint, end: QPoint) -> subprocess.Popen:
    """Press on ``start``, move in steps past the drag threshold to ``end``, release."""
    steps = []
    for i in range(1, 9):
        x = start.x() + (end.x() - start.x()) * i // 8
        y = start.y() + (end.y() - start.y()) * i // 8
        steps += ["mousemove", str(x), str(y), "sleep", "0.05"]
    args = [
        "xdotool",
        "mousemove", str(start.x()), str(start.y()),
        "sleep", "0.2",
        "mousedown", "1",
        "sleep", "0.1",
        "mousemove", str(start.x() + 6), str(start.y() + 6),
        "sleep", "0.1",
        *steps,
        "sleep", "0.2",
        "mouseup", "1",
    ]  # fmt: skip
    return subprocess.Popen(args)


def _palette_point(build, block_type: str) -> QPoint:
    palette = build.block_palette
    rect = palette.entry_rect(block_type)
    return palette.tree.viewport().mapToGlobal(QPoint(rect.left() + 40, rect.center().y()))


def _canvas_point(build, scene_pos: QPointF) -> QPoint:
    canvas = build.canvas
    return canvas.viewport().mapToGlobal(canvas.mapFromScene(scene_pos))


def _drag(qtbot, build, block_type: str, scene_pos: QPointF) -> None:
    count = len(build.graph.blocks)
    proc = _xdotool_drag(_palette_point(build, block_type), _canvas_point(build, scene_pos))
    try:
        qtbot.waitUntil(lambda: len(build.graph.blocks) == count + 1, timeout=15000)
    finally:
        proc.wait(timeout=15)
    assert proc.returncode == 0


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_dragging_palette_blocks_onto_the_canvas_with_the_mouse(build_window, qtbot):
    _window, build = build_window
    canvas = build.canvas
    centre = canvas.mapToScene(canvas.viewport().rect().center())
    _drag(qtbot, build, "Input", centre - QPointF(0, 150))
    (input_id,) = build.graph.blocks
    x, y = build.graph.block(input_id).position
    _drag(qtbot, build, "Conv2D", QPointF(x + 10, y + 120))
    assert build.graph.links == (Link(input_id, "conv1"),)
    assert build.scene.block_item("conv1").shape_text == "8@26x26"
    # And onto the wire between them: inserted.
    wire = build.scene.link_item(Link(input_id, "conv1"))
    _drag(qtbot, build, "BatchNorm", wire.path().pointAtPercent(0.5))
    assert set(build.graph.links) == {Link(input_id, "bn1"), Link("bn1", "conv1")}
