"""Opening the files a user names as data: regular files only, gzip streams bounded.

Every loader of the package opens through :func:`open_data` (CSV and IDX files,
plain or gzip-compressed) or :func:`cnnstudio.data.folder.open_image` (images), so a
FIFO, a device such as ``/dev/zero`` or a folder given as a file is refused with one
:class:`DatasetError` naming it, and no read error of any kind escapes as anything
else.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from pathlib import Path
from typing import BinaryIO

from cnnstudio.data.errors import DatasetError
from cnnstudio.fileio import MAX_INFLATION, UnsafeFileError, inflation_cap, open_regular

__all__ = ["file_error", "is_folder", "open_data"]

_GZIP_MAGIC = b"\x1f\x8b"


def file_error(exc: OSError, path: str | os.PathLike[str], *, folder: bool = False) -> DatasetError:
    """The :class:`DatasetError` for an ``OSError`` met while opening or reading ``path``.

    ``folder`` says that ``path`` was being listed, not read.
    """
    what = "folder" if folder else "file"
    if isinstance(exc, UnsafeFileError):
        reason = exc.reason  # says itself what the path is instead of a file
    elif isinstance(exc, FileNotFoundError):
        reason = f"{what} not found"
    elif isinstance(exc, IsADirectoryError):
        reason = "is a folder, not a file"
    elif isinstance(exc, PermissionError):
        action = "list" if folder else "read"
        reason = f"permission denied: cannot {action} this {what}; check its permissions"
    else:
        reason = f"cannot {'list' if folder else 'read'} the {what} ({exc.strerror or exc})"
    error = DatasetError(reason, path)
    error.__cause__ = exc
    return error


def is_folder(path: str | os.PathLike[str]) -> bool:
    """``Path.is_dir``, but an inaccessible path is a DatasetError, not a PermissionError."""
    try:
        return Path(path).is_dir()
    except OSError as exc:
        raise file_error(exc, path, folder=True) from exc


class _CheckedReader(io.RawIOBase):
    """A file (decompressed on the fly if it is gzip) whose read errors are DatasetErrors.

    Reading stops with a DatasetError once more than ``limit`` bytes have come out,
    which bounds a gzip stream's decompressed size; ``ratio_bound`` says that the limit
    comes from the file's compressed size, not from the caller.
    """

    def __init__(self, raw: BinaryIO, path: Path, gz: bool, limit: int, ratio_bound: bool) -> None:
        super().__init__()
        self._raw = raw
        self._src: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw  # type: ignore[assignment]
        self._path = path
        self._gz = gz
        self._left = limit
        self._limit = limit
        self._ratio_bound = ratio_bound

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            n = self._src.readinto(buffer)  # type: ignore[attr-defined]
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise DatasetError(
                f"the gzip-compressed file is damaged or truncated ({exc}); download or "
                "compress it again",
                self._path,
            ) from exc
        except OSError as exc:
            raise file_error(exc, self._path) from exc
        self._left -= n
        if self._left < 0:
            if self._ratio_bound:
                raise DatasetError(
                    f"the file decompresses to more than {self._limit:,} bytes, over "
                    f"{MAX_INFLATION} times its size; real data does not compress that well: "
                    "is it damaged, or a decompression bomb?",
                    self._path,
                )
            what = "decompresses to" if self._gz else "holds"
            raise DatasetError(
                f"the file {what} more than {self._limit:,} bytes, more than a dataset CNN "
                "Studio loads can need; is it the right file?",
                self._path,
            )
        return n

    def close(self) -> None:
        try:
            if self._src is not self._raw:
                self._src.close()
        finally:
            self._raw.close()
            super().close()


def open_data(path: str | os.PathLike[str], *, limit: int) -> tuple[BinaryIO, bool, int]:
    """Open a data file for buffered binary reading, decompressing it if it is gzip.

    Parameters
    ----------
    path
        The file; gzip is recognised by its first two bytes, whatever the name.
    limit
        The most bytes the stream will yield (after decompression); more is a
        DatasetError. A gzip file is also bounded by its own size (at most 256 times it,
        or 64 MB), so a small gzip bomb is refused early.

    Returns
    -------
    (stream, gz, size)
        The stream, whether it is gzip-compressed and the file's size on disk.

    Raises
    ------
    DatasetError
        Naming the file: missing, unreadable, not a regular file (a folder, a FIFO, a
        device); later reads raise it too for damaged gzip data and past ``limit``.
    """
    path = Path(path)
    try:
        raw = open_regular(path)
    except OSError as exc:
        raise file_error(exc, path) from exc
    try:
        size = os.fstat(raw.fileno()).st_size
        gz = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
    except OSError as exc:
        raw.close()
        raise file_error(exc, path) from exc
    by_ratio = gz and inflation_cap(size) < limit
    if by_ratio:
        limit = inflation_cap(size)
    reader = _CheckedReader(raw, path, gz, limit, by_ratio)
    stream = io.BufferedReader(reader, buffer_size=1 << 16)
    return stream, gz, size  # type: ignore[return-value]
