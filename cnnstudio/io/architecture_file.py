"""Architecture JSON files: the architecture alone, without weights or a project.

Written by File > Export > Architecture and ``cnnstudio export --format json``, read by
File > Open architecture and ``cnnstudio train --arch``. The content is an
architecture dict (docs/file-formats.md); ``cnnstudio.model.architecture`` turns it into
a canvas graph and back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

from cnnstudio.engine.architecture import ArchitectureError, parse_architecture
from cnnstudio.fileio import (
    JsonError,
    UnsafeFileError,
    dump_json,
    parse_json,
    read_bounded,
    sweep_temporaries,
    write_atomic,
)
from cnnstudio.io.errors import ModelFileError

__all__ = ["MAX_FILE_BYTES", "read_architecture", "write_architecture"]

#: An architecture is a few kB (30,000 layers: about 3 MB); refuse anything absurdly
#: large before reading it.
MAX_FILE_BYTES = 16 * 1024 * 1024


def read_architecture(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The architecture dict in the JSON file ``path``, checked by ``parse_architecture``.

    Whether the layers fit together is not checked: a file may hold a graph its user
    is still building.

    Raises
    ------
    ModelFileError
        Missing or unreadable file, not a regular file, over `MAX_FILE_BYTES`, not JSON
        (or nested too deeply), not an architecture or from a newer CNN Studio; the
        message starts with the path.
    """
    path = Path(path)
    sweep_temporaries(path)
    try:
        raw = read_bounded(path, MAX_FILE_BYTES)
    except FileNotFoundError:
        raise ModelFileError(path, "no such file") from None
    except UnsafeFileError as exc:
        if exc.reason.startswith("is too large"):
            raise ModelFileError(
                path, f"{exc.reason}; that is far too large for an architecture file"
            ) from None
        if exc.reason.startswith("is a folder"):
            raise ModelFileError(path, "is a folder, not an architecture file") from None
        raise ModelFileError(
            path, f"{exc.reason}; open an architecture JSON file instead"
        ) from None
    except OSError as exc:
        raise ModelFileError(path, f"cannot read it: {exc.strerror or exc}") from None
    try:
        data = parse_json(raw)
    except JsonError as exc:
        raise ModelFileError(path, exc.reason) from None
    try:
        parse_architecture(data)
    except ArchitectureError as exc:
        raise ModelFileError(path, str(exc)) from None
    return cast(dict[str, Any], data)  # a JSON object, as parse_architecture checked


def write_architecture(architecture: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``architecture`` as pretty JSON to ``path`` (atomically) and return the path.

    Raises
    ------
    ModelFileError
        When it is not plain JSON data or the file cannot be written; the message
        starts with the path and says why.
    """
    path = Path(path)
    try:
        data = dump_json(architecture, indent=2)
    except JsonError as exc:
        raise ModelFileError(path, f"cannot save the architecture: it is {exc.reason}") from None
    try:
        write_atomic(path, lambda f: f.write(data))
    except UnsafeFileError as exc:
        raise ModelFileError(path, f"cannot save the architecture: {exc.reason}") from None
    except OSError as exc:
        raise ModelFileError(path, f"cannot save the architecture: {exc.strerror or exc}") from None
    return path
