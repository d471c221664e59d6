"""Graph edits, the signals they emit, and their inverses (what undo relies on)."""

from __future__ import annotations

import pytest

from cnnstudio.model import Graph, GraphError, Link, ParamError
from cnnstudio.model.graph import BLOCK_HEIGHT, BLOCK_WIDTH, ROW_SPACING
from tests.model.conftest import Recorder, chain


def test_add_block_emits_added_then_inference_and_gets_defaults():
    g = Graph()
    rec = Recorder(g)
    block = g.add_block("Conv2D", position=(10, 20))
    assert rec.names() == ["block_added", "inference_changed"]
    assert rec.calls[0][1] is block
    assert block.id == "conv1" and block.label == "Convolution 1"
    assert block.params["kernel_size"] == (3, 3) and block.params["padding"] == (0, 0)
    assert block.position == (10.0, 20.0)
    assert g.add_block("Conv2D").id == "conv2"


def test_add_block_rejects_unknown_type_bad_id_and_duplicate_id():
    g = Graph()
    with pytest.raises(GraphError, match="unknown block type 'Conv3D'"):
        g.add_block("Conv3D")
    with pytest.raises(GraphError, match="not allowed"):
        g.add_block("ReLU", block_id="has space")
    g.add_block("ReLU", block_id="r")
    with pytest.raises(GraphError, match="already a block 'r'"):
        g.add_block("ReLU", block_id="r")
    with pytest.raises(ParamError, match="Filters must be between 1 and 512, got 0"):
        g.add_block("Conv2D", {"filters": 0})
    assert list(g.blocks) == ["r"]


def test_connect_emits_link_added_and_updates_shapes(lenet):
    g = Graph()
    a = g.add_block("Input")
    b = g.add_block("Conv2D", {"filters": 6, "kernel_size": 5})
    rec = Recorder(g)
    assert g.info(b.id).output_shape is None
    link = g.connect(a.id, b.id)
    assert rec.names() == ["link_added", "inference_changed"]
    assert rec.calls[0][1] == link == Link(a.id, b.id, 0)
    assert g.info(b.id).shape_text == "6@24x24"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda g: g.connect("conv1", "conv1"), "cannot feed itself"),
        (lambda g: g.connect("conv1", "input1"), "Input block takes no inputs"),
        (lambda g: g.connect("input1", "conv1"), "already connected to Convolution 1"),
        (lambda g: g.connect("relu1", "conv1"), "already has an input \\(from Input 1\\)"),
        (lambda g: g.connect("relu1", "input9"), "no block 'input9'"),
        (
            lambda g: g.connect("relu1", "add1") and g.connect("relu1", "conv1"),
            "already has an input",
        ),
    ],
)
def test_connect_refuses_impossible_links_in_plain_words(make, message):
    g = Graph()
    g.add_block("Input")
    g.add_block("Conv2D")
    g.add_block("ReLU")
    g.add_block("Add")
    g.connect("input1", "conv1")
    g.connect("conv1", "relu1")
    links = g.links
    with pytest.raises(GraphError, match=message):
        make(g)
    assert g.links[: len(links)] == links


def test_connect_refuses_a_cycle_and_names_the_loop():
    g = Graph()
    g.add_block("Input")
    chain(g, "Add", "ReLU", "Conv2D")
    links = g.links
    loop = r"would make a loop \(Convolution 1 → Add 1 → ReLU 1 → Convolution 1\)"
    with pytest.raises(GraphError, match=loop):
        g.connect("conv1", "add1")
    assert g.can_connect("conv1", "add1") is not None
    assert g.can_connect("relu1", "add1") is not None  # relu1 -> add1 -> relu1
    assert g.can_connect("input1", "conv1") is not None  # conv1 already fed
    assert g.links == links


def test_merge_inputs_keep_their_order_and_slots_are_exclusive():
    g = Graph()
    for t in ("Input", "ReLU", "Tanh", "Concatenate"):
        g.add_block(t)
    g.connect("input1", "relu1")
    g.connect("input1", "tanh1")
    second = g.connect("tanh1", "concat1", 1)
    first = g.connect("relu1", "concat1", 0)
    assert [lk.source for lk in g.inputs_of("concat1")] == ["relu1", "tanh1"]
    assert (first.index, second.index) == (0, 1)
    with pytest.raises(GraphError, match="input 1 of Concatenate 1 is already connected"):
        g.connect("input1", "concat1", 1)
    assert g.connect("input1", "concat1").index == 2


def test_disconnect_and_reconnect_round_trip(lenet):
    before = lenet.to_architecture()
    link = lenet.inputs_of("relu1")[0]
    rec = Recorder(lenet)
    lenet.disconnect(link)
    assert rec.names() == ["link_removed", "inference_changed"]
    assert lenet.info("relu1").error == "has no input; connect a block above it"
    lenet.connect(link.source, link.target, link.index)
    assert lenet.to_architecture() == before
    with pytest.raises(GraphError, match="no link"):
        lenet.disconnect(Link("conv1", "dense3"))


def test_remove_block_returns_a_record_that_restore_takes_back(lenet):
    before = lenet.to_architecture()
    rec = Recorder(lenet)
    removed = lenet.remove_block("maxpool1")
    assert rec.names() == ["link_removed", "link_removed", "block_removed", "inference_changed"]
    assert "maxpool1" not in lenet and removed.block_ids == ["maxpool1"]
    assert lenet.inference.is_valid is False
    rec.clear()
    lenet.restore(removed)
    assert rec.names() == ["block_added", "link_added", "link_added", "inference_changed"]
    assert lenet.to_architecture() == before
    assert lenet.inference.is_valid


def test_remove_several_blocks_and_clear_restore_exactly(lenet):
    before = lenet.to_architecture()
    removed = lenet.remove_blocks(["conv2", "relu1", "dense3"])
    assert len(lenet) == 11
    lenet.restore(removed)
    assert lenet.to_architecture() == before
    everything = lenet.clear()
    assert len(lenet) == 0 and lenet.links == ()
    assert lenet.inference.reason == "The network is empty; start with an Input block"
    lenet.restore(everything)
    assert lenet.to_architecture() == before
    with pytest.raises(GraphError, match="a block with that id exists"):
        lenet.restore(everything)


def test_insert_on_link_and_its_undo(lenet):
    before = lenet.to_architecture()
    link = lenet.inputs_of("relu1")[0]
    rec = Recorder(lenet)
    block = lenet.insert_on_link(link, "BatchNorm")
    assert rec.names().count("inference_changed") == 1
    assert [lk.source for lk in lenet.inputs_of(block.id)] == ["conv1"]
    assert [lk.source for lk in lenet.inputs_of("relu1")] == [block.id]
    assert lenet.info(block.id).shape_text == "6@28x28"
    assert lenet.info(block.id).params == 12
    x1, y1 = lenet.block("conv1").position
    x2, y2 = lenet.block("relu1").position
    assert block.position == ((x1 + x2) / 2, (y1 + y2) / 2)
    # undo as documented: remove it and put the original link back
    lenet.remove_block(block.id)
    lenet.connect(link.source, link.target, link.index)
    assert lenet.to_architecture() == before
    # redo with the same id gives the same graph as the first time
    again = lenet.insert_on_link(link, "BatchNorm", block_id=block.id)
    assert again.id == block.id


def test_insert_on_a_merge_input_keeps_the_slot():
    g = Graph()
    for t in ("Input", "ReLU", "Add"):
        g.add_block(t)
    g.connect("input1", "relu1")
    g.connect("input1", "add1", 0)
    skip = g.connect("relu1", "add1", 1)
    block = g.insert_on_link(skip, "Dropout")
    assert [(lk.source, lk.index) for lk in g.inputs_of("add1")] == [("input1", 0), (block.id, 1)]
    with pytest.raises(GraphError, match="takes no inputs"):
        g.insert_on_link(g.inputs_of("relu1")[0], "Input")


def test_append_block_connects_below_the_last_block():
    g = Graph()
    first = g.append_block("Input")
    assert first.position == (0.0, 0.0) and g.links == ()
    conv = g.append_block("Conv2D")
    assert g.inputs_of(conv.id) == [Link("input1", "conv1", 0)]
    assert conv.position == (0.0, ROW_SPACING)
    relu = g.append_block("ReLU", after="input1")  # a branch next to the conv
    assert g.inputs_of(relu.id)[0].source == "input1"
    # the lowest end of the graph is chosen when nothing is named
    g.move_block("relu1", (200, 300))
    assert g.inputs_of(g.append_block("Tanh").id)[0].source == "relu1"


def test_set_param_validates_stores_emits_and_reinfers(lenet):
    rec = Recorder(lenet)
    lenet.set_param("conv1", "filters", 8)
    assert rec.names() == ["block_changed", "inference_changed"]
    assert rec.calls[0][1:] == ("conv1", "filters")
    assert lenet.info("conv1").shape_text == "8@28x28"
    assert lenet.info("conv2").params == 16 * 8 * 25 + 16
    rec.clear()
    lenet.set_param("conv1", "filters", 8)  # unchanged: nothing to tell
    assert rec.calls == []
    with pytest.raises(ParamError, match="Kernel size must be between 1 and 11, got 13"):
        lenet.set_param("conv1", "kernel_size", 13)
    with pytest.raises(ParamError, match="has no parameter 'units'"):
        lenet.set_param("conv1", "units", 3)
    assert lenet.block("conv1").params["kernel_size"] == (5, 5)
    assert rec.calls == []
    lenet.set_param("conv1", "padding", "same")
    assert lenet.info("conv1").shape_text == "8@28x28"


def test_set_params_is_all_or_nothing(lenet):
    with pytest.raises(ParamError):
        lenet.set_params("conv1", {"filters": 4, "stride": 0})
    assert lenet.block("conv1").params["filters"] == 6


def test_set_label_and_move_emit_their_own_signals(lenet):
    rec = Recorder(lenet)
    lenet.set_label("conv1", "First conv")
    assert rec.calls[0] == ("block_changed", "conv1", "label")
    rec.clear()
    lenet.move_block("conv1", (5, 6))
    assert rec.calls == [("block_moved", "conv1", (5.0, 6.0))]  # positions never change shapes
    with pytest.raises(GraphError, match="finite"):
        lenet.move_block("conv1", (float("nan"), 0))
    lenet.set_label("conv1", "  ")
    assert lenet.block("conv1").label == "Convolution"


def test_set_input_shape_follows_the_dataset_and_is_remembered():
    g = Graph()
    g.set_input_shape((3, 32, 32))  # before there is an Input block
    g.add_block("Input")
    assert g.input_shape == (3, 32, 32)
    conv = g.append_block("Conv2D", {"filters": 6, "kernel_size": 5})
    assert g.info(conv.id).shape_text == "6@28x28"
    rec = Recorder(g)
    g.set_input_shape((1, 28, 28))
    assert rec.names() == [
        "block_changed",
        "block_changed",
        "block_changed",
        "inference_changed",
    ]
    assert g.info(conv.id).shape_text == "6@24x24"
    with pytest.raises(ParamError, match="channels, height, width"):
        g.set_input_shape((28, 28))


def test_batch_runs_inference_once():
    g = Graph()
    rec = Recorder(g)
    with g.batch():
        chain(g, "Input", "Conv2D", "ReLU")
    assert rec.names().count("inference_changed") == 1


def test_copy_and_paste_blocks_with_their_internal_links(lenet):
    data = lenet.copy(["conv2", "relu2", "maxpool2", "dense1"])
    assert {(lk["source"], lk["target"]) for lk in data["links"]} == {
        ("conv2", "relu2"),
        ("relu2", "maxpool2"),
    }
    rec = Recorder(lenet)
    pasted = lenet.paste(data, offset=(300, 0))
    assert [b.id for b in pasted] == ["conv3", "relu5", "maxpool3", "dense4"]
    assert [b.label for b in pasted][:2] == ["Convolution 3", "ReLU 5"]
    assert rec.names().count("inference_changed") == 1
    assert pasted[0].params == lenet.block("conv2").params
    x, y = lenet.block("conv2").position
    assert pasted[0].position == (x + 300, y)
    assert lenet.inputs_of("relu5") == [Link("conv3", "relu5", 0)]
    assert lenet.inputs_of("conv3") == []
    # undo of paste
    before_paste = {b for b in lenet.blocks if b not in {p.id for p in pasted}}
    lenet.remove_blocks([b.id for b in pasted])
    assert set(lenet.blocks) == before_paste
    with pytest.raises(GraphError, match="clipboard"):
        lenet.paste({"nodes": []})


def test_copy_is_json_and_survives_a_round_trip_through_text(lenet):
    import json

    data = json.loads(json.dumps(lenet.copy(["conv1", "relu1"])))
    pasted = lenet.paste(data)
    assert pasted[0].params["kernel_size"] == (5, 5)


def test_auto_arrange_gives_non_overlapping_rows_and_is_undoable(lenet):
    for k, bid in enumerate(lenet.blocks):
        lenet.move_block(bid, (0, 0) if k % 2 else (7, 7))
    before = lenet.to_architecture()
    old = lenet.auto_arrange()
    _assert_no_overlap(lenet)
    ys = [b.position[1] for b in lenet.blocks.values()]
    assert ys == sorted(ys)  # a chain reads top to bottom
    lenet.move_blocks(old)
    assert lenet.to_architecture() == before


def test_auto_arrange_puts_branches_side_by_side():
    g = Graph()
    chain(g, "Input", "ReLU")
    g.add_block("Tanh")
    g.add_block("Sigmoid")
    g.add_block("Add")
    g.connect("relu1", "tanh1")
    g.connect("relu1", "sigmoid1")
    g.connect("tanh1", "add1")
    g.connect("sigmoid1", "add1")
    g.auto_arrange()
    _assert_no_overlap(g)
    tanh, sig = g.block("tanh1").position, g.block("sigmoid1").position
    assert tanh[1] == sig[1] and tanh[0] < sig[0]
    assert g.block("add1").position[0] == pytest.approx((tanh[0] + sig[0]) / 2)


def _assert_no_overlap(graph):
    boxes = [b.position for b in graph.blocks.values()]
    for i, (x1, y1) in enumerate(boxes):
        for x2, y2 in boxes[i + 1 :]:
            assert abs(x1 - x2) >= BLOCK_WIDTH or abs(y1 - y2) >= BLOCK_HEIGHT


def test_set_architecture_replaces_everything_in_place(lenet):
    other = Graph()
    chain(other, "Input", "Flatten", ("Dense", {"units": 10}), "Output")
    arch = other.to_architecture()
    rec = Recorder(lenet)
    lenet.set_architecture(arch)
    assert rec.names().count("block_removed") == 14
    assert rec.names().count("block_added") == 4
    assert rec.names()[-1] == "inference_changed"
    assert lenet.to_architecture() == arch


def test_restore_refuses_a_record_whose_neighbours_are_gone(lenet):
    removed = lenet.remove_block("relu1")
    lenet.remove_block("conv1")
    with pytest.raises(GraphError, match="a block it joins is gone"):
        lenet.restore(removed)
    assert "relu1" not in lenet


def test_name_and_class_count():
    g = Graph()
    rec = Recorder(g)
    g.set_name("My net")
    assert rec.calls == [("name_changed", "My net")] and g.name == "My net"
    g.set_num_classes(10)
    assert g.num_classes == 10 and rec.names()[-1] == "inference_changed"
    with pytest.raises(ParamError, match="positive whole number"):
        g.set_num_classes(0)


def test_can_connect_says_yes_for_a_good_link():
    g = Graph()
    g.add_block("Input")
    g.add_block("Conv2D")
    assert g.can_connect("input1", "conv1") is None
    assert g.can_connect("conv1", "input1") == "the Input block takes no inputs"
