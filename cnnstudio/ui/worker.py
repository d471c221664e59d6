"""The training worker: runs ``engine.training.train`` on a background thread.

One :class:`TrainingSession` per main window (found with :func:`training_session`)
owns at most one worker at a time. The worker thread advances the engine's
generator and hands the snapshots to the GUI thread in batches (about 10 a
second, plus one for every epoch end, rich snapshot and pause), so a fast network
does not flood the event loop with one signal per step. The GUI never touches the
live network while the worker runs; it reads only snapshots. Pause, one step and
one epoch are implemented by a gate the worker waits on *after* a step, so
"one step" advances exactly one optimizer step; stop and learning-rate changes go
through the engine's :class:`~cnnstudio.engine.training.TrainingControl`.

When the run ends (finished, stopped, diverged or out of memory) the session records
the run in ``project.add_run`` and puts the final model in ``project.set_trained``;
after a divergence or running out of memory that is the last good step's model.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from superqt.utils import GeneratorWorker, create_worker

from cnnstudio.engine.errors import DivergenceError
from cnnstudio.engine.training import TrainConfig, TrainingControl, TrainingSnapshot, train

__all__ = [
    "RunCurves",
    "SnapshotBatch",
    "TrainingJob",
    "TrainingResult",
    "TrainingSession",
    "training_session",
]

#: Seconds between snapshot batches sent to the GUI thread (10 a second, as the plots).
BATCH_INTERVAL = 0.1
#: Seconds between live-model updates (``context.live_model``), about 4 a second.
LIVE_MODEL_INTERVAL_MS = 250
#: Weight of the previous value in the loss curve's exponential moving average.
EMA_DECAY = 0.95


@dataclass
class TrainingJob:
    """Everything one run needs, prepared on the GUI thread before it starts.

    Attributes
    ----------
    network
        A freshly built ``engine.Network``; the worker owns it while it trains.
    train_data, val_data
        ``(images uint8 NCHW, labels)``; ``val_data`` may be None.
    config
        The engine's training settings.
    architecture, class_names, input_shape, preprocessing
        What a model bundle of the result needs.
    transform, val_transform
        Batch transforms for training (augmentation + normalisation) and validation.
    name
        The run's name in the plots ("Run 1", ...).
    settings
        The user's settings as a plain dict (stored with the run).
    """

    network: Any
    train_data: tuple[np.ndarray, np.ndarray]
    val_data: tuple[np.ndarray, np.ndarray] | None
    config: TrainConfig
    architecture: dict[str, Any]
    class_names: list[str]
    input_shape: tuple[int, ...]
    preprocessing: dict[str, Any] = field(default_factory=dict)
    transform: Callable[..., np.ndarray] | None = None
    val_transform: Callable[..., np.ndarray] | None = None
    name: str = "Run"
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SnapshotBatch:
    """Snapshots produced since the last batch; ``paused``: the worker now waits."""

    snapshots: tuple[TrainingSnapshot, ...]
    paused: bool = False

    @property
    def last(self) -> TrainingSnapshot:
        return self.snapshots[-1]


@dataclass(frozen=True)
class TrainingResult:
    """How a run ended.

    ``outcome`` is ``"finished"``, ``"stopped"``, ``"diverged"``, ``"out of memory"``
    or ``"failed"``; ``message`` says it in words; ``bundle`` is the model kept (None
    when discarded or when no step ran).
    """

    outcome: str
    message: str
    last: TrainingSnapshot | None
    bundle: Any = None


class RunCurves:
    """The curves of the running (or a finished) run, as growing lists.

    Per step: ``steps``, ``loss`` (the batch loss), ``smooth`` (its bias-corrected
    exponential moving average), ``lr``. Per epoch: ``epochs``, ``train_accuracy``,
    ``val_accuracy`` (None without validation data), ``val_loss``.
    """

    def __init__(self, name: str, settings: dict[str, Any] | None = None) -> None:
        self.name = name
        self.settings = dict(settings or {})
        self.steps: list[int] = []
        self.loss: list[float] = []
        self.smooth: list[float] = []
        self.lr: list[float] = []
        self.epochs: list[int] = []
        self.train_accuracy: list[float] = []
        self.val_accuracy: list[float | None] = []
        self.val_loss: list[float | None] = []
        self._ema = 0.0
        self._ema_n = 0

    def add(self, snap: TrainingSnapshot) -> None:
        loss = float(snap.batch_loss)
        self.steps.append(int(snap.step))
        self.loss.append(loss)
        if math.isfinite(loss):
            self._ema = EMA_DECAY * self._ema + (1.0 - EMA_DECAY) * loss
            self._ema_n += 1
        self.smooth.append(self._ema / (1.0 - EMA_DECAY**self._ema_n) if self._ema_n else loss)
        self.lr.append(float(snap.lr))
        if snap.epoch_end:
            self.epochs.append(int(snap.epoch))
            self.train_accuracy.append(float(snap.accuracy))
            self.val_accuracy.append(snap.val_accuracy)
            self.val_loss.append(snap.val_loss)

    @classmethod
    def from_history(cls, run: Any) -> RunCurves:
        """Curves of a saved ``RunHistory`` (the smoothed loss is recomputed)."""
        curves = cls(run.name, run.settings)
        ema, n = 0.0, 0
        for step, loss, lr in zip(run.steps, run.loss, run.lr, strict=False):
            curves.steps.append(int(step))
            curves.loss.append(float(loss))
            if math.isfinite(loss):
                ema = EMA_DECAY * ema + (1.0 - EMA_DECAY) * float(loss)
                n += 1
            curves.smooth.append(ema / (1.0 - EMA_DECAY**n) if n else float(loss))
            curves.lr.append(float(lr))
        curves.epochs = [int(e) for e in run.epochs]
        curves.train_accuracy = [float(a) for a in run.train_accuracy]
        curves.val_accuracy = list(run.val_accuracy)
        curves.val_loss = list(run.val_loss)
        return curves

    def to_history(self) -> Any:
        """A ``model.project.RunHistory`` for the project."""
        from cnnstudio.model.project import RunHistory

        return RunHistory(
            name=self.name,
            settings=dict(self.settings),
            steps=list(self.steps),
            loss=[x if math.isfinite(x) else float("nan") for x in self.loss],
            lr=list(self.lr),
            epochs=list(self.epochs),
            train_accuracy=list(self.train_accuracy),
            val_accuracy=list(self.val_accuracy),
            val_loss=list(self.val_loss),
        )


class _Gate:
    """Where the worker waits between steps: run freely, pause, or run N steps / one epoch."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._budget: int | str | None = None  # None: free; 0: hold; n: steps; "epoch"
        self._open = False  # released for good (stop / shutdown)

    def pause(self) -> None:
        with self._cond:
            if not self._open:
                self._budget = 0

    def resume(self) -> None:
        with self._cond:
            self._budget = None
            self._cond.notify_all()

    def run_steps(self, n: int) -> None:
        with self._cond:
            self._budget = n
            self._cond.notify_all()

    def run_epoch(self) -> None:
        with self._cond:
            self._budget = "epoch"
            self._cond.notify_all()

    def release(self) -> None:
        with self._cond:
            self._open = True
            self._budget = None
            self._cond.notify_all()

    def consume(self, snap: TrainingSnapshot) -> bool:
        """Count one finished step; True when the worker must wait before the next one."""
        with self._cond:
            if self._open:
                return False
            if isinstance(self._budget, int) and self._budget > 0:
                self._budget -= 1
            elif self._budget == "epoch" and snap.epoch_end:
                self._budget = 0
            return self._budget == 0

    def wait(self) -> None:
        with self._cond:
            while self._budget == 0 and not self._open:
                self._cond.wait()


class _Shared:
    """Written by the worker thread, read by the GUI thread (plain attribute swaps)."""

    def __init__(self) -> None:
        self.last: TrainingSnapshot | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()


def _drive(
    snapshots: Iterator[TrainingSnapshot], gate: _Gate, shared: _Shared
) -> Iterator[SnapshotBatch]:
    """The worker's generator: engine snapshots in, batches for the GUI out."""
    pending: list[TrainingSnapshot] = []
    last_sent = time.perf_counter()
    try:
        try:
            for snap in snapshots:
                shared.last = snap
                pending.append(snap)
                hold = gate.consume(snap) and not snap.done
                now = time.perf_counter()
                if (
                    hold
                    or snap.done
                    or snap.epoch_end
                    or snap.is_rich
                    or now - last_sent >= BATCH_INTERVAL
                ):
                    yield SnapshotBatch(tuple(pending), paused=hold)
                    pending = []
                    last_sent = now
                if hold:
                    gate.wait()
        except Exception as exc:
            shared.error = exc
            if pending:
                yield SnapshotBatch(tuple(pending))
            raise
        if pending:
            yield SnapshotBatch(tuple(pending))
    finally:
        shared.done.set()


class TrainingSession(QObject):
    """The one training run of a main window, shared by the Train and Inspect views.

    Signals
    -------
    state_changed(str)
        ``"idle"``, ``"running"``, ``"paused"`` or ``"stopping"``.
    run_started(object)
        The :class:`TrainingJob` that starts.
    progress(object)
        A :class:`SnapshotBatch` (about 10 a second, more at epoch ends and rich snapshots).
    run_finished(object)
        A :class:`TrainingResult`.
    """

    state_changed = Signal(str)
    run_started = Signal(object)
    progress = Signal(object)
    run_finished = Signal(object)

    def __init__(self, context: Any = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainingSession")
        self._context = context
        self._state = "idle"
        self._worker: GeneratorWorker | None = None
        self._gate = _Gate()
        self._control = TrainingControl()
        self._shared = _Shared()
        self._job: TrainingJob | None = None
        self._generation = 0
        self._finalized = True
        #: The latest snapshot and the latest rich one (weights, activations, stats).
        self.latest: TrainingSnapshot | None = None
        self.latest_rich: TrainingSnapshot | None = None
        #: Curves of the current (or last) run.
        self.curves: RunCurves | None = None
        #: Finished runs of this session, oldest first (also in ``project.history``).
        self.past_runs: list[RunCurves] = []
        #: How the last run ended.
        self.result: TrainingResult | None = None
        self._run_count = 0
        self._live_dirty = False
        self._live_timer = QTimer(self)
        self._live_timer.setInterval(LIVE_MODEL_INTERVAL_MS)
        self._live_timer.timeout.connect(self._emit_live_model)

    # -- state ------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    @property
    def is_active(self) -> bool:
        """True from start until the worker has finished (running, paused or stopping)."""
        return self._state != "idle"

    @property
    def job(self) -> TrainingJob | None:
        return self._job

    def next_run_name(self) -> str:
        return f"Run {self._run_count + 1}"

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)

    # -- control ------------------------------------------------------------------------
    def start(self, job: TrainingJob, *, then_pause: str | None = None) -> None:
        """Start training ``job`` on a worker thread.

        ``then_pause``: ``"step"`` runs one step, ``"epoch"`` one epoch, then pauses.
        """
        if self.is_active:
            raise RuntimeError("a training run is already active; stop it first")
        self._control = TrainingControl()
        snapshots = train(
            job.network,
            job.train_data,
            job.val_data,
            job.config,
            control=self._control,
            transform=job.transform,
            val_transform=job.val_transform,
        )
        self._gate = _Gate()
        if then_pause == "step":
            self._gate.run_steps(1)
        elif then_pause == "epoch":
            self._gate.run_epoch()
        self._shared = _Shared()
        self._job = job
        self._generation += 1
        self._finalized = False
        self._run_count += 1
        self.curves = RunCurves(job.name, job.settings)
        self.latest = None
        self.latest_rich = None
        self.result = None
        generation = self._generation
        worker = create_worker(
            _drive, snapshots, self._gate, self._shared, _start_thread=False, _ignore_errors=True
        )  # errors (divergence) are read from _Shared when the worker finishes
        assert isinstance(worker, GeneratorWorker)
        # The worker's signals reach this object only while it exists (lambdas are
        # not disconnected when a QObject is deleted).
        alive = [True]

        def on_batch(batch: SnapshotBatch) -> None:
            if alive[0]:
                self._on_batch(batch, generation)

        def on_finished(*_: Any) -> None:
            if alive[0]:
                self._on_worker_finished(generation)

        worker.yielded.connect(on_batch)
        worker.finished.connect(on_finished)
        self._worker = worker
        # If the window goes away without asking (no can_close), the worker must not
        # train on for minutes: stop it at the next step. The lambda holds only the
        # control, the gate and the flag, never this (then deleted) object.
        control, gate = self._control, self._gate

        def _gone(*_: Any) -> None:
            alive[0] = False
            control.request_stop()
            gate.release()

        self.destroyed.connect(_gone)
        self._set_state("running")
        self.run_started.emit(job)
        self._live_timer.start()
        worker.start()

    def pause(self) -> None:
        if self._state == "running":
            self._gate.pause()
            # The worker confirms at the end of the current step (a batch with paused=True).

    def resume(self) -> None:
        if self._state == "paused":
            self._gate.resume()
            self._set_state("running")

    def step_once(self) -> None:
        """Run exactly one optimizer step, then pause."""
        if self._state == "paused":
            self._gate.run_steps(1)
            self._set_state("running")

    def run_epoch(self) -> None:
        """Run to the end of the current epoch, then pause."""
        if self._state == "paused":
            self._gate.run_epoch()
            self._set_state("running")

    def set_lr(self, lr: float) -> None:
        """Change the base learning rate from the next step on."""
        if self.is_active:
            self._control.set_lr(float(lr))

    def stop(self) -> None:
        """Ask the worker to stop after the current step; the model trained so far is kept."""
        if self._state in ("running", "paused"):
            self._control.request_stop()
            self._gate.release()
            self._set_state("stopping")

    def shutdown(self, keep: bool = True, timeout: float = 30.0) -> bool:
        """Stop the run now and wait for the worker (closing the window).

        ``keep``: put the weights trained so far in the project; otherwise drop them.
        Returns False if the worker did not end within ``timeout`` seconds.
        """
        if not self.is_active:
            return True
        self._control.request_stop()
        self._gate.release()
        if not self._shared.done.wait(timeout):
            return False
        self._finalize(keep=keep)
        return True

    # -- worker callbacks (GUI thread) -------------------------------------------------------
    def _on_batch(self, batch: SnapshotBatch, generation: int) -> None:
        if generation != self._generation or self._finalized:
            return
        curves = self.curves
        for snap in batch.snapshots:
            if curves is not None:
                curves.add(snap)
            if snap.is_rich:
                self.latest_rich = snap
                self._live_dirty = True
        self.latest = batch.last
        self.progress.emit(batch)
        if batch.paused and self._state == "running":
            self._set_state("paused")

    def _on_worker_finished(self, generation: int) -> None:
        if generation == self._generation and not self._finalized:
            self._finalize(keep=True)

    def _finalize(self, keep: bool) -> None:
        """Record the run and the model once the worker has let go of the network."""
        self._finalized = True
        self._live_timer.stop()
        job = self._job
        shared = self._shared
        last = shared.last
        error = shared.error
        bundle = None
        if isinstance(error, DivergenceError):
            outcome, message = "diverged", str(error)
        elif isinstance(error, MemoryError):  # TrainingMemoryError, or from the set-up
            outcome, message = "out of memory", _out_of_memory_message(job, last)
        elif error is not None:
            outcome, message = "failed", f"Training failed: {error}"
        elif last is not None and last.stopped:
            outcome, message = "stopped", f"Stopped at epoch {last.epoch}, step {last.step}."
        elif last is not None:
            outcome = "finished"
            message = f"Finished {last.epochs} epoch(s), {last.step} steps"
            if last.val_accuracy is not None:
                message += f"; validation accuracy {last.val_accuracy * 100:.1f}%"
            message += "."
        else:
            outcome, message = "stopped", "Stopped before the first step."
        if keep and job is not None and last is not None:
            # The worker has ended, so the network is ours again; after a divergence
            # the engine has put the last good weights back into it.
            try:
                weights = job.network.get_weights()
                if all(np.isfinite(w).all() for w in weights.values()):
                    bundle = make_bundle(job, weights, last, outcome)
            except MemoryError:  # still short of memory: the previous model stays
                bundle = None
                message += " There was not even enough memory left to keep this model."
        self.result = TrainingResult(outcome, message, last, bundle)
        project = getattr(self._context, "project", None)
        if keep and project is not None and self.curves is not None and self.curves.steps:
            project.add_run(self.curves.to_history())
        if self.curves is not None and self.curves.steps:
            self.past_runs.append(self.curves)
        if keep and bundle is not None and project is not None:
            project.set_trained(bundle)
        self._worker = None
        self._set_state("idle")
        self.run_finished.emit(self.result)

    def _emit_live_model(self) -> None:
        if not self._live_dirty or self._job is None or self.latest_rich is None:
            return
        self._live_dirty = False
        context = self._context
        if context is None or not hasattr(context, "live_model"):
            return
        weights = self.latest_rich.weights
        if weights is None:
            return
        context.live_model.emit(make_bundle(self._job, dict(weights), self.latest_rich, "live"))


def _out_of_memory_message(job: TrainingJob | None, last: TrainingSnapshot | None) -> str:
    """What ran out, and what to change in the Train view (its words, not the engine's)."""
    if job is None:
        return "Training ran out of memory: lower the batch size or close other programs."
    shape = "x".join(str(v) for v in job.input_shape)
    if len(job.input_shape) == 3:
        c, h, w = job.input_shape
        shape = f"{c}@{h}x{w}"
    bs = job.config.batch_size
    batch = min(bs, len(job.train_data[1]))  # a dataset smaller than the batch is one batch
    where = "before the first step" if last is None else f"after step {last.step}"
    cores = ', untick "Use 2 processor cores"' if job.config.processes > 1 else ""
    kept = (
        "Nothing was trained; the previous model is unchanged."
        if last is None
        else f"The model of step {last.step} (the last completed one) was kept."
    )
    return (
        f"Training ran out of memory {where}: the computer has not enough free memory "
        f"(RAM) for batches of {batch} images of {shape} in this network. Lower the batch "
        f"size (now {bs}){cores}, use a smaller network, or close other programs. {kept}"
    )


def make_bundle(job: TrainingJob, weights: dict[str, np.ndarray], last: Any, outcome: str) -> Any:
    """A model bundle (``cnnstudio.io.model_file.ModelBundle``) of ``weights`` for ``job``."""
    from cnnstudio.ui.train.bridge import make_model_bundle

    summary: dict[str, Any] = {"outcome": outcome, "settings": dict(job.settings)}
    if last is not None:
        summary.update(
            epochs=int(last.epoch),
            steps=int(last.step),
            loss=float(last.loss),
            accuracy=float(last.accuracy),
            val_accuracy=None if last.val_accuracy is None else float(last.val_accuracy),
            seconds=float(last.elapsed),
        )
    return make_model_bundle(
        architecture=job.architecture,
        weights=weights,
        class_names=job.class_names,
        input_shape=job.input_shape,
        preprocessing=job.preprocessing,
        training_summary=summary,
    )


_GUI_BLAS_LIMIT: Any = None


def limit_gui_blas_threads(threads: int = 1) -> None:
    """Run BLAS with ``threads`` threads in this (GUI) process from now on.

    With two BLAS threads and another busy process on a 2-core machine, training
    and inference slowed down 3-13x; one thread was barely affected (see
    ENVIRONMENT.md). The engine limits its own training loop, but that limit is
    lifted when a run ends, and evaluations on the GUI thread would then collapse.
    Doing it once at start-up also keeps threadpoolctl's first library scan out of
    the first training step.
    """
    global _GUI_BLAS_LIMIT
    if _GUI_BLAS_LIMIT is None:
        from threadpoolctl import threadpool_limits

        _GUI_BLAS_LIMIT = threadpool_limits(limits=threads, user_api="blas")


def training_session(context: QObject) -> TrainingSession:
    """The context's training session, created on first use (a child of the context)."""
    session = context.findChild(
        TrainingSession, "trainingSession", Qt.FindChildOption.FindDirectChildrenOnly
    )
    if session is None:
        limit_gui_blas_threads()
        session = TrainingSession(context, parent=context)
    return session
