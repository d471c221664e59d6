"""Autosave: a recovery copy of the open project, offered back after a crash.

The GUI calls `write_recovery` on a timer (every minute while there are unsaved
changes) and after training, `remove_recovery` after a successful save and on a
clean exit, and at start-up `has_recovery` / `recovery_info` / `read_recovery`
to offer the restore. The folder is the caller's (the app's config folder), so
this module has no idea of Qt or of platform conventions.

Files, in ``<config_dir>/recovery/``:

``autosave.cnnstudio``
    An ordinary project file (written atomically, so a crash during autosave
    leaves the previous autosave intact).
``autosave.json``
    ``{"source": original project path or null, "saved": ISO time, "app_version": ...}``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cnnstudio import __version__
from cnnstudio.io.errors import ModelFileError
from cnnstudio.io.project_file import ProjectData, load_project, save_project
from cnnstudio.io.zipfmt import write_atomic

__all__ = [
    "RecoveryInfo",
    "has_recovery",
    "read_recovery",
    "recovery_info",
    "recovery_path",
    "remove_recovery",
    "write_recovery",
]

_FOLDER = "recovery"
_PROJECT = "autosave.cnnstudio"
_INFO = "autosave.json"


@dataclass(frozen=True)
class RecoveryInfo:
    """What the restore prompt shows: when it was saved and which project it came from."""

    path: Path
    source: Path | None
    saved: str | None


def recovery_path(config_dir: str | os.PathLike[str]) -> Path:
    """The recovery project file inside ``config_dir`` (it may not exist)."""
    return Path(config_dir) / _FOLDER / _PROJECT


def _info_path(config_dir: str | os.PathLike[str]) -> Path:
    return Path(config_dir) / _FOLDER / _INFO


def has_recovery(config_dir: str | os.PathLike[str]) -> bool:
    """True when an autosave is waiting (the last session did not end cleanly)."""
    return recovery_path(config_dir).is_file()


def write_recovery(
    config_dir: str | os.PathLike[str],
    project: ProjectData,
    source: str | os.PathLike[str] | None = None,
) -> Path:
    """Save ``project`` as the recovery copy; ``source`` is the project's own file, if any.

    Returns the recovery file's path.

    Raises
    ------
    ModelFileError
        If it cannot be written (the GUI should report it once and keep going).
    """
    target = recovery_path(config_dir)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelFileError(target, f"cannot be saved ({exc.strerror or exc})") from None
    save_project(target, project)
    info = {
        "source": None if source is None else str(Path(source).resolve()),
        "saved": datetime.now(UTC).isoformat(timespec="seconds"),
        "app_version": __version__,
    }
    data = json.dumps(info, indent=1).encode("utf-8")
    write_atomic(_info_path(config_dir), lambda f: f.write(data), "recovery note")
    return target


def recovery_info(config_dir: str | os.PathLike[str]) -> RecoveryInfo | None:
    """Where the autosave came from and when, or None when there is no autosave.

    A missing or unreadable note is not an error: the project file is what counts.
    """
    path = recovery_path(config_dir)
    if not path.is_file():
        return None
    source: Path | None = None
    saved: str | None = None
    try:
        info = json.loads(_info_path(config_dir).read_text(encoding="utf-8"))
        if isinstance(info, dict):
            if isinstance(info.get("source"), str):
                source = Path(info["source"])
            if isinstance(info.get("saved"), str):
                saved = info["saved"]
    except (OSError, ValueError):
        pass
    return RecoveryInfo(path=path, source=source, saved=saved)


def read_recovery(config_dir: str | os.PathLike[str]) -> ProjectData:
    """Load the autosaved project.

    Raises
    ------
    ModelFileError
        If there is none or it is damaged (then offer to discard it with
        `remove_recovery`).
    """
    return load_project(recovery_path(config_dir))


def remove_recovery(config_dir: str | os.PathLike[str]) -> None:
    """Delete the autosave (after a save, a clean exit, or when the user discards it)."""
    for p in (recovery_path(config_dir), _info_path(config_dir)):
        try:
            p.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ModelFileError(p, f"cannot be removed ({exc.strerror or exc})") from None
