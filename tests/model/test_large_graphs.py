"""Opening and editing a graph of tens of thousands of blocks stays linear; a network over
the engine's size limits is a problem shown by inference, not an allocation."""

from __future__ import annotations

import time

import pytest

from cnnstudio.model.compile import compile_network, graph_to_architecture
from cnnstudio.model.errors import GraphError
from cnnstudio.model.graph import Graph
from tests.timing import best_seconds


def node(nid, type_, inputs, **config):
    return {"id": nid, "type": type_, "config": config, "inputs": inputs}


def relu_chain(n):
    """Input 1@2x2, n ReLU, Flatten, Dense, softmax Output; no canvas positions (laid out)."""
    nodes = [node("in", "Input", [], shape=[1, 2, 2])]
    nodes += [node(f"r{k}", "ReLU", [f"r{k - 1}" if k else "in"]) for k in range(n)]
    nodes += [
        node("flat", "Flatten", [f"r{n - 1}"]),
        node("fc", "Dense", ["flat"], units=3),
        node("out", "Softmax", ["fc"]),
    ]
    return {"format": "cnnstudio-architecture", "version": 1, "name": "long", "nodes": nodes}


def shortcuts(n):
    """n Add blocks, each joining the Input to the previous one: n long wires."""
    nodes = [node("in", "Input", [], shape=[1, 2, 2]), node("a0", "ReLU", ["in"])]
    nodes += [node(f"a{k}", "Add", ["in", f"a{k - 1}"]) for k in range(1, n)]
    nodes += [
        node("flat", "Flatten", [f"a{n - 1}"]),
        node("fc", "Dense", ["flat"], units=3),
        node("out", "Softmax", ["fc"]),
    ]
    return {"format": "cnnstudio-architecture", "version": 1, "nodes": nodes}


def _assert_linear(fn, small, large):
    ratio = best_seconds(fn, large) / best_seconds(fn, small)
    grows = large / small
    assert ratio < 2 * grows, f"{grows:.0f}x the blocks took {ratio:.1f}x the time"


def test_opening_and_compiling_a_long_chain_is_linear():
    # Shape inference rebuilt the set of ordered blocks for every block: quadratic.
    _assert_linear(lambda n: Graph.from_architecture(relu_chain(n)), 3_000, 12_000)
    start = time.perf_counter()
    g = Graph.from_architecture(relu_chain(30_000))
    net = compile_network(g)
    assert time.perf_counter() - start < 30
    assert g.inference.is_valid and g.info("fc").output_shape == (3,)
    assert g.block("r29999").position[1] > g.block("r0").position[1]
    assert len(net.layers) == 30_004


def test_saving_copying_clearing_and_undoing_a_long_chain_are_linear():
    def edit(n):
        g = Graph.from_architecture(relu_chain(n))
        arch = graph_to_architecture(g)  # was one scan of all links per block
        g.copy(list(g.blocks))  # was one set of the selection per block
        removed = g.clear()  # was one list search per link
        g.restore(removed)  # was one list insertion per block
        assert graph_to_architecture(g) == arch

    _assert_linear(edit, 3_000, 12_000)


def test_laying_out_many_long_wires_is_bounded():
    # Every Add links back to the Input: one placeholder per row crossed made rows x links.
    _assert_linear(lambda n: Graph.from_architecture(shortcuts(n)), 1_000, 4_000)
    g = Graph.from_architecture(shortcuts(4_000))
    assert g.inference.is_valid
    assert len({b.position for b in g.blocks.values()}) == len(g)


def test_a_network_over_the_engine_size_limits_is_an_inference_problem():
    g = Graph()
    g.set_input_shape((512, 1024, 1024))
    g.add_block("Input")
    for block in ("Flatten", "Dense", "Output"):
        g.append_block(block)
    info = g.inference
    assert not info.is_valid
    assert "too large" in info.reason and "Dense 1" in info.reason
    assert "34,359,738,432 weights" in info.reason
    with pytest.raises(GraphError, match="too large"):
        compile_network(g)  # refused by inference: nothing is allocated
    g.set_input_shape((1, 28, 28))
    assert g.inference.is_valid


def test_a_damaged_node_in_a_file_gives_a_short_message():
    from cnnstudio.model.errors import ArchitectureFileError

    arch = relu_chain(3)
    arch["nodes"][2] = list(range(100_000))
    with pytest.raises(ArchitectureFileError, match="node #3 must be an object") as err:
        Graph.from_architecture(arch)
    assert len(str(err.value)) < 300


def _long_loop(n):
    arch = relu_chain(n)
    arch["nodes"][1]["inputs"] = [f"r{n - 1}"]  # r0 reads the last ReLU: a loop of n blocks
    return arch


def test_a_loop_through_thousands_of_blocks_is_one_short_message():
    # Each block of the loop got its own copy of a message naming every block of the loop:
    # n^2 characters (9 GB for 30,000 blocks).
    _assert_linear(lambda n: Graph.from_architecture(_long_loop(n)), 2_000, 8_000)
    g = Graph.from_architecture(_long_loop(8_000))
    loop = g.info("r0").error
    assert loop.startswith("is part of a loop (ReLU → ReLU → ") and "… 7994 more …" in loop
    assert len(loop) < 300 and g.info("r5000").error == loop
