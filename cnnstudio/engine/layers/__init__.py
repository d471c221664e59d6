"""Engine layers. Importing this package registers every layer type in ``LAYER_TYPES``.

Each layer type lives in one module here and describes itself there: its shapes and
weights (``output_shape``, ``weight_shapes``, ``parameter_count_for``), its fast
``fwd``/``bwd``, its ``config``, its words on the canvas (``summary``), its ONNX operator
(``onnx_op``: one operator, or a short chain such as global pooling then Flatten) and
what the exported NumPy predictor needs (``predictor_config``, ``export_weights``). See
``base.Layer``.

Adding a layer type touches four files (and its tests):

1. ``engine/layers/<family>.py``: the class, decorated with ``@register_layer``, with
   everything above (and its name in this package's imports, for ``from ... import``);
2. ``engine/reference/<family>.py``: its readable NCHW twin, the oracle its tests
   compare the fast layer with (and its entry in ``REFERENCE_TYPES``);
3. ``model/registry.py``: its block for the palette (parameters, limits, help text),
   plus an icon in ``resources/icons/blocks``;
4. ``io/templates/predict.py``: its NumPy function in the exported predictor.

Shape checks, compiling, files, ONNX export and the canvas then handle it as they
handle every other type. The tests that check every type need it too: a case in
``CASES`` of tests/engine/test_reference.py (gradient checks, fast == reference) and
of tests/engine/test_layer_descriptions.py, and a node in an architecture of
tests/io/archs.py (onnxruntime and predict.py run each). ``cnnstudio.engine`` re-exports
the classes for ``from cnnstudio.engine import ...``.
"""

from cnnstudio.engine.layers.activations import LeakyReLU, PReLU, ReLU, Sigmoid, Softmax, Tanh
from cnnstudio.engine.layers.base import (
    LAYER_TYPES,
    Layer,
    OnnxOp,
    Shape,
    format_shape,
    layer_from_config,
    register_layer,
)
from cnnstudio.engine.layers.conv import Conv2D
from cnnstudio.engine.layers.core import Dense, Flatten, Input
from cnnstudio.engine.layers.merge import Add, Concatenate
from cnnstudio.engine.layers.normalization import BatchNorm, Dropout
from cnnstudio.engine.layers.pooling import AvgPool2D, GlobalAvgPool2D, GlobalMaxPool2D, MaxPool2D

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
    "GlobalAvgPool2D",
    "GlobalMaxPool2D",
    "Input",
    "Layer",
    "LeakyReLU",
    "MaxPool2D",
    "OnnxOp",
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
