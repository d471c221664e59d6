"""The Build view: palette, canvas, inspector and undoable edits of the architecture graph.

``QtBuildView`` is imported lazily so the package can be imported without building widgets.
"""

from __future__ import annotations

from typing import Any

__all__ = ["QtBuildView"]


def __getattr__(name: str) -> Any:
    if name == "QtBuildView":
        from cnnstudio.ui.canvas.qt_build_view import QtBuildView

        return QtBuildView
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
