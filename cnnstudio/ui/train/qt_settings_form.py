"""A form of Train view settings, generated from their declared specs.

Each :class:`~cnnstudio.ui.train.train_settings.SettingSpec` becomes the block
inspector's editor for its kind (``ui.canvas.qt_inspector.param_editor``), with the
spec's label, help, prefix, suffix and scale. The form keeps the values it shows;
edits leave as ``changed``, and ``set_values`` shows values without echoing them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QSpinBox,
    QWidget,
)

from cnnstudio.ui.canvas.qt_inspector import param_editor
from cnnstudio.ui.train.train_settings import SettingSpec

__all__ = ["QtSettingsForm"]


class QtSettingsForm(QFormLayout):
    """Form rows for ``specs``, added to an existing ``QFormLayout``'s place.

    Signals
    -------
    changed(str, object)
        A setting the user edited, and its new value (in the settings' units).
    """

    changed = Signal(str, object)

    def __init__(self, specs: Iterable[SettingSpec], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.specs = {spec.name: spec for spec in specs}
        self._editors: dict[str, QWidget] = {}
        self._setters: dict[str, Callable[[Any], None]] = {}
        self._values: dict[str, Any] = {}
        self._context: dict[str, Any] = {}
        self._enabled = True
        rows: dict[str, QHBoxLayout] = {}
        for spec in self.specs.values():
            widget = self._make(spec)
            if spec.row and spec.row in rows:
                rows[spec.row].addWidget(widget)
            elif spec.row:
                rows[spec.row] = line = QHBoxLayout()
                line.setContentsMargins(0, 0, 0, 0)
                line.addWidget(widget)
                self.addRow(spec.row, line)
            elif isinstance(widget, QCheckBox):
                self.addRow("", widget)  # the check box says what it is
            else:
                self.addRow(spec.param.label, widget)

    def _make(self, spec: SettingSpec) -> QWidget:
        p = spec.param
        widget, setter = param_editor(p, lambda value: self._on_edited(spec, value))
        widget.setToolTip(p.help)
        if isinstance(widget, QSpinBox | QDoubleSpinBox):
            widget.setKeyboardTracking(True)  # as typed, like the rest of the Train view
            widget.setPrefix(spec.prefix)
            widget.setSuffix(spec.suffix)
            if isinstance(widget, QDoubleSpinBox):  # a share shown in percent, say
                widget.setRange(widget.minimum() * spec.scale, widget.maximum() * spec.scale)
                widget.setSingleStep(widget.singleStep() * spec.scale)
                if spec.decimals is not None:
                    widget.setDecimals(spec.decimals)
            if spec.adaptive_step:
                widget.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
        if isinstance(widget, QCheckBox):
            widget.setText(p.label)
        self._editors[spec.name] = widget
        self._setters[spec.name] = setter
        self._values[spec.name] = p.default
        return widget

    def _on_edited(self, spec: SettingSpec, shown: Any) -> None:
        value = shown / spec.scale if spec.scale != 1.0 else shown
        if isinstance(value, float) and spec.param.kind == "float":
            value = round(value, 10)  # 10 % is 0.1, not 0.10000000000000001
        self._values[spec.name] = value
        self._refresh_enabled()
        self.changed.emit(spec.name, value)

    # -- values ---------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """The value of every setting in the form."""
        return dict(self._values)

    def set_values(self, values: dict[str, Any]) -> None:
        """Show ``values`` (settings not in the form are ignored); emits nothing."""
        for name, value in values.items():
            spec = self.specs.get(name)
            if spec is None:
                continue
            widget = self._editors[name]
            widget.blockSignals(True)
            try:
                self._setters[name](value * spec.scale if spec.scale != 1.0 else value)
            finally:
                widget.blockSignals(False)
            self._values[name] = value
        self._refresh_enabled()

    def editor(self, name: str) -> QWidget:
        """The widget of setting ``name``."""
        return self._editors[name]

    # -- enabled ----------------------------------------------------------------------------
    def set_enabled(self, enabled: bool) -> None:
        """Let the user edit the form (each setting also by its own conditions)."""
        self._enabled = enabled
        self._refresh_enabled()

    def set_context(self, **facts: Any) -> None:
        """Facts about the data (``channels=3``) that ``enabled_when`` may name like a
        setting; a fact not given yet holds any condition."""
        self._context.update(facts)
        self._refresh_enabled()

    def _refresh_enabled(self) -> None:
        cores = os.cpu_count() or 1
        for name, widget in self._editors.items():
            spec = self.specs[name]
            ok = (self._enabled or spec.while_training) and cores >= spec.min_cores
            met = True
            if spec.enabled_when is not None:
                other, wanted = spec.enabled_when
                if other in self._values:
                    met = self._values[other] == wanted
                else:
                    met = self._context.get(other, wanted) == wanted
            widget.setEnabled(ok and met)
            if spec.disabled_note:
                widget.setToolTip(spec.param.help if met else spec.disabled_note)
