"""Helpers shared by the model tests."""

from __future__ import annotations

import pytest

from cnnstudio.model import Graph


class Recorder:
    """Connects to every signal of a Graph and records ``(signal name, args)``."""

    def __init__(self, graph: Graph) -> None:
        self.calls: list[tuple] = []
        for name in (
            "block_added",
            "block_removed",
            "block_changed",
            "block_moved",
            "link_added",
            "link_removed",
            "name_changed",
            "inference_changed",
        ):
            getattr(graph.events, name).connect(self._make(name))

    def _make(self, name):
        def record(*args):
            self.calls.append((name, *args))

        return record

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def clear(self) -> None:
        self.calls.clear()


@pytest.fixture
def lenet() -> Graph:
    """LeNet-5 on 1@28x28, built with append_block as a user would."""
    g = Graph("LeNet")
    g.set_input_shape((1, 28, 28))
    with g.batch():
        g.add_block("Input")
        for block_type, params in [
            ("Conv2D", {"filters": 6, "kernel_size": 5, "padding": 2}),
            ("ReLU", None),
            ("MaxPool2D", None),
            ("Conv2D", {"filters": 16, "kernel_size": 5}),
            ("ReLU", None),
            ("MaxPool2D", None),
            ("Flatten", None),
            ("Dense", {"units": 120}),
            ("ReLU", None),
            ("Dense", {"units": 84}),
            ("ReLU", None),
            ("Dense", {"units": 10}),
            ("Output", None),
        ]:
            g.append_block(block_type, params)
    return g


def chain(graph: Graph, *items) -> list[str]:
    """Append ``(type, params)`` items (or bare types) after the last block; return the ids."""
    ids = []
    for item in items:
        block_type, params = (item, None) if isinstance(item, str) else item
        ids.append(graph.append_block(block_type, params).id)
    return ids
