"""``cnnstudio train``: train a preset or an architecture file on a dataset, no window needed."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from cnnstudio.cli_errors import CLIError

__all__ = ["add_parser", "run"]

OPTIMIZER_CHOICES = ("sgd", "adam", "rmsprop")
#: Learning rates that work for the presets when --lr is not given.
# Adam at 3e-3 with a cosine decay takes LeNet-5 past 95% on the sample in 5 epochs.
DEFAULT_LR = {"sgd": 0.05, "adam": 3e-3, "rmsprop": 1e-3}


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train a network on a dataset and save the model",
        description=(
            "Train a preset network (--preset) or an architecture file (--arch) on a dataset "
            "and save the trained model. Progress goes to stderr, the summary to stdout."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", metavar="NAME", help="a preset, e.g. lenet5 or 'LeNet-5'")
    source.add_argument("--arch", metavar="FILE.json", type=Path, help="an architecture JSON file")
    parser.add_argument(
        "--data",
        default="mnist-sample",
        metavar="SOURCE",
        help="mnist-sample (default), a folder of IDX files or class subfolders, or a .csv file",
    )
    parser.add_argument("--epochs", type=int, default=5, help="passes over the data (default 5)")
    parser.add_argument("--batch-size", type=int, default=64, help="samples per step (default 64)")
    parser.add_argument(
        "--optimizer", choices=OPTIMIZER_CHOICES, default="adam", help="default adam"
    )
    parser.add_argument(
        "--lr", type=float, help="learning rate (default 0.003 for adam, 0.001 rmsprop, 0.05 sgd)"
    )
    parser.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    parser.add_argument(
        "--schedule",
        choices=("constant", "step", "cosine"),
        default="cosine",
        help="learning-rate schedule (default cosine: decays to a small rate by the end)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--val-split",
        type=float,
        default=0.1,
        metavar="FRACTION",
        help="share of the training data held back for validation, 0 to <1 (default 0.1)",
    )
    parser.add_argument(
        "--normalize", action="store_true", help="standardise inputs with the data's mean and std"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS threads (default 1: more only helps on an otherwise idle machine)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="processes sharing each batch, one core each (default 1; 2 trains up to "
        "~1.7x as fast on an idle 2-core machine; not used with BatchNorm or Dropout)",
    )
    parser.add_argument(
        "--out", metavar="MODEL.cnnmodel", type=Path, help="where to save the model"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _check_args(args: argparse.Namespace) -> None:
    if args.epochs < 1:
        raise CLIError(f"--epochs must be at least 1, got {args.epochs}")
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        raise CLIError(f"--lr must be a number > 0, got {args.lr}")
    if not 0.0 <= args.val_split < 1.0:
        raise CLIError(f"--val-split must be at least 0 and below 1, got {args.val_split}")
    if args.threads is not None and args.threads < 1:
        raise CLIError(f"--threads must be at least 1, got {args.threads}")
    if not 1 <= args.processes <= 64:
        raise CLIError(f"--processes must be from 1 to 64, got {args.processes}")
    if args.out is not None:
        if args.out.suffix.lower() != ".cnnmodel":
            raise CLIError(f"--out must end in .cnnmodel, not {args.out.name!r}")
        if not args.out.parent.exists():
            raise CLIError(f"the folder {args.out.parent} does not exist")


def _load_graph(args: argparse.Namespace) -> Any:
    if args.preset:
        from cnnstudio.model.presets import load_preset

        return load_preset(args.preset)
    from cnnstudio.model.files import load_architecture

    return load_architecture(args.arch)


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


def run(args: argparse.Namespace) -> int:
    _check_args(args)
    from cnnstudio.data import load_dataset
    from cnnstudio.data.augment import make_transform
    from cnnstudio.data.normalize import Normalization
    from cnnstudio.engine.metrics import evaluate
    from cnnstudio.engine.network import Network
    from cnnstudio.engine.training import TrainConfig, train
    from cnnstudio.io.model_file import ModelBundle, save_model
    from cnnstudio.model.compile import graph_to_architecture

    graph = _load_graph(args)
    split = load_dataset(args.data)
    data = split.train
    graph.set_input_shape(data.input_shape)
    graph.set_num_classes(data.num_classes)
    info = graph.inference
    if not info.is_valid:
        raise CLIError(f"the network does not fit {data.summary()}: {info.reason}")
    arch = graph_to_architecture(graph)
    network = Network.from_architecture(arch, seed=args.seed)

    val_set: Any = None
    train_set = data
    if args.val_split > 0:
        train_set, val_set = data.split(args.val_split, seed=args.seed)
        if len(val_set) == 0:
            val_set = None
    norm = Normalization.fit(train_set.images) if args.normalize else Normalization()
    transform = make_transform(norm)
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=lr,
        momentum=args.momentum,
        schedule=args.schedule,
        seed=args.seed,
        snapshot_interval=3600.0,  # no rich snapshots needed here beyond epoch ends
        threads=args.threads,
        processes=args.processes,
    )
    name = arch.get("name", "network")
    err = sys.stderr
    err.write(
        f"Training {name} ({network.input_shape[0]}@{network.input_shape[1]}x"
        f"{network.input_shape[2]} -> {data.num_classes} classes) on {len(train_set):,} images"
        + (f", validating on {len(val_set):,}" if val_set is not None else "")
        + f"; {args.optimizer} lr {lr:g}, batch {args.batch_size}, {args.epochs} epoch(s)"
        + (f", {args.processes} processes" if args.processes > 1 else "")
        + "\n"
    )
    bar = None if args.quiet else ProgressBar(err)
    last = None
    for snap in train(
        network,
        (train_set.images, train_set.labels),
        None if val_set is None else (val_set.images, val_set.labels),
        config,
        transform=transform,
    ):
        if bar is not None:
            bar.update(snap)
        last = snap
    assert last is not None

    test_acc = None
    n_test = 0
    if split.test is not None:
        test = split.test
        n_test = len(test)
        if test.class_names != data.class_names:
            test = test.with_classes(data.class_names)
        ev = evaluate(
            network, test.images, test.labels, transform=lambda xb, _r: transform(xb, None)
        )
        test_acc = ev.accuracy

    summary: dict[str, Any] = {
        "dataset": data.name,
        "epochs": last.epoch,
        "steps": last.step,
        "seconds": round(last.elapsed, 2),
        "samples_per_sec": round(last.samples_per_sec, 1),
        "loss": last.loss,
        "accuracy": last.accuracy,
        "val_accuracy": last.val_accuracy,
        "test_accuracy": test_acc,
        "settings": config.to_dict(),
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
    if args.out is not None:
        bundle = ModelBundle(
            architecture=arch,
            weights=network.get_weights(),
            class_names=list(data.class_names),
            input_shape=tuple(network.input_shape),
            preprocessing={
                "normalization": None if norm.is_plain else norm.to_dict(),
                "digit": network.input_shape[0] == 1,
            },
            training_summary=summary,
        )
        path = save_model(args.out, bundle)
        lines.append(f"Saved the model to {path}")
    else:
        lines.append("Not saved (give --out MODEL.cnnmodel to keep it).")
    print("\n".join(lines))
    return 0
