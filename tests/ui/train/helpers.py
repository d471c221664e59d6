"""A tiny network and a 200-digit dataset so every training test runs in a second or two."""

from __future__ import annotations

import numpy as np

from cnnstudio.data import DatasetSplit, load_builtin
from cnnstudio.model.graph import Graph
from cnnstudio.model.project import DatasetChoice, Project
from cnnstudio.ui.context import AppContext

TINY_ARCH = {
    "format": "cnnstudio-architecture",
    "version": 1,
    "name": "tiny",
    "nodes": [
        {"id": "input", "type": "Input", "config": {"shape": [1, 28, 28]}, "inputs": []},
        {
            "id": "conv1",
            "type": "Conv2D",
            "config": {"filters": 4, "kernel_size": [3, 3]},
            "inputs": ["input"],
        },
        {"id": "relu1", "type": "ReLU", "config": {}, "inputs": ["conv1"]},
        {"id": "pool1", "type": "MaxPool2D", "config": {"pool_size": [2, 2]}, "inputs": ["relu1"]},
        {"id": "flat", "type": "Flatten", "config": {}, "inputs": ["pool1"]},
        {"id": "fc", "type": "Dense", "config": {"units": 10}, "inputs": ["flat"]},
        {"id": "out", "type": "Softmax", "config": {}, "inputs": ["fc"]},
    ],
}


def tiny_split(n_train: int = 200, n_test: int = 100) -> DatasetSplit:
    """Every 20th built-in training digit (balanced classes) and a slice of the test part."""
    full = load_builtin()
    train = full.train.subset(np.linspace(0, len(full.train) - 1, n_train).astype(int))
    test = full.test.subset(np.linspace(0, len(full.test) - 1, n_test).astype(int))
    return DatasetSplit(train=train, test=test)


def tiny_project(**settings) -> Project:
    project = Project()
    project.set_graph(Graph.from_architecture(TINY_ARCH))
    project.set_dataset(DatasetChoice(), tiny_split())
    base = {"epochs": 2, "batch_size": 32, "val_split": 0.2, "optimizer": "adam", "lr": 0.003}
    base.update(settings)
    project.set_train_settings(base)
    return project


def tiny_context(**settings) -> AppContext:
    context = AppContext()
    context.project = tiny_project(**settings)
    return context
