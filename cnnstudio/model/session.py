"""A training run without Qt: its job, its history, the latest snapshot and model.

A :class:`TrainingSession` owns one run at a time. ``start(job)`` returns the
generator a worker thread advances: it runs the engine's ``train`` generator and
yields the snapshots in :class:`SnapshotBatch` es, at most ``BATCH_INTERVAL`` apart
(plus one when the run pauses or ends), so a fast network cannot flood whoever
listens. The listener hands each batch back with :meth:`TrainingSession.receive`
on its own thread; that is where the history grows and the latest snapshot and the
latest model change. Nobody but the worker touches the live network while it trains.

Pause, one step and one epoch are a :class:`Gate` the worker waits on *after* a
step, so "one step" advances exactly one optimizer step; stop and learning-rate
changes go through the engine's ``TrainingControl``. When the worker has ended,
:meth:`TrainingSession.finish` says how the run ended and puts the run and the
model it kept into the project.

ui/worker.py runs this on a QThread and turns it into Qt signals; the command line
could drive it with a plain loop.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnnstudio.engine.errors import DivergenceError, EngineError
from cnnstudio.engine.layers.base import format_shape
from cnnstudio.engine.metrics import n_classes_of
from cnnstudio.engine.training import TrainConfig, TrainingControl, TrainingSnapshot, train
from cnnstudio.io.model_file import TrainedModel
from cnnstudio.model.architecture import graph_to_architecture
from cnnstudio.model.compile import compile_network
from cnnstudio.model.graph import Graph

__all__ = [
    "BATCH_INTERVAL",
    "EMA_DECAY",
    "RunHistory",
    "SnapshotBatch",
    "TrainingJob",
    "TrainingResult",
    "TrainingSession",
    "make_job",
]

#: Seconds between snapshot batches (10 a second): the one rate views are told at.
BATCH_INTERVAL = 0.1
#: Weight of the previous value in the loss curve's exponential moving average.
EMA_DECAY = 0.95
#: How runs end, in :attr:`TrainingResult.outcome`.
OUTCOMES = ("finished", "stopped", "diverged", "out of memory", "failed")


@dataclass
class RunHistory:
    """The curves of one training run: what the plots draw and the project file keeps.

    Per step: ``steps``, ``loss`` (the batch loss; NaN where it was not finite),
    ``lr``, and ``smooth`` (the loss's bias-corrected exponential moving average,
    computed on demand). Per epoch: ``epochs``, ``train_accuracy``, ``val_accuracy``
    and ``val_loss`` (None without validation data).
    """

    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_accuracy: list[float | None] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    # The smoothed loss so far and the moving average's state, extended as steps come.
    _smooth: list[float] = field(default_factory=list, init=False, repr=False, compare=False)
    _ema: float = field(default=0.0, init=False, repr=False, compare=False)
    _ema_n: int = field(default=0, init=False, repr=False, compare=False)

    _SERIES = ("steps", "loss", "lr", "epochs", "train_accuracy", "val_accuracy", "val_loss")

    def add(self, snap: TrainingSnapshot) -> None:
        """Record one step's snapshot (and its epoch's numbers at an epoch end)."""
        loss = float(snap.batch_loss)
        self.steps.append(int(snap.step))
        self.loss.append(loss if math.isfinite(loss) else float("nan"))
        self.lr.append(float(snap.lr))
        if snap.epoch_end:
            self.epochs.append(int(snap.epoch))
            self.train_accuracy.append(float(snap.accuracy))
            self.val_accuracy.append(snap.val_accuracy)
            self.val_loss.append(snap.val_loss)

    @property
    def smooth(self) -> list[float]:
        """The smoothed loss, one value per step (steps before any finite loss: the loss)."""
        for value in self.loss[len(self._smooth) :]:
            loss = float(value)
            if math.isfinite(loss):
                self._ema = EMA_DECAY * self._ema + (1.0 - EMA_DECAY) * loss
                self._ema_n += 1
            self._smooth.append(self._ema / (1.0 - EMA_DECAY**self._ema_n) if self._ema_n else loss)
        return self._smooth

    @property
    def last_val_accuracy(self) -> float | None:
        return next((v for v in reversed(self.val_accuracy) if v is not None), None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "settings": self.settings}
        out.update({key: getattr(self, key) for key in self._SERIES})
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunHistory:
        if not isinstance(data, dict) or "name" not in data:
            raise ValueError("a training run must be a JSON object with a name")
        known = {k: data[k] for k in ("name", "settings", *cls._SERIES) if k in data}
        for key in cls._SERIES:
            if key in known and not isinstance(known[key], list):
                raise ValueError(f"training run {data['name']!r}: {key} must be a list")
        return cls(**known)


@dataclass
class TrainingJob:
    """Everything one run needs, prepared before it starts (see :func:`make_job`).

    Attributes
    ----------
    network
        A freshly built ``engine.Network``; the worker owns it while it trains.
    train_data, val_data
        ``(images uint8 NCHW, labels)``; ``val_data`` may be None.
    config
        The engine's training settings.
    architecture, class_names, input_shape, preprocessing
        What the trained model of the result needs.
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


def make_job(
    graph: Graph,
    train_set: Any,
    val_set: Any,
    config: TrainConfig,
    *,
    seed: int = 0,
    preprocessing: dict[str, Any] | None = None,
    transform: Callable[..., np.ndarray] | None = None,
    val_transform: Callable[..., np.ndarray] | None = None,
    name: str = "Run",
    settings: dict[str, Any] | None = None,
) -> TrainingJob:
    """A job training a new network compiled from ``graph`` on ``train_set``.

    ``train_set`` and ``val_set`` (or None) are ``data.Dataset`` s. Class names are
    padded with numbers when the network has more outputs than the data has classes.

    Raises
    ------
    GraphError
        When the graph is not a valid network yet.
    EngineError
        When the architecture cannot be built, or gives fewer classes than the data has.
    """
    network = compile_network(graph, seed=seed)
    architecture = graph_to_architecture(graph)
    n_classes = n_classes_of(network)
    if n_classes < train_set.num_classes:
        raise EngineError(
            f"the network gives {n_classes} class scores but the dataset has "
            f"{train_set.num_classes} classes; set the output units to {train_set.num_classes}"
        )
    names = [str(c) for c in train_set.class_names]
    names += [str(i) for i in range(len(names), n_classes)]
    return TrainingJob(
        network=network,
        train_data=(train_set.images, train_set.labels),
        val_data=None if val_set is None else (val_set.images, val_set.labels),
        config=config,
        architecture=architecture,
        class_names=names[:n_classes],
        input_shape=tuple(network.input_shape),
        preprocessing=dict(preprocessing or {}),
        transform=transform,
        val_transform=val_transform,
        name=name,
        settings=dict(settings or {}),
    )


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

    ``outcome`` is one of ``OUTCOMES``; ``message`` says it in words; ``model`` is the
    trained model kept (None when discarded or when no step ran).
    """

    outcome: str
    message: str
    last: TrainingSnapshot | None
    model: TrainedModel | None = None


class Gate:
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
    """Written by the worker thread, read by the listener's (plain attribute swaps)."""

    def __init__(self) -> None:
        self.last: TrainingSnapshot | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()


def _batches(
    snapshots: Iterator[TrainingSnapshot], gate: Gate, shared: _Shared
) -> Iterator[SnapshotBatch]:
    """The worker's generator: engine snapshots in, batches at ``BATCH_INTERVAL`` out."""
    pending: list[TrainingSnapshot] = []
    last_sent = time.perf_counter()
    try:
        try:
            for snap in snapshots:
                shared.last = snap
                pending.append(snap)
                hold = gate.consume(snap) and not snap.done
                now = time.perf_counter()
                if hold or snap.done or now - last_sent >= BATCH_INTERVAL:
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


class TrainingSession:
    """The training run of one window (or command), one at a time.

    ``state`` is ``"idle"``, ``"running"``, ``"paused"`` or ``"stopping"``. The
    control methods (pause, resume, step_once, run_epoch, set_lr, stop) may be called
    at any time and do nothing when they do not apply.
    """

    def __init__(self) -> None:
        self.state = "idle"
        self._gate = Gate()
        self._control = TrainingControl()
        self._shared = _Shared()
        self._job: TrainingJob | None = None
        self._run_count = 0
        self._live: tuple[TrainingSnapshot, TrainedModel] | None = None
        #: The latest snapshot and the latest rich one (weights, activations, stats).
        self.latest: TrainingSnapshot | None = None
        self.latest_rich: TrainingSnapshot | None = None
        #: The history of the current (or last) run.
        self.history: RunHistory | None = None
        #: How the last run ended (None while it runs).
        self.result: TrainingResult | None = None
        #: Finished runs with at least one step, oldest first (also in ``project.history``).
        self.runs: list[RunHistory] = []

    @property
    def is_active(self) -> bool:
        """True from start until the worker has finished (running, paused or stopping)."""
        return self.state != "idle"

    @property
    def job(self) -> TrainingJob | None:
        return self._job

    def next_run_name(self) -> str:
        return f"Run {self._run_count + 1}"

    # -- the run ------------------------------------------------------------------------
    def start(self, job: TrainingJob, *, then_pause: str | None = None) -> Iterator[SnapshotBatch]:
        """Begin ``job``; returns the generator the worker thread advances.

        ``then_pause``: ``"step"`` runs one step, ``"epoch"`` one epoch, then pauses.
        Raises ``EngineError`` / ``ValueError`` when the engine refuses the job.
        """
        if self.is_active:
            raise RuntimeError("a training run is already active; stop it first")
        control = TrainingControl()
        snapshots = train(
            job.network,
            job.train_data,
            job.val_data,
            job.config,
            control=control,
            transform=job.transform,
            val_transform=job.val_transform,
        )
        self._control = control
        self._gate = Gate()
        if then_pause == "step":
            self._gate.run_steps(1)
        elif then_pause == "epoch":
            self._gate.run_epoch()
        self._shared = _Shared()
        self._job = job
        self._run_count += 1
        self._live = None
        self.history = RunHistory(job.name, dict(job.settings))
        self.latest = None
        self.latest_rich = None
        self.result = None
        self.state = "running"
        return _batches(snapshots, self._gate, self._shared)

    def receive(self, batch: SnapshotBatch) -> None:
        """Take a batch from the worker (on the listener's thread)."""
        if self.state == "idle":
            return  # the run was finished (shut down) before this batch arrived
        for snap in batch.snapshots:
            if self.history is not None:
                self.history.add(snap)
            if snap.is_rich:
                self.latest_rich = snap
        self.latest = batch.last
        if batch.paused and self.state == "running":
            self.state = "paused"

    @property
    def live_model(self) -> TrainedModel | None:
        """While a run is active: its latest weights as a trained model, else None.

        Built when first asked for after each new rich snapshot, so views that follow
        the network as it learns share one model per snapshot.
        """
        snap, job = self.latest_rich, self._job
        if not self.is_active or job is None or snap is None or snap.weights is None:
            return None
        if self._live is None or self._live[0] is not snap:
            self._live = (snap, trained_model(job, dict(snap.weights), snap, "live"))
        return self._live[1]

    # -- control -------------------------------------------------------------------------
    def pause(self) -> None:
        """Pause after the current step (``receive`` sees the worker confirm it)."""
        if self.state == "running":
            self._gate.pause()

    def resume(self) -> None:
        if self.state == "paused":
            self._gate.resume()
            self.state = "running"

    def step_once(self) -> None:
        """Run exactly one optimizer step, then pause."""
        if self.state == "paused":
            self._gate.run_steps(1)
            self.state = "running"

    def run_epoch(self) -> None:
        """Run to the end of the current epoch, then pause."""
        if self.state == "paused":
            self._gate.run_epoch()
            self.state = "running"

    def set_lr(self, lr: float) -> None:
        """Change the base learning rate from the next step on."""
        if self.is_active:
            self._control.set_lr(float(lr))

    def stop(self) -> None:
        """Stop after the current step; the model trained so far is kept."""
        if self.state in ("running", "paused"):
            self.release()
            self.state = "stopping"

    def release(self) -> None:
        """Let the worker run to its end now (stop at the next step, never wait)."""
        self._control.request_stop()
        self._gate.release()

    def wait_done(self, timeout: float) -> bool:
        """Wait until the worker's generator has ended; False after ``timeout`` seconds."""
        return self._shared.done.wait(timeout)

    def finish(self, keep: bool = True, project: Any = None) -> TrainingResult:
        """Say how the run ended, once the worker has let go of the network.

        With ``keep``, the run goes into ``project.add_run`` and the model kept (after
        a divergence or running out of memory, the last good step's) into
        ``project.set_trained``.
        """
        job, last, error = self._job, self._shared.last, self._shared.error
        outcome, message = _outcome(job, last, error)
        model = None
        if keep and job is not None and last is not None:
            # The worker has ended, so the network is ours again; after a divergence
            # the engine has put the last good weights back into it.
            try:
                weights = job.network.get_weights()
                if all(np.isfinite(w).all() for w in weights.values()):
                    model = trained_model(job, weights, last, outcome)
            except MemoryError:  # still short of memory: the previous model stays
                model = None
                message += " There was not even enough memory left to keep this model."
        self.result = TrainingResult(outcome, message, last, model)
        history = self.history
        if history is not None and history.steps:
            self.runs.append(history)
            if keep and project is not None:
                project.add_run(history)
        if keep and model is not None and project is not None:
            project.set_trained(model)
        self._live = None
        self.state = "idle"
        return self.result


def _outcome(
    job: TrainingJob | None, last: TrainingSnapshot | None, error: BaseException | None
) -> tuple[str, str]:
    if isinstance(error, DivergenceError):
        return "diverged", str(error)
    if isinstance(error, MemoryError):  # TrainingMemoryError, or from the set-up
        return "out of memory", _out_of_memory_message(job, last)
    if error is not None:
        return "failed", f"Training failed: {error}"
    if last is None:
        return "stopped", "Stopped before the first step."
    if last.stopped:
        return "stopped", f"Stopped at epoch {last.epoch}, step {last.step}."
    message = f"Finished {last.epochs} epoch(s), {last.step} steps"
    if last.val_accuracy is not None:
        message += f"; validation accuracy {last.val_accuracy * 100:.1f}%"
    return "finished", message + "."


def _out_of_memory_message(job: TrainingJob | None, last: TrainingSnapshot | None) -> str:
    """What ran out, and what to change in the Train view (its words, not the engine's)."""
    if job is None:
        return "Training ran out of memory: lower the batch size or close other programs."
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
        f"(RAM) for batches of {batch} images of {format_shape(job.input_shape)} in this "
        f"network. Lower the batch size (now {bs}){cores}, use a smaller network, or close "
        f"other programs. {kept}"
    )


def trained_model(
    job: TrainingJob, weights: dict[str, np.ndarray], last: TrainingSnapshot | None, outcome: str
) -> TrainedModel:
    """The trained model of ``job`` with ``weights``, its summary from ``last``."""
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
    return TrainedModel(
        architecture=job.architecture,
        weights=weights,
        class_names=list(job.class_names),
        input_shape=tuple(job.input_shape),
        preprocessing=dict(job.preprocessing),
        training_summary=summary,
    )
