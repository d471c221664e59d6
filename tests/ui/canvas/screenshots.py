"""Build LeNet-5 with the mouse (xdotool) and save docs/screenshots/build-*.png.

Not a test: a walkthrough that drives the real window the way a user would, times it,
and takes the screenshots the README shows. Needs an X server and xdotool::

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1280x1024x24" \\
        .venv/bin/python -m tests.ui.canvas.screenshots docs/screenshots
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDockWidget, QMainWindow

from cnnstudio.model.graph import Link
from cnnstudio.model.project import Project
from cnnstudio.ui.app import ensure_app
from cnnstudio.ui.canvas.qt_build_view import QtBuildView
from cnnstudio.ui.context import AppContext
from tests.ui.canvas.test_build_view import LENET_ORDER

# The LeNet-5 blocks in drop order, as the canvas tests build them.
LENET = LENET_ORDER
#: Parameters typed into the inspector right after a block is dropped (by position in LENET).
SETTINGS = {
    1: {"filters": "6", "kernel_size": "5", "padding": "2"},
    4: {"filters": "16", "kernel_size": "5"},
    8: {"units": "120"},
    10: {"units": "84"},
    12: {"units": "10"},
}


class Walkthrough:
    def __init__(self, out: Path) -> None:
        self.app = ensure_app()
        self.out = out
        self.window = QMainWindow()
        context = AppContext(self.window)
        context.project = Project()
        self.view = QtBuildView(context, self.window)
        self.window.setCentralWidget(self.view)
        for name, area, title in (
            ("palette", Qt.DockWidgetArea.LeftDockWidgetArea, "Blocks"),
            ("inspector", Qt.DockWidgetArea.RightDockWidgetArea, "Properties"),
        ):
            dock = QDockWidget(title, self.window)
            dock.setWidget(self.view.dock_widgets()[name])
            self.window.addDockWidget(area, dock)
        self.window.setWindowTitle("CNN Studio — Build")
        self.window.resize(1280, 800)
        self.window.move(0, 0)
        self.window.show()

    # -- driving ---------------------------------------------------------------------------
    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.app.processEvents()
            time.sleep(0.005)

    def wait(self, condition, timeout: float = 15.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.app.processEvents()
            if condition():
                return
            time.sleep(0.005)
        raise RuntimeError("timed out waiting for the window")

    def xdotool(self, *args: object) -> subprocess.Popen:
        return subprocess.Popen(["xdotool", *map(str, args)])

    def run(self, *args: object) -> None:
        proc = self.xdotool(*args)
        while proc.poll() is None:
            self.app.processEvents()
            time.sleep(0.005)

    def shot(self, name: str) -> None:
        self.pump(0.3)
        screen = QGuiApplication.primaryScreen()
        screen.grabWindow(0).copy(self.window.frameGeometry()).save(str(self.out / name))

    def palette_point(self, block_type: str) -> QPoint:
        palette = self.view.block_palette
        rect = palette.entry_rect(block_type)
        return palette.tree.viewport().mapToGlobal(QPoint(rect.left() + 40, rect.center().y()))

    def canvas_point(self, scene_pos: QPointF) -> QPoint:
        canvas = self.view.canvas
        return canvas.viewport().mapToGlobal(canvas.mapFromScene(scene_pos))

    def drag_args(self, start: QPoint, end: QPoint, hold: float = 0.1) -> list[object]:
        args: list[object] = ["mousemove", start.x(), start.y(), "mousedown", 1]
        args += ["mousemove", start.x() + 8, start.y() + 8, "sleep", 0.05]
        for i in range(1, 6):
            x = start.x() + (end.x() - start.x()) * i // 5
            y = start.y() + (end.y() - start.y()) * i // 5
            args += ["mousemove", x, y, "sleep", 0.04]
        return [*args, "sleep", hold, "mouseup", 1]

    def drag(self, block_type: str, scene_pos: QPointF) -> str:
        before = set(self.view.graph.blocks)
        self.run(*self.drag_args(self.palette_point(block_type), self.canvas_point(scene_pos)))
        self.wait(lambda: len(self.view.graph.blocks) == len(before) + 1)
        (new,) = set(self.view.graph.blocks) - before
        return new

    def type_into(self, widget, text: str) -> None:
        c = widget.mapToGlobal(QPoint(widget.width() // 3, widget.height() // 2))
        self.run("mousemove", c.x(), c.y(), "click", "--repeat", 3, 1, "key", "ctrl+a")
        self.run("type", text)
        self.run("key", "Return")

    # -- the walkthrough -------------------------------------------------------------------
    def build_lenet(self) -> float:
        view = self.view
        start = time.monotonic()
        ids: list[str] = []
        for i, block_type in enumerate(LENET):
            if not ids:
                canvas = view.canvas
                target = canvas.mapToScene(canvas.viewport().rect().center()) - QPointF(0, 250)
            else:
                view.canvas.ensureVisible(view.scene.block_item(ids[-1]), 40, 160)
                self.pump(0.05)
                x, y = view.graph.block(ids[-1]).position
                target = QPointF(x, y + 110)
            ids.append(self.drag(block_type, target))
            for name, value in SETTINGS.get(i, {}).items():
                self.wait(lambda new=ids[-1]: view.inspector.block_id == new)
                editor = view.inspector.editor(name)
                self.type_into(getattr(editor, "h", editor), value)
        return time.monotonic() - start

    def main(self) -> int:
        view = self.view
        self.pump(0.5)
        self.shot("build-empty.png")
        seconds = self.build_lenet()
        net = view.graph.inference
        print(f"LeNet-5 built with the mouse in {seconds:.1f} s: {net.total_params:,} parameters")
        print("valid:", net.is_valid, net.reason or "")
        first_conv = next(b.id for b in view.graph.blocks.values() if b.type == "Conv2D")
        view.scene.select_blocks([first_conv])
        view.canvas.fit(max_zoom=1.0, min_zoom=1.0)
        self.shot("build-lenet5.png")
        view.canvas.fit()
        self.shot("build-lenet5-fit.png")

        # A drag hovering a wire: the screen is grabbed by a timer while QDrag.exec runs.
        view.load_preset("lenet5")
        view.canvas.reset_zoom()
        relu, pool = (
            next(b for b in view.graph.blocks if b.startswith(p)) for p in ("relu", "maxpool")
        )
        middle = view.scene.link_item(Link(relu, pool)).path().pointAtPercent(0.5)
        view.canvas.centerOn(middle)
        self.pump(0.2)
        args = self.drag_args(self.palette_point("Dropout"), self.canvas_point(middle), hold=1.5)
        count = len(view.graph.blocks)
        QTimer.singleShot(1500, lambda: self.shot_now("build-drop-on-wire.png"))
        proc = self.xdotool(*args)
        self.wait(lambda: proc.poll() is not None and len(view.graph.blocks) == count + 1)

        # An impossible setting, flagged on the block that causes it.
        view.load_preset("lenet5")
        blocks = view.graph.blocks.values()
        convs = [b.id for b in blocks if b.type == "Conv2D"]
        pools = [b.id for b in blocks if b.type == "MaxPool2D"]
        view.set_param(pools[0], "pool_size", (4, 4))
        view.set_param(convs[1], "kernel_size", (9, 9))
        view.scene.select_blocks([convs[1]])
        view.canvas.reset_zoom()
        view.canvas.centerOn(view.scene.block_item(convs[1]))
        self.shot("build-error.png")

        # Branches: the mini-ResNet's first residual block.
        view.load_preset("resnet_mini")
        add = next(b.id for b in view.graph.blocks.values() if b.type == "Add")
        view.scene.select_blocks([add])
        view.canvas.reset_zoom()
        view.canvas.centerOn(view.scene.block_item(add).pos() + QPointF(0, -150))
        self.shot("build-resnet.png")
        self.window.close()
        return 0 if net.is_valid else 1

    def shot_now(self, name: str) -> None:
        screen = QGuiApplication.primaryScreen()
        screen.grabWindow(0).copy(self.window.frameGeometry()).save(str(self.out / name))


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")
    target.mkdir(parents=True, exist_ok=True)
    sys.exit(Walkthrough(target).main())
