"""The Learn lab: convolution, channels, activation, pooling, flatten and softmax, step by step.

``QtLearnView`` is imported lazily so ``cnnstudio.ui.learn.lab_model`` (pure NumPy and
engine) can be used and tested without Qt.
"""

from __future__ import annotations

from typing import Any

__all__ = ["QtLearnView"]


def __getattr__(name: str) -> Any:
    if name == "QtLearnView":
        from cnnstudio.ui.learn.qt_learn_view import QtLearnView

        return QtLearnView
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
