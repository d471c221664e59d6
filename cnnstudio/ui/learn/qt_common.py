"""Small pieces every lesson uses: the header, captions, cards, spin boxes, step buttons."""

from __future__ import annotations

import os

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

__all__ = [
    "QtStepper",
    "caption",
    "card",
    "lesson_header",
    "spin",
    "wrap_label",
]


def lesson_header(title: str, text: str) -> QWidget:
    """Title and a short plain-words explanation at the top of a lesson."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 4)
    layout.setSpacing(2)
    heading = QLabel(f"<b style='font-size:15pt'>{title}</b>")
    heading.setObjectName("lessonTitle")
    body = wrap_label(text)
    body.setObjectName("lessonText")
    layout.addWidget(heading)
    layout.addWidget(body)
    return box


def wrap_label(text: str = "", *, rich: bool = True) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def caption(text: str) -> QLabel:
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setStyleSheet("font-weight: bold;")
    return label


def card(title: str) -> tuple[QFrame, QVBoxLayout]:
    """A framed box with a bold title; returns the frame and the layout for its content."""
    frame = QFrame()
    frame.setFrameShape(QFrame.Shape.StyledPanel)
    frame.setStyleSheet(
        "QFrame#card { background: #fbfbfd; border: 1px solid #c9ccd6; border-radius: 6px; }"
    )
    frame.setObjectName("card")
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(10, 6, 10, 8)
    layout.setSpacing(4)
    layout.setAlignment(Qt.AlignmentFlag.AlignTop)
    head = QLabel(f"<b>{title}</b>")
    layout.addWidget(head)
    return frame, layout


def fixed_height_area(layout: QLayout, height: int) -> QScrollArea:
    """Put ``layout`` in a scroll area of a fixed height.

    Word-wrapped labels ask for a lot of height when squeezed; bounding them here keeps
    the grids above from being pushed out of a 1280x800 window (long sums scroll).
    """
    inner = QWidget()
    inner.setLayout(layout)
    layout.setContentsMargins(0, 0, 0, 0)
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(inner)
    area.setFixedHeight(height)
    return area


def spin(low: int, high: int, value: int, tip: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setKeyboardTracking(False)
    if tip:
        box.setToolTip(tip)
    return box


class QtStepper(QWidget):
    """Reset / back / step / play / show-all buttons and a speed slider around a QTimer.

    The owner connects ``stepped`` (one step forward was asked for), ``back``,
    ``reset`` and ``finish``; ``step_forward`` must return False at the end, which
    stops playing. The timer stops when the widget is hidden.
    """

    back = Signal()
    reset = Signal()
    finish = Signal()

    def __init__(self, step_forward: object, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._step_forward = step_forward
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.reset_button = QPushButton("Reset")
        self.back_button = QPushButton("◀ Back")
        self.step_button = QPushButton("Step ▶")
        self.play_button = QPushButton("▶ Play")
        self.play_button.setCheckable(True)
        self.all_button = QPushButton("Show all")
        for b in (
            self.reset_button,
            self.back_button,
            self.step_button,
            self.play_button,
            self.all_button,
        ):
            layout.addWidget(b)
        layout.addSpacing(8)
        layout.addWidget(QLabel("Speed"))
        self.speed = QSlider(Qt.Orientation.Horizontal)
        self.speed.setRange(1, 10)
        self.speed.setValue(5)
        self.speed.setFixedWidth(100)
        self.speed.setToolTip("How fast Play moves the window")
        layout.addWidget(self.speed)
        layout.addStretch(1)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self.reset_button.clicked.connect(self._on_reset)
        self.back_button.clicked.connect(self.back.emit)
        self.step_button.clicked.connect(self._step_once)
        self.play_button.toggled.connect(self._on_play_toggled)
        self.all_button.clicked.connect(self._on_finish)
        self.speed.valueChanged.connect(self._on_speed_changed)
        self._on_speed_changed(self.speed.value())

    def is_playing(self) -> bool:
        return self.timer.isActive()

    def play(self) -> None:
        self.play_button.setChecked(True)

    def stop(self) -> None:
        self.play_button.setChecked(False)

    def _interval(self) -> int:
        return int(1300 / self.speed.value())

    def _on_speed_changed(self, _value: int) -> None:
        self.timer.setInterval(self._interval())

    def _on_play_toggled(self, on: bool) -> None:
        self.play_button.setText("⏸ Pause" if on else "▶ Play")
        if on:
            self.timer.start()
        else:
            self.timer.stop()

    def _step_once(self) -> None:
        self.stop()
        self._step_forward()  # type: ignore[operator]

    def _tick(self) -> None:
        if not self._step_forward():  # type: ignore[operator]
            self.stop()

    def _on_reset(self) -> None:
        self.stop()
        self.reset.emit()

    def _on_finish(self) -> None:
        self.stop()
        self.finish.emit()

    def hideEvent(self, event: object) -> None:
        self.stop()
        super().hideEvent(event)  # type: ignore[arg-type]


def block_signals(*objects: QObject) -> _Blocker:
    return _Blocker(objects)


class _Blocker:
    def __init__(self, objects: tuple[QObject, ...]) -> None:
        self._objects = objects

    def __enter__(self) -> None:
        for o in self._objects:
            o.blockSignals(True)

    def __exit__(self, *_exc: object) -> None:
        for o in self._objects:
            o.blockSignals(False)
