"""Save and open an architecture as JSON, independent of projects (File > Export/Import)."""

from __future__ import annotations

import os
from pathlib import Path

from cnnstudio.fileio import (
    JsonError,
    UnsafeFileError,
    dump_json,
    parse_json,
    read_bounded,
    sweep_temporaries,
    write_atomic,
)
from cnnstudio.model.compile import graph_from_architecture, graph_to_architecture
from cnnstudio.model.errors import ArchitectureFileError
from cnnstudio.model.graph import Graph

__all__ = ["MAX_FILE_BYTES", "load_architecture", "save_architecture"]

#: An architecture is a few kB; refuse anything absurdly large before parsing it.
MAX_FILE_BYTES = 16 * 1024 * 1024


def save_architecture(graph: Graph, path: str | os.PathLike[str]) -> Path:
    """Write ``graph`` as architecture JSON to ``path`` (atomically) and return the path.

    Raises
    ------
    ArchitectureFileError
        When the file cannot be written (the message names it and says why).
    """
    path = Path(path)
    try:
        data = dump_json(graph_to_architecture(graph), indent=2)
    except JsonError as exc:
        raise ArchitectureFileError(
            f"{path}: cannot save the architecture: it is {exc.reason}"
        ) from None
    try:
        write_atomic(path, lambda f: f.write(data))
    except UnsafeFileError as exc:
        raise ArchitectureFileError(f"{path}: cannot save the architecture: {exc.reason}") from None
    except OSError as exc:
        raise ArchitectureFileError(
            f"{path}: cannot save the architecture: {exc.strerror or exc}"
        ) from None
    return path


def load_architecture(path: str | os.PathLike[str]) -> Graph:
    """Read an architecture JSON file into a new :class:`Graph`.

    Raises
    ------
    ArchitectureFileError
        Missing or unreadable file, not a regular file, not JSON (or nested too deeply),
        not an architecture, a newer format version, an unknown block type or keyword;
        the message starts with the path.
    """
    path = Path(path)
    sweep_temporaries(path)
    try:
        raw = read_bounded(path, MAX_FILE_BYTES)
    except FileNotFoundError:
        raise ArchitectureFileError(f"{path}: no such file") from None
    except UnsafeFileError as exc:
        if exc.reason.startswith("is too large"):
            raise ArchitectureFileError(
                f"{path}: {exc.reason}; that is far too large for an architecture file"
            ) from None
        if exc.reason.startswith("is a folder"):
            raise ArchitectureFileError(f"{path}: is a folder, not an architecture file") from None
        raise ArchitectureFileError(
            f"{path}: {exc.reason}; open an architecture JSON file instead"
        ) from None
    except OSError as exc:
        raise ArchitectureFileError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        data = parse_json(raw)
    except JsonError as exc:
        raise ArchitectureFileError(f"{path}: {exc.reason}") from None
    try:
        return graph_from_architecture(data)
    except ArchitectureFileError as exc:
        raise ArchitectureFileError(f"{path}: {exc}") from None
