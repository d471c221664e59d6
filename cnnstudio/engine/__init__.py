"""The NumPy engine: layers, kernels, the Network, losses, optimizers, training (no Qt).

See docs/architecture.md ("The engine contract", "Two tiers") and docs/file-formats.md.
"""

from cnnstudio.engine.errors import DivergenceError, EngineError, ShapeError, TrainingMemoryError
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
    GlobalAvgPool2D,
    GlobalMaxPool2D,
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
from cnnstudio.engine.losses import sigmoid_binary_cross_entropy, softmax, softmax_cross_entropy
from cnnstudio.engine.metrics import (
    Evaluation,
    accuracy,
    confusion_matrix,
    evaluate,
    per_class_accuracy,
)
from cnnstudio.engine.network import Network
from cnnstudio.engine.optimizers import SGD, Adam, RMSprop, make_optimizer
from cnnstudio.engine.parallel import DataParallel
from cnnstudio.engine.schedules import make_schedule
from cnnstudio.engine.training import (
    TrainConfig,
    TrainingControl,
    TrainingSnapshot,
    fit,
    format_progress,
    train,
)

__all__ = [
    "LAYER_TYPES",
    "SGD",
    "Adam",
    "Add",
    "AvgPool2D",
    "BatchNorm",
    "Concatenate",
    "Conv2D",
    "DataParallel",
    "Dense",
    "DivergenceError",
    "Dropout",
    "EngineError",
    "Evaluation",
    "Flatten",
    "GlobalAvgPool2D",
    "GlobalMaxPool2D",
    "Input",
    "Layer",
    "LeakyReLU",
    "MaxPool2D",
    "Network",
    "PReLU",
    "RMSprop",
    "ReLU",
    "ShapeError",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "TrainConfig",
    "TrainingControl",
    "TrainingMemoryError",
    "TrainingSnapshot",
    "accuracy",
    "confusion_matrix",
    "evaluate",
    "fit",
    "format_progress",
    "format_shape",
    "layer_from_config",
    "make_optimizer",
    "make_schedule",
    "per_class_accuracy",
    "sigmoid_binary_cross_entropy",
    "softmax",
    "softmax_cross_entropy",
    "train",
]
