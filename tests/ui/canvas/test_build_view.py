"""The Build view as a user drives it: drops, wires, the inspector, undo, presets, files.

One file over 600 lines because the tests share one window fixture and read as one walk
through the view; each test stands alone.
"""

from __future__ import annotations

import itertools

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication, QSpinBox

from cnnstudio.model.graph import Graph, Link
from cnnstudio.model.presets import list_presets
from cnnstudio.model.project import Project
from cnnstudio.model.registry import GROUPS, blocks_in_group
from cnnstudio.ui.canvas.qt_palette import BLOCK_MIME_TYPE, block_type_from_mime

from .conftest import below, drop

LENET_ORDER = [
    "Input",
    "Conv2D",
    "ReLU",
    "MaxPool2D",
    "Conv2D",
    "ReLU",
    "MaxPool2D",
    "Flatten",
    "Dense",
    "ReLU",
    "Dense",
    "ReLU",
    "Dense",
    "Output",
]


def build_chain(view, types) -> list[str]:
    """Drop blocks one below the other, as a user building a chain would."""
    ids: list[str] = []
    pos = QPointF(0, 0)
    for block_type in types:
        before = set(view.graph.blocks)
        drop(view, block_type, pos)
        (new,) = set(view.graph.blocks) - before
        ids.append(new)
        pos = below(view, new)
    return ids


def overlapping(view) -> list[tuple[str, str]]:
    items = view.scene.block_items()
    return [
        (a, b)
        for (a, ia), (b, ib) in itertools.combinations(items.items(), 2)
        if ia.mapRectToScene(ia.body_rect()).intersects(ib.mapRectToScene(ib.body_rect()))
    ]


def test_palette_lists_every_block_by_group_with_icon_help_and_drag_payload(view):
    palette = view.block_palette
    tree = palette.tree
    groups = [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())]
    assert groups == [g for g in GROUPS if blocks_in_group(g)]
    for group_index, group in enumerate(groups):
        item = tree.topLevelItem(group_index)
        assert [item.child(i).text(0) for i in range(item.childCount())] == [
            spec.label for spec in blocks_in_group(group)
        ]
    for spec in (s for g in GROUPS for s in blocks_in_group(g)):
        entry = palette.item_for(spec.type)
        assert not entry.icon(0).isNull()
        assert spec.help.split(".")[0][:30] in entry.toolTip(0)
        mime = palette.mime_data(spec.type)
        assert mime.hasFormat(BLOCK_MIME_TYPE)
        assert block_type_from_mime(mime) == spec.type


def test_palette_filter_hides_blocks_that_do_not_match(view):
    palette = view.block_palette
    palette.filter_edit.setText("pool")
    visible = [t for t in palette.block_types() if not palette.item_for(t).isHidden()]
    assert visible == ["MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "GlobalMaxPool2D"]
    palette.filter_edit.clear()
    assert not any(palette.item_for(t).isHidden() for t in palette.block_types())


def test_dropping_blocks_below_the_last_appends_and_connects_them(view):
    drop(view, "Input", QPointF(0, 0))
    assert list(view.graph.blocks) == ["input1"]
    drop(view, "Conv2D", below(view, "input1", 1.5))
    drop(view, "ReLU", below(view, "conv1", 1.2))
    assert set(view.graph.links) == {Link("input1", "conv1"), Link("conv1", "relu1")}
    item = view.scene.block_item("conv1")
    assert item.shape_text == "8@26x26"
    assert item.params_text == "80 params"
    assert item.summary_text == "8 filters 3x3"
    # Appended blocks line up one row apart, never on top of each other.
    assert overlapping(view) == []
    assert view.scene.selected_block_ids() == ["relu1"]


def test_dropping_beside_the_network_places_an_unconnected_block(view):
    build_chain(view, ["Input", "Conv2D"])
    drop(view, "Dense", QPointF(500, 0))
    assert "dense1" in view.graph.blocks
    assert view.graph.inputs_of("dense1") == []
    assert view.scene.block_item("dense1").error  # "has no input" is shown on the block


def test_dropping_on_a_wire_inserts_the_block_there(view):
    build_chain(view, ["Input", "Conv2D", "Output"])
    wire = view.scene.link_item(Link("conv1", "output1"))
    middle = wire.path().pointAtPercent(0.5)
    # While dragging, the canvas says what the drop will do.
    assert view.describe_drop("ReLU", middle) == (
        "Drop to insert ReLU between Convolution 1 and Output 1"
    )
    assert view.describe_drop("ReLU", below(view, "output1")) == "Drop to add ReLU after Output 1"
    drop(view, "ReLU", wire.path().pointAtPercent(0.5))
    assert set(view.graph.links) == {
        Link("input1", "conv1"),
        Link("conv1", "relu1"),
        Link("relu1", "output1"),
    }
    assert overlapping(view) == []  # the blocks below moved down to make room
    ys = [view.graph.block(b).position[1] for b in ("conv1", "relu1", "output1")]
    assert ys == sorted(ys)


def test_delete_then_undo_and_redo_restore_the_model_exactly(view):
    assert view.load_preset("lenet5")
    before = view.graph.to_architecture()
    conv = next(b for b in view.graph.blocks.values() if b.type == "Conv2D").id
    view.scene.select_blocks([conv])
    view.delete_action.trigger()
    assert conv not in view.graph.blocks
    assert conv not in view.scene.block_items()
    after = view.graph.to_architecture()
    view.undo_stack.undo()
    assert view.graph.to_architecture() == before
    assert conv in view.scene.block_items()
    view.undo_stack.redo()
    assert view.graph.to_architecture() == after


def test_every_edit_undoes_and_redoes_to_the_same_model(view, qtbot):
    graph = view.graph
    snapshots = [graph.to_architecture()]

    def snap() -> None:
        snapshots.append(graph.to_architecture())

    for block_type in ["Input", "Conv2D", "MaxPool2D", "Flatten", "Dense", "Output"]:
        build_chain(view, [block_type]) if not graph.blocks else drop(
            view, block_type, below(view, list(graph.blocks)[-1], 1.3)
        )
        snap()
    drop(view, "ReLU", view.scene.link_item(Link("conv1", "maxpool1")).path().pointAtPercent(0.5))
    snap()
    view.set_param("conv1", "filters", 6)
    snap()
    view.set_param("conv1", "padding", "same")
    snap()
    view._on_move_finished({"dense1": graph.block("dense1").position}, {"dense1": (150.0, 420.0)})
    snap()
    view.scene.select_blocks(["maxpool1"])
    view.delete_action.trigger()
    snap()
    view.connect_blocks("relu1", "flatten1")
    snap()
    view.scene.select_blocks(["dense1", "output1"])
    view.copy_action.trigger()
    view.paste_action.trigger()
    snap()
    view.arrange_action.trigger()
    snap()
    n = view.undo_stack.count()
    assert n == len(snapshots) - 1
    for expected in reversed(snapshots[:-1]):
        view.undo_stack.undo()
        assert graph.to_architecture() == expected
        assert set(view.scene.block_items()) == set(graph.blocks)
        assert set(view.scene.link_items()) == set(graph.links)
    for expected in snapshots[1:]:
        view.undo_stack.redo()
        assert graph.to_architecture() == expected
        assert set(view.scene.link_items()) == set(graph.links)


def test_inspector_edits_update_the_shape_labels_and_formula(view):
    build_chain(view, ["Input", "Conv2D", "MaxPool2D"])
    view.scene.select_blocks(["conv1"])
    inspector = view.inspector
    assert inspector.block_id == "conv1"
    inspector.editor("filters").setValue(6)
    kernel = inspector.editor("kernel_size")
    kernel.h.setValue(5)  # the square lock moves the width too
    assert view.graph.block("conv1").params["kernel_size"] == (5, 5)
    assert view.scene.block_item("conv1").shape_text == "6@24x24"
    assert view.scene.block_item("maxpool1").shape_text == "6@12x12"
    assert view.scene.block_item("conv1").summary_text == "6 filters 5x5"
    padding = inspector.editor("padding")
    padding.h.setValue(2)
    assert view.scene.block_item("conv1").shape_text == "6@28x28"
    formula = inspector.formula_label.text()
    assert "(28 + 2·2 − 5) / 1 + 1 = <b>28</b>" in formula
    assert "6@28x28" in inspector.shape_label.text()
    # The reference notes' example: 28x28, 5x5 kernel, padding 1, stride 1 gives 26.
    padding.h.setValue(1)
    assert "(28 + 2·1 − 5) / 1 + 1 = <b>26</b>" in inspector.formula_label.text()
    # A stride that does not divide evenly: the card shows the fraction and the rounding.
    padding.h.setValue(0)
    inspector.editor("stride").h.setValue(2)
    assert "(28 + 2·0 − 5) / 2 + 1 = 12.5 → rounded down to <b>12</b>" in (
        inspector.formula_label.text()
    )
    assert view.scene.block_item("conv1").warning is not None


def test_scrubbing_a_spin_box_five_times_is_one_undo_step(view):
    build_chain(view, ["Input", "Conv2D"])
    view.scene.select_blocks(["conv1"])
    spin = view.inspector.editor("filters")
    assert isinstance(spin, QSpinBox)
    count = view.undo_stack.count()
    for _ in range(5):
        spin.stepUp()
    assert view.graph.block("conv1").params["filters"] == 13
    assert view.undo_stack.count() == count + 1
    view.undo_stack.undo()
    assert view.graph.block("conv1").params["filters"] == 8
    assert spin.value() == 8  # the inspector follows the model


def test_copy_paste_duplicates_blocks_and_their_wire(view):
    build_chain(view, ["Input", "Conv2D", "ReLU"])
    view.scene.select_blocks(["conv1", "relu1"])
    view.copy_action.trigger()
    new = view.paste()
    assert sorted(new) == ["conv2", "relu2"]
    assert Link("conv2", "relu2") in view.graph.links
    assert view.scene.selected_block_ids() == ["conv2", "relu2"]
    x1, y1 = view.graph.block("conv1").position
    x2, y2 = view.graph.block("conv2").position
    assert (x2, y2) != (x1, y1)
    view.undo_stack.undo()
    assert set(view.graph.blocks) == {"input1", "conv1", "relu1"}


def test_loading_a_preset_shows_a_valid_tidy_network_and_is_undoable(view):
    build_chain(view, ["Input", "Dense"])
    before = view.graph.to_architecture()
    assert view.load_preset("lenet5")
    graph = view.graph
    assert graph.name == "LeNet-5"
    assert graph.inference.is_valid
    assert set(view.scene.block_items()) == set(graph.blocks)
    assert overlapping(view) == []
    assert "Ready to train" in view.status_label.text()
    assert f"{graph.inference.total_params:,}" in view.status_label.text()
    shapes = [view.scene.block_item(b).shape_text for b in graph.blocks]
    assert "6@28x28" in shapes and "16@5x5" in shapes
    view.undo_stack.undo()
    assert view.graph.to_architecture() == before


@pytest.mark.parametrize("key", [info.key for info in list_presets()])
def test_every_preset_loads_valid_without_overlapping_blocks(view, key):
    assert view.load_preset(key)
    assert view.graph.inference.is_valid
    assert overlapping(view) == []
    assert set(view.scene.link_items()) == set(view.graph.links)


def test_an_impossible_setting_is_shown_on_the_block_that_causes_it(view):
    assert view.load_preset("lenet5")
    convs = [b.id for b in view.graph.blocks.values() if b.type == "Conv2D"]
    second = convs[1]
    view.scene.select_blocks([second])
    view.inspector.editor("kernel_size").h.setValue(11)  # 11x11 on a 14x14 map still fits
    view.set_param(second, "stride", (1, 1))
    pools = [b.id for b in view.graph.blocks.values() if b.type == "MaxPool2D"]
    view.set_param(pools[0], "pool_size", (4, 4))  # 28 -> 7; an 11x11 kernel cannot fit 7x7
    item = view.scene.block_item(second)
    assert item.error is not None and "does not fit" in item.error
    assert "11x11" in item.error
    assert item.shape_text == "?"
    others = [bid for bid in view.graph.blocks if bid != second]
    assert all(view.scene.block_item(b).error is None for b in others)
    assert not view.inspector.error_label.isHidden()
    assert "does not fit" in view.inspector.error_label.text()
    assert "Not ready" in view.status_label.text()
    assert "does not fit" in view.status_label.text()
    assert "&lt; 1" in view.inspector.formula_label.text()


def test_a_value_outside_the_limits_is_refused_with_a_message(view):
    build_chain(view, ["Input", "Conv2D"])
    count = view.undo_stack.count()
    assert not view.set_param("conv1", "filters", 0)
    assert view.undo_stack.count() == count
    assert "Filters" in view.status_label.text()


def test_wiring_port_to_port_builds_a_residual_branch(view):
    ids = build_chain(view, ["Input", "Conv2D", "ReLU", "Conv2D"])
    view.set_param("conv1", "padding", "same")
    view.set_param("conv2", "padding", "same")
    drop(view, "Add", below(view, "conv2"))
    scene = view.scene
    relu_out = scene.block_item("relu1").out_port
    scene.drag_wire(relu_out, scene.block_item("add1").in_port.scene_center())
    assert Link("relu1", "add1", 1) in view.graph.links
    assert view.scene.block_item("add1").shape_text == "8@28x28"
    # A wire the graph refuses is explained in plain words and leaves no undo entry.
    count = view.undo_stack.count()
    conv_in = scene.block_item("conv1").in_port.scene_center()
    scene.drag_wire(scene.block_item("add1").out_port, conv_in)
    assert view.undo_stack.count() == count
    assert "already has an input" in view.status_label.text()
    assert ids == ["input1", "conv1", "relu1", "conv2"]


def test_selecting_a_wire_and_deleting_it_disconnects(view):
    build_chain(view, ["Input", "Conv2D"])
    view.scene.link_item(Link("input1", "conv1")).setSelected(True)
    view.delete_action.trigger()
    assert view.graph.links == ()
    view.undo_stack.undo()
    assert view.graph.links == (Link("input1", "conv1"),)


def test_moving_blocks_with_the_mouse_is_one_command(view, qtbot):
    build_chain(view, ["Input", "Conv2D"])
    view.canvas.reset_zoom()
    item = view.scene.block_item("conv1")
    view.canvas.centerOn(item)
    start = view.canvas.mapFromScene(item.mapToScene(item.body_rect().center() + QPointF(0, 4)))
    end = start + QPointF(120, 60).toPoint()
    viewport = view.canvas.viewport()
    count = view.undo_stack.count()
    old = view.graph.block("conv1").position
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, 6):
        qtbot.mouseMove(viewport, start + (end - start) * step / 5)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)
    new = view.graph.block("conv1").position
    assert new != old
    assert view.undo_stack.count() == count + 1
    view.undo_stack.undo()
    assert view.graph.block("conv1").position == old
    assert view.scene.item_center(item) == old


def test_explain_sends_the_blocks_window_to_learn(view, qtbot):
    build_chain(view, ["Input", "Conv2D", "MaxPool2D"])
    view.set_param("conv1", "kernel_size", (5, 5))
    view.set_param("conv1", "padding", (2, 2))
    view.scene.select_blocks(["conv1"])
    with qtbot.waitSignal(view.context.explain_requested) as got:
        view.inspector.explain_button.click()
    assert got.args[0] == {
        "type": "Conv2D",
        "kernel_size": [5, 5],
        "stride": [1, 1],
        "padding": [2, 2],
    }
    view.scene.select_blocks(["maxpool1"])
    with qtbot.waitSignal(view.context.explain_requested) as got:
        view.inspector.explain_button.click()
    assert got.args[0]["pool_size"] == [2, 2]


def test_save_and_open_architecture_and_a_bad_file_is_explained(view, tmp_path):
    assert view.load_preset("lenet5")
    saved = view.graph.to_architecture()
    path = tmp_path / "lenet.json"
    assert view.save_architecture(path)
    view.scene.select_blocks(list(view.graph.blocks)[:3])
    view.delete_action.trigger()
    assert view.open_architecture(path)
    assert view.graph.to_architecture() == saved

    bad = tmp_path / "broken.json"
    bad.write_text("{not json", encoding="utf-8")
    assert not view.open_architecture(bad)
    assert view.error_box is not None and view.error_box.isVisible()
    assert "broken.json" in view.error_box.text()
    assert "JSON" in view.error_box.text()
    assert view.graph.to_architecture() == saved  # nothing changed
    view.error_box.close()


def test_a_new_graph_in_the_project_rebuilds_the_canvas_and_clears_undo(view):
    build_chain(view, ["Input", "Conv2D"])
    assert view.undo_stack.count() > 0
    graph = Graph("Other")
    graph.add_block("Input")
    view.project.set_graph(graph)
    assert view.graph is graph
    assert set(view.scene.block_items()) == {"input1"}
    assert view.undo_stack.count() == 0
    assert view.inspector.graph is graph


def test_edit_actions_and_docks_are_exposed_for_the_main_window(view):
    texts = [a.text().replace("&", "") for a in view.edit_actions()]
    for wanted in ("Cut", "Copy", "Paste", "Delete", "Select all", "Auto-arrange", "Zoom in"):
        assert wanted in texts
    assert set(view.dock_widgets()) == {"palette", "inspector"}
    build_chain(view, ["Input", "Conv2D"])
    view.select_all_action.trigger()
    assert view.scene.selected_block_ids() == ["input1", "conv1"]
    zoom = view.canvas.zoom()
    view.zoom_in_action.trigger()
    assert view.canvas.zoom() > zoom
    assert view.zoom_label.text() == f"{round(view.canvas.zoom() * 100)}%"


def test_project_without_context_project_gets_one(qtbot):
    from cnnstudio.ui.canvas.qt_build_view import QtBuildView
    from cnnstudio.ui.context import AppContext

    context = AppContext()
    build = QtBuildView(context)
    qtbot.addWidget(build)
    qtbot.addWidget(build.block_palette)
    qtbot.addWidget(build.inspector)
    assert isinstance(context.project, Project)
    assert build.graph is context.project.graph


def test_a_finished_edit_is_its_own_undo_step(view):
    build_chain(view, ["Input", "Conv2D", "ReLU"])
    view.scene.select_blocks(["conv1"])
    spin = view.inspector.editor("filters")
    spin.stepUp()
    spin.stepUp()
    spin.editingFinished.emit()  # the user pressed Enter / left the field
    count = view.undo_stack.count()
    spin.stepUp()
    assert view.undo_stack.count() == count + 1
    view.undo_stack.undo()
    assert view.graph.block("conv1").params["filters"] == 10
    # Picking another block ends the run too.
    view.scene.select_blocks(["relu1"])
    view.scene.select_blocks(["conv1"])
    view.inspector.editor("filters").stepUp()
    assert view.undo_stack.count() == count + 1


def test_pooling_stride_follows_the_pool_size_until_set(view):
    build_chain(view, ["Input", "MaxPool2D"])
    view.scene.select_blocks(["maxpool1"])
    stride = view.inspector.editor("stride")
    assert stride.none_box.isChecked()
    assert not stride.h.isEnabled()
    stride.none_box.setChecked(False)
    assert view.graph.block("maxpool1").params["stride"] == (2, 2)
    stride.h.setValue(1)
    assert view.scene.block_item("maxpool1").shape_text == "1@27x27"
    assert "stride 1" in view.scene.block_item("maxpool1").summary_text
    padding = view.inspector.editor("padding")
    padding.mode.setCurrentIndex(padding.mode.findData("same"))
    assert view.graph.block("maxpool1").params["padding"] == "same"
    assert not padding.h.isEnabled()


def test_choice_bool_and_float_editors_write_the_model(view):
    build_chain(view, ["Input", "Flatten", "Dense", "Dropout", "Output"])
    view.scene.select_blocks(["dense1"])
    init = view.inspector.editor("init")
    init.setCurrentIndex(init.findData("glorot"))
    view.inspector.editor("use_bias").setChecked(False)
    assert view.graph.block("dense1").params["init"] == "glorot"
    assert view.scene.block_item("dense1").params_text == "50,176 params"  # 784 * 64, no bias
    view.scene.select_blocks(["dropout1"])
    view.inspector.editor("rate").setValue(0.25)
    assert view.graph.block("dropout1").params["rate"] == 0.25
    assert view.scene.block_item("dropout1").summary_text == "rate 0.25"


def test_rubber_band_and_ctrl_click_select_several_blocks(view, qtbot):
    build_chain(view, ["Input", "Conv2D", "ReLU"])
    view.canvas.reset_zoom()
    view.canvas.centerOn(view.scene.block_item("conv1"))
    canvas, viewport = view.canvas, view.canvas.viewport()
    rect = (
        view.scene.block_item("input1")
        .sceneBoundingRect()
        .united(view.scene.block_item("conv1").sceneBoundingRect())
    )
    start = canvas.mapFromScene(rect.topLeft() + QPointF(-150, -20))
    end = canvas.mapFromScene(rect.bottomRight() + QPointF(-40, -5))
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, 5):
        qtbot.mouseMove(viewport, start + (end - start) * step / 4)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)
    assert view.scene.selected_block_ids() == ["input1", "conv1"]
    relu = view.scene.block_item("relu1")
    click = canvas.mapFromScene(relu.mapToScene(relu.body_rect().center()))
    qtbot.mouseClick(
        viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, click
    )
    assert view.scene.selected_block_ids() == ["input1", "conv1", "relu1"]
    assert view.inspector.title_label.text() == "3 blocks selected"


def test_ctrl_wheel_zooms_and_plain_wheel_does_not(view):
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QWheelEvent

    build_chain(view, ["Input"])
    canvas = view.canvas
    canvas.reset_zoom()
    centre = QPointF(canvas.viewport().rect().center())

    def wheel(modifiers) -> None:
        event = QWheelEvent(
            centre,
            QPointF(canvas.viewport().mapToGlobal(centre.toPoint())),
            QPoint(0, 0),
            QPoint(0, 120),
            Qt.MouseButton.NoButton,
            modifiers,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(canvas.viewport(), event)

    wheel(Qt.KeyboardModifier.NoModifier)
    assert canvas.zoom() == 1.0
    wheel(Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom() > 1.1
    assert view.zoom_label.text() == f"{round(canvas.zoom() * 100)}%"


def test_a_closed_view_stops_listening_to_the_model(qtbot):
    from PySide6.QtCore import QCoreApplication, QEvent

    from cnnstudio.ui.canvas.qt_build_view import QtBuildView
    from cnnstudio.ui.context import AppContext

    context = AppContext()
    context.project = Project()
    graph = context.project.graph
    baseline = len(graph.events.inference_changed)
    build = QtBuildView(context)
    build.append_block("Input")
    assert len(graph.events.inference_changed) > baseline
    build.deleteLater()
    for _ in range(3):
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert len(graph.events.inference_changed) == baseline
    graph.add_block("Conv2D")  # no view left to update, and nothing raises


def test_a_block_dropped_on_another_is_placed_beside_it(view):
    build_chain(view, ["Input", "Conv2D"])
    x, y = view.graph.block("conv1").position
    drop(view, "Dense", QPointF(x, y))
    assert view.graph.inputs_of("dense1") == []
    assert overlapping(view) == []


def test_renaming_a_block_in_the_inspector_is_undoable(view, qtbot):
    build_chain(view, ["Input", "Conv2D"])
    view.canvas.reset_zoom()
    item = view.scene.block_item("conv1")
    view.canvas.centerOn(item)
    where = view.canvas.mapFromScene(item.mapToScene(item.body_rect().center()))
    qtbot.mouseDClick(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert view.scene.selected_block_ids() == ["conv1"]
    assert view.inspector.name_edit.selectedText() == "Convolution 1"  # ready to type over
    view.inspector.name_edit.setText("edges")
    view.inspector.name_edit.editingFinished.emit()
    assert view.graph.block("conv1").label == "edges"
    assert view.scene.block_item("conv1").title_text == "edges"
    view.undo_stack.undo()
    assert view.scene.block_item("conv1").title_text == "Convolution 1"


def test_context_menu_offers_what_fits_the_spot(view):
    build_chain(view, ["Input", "Conv2D"])
    conv = QPointF(*view.graph.block("conv1").position)
    menu = view.context_menu(conv)
    texts = [a.text().replace("&", "") for a in menu.actions() if a.text()]
    assert "Delete" in texts and "Explain step by step in Learn" in texts
    assert view.scene.selected_block_ids() == ["conv1"]
    menu.deleteLater()
    wire = view.scene.link_item(Link("input1", "conv1")).path().pointAtPercent(0.5)
    menu = view.context_menu(wire)
    assert view.scene.selected_links() == [Link("input1", "conv1")]
    menu.deleteLater()
    menu = view.context_menu(QPointF(900, -400))
    assert "Paste" in [a.text().replace("&", "") for a in menu.actions()]
    menu.deleteLater()


def test_double_clicking_a_palette_entry_appends_the_block(view):
    palette = view.block_palette
    palette.tree.itemActivated.emit(palette.item_for("Input"), 0)
    palette.tree.itemActivated.emit(palette.item_for("Conv2D"), 0)
    palette.tree.itemActivated.emit(palette.item_for("ReLU"), 0)
    assert set(view.graph.links) == {Link("input1", "conv1"), Link("conv1", "relu1")}
    assert overlapping(view) == []


def test_inserting_on_a_skip_wire_keeps_clear_of_the_branch(view):
    assert view.load_preset("resnet_mini")
    add = next(b for b in view.graph.blocks.values() if b.type == "Add")
    skip = max(
        view.graph.inputs_of(add.id),
        key=lambda lk: add.position[1] - view.graph.block(lk.source).position[1],
    )
    wire = view.scene.link_item(skip)
    before = set(view.graph.blocks)
    drop(view, "Dropout", wire.path().pointAtPercent(0.5))
    (new,) = set(view.graph.blocks) - before
    assert {lk.target for lk in view.graph.outputs_of(skip.source)} >= {new}
    assert [lk.source for lk in view.graph.inputs_of(new)] == [skip.source]
    assert overlapping(view) == []
    assert view.graph.inference.is_valid


def test_delete_key_removes_the_selected_blocks_but_not_wires_caught_by_the_band(view, qtbot):
    build_chain(view, ["Input", "Conv2D", "ReLU", "Dense"])
    view.scene.select_blocks(["relu1"])
    # A rubber band over ReLU also catches the wires in and out of it and, here, one more.
    view.scene.link_item(Link("input1", "conv1")).setSelected(True)
    view.activateWindow()
    qtbot.waitActive(view)  # shortcuts only fire in the active window
    view.canvas.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is view.canvas)
    qtbot.keyClick(view.canvas.viewport(), Qt.Key.Key_Delete)
    assert "relu1" not in view.graph.blocks
    assert Link("input1", "conv1") in view.graph.links
    view.undo_button_action.trigger()  # the toolbar's Undo
    assert "relu1" in view.graph.blocks


def test_middle_drag_pans_the_canvas(view, qtbot):
    assert view.load_preset("lenet5")
    view.canvas.reset_zoom()
    viewport = view.canvas.viewport()
    bar = view.canvas.verticalScrollBar()
    before = bar.value()
    start = viewport.rect().center()
    end = start - QPointF(0, 120).toPoint()
    qtbot.mousePress(viewport, Qt.MouseButton.MiddleButton, pos=start)
    qtbot.mouseMove(viewport, end)
    qtbot.mouseRelease(viewport, Qt.MouseButton.MiddleButton, pos=end)
    assert bar.value() == before + 120  # dragging up moves the view down the network
    assert view.undo_stack.count() == 1  # panning is not an edit (only the preset is)
