"""``cnnstudio predict``: classify image files with a trained model."""

from __future__ import annotations

import argparse
import json

from cnnstudio.cli_errors import CLIError, path_arg


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "predict",
        help="classify image files with a trained model",
        description=(
            "Print the most likely class and its probability for each image, prepared as "
            "the drawing pad prepares drawings (MNIST-style cropping and centring for digit "
            "models, the training normalisation)."
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
    return parser


def run(args: argparse.Namespace) -> int:
    if not args.model.exists():
        raise CLIError(f"{args.model} does not exist")
    if args.top < 1:
        raise CLIError(f"--top must be at least 1, got {args.top}")
    import numpy as np

    from cnnstudio.io import load_trained_model

    bundle = load_trained_model(args.model)
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
