"""The Learn lab: convolution, channels, activation, pooling, flatten and softmax, step by step.

The lessons' numbers live in ``cnnstudio.model.learn`` (no Qt); the modules here only
show them. ``QtLearnView`` is imported lazily.
"""

from __future__ import annotations

from typing import Any

__all__ = ["QtLearnView"]


def __getattr__(name: str) -> Any:
    if name == "QtLearnView":
        from cnnstudio.ui.learn.qt_learn_view import QtLearnView

        return QtLearnView
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
