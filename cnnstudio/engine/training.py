"""The training loop: a generator of immutable progress snapshots.

Typical use (the CLI; the UI does the same on a worker thread)::

    from cnnstudio.engine.training import TrainConfig, train, format_progress

    config = TrainConfig(epochs=3, batch_size=64, optimizer="adam", lr=1e-3)
    for snap in train(network, (x_train, y_train), (x_val, y_val), config):
        print("\\r" + format_progress(snap), end="", flush=True)
        if snap.epoch_end:
            print()

Threads and control
-------------------
``train`` returns a generator; nothing runs until it is advanced. The consumer owns
the pace:

- **Pause** = stop advancing the generator (superqt's ``thread_worker`` does this at
  the next ``yield``); **resume** = advance it again. Paused time is not counted in
  ``elapsed``, ``samples_per_sec`` or the ETA.
- **One step / one epoch** from a paused state: advance until the next snapshot
  (one step) or until the next snapshot with ``epoch_end`` set (one epoch), then
  pause again. This keeps the optimizer's state and the shuffling order, unlike
  starting a new ``train`` with ``max_steps``.
- **Stop** and **learning-rate changes** go through a :class:`TrainingControl`, which
  is thread-safe; both act at the next step. After a stop the generator yields one
  final snapshot (``done`` and ``stopped`` set, with weights) and ends. Closing the
  generator (``gen.close()``) also ends it, without a final snapshot.

While the generator runs a step it owns the network: the consumer must read only the
snapshots (every array in them is a read-only copy).

Why one file of about 900 lines: the settings (``TrainConfig``), the remote control,
the snapshot and the loop are one contract that is read together, and the loop
(``_loop``) is one function so that a step reads top to bottom: the batch, the
step, the divergence and memory checks with their restoring of the last good
weights, and the throttled rich snapshot. ``fit`` and ``format_progress`` are thin
wrappers for scripts and the command line.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

# TrainingMemoryError lives in errors.py with the other error types; it is still
# importable from here, where it was first defined.
from cnnstudio.engine.errors import DivergenceError, EngineError, TrainingMemoryError
from cnnstudio.engine.layers.base import format_shape
from cnnstudio.engine.losses import loss_for
from cnnstudio.engine.metrics import (
    Transform,
    _checked_batch,
    check_inputs,
    default_transform,
    evaluate,
)
from cnnstudio.engine.optimizers import OPTIMIZERS, Optimizer, make_optimizer
from cnnstudio.engine.schedules import SCHEDULES, Schedule, make_schedule

__all__ = [
    "TrainConfig",
    "TrainingControl",
    "TrainingMemoryError",
    "TrainingSnapshot",
    "check_training_data",
    "default_transform",
    "fit",
    "format_progress",
    "train",
]

#: Images checked for NaN/inf at a time: bounds the temporary mask to a few MB.
_FINITE_CHUNK_VALUES = 1 << 22
#: Samples of the last batch used to count dead ReLU units on rich snapshots.
_DEAD_UNIT_SAMPLES = 16
#: Layer types whose outputs are checked for dead units (exact zeros for every sample).
_RELU_TYPES = frozenset({"ReLU"})


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


@dataclass
class TrainConfig:
    """Every training setting, validated on creation (and again by :func:`train`).

    Attributes
    ----------
    epochs : int
        Passes over the training data (>= 1).
    batch_size : int
        Samples per step (>= 1). The last batch of an epoch may be smaller.
    optimizer : {"sgd", "adam", "rmsprop"}
    lr : float
        Base learning rate (> 0); the schedule scales it.
    momentum, nesterov : float, bool
        SGD only (momentum in [0, 1)).
    weight_decay : float
        L2 penalty added to the gradients (>= 0), all optimizers.
    label_smoothing : float
        In [0, 1): the training loss aims at ``(1 - e) onehot + e / K`` instead of the
        one-hot labels (``losses.softmax_cross_entropy``); 0 is the plain loss. The
        validation loss stays the plain one.
    schedule : {"constant", "step", "cosine", "onecycle"}
    step_size, gamma : int, float
        ``"step"``: multiply the rate by ``gamma`` every ``step_size`` **epochs**.
    min_lr : float
        ``"cosine"``: the rate at the last step (annealed over the whole run).
    seed : int
        Seeds the shuffling and the transform's random numbers (the network's own
        initialisation is seeded when it is built).
    max_steps : int or None
        Stop after this many steps even if ``epochs`` are not done.
    explode_factor : float or None
        Besides a NaN or infinite loss, a batch loss above ``explode_factor`` times
        the first batch's loss (at least 1) counts as divergence. With the stable
        fused losses a far too high learning rate often does not give NaN: it kills
        every ReLU and leaves a huge but finite loss. ``None``: only NaN/inf count.
    snapshot_interval : float
        Minimum seconds between rich snapshots (weights, activations, layer stats);
        epoch ends and the last step are always rich. 0 makes every snapshot rich.
    threads : int or None
        BLAS threads while the generator runs (threadpoolctl); ``None`` leaves the
        process setting alone.
    processes : int
        Processes sharing every batch (``engine.parallel.DataParallel``): 2 trains
        markedly faster on an otherwise idle 2-core machine, and slower when another
        program keeps a core busy. Helpers start with the run and stop at its end.
        Networks with BatchNorm or Dropout, and batches under 8 samples a process,
        train in this process only.
    kernels : {"fast", "reference"}
        The engine tier the run trains on (``Network.set_kernels``): ``"reference"`` is
        the readable NCHW tier a student can step through in a debugger, several times
        slower; it trains in this process only.
    """

    epochs: int = 5
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    schedule: str = "constant"
    step_size: int = 1
    gamma: float = 0.1
    min_lr: float = 0.0
    seed: int = 0
    max_steps: int | None = None
    explode_factor: float | None = 1000.0
    snapshot_interval: float = 0.25
    threads: int | None = 1
    processes: int = 1
    kernels: str = "fast"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``EngineError`` naming the first setting that is out of range."""

        def bad(name: str, rule: str) -> EngineError:
            return EngineError(
                f"training setting {name} must be {rule}, got {getattr(self, name)!r}"
            )

        for name in ("epochs", "batch_size", "step_size"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 1:
                raise bad(name, "an integer >= 1")
        if not isinstance(self.optimizer, str) or self.optimizer.lower() not in OPTIMIZERS:
            raise bad("optimizer", f"one of {', '.join(sorted(OPTIMIZERS))}")
        if not isinstance(self.schedule, str) or self.schedule.lower() not in SCHEDULES:
            raise bad("schedule", f"one of {', '.join(SCHEDULES)}")
        if not _is_number(self.lr) or not (math.isfinite(self.lr) and self.lr > 0):
            raise bad("lr", "a number > 0")
        if not _is_number(self.momentum) or not 0 <= self.momentum < 1:
            raise bad("momentum", "a number in [0, 1)")
        if not isinstance(self.nesterov, bool | np.bool_):
            raise bad("nesterov", "True or False")
        if self.nesterov and self.optimizer.lower() == "sgd" and self.momentum == 0:
            raise EngineError("training setting nesterov needs a momentum > 0")
        for name in ("weight_decay", "min_lr"):
            value = getattr(self, name)
            if not _is_number(value) or not (math.isfinite(value) and value >= 0):
                raise bad(name, "a number >= 0")
        if not _is_number(self.label_smoothing) or not (
            math.isfinite(self.label_smoothing) and 0 <= self.label_smoothing < 1
        ):
            raise bad("label_smoothing", "a number in [0, 1)")
        if not _is_number(self.gamma) or not (math.isfinite(self.gamma) and self.gamma > 0):
            raise bad("gamma", "a number > 0")
        if not _is_int(self.seed) or self.seed < 0:
            raise bad("seed", "an integer >= 0")
        if self.max_steps is not None and (not _is_int(self.max_steps) or self.max_steps < 1):
            raise bad("max_steps", "None or an integer >= 1")
        if self.explode_factor is not None and (
            not _is_number(self.explode_factor)
            or not (math.isfinite(self.explode_factor) and self.explode_factor > 1)
        ):
            raise bad("explode_factor", "None or a number > 1")
        if not _is_number(self.snapshot_interval) or not (
            math.isfinite(self.snapshot_interval) and self.snapshot_interval >= 0
        ):
            raise bad("snapshot_interval", "a number of seconds >= 0")
        if self.threads is not None and (
            not _is_int(self.threads) or not 1 <= self.threads <= 1024
        ):
            raise bad("threads", "None or an integer from 1 to 1024")
        if not _is_int(self.processes) or not 1 <= self.processes <= 64:
            raise bad("processes", "an integer from 1 to 64")
        if self.kernels not in ("fast", "reference"):
            raise bad("kernels", "'fast' or 'reference'")

    def make_optimizer(self) -> Optimizer:
        """The optimizer these settings describe."""
        name = self.optimizer.lower()
        if name == "sgd":
            return make_optimizer(
                name,
                lr=self.lr,
                momentum=self.momentum,
                nesterov=self.nesterov,
                weight_decay=self.weight_decay,
            )
        return make_optimizer(name, lr=self.lr, weight_decay=self.weight_decay)

    def make_schedule(self, steps_per_epoch: int, total_steps: int) -> Schedule:
        """The schedule in optimizer steps (``step_size`` epochs become steps)."""
        return make_schedule(
            self.schedule,
            step_size=self.step_size * steps_per_epoch,
            gamma=self.gamma,
            total_steps=max(total_steps, 1),
            min_lr=self.min_lr,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (for project files and the CLI)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild from :meth:`to_dict`; unknown keys are an error that names them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise EngineError(f"unknown training setting(s): {', '.join(unknown)}")
        return cls(**data)


class TrainingControl:
    """Thread-safe remote control for a running :func:`train` generator.

    The UI or CLI keeps it and calls its methods from any thread; the training
    generator reads it before each step. Pausing is not here: a consumer pauses by
    not advancing the generator.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = False
        self._pending_lr: float | None = None

    def request_stop(self) -> None:
        """Finish after the current step: one last snapshot (``done``, ``stopped``) follows."""
        self._stop = True

    @property
    def stop_requested(self) -> bool:
        return self._stop

    def set_lr(self, lr: float) -> None:
        """Change the base learning rate from the next step on (the schedule still applies)."""
        if not _is_number(lr) or not (math.isfinite(lr) and lr > 0):
            raise EngineError(f"learning rate must be a number > 0, got {lr!r}")
        with self._lock:
            self._pending_lr = float(lr)

    def _take_lr(self) -> float | None:
        if self._pending_lr is None:  # the common case, without taking the lock
            return None
        with self._lock:
            lr, self._pending_lr = self._pending_lr, None
        return lr


@dataclass(frozen=True, eq=False)
class TrainingSnapshot:
    """Progress after one step; immutable, and every array in it is a read-only copy.

    Attributes
    ----------
    epoch, epochs : int
        Current epoch (1-based) and planned epochs.
    step, steps_per_epoch, total_steps : int
        Global step (1-based), steps in one epoch, steps in this run.
    step_in_epoch : int
        1-based position within the epoch.
    batch_loss : float
        Loss of this step's batch (before the update).
    loss, accuracy : float
        Running mean loss and accuracy (0..1) over this epoch's batches so far.
    lr, base_lr : float
        The learning rate used for this step, and the base rate the schedule scales.
    samples_per_sec, elapsed, eta_seconds : float
        Training throughput, seconds spent training (pauses excluded), estimated
        seconds left (validation included).
    epoch_end, done, stopped : bool
        Last step of an epoch; last snapshot of the run; the run ended by
        ``TrainingControl.request_stop``.
    val_loss, val_accuracy : float or None
        On epoch-end snapshots when validation data was given.
    val_confusion : ndarray (K, K) int64 or None
        Confusion matrix of the validation data (rows true, columns predicted), same times.
    weights : dict or None
        ``network.get_weights()`` copy. Only on rich snapshots (see ``is_rich``).
    probe_activations : dict or None
        ``network.activations(probe)`` copy (node id -> array), on rich snapshots
        when a probe was given.
    layer_stats : dict or None
        On rich snapshots: per layer with parameters
        ``{"weight_norm", "weight_mean_abs", "grad_norm", "grad_mean_abs"}`` over all
        its parameters; per ReLU layer ``{"dead_fraction"}``: the share of channels
        (conv) or units (dense) that output 0 for every sample of (up to 16 of) the
        last batch.
    """

    epoch: int
    epochs: int
    step: int
    steps_per_epoch: int
    total_steps: int
    step_in_epoch: int
    batch_loss: float
    loss: float
    accuracy: float
    lr: float
    base_lr: float
    samples_per_sec: float
    elapsed: float
    eta_seconds: float
    epoch_end: bool = False
    done: bool = False
    stopped: bool = False
    val_loss: float | None = None
    val_accuracy: float | None = None
    val_confusion: np.ndarray | None = None
    weights: dict[str, np.ndarray] | None = field(default=None, repr=False)
    probe_activations: dict[str, np.ndarray] | None = field(default=None, repr=False)
    layer_stats: dict[str, dict[str, float]] | None = field(default=None, repr=False)

    @property
    def is_rich(self) -> bool:
        """True when this snapshot carries weights and layer statistics."""
        return self.weights is not None

    @property
    def progress(self) -> float:
        """Fraction of the run done, 0..1."""
        return self.step / self.total_steps if self.total_steps else 1.0


def _frozen(arrays: dict[str, np.ndarray], copy: bool = True) -> dict[str, np.ndarray]:
    """Read-only versions; ``copy=False`` only for arrays that are already private copies."""
    out = {}
    for key, arr in arrays.items():
        a = np.array(arr, copy=True) if copy else arr
        a.flags.writeable = False
        out[key] = a
    return out


def _without_augmentation(transform: Transform) -> Transform:
    """``transform`` with ``rng=None`` always: the deterministic preprocessing for validation."""

    def deterministic(xb: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return transform(xb, None)

    return deterministic


def _layer_type(layer: Any) -> str:
    return getattr(layer, "type_name", "") or type(layer).__name__


def _sum_squares(a: np.ndarray) -> float:
    with np.errstate(over="ignore"):
        v = float(np.dot(a, a))
    if not math.isfinite(v):  # huge weights of a diverging run overflow float32
        a64 = a.astype(np.float64)
        v = float(np.dot(a64, a64))
    return v


def _layer_stats(network: Any, acts: dict[str, np.ndarray] | None) -> dict[str, dict[str, float]]:
    sums: dict[str, list[float]] = {}
    for key, p, g in network.parameters():
        layer = key.rpartition(".")[0] or key
        s = sums.setdefault(layer, [0.0, 0.0, 0.0, 0.0, 0.0])
        pf = p.ravel()
        gf = g.ravel()
        s[0] += _sum_squares(pf)
        s[1] += float(np.abs(pf).sum(dtype=np.float64))
        s[2] += _sum_squares(gf)
        s[3] += float(np.abs(gf).sum(dtype=np.float64))
        s[4] += p.size
    stats: dict[str, dict[str, float]] = {
        name: {
            "weight_norm": math.sqrt(s[0]),
            "weight_mean_abs": s[1] / s[4] if s[4] else 0.0,
            "grad_norm": math.sqrt(s[2]),
            "grad_mean_abs": s[3] / s[4] if s[4] else 0.0,
        }
        for name, s in sums.items()
    }
    if acts:
        for layer in getattr(network, "layers", ()):
            out = acts.get(str(getattr(layer, "name", "")))
            if out is None or _layer_type(layer) not in _RELU_TYPES or out.ndim < 2:
                continue
            # a unit is dead when it is 0 for every sample (and every position of a channel)
            per_unit = out.max(axis=tuple(i for i in range(out.ndim) if i != 1))
            stats.setdefault(layer.name, {})["dead_fraction"] = float(
                np.count_nonzero(per_unit <= 0)
            ) / max(per_unit.size, 1)
    return stats


def _all_finite(network: Any) -> bool:
    return all(bool(np.isfinite(p).all()) for _, p, _ in network.parameters())


def _first_nonfinite(x: np.ndarray) -> int | None:
    """Index of the first image of ``x`` with a NaN or infinite value; None when there is none."""
    if not np.issubdtype(x.dtype, np.floating) or x.shape[0] == 0:
        return None  # integer images cannot hold NaN
    chunk = max(1, _FINITE_CHUNK_VALUES // max(1, math.prod(x.shape[1:])))
    for start in range(0, x.shape[0], chunk):
        block = x[start : start + chunk]
        finite = np.isfinite(block).reshape(block.shape[0], -1).all(axis=1)
        if not finite.all():
            return start + int(np.argmin(finite))
    return None


def _check_finite(x: np.ndarray, what: str) -> None:
    bad = _first_nonfinite(x)
    if bad is not None:
        raise EngineError(
            f"image {bad} of {what} contains NaN/inf values (images are counted from 0); "
            "fix or remove it before training"
        )


def check_training_data(
    x: np.ndarray,
    y: np.ndarray,
    what: str = "the training data",
    class_names: Any = None,
) -> None:
    """Refuse training data that no network can learn from, before any step runs.

    - Fewer than two classes among the labels: there is nothing to tell apart, the
      softmax loss of a single class has zero gradients, and a run would report 100%
      accuracy with weights that never change.
    - An image with a NaN or infinite value: it would turn the loss into NaN at
      whatever step first draws it, which would then be blamed on the learning rate.

    ``x``: images ``(N, ...)``, uint8 or float (checked in chunks, no full-size copy);
    ``y``: integer labels ``(N,)``. ``what`` names the data in the message (``"the
    training data"``, a file name) and ``class_names`` the labels, when known.

    Raises
    ------
    EngineError
        Naming the data and the problem (the image index for NaN/inf values).
    """
    labels = np.asarray(y)
    if labels.size and labels.min() == labels.max():
        value = int(labels.flat[0])
        name = str(value)
        if class_names is not None and 0 <= value < len(class_names):
            name = repr(str(class_names[value]))
        raise EngineError(
            f"{what} has only one class (every image is labelled {name}): a classifier "
            "needs images of at least two classes to learn anything; add another class"
        )
    _check_finite(x, what)


def _pair(data: Any, what: str) -> tuple[Any, Any]:
    """``(images, labels)`` from a pair or from an object with ``images`` and ``labels``."""
    if hasattr(data, "images") and hasattr(data, "labels"):
        return data.images, data.labels
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise EngineError(f"{what} must be an (images, labels) pair")
    return data[0], data[1]


def train(
    network: Any,
    train_data: tuple[np.ndarray, Any],
    val_data: tuple[np.ndarray, Any] | None = None,
    config: TrainConfig | None = None,
    control: TrainingControl | None = None,
    transform: Transform | None = None,
    probe: np.ndarray | None = None,
    val_transform: Transform | None = None,
) -> Generator[TrainingSnapshot, None, None]:
    """Train ``network`` in place, yielding a :class:`TrainingSnapshot` after every step.

    Parameters
    ----------
    network : Network
        Trained in place. Its output activation picks the loss (softmax
        cross-entropy, or sigmoid binary cross-entropy for a 1-unit sigmoid output).
    train_data, val_data : (x, y), or an object with ``images`` and ``labels`` (a Dataset)
        ``x`` of shape ``(N, *network.input_shape)``, uint8 or float, is never
        converted as a whole: each batch is gathered by index and converted alone.
        ``y``: int class indices ``(N,)``.
    config : TrainConfig, optional
    control : TrainingControl, optional
        Stop and learning-rate changes from another thread.
    transform : callable, optional
        ``transform(x_batch, rng) -> float32 batch`` for training batches
        (augmentation + normalisation; ``rng`` is a seeded ``numpy.random.Generator``).
        Default: :func:`default_transform` (float32, uint8 divided by 255).
    probe : ndarray, optional
        Raw images like ``x`` (e.g. one image, ``(1, C, H, W)``); rich snapshots carry
        ``network.activations`` of them, preprocessed like validation data.
    val_transform : callable, optional
        Preprocessing for validation data and the probe. Default: ``transform``
        called with ``rng=None`` (a transform must then skip random augmentation),
        or :func:`default_transform` when there is no ``transform``.

    Returns
    -------
    Generator[TrainingSnapshot]
        A generator; the inputs are checked now, training runs as it is advanced.

    Raises
    ------
    EngineError
        Bad settings or data (raised by this call, before any training): among
        others training data of fewer than two classes, and an image with NaN or
        infinite values (see :func:`check_training_data`).
    DivergenceError
        From the generator, when the loss becomes NaN or infinite; the network is
        left with the last weights that gave a finite loss.
    TrainingMemoryError
        From the generator, when a step or the validation runs out of memory.

    Whatever ends the generator (an error, ``KeyboardInterrupt`` or ``close()``), the
    network is left with the weights of the last completed step, never with a
    half-applied update: a consumer can always save it.
    """
    config = TrainConfig() if config is None else config
    if not isinstance(config, TrainConfig):
        raise EngineError(f"config must be a TrainConfig, got {type(config).__name__}")
    config.validate()
    x, y = check_inputs(network, *_pair(train_data, "training data"), "training data")
    check_training_data(x, y)
    val = None
    if val_data is not None:
        val = check_inputs(network, *_pair(val_data, "validation data"), "validation data")
        _check_finite(val[0], "the validation data")
    if val_transform is None and transform is not None:
        val_transform = _without_augmentation(transform)
    probe_x = None
    if probe is not None:
        if not isinstance(probe, np.ndarray):
            raise EngineError(f"probe must be a NumPy array, got {type(probe).__name__}")
        if probe.ndim == len(network.input_shape):
            probe = probe[None]
        check_inputs(network, probe, np.zeros(len(probe), np.int64), "probe")
        probe_x = (
            default_transform(probe)
            if val_transform is None
            else _checked_batch(val_transform(probe, None), network, "probe")
        )
    return _run(network, x, y, val, config, control, transform, val_transform, probe_x)


def _run(
    network: Any,
    x: np.ndarray,
    y: np.ndarray,
    val: tuple[np.ndarray, np.ndarray] | None,
    config: TrainConfig,
    control: TrainingControl | None,
    transform: Transform | None,
    val_transform: Transform | None,
    probe_x: np.ndarray | None,
) -> Generator[TrainingSnapshot, None, None]:
    if config.threads is not None:
        from threadpoolctl import threadpool_limits

        limiter: Any = threadpool_limits(limits=config.threads, user_api="blas")
    else:
        limiter = contextlib.nullcontext()
    if hasattr(network, "set_kernels") and network.kernels != config.kernels:
        network.set_kernels(config.kernels)
    parallel: Any = None
    if config.processes > 1 and config.kernels == "fast" and hasattr(network, "flat_parameters"):
        from cnnstudio.engine.parallel import DataParallel

        parallel = DataParallel(network, config.processes)
    step = None if parallel is None else parallel.train_step
    try:
        with limiter:
            yield from _loop(
                network, x, y, val, config, control, transform, val_transform, probe_x, step
            )
    finally:
        if parallel is not None:
            parallel.close()  # stops the helpers this run started


def _loop(
    network: Any,
    x: np.ndarray,
    y: np.ndarray,
    val: tuple[np.ndarray, np.ndarray] | None,
    config: TrainConfig,
    control: TrainingControl | None,
    transform: Transform | None,
    val_transform: Transform | None,
    probe_x: np.ndarray | None,
    train_step: Callable[..., tuple[float, np.ndarray]] | None = None,
) -> Generator[TrainingSnapshot, None, None]:
    """The epochs and steps; ``train_step``: the step to use instead of the network's
    own (``DataParallel.train_step``)."""
    clock = time.perf_counter
    t_start = clock()
    n = x.shape[0]
    bs = config.batch_size
    spe = -(-n // bs)
    total = config.epochs * spe
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    n_epochs = -(-total // spe)
    optimizer = config.make_optimizer()
    schedule = config.make_schedule(spe, total)
    base_lr = float(config.lr)
    loss_fn = loss_for(network, config.label_smoothing)
    binary = getattr(network, "output_activation", "softmax") == "sigmoid"
    # Independent streams: augmentation draws never shift the shuffling order.
    shuffle_rng, aug_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(2)
    )
    interval = float(config.snapshot_interval)

    # The weights of the last finite loss, refreshed before every update. Without state
    # (BatchNorm statistics) they are copied into fixed buffers: no allocation per step.
    good_weights = network.get_weights()
    params_only = set(good_weights) == {key for key, _, _ in network.parameters()}
    # All parameters as one flat array where the network offers it: the optimizer
    # then runs a dozen array operations per step instead of a dozen per parameter.
    flat_parameters = getattr(network, "flat_parameters", network.parameters)
    if train_step is None:
        train_step = getattr(network, "train_step", None)
    good_flat = [p.copy() for _, p, _ in flat_parameters()] if params_only else []
    explode_limit: float | None = None
    step = 0
    train_time = 0.0  # seconds inside training steps (pauses and validation excluded)
    val_time = 0.0
    val_passes = 0
    samples_done = 0
    last_rich = -math.inf
    last: dict[str, Any] | None = None
    lr = base_lr
    t_resume = clock()
    active = t_resume - t_start  # set-up time counts as training time spent

    def restore_good_weights() -> None:
        if params_only:
            for (_, p, _), good in zip(flat_parameters(), good_flat, strict=True):
                np.copyto(p, good)
        else:
            network.set_weights(good_weights)

    def diverged(
        epoch: int, at_step: int, value: float, when: str, batch: Any = None
    ) -> DivergenceError:
        restore_good_weights()
        kept = " The last good weights were kept." if at_step > 1 else ""
        if when == "loss" and batch is not None:
            # The data was checked before the run, so a non-finite batch here came out of
            # the transform: blame that image, not the learning rate.
            xb, idx = batch
            row = _first_nonfinite(xb)
            if row is not None:
                return DivergenceError(
                    f"Training stopped at epoch {epoch}, step {at_step}: image {int(idx[row])} "
                    "of the training data contains NaN/inf values after the training "
                    "transform (normalisation or augmentation); check those settings." + kept
                )
        what = "NaN" if math.isnan(value) else "infinite"
        if when == "exploded":
            return DivergenceError(
                f"Training diverged at epoch {epoch}, step {at_step}: the loss exploded to "
                f"{value:.3g}. The learning rate ({lr:g}) is probably too high — try 10x lower. "
                "The last good weights were kept."
            )
        if at_step == 1 and when == "loss":
            return DivergenceError(
                f"Training stopped at epoch {epoch}, step 1: the loss was {what} before any "
                "update, so the input data or the network's initial weights contain NaN or "
                "infinite values."
            )
        subject = "the loss became" if when == "loss" else "the weights became"
        return DivergenceError(
            f"Training diverged at epoch {epoch}, step {at_step}: {subject} {what}. "
            f"The learning rate ({lr:g}) is probably too high — try 10x lower. "
            "The last good weights were kept."
        )

    def rich_fields(xb: np.ndarray | None) -> dict[str, Any]:
        acts = None
        probe_acts = None
        sub = None if xb is None else xb[:_DEAD_UNIT_SAMPLES]
        n_probe = 0 if probe_x is None else probe_x.shape[0]
        batch = (
            probe_x if sub is None else (sub if probe_x is None else np.concatenate([probe_x, sub]))
        )
        if batch is not None:
            # one inference pass for the probe and the dead-unit count (rows are independent
            # in inference mode)
            acts = network.activations(batch)
            if probe_x is not None:
                probe_acts = _frozen({k: v[:n_probe] for k, v in acts.items()})
            if sub is not None:
                acts = {k: v[n_probe:] for k, v in acts.items()}
            else:
                acts = None
        return {
            "weights": _frozen(network.get_weights(), copy=False),
            "probe_activations": probe_acts,
            "layer_stats": _layer_stats(network, acts),
        }

    stopped = False
    epoch = 1
    # True while an update is half-applied: anything that ends the run then (an error,
    # Ctrl+C, a lost helper process) puts the last good weights back first.
    updating = False
    try:
        for epoch in range(1, n_epochs + 1):
            perm = shuffle_rng.permutation(n)
            loss_sum = 0.0
            correct = 0
            seen = 0
            last_step_in_epoch = min(spe, total - (epoch - 1) * spe)
            for i in range(last_step_in_epoch):
                if control is not None:
                    if control.stop_requested:
                        stopped = True
                        break
                    new_lr = control._take_lr()
                    if new_lr is not None:
                        base_lr = new_lr
                t0 = clock()
                idx = perm[i * bs : (i + 1) * bs]
                xb = x[idx]
                yb = y[idx]
                if transform is None:
                    xb = default_transform(xb)
                else:
                    xb = _checked_batch(
                        transform(xb, aug_rng), network, "training transform", len(idx)
                    )
                lr = schedule(step, base_lr)
                optimizer.lr = lr
                with np.errstate(over="ignore", invalid="ignore"):
                    # a diverging run overflows inside the layers; it is reported below instead
                    if train_step is not None:  # forward, loss and backward in one call
                        batch_loss, logits = train_step(xb, yb, loss_fn)
                    else:
                        logits = network.forward(xb, training=True)
                        batch_loss, dlogits = loss_fn(logits, yb)
                if not math.isfinite(batch_loss):
                    raise diverged(epoch, step + 1, batch_loss, "loss", (xb, idx))
                if explode_limit is None:
                    if config.explode_factor is not None:
                        explode_limit = config.explode_factor * max(batch_loss, 1.0)
                elif batch_loss > explode_limit:
                    raise diverged(epoch, step + 1, batch_loss, "exploded")
                if binary:
                    hits = np.count_nonzero((logits.reshape(-1) > 0) == (yb == 1))
                else:
                    hits = np.count_nonzero(logits.argmax(axis=1) == yb)
                if params_only:
                    for (_, p, _), good in zip(flat_parameters(), good_flat, strict=True):
                        np.copyto(good, p)
                else:
                    good_weights = network.get_weights()
                updating = True
                with np.errstate(over="ignore", invalid="ignore"):
                    if train_step is None:
                        network.backward(dlogits)
                    optimizer.step(flat_parameters())
                updating = False
                step += 1
                m = yb.shape[0]
                samples_done += m
                seen += m
                correct += int(hits)
                loss_sum += batch_loss * m
                t1 = clock()
                train_time += t1 - t0

                epoch_end = i == spe - 1
                done = step == total
                extra: dict[str, Any] = {}
                if done and not _all_finite(network):
                    raise diverged(epoch, step, float("nan"), "weights")
                if epoch_end and val is not None:
                    with np.errstate(over="ignore", invalid="ignore"):
                        ev = evaluate(network, val[0], val[1], max(bs, 256), val_transform)
                    extra.update(
                        val_loss=ev.loss,
                        val_accuracy=ev.accuracy,
                        val_confusion=_frozen({"c": ev.confusion}, copy=False)["c"],
                    )
                    val_passes += 1
                    val_time += clock() - t1
                now = clock()
                if done or epoch_end or now - last_rich >= interval:
                    with np.errstate(over="ignore", invalid="ignore"):
                        extra.update(rich_fields(xb))
                    last_rich = clock()
                active += clock() - t_resume
                per_step = train_time / step
                remaining_val = 0
                if val is not None:
                    remaining_val = n_epochs - val_passes - (0 if total % spe == 0 else 1)
                eta = (total - step) * per_step + max(remaining_val, 0) * (
                    val_time / val_passes if val_passes else per_step * spe * 0.2
                )
                last = {
                    "epoch": epoch,
                    "epochs": config.epochs,
                    "step": step,
                    "steps_per_epoch": spe,
                    "total_steps": total,
                    "step_in_epoch": i + 1,
                    "batch_loss": batch_loss,
                    "loss": loss_sum / seen,
                    "accuracy": correct / seen,
                    "lr": lr,
                    "base_lr": base_lr,
                    "samples_per_sec": samples_done / train_time if train_time > 0 else 0.0,
                    "elapsed": active,
                    "eta_seconds": eta,
                }
                yield TrainingSnapshot(**last, epoch_end=epoch_end, done=done, **extra)
                t_resume = clock()
            if stopped:
                break

        if stopped and last is not None:
            if not _all_finite(network):
                raise diverged(last["epoch"], step, float("nan"), "weights")
            active += clock() - t_resume
            last.update(elapsed=active, eta_seconds=0.0)
            yield TrainingSnapshot(**last, done=True, stopped=True, **rich_fields(None))
    except MemoryError as exc:
        if updating:
            restore_good_weights()
        raise TrainingMemoryError(
            f"Training ran out of memory at epoch {epoch}, step {step + 1} (batches of {bs} "
            f"images of {format_shape(network.input_shape)}): lower the batch size, use a "
            "smaller network or fewer processes, or close other programs."
            + (" The weights of the last completed step were kept." if step else "")
        ) from exc
    except BaseException:
        if updating:
            restore_good_weights()
        raise


def fit(
    network: Any,
    train_data: tuple[np.ndarray, Any],
    val_data: tuple[np.ndarray, Any] | None = None,
    config: TrainConfig | None = None,
    on_snapshot: Callable[[TrainingSnapshot], None] | None = None,
    **kwargs: Any,
) -> TrainingSnapshot | None:
    """Run :func:`train` to the end and return the last snapshot (``None`` if no step ran).

    ``on_snapshot`` is called with every snapshot (e.g. to draw a progress bar);
    other keywords go to :func:`train`.
    """
    last = None
    for snap in train(network, train_data, val_data, config, **kwargs):
        if on_snapshot is not None:
            on_snapshot(snap)
        last = snap
    return last


def _clock(seconds: float) -> str:
    s = round(max(seconds, 0.0))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def format_progress(snap: TrainingSnapshot, width: int = 20) -> str:
    """One progress-bar line for a terminal, e.g.

    ``epoch 2/5 [########------------] 130/235 loss 0.2345 acc 93.1% | 6,512 samples/s
    ETA 0:12``, with ``val_loss``/``val_acc`` appended on epoch ends.
    """
    frac = snap.step_in_epoch / snap.steps_per_epoch if snap.steps_per_epoch else 1.0
    filled = round(frac * width)
    bar = "#" * filled + "-" * (width - filled)
    line = (
        f"epoch {snap.epoch}/{snap.epochs} [{bar}] {snap.step_in_epoch}/{snap.steps_per_epoch} "
        f"loss {snap.loss:.4f} acc {snap.accuracy * 100:.1f}% | "
        f"{snap.samples_per_sec:,.0f} samples/s "
        + (f"elapsed {_clock(snap.elapsed)}" if snap.done else f"ETA {_clock(snap.eta_seconds)}")
    )
    if snap.val_loss is not None and snap.val_accuracy is not None:
        line += f" | val_loss {snap.val_loss:.4f} val_acc {snap.val_accuracy * 100:.1f}%"
    if snap.stopped:
        line += " (stopped)"
    return line
