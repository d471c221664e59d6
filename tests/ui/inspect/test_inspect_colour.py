"""The Inspect view with a photo network: colour kernels, input picture and galleries."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QImage

from cnnstudio.data import DatasetSplit, Normalization, load_builtin
from cnnstudio.engine.network import Network
from cnnstudio.io.model_file import TrainedModel
from cnnstudio.model.graph import Graph
from cnnstudio.model.project import DatasetChoice, Project
from cnnstudio.ui.context import AppContext
from cnnstudio.ui.inspect import QtInspectView
from cnnstudio.ui.inspect.tiles import QtTileCanvas

PHOTO_ARCH = {
    "format": "cnnstudio-architecture",
    "version": 1,
    "name": "tiny-photo",
    "nodes": [
        {"id": "input", "type": "Input", "config": {"shape": [3, 32, 32]}, "inputs": []},
        {
            "id": "conv1",
            "type": "Conv2D",
            "config": {"filters": 4, "kernel_size": [3, 3]},
            "inputs": ["input"],
        },
        {"id": "relu1", "type": "ReLU", "config": {}, "inputs": ["conv1"]},
        {
            "id": "conv2",
            "type": "Conv2D",
            "config": {"filters": 3, "kernel_size": [3, 3]},
            "inputs": ["relu1"],
        },
        {"id": "pool1", "type": "MaxPool2D", "config": {"pool_size": [2, 2]}, "inputs": ["conv2"]},
        {"id": "flat", "type": "Flatten", "config": {}, "inputs": ["pool1"]},
        {"id": "fc", "type": "Dense", "config": {"units": 10}, "inputs": ["flat"]},
        {"id": "out", "type": "Softmax", "config": {}, "inputs": ["fc"]},
    ],
}

#: CIFAR-10's per-channel statistics, roughly: the model normalises what it is fed.
NORMALIZATION = Normalization(mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26))


def photo_model() -> TrainedModel:
    net = Network.from_architecture(PHOTO_ARCH, seed=0)
    model = TrainedModel.from_network(
        net, [f"class {i}" for i in range(10)], normalization=NORMALIZATION
    )
    w = model.weights["conv1.w"]
    w[0] = 0.0
    w[0, 0] = 0.5  # kernel 1: all red ...
    w[0, 2] = -0.5  # ... and no blue
    w[1] = 0.0  # kernel 2: zero everywhere (mid-grey)
    model.weights["conv1.w"] = w
    return model


@pytest.fixture
def inspect(qtbot):
    full = load_builtin("cifar10-sample")
    assert full.test is not None
    split = DatasetSplit(
        train=full.train.subset(np.arange(200)), test=full.test.subset(np.arange(60))
    )
    project = Project()
    project.set_graph(Graph.from_architecture(PHOTO_ARCH))
    project.set_dataset(DatasetChoice("builtin", None, {"name": "cifar10-sample"}), split)
    project.set_trained(photo_model())
    context = AppContext()
    context.project = project
    view = QtInspectView(context)
    qtbot.addWidget(view)
    view.resize(1100, 760)
    view.show()
    qtbot.waitExposed(view)
    return view


def rgb_pixels(image: QImage) -> np.ndarray:
    """A QImage as (H, W, 3) uint8."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), -1)
    # A copy: the converted image, whose memory this view reads, is freed on return.
    return rows[:, : 3 * image.width()].reshape(image.height(), image.width(), 3).copy()


def shown_rgb(canvas: QtTileCanvas, key: str, index: int) -> np.ndarray:
    """The mean (R, G, B) the user sees inside a tile (its 1-pixel frame left out)."""
    rect = canvas.tile_rect(key, index)
    assert rect is not None, f"no tile {key}[{index}]"
    inner = QRect(rect).adjusted(2, 2, -2, -2)
    return rgb_pixels(canvas.grab(inner).toImage()).reshape(-1, 3).mean(axis=0)


def test_first_layer_kernels_are_colour_patches(inspect):
    inspect.tabs.setCurrentIndex(1)
    canvas = inspect.kernels
    red, grey = shown_rgb(canvas, "conv1", 0), shown_rgb(canvas, "conv1", 1)
    # +max on red, 0 on green, -max on blue: full red, mid-grey green, no blue
    assert red[0] > 240 and 115 < red[1] < 140 and red[2] < 15
    # a zero kernel is mid-grey, so the sign of each channel stays readable
    assert np.all(np.abs(grey - 127.5) < 3)
    conv1 = next(g for g in canvas.groups if g.key == "conv1")
    assert "mid-grey is 0" in conv1.caption and "largest |w|" in conv1.caption
    rect = canvas.tile_rect("conv1", 0)
    assert "largest |weight|" in canvas.tooltip_at(rect.center())
    # deeper layers keep the blue < 0 < red tiles, one per kernel
    conv2 = next(g for g in canvas.groups if g.key == "conv2")
    assert not conv2.colour and conv2.tiles.shape == (3, 3, 3)


def test_per_channel_shows_each_kernels_red_green_blue_apart(inspect, qtbot):
    inspect.tabs.setCurrentIndex(1)
    canvas = inspect.kernels
    inspect.kernel_per_channel.setChecked(True)
    conv1 = next(g for g in canvas.groups if g.key == "conv1")
    assert conv1.tiles.shape == (12, 3, 3)  # 4 kernels x (R, G, B)
    assert conv1.tile_labels[:3] == ["1 R", "1 G", "1 B"]
    assert canvas.tile_rect("conv1", 11) is not None
    # kernel 1's red slice is positive (red), its blue slice negative (blue)
    r, b = shown_rgb(canvas, "conv1", 0), shown_rgb(canvas, "conv1", 2)
    assert r[0] > r[2] + 100 and b[2] > b[0] + 100
    # a kernel's three slices stay side by side however the rows wrap
    narrow = QtTileCanvas(tile_size=canvas.tile_size)
    qtbot.addWidget(narrow)
    narrow.set_groups([conv1])
    narrow.show()
    for width in (420, 500, 610, 730):
        narrow.resize(width, 300)
        ys = [t.y() for i in range(12) if (t := narrow.tile_rect("conv1", i)) is not None]
        assert len(ys) == 12
        assert len(set(ys)) > 1  # the rows wrap at these widths ...
        assert all(len(set(ys[k : k + 3])) == 1 for k in range(0, 12, 3)), width  # ... by kernel
    inspect.kernel_per_channel.setChecked(False)
    assert next(g for g in canvas.groups if g.key == "conv1").tiles.shape[0] == 4


def test_the_input_of_a_photo_is_shown_in_colour(inspect):
    inspect.tabs.setCurrentIndex(0)
    images = inspect.project.dataset.test.images
    # the most colourful test image, so grey would be obvious
    spread = images.astype(np.float32).mean(axis=(2, 3))
    i = int(np.argmax(spread.max(axis=1) - spread.min(axis=1)))
    inspect.probe_index.setValue(i)
    seen = shown_rgb(inspect.maps, "input", 0)
    picture = images[i].reshape(3, -1).mean(axis=1)  # the picture, not normalised numbers
    np.testing.assert_allclose(seen, picture, atol=8)
    assert seen.max() - seen.min() > 20  # not grey
    channels = next(g for g in inspect.maps.groups if g.key == "input:channels")
    assert channels.tile_labels == ["R", "G", "B"] and "normalised" in channels.caption
    # clicking the picture enlarges it in colour
    inspect._on_map_clicked("input", 0)
    assert "colour" in inspect.zoom_caption.text()
    zoom = inspect.zoom_image.pixmap().toImage().convertToFormat(QImage.Format.Format_RGB888)
    c = zoom.pixelColor(zoom.width() // 2, zoom.height() // 2)
    assert len({c.red(), c.green(), c.blue()}) > 1


def test_gallery_of_a_cell_shows_the_photos_in_colour(inspect):
    tab = inspect.evaluation_tab
    inspect.tabs.setCurrentIndex(3)
    tab.choose("Test (held out)")
    result = tab.run_evaluation()
    assert result is not None
    cm = result.confusion
    t, p = np.argwhere(cm > 0)[0]
    shown = tab.show_cell(int(t), int(p))
    assert tab.gallery.count() == len(shown) > 0
    images = inspect.project.dataset.test.images
    seen = []
    for row, i in enumerate(shown[:8]):
        icon = tab.gallery.item(row).icon().pixmap(56, 56).toImage()
        seen.append(rgb_pixels(icon).reshape(-1, 3).mean(axis=0))
        # the picture itself, not the normalised numbers the model was fed
        np.testing.assert_allclose(seen[-1], images[i].reshape(3, -1).mean(axis=1), atol=8)
    assert max(float(np.ptp(s)) for s in seen) > 15  # in colour, not grey


def test_a_new_probe_redraws_the_maps_in_place_and_clicks_still_pick_the_map(inspect, qtbot):
    inspect.tabs.setCurrentIndex(0)
    canvas = inspect.maps
    layouts, rect = canvas.layouts, canvas.tile_rect("conv2", 2)
    before = shown_rgb(canvas, "input", 0)
    inspect.probe_index.setValue(5)  # same shapes, new values
    assert canvas.layouts == layouts and canvas.tile_rect("conv2", 2) == rect
    assert not np.allclose(shown_rgb(canvas, "input", 0), before)  # the new picture shows
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=rect.center())
    assert "<b>conv2</b>, channel 3 of 3" in inspect.zoom_caption.text()
    conv2 = next(g for g in canvas.groups if g.key == "conv2")
    assert f"values {np.nanmin(conv2.tiles[2]):.3g} to" in inspect.zoom_caption.text()
