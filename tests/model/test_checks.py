"""Shape inference: the reference notes' numbers and every invalid case, in plain words."""

from __future__ import annotations

from cnnstudio.model import Graph, format_shape
from tests.model.conftest import chain


def _net(shape=(1, 28, 28), *items) -> Graph:
    g = Graph()
    g.set_input_shape(shape)
    with g.batch():
        g.add_block("Input")
        chain(g, *items)
    return g


def test_reference_notes_example_padding_1_gives_26_and_padding_0_gives_24():
    # 001: a 28x28x3 input and a 5x5x3 kernel, padding 1, stride 1 -> (28 + 2 - 5)/1 + 1 = 26
    g = _net((3, 28, 28), ("Conv2D", {"filters": 6, "kernel_size": 5, "padding": 1}))
    info = g.info("conv1")
    assert info.shape_text == "6@26x26"
    assert info.formula[0] == "height: (28 + 2·1 − 5)/1 + 1 = 26"
    assert info.params == 6 * 3 * 5 * 5 + 6
    g.set_param("conv1", "padding", 0)
    assert g.info("conv1").shape_text == "6@24x24"
    g.set_param("conv1", "padding", "valid")
    assert g.info("conv1").shape_text == "6@24x24"


def test_lenet_shapes_and_total_in_the_notes_notation(lenet):
    texts = [lenet.info(b).shape_text for b in lenet.blocks]
    assert texts == [
        "1@28x28", "6@28x28", "6@28x28", "6@14x14", "16@10x10", "16@10x10", "16@5x5",
        "400", "120", "120", "84", "84", "10", "10",
    ]  # fmt: skip
    assert lenet.inference.total_params == 156 + 2416 + 48120 + 10164 + 850
    assert lenet.inference.total_params_text == "61,706"
    assert lenet.inference.is_valid and lenet.inference.reason is None
    assert lenet.inference.warnings == []


def test_flatten_of_100_channels_of_2x2_is_400():
    g = _net((100, 2, 2), "Flatten")
    assert g.info("flatten1").shape_text == "400"


def test_format_shape():
    assert format_shape((6, 28, 28)) == "6@28x28"
    assert format_shape((120,)) == "120"
    assert format_shape(None) == "?"


def test_stride_2_and_same_padding():
    g = _net(
        (1, 28, 28), ("Conv2D", {"filters": 4, "kernel_size": 3, "stride": 2, "padding": "same"})
    )
    assert g.info("conv1").shape_text == "4@14x14"
    assert "ceil(28/2) = 14" in g.info("conv1").formula[0]


def test_kernel_larger_than_input_is_an_error_on_that_block_with_the_numbers():
    g = _net((1, 4, 4), ("Conv2D", {"kernel_size": 5}), "ReLU", "Flatten", "Dense", "Output")
    info = g.info("conv1")
    assert info.error == "kernel 5x5 does not fit the 4x4 input; output size (4+2·0−5)/1+1 < 1"
    assert info.output_shape is None
    assert g.info("relu1").errors == ()  # downstream blocks wait, they are not blamed
    assert g.info("relu1").shape_text == "?"
    assert not g.inference.is_valid
    assert g.inference.reason.startswith("Convolution 1: kernel 5x5 does not fit")


def test_pool_larger_than_padded_input():
    g = _net(
        (1, 28, 28), ("Conv2D", {"kernel_size": 11, "stride": 8}), ("MaxPool2D", {"pool_size": 4})
    )
    # conv: (28-11)/8+1 = 3.125 -> 3 (warning); pool 4x4 on 3x3 cannot fit
    assert g.info("conv1").shape_text == "8@3x3"
    assert g.info("maxpool1").error == (
        "pool window 4x4 does not fit the 3x3 input; output size (3+2·0−4)/4+1 < 1"
    )


def test_pool_padding_must_stay_below_the_pool_size():
    g = _net((1, 8, 8), ("MaxPool2D", {"pool_size": 2, "padding": 2}))
    assert "padding 2x2 must be smaller than the pool size 2x2" in g.info("maxpool1").error


def test_fractional_output_size_is_a_warning_naming_the_numbers():
    g = _net(
        (1, 28, 28),
        ("Conv2D", {"kernel_size": 5, "stride": 2}),
        "Flatten",
        ("Dense", {"units": 10}),
        "Output",
    )
    info = g.info("conv1")
    assert info.shape_text == "8@12x12"
    assert info.errors == ()
    assert info.warnings[0] == (
        "output height (28+2·0−5)/2+1 = 12.5 is not a whole number; it is rounded down to 12, "
        "so the last 1 row of the padded input is not covered"
    )
    assert "last 1 column" in info.warnings[1]
    assert "= 12.5, rounded down to 12" in info.formula[0]
    assert g.inference.is_valid  # such networks still train
    assert [bid for bid, _ in g.inference.warnings] == ["conv1", "conv1"]


def test_5x5_map_pooled_by_2_warns_but_trains():
    g = _net((16, 5, 5), "MaxPool2D", "Flatten", ("Dense", {"units": 2}), "Output")
    assert g.info("maxpool1").shape_text == "16@2x2"
    assert "rounded down to 2" in g.info("maxpool1").warnings[0]
    assert g.inference.is_valid


def test_dense_on_an_image_asks_for_flatten():
    g = _net((1, 28, 28), "Conv2D", ("Dense", {"units": 10}), "Output")
    assert (
        g.info("dense1").error == "needs a vector but gets 8@26x26; add a Flatten block before it"
    )


def test_convolution_after_flatten_is_explained():
    g = _net((1, 28, 28), "Flatten", "Conv2D")
    assert g.info("conv1").error == (
        "needs an image (channels@height x width) but gets a vector of 784; convolution must "
        "come before Flatten"
    )


def test_cycle_loaded_from_a_file_is_flagged_on_each_block_in_it():
    arch = {
        "nodes": [
            {"id": "in", "type": "Input", "config": {"shape": [1, 8, 8]}, "inputs": []},
            {"id": "add", "type": "Add", "config": {}, "inputs": ["in", "relu"]},
            {"id": "relu", "type": "ReLU", "config": {}, "inputs": ["add"]},
            {"id": "flat", "type": "Flatten", "config": {}, "inputs": ["relu"]},
            {"id": "out", "type": "Softmax", "config": {}, "inputs": ["flat"]},
        ]
    }
    g = Graph.from_architecture(arch)
    for bid in ("add", "relu"):
        assert g.info(bid).error == (
            "is part of a loop (Add → ReLU → Add); data must flow one way, from the Input to "
            "the Output"
        )
    assert g.info("flat").errors == ()
    assert not g.inference.is_valid


def test_dangling_branch_is_flagged_where_it_ends():
    g = _net((1, 8, 8), "Flatten", ("Dense", {"units": 3}), "Output")
    g.append_block("ReLU", after="flatten1")
    g.append_block("Tanh", after="relu1")
    assert g.info("tanh1").error == (
        "this branch ends here without reaching the Output; connect it onward or delete it"
    )
    assert g.info("relu1").errors == ()
    assert [bid for bid, _ in g.inference.problems] == ["tanh1"]


def test_block_not_reachable_from_the_input():
    g = _net((1, 8, 8), "Flatten", ("Dense", {"units": 3}), "Output")
    g.add_block("ReLU")
    g.add_block("Tanh")
    g.connect("relu1", "tanh1")
    assert g.info("relu1").error == "has no input; connect a block above it"
    assert g.info("tanh1").shape_text == "?"


def test_add_with_mismatched_shapes_lists_them():
    g = _net((1, 8, 8), ("Conv2D", {"filters": 4, "padding": 1}))
    g.append_block("Conv2D", {"filters": 2, "padding": 1}, after="input1")
    g.add_block("Add")
    g.connect("conv1", "add1")
    g.connect("conv2", "add1")
    assert g.info("add1").error == (
        "Add needs inputs of the same shape, but gets 4@8x8 (from Convolution 1) and "
        "2@8x8 (from Convolution 2)"
    )
    g.set_param("conv2", "filters", 4)
    assert g.info("add1").shape_text == "4@8x8"
    assert not any("same shape" in e for e in g.info("add1").errors)


def test_add_with_a_single_input():
    g = _net((1, 8, 8), "Add")
    assert "joins two or more branches but has only one input" in g.info("add1").error


def test_concatenate_needs_equal_height_and_width():
    g = _net((1, 8, 8), ("Conv2D", {"filters": 4, "padding": 1}))
    g.append_block("MaxPool2D", after="input1")
    g.add_block("Concatenate")
    g.connect("conv1", "concat1")
    g.connect("maxpool1", "concat1")
    assert g.info("concat1").error == (
        "Concatenate stacks channels, so its inputs need the same height and width, but gets "
        "4@8x8 (from Convolution 1) and 1@4x4 (from Max pooling 1)"
    )
    g.set_param("maxpool1", "stride", 1)
    g.set_param("maxpool1", "padding", "same")
    assert g.info("concat1").shape_text == "5@8x8"


def test_no_input_several_inputs_and_empty():
    assert Graph().inference.reason == "The network is empty; start with an Input block"
    g = Graph()
    chain(g, "Flatten", "Output")
    assert (None, "there is no Input block; add one at the top of the network") in (
        g.inference.problems
    )
    g2 = _net((1, 8, 8), "Flatten", ("Dense", {"units": 2}), "Output")
    g2.add_block("Input")
    message = "one of 2 Input blocks (Input 1, Input 2); a network has exactly one Input"
    assert g2.info("input2").error.startswith(message)
    assert g2.info("input1").error.startswith(message)


def test_no_output_is_flagged_on_the_last_block():
    g = _net((1, 8, 8), "Flatten", ("Dense", {"units": 2}))
    assert g.info("dense1").error == (
        "the network does not end in an Output block; add an Output block after this one"
    )
    assert g.inference.reason.startswith("Dense 1: the network does not end in an Output")


def test_blocks_after_the_output():
    g = _net((1, 8, 8), "Flatten", ("Dense", {"units": 2}), "Output", "ReLU", "Tanh")
    assert g.info("relu1").error == (
        "comes after the Output block (Output 1); the Output must be the last block"
    )
    assert g.info("tanh1").errors == ()  # one message is enough


def test_output_needs_a_vector_and_matching_classes():
    g = _net((1, 8, 8), "Conv2D", "Output")
    assert g.info("output1").error.startswith("needs a vector of class scores but gets 8@6x6")
    g2 = _net((1, 8, 8), "Flatten", ("Dense", {"units": 8}), "Output")
    g2.set_num_classes(10)
    assert g2.info("output1").error == (
        "the network gives 8 class scores but the dataset has 10 classes; set the last Dense "
        "block to 10 units"
    )
    g2.set_param("dense1", "units", 10)
    assert g2.inference.is_valid


def test_sigmoid_output_for_two_classes():
    g = _net((1, 8, 8), "Flatten", ("Dense", {"units": 2}), ("Output", {"activation": "sigmoid"}))
    assert "needs exactly 1 unit before it, but gets 2" in g.info("output1").error
    g.set_param("dense1", "units", 1)
    assert g.inference.is_valid
    g.set_num_classes(10)
    assert "the sigmoid output is for 2 classes, but the dataset has 10" in g.info("output1").error


def test_total_params_count_every_block(lenet):
    assert lenet.inference.total_params == sum(lenet.info(b).params for b in lenet.blocks)
    assert lenet.info("conv2").params_text == "2,416"
