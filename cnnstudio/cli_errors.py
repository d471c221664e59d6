"""The command line's own errors (each printed as one line on stderr with a non-zero exit)
and the checks that raise them."""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "CLIError",
    "Interrupted",
    "check_output_file",
    "naming",
    "path_arg",
    "signal_text",
    "text_arg",
]


class CLIError(Exception):
    """A problem with what the user asked for; ``str(error)`` says what and what to do."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def signal_text(signum: int) -> str:
    """How a user knows a stop signal: "Ctrl+C", "SIGTERM", "SIGHUP (terminal closed)"."""
    if signum == signal.SIGINT:
        return "Ctrl+C"
    if signum == getattr(signal, "SIGHUP", None):
        return "SIGHUP (terminal closed)"
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Interrupted(KeyboardInterrupt):
    """Ctrl+C, SIGTERM or SIGHUP while a command runs; exits with 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal_text(signum)}")
        self.signum = signum
        self.exit_code = 128 + signum


@contextmanager
def naming(source: object) -> Iterator[None]:
    """Put ``source`` (a file or dataset name) in front of an error message that lacks it.

    Loader and engine errors are ``ValueError`` subclasses; most name their file, but
    some (a split, a class mapping, an engine check) only know the arrays.
    """
    try:
        yield
    except ValueError as exc:
        text = str(source)
        if text in str(exc):
            raise
        raise CLIError(f"{text}: {exc}") from exc


def check_output_file(path: Path, option: str, suffix: str) -> None:
    """Refuse an output file that could not be written, before any long work starts.

    Checks the suffix, that the folder exists and is a folder, that ``path`` is not a
    folder or a device, and that a file can be created in the folder (permissions
    alone do not tell: root, read-only mounts, ACLs).
    """
    if path.suffix.lower() != suffix:
        raise CLIError(f"{option} must end in {suffix}, not {path.name!r}")
    folder = path.parent
    if not folder.exists():
        raise CLIError(f"{option} {path}: the folder {folder} does not exist")
    if not folder.is_dir():
        raise CLIError(f"{option} {path}: {folder} is not a folder")
    if path.is_dir():
        raise CLIError(f"{option} {path} is a folder; give a file name ending in {suffix}")
    if path.exists() and not path.is_file():
        raise CLIError(f"{option} {path} is not a regular file; choose another name")
    try:
        fd, probe = tempfile.mkstemp(prefix=".cnnstudio-write-test-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise CLIError(
            f"{option} {path}: cannot write in the folder {folder} ({exc.strerror or exc}); "
            "choose another folder"
        ) from None


def text_arg(text: str) -> str:
    """argparse type for a file, folder or dataset name: refuses an empty one (argparse then
    names the option in its message)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the value is empty; give a file or folder")
    return text


def path_arg(text: str) -> Path:
    """argparse type for a path; an empty one is refused, not read as the current folder."""
    return Path(text_arg(text))
