"""Small helpers that write architecture dicts (docs/file-formats.md) for tests."""

from __future__ import annotations

from typing import Any


def chain(input_shape: tuple[int, ...], *layers: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """A chain architecture: Input, then each ``(type, config)`` fed by the one before.

    Node ids are the lower-cased type plus a running number (``conv2d1``, ``relu2``...).
    """
    nodes = [{"id": "input", "type": "Input", "config": {"shape": list(input_shape)}, "inputs": []}]
    for i, (kind, config) in enumerate(layers, start=1):
        nodes.append(
            {
                "id": f"{kind.lower()}{i}",
                "type": kind,
                "config": dict(config),
                "inputs": [nodes[-1]["id"]],
            }
        )
    return {"format": "cnnstudio-architecture", "version": 1, "nodes": nodes}


def lenet5(input_shape: tuple[int, int, int] = (1, 28, 28), classes: int = 10) -> dict[str, Any]:
    """LeNet-5 as the issues describe it (conv 6@5x5 pad 2 ... dense 10, softmax)."""
    return chain(
        input_shape,
        ("Conv2D", {"filters": 6, "kernel_size": 5, "padding": 2}),
        ("ReLU", {}),
        ("MaxPool2D", {"pool_size": 2}),
        ("Conv2D", {"filters": 16, "kernel_size": 5}),
        ("ReLU", {}),
        ("MaxPool2D", {"pool_size": 2}),
        ("Flatten", {}),
        ("Dense", {"units": 120}),
        ("ReLU", {}),
        ("Dense", {"units": 84}),
        ("ReLU", {}),
        ("Dense", {"units": classes}),
        ("Softmax", {}),
    )
