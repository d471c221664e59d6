"""Architecture dicts covering every layer type and option the exporters must map."""

from __future__ import annotations

from typing import Any


def _arch(name: str, shape: list[int], nodes: list[tuple[str, str, dict, list[str]]]) -> dict:
    return {
        "format": "cnnstudio-architecture",
        "version": 1,
        "name": name,
        "nodes": [{"id": "input", "type": "Input", "config": {"shape": shape}, "inputs": []}]
        + [
            {"id": i, "type": t, "config": c, "inputs": ins, "ui": {"x": 10.0 * k, "y": 5.5}}
            for k, (i, t, c, ins) in enumerate(nodes)
        ],
    }


def lenet() -> dict[str, Any]:
    return _arch(
        "LeNet-5",
        [1, 28, 28],
        [
            ("conv1", "Conv2D", {"filters": 6, "kernel_size": [5, 5], "padding": 2}, ["input"]),
            ("relu1", "ReLU", {}, ["conv1"]),
            ("pool1", "MaxPool2D", {"pool_size": [2, 2]}, ["relu1"]),
            ("conv2", "Conv2D", {"filters": 16, "kernel_size": 5}, ["pool1"]),
            ("tanh2", "Tanh", {}, ["conv2"]),
            ("pool2", "AvgPool2D", {"pool_size": 2}, ["tanh2"]),
            ("flat", "Flatten", {}, ["pool2"]),
            ("fc1", "Dense", {"units": 32}, ["flat"]),
            ("relu3", "ReLU", {}, ["fc1"]),
            ("fc2", "Dense", {"units": 10}, ["relu3"]),
            ("out", "Softmax", {}, ["fc2"]),
        ],
    )


def kitchen_sink() -> dict[str, Any]:
    """BatchNorm after conv and dense, Dropout, PReLU, LeakyReLU, avg pooling with padding,
    "same" padding with an even kernel, stride 2, flipped kernels, no-bias layers."""
    return _arch(
        "kitchen-sink",
        [1, 13, 11],
        [
            (
                "conv1",
                "Conv2D",
                {"filters": 4, "kernel_size": [4, 3], "padding": "same", "flip_kernel": True},
                ["input"],
            ),
            ("bn1", "BatchNorm", {"eps": 1e-3}, ["conv1"]),
            ("prelu1", "PReLU", {"init": 0.2}, ["bn1"]),
            ("pool1", "AvgPool2D", {"pool_size": 3, "stride": 2, "padding": 1}, ["prelu1"]),
            (
                "conv2",
                "Conv2D",
                {"filters": 5, "kernel_size": 3, "stride": 2, "padding": "same", "use_bias": False},
                ["pool1"],
            ),
            ("lrelu2", "LeakyReLU", {"alpha": 0.1}, ["conv2"]),
            ("pool2", "MaxPool2D", {"pool_size": 2, "stride": 1, "padding": 1}, ["lrelu2"]),
            ("drop2", "Dropout", {"rate": 0.3}, ["pool2"]),
            ("flat", "Flatten", {}, ["drop2"]),
            ("fc1", "Dense", {"units": 12}, ["flat"]),
            ("bn2", "BatchNorm", {}, ["fc1"]),
            ("prelu2", "PReLU", {}, ["bn2"]),
            ("drop3", "Dropout", {"rate": 0.5}, ["prelu2"]),
            ("fc2", "Dense", {"units": 7, "use_bias": False}, ["drop3"]),
            ("out", "Softmax", {}, ["fc2"]),
        ],
    )


def residual() -> dict[str, Any]:
    """A DAG: a residual Add and a channel Concatenate, RGB input, logits without Softmax."""
    return _arch(
        "residual",
        [3, 12, 12],
        [
            ("stem", "Conv2D", {"filters": 4, "kernel_size": 3, "padding": 1}, ["input"]),
            ("stem_relu", "ReLU", {}, ["stem"]),
            ("a", "Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"}, ["stem_relu"]),
            ("a_bn", "BatchNorm", {}, ["a"]),
            ("add", "Add", {}, ["a_bn", "stem_relu"]),
            ("b", "Conv2D", {"filters": 2, "kernel_size": 1}, ["stem_relu"]),
            ("cat", "Concatenate", {}, ["add", "b", "stem"]),
            ("sig", "Sigmoid", {}, ["cat"]),
            ("pool", "MaxPool2D", {"pool_size": 3, "stride": 3}, ["sig"]),
            ("flat", "Flatten", {}, ["pool"]),
            ("fc", "Dense", {"units": 5}, ["flat"]),
        ],
    )


def binary() -> dict[str, Any]:
    """Two classes through one sigmoid unit: predict_proba gives [1 - p, p]."""
    return _arch(
        "binary",
        [1, 8, 8],
        [
            ("flat", "Flatten", {}, ["input"]),
            ("fc1", "Dense", {"units": 6}, ["flat"]),
            ("t", "Tanh", {}, ["fc1"]),
            ("fc2", "Dense", {"units": 1}, ["t"]),
            ("out", "Sigmoid", {}, ["fc2"]),
        ],
    )


def global_pooling() -> dict[str, Any]:
    """Global average and max pooling side by side on an odd-sized RGB input, their
    vectors joined and fed to Dense without a Flatten."""
    return _arch(
        "global-pooling",
        [3, 9, 7],
        [
            ("conv", "Conv2D", {"filters": 4, "kernel_size": 3, "padding": 1}, ["input"]),
            ("relu", "ReLU", {}, ["conv"]),
            ("gap", "GlobalAvgPool2D", {}, ["relu"]),
            ("gmp", "GlobalMaxPool2D", {}, ["conv"]),
            ("cat", "Concatenate", {}, ["gap", "gmp"]),
            ("fc", "Dense", {"units": 6}, ["cat"]),
            ("out", "Softmax", {}, ["fc"]),
        ],
    )


ALL = {
    "lenet": lenet,
    "kitchen_sink": kitchen_sink,
    "residual": residual,
    "binary": binary,
    "global_pooling": global_pooling,
}


def presets() -> dict[str, dict[str, Any]]:
    """Every shipped preset (resources/presets/*.json), by file stem."""
    import json

    from cnnstudio.resources import resource_path

    folder = resource_path("presets")
    return {p.stem: json.loads(p.read_text("utf-8")) for p in sorted(folder.glob("*.json"))}


def everything() -> dict[str, dict[str, Any]]:
    """The hand-made architectures above plus every preset (keys prefixed "preset:")."""
    out = {name: fn() for name, fn in ALL.items()}
    out.update({f"preset:{k}": a for k, a in presets().items()})
    return out
