"""Save and open an architecture as JSON, independent of projects (File > Export/Import)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

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
    text = json.dumps(graph_to_architecture(graph), indent=2, ensure_ascii=False) + "\n"
    try:
        # Write next to the target and rename, so a crash never leaves half a file.
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
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
        Missing or unreadable file, not JSON, not an architecture, a newer format
        version, an unknown block type or keyword; the message starts with the path.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ArchitectureFileError(
                f"{path}: {size:,} bytes is far too large for an architecture file"
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ArchitectureFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ArchitectureFileError(f"{path}: is a folder, not an architecture file") from None
    except OSError as exc:
        raise ArchitectureFileError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ArchitectureFileError(f"{path}: not a text (UTF-8 JSON) file") from None
    except json.JSONDecodeError as exc:
        raise ArchitectureFileError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    try:
        return graph_from_architecture(data)
    except ArchitectureFileError as exc:
        raise ArchitectureFileError(f"{path}: {exc}") from None
