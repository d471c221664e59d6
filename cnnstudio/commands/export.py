"""``cnnstudio export``: turn a trained model into ONNX, a NumPy predictor, a model file or JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnstudio.cli_errors import CLIError, path_arg

FORMATS = ("onnx", "numpy", "cnnmodel", "json")
_BY_SUFFIX = {".onnx": "onnx", ".cnnmodel": "cnnmodel", ".json": "json"}


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export",
        help="export a trained model (ONNX, NumPy predictor, model file, architecture JSON)",
        description=(
            "Export a trained model from a .cnnmodel file or a .cnnstudio project. "
            "onnx: an ONNX file with the softmax and the class names; "
            "numpy: a folder with predict.py (NumPy + Pillow only), model.json and weights.npz; "
            "cnnmodel: a CNN Studio model file; json: the architecture alone."
        ),
    )
    parser.add_argument("model", type=path_arg, help="a .cnnmodel file or a .cnnstudio project")
    parser.add_argument(
        "-o",
        "--output",
        type=path_arg,
        required=True,
        metavar="OUT",
        help="file or folder to write",
    )
    parser.add_argument(
        "-f",
        "--format",
        choices=FORMATS,
        help="what to write (default: from OUT's suffix: .onnx, .cnnmodel, .json; "
        "anything else is a NumPy predictor folder)",
    )
    return parser


def _format_for(out: Path, given: str | None) -> str:
    if given:
        return given
    return _BY_SUFFIX.get(out.suffix.lower(), "numpy")


def run(args: argparse.Namespace) -> int:
    from cnnstudio.io import file_kind, load_project, load_trained_model, read_architecture

    src: Path = args.model
    out: Path = args.output
    fmt = _format_for(out, args.format)
    if not src.exists():
        raise CLIError(f"{src} does not exist")
    if out.resolve() == src.resolve():
        raise CLIError(f"the output {out} is the input file; choose another name")
    folder = out if fmt == "numpy" else out.parent
    parent = folder.parent if fmt == "numpy" else folder
    if not parent.is_dir():
        raise CLIError(f"the folder {parent} does not exist")

    if fmt == "json":
        # The architecture alone: from a model, a project's graph, or an architecture file.
        from cnnstudio.io import write_architecture

        kind = file_kind(src)
        if kind == "project":
            arch = load_project(src).architecture
        elif kind == "architecture":
            arch = read_architecture(src)
        else:
            arch = load_trained_model(src).architecture
        write_architecture(arch, out)
        print(f"wrote {out} (architecture, {len(arch.get('nodes', []))} nodes)")
        return 0

    bundle = load_trained_model(src)
    classes = len(bundle.class_names)
    if fmt == "onnx":
        from cnnstudio.io.onnx_export import OPSET, export_onnx

        export_onnx(bundle, out)
        print(
            f"wrote {out} (ONNX opset {OPSET}, input 'input', output 'probabilities', "
            f"{classes} classes)"
        )
    elif fmt == "numpy":
        from cnnstudio.io import export_numpy

        script = export_numpy(bundle, out)
        print(f"wrote {out}/ (predict.py, model.json, weights.npz); run: python {script} IMAGE")
    else:
        from cnnstudio.io import save_model

        save_model(out, bundle)
        print(f"wrote {out} (CNN Studio model, {classes} classes)")
    return 0
