"""Compiling: a graph the user built becomes an engine ``Network``.

:func:`compile_network` is the one way from a graph to a network: the Train view, the
command line's ``train`` and the self-test all go through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnstudio.engine.network import Network
from cnnstudio.model.architecture import graph_to_architecture
from cnnstudio.model.errors import GraphError

if TYPE_CHECKING:
    from cnnstudio.model.graph import Graph

__all__ = ["compile_network"]


def compile_network(graph: Graph, seed: int = 0) -> Network:
    """Build the engine ``Network`` of a valid graph, its weights drawn from ``seed``.

    Raises
    ------
    GraphError
        When inference finds a problem; the message is ``graph.inference.reason``.
    cnnstudio.engine.EngineError
        When the engine refuses what inference let through (a bad seed, say).
    """
    info = graph.inference
    if not info.is_valid:
        raise GraphError(f"the network cannot be built yet: {info.reason}")
    return Network.from_architecture(graph_to_architecture(graph), seed=seed)
