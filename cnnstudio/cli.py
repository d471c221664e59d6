"""The ``cnnstudio`` command line.

``cnnstudio`` alone starts the desktop app. Subcommands (train, evaluate, predict,
export, gui) live in ``cnnstudio.commands``; none of them imports Qt unless it shows a
window, so the command line works on machines without a display.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn, TextIO

from cnnstudio import __version__
from cnnstudio.cli_errors import CLIError, Interrupted

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


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors: every command-line failure is one stderr line."""

    def error(self, message: str) -> NoReturn:
        # argparse names the option in `message` ("argument --seed: invalid int value: 'x'")
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    # A warning (e.g. a helper process lost, training goes on) is news, not a bug report:
    # one line without the source location.
    with contextlib.suppress(OSError):
        print(f"cnnstudio: warning: {message}", file=file or sys.stderr)


def _say(command: str, message: object) -> None:
    # After SIGHUP the terminal may be gone: failing to print must not become a traceback.
    text = str(message).strip().replace("\n", " ") or "failed"
    with contextlib.suppress(OSError):
        print(f"cnnstudio {command}: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cnnstudio`` command; returns the exit code.

    Every failure is one line on stderr and a non-zero exit, never a traceback (set
    ``CNNSTUDIO_DEBUG=1`` to see one for an unexpected error).
    """
    command = ""
    try:
        args_list = list(sys.argv[1:] if argv is None else argv)
        parser = build_parser()
        if args_list[:1] == ["--self-test"]:
            # Handled before the subcommands: `--self-test` alone checks the whole install.
            if len(args_list) > 1:
                parser.error(
                    f"--self-test takes no other arguments, got: {' '.join(args_list[1:])}"
                )
            from cnnstudio.selftest import run as run_self_test

            return run_self_test()
        if not args_list or (
            args_list[0].startswith("-") and args_list[0] not in ("-h", "--help", "--version")
        ):
            # Plain `cnnstudio` (or `cnnstudio --screenshot x.png`) means the GUI.
            args_list = ["gui", *args_list]
        args = parser.parse_args(args_list)
        command = args.command
        with warnings.catch_warnings():  # restores the warning settings for in-process callers
            warnings.showwarning = _one_line_warning
            return int(args._run(args) or 0)
    except CLIError as exc:
        _say(command, exc)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        _say(command, exc if isinstance(exc, Interrupted) else "interrupted by Ctrl+C")
        return int(getattr(exc, "exit_code", 130))
    except (ValueError, OSError) as exc:
        # Our loaders raise ValueError subclasses whose messages name the file and
        # the problem; OSError covers unreadable paths. One line, no traceback.
        _say(command, exc)
        return 1
    except MemoryError as exc:
        _say(
            command,
            str(exc)
            or "ran out of memory; try a smaller dataset or --batch-size, or close other programs",
        )
        return 1
    except Exception as exc:
        if os.environ.get("CNNSTUDIO_DEBUG"):
            raise
        _say(
            command,
            f"unexpected error ({type(exc).__name__}: {exc}); "
            "run with CNNSTUDIO_DEBUG=1 to see where, and please report it",
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
