"""Render the application icon into the sizes desktops and installers want.

    QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/make_icons.py

Reads ``resources/icons/cnnstudio.svg`` (the icon the running app uses) and writes,
into ``packaging/icons/``: a copy of the SVG, ``cnnstudio-<N>.png`` for N in
:data:`SIZES`, and ``cnnstudio.ico`` (Windows, built from the PNGs with Pillow).
Re-run it after changing the SVG and commit the results.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PIL import Image
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "resources" / "icons" / "cnnstudio.svg"
OUT = ROOT / "packaging" / "icons"
#: The hicolor theme sizes Linux desktops look up, plus 512 for app stores and macOS.
SIZES = (16, 32, 48, 64, 128, 256, 512)
#: Sizes packed into the Windows .ico.
ICO_SIZES = (16, 32, 48, 64, 128, 256)


def render(renderer: QSvgRenderer, size: int) -> QImage:
    """The SVG drawn on a transparent ``size`` x ``size`` image, antialiased."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return image


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # fonts for <text>
    renderer = QSvgRenderer(str(SOURCE))
    if not renderer.isValid():
        print(f"make_icons: {SOURCE} is not a valid SVG", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SOURCE, OUT / "cnnstudio.svg")
    for size in SIZES:
        path = OUT / f"cnnstudio-{size}.png"
        if not render(renderer, size).save(str(path), "PNG"):
            print(f"make_icons: could not write {path}", file=sys.stderr)
            return 1
        print(f"wrote {path.relative_to(ROOT)}")
    largest = Image.open(OUT / f"cnnstudio-{max(ICO_SIZES)}.png")
    frames = [Image.open(OUT / f"cnnstudio-{s}.png") for s in ICO_SIZES]
    largest.save(OUT / "cnnstudio.ico", sizes=[(s, s) for s in ICO_SIZES], append_images=frames)
    print(f"wrote {(OUT / 'cnnstudio.ico').relative_to(ROOT)}")
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
