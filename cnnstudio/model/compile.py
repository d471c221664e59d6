"""Compiling: a graph the user built becomes an engine ``Network``.

:func:`compile_network` is a graph's way to a network: the graph's architecture dict
(``model.architecture.graph_to_architecture``), then ``Network.from_architecture``. The
command line's ``train`` and the self-test call it; the Train view takes the same two
steps in turn, the dict when it checks the graph (``ui/train/train_settings.py``,
``graph_state``) and the network in ``model.session.make_job``.
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
