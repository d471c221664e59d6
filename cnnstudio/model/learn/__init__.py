"""The Learn lab's numbers, without Qt.

Every number a lesson shows is computed by the readable tier of the engine,
``cnnstudio.engine.reference`` (its ``Conv2D``, pooling, activation, ``Flatten`` and
``Softmax`` layers), so the code behind it is code a student can read; the loss is the
engine's. What this package adds is presentation: which input cells a window covers,
the term-by-term arithmetic of one output cell, the output-size formula with the
user's numbers, and the reference notes' worked examples as presets. The tests check
that every written-out sum equals the layer's output cell.

One module per job:

- ``layers``: the one-shot runs of the reference ``Conv2D`` and pooling layers;
- ``base``: the lab's error type, size limits, number formatting and input checks;
- ``formula``: the output-size formula; ``arithmetic``: one output cell's sum;
- ``notes``: the notes' worked examples; ``conv``, ``channels``, ``activation``,
  ``pooling``, ``flatten_softmax``, ``filters``, ``conv1d``: one lesson each;
- ``images``: sample pictures; ``explain``: a canvas block -> lesson settings.
"""

from __future__ import annotations

from cnnstudio.model.learn.activation import ACTIVATIONS, activate, activation_curve
from cnnstudio.model.learn.arithmetic import CellArithmetic, Term, cell_arithmetic
from cnnstudio.model.learn.base import MAX_INPUT, MAX_KERNEL, MAX_PADDING, LabError, fmt
from cnnstudio.model.learn.channels import CHANNEL_NAMES, ChannelLab
from cnnstudio.model.learn.conv import ConvLab
from cnnstudio.model.learn.conv1d import conv1d, conv1d_cell
from cnnstudio.model.learn.explain import ExplainPreset, explain_preset
from cnnstudio.model.learn.filters import IMAGE_FILTERS, apply_image_filter
from cnnstudio.model.learn.flatten_softmax import (
    cross_entropy,
    flatten_size,
    flatten_stack,
    softmax_probabilities,
)
from cnnstudio.model.learn.formula import OutputSizeFormula, output_size_formula
from cnnstudio.model.learn.images import downsample, sample_digit
from cnnstudio.model.learn.layers import conv2d, pool2d
from cnnstudio.model.learn.notes import (
    CONV_PRESETS,
    ConvPreset,
    Pipeline,
    worked_example_pipeline,
)
from cnnstudio.model.learn.pooling import PoolLab, PoolWindow

__all__ = [
    "ACTIVATIONS",
    "CHANNEL_NAMES",
    "CONV_PRESETS",
    "IMAGE_FILTERS",
    "MAX_INPUT",
    "MAX_KERNEL",
    "MAX_PADDING",
    "CellArithmetic",
    "ChannelLab",
    "ConvLab",
    "ConvPreset",
    "ExplainPreset",
    "LabError",
    "OutputSizeFormula",
    "Pipeline",
    "PoolLab",
    "PoolWindow",
    "Term",
    "activate",
    "activation_curve",
    "apply_image_filter",
    "cell_arithmetic",
    "conv1d",
    "conv1d_cell",
    "conv2d",
    "cross_entropy",
    "downsample",
    "explain_preset",
    "flatten_size",
    "flatten_stack",
    "fmt",
    "output_size_formula",
    "pool2d",
    "sample_digit",
    "softmax_probabilities",
    "worked_example_pipeline",
]
