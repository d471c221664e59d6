"""Shared helpers for the io tests: "trained" bundles and zip surgery."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from cnnstudio.data.normalize import Normalization
from cnnstudio.engine.network import Network
from cnnstudio.io import TrainedModel
from tests.io import archs


def trained_network(arch: dict, seed: int = 3) -> Network:
    """A network whose every array is non-trivial, as after training.

    Fresh BatchNorm statistics are 0/1 and biases 0, which would hide an exporter
    that drops them; randomise them so every parameter matters.
    """
    net = Network.from_architecture(arch, seed=seed)
    rng = np.random.default_rng(seed)
    w = net.get_weights()
    for key, a in w.items():
        if key.endswith("running_var"):
            w[key] = rng.uniform(0.5, 2.0, a.shape).astype(np.float32)
        elif key.endswith("gamma"):
            w[key] = rng.uniform(0.5, 1.5, a.shape).astype(np.float32)
        elif key.endswith(("running_mean", "beta", ".b", ".alpha")):
            w[key] = rng.normal(0.0, 0.3, a.shape).astype(np.float32)
    net.set_weights(w)
    return net


def make_bundle(arch: dict | None = None, seed: int = 3) -> TrainedModel:
    net = trained_network(arch or archs.lenet(), seed)
    c = net.input_shape[0]
    if c == 1:
        norm = Normalization((0.13,), (0.31,))
    else:
        norm = Normalization((0.4, 0.5, 0.6), (0.2,) * 3)
    n = 2 if net.output_activation == "sigmoid" else net.n_logits
    names = [f"class {i}" for i in range(n)]
    return TrainedModel.from_network(
        net,
        names,
        normalization=norm,
        training_summary={"epochs": 3, "accuracy": 0.981, "dataset": "MNIST sample"},
    )


def rewrite_zip(src: Path, dst: Path, replace: dict[str, bytes | None]) -> Path:
    """Copy the zip ``src`` to ``dst`` with members replaced (None removes; new names are added)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename in replace:
                data = replace[info.filename]
                if data is not None:
                    zout.writestr(info.filename, data)
            else:
                zout.writestr(info.filename, zin.read(info.filename))
        for name, data in replace.items():
            if name not in zin.namelist() and data is not None:
                zout.writestr(name, data)
    return dst


@pytest.fixture
def bundle() -> TrainedModel:
    return make_bundle()


@pytest.fixture
def model_path(tmp_path: Path, bundle: TrainedModel) -> Path:
    from cnnstudio.io import save_model

    return save_model(tmp_path / "digits.cnnmodel", bundle)
