"""The io package's error types."""

from __future__ import annotations

from os import PathLike

__all__ = ["ExportError", "ModelFileError"]


class ModelFileError(ValueError):
    """A model, project or recovery file that cannot be read or written.

    Every loader in ``cnnstudio.io`` raises this one type, whatever went wrong
    (a damaged zip, a missing member, weights that do not fit the architecture, a
    file from a newer CNN Studio...). The message names the file and the problem.

    Parameters
    ----------
    path
        The file concerned; it is put in front of the message.
    problem
        What is wrong, in words a person can act on.

    Attributes
    ----------
    path : str
    reason : str
        The message without the file name.
    """

    def __init__(self, path: str | PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.reason = problem
        super().__init__(f"{self.path}: {problem}")


class ExportError(ValueError):
    """A model that cannot be exported in the requested format; the message says why."""
