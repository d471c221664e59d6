"""The Learn view in Qt (offscreen): editing, stepping, animating, presets, Explain."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6.QtWidgets")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt

from cnnstudio.model.learn import CONV_PRESETS, conv2d
from cnnstudio.ui.context import AppContext
from cnnstudio.ui.learn import QtLearnView
from cnnstudio.ui.learn.qt_learn_view import LESSONS


@pytest.fixture
def view(qtbot):
    context = AppContext()
    v = QtLearnView(context)
    qtbot.addWidget(v)
    v.resize(1040, 740)
    v.show()
    qtbot.waitExposed(v)
    yield v
    v.stop_animations()
    v.close()


def _output_values(view) -> np.ndarray:
    return view.conv.output_grid.values()


def test_explain_on_a_canvas_block_opens_the_lab_preset_to_it(qtbot):
    from cnnstudio.ui import main_window

    win = main_window.MainWindow(restore_layout=False)
    qtbot.addWidget(win)
    assert isinstance(win.view("learn"), QtLearnView)
    win.show_view("build")
    from cnnstudio.ui.canvas.qt_inspector import explain_spec

    # The first conv block of LeNet-5 on the canvas, changed to 3x3 / stride 2 / pad 1,
    # as the inspector's Explain button sends it.
    graph = win.context.project.graph
    conv = next(b for b in graph.blocks.values() if b.type == "Conv2D")
    graph.set_params(conv.id, {"kernel_size": (3, 3), "stride": (2, 2), "padding": (1, 1)})
    build = win.view("build")
    build.inspector.explain_clicked.emit(explain_spec("Conv2D", graph.block(conv.id).params))
    assert win.current_view_key() == "learn"
    learn = win.view("learn")
    assert learn.current_lesson() == "conv"
    assert learn.conv.lab.stride == (2, 2)
    win.close()


def test_every_lesson_has_a_title_and_explanation(view, qtbot):
    from PySide6.QtWidgets import QLabel

    assert [view.lesson_list.item(i).text() for i in range(view.lesson_list.count())] == [
        t for _, t in LESSONS
    ]
    for key, title in LESSONS:
        view.show_lesson(key)
        lesson = view.lesson(key)
        texts = [w.text() for w in lesson.findChildren(QLabel, "lessonText")]
        assert texts and len(texts[0]) > 80, key
        heads = [w.text() for w in lesson.findChildren(QLabel, "lessonTitle")]
        assert heads and title.split()[0] in heads[0]


def test_presets_show_the_notes_results(view, qtbot):
    conv = view.conv
    conv.load_preset("notes-3x3")
    conv.stepper.all_button.click()
    np.testing.assert_allclose(_output_values(view), [[4, 4], [4, 3]])
    conv.load_preset("notes-relu-pool")
    conv.show_all()
    np.testing.assert_allclose(_output_values(view), CONV_PRESETS["notes-relu-pool"].expected)
    # Lesson 3 takes the conv output, lesson 4 pools the ReLU output to 5.
    view.activation.take_from_conv.click()
    np.testing.assert_allclose(view.activation.after_grid.values(), [[2, 0], [3, 5]])
    view.pooling.example_combo.setCurrentIndex(1)
    view.pooling.example_combo.activated.emit(1)
    view.pooling.show_all()
    assert view.pooling.output_grid.values().tolist() == [[5.0]]
    assert "max(2, 0, 3, 5) = 5" in view.pooling.window_label.text()
    conv.load_preset("notes-half-kernel")
    conv.step()
    assert "0.5·in1 + 0.5·in2 + 0.5·in6 + 0.5·in7 = 4.25" in conv.arithmetic_label.text()
    conv.step()
    assert "0.5·in2 + 0.5·in3 + 0.5·in7 + 0.5·in8 = 2.5" in conv.arithmetic_label.text()


def test_stepping_fills_the_output_with_the_engine_values(view, qtbot):
    conv = view.conv
    conv.load_preset("notes-half-kernel")
    conv.p_rows.setValue(1)
    conv.s_cols.setValue(2)
    n = conv.lab.n_positions()
    assert np.isnan(_output_values(view)).all()
    for _ in range(n):
        conv.stepper.step_button.click()
    assert (conv.lab.stride, conv.lab.padding) == ((1, 2), (1, 0))
    expected = conv2d(conv.lab.input[None], conv.lab.kernel[None, None], None, (1, 2), (1, 0))[0]
    np.testing.assert_allclose(_output_values(view), expected)
    assert conv.output_caption.text() == f"Output {expected.shape[0]}x{expected.shape[1]}"


def test_editing_a_kernel_cell_updates_the_output(view, qtbot):
    conv = view.conv
    conv.load_preset("notes-3x3")
    conv.show_all()
    before = _output_values(view)
    grid = conv.kernel_grid
    editor = grid.open_editor(0, 1)
    qtbot.keyClicks(editor, "2")  # replaces the selected "0.5"
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert conv.lab.kernel[0, 1] == 2
    after = _output_values(view)
    # Each output cell gains 1.5 times the input value under the top-right weight.
    np.testing.assert_allclose(after - before, 1.5 * conv.lab.input[0:2, 1:3])


def test_double_click_opens_the_cell_editor(view, qtbot):
    conv = view.conv
    view.show_lesson("conv")
    grid = conv.input_grid
    rect = grid.cell_rect(0, 0)
    qtbot.mouseDClick(grid, Qt.MouseButton.LeftButton, pos=rect.center())
    assert grid._editor is not None
    grid._editor.setText("7")
    grid._editor.editingFinished.emit()
    assert conv.lab.input[0, 0] == 7


def test_step_and_animate_move_the_highlight(view, qtbot):
    conv = view.conv
    view.show_lesson("conv")
    conv.load_preset("notes-half-kernel")
    assert conv.input_grid.highlight() is None
    conv.stepper.step_button.click()
    assert conv.input_grid.highlight() == (0, 0, 2, 2)
    assert conv.output_grid.marked() == {(0, 0)}
    conv.stepper.speed.setValue(10)
    conv.play()
    assert conv.is_playing()
    qtbot.waitUntil(lambda: conv.lab.position >= 3, timeout=5000)
    top, left, _, _ = conv.input_grid.highlight()
    assert (top, left) != (0, 0)
    conv.stepper.play_button.click()  # pause
    assert not conv.is_playing()


def test_animation_stops_at_the_end_and_on_hide(view, qtbot):
    conv = view.conv
    view.show_lesson("conv")
    conv.load_preset("notes-3x3")
    conv.stepper.speed.setValue(10)
    conv.play()
    qtbot.waitUntil(lambda: not conv.is_playing(), timeout=5000)
    assert conv.lab.position == 3
    assert not np.isnan(_output_values(view)).any()
    conv.play()  # restarts from the beginning
    assert conv.is_playing()
    view.hide()
    assert not conv.is_playing()


def test_formula_card_shows_26_24_and_flags_fractions(view, qtbot):
    conv = view.conv
    conv.lab.set_input(np.zeros((12, 12)))
    conv.lab.set_kernel(np.ones((5, 5)))
    conv.refresh()
    conv.p_rows.setValue(1)
    assert "(12 + 2·1 − 5) / 1 + 1 = 10" in conv.formula_label.text()
    # The notes' case (28/5/1/1) in the card's calculator (the grid stops at 12x12).
    spins = conv.calc_spins
    assert [spins[k].value() for k in "IKPS"] == [28, 5, 1, 1]
    assert "(28 + 2·1 − 5) / 1 + 1 = 26" in conv.calc_label.text()
    spins["P"].setValue(0)
    assert "(28 + 2·0 − 5) / 1 + 1 = 24" in conv.calc_label.text()
    spins["S"].setValue(2)
    assert "12.5" in conv.calc_label.text() and "rounded down to 12" in conv.calc_label.text()
    spins["K"].setValue(40)
    assert "does not fit" in conv.calc_label.text()
    conv.refresh()
    conv.p_rows.setValue(0)
    conv.s_rows.setValue(2)  # (12 - 5)/2 + 1 = 4.5
    assert "4.5" in conv.formula_label.text()
    assert not conv.formula_note.isHidden()
    assert "rounded down to 4" in conv.formula_note.text()
    assert conv.lab.output().shape == (4, 8)


def test_flip_toggle_gives_the_flipped_result(view, qtbot):
    conv = view.conv
    conv.lab.set_input(np.arange(9, dtype=float).reshape(3, 3))
    conv.lab.set_kernel([[1, 2], [0, 0]])
    conv.show_all()
    plain = _output_values(view)
    conv.flip_check.setChecked(True)
    conv.show_all()
    flipped = _output_values(view)
    expected = conv2d(conv.lab.input[None], np.array([[[[0, 0], [2, 1]]]]))[0]
    np.testing.assert_allclose(flipped, expected)
    assert not np.allclose(plain, flipped)
    assert "Flipped" in conv.flip_label.text()
    assert "Frameworks slide the kernel as it is" in conv.flip_label.text()


def test_kernel_too_big_shows_a_message_not_a_crash(view, qtbot):
    conv = view.conv
    conv.load_preset("notes-3x3")
    conv.k_rows.setValue(5)
    assert "does not fit" in conv.arithmetic_label.text()
    assert "does not fit" in conv.formula_note.text()
    conv.p_rows.setValue(1)
    assert conv.lab.fits()


def test_explain_requested_presets_kernel_stride_padding(view, qtbot):
    view.show_lesson("flatten")
    view.context.explain_requested.emit(
        {"type": "Conv2D", "kernel_size": [5, 5], "stride": [1, 1], "padding": [1, 1]}
    )
    assert view.current_lesson() == "conv"
    conv = view.conv
    assert conv.lab.kernel.shape == (5, 5)
    assert (conv.k_rows.value(), conv.k_cols.value()) == (5, 5)
    assert (conv.p_rows.value(), conv.p_cols.value()) == (1, 1)
    assert conv.lab.stride == (1, 1)
    assert conv.banner.isVisibleTo(conv) and "5x5" in conv.banner.text()
    view.context.explain_requested.emit(
        {"type": "MaxPool2D", "pool_size": [3, 3], "stride": [2, 2]}
    )
    assert view.current_lesson() == "pool"
    assert view.pooling.lab.size == (3, 3) and view.pooling.lab.stride == (2, 2)
    assert view.pooling.size_spin.value() == 3
    view.context.explain_requested.emit({"type": "Sigmoid"})
    assert view.current_lesson() == "activation"
    assert view.activation.function() == "Sigmoid"


def test_explain_for_an_unknown_block_reports_in_the_status(view, qtbot):
    with qtbot.waitSignal(view.context.status_message) as blocker:
        view.context.explain_requested.emit({"type": "BatchNorm"})
    assert "no lesson" in blocker.args[0]


def test_use_my_drawing(view, qtbot):
    drawing = np.zeros((28, 28), dtype=np.float32)
    drawing[:, 10:14] = 1.0
    view.context.drawing_changed.emit(drawing)
    view.conv.use_my_drawing()
    assert view.conv.lab.input.shape == (12, 12)
    assert view.conv.lab.input[:, 4:6].min() > 0 and view.conv.lab.input[:, 0].max() == 0
    view.filters.use_my_drawing()
    assert view.filters.image.shape == (28, 28)
    assert "your drawing" in view.filters.image_caption.text()
    # The filters lesson follows the pad once it shows the drawing.
    view.context.drawing_changed.emit(np.ones((20, 20), dtype=np.float32))
    assert view.filters.image.shape == (20, 20)


def test_channels_lesson_sums_three_channels_per_filter(view, qtbot):
    ch = view.channels
    view.show_lesson("channels")
    ch.filters_spin.setValue(3)
    assert sum(g.isVisibleTo(ch) for g in ch.map_grids) == 3
    ch.map_grids[2].cell_clicked.emit(1, 1)
    out = ch.lab.output()
    assert ch.selected == (2, 1, 1)
    assert f"gives {out[2, 1, 1]:g}" in ch.arithmetic_label.text().replace(".0.", ".")
    ch.kernel_grids[0].edit_cell(0, 0, 5.0)
    assert ch.lab.weights[2, 0, 0, 0] == 5.0
    np.testing.assert_allclose(ch.map_grids[2].values(), ch.lab.output()[2])


def test_activation_lesson_plots_the_current_value(view, qtbot):
    act = view.activation
    act.set_function("LeakyReLU")
    act.alpha_spin.setValue(0.5)
    act.before_grid.cell_clicked.emit(0, 0)  # value -3
    xs, ys = act.marker.getData()
    assert (xs[0], ys[0]) == (-3.0, -1.5)
    assert act.after_grid.values()[0, 0] == -1.5
    act.set_function("ReLU")
    assert act.after_grid.values()[0, 0] == 0


def test_pooling_lesson_steps_and_marks_the_maximum(view, qtbot):
    pool = view.pooling
    pool.example_combo.activated.emit(0)
    pool.stepper.step_button.click()
    assert pool.input_grid.highlight() == (0, 0, 2, 2)
    assert pool.input_grid.marked() == {(1, 1)}
    pool.stride_spin.setValue(1)  # overlapping windows
    assert "Overlapping" in pool.shapes_label.text()
    pool.show_all()
    np.testing.assert_array_equal(pool.output_grid.values(), pool.lab.output())
    assert pool.output_grid.values().shape == (3, 3)


def test_flatten_and_softmax_lesson(view, qtbot):
    fs = view.flatten
    assert "= <b>400</b>" in fs.big_label.text()
    fs.set_scores(np.array([0.0, 3.0, 1.0]))
    fs.true_combo.setCurrentIndex(1)
    p = fs.probabilities()
    assert p.sum() == pytest.approx(1.0)
    assert "Sum of all probabilities: <b>1.000</b>" in fs.softmax_label.text()
    assert f"{-np.log(p[1]):.3f}" in fs.softmax_label.text()
    fs.channels_spin.setValue(2)
    assert fs.flat_grid.values().shape == (1, 8)


def test_filters_and_conv1d_lessons(view, qtbot):
    filt = view.filters
    filt.set_filter("Blur (box)")
    fmap = filt.feature_map()
    assert fmap.shape == filt.image.shape
    assert fmap.max() <= filt.image.max() + 1e-6
    one_d = view.conv1d
    one_d.stepper.step_button.click()
    assert one_d.signal_grid.highlight() == (0, 0, 1, 3)
    assert "The engine gives 2" in one_d.arithmetic_label.text()
    one_d.stepper.all_button.click()
    np.testing.assert_allclose(one_d.output_grid.values()[0], one_d.output())


def test_numbers_render_as_text(qtbot):
    """Without a font Qt draws boxes silently: check that text really has width."""
    from PySide6.QtGui import QFontMetrics
    from PySide6.QtWidgets import QLabel

    label = QLabel("W")
    qtbot.addWidget(label)
    fm = QFontMetrics(label.font())
    assert fm.horizontalAdvance("WWWW") > fm.horizontalAdvance("iiii")
