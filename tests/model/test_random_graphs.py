"""Random networks: whenever inference calls a graph valid, the engine builds it with the
same shapes and parameters; whenever it calls it invalid, it says which block and why."""

from __future__ import annotations

import random

import pytest

from cnnstudio.model import BLOCK_SPECS, Graph, GraphError, ParamError, compile_network

SPATIAL = ["Conv2D", "ReLU", "LeakyReLU", "PReLU", "Tanh", "MaxPool2D", "AvgPool2D", "BatchNorm"]


def _random_params(block_type, rng):
    if block_type == "Conv2D":
        return {
            "filters": rng.randint(1, 4),
            "kernel_size": (rng.randint(1, 5), rng.randint(1, 5)),
            "stride": rng.randint(1, 2),
            "padding": rng.choice([0, 1, 2, "same", "valid", (1, 0)]),
        }
    if block_type in ("MaxPool2D", "AvgPool2D"):
        return {
            "pool_size": rng.randint(1, 3),
            "stride": rng.choice([None, 1, 2]),
            "padding": rng.choice([0, 0, 1, "same"]),
        }
    return None


def _random_graph(rng) -> Graph:
    g = Graph()
    g.set_input_shape((rng.choice([1, 3]), rng.randint(5, 14), rng.randint(5, 14)))
    g.add_block("Input")
    for _ in range(rng.randint(1, 7)):
        block_type = rng.choice(SPATIAL)
        start = g.last_block().id
        g.append_block(block_type, _random_params(block_type, rng))
        if rng.random() < 0.25:  # a branch around the block just added
            merge = rng.choice(["Add", "Concatenate"])
            end = g.last_block().id
            g.append_block(merge)
            g.connect(start, g.last_block().id)
            assert end in {lk.source for lk in g.inputs_of(g.last_block().id)}
    if rng.random() < 0.85:
        g.append_block("Flatten")
        g.append_block("Dropout", {"rate": 0.3})
    g.append_block("Dense", {"units": rng.randint(1, 4)})
    if rng.random() < 0.9:
        g.append_block("Output")
    if rng.random() < 0.15:  # an unusual edit on top
        try:
            g.append_block(rng.choice(list(BLOCK_SPECS)), after=rng.choice(list(g.blocks)))
        except (GraphError, ParamError):
            pass
    return g


@pytest.mark.parametrize("seed", range(80))
def test_inference_agrees_with_the_engine_on_random_graphs(seed):
    g = _random_graph(random.Random(seed))
    info = g.inference
    if info.is_valid:
        net = compile_network(g)
        for summary in net.layer_summaries():
            assert summary["output_shape"] == g.info(summary["name"]).output_shape
            assert summary["params"] == g.info(summary["name"]).params
    else:
        assert info.reason and all(msg for _, msg in info.problems)
        assert all(bid is None or bid in g.blocks for bid, _ in info.problems)
    arch = g.to_architecture()
    assert Graph.from_architecture(arch).to_architecture() == arch


def test_the_random_networks_cover_both_outcomes():
    valid = [_random_graph(random.Random(seed)).inference.is_valid for seed in range(80)]
    assert 20 <= sum(valid) <= 70
