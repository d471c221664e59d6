"""The Learn view: a list of lessons on the left, the chosen lesson on the right."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QScrollArea,
    QStackedWidget,
    QWidget,
)

from cnnstudio.model.learn.base import LabError
from cnnstudio.model.learn.explain import explain_preset
from cnnstudio.ui.context import AppContext
from cnnstudio.ui.learn.qt_activation import QtActivationLesson
from cnnstudio.ui.learn.qt_channels import QtChannelsLesson
from cnnstudio.ui.learn.qt_conv1d import QtConv1DLesson
from cnnstudio.ui.learn.qt_conv_explorer import QtConvExplorer
from cnnstudio.ui.learn.qt_filters import QtFiltersLesson
from cnnstudio.ui.learn.qt_flatten_softmax import QtFlattenSoftmaxLesson
from cnnstudio.ui.learn.qt_pooling import QtPoolingLesson

__all__ = ["LESSONS", "QtLearnView"]

#: Lesson keys in list order, with their titles.
LESSONS: tuple[tuple[str, str], ...] = (
    ("conv", "1  Convolution"),
    ("channels", "2  Channels"),
    ("activation", "3  Activation"),
    ("pool", "4  Pooling"),
    ("flatten", "5  Flatten & softmax"),
    ("filters", "6  Image filters"),
    ("conv1d", "7  1-D convolution"),
)


class QtLearnView(QWidget):
    """The Learn lab, built as ``QtLearnView(context, parent)`` by the main window.

    Listens to ``context.explain_requested`` (opens the matching lesson preset to the
    block) and reads ``context.last_drawing`` for "use my drawing".
    """

    def __init__(self, context: AppContext | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context if context is not None else AppContext(self)
        # Lessons are built the first time they are shown: the plots cost about a
        # second together, which the app start should not pay.
        self._lessons: dict[str, Any] = {}
        self._scrolls: dict[str, QScrollArea] = {}

        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.lesson_list = QListWidget()
        self.lesson_list.setObjectName("lessonList")
        self.lesson_list.setFixedWidth(170)
        self.lesson_list.setStyleSheet("QListWidget::item { padding: 7px 4px; }")
        self.stack = QStackedWidget()
        for key, title in LESSONS:
            self.lesson_list.addItem(title)
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QScrollArea.Shape.NoFrame)
            self._scrolls[key] = scroll
            self.stack.addWidget(scroll)
        layout.addWidget(self.lesson_list)
        layout.addWidget(self.stack, 1)

        self.lesson_list.currentRowChanged.connect(self._on_row_changed)
        self.lesson_list.setCurrentRow(0)
        self.context.explain_requested.connect(self.explain)
        self.context.drawing_changed.connect(self._on_drawing_changed)

    def lesson(self, key: str) -> Any:
        """The lesson widget for ``key``, built on first use."""
        widget = self._lessons.get(key)
        if widget is not None:
            return widget
        if key not in self._scrolls:
            keys = ", ".join(k for k, _ in LESSONS)
            raise ValueError(f"unknown lesson {key!r}; choose one of: {keys}")
        if key == "conv":
            widget = QtConvExplorer(self._drawing)
        elif key == "channels":
            widget = QtChannelsLesson()
        elif key == "activation":
            widget = QtActivationLesson()
            widget.take_from_conv.clicked.connect(self._activation_from_conv)
        elif key == "pool":
            widget = QtPoolingLesson()
        elif key == "flatten":
            widget = QtFlattenSoftmaxLesson()
        elif key == "filters":
            widget = QtFiltersLesson(self._drawing)
        else:
            widget = QtConv1DLesson()
        self._lessons[key] = widget
        self._scrolls[key].setWidget(widget)
        return widget

    conv = property(lambda self: self.lesson("conv"))
    channels = property(lambda self: self.lesson("channels"))
    activation = property(lambda self: self.lesson("activation"))
    pooling = property(lambda self: self.lesson("pool"))
    flatten = property(lambda self: self.lesson("flatten"))
    filters = property(lambda self: self.lesson("filters"))
    conv1d = property(lambda self: self.lesson("conv1d"))

    # -- public ------------------------------------------------------------------------
    def current_lesson(self) -> str:
        return LESSONS[self.lesson_list.currentRow()][0]

    def show_lesson(self, key: str) -> None:
        keys = [k for k, _ in LESSONS]
        if key not in keys:
            raise ValueError(f"unknown lesson {key!r}; choose one of: {', '.join(keys)}")
        self.lesson_list.setCurrentRow(keys.index(key))

    def explain(self, spec: dict[str, Any]) -> None:
        """Open the lesson for a Build block and preset it to the block's settings."""
        try:
            preset = explain_preset(spec)
        except LabError as exc:
            self.context.status_message.emit(str(exc))
            return
        if preset.lesson == "conv":
            self.conv.apply_explain(preset)
        elif preset.lesson == "pool":
            self.pooling.apply_explain(preset)
        elif preset.lesson == "activation":
            self.activation.set_function(preset.activation)
        self.show_lesson(preset.lesson)

    def stop_animations(self) -> None:
        for key in ("conv", "pool", "conv1d"):
            if key in self._lessons:
                self._lessons[key].stop()  # type: ignore[attr-defined]

    # -- internals ---------------------------------------------------------------------
    def _drawing(self) -> np.ndarray | None:
        return self.context.last_drawing

    def _on_drawing_changed(self, image: object) -> None:
        # The filters lesson follows the pad live once the user chose "Use my drawing".
        filters = self._lessons.get("filters")
        if image is not None and filters is not None and filters.source_text == "your drawing":
            filters.set_image(np.asarray(image, dtype=np.float32), "your drawing")

    def _activation_from_conv(self) -> None:
        if self.conv.lab.fits():
            self.activation.set_feature_map(self.conv.lab.output())

    def _on_row_changed(self, row: int) -> None:
        self.stop_animations()
        if row >= 0:
            self.lesson(LESSONS[row][0])
            self.stack.setCurrentIndex(row)

    def hideEvent(self, event: object) -> None:
        self.stop_animations()
        super().hideEvent(event)  # type: ignore[arg-type]
