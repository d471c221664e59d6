"""The presets of issue 25: global pooling in ResNet/DenseNet (mini), and the photo presets."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from cnnstudio.engine.optimizers import SGD
from cnnstudio.model import compile_network, list_presets, load_preset
from cnnstudio.model.errors import ModelError

PHOTO_NAMES = {"vgg_photo": "Photo VGG (CIFAR-10)", "resnet_photo": "Photo ResNet (CIFAR-10)"}


def _conv_bn(cin: int, cout: int) -> int:
    """A 3x3 convolution without bias (BN follows) and BN's scale and shift."""
    return cin * 9 * cout + 2 * cout


# Hand counts: the convolutions and BN layers, then Dense 128 -> 10.
VGG_PHOTO_PARAMS = (
    sum(_conv_bn(a, b) for a, b in [(3, 32), (32, 32), (32, 64), (64, 64), (64, 128), (128, 128)])
    + 128 * 10
    + 10
)
RESNET_PHOTO_PARAMS = (
    sum(
        _conv_bn(a, b)
        for a, b in [
            (3, 16),
            (16, 32),
            (32, 32),
            (32, 32),
            (32, 64),
            (64, 128),
            (128, 128),
            (128, 128),
        ]
    )
    + 128 * 10
    + 10
)


def _types(key: str) -> list[str]:
    return [n["type"] for n in load_preset(key).to_architecture()["nodes"]]


@pytest.mark.parametrize("key", ["resnet_mini", "densenet_mini"])
def test_resnet_and_densenet_end_in_global_average_pooling(key):
    arch = load_preset(key).to_architecture()
    by_id = {n["id"]: n for n in arch["nodes"]}
    (gap,) = [n for n in arch["nodes"] if n["type"] == "GlobalAvgPool2D"]
    (dense,) = [n for n in arch["nodes"] if n["inputs"] == [gap["id"]]]
    assert dense["type"] == "Dense"
    assert "Flatten" not in _types(key)
    # no fixed-size average pool left (the old 7x7 one only fitted 28x28 inputs)
    assert all(
        n["config"]["pool_size"] == [2, 2] for n in by_id.values() if n["type"] == "AvgPool2D"
    )


@pytest.mark.parametrize(("key", "params"), [("resnet_mini", 19786), ("densenet_mini", 6826)])
@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 56, 56), (3, 32, 32)])
def test_resnet_and_densenet_build_at_any_input_size(key, params, shape):
    g = load_preset(key)
    g.set_input_shape(shape)
    assert g.inference.is_valid, g.inference.problems
    net = compile_network(g, seed=0)
    # the same parameters at 1@28x28 as with the old 7x7 pool, plus the first filters' depth
    extra = (shape[0] - 1) * 9 * 16
    assert net.parameter_count() == params + extra == g.inference.total_params
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    assert net.forward(x).shape == (2, 10)


def _loss_falls(key: str, shape: tuple[int, ...], steps: int = 6) -> tuple[float, float]:
    g = load_preset(key)
    g.set_input_shape(shape)
    net = compile_network(g, seed=0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, *shape)).astype(np.float32)
    y = np.arange(16) % 10
    opt = SGD(lr=0.01, momentum=0.9)
    losses = []
    for _ in range(steps):
        loss, _ = net.train_step(x, y)
        opt.step(net.flat_parameters())
        losses.append(loss)
    assert all(np.isfinite(losses))
    return losses[0], losses[-1]


@pytest.mark.parametrize("key", ["resnet_mini", "densenet_mini"])
def test_resnet_and_densenet_still_train_on_digits(key):
    first, last = _loss_falls(key, (1, 28, 28))
    assert last < first


@pytest.mark.parametrize("key", sorted(PHOTO_NAMES))
def test_photo_presets_are_listed_for_colour_photos_with_a_clear_name(key):
    # The Build view's Presets menu is made from list_presets (name and input shape).
    infos = {info.key: info for info in list_presets()}
    assert infos[key].name == PHOTO_NAMES[key]
    assert infos[key].input_shape == (3, 32, 32)
    assert load_preset(PHOTO_NAMES[key]).name == PHOTO_NAMES[key]


def test_photo_is_the_resnet_photo_preset_on_the_command_line():
    from cnnstudio.commands.train import _load_graph

    graph = _load_graph(argparse.Namespace(preset="photo"))
    assert graph.name == "Photo ResNet (CIFAR-10)"
    assert graph.input_shape == (3, 32, 32)
    with pytest.raises(ModelError, match=r"there is no preset 'photos' \(presets: photo, mlp"):
        load_preset("photos")


def test_vgg_photo_layers_shapes_and_parameters():
    g = load_preset("vgg_photo")
    assert _types("vgg_photo") == [
        "Input",
        *(["Conv2D", "BatchNorm", "ReLU"] * 2 + ["MaxPool2D"]) * 3,
        "GlobalAvgPool2D",
        "Dense",
        "Softmax",
    ]
    shapes = [g.info(bid).output_shape for bid in ("maxpool1", "maxpool2", "maxpool3")]
    assert shapes == [(32, 16, 16), (64, 8, 8), (128, 4, 4)]
    assert g.info("globalavg1").output_shape == (128,)
    assert VGG_PHOTO_PARAMS == 288_746
    assert compile_network(g).parameter_count() == VGG_PHOTO_PARAMS


def test_resnet_photo_is_the_notes_recipe_network():
    g = load_preset("photo")
    arch = g.to_architecture()
    convs = [n["config"] for n in arch["nodes"] if n["type"] == "Conv2D"]
    assert [c["filters"] for c in convs] == [16, 32, 32, 32, 64, 128, 128, 128]
    assert all(
        c["kernel_size"] == [3, 3] and c["padding"] == [1, 1] and not c["use_bias"] for c in convs
    )
    # each convolution feeds a BN (the three that halve the maps through a max pooling
    # first, as the later ResNet-9 versions do), and each BN a ReLU
    feeds = {i: n for n in arch["nodes"] for i in n["inputs"]}
    pooled = []
    for n in arch["nodes"]:
        if n["type"] == "Conv2D":
            after = feeds[n["id"]]
            if after["type"] == "MaxPool2D":
                pooled.append(n["id"])
                after = feeds[after["id"]]
            assert after["type"] == "BatchNorm"
            assert feeds[after["id"]]["type"] == "ReLU"
    assert pooled == ["conv2", "conv5", "conv6"]
    # the residual blocks: the pooled layer's output skips two conv-BN-ReLU and is added back
    adds = [n for n in arch["nodes"] if n["type"] == "Add"]
    assert [g.info(a["id"]).output_shape for a in adds] == [(32, 16, 16), (128, 4, 4)]
    for a in adds:
        assert [g.block(i).type for i in a["inputs"]] == ["ReLU", "ReLU"]
    assert [g.info(f"maxpool{i}").output_shape for i in (1, 2, 3)] == [
        (32, 16, 16),
        (64, 8, 8),
        (128, 4, 4),
    ]
    assert _types("photo")[-3:] == ["GlobalMaxPool2D", "Dense", "Softmax"]
    assert RESNET_PHOTO_PARAMS == 412_954
    assert compile_network(g).parameter_count() == RESNET_PHOTO_PARAMS


def test_photo_parameter_counts_match_pytorch():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    def cbr(a, b):
        return [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]

    vgg = nn.Sequential(
        *cbr(3, 32), *cbr(32, 32), nn.MaxPool2d(2), *cbr(32, 64), *cbr(64, 64), nn.MaxPool2d(2),
        *cbr(64, 128), *cbr(128, 128), nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(128, 10),
    )  # fmt: skip
    pairs = [(3, 16), (16, 32), (32, 32), (32, 32), (32, 64), (64, 128), (128, 128), (128, 128)]
    resnet = nn.ModuleList([layer for a, b in pairs for layer in cbr(a, b)] + [nn.Linear(128, 10)])

    def count(m):
        return sum(p.numel() for p in m.parameters() if p.requires_grad)

    assert count(vgg) == compile_network(load_preset("vgg_photo")).parameter_count()
    assert count(resnet) == compile_network(load_preset("photo")).parameter_count()


@pytest.mark.parametrize("key", sorted(PHOTO_NAMES))
def test_photo_presets_train_on_a_photo_batch(key):
    first, last = _loss_falls(key, (3, 32, 32))
    assert last < first
