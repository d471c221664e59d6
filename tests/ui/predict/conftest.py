"""A LeNet-5 really trained on the built-in sample, shared by the Draw & Predict tests."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.ui.context import AppContext
from tests.archs import lenet5


@pytest.fixture(scope="session")
def trained_bundle():
    """LeNet-5 after 4 epochs on the built-in MNIST sample (about 95% held-out accuracy)."""
    from cnnstudio.data import load_builtin
    from cnnstudio.engine import training
    from cnnstudio.engine.metrics import accuracy
    from cnnstudio.engine.network import Network
    from cnnstudio.io.model_file import TrainedModel

    split = load_builtin("mnist-sample")
    network = Network.from_architecture(lenet5(), seed=0)
    config = training.TrainConfig(epochs=4, batch_size=64, lr=1e-3, seed=0)
    data = (split.train.images, split.train.labels)
    for _snapshot in training.train(network, data, None, config):
        pass
    held_out = accuracy(network.predict(split.test.images / np.float32(255)), split.test.labels)
    assert held_out > 0.9, f"the fixture model only reached {held_out:.1%}"
    return TrainedModel.from_network(
        network, split.class_names, training_summary={"accuracy": held_out}
    )


@pytest.fixture
def context():
    from cnnstudio.model.project import Project

    ctx = AppContext()
    ctx.project = Project()
    return ctx


def ellipse(cx=0.5, cy=0.5, rx=0.18, ry=0.32, n=80):
    t = np.linspace(0, 2 * np.pi, n)
    return [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in t]


def vertical_line(x=0.5, top=0.15, bottom=0.85, n=20):
    return [(x, top + (bottom - top) * i / (n - 1)) for i in range(n)]
