"""The Inspect view: feature maps, kernels, layer health, confusion matrix and gallery."""

from cnnstudio.ui.inspect.qt_inspect_view import QtInspectView

__all__ = ["QtInspectView"]
