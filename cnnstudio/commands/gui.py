"""``cnnstudio gui``: start the desktop app (also what plain ``cnnstudio`` does)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cnnstudio.cli_errors import CLIError, check_output_file, path_arg

VIEW_KEYS = ("build", "train", "inspect", "predict", "learn")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "gui",
        help="start the desktop app (the default)",
        description="Start the CNN Studio desktop app.",
    )
    parser.add_argument(
        "file", nargs="?", type=path_arg, help="a project, model or architecture to open"
    )
    parser.add_argument(
        "--screenshot",
        metavar="FILE.png",
        type=path_arg,
        help="render the main window to FILE.png and exit (works without a display)",
    )
    parser.add_argument("--size", metavar="WxH", type=_size, help="window size, e.g. 1280x800")
    parser.add_argument("--view", choices=VIEW_KEYS, help="the view to show first")
    return parser


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1280x800, not {text!r}") from None
    if not (200 <= w <= 10000 and 200 <= h <= 10000):
        raise argparse.ArgumentTypeError(f"size {w}x{h} is out of range (200 to 10000 each)")
    return (w, h)


def display_problem() -> str | None:
    """Why no window can be shown here, or None when a display (or a Qt platform) is set."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return None
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return (
            "no display found (neither DISPLAY nor WAYLAND_DISPLAY is set); run it in a desktop "
            "session, under xvfb-run, or with QT_QPA_PLATFORM=offscreen to render screenshots"
        )
    return None


def run(args: argparse.Namespace) -> int:
    screenshot: Path | None = args.screenshot
    if screenshot is not None:
        check_output_file(screenshot, "--screenshot", ".png")
        if display_problem():
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
    problem = display_problem()
    if problem:
        raise CLIError(problem)
    if args.file is not None and not args.file.exists():
        raise CLIError(f"{args.file} does not exist")
    from cnnstudio.ui.app import run_gui

    return run_gui(screenshot=screenshot, size=args.size, view=args.view, open_path=args.file)
