"""The reference notes' worked examples: the convolution presets, and the second example
carried through conv → ReLU → max pool across lessons 1, 3 and 4."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnstudio.model.learn.activation import activate
from cnnstudio.model.learn.layers import conv2d, pool2d

__all__ = ["CONV_PRESETS", "ConvPreset", "Pipeline", "worked_example_pipeline"]


@dataclass(frozen=True)
class ConvPreset:
    title: str
    input: tuple[tuple[float, ...], ...]
    kernel: tuple[tuple[float, ...], ...]
    stride: int = 1
    padding: int = 0
    #: What the notes say the output is (checked by the tests).
    expected: tuple[tuple[float, ...], ...] = ()
    note: str = ""


def _t(rows: list[list[float]]) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(v) for v in r) for r in rows)


#: The reference notes' worked examples, by key.
CONV_PRESETS: dict[str, ConvPreset] = {
    "notes-3x3": ConvPreset(
        "Notes: 3x3 input, kernel [[1, 0.5], [0.5, 1]]",
        _t([[1, 2, 1], [2, 1, 1], [1, 1, 1]]),
        _t([[1, 0.5], [0.5, 1]]),
        expected=_t([[4, 4], [4, 3]]),
        note="Each output cell is the sum of the four products under the window.",
    ),
    "notes-relu-pool": ConvPreset(
        "Notes: conv, ReLU, max pool → 5",
        _t([[1, 0, 2], [3, 1, 0], [0, 0, 4]]),
        _t([[1, 0], [0, 1]]),
        expected=_t([[2, 0], [3, 5]]),
        note="Then ReLU keeps [[2, 0], [3, 5]] and a 2x2 max pool keeps 5 (lessons 3 and 4).",
    ),
    "notes-half-kernel": ConvPreset(
        "Notes: 2x2 kernel of 0.5s over a 5-wide image",
        # The notes give only in1+in2+in6+in7 = 8.5 and in2+in3+in7+in8 = 5 (their
        # image is a picture); these values reproduce out1 = 4.25 and out2 = 2.5.
        _t([[1, 3, 0, 2, 1], [2.5, 2, 0, 1, 3], [0, 1, 2, 4, 1], [1, 0, 3, 1, 2], [2, 1, 0, 0, 1]]),
        _t([[0.5, 0.5], [0.5, 0.5]]),
        note="out1 = 0.5·in1 + 0.5·in2 + 0.5·in6 + 0.5·in7 = 4.25 and out2 = 2.5, "
        "with the input cells numbered row by row from 1.",
    ),
}


@dataclass(frozen=True)
class Pipeline:
    conv: np.ndarray
    relu: np.ndarray
    pooled: np.ndarray


def worked_example_pipeline() -> Pipeline:
    """The notes' second example: conv → ReLU → 2x2 max pool, by the reference layers."""
    p = CONV_PRESETS["notes-relu-pool"]
    conv = conv2d(np.array(p.input)[None], np.array(p.kernel)[None, None])[0]
    relu = activate(conv, "ReLU")
    pooled = pool2d(relu[None], "max", 2, 2)[0]
    return Pipeline(conv, relu, pooled)
