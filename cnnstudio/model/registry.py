"""The block registry: every block the palette offers, its parameters, limits and help.

A *block* is what the user places on the canvas. Most blocks map one-to-one onto an
engine layer type; the ``Output`` block maps onto ``Softmax`` (softmax + cross-entropy)
or ``Sigmoid`` (sigmoid + binary cross-entropy, two classes) depending on its
``activation`` parameter, and ``Input`` stores its shape as three integers so an
inspector can show them.

Parameter values are kept in canonical Python form: ``int``, ``float``, ``bool``,
``str`` for choices, ``(h, w)`` tuples for pairs (or one of the pair's words such as
``"same"``, or ``None`` where ``allow_none`` is set). :meth:`BlockSpec.to_engine`
turns them into the JSON-able engine config of ``docs/file-formats.md``.

Why one file of about 850 lines: half of it is ``BLOCK_SPECS``, one declaration per
block type with its parameters, limits and help texts, which reads best as one list
beside the two small classes it is made of. Shapes and parameter counts are not here:
they come from the engine layer (``BlockSpec.engine_layer``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.layers import Layer, layer_from_config
from cnnstudio.engine.shapes import describe
from cnnstudio.model.errors import ArchitectureFileError, ParamError

__all__ = [
    "BLOCK_SPECS",
    "GROUPS",
    "BlockSpec",
    "ParamSpec",
    "block_spec",
    "block_type_for_engine",
    "blocks_in_group",
    "icon_path",
]

ParamKind = Literal["int", "pair", "choice", "float", "bool"]


@dataclass(frozen=True)
class ParamSpec:
    """One editable hyperparameter of a block.

    Attributes
    ----------
    name : str
        Key in the block's ``params`` dict (and, mostly, in the engine config).
    label : str
        Text for the inspector, e.g. ``"Kernel size"``.
    kind : {"int", "pair", "choice", "float", "bool"}
        ``pair`` is an ``(h, w)`` pair of ints (an inspector may offer one linked
        spin box); a pair with ``choices`` also accepts one of those words
        (``"same"``, ``"valid"``); a pair with ``allow_none`` also accepts ``None``
        (shown as ``none_label``).
    default
        Canonical default value.
    min, max, step : float or None
        Limits for numbers and for each component of a pair; ``step`` is the spin
        box step.
    choices : tuple of str
        Allowed values of a ``choice``; extra words a ``pair`` accepts.
    choice_labels : tuple of str
        Display text for each of ``choices`` (same order); empty means the words.
    help : str
        One or two sentences for a tooltip.
    """

    name: str
    label: str
    kind: ParamKind
    default: Any
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()
    choice_labels: tuple[str, ...] = ()
    allow_none: bool = False
    none_label: str = ""
    help: str = ""

    def validate(self, value: Any, where: str = "") -> Any:
        """Return ``value`` in canonical form, or raise :class:`ParamError` saying why not.

        Parameters
        ----------
        value
            The proposed value (an ``int`` is accepted for a pair and means ``(n, n)``).
        where
            Names the block in the message, e.g. ``"conv1"``.
        """
        what = f"{where}: {self.label}" if where else self.label
        if value is None:
            if self.allow_none:
                return None
            raise ParamError(f"{what} needs a value")
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            raise ParamError(f"{what} must be true or false, got {describe(value)}")
        if self.kind == "choice":
            if isinstance(value, str) and value.lower() in self.choices:
                return value.lower()
            raise ParamError(
                f"{what} must be one of {', '.join(self.choices)}; got {describe(value)}"
            )
        if self.kind == "int":
            return self._check_range(_as_int(value, what), what)
        if self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ParamError(f"{what} must be a number, got {describe(value)}")
            number = float(value)
            if not math.isfinite(number):
                raise ParamError(f"{what} must be a finite number, got {describe(value)}")
            return self._check_range(number, what)
        # pair
        if isinstance(value, str):
            if value.lower() in self.choices:
                return value.lower()
            words = f" or one of {', '.join(self.choices)}" if self.choices else ""
            raise ParamError(
                f"{what} must be a number or a pair of numbers{words}; got {describe(value)}"
            )
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            h = w = self._check_range(int(value), what)
            return (h, w)
        if isinstance(value, Sequence) and len(value) == 2:
            h = self._check_range(_as_int(value[0], what), what)
            w = self._check_range(_as_int(value[1], what), what)
            return (h, w)
        raise ParamError(
            f"{what} must be a whole number or a pair (height, width); got {describe(value)}"
        )

    def _check_range(self, number: Any, what: str) -> Any:
        low, high = self.min, self.max
        if (low is not None and number < low) or (high is not None and number > high):
            raise ParamError(
                f"{what} must be between {_num(low)} and {_num(high)}, got {_num(number)}"
            )
        return number

    def format(self, value: Any) -> str:
        """Short display text of a canonical value: ``5x5``, ``same``, ``0.5``, ``on``."""
        if value is None:
            return self.none_label or "default"
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, tuple):
            return f"{value[0]}x{value[1]}"
        if isinstance(value, float):
            return f"{value:g}"
        if isinstance(value, str) and self.kind == "choice" and self.choice_labels:
            return self.choice_labels[self.choices.index(value)]
        return str(value)


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise ParamError(f"{what} must be a whole number, got {describe(value)}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return int(float(value))
    raise ParamError(f"{what} must be a whole number, got {describe(value)}")


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else describe(value)


def _json_value(value: Any) -> Any:
    """A canonical parameter value as it appears in an architecture config."""
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class BlockSpec:
    """Everything the palette, the inspector and the compiler need to know about a block.

    Attributes
    ----------
    type : str
        Block type, e.g. ``"Conv2D"`` or ``"Output"``: the key in :data:`BLOCK_SPECS`.
    group : str
        Palette group, one of :data:`GROUPS`.
    label : str
        Palette and default canvas text, e.g. ``"Convolution"``.
    icon : str
        Icon name; the file is :func:`icon_path` ``(spec)``.
    description : str
        One line for the palette tooltip.
    help : str
        A few short paragraphs for the help panel.
    params : tuple of ParamSpec
        Editable hyperparameters, in inspector order.
    id_prefix : str
        New block ids are ``<prefix><n>``.
    min_inputs, max_inputs : int, int or None
        How many incoming links the block takes (``None``: no upper limit).
    engine_type : str
        The engine layer type; for ``Output`` the softmax form (see :meth:`to_engine`).
    """

    type: str
    group: str
    label: str
    icon: str
    description: str
    help: str
    params: tuple[ParamSpec, ...] = ()
    id_prefix: str = "block"
    min_inputs: int = 1
    max_inputs: int | None = 1
    engine_type: str = ""
    _by_name: dict[str, ParamSpec] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self._by_name.update({p.name: p for p in self.params})

    @property
    def is_merge(self) -> bool:
        """True for blocks that join several inputs (Add, Concatenate)."""
        return self.max_inputs is None

    def param(self, name: str) -> ParamSpec:
        """The spec of parameter ``name``; :class:`ParamError` if the block has none such."""
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(self._by_name) or "none"
            raise ParamError(
                f"{self.label} has no parameter {describe(name)} (its parameters: {known})"
            ) from None

    def defaults(self) -> dict[str, Any]:
        """A fresh dict of every parameter's default value."""
        return {p.name: p.default for p in self.params}

    def validate_params(self, params: Mapping[str, Any] | None, where: str = "") -> dict[str, Any]:
        """Defaults overlaid with ``params``, each validated; unknown names are an error."""
        result = self.defaults()
        for name, value in (params or {}).items():
            result[name] = self.param(name).validate(value, where or self.label)
        return result

    # -- engine mapping ----------------------------------------------------------------
    def to_engine(self, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The engine layer ``(type, config)`` for canonical ``params`` (JSON-able config)."""
        if self.type == "Input":
            return "Input", {"shape": [params["channels"], params["height"], params["width"]]}
        if self.type == "Output":
            return ("Sigmoid" if params["activation"] == "sigmoid" else "Softmax"), {}
        return self.engine_type, {name: _json_value(value) for name, value in params.items()}

    def params_from_config(self, config: Mapping[str, Any], where: str = "") -> dict[str, Any]:
        """Canonical params from an engine config (the inverse of :meth:`to_engine`).

        Raises
        ------
        ArchitectureFileError
            For a keyword the block does not know or a value outside its limits.
        """
        where = where or self.label
        if not isinstance(config, Mapping):
            raise ArchitectureFileError(
                f"{where}: config must be an object, got {describe(config)}"
            )
        try:
            if self.type == "Input":
                extra = set(config) - {"shape"}
                if extra:
                    raise ArchitectureFileError(
                        f"{where}: unknown config key(s) {', '.join(sorted(extra))} for Input"
                    )
                shape = config.get("shape")
                if not isinstance(shape, Sequence) or isinstance(shape, str) or len(shape) != 3:
                    raise ArchitectureFileError(
                        f"{where}: Input shape must be [channels, height, width], "
                        f"got {describe(shape)}"
                    )
                return self.validate_params(
                    {"channels": shape[0], "height": shape[1], "width": shape[2]}, where
                )
            if self.type == "Output":
                if config:
                    raise ArchitectureFileError(
                        f"{where}: the output activation takes no config, "
                        f"got {describe(dict(config))}"
                    )
                return self.defaults()
            unknown = [k for k in config if k not in self._by_name]
            if unknown:
                known = ", ".join(self._by_name) or "none"
                raise ArchitectureFileError(
                    f"{where}: unknown config key(s) {', '.join(map(str, unknown))} "
                    f"for {self.engine_type} (known: {known})"
                )
            return self.validate_params(config, where)
        except ParamError as exc:
            raise ArchitectureFileError(str(exc)) from None

    def engine_layer(self, params: Mapping[str, Any], where: str = "") -> Layer:
        """The (unbuilt) engine layer of these canonical ``params``.

        Raises
        ------
        cnnstudio.engine.EngineError
            When the engine refuses the values (the message names ``where``).
        """
        return layer_from_config(*self.to_engine(params), name=where)

    def summary(self, params: Mapping[str, Any]) -> str:
        """The block's key settings in a few words for the canvas (``6 filters 5x5 pad 2``),
        as its engine layer says them; the Output block names its loss."""
        if self.type == "Output":
            if params["activation"] == "softmax":
                return "softmax + cross-entropy"
            return "sigmoid + BCE"
        try:
            return self.engine_layer(params).summary() or self.description
        except EngineError:
            return self.description


# -- parameter specs shared by several blocks ------------------------------------------
_INIT = ParamSpec(
    "init",
    "Initialiser",
    "choice",
    "he",
    choices=("he", "glorot", "fan_in_uniform", "normal", "uniform"),
    choice_labels=(
        "He (normal, for ReLU)",
        "Glorot / Xavier (uniform)",
        "Uniform ±1/√fan-in (PyTorch's default)",
        "Normal (std 0.05)",
        "Uniform in [-1, 1]",
    ),
    help="How the weights are drawn before training starts. He suits ReLU networks; "
    "Glorot suits sigmoid and tanh; PyTorch starts its layers with uniform "
    "±1/√fan-in (smaller than He: the photo presets use it, as their recipe was tuned "
    "with it); the plain normal and uniform draws are the textbook starting points.",
)
_BIAS = ParamSpec(
    "use_bias", "Bias", "bool", True, help="Add one learned constant per output (filter or unit)."
)


def _pool_params() -> tuple[ParamSpec, ...]:
    return (
        ParamSpec(
            "pool_size",
            "Pool size",
            "pair",
            (2, 2),
            min=1,
            max=8,
            step=1,
            help="Height and width of the window summarised into one number.",
        ),
        ParamSpec(
            "stride",
            "Stride",
            "pair",
            None,
            min=1,
            max=8,
            step=1,
            allow_none=True,
            none_label="same as pool size",
            help="How far the window moves each step. By default it equals the pool size, "
            "so windows do not overlap.",
        ),
        ParamSpec(
            "padding",
            "Padding",
            "pair",
            (0, 0),
            min=0,
            max=4,
            step=1,
            choices=("same", "valid"),
            help="Border added around the input before pooling; it must stay smaller than "
            "the pool size. 'same' pads just enough to keep ceil(I / S) outputs.",
        ),
    )


_ELEMENTWISE_NOTE = (
    "It works value by value, so its output has exactly the shape of its input and "
    "it has no weights of its own (except PReLU's slopes)."
)

_SPECS: tuple[BlockSpec, ...] = (
    BlockSpec(
        "Input",
        "Input",
        "Input",
        "input",
        "Where the images enter the network.",
        "The Input block holds the size of one sample as channels@height x width, for "
        "example 1@28x28 for a grey MNIST digit or 3@32x32 for a small colour picture "
        "(one channel each for red, green and blue).\n\n"
        "Its shape follows the dataset you choose, so you rarely edit it by hand. Every "
        "network has exactly one Input block, at the top.",
        params=(
            ParamSpec(
                "channels",
                "Channels",
                "int",
                1,
                min=1,
                max=512,
                step=1,
                help="1 for greyscale images, 3 for colour (RGB).",
            ),
            ParamSpec(
                "height",
                "Height",
                "int",
                28,
                min=1,
                max=1024,
                step=1,
                help="Image height in pixels.",
            ),
            ParamSpec(
                "width", "Width", "int", 28, min=1, max=1024, step=1, help="Image width in pixels."
            ),
        ),
        id_prefix="input",
        min_inputs=0,
        max_inputs=0,
        engine_type="Input",
    ),
    BlockSpec(
        "Conv2D",
        "Convolution",
        "Convolution",
        "convolution",
        "Slides learned filters over the image to find local patterns.",
        "A convolution layer owns a set of small filters (kernels), each as deep as its "
        "input has channels. Every filter is moved across the image; at each position "
        "the overlapping input values are multiplied by the filter's weights, summed and "
        "a bias is added. The grid of results is one feature map, so the layer outputs "
        "one channel per filter: 6 filters give 6@HxW.\n\n"
        "Because the same few weights are reused at every position, a convolution needs "
        "far fewer parameters than a dense layer and finds a pattern wherever it appears.\n\n"
        "Stride S is the step between two filter positions; S = 2 roughly halves the "
        "height and width. Padding P adds a frame of zeros around the input so border "
        "pixels are seen as often as central ones and the size shrinks less. For an "
        "input of size I and a kernel of size K the output size is\n"
        "    (I + 2P − K) / S + 1\n"
        "for example 28x28 with a 5x5 kernel, padding 2 and stride 1 stays 28x28, while "
        "padding 0 gives 24x24. When the division leaves a remainder the result is "
        "rounded down and the last rows or columns are never visited.",
        params=(
            ParamSpec(
                "filters",
                "Filters",
                "int",
                8,
                min=1,
                max=512,
                step=1,
                help="Number of kernels, which is the number of output channels.",
            ),
            ParamSpec(
                "kernel_size",
                "Kernel size",
                "pair",
                (3, 3),
                min=1,
                max=11,
                step=1,
                help="Height and width K of each filter window.",
            ),
            ParamSpec(
                "stride",
                "Stride",
                "pair",
                (1, 1),
                min=1,
                max=8,
                step=1,
                help="Step S between filter positions; larger steps shrink the output.",
            ),
            ParamSpec(
                "padding",
                "Padding",
                "pair",
                (0, 0),
                min=0,
                max=10,
                step=1,
                choices=("same", "valid"),
                help="Rows/columns of zeros P added on each side. 'same' keeps "
                "ceil(I / S) outputs, 'valid' means no padding.",
            ),
            _BIAS,
            ParamSpec(
                "flip_kernel",
                "Flip kernel",
                "bool",
                False,
                help="Off: slide the kernel as it is (cross-correlation, what most "
                "libraries call convolution). On: rotate it by 180 degrees first, "
                "the textbook definition of convolution.",
            ),
            _INIT,
        ),
        id_prefix="conv",
        engine_type="Conv2D",
    ),
    BlockSpec(
        "ReLU",
        "Activation",
        "ReLU",
        "activation",
        "Keeps positive values and sets negative ones to zero.",
        "ReLU (rectified linear unit) replaces every negative value by 0 and leaves "
        "positive values alone: max(0, x). It is the usual choice after a convolution or "
        "a dense layer: cheap, and its gradient does not fade for positive inputs, which "
        "lets deep networks learn.\n\n" + _ELEMENTWISE_NOTE,
        id_prefix="relu",
        engine_type="ReLU",
    ),
    BlockSpec(
        "LeakyReLU",
        "Activation",
        "Leaky ReLU",
        "activation",
        "Like ReLU, but negative values keep a small fixed slope.",
        "Leaky ReLU lets a little of each negative value through: x for x > 0, alpha·x "
        "otherwise. The small slope keeps a unit from going silent for good when its "
        "inputs are negative for a while.\n\n" + _ELEMENTWISE_NOTE,
        params=(
            ParamSpec(
                "alpha",
                "Negative slope",
                "float",
                0.01,
                min=0.0,
                max=1.0,
                step=0.01,
                help="Factor applied to negative inputs (0 would be a plain ReLU).",
            ),
        ),
        id_prefix="lrelu",
        engine_type="LeakyReLU",
    ),
    BlockSpec(
        "PReLU",
        "Activation",
        "PReLU",
        "activation",
        "Like Leaky ReLU, but the negative slope is learned per channel.",
        "Parametric ReLU treats the slope for negative values as a weight: one slope per "
        "channel, adjusted by training like any other parameter. It starts at the "
        "initial slope you set.\n\n" + _ELEMENTWISE_NOTE,
        params=(
            ParamSpec(
                "init",
                "Initial slope",
                "float",
                0.25,
                min=0.0,
                max=1.0,
                step=0.05,
                help="Starting value of every learned negative slope.",
            ),
        ),
        id_prefix="prelu",
        engine_type="PReLU",
    ),
    BlockSpec(
        "Sigmoid",
        "Activation",
        "Sigmoid",
        "activation",
        "Squashes every value into the range 0 to 1.",
        "The sigmoid 1 / (1 + e^−x) maps any number smoothly into (0, 1). It was the "
        "classic activation of early networks; in deep networks its gradient becomes tiny "
        "for large inputs, so ReLU usually trains faster.\n\n" + _ELEMENTWISE_NOTE,
        id_prefix="sigmoid",
        engine_type="Sigmoid",
    ),
    BlockSpec(
        "Tanh",
        "Activation",
        "Tanh",
        "activation",
        "Squashes every value into the range −1 to 1.",
        "The hyperbolic tangent is an S-shaped curve like the sigmoid but centred on 0, "
        "with outputs between −1 and 1, which often makes it train a little better than "
        "the sigmoid.\n\n" + _ELEMENTWISE_NOTE,
        id_prefix="tanh",
        engine_type="Tanh",
    ),
    BlockSpec(
        "MaxPool2D",
        "Pooling",
        "Max pooling",
        "pooling",
        "Shrinks each feature map by keeping the largest value of every window.",
        "Pooling slides a window over each channel, like a convolution without weights, "
        "and replaces the window by one number; max pooling keeps the largest. A 2x2 "
        "window with stride 2 halves height and width (6@28x28 becomes 6@14x14) and keeps "
        "the channel count.\n\n"
        "The smaller maps make later layers cheaper, and because only the strongest "
        "response in each window survives, small shifts of a feature barely change the "
        "result. The output size follows the same rule as convolution: "
        "(I + 2P − K) / S + 1 with K the pool size.",
        params=_pool_params(),
        id_prefix="maxpool",
        engine_type="MaxPool2D",
    ),
    BlockSpec(
        "AvgPool2D",
        "Pooling",
        "Average pooling",
        "pooling",
        "Shrinks each feature map by averaging every window.",
        "Average pooling works like max pooling but outputs the mean of each window, a "
        "gentler summary that keeps some of everything the window saw. To turn each whole "
        "channel into one number, whatever the image size, use global average pooling.\n\n"
        "Output size: (I + 2P − K) / S + 1 with K the pool size.",
        params=_pool_params(),
        id_prefix="avgpool",
        engine_type="AvgPool2D",
    ),
    BlockSpec(
        "GlobalAvgPool2D",
        "Pooling",
        "Global average pooling",
        "globalpooling",
        "Turns each feature map into one number, its mean, for any image size.",
        "Global average pooling replaces every whole feature map by its mean: 64@8x8 "
        "becomes a vector of 64 numbers, one per channel, and so would 64@16x16. It has "
        "no weights and no settings.\n\n"
        "Its output is already a vector, so a Dense block can follow directly, without "
        "Flatten. The vector's length depends only on the channel count, so the dense "
        "layers after it stay small and the same network accepts larger or smaller "
        "images. ResNet and DenseNet end this way instead of flattening a large map.",
        id_prefix="globalavg",
        engine_type="GlobalAvgPool2D",
    ),
    BlockSpec(
        "GlobalMaxPool2D",
        "Pooling",
        "Global max pooling",
        "globalpooling",
        "Turns each feature map into one number, its largest value, for any image size.",
        "Global max pooling keeps the largest value of every whole feature map: 64@8x8 "
        "becomes a vector of 64 numbers, one per channel. Each number says how strongly "
        "the channel's pattern appeared anywhere in the image, wherever it was.\n\n"
        "As with global average pooling, the output is a vector, so a Dense block can "
        "follow directly; there are no weights, and the network accepts images of any "
        "size. While training, only the position of each maximum receives a gradient.",
        id_prefix="globalmax",
        engine_type="GlobalMaxPool2D",
    ),
    BlockSpec(
        "Flatten",
        "Flatten",
        "Flatten",
        "flatten",
        "Unrolls the feature maps into one long vector for the dense layers.",
        "Dense layers expect a plain list of numbers, not stacked images. Flatten lays "
        "all values of all channels out in one row: 16@5x5 becomes a vector of "
        "16·5·5 = 400 numbers. Nothing is learned and nothing is lost; only the layout "
        "changes. Put it between the last convolution or pooling block and the first "
        "Dense block.",
        id_prefix="flatten",
        engine_type="Flatten",
    ),
    BlockSpec(
        "Dense",
        "Dense",
        "Dense",
        "dense",
        "A fully connected layer: every output looks at every input.",
        "Each of the layer's units computes a weighted sum of all input values plus a "
        "bias, so a layer with 120 units after a 400-long vector learns 400·120 weights "
        "and 120 biases. Dense layers combine the features found by the convolutions into "
        "a decision; the last Dense layer needs one unit per class. Its input must be a "
        "vector, so place a Flatten block before the first one.",
        params=(
            ParamSpec(
                "units",
                "Units",
                "int",
                64,
                min=1,
                max=4096,
                step=1,
                help="Number of outputs (neurons). The last Dense needs one per class.",
            ),
            _BIAS,
            _INIT,
        ),
        id_prefix="dense",
        engine_type="Dense",
    ),
    BlockSpec(
        "BatchNorm",
        "BatchNorm",
        "Batch norm",
        "batchnorm",
        "Rescales each channel to a steady mean and spread while training.",
        "Batch normalisation subtracts the mean and divides by the standard deviation of "
        "each channel over the current batch, then applies a learned scale and shift. "
        "Keeping the values in a steady range lets deeper networks train faster and with "
        "larger learning rates. For predictions it uses running averages gathered during "
        "training instead of the batch's own statistics.",
        params=(
            ParamSpec(
                "momentum",
                "Momentum",
                "float",
                0.1,
                min=0.0,
                max=1.0,
                step=0.01,
                help="How quickly the running mean and variance follow new batches.",
            ),
            ParamSpec(
                "eps",
                "Epsilon",
                "float",
                1e-5,
                min=1e-8,
                max=0.1,
                step=1e-5,
                help="Small number added to the variance so it is never divided by 0.",
            ),
        ),
        id_prefix="bn",
        engine_type="BatchNorm",
    ),
    BlockSpec(
        "Dropout",
        "Dropout",
        "Dropout",
        "dropout",
        "Randomly switches off a share of values while training.",
        "During training, dropout sets each value to zero with the given probability and "
        "scales the rest up so the average stays the same. The network cannot rely on any "
        "single unit, which reduces overfitting. When predicting, nothing is dropped.",
        params=(
            ParamSpec(
                "rate",
                "Rate",
                "float",
                0.5,
                min=0.0,
                max=0.95,
                step=0.05,
                help="Probability that a value is dropped during training.",
            ),
        ),
        id_prefix="dropout",
        engine_type="Dropout",
    ),
    BlockSpec(
        "Add",
        "Branches",
        "Add",
        "add",
        "Adds two or more branches value by value (residual connections).",
        "Add joins branches by summing them element by element, so all inputs must have "
        "the same shape. Feeding a block's input around a few layers and adding it back "
        "(a shortcut) is the idea behind ResNet: the layers only learn a correction, and "
        "gradients flow easily through the shortcut.",
        id_prefix="add",
        min_inputs=2,
        max_inputs=None,
        engine_type="Add",
    ),
    BlockSpec(
        "Concatenate",
        "Branches",
        "Concatenate",
        "concatenate",
        "Stacks two or more branches along the channel axis (dense connections).",
        "Concatenate joins branches by stacking their channels: 16@14x14 and 8@14x14 give "
        "24@14x14, so the inputs must share height and width. Passing every earlier "
        "feature map on to the later layers this way is the idea behind DenseNet.",
        id_prefix="concat",
        min_inputs=2,
        max_inputs=None,
        engine_type="Concatenate",
    ),
    BlockSpec(
        "Output",
        "Output",
        "Output",
        "output",
        "Turns the last layer's scores into class probabilities (and sets the loss).",
        "The Output block ends the network. With softmax, each score is exponentiated and "
        "divided by the sum of all of them, so the outputs are positive and add up to 1: "
        "one probability per class. Training then minimises the cross-entropy, which is "
        "small when the true class gets a high probability.\n\n"
        "For exactly two classes a single output unit is enough: choose the sigmoid "
        "option, make the last Dense block 1 unit wide, and training uses binary "
        "cross-entropy.",
        params=(
            ParamSpec(
                "activation",
                "Activation and loss",
                "choice",
                "softmax",
                choices=("softmax", "sigmoid"),
                choice_labels=(
                    "Softmax + cross-entropy",
                    "Sigmoid + binary cross-entropy (2 classes)",
                ),
                help="Softmax for any number of classes; sigmoid with one unit for two.",
            ),
        ),
        id_prefix="output",
        engine_type="Softmax",
    ),
)

#: Every block spec by block type, in palette order.
BLOCK_SPECS: dict[str, BlockSpec] = {spec.type: spec for spec in _SPECS}

#: Palette groups, in display order.
GROUPS: tuple[str, ...] = (
    "Input",
    "Convolution",
    "Activation",
    "Pooling",
    "Flatten",
    "Dense",
    "BatchNorm",
    "Dropout",
    "Branches",
    "Output",
)


def block_spec(block_type: str) -> BlockSpec:
    """The spec of ``block_type``; :class:`ParamError` naming the known types if unknown."""
    try:
        return BLOCK_SPECS[block_type]
    except KeyError:
        known = ", ".join(BLOCK_SPECS)
        raise ParamError(f"unknown block type {describe(block_type)} (known: {known})") from None


def blocks_in_group(group: str) -> list[BlockSpec]:
    """The specs of one palette group, in palette order."""
    return [spec for spec in _SPECS if spec.group == group]


def block_type_for_engine(engine_type: str) -> str | None:
    """The block type that stands for an engine layer type (``Softmax`` -> ``Output``)."""
    if engine_type == "Softmax":
        return "Output"
    for spec in _SPECS:
        if spec.engine_type == engine_type and spec.type != "Output":
            return spec.type
    return None


def icon_path(spec: BlockSpec | str) -> Path:
    """Path of a block's SVG icon (24x24) in ``resources/icons/blocks``."""
    from cnnstudio.resources import resource_path

    name = spec.icon if isinstance(spec, BlockSpec) else block_spec(spec).icon
    return resource_path("icons", "blocks", f"{name}.svg")
