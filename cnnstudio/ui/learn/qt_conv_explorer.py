"""Lesson 1: the convolution explorer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.model.learn.base import MAX_INPUT, MAX_KERNEL, MAX_PADDING, fmt
from cnnstudio.model.learn.conv import ConvLab
from cnnstudio.model.learn.explain import ExplainPreset
from cnnstudio.model.learn.formula import output_size_formula
from cnnstudio.model.learn.images import downsample, sample_digit
from cnnstudio.model.learn.notes import CONV_PRESETS
from cnnstudio.ui.learn.qt_common import (
    QtStepper,
    block_signals,
    caption,
    card,
    fixed_height_area,
    lesson_header,
    spin,
    wrap_label,
)
from cnnstudio.ui.learn.qt_grid import QtNumberGrid

__all__ = ["QtConvExplorer"]

TEXT = (
    "A convolution slides a small grid of weights (the <i>kernel</i>) over the input. At each "
    "place it multiplies the numbers it covers by its weights and adds them up: that sum is one "
    "cell of the output, the <i>feature map</i>. The <i>stride</i> is how far the window jumps, "
    "the <i>padding</i> a ring of zeros added around the input. Double-click any cell to change "
    "it, then press Step or Play."
)

FLIP_TEXT = (
    "Frameworks slide the kernel as it is: the weights are learned anyway, so rotating them "
    "first would change nothing but cost time."
)


def _load_image_file(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L"), dtype=np.float32) / 255.0


class QtConvExplorer(QWidget):
    """Editable input and kernel, stride, padding, flip, stepping and the formula card.

    Signals
    -------
    output_changed(object)
        The engine's output (OH, OW) after any change, for the next lessons.
    """

    output_changed = Signal(object)

    def __init__(
        self,
        drawing: Callable[[], np.ndarray | None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.lab = ConvLab()
        self._drawing = drawing or (lambda: None)
        self.input_grid = QtNumberGrid(editable=True, min_cell=16, max_cell=58)
        # Small minimum cells: a 12x12 input with padding 3 is an 18x18 grid that must still
        # fit beside the kernel and the output at 1280x800.
        self.kernel_grid = QtNumberGrid(editable=True, min_cell=20, max_cell=58, tint="#8e24aa")
        self.output_grid = QtNumberGrid(min_cell=16, max_cell=58, tint="#2e7d32")

        root = QVBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        root.addWidget(lesson_header("1  Convolution", TEXT))
        self.banner = wrap_label()
        self.banner.setStyleSheet("background: #e8f1fb; border-radius: 4px; padding: 4px;")
        self.banner.hide()
        root.addWidget(self.banner)

        # -- settings ----------------------------------------------------------------
        controls = QGridLayout()
        controls.setHorizontalSpacing(6)
        self.preset_combo = QComboBox()
        self.preset_combo.addItem("Presets from the notes…", "")
        for key, preset in CONV_PRESETS.items():
            self.preset_combo.addItem(preset.title, key)
        self.load_button = QToolButton()
        self.load_button.setText("Input from…")
        self.load_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.load_button)
        menu.addAction("My drawing (Draw & Predict)", self.use_my_drawing)
        menu.addAction("A built-in digit", self.use_builtin_digit)
        menu.addAction("An image file…", self._use_image_file)
        menu.addAction("Random whole numbers", self.use_random)
        menu.addAction("All zeros", lambda: self._set_input(np.zeros_like(self.lab.input)))
        self.load_button.setMenu(menu)

        self.in_rows, self.in_cols = spin(1, MAX_INPUT, 3), spin(1, MAX_INPUT, 3)
        self.k_rows, self.k_cols = spin(1, MAX_KERNEL, 2), spin(1, MAX_KERNEL, 2)
        self.s_rows, self.s_cols = spin(1, MAX_INPUT, 1), spin(1, MAX_INPUT, 1)
        self.p_rows, self.p_cols = spin(0, MAX_PADDING, 0), spin(0, MAX_PADDING, 0)
        self.flip_check = QCheckBox("Flip the kernel (true convolution)")
        self.flip_check.setToolTip(FLIP_TEXT)

        def pair(label: str, a: QWidget, b: QWidget) -> QWidget:
            w = QWidget()
            lay = QHBoxLayout(w)
            lay.setContentsMargins(0, 0, 0, 0)
            lay.setSpacing(3)
            lay.addWidget(QLabel(label))
            lay.addWidget(a)
            lay.addWidget(QLabel("×"))
            lay.addWidget(b)
            return w

        controls.addWidget(self.preset_combo, 0, 0, 1, 2)
        controls.addWidget(self.load_button, 0, 2)
        controls.addWidget(self.flip_check, 0, 3, 1, 2)
        controls.addWidget(pair("Input", self.in_rows, self.in_cols), 1, 0)
        controls.addWidget(pair("Kernel", self.k_rows, self.k_cols), 1, 1)
        controls.addWidget(pair("Stride", self.s_rows, self.s_cols), 1, 2)
        controls.addWidget(pair("Padding", self.p_rows, self.p_cols), 1, 3)
        controls.setColumnStretch(4, 1)
        root.addLayout(controls)

        # -- grids -------------------------------------------------------------------
        grids = QGridLayout()
        grids.setHorizontalSpacing(10)
        self.input_caption = caption("Input")
        self.kernel_caption = caption("Kernel")
        self.output_caption = caption("Output")
        grids.addWidget(self.input_caption, 0, 0)
        grids.addWidget(self.kernel_caption, 0, 2)
        grids.addWidget(self.output_caption, 0, 4)
        grids.addWidget(self.input_grid, 1, 0)
        for col, sym in ((1, "∗"), (3, "=")):
            label = QLabel(sym)
            label.setStyleSheet("font-size: 20pt; color: #555;")
            grids.addWidget(label, 1, col, Qt.AlignmentFlag.AlignCenter)
        grids.addWidget(self.kernel_grid, 1, 2)
        grids.addWidget(self.output_grid, 1, 4)
        grids.setColumnStretch(0, 5)
        grids.setColumnStretch(2, 2)
        grids.setColumnStretch(4, 4)
        grids.setRowStretch(1, 1)
        self.legend = QLabel(
            "<span style='color:#9a7b1c'>■</span> zero padding   "
            "<span style='color:#d81b60'>■</span> the window (kernel weights in its corners)   "
            "<span style='color:#1b8a3a'>■</span> the output cell being computed"
        )
        grids.addWidget(self.legend, 2, 0, 1, 5)
        root.addLayout(grids, 1)

        self.stepper = QtStepper(self.step)
        root.addWidget(self.stepper)

        # -- arithmetic and formula ----------------------------------------------------
        bottom = QHBoxLayout()
        arith_card, arith_layout = card("This output cell")
        self.arithmetic_label = wrap_label()
        self.arithmetic_label.setMinimumHeight(60)
        arith_layout.addWidget(self.arithmetic_label)
        self.flip_label = wrap_label()
        self.flip_label.setStyleSheet("color: #444;")
        arith_layout.addWidget(self.flip_label)
        arith_layout.addStretch(1)
        formula_card, formula_layout = card("Output size = (I + 2P − K) / S + 1")
        self.formula_label = wrap_label()
        self.formula_note = wrap_label()
        self.formula_note.setStyleSheet("color: #a0420e;")
        formula_layout.addWidget(self.formula_label)
        formula_layout.addWidget(self.formula_note)
        # A calculator for sizes beyond the 12x12 grid, e.g. the notes' 28x28 example.
        calc = QHBoxLayout()
        calc.setSpacing(3)
        calc.addWidget(QLabel("Any numbers:"))
        self.calc_spins = {}
        for name, low, high, value in (
            ("I", 1, 4096, 28),
            ("K", 1, 99, 5),
            ("P", 0, 99, 1),
            ("S", 1, 99, 1),
        ):
            calc.addWidget(QLabel(name))
            box = spin(low, high, value)
            box.valueChanged.connect(lambda _v: self._refresh_calculator())
            self.calc_spins[name] = box
            calc.addWidget(box)
        calc.addStretch(1)
        formula_layout.addLayout(calc)
        self.calc_label = wrap_label()
        formula_layout.addWidget(self.calc_label)
        formula_layout.addStretch(1)
        bottom.addWidget(arith_card, 1)
        bottom.addWidget(formula_card, 1)
        root.addWidget(fixed_height_area(bottom, 190))

        # -- wiring ------------------------------------------------------------------
        self.preset_combo.activated.connect(self._on_preset_chosen)
        for box in (self.in_rows, self.in_cols):
            box.valueChanged.connect(self._on_input_size_changed)
        for box in (self.k_rows, self.k_cols):
            box.valueChanged.connect(self._on_kernel_size_changed)
        for box in (self.s_rows, self.s_cols):
            box.valueChanged.connect(self._on_stride_changed)
        for box in (self.p_rows, self.p_cols):
            box.valueChanged.connect(self._on_padding_changed)
        self.flip_check.toggled.connect(self._on_flip_changed)
        self.input_grid.cell_edited.connect(self._on_input_cell_edited)
        self.kernel_grid.cell_edited.connect(self._on_kernel_cell_edited)
        self.output_grid.cell_clicked.connect(self._on_output_cell_clicked)
        self.stepper.back.connect(self.step_back)
        self.stepper.reset.connect(self.reset_steps)
        self.stepper.finish.connect(self.show_all)
        self._refresh_calculator()
        self.refresh()

    # -- public ------------------------------------------------------------------------
    def load_preset(self, key: str) -> None:
        self.stop()
        self.lab.load_preset(key)
        self.banner.setText(CONV_PRESETS[key].note)
        self.banner.setVisible(bool(CONV_PRESETS[key].note))
        self.refresh()

    def apply_explain(self, preset: ExplainPreset) -> None:
        """Set kernel size, stride and padding from a Build block (``explain_requested``)."""
        self.stop()
        kh, kw = preset.kernel
        # A vertical-edge pattern: something to look at that is the block's size.
        cols = np.round(np.linspace(-1, 1, kw), 2) if kw > 1 else np.ones(1)
        self.lab.set_kernel(np.tile(cols, (kh, 1)))
        self.lab.set_stride(preset.stride)
        self.lab.set_padding(preset.padding)
        drawing = self._drawing()
        image = drawing if drawing is not None else sample_digit(7)[0]
        self.lab.set_input(downsample(image, MAX_INPUT, MAX_INPUT))
        self.lab.set_flip(False)
        notes = "".join(f"<br>{n}" for n in preset.notes)
        self.banner.setText(f"<b>{preset.caption}</b>{notes}")
        self.banner.show()
        self.refresh()

    def step(self) -> bool:
        moved = self.lab.step()
        self.refresh(emit=False)
        return moved

    def step_back(self) -> None:
        self.lab.step_back()
        self.refresh(emit=False)

    def reset_steps(self) -> None:
        self.lab.reset_steps()
        self.refresh(emit=False)

    def show_all(self) -> None:
        self.lab.finish()
        self.refresh(emit=False)

    def play(self) -> None:
        if self.lab.position + 1 >= self.lab.n_positions():
            self.lab.reset_steps()
        self.stepper.play()

    def stop(self) -> None:
        self.stepper.stop()

    def is_playing(self) -> bool:
        return self.stepper.is_playing()

    def use_my_drawing(self) -> None:
        drawing = self._drawing()
        if drawing is None:
            image, what = sample_digit(3)
            self.banner.setText(
                f"No drawing yet (draw one in Draw &amp; Predict); showing {what} instead."
            )
        else:
            image = drawing
            self.banner.setText("Your drawing, averaged down to 12x12 (values 0 to 1).")
        self.banner.show()
        self._set_input(downsample(image, MAX_INPUT, MAX_INPUT))

    def use_builtin_digit(self) -> None:
        image, what = sample_digit(int(np.random.default_rng().integers(10)))
        self.banner.setText(f"{what[0].upper() + what[1:]}, averaged down to 12x12.")
        self.banner.show()
        self._set_input(downsample(image, MAX_INPUT, MAX_INPUT))

    def use_random(self) -> None:
        rng = np.random.default_rng()
        self._set_input(rng.integers(0, 5, size=self.lab.input.shape).astype(np.float64))

    def _use_image_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Input from an image", str(Path.home()), "Images (*.png *.jpg *.jpeg *.bmp *.gif)"
        )
        if not path:
            return
        try:
            image = _load_image_file(path)
        except (OSError, ValueError) as exc:
            self.banner.setText(f"Could not read {Path(path).name}: {exc}")
            self.banner.show()
            return
        self.banner.setText(f"{Path(path).name}, in gray, averaged down to 12x12.")
        self.banner.show()
        self._set_input(downsample(image, MAX_INPUT, MAX_INPUT))

    def _set_input(self, values: np.ndarray) -> None:
        self.stop()
        self.lab.set_input(values)
        self.refresh()

    # -- handlers ------------------------------------------------------------------------
    def _on_preset_chosen(self, index: int) -> None:
        key = self.preset_combo.itemData(index)
        if key:
            self.load_preset(key)
        with block_signals(self.preset_combo):
            self.preset_combo.setCurrentIndex(0)

    def _on_input_size_changed(self, _value: int) -> None:
        self.stop()
        self.lab.resize_input(self.in_rows.value(), self.in_cols.value())
        self.refresh()

    def _on_kernel_size_changed(self, _value: int) -> None:
        self.stop()
        self.lab.resize_kernel(self.k_rows.value(), self.k_cols.value())
        self.refresh()

    def _on_stride_changed(self, _value: int) -> None:
        self.stop()
        self.lab.set_stride((self.s_rows.value(), self.s_cols.value()))
        self.refresh()

    def _on_padding_changed(self, _value: int) -> None:
        self.stop()
        self.lab.set_padding((self.p_rows.value(), self.p_cols.value()))
        self.refresh()

    def _on_flip_changed(self, on: bool) -> None:
        self.lab.set_flip(on)
        self.refresh()

    def _on_input_cell_edited(self, row: int, col: int, value: float) -> None:
        self.lab.set_input_cell(row, col, value)
        self.refresh()

    def _on_kernel_cell_edited(self, row: int, col: int, value: float) -> None:
        self.lab.set_kernel_cell(row, col, value)
        self.refresh()

    def _on_output_cell_clicked(self, row: int, col: int) -> None:
        # Jump the step position to the clicked cell (cells before it are shown too).
        self.stop()
        ow = self.lab.output_shape()[1]
        self.lab.position = row * ow + col
        self.refresh(emit=False)

    # -- drawing ---------------------------------------------------------------------------
    def refresh(self, emit: bool = True) -> None:
        lab = self.lab
        with block_signals(
            self.in_rows,
            self.in_cols,
            self.k_rows,
            self.k_cols,
            self.s_rows,
            self.s_cols,
            self.p_rows,
            self.p_cols,
            self.flip_check,
        ):
            self.in_rows.setValue(lab.input.shape[0])
            self.in_cols.setValue(lab.input.shape[1])
            self.k_rows.setValue(lab.kernel.shape[0])
            self.k_cols.setValue(lab.kernel.shape[1])
            self.s_rows.setValue(lab.stride[0])
            self.s_cols.setValue(lab.stride[1])
            self.p_rows.setValue(lab.padding[0])
            self.p_cols.setValue(lab.padding[1])
            self.flip_check.setChecked(lab.flip)
        h, w = lab.input.shape
        kh, kw = lab.kernel.shape
        self.input_grid.set_values(lab.input)
        self.input_grid.set_padding(*lab.padding)
        self.kernel_grid.set_values(lab.kernel)
        self.input_caption.setText(
            f"Input {h}x{w}"
            + (f" + padding {lab.padding[0]}x{lab.padding[1]}" if any(lab.padding) else "")
        )
        self.kernel_caption.setText(
            f"Kernel {kh}x{kw}" + (" (flipped when used)" if lab.flip else "")
        )
        fh, fw = lab.formulas()
        self._show_formula(fh, fw)
        self.flip_label.setText(
            (
                "<b>Flipped:</b> the kernel is rotated 180° before it slides (true convolution). "
                if lab.flip
                else "<b>Not flipped</b> (cross-correlation). "
            )
            + FLIP_TEXT
        )
        if not lab.fits():
            self.output_grid.set_values(np.full((1, 1), np.nan))
            self.output_grid.set_marked([])
            self.input_grid.set_highlight(None)
            self.output_caption.setText("Output: none")
            self.arithmetic_label.setText(
                "<span style='color:#a0420e'>The kernel does not fit: make it smaller, or add "
                "padding.</span>"
            )
            return
        out = lab.output()
        self.output_grid.set_values(lab.revealed_output())
        self.output_caption.setText(f"Output {out.shape[0]}x{out.shape[1]}")
        current = lab.current()
        if current is None:
            self.input_grid.set_highlight(None)
            self.output_grid.set_marked([])
            self.arithmetic_label.setText(
                f"Press <b>Step ▶</b> to place the {kh}x{kw} window on the input, or "
                "<b>Show all</b> to fill the whole output. Click an output cell to see its sum."
            )
        else:
            cell = lab.cell(*current)
            # Long sums (big kernels) in a smaller type so more of them fit.
            size = "11pt" if len(cell.terms) <= 12 else "9pt"
            self.input_grid.set_highlight(cell.window, lab.used_kernel())
            self.output_grid.set_marked([current])
            r, c = current
            self.arithmetic_label.setText(
                f"out[{r + 1},{c + 1}] (step {lab.position + 1} of {lab.n_positions()}), "
                f"input cells numbered row by row from 1:<br>"
                f"<span style='font-size:{size}'>{cell.symbolic()}</span><br>"
                f"<span style='font-size:{size}'>{cell.numeric()}</span>"
                f"<br><span style='color:#555'>The engine's Conv2D gives "
                f"{fmt(out[r, c])}.</span>"
            )
        if emit:
            self.output_changed.emit(out)

    def _refresh_calculator(self) -> None:
        v = {k: box.value() for k, box in self.calc_spins.items()}
        f = output_size_formula(v["I"], v["K"], v["S"], v["P"])
        extra = ""
        if f.error:
            extra = f"<br><span style='color:#a0420e'>{f.error}</span>"
        elif f.note:
            extra = f"<br><span style='color:#a0420e'>{f.note}</span>"
        if (v["I"], v["K"], v["P"], v["S"]) == (28, 5, 1, 1):
            extra += (
                "<br><span style='color:#555'>The reference notes print 24 for this case; "
                "24 is the answer with P = 0.</span>"
            )
        self.calc_label.setText(f"<b>{f.text}</b>{extra}")

    def _show_formula(self, fh: object, fw: object) -> None:
        lines, notes = [], []
        for axis, f in (("Height", fh), ("Width", fw)):
            lines.append(f"{axis}: {f.text}")  # type: ignore[attr-defined]
            if f.error:  # type: ignore[attr-defined]
                notes.append(f"{axis}: {f.error}")  # type: ignore[attr-defined]
            elif f.note:  # type: ignore[attr-defined]
                notes.append(f"{axis}: {f.note}")  # type: ignore[attr-defined]
        self.formula_label.setText("<br>".join(lines))
        self.formula_note.setText("<br>".join(notes))
        self.formula_note.setVisible(bool(notes))

    def hideEvent(self, event: object) -> None:
        self.stop()
        super().hideEvent(event)  # type: ignore[arg-type]
