"""Read and write the files a user hands us safely.

Reading: regular files only, never read without a bound; JSON with a bounded nesting depth.
Writing: atomically, through symlinks, keeping the target's permissions, and sweeping the
temporaries that killed saves left behind.

A leaf module (it imports nothing from cnnstudio) shared by `data`, `io` and `model`,
which each turn `UnsafeFileError` and `JsonError` into their own documented error type.

Why it exists: `open()` on a FIFO blocks until a writer appears (forever, in practice),
and a character device such as ``/dev/zero`` reports size 0 yet never ends, so a plain
"stat the size, then read it all" check lets it fill the memory. Every loader therefore
opens through `open_regular` (or reads through `read_bounded`), which refuses anything
that is not a regular file *before* opening it and re-checks the opened descriptor.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

__all__ = [
    "MAX_INFLATION",
    "MAX_JSON_DEPTH",
    "MIN_UNPACKED",
    "JsonError",
    "UnsafeFileError",
    "check_regular",
    "dump_json",
    "inflation_cap",
    "open_regular",
    "parse_json",
    "read_bounded",
    "sweep_temporaries",
    "write_atomic",
]


#: A compressed stream (a gzip file, a zip member) may inflate to at most this many times
#: its compressed size, or to MIN_UNPACKED bytes, whichever is more. Real image data and
#: weights compress 1-30 times; deflate reaches 1000 times on uniform data, so without a
#: bound a 1 MB file could become a gigabyte in memory.
MAX_INFLATION = 256
MIN_UNPACKED = 64 << 20


def inflation_cap(compressed: int) -> int:
    """The most bytes a stream of ``compressed`` bytes may inflate to."""
    return max(MIN_UNPACKED, MAX_INFLATION * compressed)


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
        return "is a pipe (FIFO), not a regular file"
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


# -- JSON ------------------------------------------------------------------------------
#: Deepest nesting of objects and lists accepted (and written). CNN Studio's own files
#: nest a handful of levels; the limit keeps every later walk over the data (validation,
#: copying, saving again) far from Python's recursion limit.
MAX_JSON_DEPTH = 100


class JsonError(ValueError):
    """JSON that cannot be read or written.

    ``reason`` is a short phrase that reads after "is" ("not valid JSON (line 1, ...)",
    "nested too deeply (...)"); the caller puts it after the file or member name.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _too_deep(obj: Any, max_depth: int) -> bool:
    # Iterative, so that checking a deep structure cannot itself overflow the stack.
    stack = [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > max_depth:
                    return True
                stack.append((child, depth + 1))
    return False


def _deep_message(max_depth: int) -> str:
    return f"nested too deeply (more than {max_depth} levels of objects and lists)"


def parse_json(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``data`` (UTF-8 bytes or text) parsed as JSON, nested at most ``max_depth`` deep.

    Raises
    ------
    JsonError
        For text that is not UTF-8, not JSON, nested too deeply, or holds an integer
        too long for Python to convert (more than 4,300 digits).
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise JsonError("not UTF-8 text") from None
    try:
        obj = json.loads(data)
    except RecursionError:
        raise JsonError(_deep_message(max_depth)) from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise JsonError(f"not valid JSON ({where}: {exc.msg})") from None
    except ValueError:  # int("1" * 5000) hits Python's integer string conversion limit
        digits = f"{sys.get_int_max_str_digits():,}"
        raise JsonError(f"not readable: it holds an integer of more than {digits} digits") from None
    if isinstance(obj, dict | list) and _too_deep(obj, max_depth):
        raise JsonError(_deep_message(max_depth))
    return obj


def dump_json(obj: Any, *, indent: int | None = 1) -> bytes:
    """``obj`` as UTF-8 JSON text ending in a newline (NaN allowed).

    Text that is not valid Unicode, such as a name ``os.fsdecode`` made from a file or
    folder name with undecodable bytes (it holds lone surrogates), cannot be UTF-8; the
    whole document is then written with ASCII escapes, which `parse_json` turns back
    into the very same text. Names that must be real text (class names) are checked
    by the callers before.

    Raises
    ------
    JsonError
        When ``obj`` is not plain JSON data or is nested deeper than `MAX_JSON_DEPTH`
        (it could not be read back). Its ``reason`` reads after "is".
    """
    if isinstance(obj, dict | list) and _too_deep(obj, MAX_JSON_DEPTH):
        raise JsonError(_deep_message(MAX_JSON_DEPTH))
    try:
        text = json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=True)
        try:
            return (text + "\n").encode("utf-8")
        except UnicodeEncodeError:
            text = json.dumps(obj, indent=indent, ensure_ascii=True, allow_nan=True)
            return (text + "\n").encode("ascii")
    except RecursionError:
        raise JsonError(_deep_message(MAX_JSON_DEPTH)) from None
    except (TypeError, ValueError) as exc:
        raise JsonError(f"not plain JSON data ({_short(exc)})") from None


def _short(exc: BaseException) -> str:
    text = " ".join((str(exc).strip() or type(exc).__name__).split())
    return text if len(text) <= 160 else text[:157] + "..."


# -- atomic writing --------------------------------------------------------------------
# A save writes ``.NAME.<pid>.<random>.tmp`` next to the target and renames it over the
# target. A save killed midway leaves that temporary behind; the pid in its name tells a
# later run whether its writer is still alive. Before these names, temporaries were
# ``.NAME.<8 random characters>.tmp`` (zipfmt's hex token, tempfile.mkstemp's letters).
_NAME_ROOM = 160  # keeps the temporary's name under the usual 255-byte limit
_STALE_AFTER_S = 24 * 3600
_TEMP_TAIL = re.compile(r"(?:(?P<pid>\d{1,10})\.[0-9a-f]{8}|[a-z0-9_]{8})\.tmp")


def _temp_prefix(target: Path) -> str:
    return f".{target.name[:_NAME_ROOM]}."


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # no such process (or no such pid at all)
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def _ancient(entry: os.DirEntry[str]) -> bool:
    # No save takes a day: older temporaries are stale even when their pid runs again
    # (reused by another process) or cannot be checked (Windows).
    try:
        return time.time() - entry.stat(follow_symlinks=False).st_mtime > _STALE_AFTER_S
    except OSError:
        return False


def _stale_temporaries(target: Path) -> list[Path]:
    prefix = _temp_prefix(target)
    found = []
    try:
        with os.scandir(target.parent) as entries:
            for entry in entries:
                if not entry.name.startswith(prefix):
                    continue
                m = _TEMP_TAIL.fullmatch(entry.name[len(prefix) :])
                if m is None or not entry.is_file(follow_symlinks=False):
                    continue
                if m["pid"] is None or not _pid_alive(int(m["pid"])) or _ancient(entry):
                    found.append(Path(entry.path))
    except OSError:  # a folder we cannot list: nothing we could remove either
        return []
    return found


def _real_target(path: str | os.PathLike[str]) -> Path:
    # Saving through a symlink writes the file it points to and keeps the link.
    return Path(os.path.realpath(path))


def sweep_temporaries(path: str | os.PathLike[str]) -> int:
    """Remove the temporaries that interrupted saves of ``path`` left next to it.

    Only temporaries whose writing process has ended (or that use the old naming) are
    removed; a save in progress in another process keeps its file. Returns how many
    were removed. Never raises: a folder that cannot be listed or written is skipped.
    """
    removed = 0
    for tmp in _stale_temporaries(_real_target(path)):
        try:
            tmp.unlink()
            removed += 1
        except OSError:
            pass
    return removed


def write_atomic(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it over ``path``.

    - A symlink is followed: the file it points to is replaced and the link stays.
    - An existing target keeps its permission bits (and group, where allowed); a new
      file gets the usual ``0666 & ~umask``.
    - The data is flushed to disk before the rename (``os.replace``, atomic), so a crash
      or a full disk leaves the previous file byte for byte.
    - On any failure, ``write`` raising included, the temporary is removed.
    - Stale temporaries of earlier, interrupted saves of the same file are swept.

    Returns the path actually written (the symlink's target).

    Raises
    ------
    UnsafeFileError
        When the target exists but is a folder, FIFO or device, or its folder is missing.
    OSError
        When it cannot be written (no permission, disk full...).
    """
    target = _real_target(path)
    folder = target.parent
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise UnsafeFileError(path, _kind(st.st_mode))
    if not folder.is_dir():
        raise UnsafeFileError(path, f"cannot be saved: the folder {folder} does not exist")
    sweep_temporaries(target)
    tmp: Path | None = None
    try:
        fd = -1
        for _ in range(20):
            tmp = folder / f"{_temp_prefix(target)}{os.getpid()}.{secrets.token_hex(4)}.tmp"
            try:
                # O_EXCL: a new file with the user's usual permissions (unlike mkstemp's 0600).
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
                fd = os.open(tmp, flags, 0o666)
                break
            except FileExistsError:
                continue
        if fd < 0:  # pragma: no cover - 20 random name collisions
            raise FileExistsError(f"could not create a temporary file next to {target}")
        with os.fdopen(fd, "wb") as f:
            if st is not None:
                _copy_mode(f.fileno(), st)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        assert tmp is not None
        os.replace(tmp, target)
        tmp = None
        _fsync_folder(folder)
    finally:
        if tmp is not None:
            try:
                tmp.unlink()
            except OSError:
                pass
    return target


def _copy_mode(fd: int, st: os.stat_result) -> None:
    if hasattr(os, "fchmod"):
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
    if hasattr(os, "fchown"):
        try:
            os.fchown(fd, -1, st.st_gid)  # a shared folder's group; only where allowed
        except OSError:
            pass


def _fsync_folder(folder: Path) -> None:
    # The rename itself reaches the disk only once the folder is flushed (POSIX).
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
