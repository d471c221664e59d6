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


def _kind(shape: tuple[int, ...]) -> str:
    from cnnstudio.engine.layers.base import format_shape

    return f"{'grayscale' if shape[0] == 1 else 'colour'} images ({format_shape(shape)})"


def _check_kind(args: argparse.Namespace, bundle: Any, data: Any) -> None:
    """Refuse data of another kind than the model's, in one line saying what to use.

    A colour photo model (3 channels, whole pictures) cannot be measured on grayscale
    images. A grey model takes colour data of classes it knows (made grey, as a grey
    model of photos was trained); with other classes, the message says that the kinds
    differ, which is the likelier mistake than the class names.
    """
    from cnnstudio.engine.layers.base import format_shape

    model, have = tuple(bundle.input_shape), tuple(data.input_shape)
    if model[0] == have[0]:
        return
    photo_model = model[0] == 3 and not bundle.digit_preprocessing
    if photo_model or not set(data.class_names) <= set(bundle.class_names):
        what = "a colour photo model" if photo_model else "a model of grayscale images"
        raise CLIError(
            f"{args.data}: holds {_kind(have)}, but {args.model.name} is {what} "
            f"({format_shape(model)}): evaluate it on data of its own kind, such as the data "
            "it was trained on (its classes: "
            + ", ".join(bundle.class_names[:10])
            + (", ..." if len(bundle.class_names) > 10 else "")
            + ")"
        )


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be at least 1, got {args.batch_size}")
    if not args.model.exists():
        raise CLIError(f"{args.model} does not exist")
    from cnnstudio.data import load_dataset
    from cnnstudio.data.augment import make_transform
    from cnnstudio.data.loader import describe_spec
    from cnnstudio.engine.metrics import evaluate
    from cnnstudio.io.model_file import load_model

    bundle = load_model(args.model)
    shape = tuple(bundle.input_shape)
    if len(shape) != 3:
        raise CLIError(f"{args.model.name}: only image models (C, H, W) can be evaluated")
    names = list(bundle.class_names)
    with naming(args.data):
        # In the data's own colours and size first, to tell data of another kind from the
        # model's; a folder of images is read at the model's size (in its own colours).
        folder = describe_spec(args.data) == "folder"
        split = load_dataset(args.data, input_size=(shape[1], shape[2]) if folder else None)
        data = split.evaluation
        _check_kind(args, bundle, data)
        if data.class_names != names:
            data = data.with_classes(names)  # raises naming classes the model does not know
        data = data.converted((shape[1], shape[2]), "L" if shape[0] == 1 else "RGB")
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
