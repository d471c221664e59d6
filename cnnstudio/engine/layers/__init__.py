"""Engine layers. Importing this package registers every layer type in ``LAYER_TYPES``."""

from cnnstudio.engine.layers.activations import LeakyReLU, PReLU, ReLU, Sigmoid, Softmax, Tanh
from cnnstudio.engine.layers.base import (
    LAYER_TYPES,
    Layer,
    Shape,
    format_shape,
    layer_from_config,
    register_layer,
)
from cnnstudio.engine.layers.conv import Conv2D
from cnnstudio.engine.layers.core import Dense, Flatten, Input
from cnnstudio.engine.layers.merge import Add, Concatenate
from cnnstudio.engine.layers.normalization import BatchNorm, Dropout
from cnnstudio.engine.layers.pooling import AvgPool2D, MaxPool2D

__all__ = [
    "LAYER_TYPES",
    "Add",
    "AvgPool2D",
    "BatchNorm",
    "Concatenate",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "Input",
    "Layer",
    "LeakyReLU",
    "MaxPool2D",
    "PReLU",
    "ReLU",
    "Shape",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "format_shape",
    "layer_from_config",
    "register_layer",
]
