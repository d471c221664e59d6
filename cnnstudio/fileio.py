"""Open the paths a user hands us safely: regular files only, never read without a bound.

A leaf module (it imports nothing from cnnstudio) shared by `data`, `io` and `model`,
which each turn `UnsafeFileError` into their own documented error type.

Why it exists: `open()` on a FIFO blocks until a writer appears (forever, in practice),
and a character device such as ``/dev/zero`` reports size 0 yet never ends, so a plain
"stat the size, then read it all" check lets it fill the memory. Every loader therefore
opens through `open_regular` (or reads through `read_bounded`), which refuses anything
that is not a regular file *before* opening it and re-checks the opened descriptor.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

__all__ = ["UnsafeFileError", "check_regular", "open_regular", "read_bounded"]


class UnsafeFileError(OSError):
    """A path that is not a regular file, or a file larger than its reader allows.

    ``reason`` is a short lower-case phrase ("is a folder, not a file", ...) that the
    caller puts after the path in its own error type.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "is a pipe (FIFO), not a regular file; save the data to a file first"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    return "is not a regular file"


def check_regular(path: str | os.PathLike[str]) -> int:
    """The size in bytes of ``path`` if it is a regular file (symlinks followed).

    Raises
    ------
    FileNotFoundError, PermissionError, OSError
        As ``os.stat`` does (missing file, no permission, ...).
    UnsafeFileError
        When the path is a folder, FIFO, device or socket.
    """
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFileError(path, _kind(st.st_mode))
    return st.st_size


def open_regular(path: str | os.PathLike[str], max_bytes: int | None = None) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file of at most ``max_bytes``.

    ``O_NONBLOCK`` keeps the open itself from blocking should the path be swapped for a
    FIFO between the check and the open; the descriptor is checked again once open and
    switched back to blocking reads.
    """
    size = check_regular(path)
    if max_bytes is not None and size > max_bytes:
        raise UnsafeFileError(path, f"is too large ({size:,} bytes; at most {max_bytes:,})")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFileError(path, _kind(st.st_mode))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The whole content of the regular file ``path``, refusing more than ``max_bytes``.

    The read itself is bounded too (a file that grows while it is read is refused), so the
    memory this takes never exceeds ``max_bytes + 1``.
    """
    with open_regular(path, max_bytes) as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnsafeFileError(path, f"is too large (more than {max_bytes:,} bytes)")
    return data
