"""The training worker: runs a ``model.session.TrainingSession`` on a QThread.

The run's state lives in the Qt-free session (the job, the history, the latest
snapshot and model); :class:`QtTrainingSession` only advances the session's
generator on a worker thread and turns what happens into Qt signals. ``progress``
is the one "the run changed" signal, at most ten a second (``BATCH_INTERVAL``)
plus one when the run pauses or ends: the plots redraw on it, and heavy views
(feature maps, predictions) throttle themselves further and ask the session for
the latest model. One session per main window, found with :func:`training_session`.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from superqt.utils import GeneratorWorker, create_worker

from cnnstudio.engine.training import TrainingSnapshot
from cnnstudio.io.model_file import TrainedModel
from cnnstudio.model.session import (
    RunHistory,
    SnapshotBatch,
    TrainingJob,
    TrainingResult,
    TrainingSession,
)

__all__ = ["QtTrainingSession", "limit_gui_blas_threads", "training_session"]


def _advance(batches: Any) -> Any:
    # superqt's GeneratorWorker wants a generator function.
    yield from batches


class QtTrainingSession(QObject):
    """The one training session of a main window, shared by the views.

    Signals
    -------
    state_changed(str)
        ``"idle"``, ``"running"``, ``"paused"`` or ``"stopping"``.
    run_started(object)
        The :class:`~cnnstudio.model.session.TrainingJob` that starts.
    progress(object)
        A :class:`~cnnstudio.model.session.SnapshotBatch`, already in the session.
    run_finished(object)
        A :class:`~cnnstudio.model.session.TrainingResult`.
    """

    state_changed = Signal(str)
    run_started = Signal(object)
    progress = Signal(object)
    run_finished = Signal(object)

    def __init__(self, context: Any = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainingSession")
        self._context = context
        #: The Qt-free run: job, history, latest snapshot and model.
        self.model = TrainingSession()
        self._worker: GeneratorWorker | None = None
        self._generation = 0

    # -- what the session holds (read-only) -------------------------------------------------
    @property
    def state(self) -> str:
        return self.model.state

    @property
    def is_active(self) -> bool:
        return self.model.is_active

    @property
    def job(self) -> TrainingJob | None:
        return self.model.job

    @property
    def latest(self) -> TrainingSnapshot | None:
        return self.model.latest

    @property
    def latest_rich(self) -> TrainingSnapshot | None:
        return self.model.latest_rich

    @property
    def history(self) -> RunHistory | None:
        return self.model.history

    @property
    def result(self) -> TrainingResult | None:
        return self.model.result

    @property
    def live_model(self) -> TrainedModel | None:
        return self.model.live_model

    def next_run_name(self) -> str:
        return self.model.next_run_name()

    def _changing(self, action: Any, *args: Any) -> None:
        before = self.model.state
        action(*args)
        if self.model.state != before:
            self.state_changed.emit(self.model.state)

    # -- control ----------------------------------------------------------------------------
    def start(self, job: TrainingJob, *, then_pause: str | None = None) -> None:
        """Start training ``job`` on a worker thread.

        ``then_pause``: ``"step"`` runs one step, ``"epoch"`` one epoch, then pauses.
        """
        batches = self.model.start(job, then_pause=then_pause)
        self._generation += 1
        generation = self._generation
        worker = create_worker(_advance, batches, _start_thread=False, _ignore_errors=True)
        assert isinstance(worker, GeneratorWorker)  # errors are read by session.finish
        # The worker's signals reach this object only while it exists (lambdas are
        # not disconnected when a QObject is deleted).
        alive = [True]

        def on_batch(batch: SnapshotBatch) -> None:
            if alive[0] and generation == self._generation and self.model.is_active:
                self._changing(self.model.receive, batch)
                self.progress.emit(batch)

        def on_finished(*_: Any) -> None:
            if alive[0] and generation == self._generation and self.model.is_active:
                self._finish(keep=True)

        worker.yielded.connect(on_batch)
        worker.finished.connect(on_finished)
        self._worker = worker
        # If the window goes away without asking (no can_close), the worker must not
        # train on for minutes: stop it at the next step. The lambda holds only the
        # session, never this (then deleted) object.
        session = self.model

        def _gone(*_: Any) -> None:
            alive[0] = False
            session.release()

        self.destroyed.connect(_gone)
        self.state_changed.emit(self.model.state)
        self.run_started.emit(job)
        worker.start()

    def pause(self) -> None:
        # The worker confirms at the end of the current step (a batch with paused=True).
        self._changing(self.model.pause)

    def resume(self) -> None:
        self._changing(self.model.resume)

    def step_once(self) -> None:
        """Run exactly one optimizer step, then pause."""
        self._changing(self.model.step_once)

    def run_epoch(self) -> None:
        """Run to the end of the current epoch, then pause."""
        self._changing(self.model.run_epoch)

    def set_lr(self, lr: float) -> None:
        """Change the base learning rate from the next step on."""
        self.model.set_lr(lr)

    def stop(self) -> None:
        """Ask the worker to stop after the current step; the model trained so far is kept."""
        self._changing(self.model.stop)

    def shutdown(self, keep: bool = True, timeout: float = 30.0) -> bool:
        """Stop the run now and wait for the worker (closing the window).

        ``keep``: put the weights trained so far in the project; otherwise drop them.
        Returns False if the worker did not end within ``timeout`` seconds.
        """
        if not self.model.is_active:
            return True
        self.model.release()
        if not self.model.wait_done(timeout):
            return False
        self._finish(keep=keep)
        return True

    def _finish(self, keep: bool) -> None:
        project = getattr(self._context, "project", None)
        result = self.model.finish(keep=keep, project=project)
        self._worker = None
        self.state_changed.emit(self.model.state)
        self.run_finished.emit(result)


_GUI_BLAS_LIMIT: Any = None


def limit_gui_blas_threads(threads: int = 1) -> None:
    """Run BLAS with ``threads`` threads in this (GUI) process from now on.

    With two BLAS threads and another busy process on a 2-core machine, training
    and inference slow down several times over (benchmarks/README.md); one thread
    is barely affected. The engine
    limits its own training loop, but that limit is lifted when a run ends, and
    evaluations on the GUI thread would then collapse. Doing it once at start-up
    also keeps threadpoolctl's first library scan out of the first training step.
    """
    global _GUI_BLAS_LIMIT
    if _GUI_BLAS_LIMIT is None:
        from threadpoolctl import threadpool_limits

        _GUI_BLAS_LIMIT = threadpool_limits(limits=threads, user_api="blas")


def training_session(context: QObject) -> QtTrainingSession:
    """The context's training session, created on first use (a child of the context)."""
    session = context.findChild(
        QtTrainingSession, "trainingSession", Qt.FindChildOption.FindDirectChildrenOnly
    )
    if session is None:
        limit_gui_blas_threads()
        session = QtTrainingSession(context, parent=context)
    return session
