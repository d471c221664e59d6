"""The data package's error type."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike

__all__ = ["DatasetError", "naming", "printable_path"]


def printable_path(path: str | PathLike[str]) -> str:
    """``path`` as text that can always be printed and saved.

    A file name that is not valid UTF-8 reaches Python with surrogate escapes, which a
    terminal or a UTF-8 file cannot encode; its odd bytes are shown as ``\\xe9`` instead.
    """
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return os.fsencode(text).decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # a surrogate that no file name decodes to
            return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class DatasetError(ValueError):
    """A dataset file, folder or array that cannot be used; the message says which and why.

    Parameters
    ----------
    message
        What is wrong, in words a person can act on.
    path
        The file or folder concerned, when there is one; it is put in front of the message.
        Both are made printable (see :func:`printable_path`).
    """

    def __init__(self, message: str, path: str | PathLike[str] | None = None) -> None:
        self.path = None if path is None else str(path)
        # Printable too: a message may quote a file name (a class folder, a paired file).
        self.reason = printable_path(message)
        text = self.reason if path is None else f"{printable_path(path)}: {self.reason}"
        super().__init__(text)


@contextmanager
def naming(path: str | PathLike[str]) -> Iterator[None]:
    """Put ``path`` in front of a DatasetError raised inside that names no file yet.

    For the checks a loader reaches through code that does not know the file (building
    the :class:`~cnnstudio.data.dataset.Dataset`, say), so every error still names it.
    """
    try:
        yield
    except DatasetError as exc:
        if exc.path is not None:
            raise
        raise DatasetError(exc.reason, path) from exc
