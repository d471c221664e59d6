"""The NumPy engine: layers, kernels and the Network (no Qt, no files).

See ../shared/DESIGN.md ("Engine contract") and docs/file-formats.md.
"""

from cnnstudio.engine.errors import DivergenceError, EngineError, ShapeError
from cnnstudio.engine.layers import (
    LAYER_TYPES,
    Add,
    AvgPool2D,
    BatchNorm,
    Concatenate,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    Layer,
    LeakyReLU,
    MaxPool2D,
    PReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    format_shape,
    layer_from_config,
)
from cnnstudio.engine.network import Network

__all__ = [
    "LAYER_TYPES",
    "Add",
    "AvgPool2D",
    "BatchNorm",
    "Concatenate",
    "Conv2D",
    "Dense",
    "DivergenceError",
    "Dropout",
    "EngineError",
    "Flatten",
    "Input",
    "Layer",
    "LeakyReLU",
    "MaxPool2D",
    "Network",
    "PReLU",
    "ReLU",
    "ShapeError",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "format_shape",
    "layer_from_config",
]
