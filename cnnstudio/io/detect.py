"""Tell CNN Studio's file kinds apart and get a trained model out of either kind."""

from __future__ import annotations

import os
import zipfile
from typing import Literal

from cnnstudio.fileio import open_regular
from cnnstudio.io.errors import ModelFileError
from cnnstudio.io.model_file import TrainedModel, load_model

__all__ = ["FileKind", "file_kind", "load_trained_model"]

FileKind = Literal["model", "project", "architecture", "unknown"]


def file_kind(path: str | os.PathLike[str]) -> FileKind:
    """What ``path`` holds, judged from its contents (not its name).

    ``"model"`` (a zip with ``meta.json``), ``"project"`` (a zip with ``project.json``),
    ``"architecture"`` (a JSON file), or ``"unknown"`` (anything else, unreadable
    files included: the loaders then give the precise error).
    """
    try:
        # Regular files only: a FIFO would block here, a device never end.
        f = open_regular(path)
    except OSError:
        return "unknown"
    with f:
        try:
            head = f.read(64)
        except OSError:
            return "unknown"
        if head.lstrip()[:1] == b"{":
            return "architecture"
        if not head.startswith(b"PK"):
            return "unknown"
        try:
            f.seek(0)
            with zipfile.ZipFile(f) as zf:
                names = set(zf.namelist())
        except Exception:  # damaged: let the loader explain
            return "unknown"
    if "project.json" in names:
        return "project"
    if "meta.json" in names:
        return "model"
    return "unknown"


def load_trained_model(path: str | os.PathLike[str]) -> TrainedModel:
    """The trained model in a ``.cnnmodel`` file, or in a ``.cnnstudio`` project.

    Raises
    ------
    ModelFileError
        If the file is damaged, or is a project without a trained model, or an
        architecture without weights.
    """
    kind = file_kind(path)
    if kind == "project":
        from cnnstudio.io.project_file import load_project

        project = load_project(path)
        if project.trained is None:
            raise ModelFileError(
                path, "this project has no trained model yet; train it in CNN Studio first"
            )
        return project.trained
    if kind == "architecture":
        raise ModelFileError(
            path, "is an architecture without weights; train it first, or give a .cnnmodel file"
        )
    return load_model(path)
