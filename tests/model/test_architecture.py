"""Reading an architecture builds the graph through its public methods, and the graph
module and its readers do not import each other."""

from __future__ import annotations

import grimp

from cnnstudio.model import Graph, load_preset
from cnnstudio.model.architecture import read_into
from tests.model.conftest import Recorder


def test_reading_adds_every_block_and_link_as_an_edit_would_and_infers_once():
    arch = load_preset("resnet_mini").to_architecture()
    graph = Graph()
    calls = Recorder(graph).calls
    read_into(graph, arch)
    names = [c[0] for c in calls]
    assert names.count("block_added") == len(arch["nodes"])
    assert names.count("link_added") == sum(len(n["inputs"]) for n in arch["nodes"])
    assert names.count("inference_changed") == 1 and names[-1] == "inference_changed"
    assert graph.to_architecture() == arch


def test_a_file_may_hold_what_an_edit_refuses_and_inference_says_so():
    # A loop and a link into the Input cannot be drawn, but a file holding them opens so
    # the user can fix it on the canvas.
    arch = load_preset("mlp").to_architecture()
    ids = [n["id"] for n in arch["nodes"]]
    arch["nodes"][0]["inputs"] = [ids[2]]
    graph = Graph.from_architecture(arch)
    assert graph.link_between(ids[2], ids[0]) is not None
    assert "loop" in graph.info(ids[0]).error and "loop" in graph.info(ids[1]).error
    arch["nodes"][0]["inputs"] = []
    arch["nodes"].append({"id": "extra", "type": "ReLU", "inputs": [], "config": {}})
    arch["nodes"][0]["inputs"] = ["extra"]
    graph = Graph.from_architecture(arch)
    assert graph.link_between("extra", ids[0]) is not None
    assert graph.info(ids[0]).errors == (
        "the Input block takes no inputs; remove the link into it",
    )


def test_the_graph_and_the_modules_reading_it_do_not_import_each_other():
    # compile.py wrote the graph's private members and imported graph.py, which imported
    # compile.py back (lazily) for to_architecture and from_architecture.
    imports = grimp.build_graph("cnnstudio", exclude_type_checking_imports=True)
    for reader in ("cnnstudio.model.architecture", "cnnstudio.model.compile"):
        assert not imports.chain_exists(reader, "cnnstudio.model.graph"), reader
