"""``cnnstudio evaluate``: accuracy, per-class accuracy and the confusion matrix of a model."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from cnnstudio.cli_errors import CLIError, naming, path_arg, text_arg
from cnnstudio.commands.train import DATA_HELP

__all__ = ["add_parser", "confusion_text", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate",
        help="measure a saved model on a dataset",
        description=(
            "Evaluate a .cnnmodel file on a dataset: accuracy, per-class accuracy and the "
            "confusion matrix. Uses the dataset's held-out part when it has one."
        ),
    )
    parser.add_argument("model", type=path_arg, metavar="MODEL", help="a .cnnmodel file")
    parser.add_argument(
        "--data",
        default="mnist-sample",
        type=text_arg,
        metavar="SOURCE",
        help=DATA_HELP + ". Default: mnist-sample",
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--batch-size", type=int, default=256, help="images per forward pass")
    return parser


def confusion_text(cm: Any, names: list[str]) -> str:
    """The confusion matrix as an aligned text table (rows true, columns predicted)."""
    width = max(4, *(len(n) for n in names), len(str(int(cm.max()) if cm.size else 0)))
    head = " " * (width + 2) + " ".join(n.rjust(width) for n in names)
    rows = [
        f"{names[t].rjust(width)} |" + " ".join(str(int(v)).rjust(width) for v in cm[t])
        for t in range(cm.shape[0])
    ]
    return "\n".join([head, *rows])


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be at least 1, got {args.batch_size}")
    if not args.model.exists():
        raise CLIError(f"{args.model} does not exist")
    from cnnstudio.data import load_dataset
    from cnnstudio.data.augment import make_transform
    from cnnstudio.engine.metrics import evaluate
    from cnnstudio.io.model_file import load_model

    bundle = load_model(args.model)
    shape = tuple(bundle.input_shape)
    if len(shape) != 3:
        raise CLIError(f"{args.model.name}: only image models (C, H, W) can be evaluated")
    names = list(bundle.class_names)
    with naming(args.data):
        split = load_dataset(
            args.data, input_size=(shape[1], shape[2]), color="L" if shape[0] == 1 else "RGB"
        )
        data = split.evaluation
        if data.class_names != names:
            data = data.with_classes(names)  # raises naming classes the model does not know
    transform = make_transform(bundle.normalization)
    result = evaluate(
        bundle.network(),
        data.images,
        data.labels,
        args.batch_size,
        lambda xb, _rng: transform(xb, None),
    )
    per_class = {
        n: (None if math.isnan(float(a)) else float(a))
        for n, a in zip(names, result.per_class, strict=False)
    }
    if args.json:
        print(
            json.dumps(
                {
                    "model": str(args.model),
                    "data": str(args.data),
                    "dataset": data.name,
                    "n_samples": result.n_samples,
                    "accuracy": result.accuracy,
                    "loss": result.loss,
                    "class_names": names,
                    "per_class_accuracy": per_class,
                    "confusion": result.confusion.tolist(),
                },
                indent=2,
            )
        )
        return 0
    lines = [
        f"{args.model.name} on {data.name}: {result.n_samples:,} images",
        f"accuracy {result.accuracy * 100:.2f}%  (loss {result.loss:.4f})",
        "",
        "per-class accuracy:",
    ]
    counts = result.confusion.sum(axis=1)
    for (n, a), c in zip(per_class.items(), counts, strict=False):
        lines.append(
            f"  {n:>8}: " + ("   n/a" if a is None else f"{a * 100:5.1f}%") + f"  ({c} images)"
        )
    lines += ["", "confusion matrix (rows: true class, columns: predicted):"]
    lines.append(confusion_text(result.confusion, names))
    print("\n".join(lines))
    return 0
