"""The ``cnnstudio`` command line.

``cnnstudio`` alone starts the desktop app. Subcommands (train, evaluate, predict,
export, gui) live in ``cnnstudio.commands``; none of them imports Qt unless it shows a
window, so the command line works on machines without a display.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from cnnstudio import __version__
from cnnstudio.cli_errors import CLIError

__all__ = ["build_parser", "main"]

#: Subcommand modules in cnnstudio.commands, in the order ``--help`` lists them.
COMMANDS = ("train", "evaluate", "predict", "export", "gui")


def _command_modules() -> dict:
    modules = {}
    for name in COMMANDS:
        try:
            modules[name] = importlib.import_module(f"cnnstudio.commands.{name}")
        except ModuleNotFoundError as exc:
            # Only a command module that does not exist yet is skipped; a module
            # that fails on a missing dependency is a real error.
            if exc.name != f"cnnstudio.commands.{name}":
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnnstudio",
        description="CNN Studio: build, train and understand convolutional neural networks.",
        epilog="Run 'cnnstudio COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"CNN Studio {__version__}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation (data, training, an offscreen window) and exit",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _command_modules().items():
        sub = module.add_parser(subparsers)
        sub.set_defaults(_run=module.run, command=name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cnnstudio`` command; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if args_list[:1] == ["--self-test"]:
        # Handled before the subcommands: `--self-test` alone checks the whole install.
        if len(args_list) > 1:
            parser.error(f"--self-test takes no other arguments, got: {' '.join(args_list[1:])}")
        from cnnstudio.selftest import run as run_self_test

        return run_self_test()
    if not args_list or (
        args_list[0].startswith("-") and args_list[0] not in ("-h", "--help", "--version")
    ):
        # Plain `cnnstudio` (or `cnnstudio --screenshot x.png`) means the GUI.
        args_list = ["gui", *args_list]
    args = parser.parse_args(args_list)
    try:
        return int(args._run(args) or 0)
    except CLIError as exc:
        print(f"cnnstudio {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"cnnstudio {args.command}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:
        # Our loaders raise ValueError subclasses whose messages name the file and
        # the problem; OSError covers unreadable paths. One line, no traceback.
        print(f"cnnstudio {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
