"""The data package's error type."""

from __future__ import annotations

from os import PathLike

__all__ = ["DatasetError"]


class DatasetError(ValueError):
    """A dataset file, folder or array that cannot be used; the message says which and why.

    Parameters
    ----------
    message
        What is wrong, in words a person can act on.
    path
        The file or folder concerned, when there is one; it is put in front of the message.
    """

    def __init__(self, message: str, path: str | PathLike[str] | None = None) -> None:
        self.path = None if path is None else str(path)
        self.reason = message
        super().__init__(message if path is None else f"{path}: {message}")
