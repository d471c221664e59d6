"""``cnnstudio train``: train a preset or an architecture file on a dataset, no window needed."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import signal
import sys
import threading
import time
import warnings
from typing import Any, TextIO

from cnnstudio.cli_errors import (
    CLIError,
    Interrupted,
    check_output_file,
    naming,
    path_arg,
    signal_text,
    text_arg,
)
from cnnstudio.model.recipes import PRESET_RECIPES

__all__ = ["add_parser", "run"]

OPTIMIZER_CHOICES = ("sgd", "adam", "rmsprop")
#: Learning rates that work for the presets when --lr is not given.
# Adam at 3e-3 with a cosine decay takes LeNet-5 past 95% on the sample in 5 epochs.
DEFAULT_LR = {"sgd": 0.05, "adam": 3e-3, "rmsprop": 1e-3}

#: The defaults of the options that a preset may change (``args`` attribute -> value).
BASE_DEFAULTS: dict[str, Any] = {
    "data": "mnist-sample",
    "epochs": 5,
    "batch_size": 64,
    "optimizer": "adam",
    "momentum": 0.9,
    "nesterov": False,
    "weight_decay": 0.0,
    "schedule": "cosine",
    "label_smoothing": 0.0,
    "normalize": False,
    "val_split": 0.1,
    "processes": 1,
}

_OPTIMIZER_SETTINGS = ("lr", "momentum", "nesterov")


#: What --data accepts (evaluate's --data says the same).
DATA_HELP = (
    "the built-in samples mnist-sample (4,000 + 1,000 held-out digits) or cifar10-sample "
    "(5,000 + 1,000 held-out colour photos); CIFAR-10's binary batches (a folder of some "
    "or all of data_batch_1.bin ... data_batch_5.bin and test_batch.bin, one .bin batch, or "
    "cifar-10-binary.tar.gz); a folder with one subfolder of images per class (optionally "
    "inside train/ and test/); a folder of IDX files (train-images-idx3-ubyte and "
    "train-labels-idx1-ubyte, .gz or not); or a .csv or .csv.gz file of a label column and "
    "one column per pixel"
)

AUGMENT_HELP = (
    "random changes to each training image, as NAME=VALUE,NAME=VALUE...: "
    "shift=PX (move up to PX pixels, black comes in), rotation=DEG, scale=S (size times "
    "1-S to 1+S), noise=STD (0-1 scale), thickness=PX (thicker or thinner pen strokes; grey "
    "images only); crop=PX (pad by PX mirrored pixels, cut out an image-sized window at a "
    "random place), flip (mirror half the images left-right), brightness=S, contrast=S, "
    "saturation=S (factors from 1-S to 1+S, S up to 1; saturation for colour images only), "
    "jitter=S (brightness, contrast and saturation at once), cutout=PX (a black PX-sided "
    "square at a random place). Example: crop=4,flip,jitter=0.2,cutout=8 or "
    "shift=2,rotation=10,scale=0.1; 'none' for no augmentation. Default: none for grey "
    "(1-channel) images such as digits, crop=4,flip for colour (3-channel) photos"
)


def augment_arg(text: str) -> Any:
    """``--augment``'s words as an ``Augmentation``; a usage error names the bad part."""
    from cnnstudio.data.augment import Augmentation
    from cnnstudio.data.errors import DatasetError

    try:
        return Augmentation.parse(text)
    except DatasetError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _preset_defaults_help() -> str:
    """The epilog of ``train --help``: what each preset changes."""
    from cnnstudio.model.presets import PRESET_ALIASES

    parts = []
    for key, table in PRESET_RECIPES.items():
        aliases = [alias for alias, target in PRESET_ALIASES.items() if target == key]
        words = []
        for name, value in table.items():
            if value is True:
                words.append(_option(name))
            elif value is not False:
                words.append(f"{_option(name)} {value:g}" if isinstance(value, float) else
                             f"{_option(name)} {value}")  # fmt: skip
        parts.append(f"--preset {' or '.join([*aliases, key])}: " + " ".join(words))
    return (
        "Preset defaults: a preset may come with its own defaults, used for the options "
        "not given (--lr, --momentum and --nesterov only with its optimizer). "
        + "; ".join(parts)
        + " (the fast CIFAR-10 recipe: one-cycle peaking after a quarter of the steps, "
        "per-channel normalisation, crop=4,flip)."
    )


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train a network on a dataset and save the model",
        description=(
            "Train a preset network (--preset) or an architecture file (--arch) on a dataset "
            "and save the trained model. Progress goes to stderr, the summary to stdout."
        ),
        epilog=_preset_defaults_help(),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", metavar="NAME", help="a preset, e.g. lenet5 or 'LeNet-5'")
    source.add_argument(
        "--arch", metavar="FILE.json", type=path_arg, help="an architecture JSON file"
    )
    # Defaults of None: filled in by _fill_defaults, from the preset's table or BASE_DEFAULTS.
    parser.add_argument(
        "--data",
        type=text_arg,
        metavar="SOURCE",
        help=DATA_HELP + ". Default: mnist-sample (or the preset's, see below)",
    )
    parser.add_argument(
        "--epochs", type=int, help="passes over the data (default 5, or the preset's)"
    )
    parser.add_argument(
        "--batch-size", type=int, help="samples per step (default 64, or the preset's)"
    )
    parser.add_argument(
        "--optimizer", choices=OPTIMIZER_CHOICES, help="default adam, or the preset's"
    )
    parser.add_argument(
        "--lr",
        type=float,
        help="learning rate, the peak rate for onecycle (default 0.003 for adam, 0.001 "
        "rmsprop, 0.05 sgd, or the preset's)",
    )
    parser.add_argument("--momentum", type=float, help="SGD momentum (default 0.9)")
    parser.add_argument(
        "--nesterov",
        action=argparse.BooleanOptionalAction,
        help="SGD with Nesterov momentum (default off, or the preset's; --no-nesterov to "
        "turn it off)",
    )
    parser.add_argument(
        "--weight-decay",
        type=float,
        metavar="X",
        help="L2 penalty on the weights, >= 0, e.g. 5e-4 (default 0, or the preset's)",
    )
    parser.add_argument(
        "--label-smoothing",
        type=float,
        metavar="X",
        help="train towards (1-X) on the true class and X/classes on every class, 0 to <1, "
        "e.g. 0.1 (default 0, or the preset's)",
    )
    parser.add_argument(
        "--schedule",
        choices=("constant", "step", "cosine", "onecycle"),
        help="learning-rate schedule (default cosine: decays to a small rate by the end; "
        "onecycle: rises linearly from lr/25 to lr over the first quarter of the steps, "
        "then falls linearly to 0)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--val-split",
        type=float,
        default=None,
        metavar="FRACTION",
        help="share of the training data held back for validation, 0 to <1 (default 0.1, "
        "or the preset's)",
    )
    parser.add_argument(
        "--normalize",
        action=argparse.BooleanOptionalAction,
        help="standardise inputs with the training data's mean and std per channel (default "
        "off, or the preset's; --no-normalize to turn it off)",
    )
    parser.add_argument("--augment", metavar="SPEC", type=augment_arg, help=AUGMENT_HELP)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS threads (default 1: more only helps on an otherwise idle machine)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        help="cores sharing each batch (default 1, or the preset's; 2 trains up to ~1.8x "
        "as fast on an idle 2-core machine): helper processes, or for networks with "
        "BatchNorm threads of this process (their batch statistics stay the whole "
        "batch's); not used with Dropout",
    )
    parser.add_argument(
        "--kernels",
        choices=("fast", "reference"),
        default="fast",
        help="engine tier: fast (default) or reference, the readable NumPy tier in "
        "cnnstudio/engine/reference/ (several times slower; one process)",
    )
    parser.add_argument(
        "--out", metavar="MODEL.cnnmodel", type=path_arg, help="where to save the model"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _preset_key(name: str) -> str | None:
    """The key of the preset ``--preset`` names, or None when there is none such."""
    from cnnstudio.model.presets import PRESET_ALIASES, list_presets

    wanted = PRESET_ALIASES.get(name, name)
    return next((p.key for p in list_presets() if wanted in (p.key, p.name)), None)


def _fill_defaults(args: argparse.Namespace) -> None:
    """Fill the options left out: from the preset's table, else BASE_DEFAULTS.

    ``args.preset_defaults`` lists the names the preset's table filled in.
    """
    table = PRESET_RECIPES.get(_preset_key(args.preset) or "", {}) if args.preset else {}
    filled = []
    for name in ("optimizer", *BASE_DEFAULTS):
        if name in _OPTIMIZER_SETTINGS:
            continue
        if getattr(args, name, None) is None and name in table:
            setattr(args, name, table[name])
            filled.append(name)
    same_optimizer = args.optimizer in (None, table.get("optimizer"))
    for name in _OPTIMIZER_SETTINGS:
        if getattr(args, name) is None and name in table and same_optimizer:
            setattr(args, name, table[name])
            filled.append(name)
    for name, value in BASE_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.lr is None:
        args.lr = DEFAULT_LR[args.optimizer]
    args.preset_defaults = list(dict.fromkeys(filled))


def _check_args(args: argparse.Namespace) -> None:
    if args.epochs < 1:
        raise CLIError(f"--epochs must be at least 1, got {args.epochs}")
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        raise CLIError(f"--lr must be a number > 0, got {args.lr}")
    if not 0.0 <= args.momentum < 1.0:
        raise CLIError(f"--momentum must be at least 0 and below 1, got {args.momentum}")
    if args.nesterov and args.optimizer != "sgd":
        raise CLIError(f"--nesterov is for --optimizer sgd only, not {args.optimizer}")
    if args.nesterov and args.momentum == 0:
        raise CLIError("--nesterov needs a --momentum above 0, e.g. --momentum 0.9")
    if not (math.isfinite(args.weight_decay) and args.weight_decay >= 0):
        raise CLIError(f"--weight-decay must be a number >= 0, e.g. 5e-4, got {args.weight_decay}")
    if not (math.isfinite(args.label_smoothing) and 0.0 <= args.label_smoothing < 1.0):
        raise CLIError(
            "--label-smoothing must be at least 0 and below 1, e.g. 0.1, "
            f"got {args.label_smoothing}"
        )
    if args.seed < 0:
        raise CLIError(f"--seed must be a whole number >= 0, got {args.seed}")
    if not 0.0 <= args.val_split < 1.0:
        raise CLIError(f"--val-split must be at least 0 and below 1, got {args.val_split}")
    if args.threads is not None and not 1 <= args.threads <= 1024:
        raise CLIError(f"--threads must be from 1 to 1024, got {args.threads}")
    if not 1 <= args.processes <= 64:
        raise CLIError(f"--processes must be from 1 to 64, got {args.processes}")
    if args.out is not None:
        check_output_file(args.out, "--out", ".cnnmodel")


def _load_graph(args: argparse.Namespace) -> Any:
    if args.preset:
        from cnnstudio.model.presets import load_preset

        return load_preset(args.preset)
    from cnnstudio.model.files import load_architecture

    return load_architecture(args.arch)


def _load_data(args: argparse.Namespace, graph: Any) -> Any:
    """The dataset; a folder of images is read at the network's input size and colour."""
    from cnnstudio.data import load_dataset
    from cnnstudio.data.loader import describe_spec

    shape = graph.input_shape
    with naming(args.data):
        if shape is not None and describe_spec(args.data) == "folder":
            c, h, w = shape
            return load_dataset(args.data, input_size=(h, w), color="L" if c == 1 else "RGB")
        return load_dataset(args.data)


def _fit_to_data(graph: Any, args: argparse.Namespace, data: Any) -> list[str]:
    """Make the network's input and output fit ``data``: a preset is adapted (the notes
    say how), an architecture file that does not fit is refused naming the layer."""
    from cnnstudio.engine.layers.base import format_shape

    adapt = bool(args.preset)
    source = args.data
    notes = []
    want = tuple(data.input_shape)
    inputs = [b for b in graph.blocks.values() if b.type == "Input"]
    if inputs and graph.input_shape != want:
        have = format_shape(graph.input_shape)
        if not adapt:
            raise CLIError(
                f"{args.arch}: the input layer '{inputs[0].label}' takes {have} images, but "
                f"{source} has {format_shape(want)} images; set its shape to {format_shape(want)} "
                "or use data of that size"
            )
        graph.set_input_shape(want)
        notes.append(f"{graph.name}'s input set to {format_shape(want)} for this dataset")
    k = data.num_classes
    outputs = [b for b in graph.blocks.values() if b.type == "Output"]
    if len(outputs) == 1 and outputs[0].params.get("activation") == "softmax":
        feeding = graph.inputs_of(outputs[0].id)
        dense = graph.block(feeding[0].source) if feeding else None
        if dense is not None and dense.type == "Dense" and dense.params["units"] != k:
            if not adapt:
                raise CLIError(
                    f"{args.arch}: the output layer '{dense.label}' has {dense.params['units']} "
                    f"units, but {source} has {k} classes; set its units to {k}"
                )
            graph.set_param(dense.id, "units", k)
            notes.append(f"{graph.name}'s output layer set to {k} classes for this dataset")
    graph.set_num_classes(k)
    info = graph.inference
    if not info.is_valid:
        where = f"{args.arch}: " if args.arch else ""
        raise CLIError(f"{where}{graph.name} does not fit {data.summary()}: {info.reason}")
    return notes


class StopSignals:
    """Ctrl+C (SIGINT), SIGTERM and SIGHUP while ``cnnstudio train`` runs.

    ``mode`` says what a signal does:

    - ``"raise"`` (loading, testing): raise :class:`Interrupted` at once.
    - ``"stop"`` (the training loop): the first signal asks ``control`` to stop after
      the current step, so the model of the last completed step can be saved; a second
      one interrupts at once (the engine then puts that model's weights back).
    - ``"hold"`` (saving): only note it, so the model file is written whole.

    ``received`` is the first signal's number. Handlers are installed only in the main
    thread (Python allows no other), never over an ignored signal, and restored on exit.
    """

    NAMES = ("SIGINT", "SIGTERM", "SIGHUP")

    def __init__(self) -> None:
        self.mode = "raise"
        self.control: Any = None
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for name in self.NAMES:
                signum = getattr(signal, name, None)
                # An ignored signal stays ignored: `nohup` ignores SIGHUP on purpose, and a
                # shell ignores SIGINT for background jobs.
                if signum is not None and signal.getsignal(signum) is not signal.SIG_IGN:
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if previous is None else previous)

    def _handle(self, signum: int, frame: Any) -> None:
        first = self.received is None
        if first:
            self.received = signum
            # The terminal sends the same signal to the helper processes of --processes:
            # losing them now is expected, not worth a warning.
            warnings.simplefilter("ignore", RuntimeWarning)
        if self.mode == "hold" or (self.mode == "stop" and first):
            if self.control is not None:
                self.control.request_stop()
            return
        raise Interrupted(self.received or signum)


def _clock(seconds: float) -> str:
    s = round(max(seconds, 0.0))
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressBar:
    """A one-line progress bar on a terminal; one plain line per epoch otherwise."""

    def __init__(self, stream: TextIO, interval: float = 0.1) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.interval = interval
        self._last = 0.0
        self._width = 0

    def update(self, snap: Any) -> None:
        from cnnstudio.engine.training import format_progress

        now = time.perf_counter()
        if self.tty:
            if snap.epoch_end or snap.done or now - self._last >= self.interval:
                line = format_progress(snap)
                pad = max(self._width - len(line), 0)
                self.stream.write("\r" + line + " " * pad)
                self._width = len(line)
                if snap.epoch_end or snap.done:
                    self.stream.write("\n")
                    self._width = 0
                self.stream.flush()
                self._last = now
        elif snap.epoch_end or snap.done:
            self.stream.write(format_progress(snap) + "\n")
            self.stream.flush()

    def end_line(self) -> None:
        """End a bar line left open on a terminal, so a message starts on its own line."""
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0


def run(args: argparse.Namespace) -> int:
    _fill_defaults(args)
    _check_args(args)
    with StopSignals() as signals:
        try:
            return _train(args, signals)
        except Interrupted as exc:  # later ones are handled where training runs
            raise CLIError(
                f"{exc} before training started; nothing to save", exc.exit_code
            ) from None


def _augmentation(args: argparse.Namespace, channels: int, err: TextIO) -> Any:
    """--augment, or the default for the data's kind; what does not apply is left out, saying so."""
    from cnnstudio.data.augment import default_augmentation

    if args.augment is None:
        return default_augmentation(channels)
    for why in args.augment.unsuited(channels):
        err.write(f"--augment: left out for {args.data}: {why[0].lower()}{why[1:]}\n")
    return args.augment.for_channels(channels)


def _recipe(args: argparse.Namespace) -> str:
    """The settings for the "Training ..." line, and which ones the preset chose."""
    optimizer = args.optimizer
    if optimizer == "sgd" and args.momentum:
        optimizer += f" ({'Nesterov ' if args.nesterov else ''}momentum {args.momentum:g})"
    words = [f"{optimizer} lr {args.lr:g} {args.schedule}"]
    if args.weight_decay:
        words.append(f"weight decay {args.weight_decay:g}")
    if args.label_smoothing:
        words.append(f"label smoothing {args.label_smoothing:g}")
    words.append(f"batch {args.batch_size}, {args.epochs} epoch(s)")
    if args.normalize:
        words.append("normalised per channel")
    if args.preset_defaults:
        names = ", ".join(_option(n) for n in args.preset_defaults)
        words.append(f"(preset defaults: {names})")
    return ", ".join(words)


def _train(args: argparse.Namespace, signals: StopSignals) -> int:
    from cnnstudio.data.augment import make_transform
    from cnnstudio.data.normalize import Normalization
    from cnnstudio.engine.errors import DivergenceError
    from cnnstudio.engine.metrics import evaluate
    from cnnstudio.engine.training import (
        TrainConfig,
        TrainingControl,
        TrainingMemoryError,
        check_training_data,
        train,
    )
    from cnnstudio.io.model_file import TrainedModel, save_model
    from cnnstudio.model.compile import compile_network

    graph = _load_graph(args)
    split = _load_data(args, graph)
    data = split.train
    with naming(args.data):
        check_training_data(data.images, data.labels, str(args.data), data.class_names)
    err = sys.stderr
    for note in _fit_to_data(graph, args, data):
        err.write(note + "\n")
    network = compile_network(graph, seed=args.seed)
    if args.processes > 1 and args.kernels == "fast":
        network.set_inference_threads(2)  # validation and the test set on both cores too
    arch = graph.to_architecture()  # saved with the model: labels and canvas places too

    val_set: Any = None
    train_set = data
    class_names, data_name, n_classes = list(data.class_names), data.name, data.num_classes
    if args.val_split > 0:
        with naming(args.data):
            train_set, val_set = data.split(args.val_split, seed=args.seed)
        if len(val_set) == 0:
            val_set = None
        # The two parts are copies: let the whole set go (150 MB for CIFAR-10's 50,000).
        split = dataclasses.replace(split, train=train_set)
        del data
    norm = Normalization.fit(train_set.images) if args.normalize else Normalization()
    augmentation = _augmentation(args, int(network.input_shape[0]), err)
    transform = make_transform(norm, augmentation)  # called with rng=None: no augmentation
    lr = args.lr
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=lr,
        momentum=args.momentum,
        nesterov=args.nesterov,
        weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        schedule=args.schedule,
        seed=args.seed,
        snapshot_interval=3600.0,  # no rich snapshots needed here beyond epoch ends
        threads=args.threads,
        processes=args.processes,
        kernels=args.kernels,
    )
    name = arch.get("name", "network")
    augmented = {k: v for k, v in augmentation.to_dict().items() if v}

    def bundle(summary: dict[str, Any]) -> TrainedModel:
        return TrainedModel(
            architecture=arch,
            weights=network.get_weights(),
            class_names=class_names,
            input_shape=tuple(network.input_shape),
            preprocessing={
                "normalization": None if norm.is_plain else norm.to_dict(),
                "digit": network.input_shape[0] == 1,
            },
            training_summary={
                "dataset": data_name,
                **summary,
                "settings": {**config.to_dict(), "augmentation": augmented},
            },
        )

    control = TrainingControl()
    # From here on a first stop signal lets the current step finish and saves the model.
    signals.mode, signals.control = "stop", control
    with naming(args.data):
        run = train(
            network,
            (train_set.images, train_set.labels),
            None if val_set is None else (val_set.images, val_set.labels),
            config,
            control=control,
            transform=transform,
        )
    err.write(
        f"Training {name} ({network.input_shape[0]}@{network.input_shape[1]}x"
        f"{network.input_shape[2]} -> {n_classes} classes) on {len(train_set):,} images"
        + (f", validating on {len(val_set):,}" if val_set is not None else "")
        + f"; {_recipe(args)}, augmentation {augmentation.describe()}"
        + (f", {args.processes} cores" if args.processes > 1 else "")
        + (", readable (reference) engine" if args.kernels == "reference" else "")
        + "\n"
    )
    bar = None if args.quiet else ProgressBar(err)
    last = None
    failure: BaseException | None = None
    try:
        for snap in run:
            if bar is not None:
                bar.update(snap)
            last = snap
    except (DivergenceError, TrainingMemoryError, KeyboardInterrupt) as exc:
        failure = exc
    except BaseException as exc:
        if signals.received is None:
            raise
        failure = exc  # e.g. a helper process killed by the same signal
    finally:
        signals.mode = "raise"
        run.close()  # stops the helper processes of --processes at once
        if bar is not None:
            with contextlib.suppress(OSError):  # no terminal any more after SIGHUP
                bar.end_line()
    if failure is not None or signals.received is not None:
        signals.mode = "hold"
        raise _stopped_early(args, failure, signals.received, last, network, bundle, save_model)
    assert last is not None

    test_acc = None
    test_note = None
    n_test = 0
    interrupted = None
    if split.test is not None:
        try:
            test = split.test
            n_test = len(test)
            with naming(args.data):
                if test.class_names != class_names:
                    test = test.with_classes(class_names)
            ev = evaluate(
                network, test.images, test.labels, transform=lambda xb, _r: transform(xb, None)
            )
            test_acc = ev.accuracy
        except Interrupted as exc:  # training is done: still save the model
            interrupted = exc
        except MemoryError:
            test_note = "skipped: out of memory (a smaller --batch-size helps)"
        except (CLIError, ValueError) as exc:  # the trained model is still worth saving
            test_note = f"skipped: {exc}"
    signals.mode = "hold"

    summary: dict[str, Any] = {
        "outcome": "finished",
        "epochs": last.epoch,
        "steps": last.step,
        "seconds": round(last.elapsed, 2),
        "samples_per_sec": round(last.samples_per_sec, 1),
        "loss": last.loss,
        "accuracy": last.accuracy,
        "val_accuracy": last.val_accuracy,
        "test_accuracy": test_acc,
    }
    lines = [
        f"Trained {name} for {last.epoch} epoch(s), {last.step} steps in "
        f"{_clock(last.elapsed)} ({last.samples_per_sec:,.0f} samples/s).",
        f"  training:   loss {last.loss:.4f}, accuracy {last.accuracy * 100:.1f}%",
    ]
    if last.val_accuracy is not None:
        lines.append(
            f"  validation: loss {last.val_loss:.4f}, accuracy {last.val_accuracy * 100:.1f}% "
            f"({len(val_set):,} images)"
        )
    if test_acc is not None:
        lines.append(f"  test:       accuracy {test_acc * 100:.1f}% ({n_test:,} held-out images)")
    elif test_note is not None:
        lines.append(f"  test:       {test_note}")
    saved = None
    if args.out is not None:
        saved = save_model(args.out, bundle(summary))
        lines.append(f"Saved the model to {saved}")
    else:
        lines.append("Not saved (give --out MODEL.cnnmodel to keep it).")
    print("\n".join(lines))
    if interrupted is not None:
        what = f"saved the model to {saved}" if saved else "the model was not saved"
        raise CLIError(
            f"{interrupted} while testing, after training finished; {what}",
            interrupted.exit_code,
        )
    return 0


def _stopped_early(
    args: argparse.Namespace,
    failure: BaseException | None,
    signum: int | None,
    last: Any,
    network: Any,
    bundle: Any,
    save_model: Any,
) -> CLIError:
    """Save what training reached when it ended early; return the one line that says so.

    The network holds the weights of the last completed step: the engine never leaves
    a half-applied update, and after a divergence it puts the last good weights back.
    """
    import numpy as np

    if signum is None and failure is not None and not isinstance(failure, KeyboardInterrupt):
        # DivergenceError or TrainingMemoryError: the engine's sentences, then ours.
        code = 1
        outcome = "out of memory" if isinstance(failure, MemoryError) else "diverged"
        head = str(failure).strip().rstrip(".") + "."
        for kept in (
            " The last good weights were kept.",
            " The weights of the last completed step were kept.",
        ):
            head = head.replace(kept, "")  # in memory only; what happens to them is said below
        if isinstance(failure, MemoryError):
            head += f" For example: --batch-size {max(1, args.batch_size // 2)}."
        nothing = f"{head} No training step had finished, so there is nothing to save."
        not_saved = f"{head} Not saved: give --out MODEL.cnnmodel to keep the last good weights."
        saved = head + " Saved the last good weights to {path}."
        cannot = head + " They could not be saved: {error}"
    else:
        signum = signal.SIGINT if signum is None else signum
        code = 128 + signum
        outcome = "interrupted"
        head = f"interrupted by {signal_text(signum)}"
        nothing = f"{head} before the first training step finished; nothing to save"
        if last is not None:
            head += f" at epoch {last.epoch}, step {last.step}"
        not_saved = f"{head}; the model was not saved (give --out MODEL.cnnmodel to keep it)"
        saved = head + "; saved the model of the last completed step to {path}"
        cannot = head + "; the model could not be saved: {error}"
    if last is None:
        return CLIError(nothing, code)
    if args.out is None:
        return CLIError(not_saved, code)
    if not all(bool(np.isfinite(w).all()) for w in network.get_weights().values()):
        return CLIError(cannot.format(error="its weights are not finite"), code)
    summary = {
        "outcome": outcome,
        "epochs": last.epoch,
        "steps": last.step,
        "seconds": round(last.elapsed, 2),
        "loss": last.loss,
        "accuracy": last.accuracy,
        "val_accuracy": last.val_accuracy,
    }
    try:
        path = save_model(args.out, bundle(summary))
    except (ValueError, OSError) as exc:
        return CLIError(cannot.format(error=exc), code)
    return CLIError(saved.format(path=path), code)
