"""The Train view's run controls: Start, Pause, Stop, one step, one epoch, and how it goes.

A dumb widget: the view connects the buttons and tells it what to show
(:meth:`QtRunControls.show_state`, :meth:`show_progress`, :meth:`show_message`).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.engine.training import TrainingSnapshot
from cnnstudio.model.session import RunHistory

__all__ = ["READY", "QtRunControls"]

#: The status line while nothing runs and nothing is wrong.
READY = "Press Start to train."


def _clock(seconds: float) -> str:
    s = round(max(seconds, 0.0))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class QtRunControls(QWidget):
    """The buttons, the progress bar, the status line and the run's last message."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("startButton")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.step_button = QPushButton("One step")
        self.epoch_button = QPushButton("One epoch")
        self.start_button.setToolTip("Train a freshly initialised network with these settings")
        self.step_button.setToolTip("Run exactly one optimizer step, then pause")
        self.epoch_button.setToolTip("Run to the end of the current epoch, then pause")
        self.stop_button.setToolTip("Stop after the current step and keep the weights")
        for b in (
            self.start_button,
            self.pause_button,
            self.stop_button,
            self.step_button,
            self.epoch_button,
        ):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        # The text goes in a label: on a half-filled bar it would be half unreadable.
        self.progress.setTextVisible(False)
        self.progress.setFormat("Not started")
        self.progress.setMaximumHeight(12)
        self.progress_label = QLabel("Not started")
        self.progress_label.setObjectName("progressText")
        layout.addWidget(self.progress_label)
        layout.addWidget(self.progress)
        self.status_label = QLabel(READY)
        self.status_label.setObjectName("trainStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.status_label)
        self.message_label = QLabel()
        self.message_label.setObjectName("trainMessage")
        self.message_label.setWordWrap(True)
        self.message_label.setTextFormat(Qt.TextFormat.PlainText)  # messages quote file names
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.hide()
        layout.addWidget(self.message_label)
        #: The status line shows why Start is disabled (a tooltip alone goes unseen).
        self._problem_shown = False

    def show_state(self, state: str, problem: str | None, can_start: bool) -> None:
        """Enable the buttons for ``state``; ``problem``: why Start cannot train now."""
        running, paused, idle = state == "running", state == "paused", state == "idle"
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.setEnabled(running or paused)
        self.stop_button.setEnabled(running or paused)
        self.start_button.setEnabled(can_start)
        tip = problem if (idle and problem) else "Train a freshly initialised network"
        self.start_button.setToolTip(tip or "")
        if idle and problem:
            self.status_label.setText(f"Cannot start: {problem}")
            self._problem_shown = True
        elif self._problem_shown:
            self._problem_shown = False
            self.status_label.setText(READY)
        self.step_button.setEnabled(paused or can_start)
        self.epoch_button.setEnabled(paused or can_start)

    def show_progress(
        self, snap: TrainingSnapshot | None, history: RunHistory | None, paused: bool
    ) -> None:
        """The progress bar and the status line for the latest snapshot."""
        suffix = "  —  paused" if paused else ""
        if snap is None:
            if paused:
                self.status_label.setText("Starting…" + suffix)
            return
        self.progress.setValue(round(1000 * snap.progress))
        eta = "done" if snap.done else f"ETA {_clock(snap.eta_seconds)}"
        text = (
            f"Epoch {snap.epoch}/{snap.epochs} · step {snap.step_in_epoch}/"
            f"{snap.steps_per_epoch} · {snap.samples_per_sec:,.0f} samples/s · {eta}"
        )
        self.progress.setFormat(text)
        self.progress_label.setText(f"<b>{text}</b>")
        status = f"loss {snap.loss:.4f} · accuracy {snap.accuracy * 100:.1f}% · lr {snap.lr:.2g}"
        if history is not None and history.val_accuracy and history.val_accuracy[-1] is not None:
            status += f" · validation {history.val_accuracy[-1] * 100:.1f}%"
        self.status_label.setText(status + suffix)

    def show_message(self, text: str, *, error: bool = False) -> None:
        """What happened (a run's end, a refusal), until the next run starts."""
        colour = "#b00020" if error else "#1b5e20"
        self.message_label.setStyleSheet(f"color: {colour};")
        self.message_label.setText(text)
        self.message_label.show()

    def show_status(self, text: str) -> None:
        self.status_label.setText(text)
