"""Save and open a graph as an architecture JSON file (File > Export/Import architecture).

The file itself is read and written by ``cnnstudio.io.architecture_file``; this adds
the graph, and says every problem as an ``ArchitectureFileError`` naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from cnnstudio.io.architecture_file import MAX_FILE_BYTES, read_architecture, write_architecture
from cnnstudio.io.errors import ModelFileError
from cnnstudio.model.errors import ArchitectureFileError
from cnnstudio.model.graph import Graph

__all__ = ["MAX_FILE_BYTES", "load_architecture", "save_architecture"]


def save_architecture(graph: Graph, path: str | os.PathLike[str]) -> Path:
    """Write ``graph`` as architecture JSON to ``path`` (atomically) and return the path.

    Raises
    ------
    ArchitectureFileError
        When the file cannot be written (the message names it and says why).
    """
    try:
        return write_architecture(graph.to_architecture(), path)
    except ModelFileError as exc:
        raise ArchitectureFileError(str(exc)) from None


def load_architecture(path: str | os.PathLike[str]) -> Graph:
    """Read an architecture JSON file into a new :class:`Graph`.

    Raises
    ------
    ArchitectureFileError
        Missing or unreadable file, not a regular file, not JSON (or nested too deeply),
        not an architecture, a newer format version, an unknown block type or keyword;
        the message starts with the path.
    """
    try:
        arch = read_architecture(path)
    except ModelFileError as exc:
        raise ArchitectureFileError(str(exc)) from None
    try:
        return Graph.from_architecture(arch)
    except ArchitectureFileError as exc:
        raise ArchitectureFileError(f"{Path(path)}: {exc}") from None
