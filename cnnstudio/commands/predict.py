"""``cnnstudio predict``: classify image files with a trained model."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cnnstudio.cli_errors import CLIError, path_arg


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "predict",
        help="classify image files with a trained model",
        description=(
            "Print the most likely class and its probability for each image, prepared as "
            "the drawing pad prepares drawings (MNIST-style cropping and centring for digit "
            "models, the training normalisation). A digit model takes colour pictures too "
            "(photos of digits on paper), made grey; a colour photo model refuses a "
            "grayscale picture unless --allow-grayscale is given."
        ),
    )
    parser.add_argument(
        "model", type=path_arg, help="a .cnnmodel file or a trained .cnnstudio project"
    )
    parser.add_argument("images", nargs="+", type=path_arg, metavar="IMAGE", help="image files")
    parser.add_argument("--json", action="store_true", help="print every class probability as JSON")
    parser.add_argument(
        "--top", type=int, default=3, metavar="K", help="classes listed per image (default 3)"
    )
    parser.add_argument(
        "--allow-grayscale",
        action="store_true",
        help="give a colour photo model grayscale pictures anyway, as three equal channels",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    if not args.model.exists():
        raise CLIError(f"{args.model} does not exist")
    if args.top < 1:
        raise CLIError(f"--top must be at least 1, got {args.top}")
    import numpy as np

    from cnnstudio.io import load_trained_model

    bundle = load_trained_model(args.model)
    if not args.allow_grayscale:
        _refuse_grayscale_for_photo_model(bundle, args)
    # Read every image first, so a bad one stops the run before anything is printed.
    images = np.stack([bundle.load_image(p) for p in args.images])
    probs = bundle.predict_proba(images)
    names = bundle.class_names
    results = []
    for path, p in zip(args.images, probs, strict=True):
        best = int(np.argmax(p))
        results.append(
            {
                "image": str(path),
                "class": names[best],
                "index": best,
                "probability": float(p[best]),
                "probabilities": {n: float(p[i]) for i, n in enumerate(names)},
            }
        )
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    for path, p in zip(args.images, probs, strict=True):
        order = np.argsort(-p, kind="stable")[: args.top]
        best, rest = int(order[0]), order[1:]
        others = ", ".join(f"{names[i]} ({100 * p[i]:.1f}%)" for i in rest)
        line = f"{path}: {names[best]} ({100 * p[best]:.1f}%)"
        print(line + (f"   next: {others}" if others else ""))
    return 0


def _refuse_grayscale_for_photo_model(bundle: Any, args: argparse.Namespace) -> None:
    """A colour photo model (3 channels, whole pictures) given a picture without colour
    would see three equal channels, which it never saw in training: refuse that, once,
    naming the picture. Digit models take any picture (phone photos of digits are in
    colour) and grey models make colour pictures grey, as their training data was."""
    from cnnstudio.data.preprocess import is_grayscale_picture
    from cnnstudio.engine.layers.base import format_shape

    shape = tuple(bundle.input_shape)
    if len(shape) != 3 or shape[0] != 3 or bundle.digit_preprocessing:
        return
    for path in args.images:
        if is_grayscale_picture(path):
            raise CLIError(
                f"{path}: is a grayscale picture, but {args.model.name} is a colour photo "
                f"model ({format_shape(shape)}) and would see three equal channels, unlike "
                "anything it learned from. Give it a colour picture, or add "
                "--allow-grayscale to predict this one anyway"
            )
