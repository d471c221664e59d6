"""The Properties dock: every hyperparameter of the selected block, its shape and its problems.

Edits leave as :attr:`QtBlockInspector.param_edited` signals (the build view turns
them into undoable commands); the widgets are refreshed from the graph's events with
their signals blocked, so nothing loops.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.model.checks import BlockInfo, format_shape
from cnnstudio.model.graph import Graph
from cnnstudio.model.registry import BlockSpec, ParamSpec
from cnnstudio.ui.canvas._signals import ModelConnections
from cnnstudio.ui.canvas.style import block_icon

__all__ = ["QtBlockInspector", "explain_spec", "formula_lines", "param_editor"]

_WINDOW_TYPES = ("Conv2D", "MaxPool2D", "AvgPool2D")


def explain_spec(block_type: str, params: dict[str, Any]) -> dict[str, Any]:
    """The ``explain_requested`` payload for a conv or pooling block's parameters."""
    pad = params.get("padding", (0, 0))
    window = params["kernel_size"] if block_type == "Conv2D" else params["pool_size"]
    if pad == "valid":
        pad = (0, 0)
    elif pad == "same":  # the padding that keeps the size at stride 1
        pad = ((window[0] - 1) // 2, (window[1] - 1) // 2)
    spec: dict[str, Any] = {"type": block_type}
    if block_type == "Conv2D":
        spec["kernel_size"] = list(params["kernel_size"])
        spec["stride"] = list(params["stride"])
    else:
        spec["pool_size"] = list(params["pool_size"])
        stride = params.get("stride") or params["pool_size"]
        spec["stride"] = list(stride)
    spec["padding"] = list(pad)
    return spec


def formula_lines(block_type: str, params: dict[str, Any], input_shape: tuple | None) -> list[str]:
    """``(I + 2P − K)/S + 1`` with the block's numbers, one line per axis (rich text)."""
    if input_shape is None or len(input_shape) != 3:
        return []
    _, h, w = input_shape
    k = params["kernel_size"] if block_type == "Conv2D" else params["pool_size"]
    s = params["stride"] if params.get("stride") is not None else params["pool_size"]
    pad = params["padding"]
    lines = []
    for axis, size, kk, ss, index in (("Height", h, k[0], s[0], 0), ("Width", w, k[1], s[1], 1)):
        if pad == "same":
            lines.append(f"{axis}: padding 'same' keeps ⌈{size} / {ss}⌉ = {-(-size // ss)}")
            continue
        p = 0 if pad == "valid" else pad[index]
        span = size + 2 * p - kk
        expr = f"({size} + 2·{p} − {kk}) / {ss} + 1"
        if span < 0:
            lines.append(f"{axis}: {expr} &lt; 1 — the window does not fit")
            continue
        exact = span / ss + 1
        out = span // ss + 1
        if span % ss:
            shown = f"{exact:.2f}".rstrip("0").rstrip(".")
            lines.append(f"{axis}: {expr} = {shown} → rounded down to <b>{out}</b>")
        else:
            lines.append(f"{axis}: {expr} = <b>{out}</b>")
    return lines


class _PairEditor(QWidget):
    """Height x width spin boxes, a square lock, and the pair's words / 'none' option."""

    value_changed = Signal(object)

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        layout = QHBoxLayout()
        layout.setSpacing(3)
        outer.addLayout(layout)
        self.mode: QComboBox | None = None
        #: The numbers shown while the value is None (a pool's stride: its pool size).
        self.fallback: tuple[int, int] | None = None
        self.none_box: QCheckBox | None = None
        if spec.choices:
            self.mode = QComboBox(self)
            self.mode.addItem("number", "custom")
            for word in spec.choices:
                self.mode.addItem(word, word)
            self.mode.setToolTip("A number of rows/columns, or 'same' / 'valid'")
            self.mode.currentIndexChanged.connect(self._emit)
            layout.addWidget(self.mode)
        self.h = self._spin()
        self.lock = QToolButton(self)
        self.lock.setFixedWidth(22)
        self.lock.setText("×")
        self.lock.setCheckable(True)
        self.lock.setChecked(True)
        self.lock.setAutoRaise(True)
        self.lock.setToolTip("Square: height and width move together (click to set them apart)")
        self.lock.toggled.connect(self._on_lock)
        self.w = self._spin()
        layout.addWidget(self.h)
        layout.addWidget(self.lock)
        layout.addWidget(self.w)
        layout.addStretch(1)
        if spec.allow_none:
            # On its own line: "same as pool size" is too long to sit beside the numbers.
            self.none_box = QCheckBox(spec.none_label or "default", self)
            self.none_box.toggled.connect(self._emit)
            outer.addWidget(self.none_box)
        self.h.valueChanged.connect(self._on_h)
        self.w.valueChanged.connect(self._emit)
        self._on_lock(True)

    def _spin(self) -> QSpinBox:
        spin = QSpinBox(self)
        spin.setRange(int(self.spec.min or 0), int(self.spec.max or 999))
        spin.setSingleStep(int(self.spec.step or 1))
        spin.setKeyboardTracking(False)
        spin.setAccelerated(False)
        spin.setMinimumWidth(44)
        return spin

    def _on_lock(self, locked: bool) -> None:
        self.lock.setText("=" if locked else "×")
        self.w.setEnabled(self._numbers_on() and not locked)
        if locked and self.w.value() != self.h.value():
            self.w.setValue(self.h.value())

    def _on_h(self, value: int) -> None:
        if self.lock.isChecked():
            self.w.blockSignals(True)
            self.w.setValue(value)
            self.w.blockSignals(False)
        self._emit()

    def _numbers_on(self) -> bool:
        if self.mode is not None and self.mode.currentData() != "custom":
            return False
        return not (self.none_box is not None and self.none_box.isChecked())

    def value(self) -> Any:
        if self.none_box is not None and self.none_box.isChecked():
            return None
        if self.mode is not None and self.mode.currentData() != "custom":
            return str(self.mode.currentData())
        return (self.h.value(), self.w.value())

    def set_value(self, value: Any) -> None:
        for widget in (self.h, self.w, self.lock, self.mode, self.none_box):
            if widget is not None:
                widget.blockSignals(True)
        try:
            if self.none_box is not None:
                self.none_box.setChecked(value is None)
            if self.mode is not None:
                self.mode.setCurrentIndex(
                    max(0, self.mode.findData(value if isinstance(value, str) else "custom"))
                )
            if value is None and self.fallback is not None:
                value = self.fallback  # show what "none" means, ready to be edited
            if isinstance(value, tuple):
                self.h.setValue(value[0])
                self.w.setValue(value[1])
                self.lock.setChecked(value[0] == value[1])
            self.lock.setText("=" if self.lock.isChecked() else "×")
            numbers = self._numbers_on()
            self.h.setEnabled(numbers)
            self.lock.setEnabled(numbers)
            self.w.setEnabled(numbers and not self.lock.isChecked())
        finally:
            for widget in (self.h, self.w, self.lock, self.mode, self.none_box):
                if widget is not None:
                    widget.blockSignals(False)

    def _emit(self, *_args: Any) -> None:
        numbers = self._numbers_on()
        self.h.setEnabled(numbers)
        self.lock.setEnabled(numbers)
        self.w.setEnabled(numbers and not self.lock.isChecked())
        self.value_changed.emit(self.value())


def param_editor(
    p: ParamSpec, emit: Callable[[Any], None], finished: Callable[[], None] | None = None
) -> tuple[QWidget, Callable[[Any], None]]:
    """The editing widget of a parameter spec, and the function that shows a value in it.

    ``emit(value)`` gets each edit as the canonical value; ``finished()`` is called when
    the user leaves a number field (Enter or focus out). Shared by the block inspector
    and the Train view's settings form.
    """

    def done() -> None:
        if finished is not None:
            finished()

    if p.kind == "int":
        spin = QSpinBox()
        spin.setRange(int(p.min if p.min is not None else -(2**31)), int(p.max or 2**31 - 1))
        spin.setSingleStep(int(p.step or 1))
        spin.setKeyboardTracking(False)
        spin.valueChanged.connect(emit)
        spin.editingFinished.connect(done)
        return spin, spin.setValue
    if p.kind == "float":
        dspin = QDoubleSpinBox()
        low = p.min if p.min is not None else -1e9
        decimals = 2
        for number in (p.step, p.min):
            if number:
                decimals = max(decimals, min(8, math.ceil(-math.log10(abs(number)) - 1e-9)))
        dspin.setDecimals(decimals)
        dspin.setRange(low, p.max if p.max is not None else 1e9)
        dspin.setSingleStep(p.step or 0.1)
        dspin.setKeyboardTracking(False)
        dspin.editingFinished.connect(done)
        dspin.valueChanged.connect(lambda v: emit(round(float(v), decimals)))
        return dspin, dspin.setValue
    if p.kind == "bool":
        box = QCheckBox()
        box.toggled.connect(emit)
        return box, box.setChecked
    if p.kind == "choice":
        combo = QComboBox()
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(10)
        labels = p.choice_labels or p.choices
        for value, text in zip(p.choices, labels, strict=True):
            combo.addItem(text, value)
        combo.currentIndexChanged.connect(lambda i: emit(combo.itemData(i)))
        return combo, lambda v: combo.setCurrentIndex(max(0, combo.findData(v)))
    pair = _PairEditor(p)
    pair.value_changed.connect(emit)
    pair.h.editingFinished.connect(done)
    pair.w.editingFinished.connect(done)
    return pair, pair.set_value


def _card(object_name: str, color: str, border: str) -> QLabel:
    label = QLabel()
    label.setObjectName(object_name)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setStyleSheet(
        f"QLabel#{object_name} {{ background: {color}; border: 1px solid {border}; "
        "border-radius: 5px; padding: 6px; color: #1b1b1b; }"
    )
    return label


class QtBlockInspector(QWidget):
    """Shows and edits the selected block.

    Signals
    -------
    param_edited(str, str, object)
        Block id, parameter name, new canonical value.
    edit_finished()
        The user left a number field (Enter or focus out): the next change is a new step.
    label_edited(str, str)
        Block id, new name.
    explain_clicked(dict)
        The "Explain" button of a conv/pool block (payload for ``explain_requested``).
    """

    param_edited = Signal(str, str, object)
    edit_finished = Signal()
    label_edited = Signal(str, str)
    explain_clicked = Signal(dict)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("blockInspector")
        self.graph: Graph | None = None
        self.block_id: str | None = None
        self._selection: list[str] = []
        self._editors: dict[str, QWidget] = {}
        self._setters: dict[str, Callable[[Any], None]] = {}
        self._connections = ModelConnections(self)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer.addWidget(scroll)
        body = QWidget()
        scroll.setWidget(body)
        self._layout = QVBoxLayout(body)
        self._layout.setContentsMargins(8, 8, 8, 8)
        self._layout.setSpacing(8)

        head = QHBoxLayout()
        self.icon_label = QLabel()
        self.icon_label.setFixedSize(28, 28)
        head.addWidget(self.icon_label)
        self.title_label = QLabel("No block selected")
        title_font = QFont(self.font())
        title_font.setBold(True)
        title_font.setPointSizeF(title_font.pointSizeF() * 1.15)
        self.title_label.setFont(title_font)
        self.title_label.setWordWrap(True)
        head.addWidget(self.title_label, 1)
        self._layout.addLayout(head)

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Block name")
        self.name_edit.editingFinished.connect(self._on_name_edited)
        self._layout.addWidget(self.name_edit)

        self.shape_label = _card("shapeCard", "#eef3fb", "#c5d3ea")
        self._layout.addWidget(self.shape_label)
        self.error_label = _card("errorCard", "#fdecea", "#e57373")
        self._layout.addWidget(self.error_label)
        self.warning_label = _card("warningCard", "#fff6e0", "#f2c14e")
        self._layout.addWidget(self.warning_label)

        self.form_frame = QWidget()
        self.form = QFormLayout(self.form_frame)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        # In a narrow dock a wide field (padding: mode + two numbers) goes under its label.
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self._layout.addWidget(self.form_frame)

        self.formula_label = _card("formulaCard", "#f3f0fa", "#c9bde6")
        self._layout.addWidget(self.formula_label)
        self.explain_button = QPushButton("Explain step by step in Learn")
        self.explain_button.setToolTip(
            "Open the Learn lab with this block's kernel, stride and padding"
        )
        self.explain_button.clicked.connect(self._on_explain)
        self._layout.addWidget(self.explain_button)

        self.help_label = QLabel()
        self.help_label.setWordWrap(True)
        self.help_label.setTextFormat(Qt.TextFormat.RichText)
        self.help_label.setStyleSheet("color: #333333;")
        self._layout.addWidget(self.help_label)
        self._layout.addStretch(1)
        self.setMinimumWidth(250)
        self._show_nothing()

    # -- binding ---------------------------------------------------------------------------
    def set_graph(self, graph: Graph | None) -> None:
        self._connections.clear()
        self.graph = graph
        self.block_id = None
        if graph is not None:
            for signal, slot in (
                (graph.events.block_changed, self._on_block_changed),
                (graph.events.block_removed, self._on_block_removed),
                (graph.events.inference_changed, self._on_inference_changed),
            ):
                self._connections.connect(signal, slot)
        self.show_blocks([])

    def show_blocks(self, block_ids: list[str]) -> None:
        """Show the one selected block, or a summary for none / several."""
        self._selection = list(block_ids)
        if self.graph is None or len(block_ids) != 1 or block_ids[0] not in self.graph:
            self.block_id = None
            self._show_nothing(len(block_ids))
            return
        if block_ids[0] != self.block_id:
            self.block_id = block_ids[0]
            self._build_form()
        self._refresh_values()
        self._refresh_info()

    def editor(self, name: str) -> QWidget:
        """The editing widget of parameter ``name`` of the shown block (for tests)."""
        return self._editors[name]

    # -- building ---------------------------------------------------------------------------
    def _clear_form(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self._editors.clear()
        self._setters.clear()

    def _show_nothing(self, count: int = 0) -> None:
        self._clear_form()
        self.icon_label.clear()
        self.icon_label.hide()
        self.name_edit.hide()
        self.error_label.hide()
        self.warning_label.hide()
        self.formula_label.hide()
        self.explain_button.hide()
        self.form_frame.hide()
        if count > 1:
            self.title_label.setText(f"{count} blocks selected")
            self.help_label.setText(
                "Drag to move them together, press Delete to remove them, or Ctrl+C / Ctrl+V "
                "to copy them."
            )
        else:
            self.title_label.setText("No block selected")
            self.help_label.setText(
                "<p>Click a block on the canvas to see and edit its settings here.</p>"
                "<p>Drag blocks from the <b>Blocks</b> panel onto the canvas: drop one below "
                "the last block to append it, or onto a wire to insert it there. Drag from a "
                "block's bottom dot to another block's top dot to draw a branch.</p>"
            )
        self._show_network_summary()

    def _show_network_summary(self) -> None:
        if self.graph is None:
            self.shape_label.hide()
            return
        net = self.graph.inference
        if net.is_valid:
            status = "<span style='color:#1b7f3b'><b>✓ Ready to train</b></span>"
        else:
            # Every problem, each naming its block, so the user sees all there is to fix.
            shown = net.problems[:6]
            items = "".join(f"<li>{_esc(self._problem_text(bid, msg))}</li>" for bid, msg in shown)
            more = len(net.problems) - len(shown)
            extra = f"<li>… and {more} more</li>" if more > 0 else ""
            status = (
                "<span style='color:#c62828'><b>✗ Not ready to train:</b></span>"
                f"<ul style='margin-left:-20px'>{items}{extra}</ul>"
            )
        self.shape_label.setText(
            f"<b>Network</b>: {len(self.graph.blocks)} blocks, "
            f"{net.total_params:,} trainable parameters<br>{status}"
        )
        self.shape_label.show()

    def _problem_text(self, block_id: str | None, message: str) -> str:
        if block_id is None or self.graph is None or block_id not in self.graph:
            return _sentence(message)
        return f"{self.graph.block(block_id).label}: {_sentence(message)}"

    def _build_form(self) -> None:
        assert self.graph is not None and self.block_id is not None
        block = self.graph.block(self.block_id)
        spec = block.spec
        self._clear_form()
        self.icon_label.setPixmap(block_icon(spec).pixmap(28, 28))
        self.icon_label.show()
        self.name_edit.show()
        self.form_frame.setVisible(bool(spec.params))
        for pspec in spec.params:
            widget, setter = self._make_editor(spec, pspec)
            widget.setToolTip(pspec.help)
            label = QLabel(pspec.label)
            label.setToolTip(pspec.help)
            self.form.addRow(label, widget)
            self._editors[pspec.name] = widget
            self._setters[pspec.name] = setter
        paragraphs = "".join(
            f"<p>{_esc(p.strip())}</p>" for p in spec.help.split("\n\n") if p.strip()
        )
        self.help_label.setText(f"<p><b>About {_esc(spec.label.lower())}</b></p>{paragraphs}")
        is_window = spec.type in _WINDOW_TYPES
        self.formula_label.setVisible(is_window)
        self.explain_button.setVisible(is_window)

    def _make_editor(self, spec: BlockSpec, p: ParamSpec) -> tuple[QWidget, Callable[[Any], None]]:
        bid = self.block_id
        assert bid is not None
        return param_editor(
            p, lambda value: self.param_edited.emit(bid, p.name, value), self.edit_finished.emit
        )

    # -- refreshing from the model ------------------------------------------------------------
    def _refresh_values(self) -> None:
        if self.graph is None or self.block_id is None:
            return
        block = self.graph.block(self.block_id)
        self.title_label.setText(f"{block.spec.label}")
        if not self.name_edit.hasFocus():
            self.name_edit.setText(block.label)
        for name, setter in self._setters.items():
            widget = self._editors[name]
            if isinstance(widget, _PairEditor) and "pool_size" in block.params:
                widget.fallback = block.params["pool_size"]
            widget.blockSignals(True)
            try:
                setter(block.params[name])
            finally:
                widget.blockSignals(False)

    def _refresh_info(self) -> None:
        if self.graph is None or self.block_id is None:
            return
        block = self.graph.block(self.block_id)
        info: BlockInfo = self.graph.info(self.block_id)
        ins = ", ".join(format_shape(s) for s in info.input_shapes) or "nothing connected"
        self.shape_label.setText(
            f"Output <b style='font-size:115%'>{info.shape_text}</b> · "
            f"{info.params:,} parameters<br><span style='color:#555'>Input: {ins}</span>"
        )
        if block.type == "Input":
            self.shape_label.setText(
                self.shape_label.text()
                + "<br><span style='color:#555'>Follows the dataset chosen in Train: "
                "1@28x28 for the built-in digits, 3@HxW for colour pictures.</span>"
            )
        self.shape_label.show()
        self.error_label.setVisible(bool(info.errors))
        if info.errors:
            self.error_label.setText(
                "<b>Problem:</b> " + "<br>".join(_esc(_sentence(e)) for e in info.errors)
            )
        self.warning_label.setVisible(bool(info.warnings))
        if info.warnings:
            self.warning_label.setText(
                "<b>Note:</b> " + "<br>".join(_esc(_sentence(w)) for w in info.warnings)
            )
        if block.type in _WINDOW_TYPES:
            self.formula_label.setText(self._formula_html(block.type, block.params, info))

    def _formula_html(self, block_type: str, params: dict[str, Any], info: BlockInfo) -> str:
        head = "<b>Output size</b> = (I + 2P − K) / S + 1"
        legend = (
            "<span style='color:#555'>I input size, P padding, K "
            + ("kernel" if block_type == "Conv2D" else "pool window")
            + " size, S stride; rounded down.</span>"
        )
        shape = info.input_shapes[0] if info.input_shapes else None
        lines = formula_lines(block_type, params, shape)
        if not lines:
            return f"{head}<br>{legend}<br><i>Connect an image input to see the numbers.</i>"
        channels = (
            f"Channels: {params['filters']} filters → <b>{params['filters']}</b>"
            if block_type == "Conv2D"
            else f"Channels stay <b>{shape[0]}</b>"
            if shape
            else ""
        )
        return "<br>".join([head, legend, *lines, channels])

    # -- handlers ---------------------------------------------------------------------------
    def _on_block_changed(self, block_id: str, _name: str) -> None:
        if block_id == self.block_id:
            self._refresh_values()

    def _on_block_removed(self, block_id: str) -> None:
        if block_id in self._selection:
            self.show_blocks([b for b in self._selection if b != block_id])

    def _on_inference_changed(self) -> None:
        if self.block_id is not None and self.graph is not None and self.block_id in self.graph:
            self._refresh_info()
        elif self.block_id is None:
            self._show_network_summary()

    def _on_name_edited(self) -> None:
        if self.graph is None or self.block_id is None:
            return
        text = self.name_edit.text().strip()
        if text and text != self.graph.block(self.block_id).label:
            self.label_edited.emit(self.block_id, text)

    def _on_explain(self) -> None:
        if self.graph is None or self.block_id is None:
            return
        block = self.graph.block(self.block_id)
        self.explain_clicked.emit(explain_spec(block.type, block.params))


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
