"""Autosave: a recovery copy of the open project, offered back after a crash.

The GUI calls `write_recovery` on a timer (every minute while there are unsaved
changes) and after training, `remove_recovery` after a successful save and on a
clean exit, and at start-up `recovery_info` / `read_recovery` to offer the restore
(`set_aside_recovery` when the autosave turns out to be damaged). The folder is the
caller's (the app's config folder), so this module has no idea of Qt or of platform
conventions.

Files, in ``<config_dir>/recovery/``:

``autosave.cnnstudio``
    An ordinary project file, written atomically, with one more member,
    ``recovery.json``: ``{"source": original project path or null, "saved": ISO time,
    "app_version": ...}``. Project and note are one file, so they always agree.
``autosave.json``
    The note as older versions wrote it, beside the project (read, never written: a
    crash between the two writes could leave a note naming the previous project, so
    it is trusted only when it is not older than the project it describes).
``autosave.damaged-<time>.cnnstudio`` / ``.json``
    A damaged autosave, moved aside (never deleted) so that it cannot stop a start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cnnstudio import __version__
from cnnstudio.fileio import (
    JsonError,
    UnsafeFileError,
    dump_json,
    parse_json,
    read_bounded,
    sweep_temporaries,
)
from cnnstudio.io.errors import ModelFileError
from cnnstudio.io.project_file import ProjectData, load_project, save_project
from cnnstudio.io.zipfmt import ZipReader

__all__ = [
    "RecoveryInfo",
    "has_recovery",
    "read_recovery",
    "recovery_info",
    "recovery_path",
    "remove_recovery",
    "set_aside_recovery",
    "sweep_recovery",
    "write_recovery",
]

_FOLDER = "recovery"
_PROJECT = "autosave.cnnstudio"
_INFO = "autosave.json"  # the note of older versions
_NOTE_MEMBER = "recovery.json"
_NOTE_BYTES = 64 * 1024
_KIND = "CNN Studio autosave"


@dataclass(frozen=True)
class RecoveryInfo:
    """What the restore prompt shows: when it was saved and which project it came from.

    ``problem`` is one sentence for the prompt when the note could not be trusted
    (then ``source`` is None and the autosave is restored as an untitled project).
    """

    path: Path
    source: Path | None
    saved: str | None
    problem: str | None = None


def recovery_path(config_dir: str | os.PathLike[str]) -> Path:
    """The recovery project file inside ``config_dir`` (it may not exist)."""
    return Path(config_dir) / _FOLDER / _PROJECT


def _info_path(config_dir: str | os.PathLike[str]) -> Path:
    return Path(config_dir) / _FOLDER / _INFO


def has_recovery(config_dir: str | os.PathLike[str]) -> bool:
    """True when an autosave is waiting (the last session did not end cleanly)."""
    return recovery_path(config_dir).is_file()


def sweep_recovery(config_dir: str | os.PathLike[str]) -> None:
    """Remove the temporaries that autosaves killed midway left in the recovery folder."""
    sweep_temporaries(recovery_path(config_dir))
    sweep_temporaries(_info_path(config_dir))


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
    note = {
        "source": None if source is None else str(Path(source).resolve()),
        "saved": datetime.now(UTC).isoformat(timespec="seconds"),
        "app_version": __version__,
    }
    data = dump_json(note)
    save_project(target, project, extra_members=[(_NOTE_MEMBER, data)])
    # An older version's note beside it would only confuse a later restore.
    try:
        _info_path(config_dir).unlink(missing_ok=True)
    except OSError:
        pass
    return target


def recovery_info(config_dir: str | os.PathLike[str]) -> RecoveryInfo | None:
    """Where the autosave came from and when, or None when there is no autosave.

    An unreadable note is not an error: the project file is what counts; the autosave
    is then offered as an untitled project and ``problem`` says why. An older version's
    damaged note is moved aside.

    Raises
    ------
    ModelFileError
        If the autosaved project itself cannot be read (call `set_aside_recovery`).
    """
    sweep_recovery(config_dir)
    path = recovery_path(config_dir)
    if not path.is_file():
        return None
    with ZipReader(path, _KIND) as z:
        if z.has(_NOTE_MEMBER):
            try:
                note = z.read_json(_NOTE_MEMBER)
            except ModelFileError as exc:
                return RecoveryInfo(path, None, None, _untitled(f"its note {exc.reason}"))
            return _from_note(path, note, None)
        z.require("project.json")
        doc = z.read_json("project.json")
    project_saved = doc.get("saved") if isinstance(doc, dict) else None
    return _legacy_info(config_dir, path, project_saved)


def _untitled(why: str) -> str:
    return f"The autosave's origin is unknown ({why}); it is restored as an untitled project."


def _from_note(path: Path, note: Any, project_saved: Any) -> RecoveryInfo:
    if not isinstance(note, dict):
        return RecoveryInfo(path, None, None, _untitled("its note is not an object"))
    source = Path(note["source"]) if isinstance(note.get("source"), str) else None
    saved = note["saved"] if isinstance(note.get("saved"), str) else None
    if project_saved is not None and source is not None:
        # Older versions wrote the note after the project, as a separate file: a note
        # older than its project is the previous autosave's.
        note_time, project_time = _time(saved), _time(project_saved)
        if note_time is None or project_time is None or note_time < project_time:
            why = "its note was written for an earlier autosave"
            return RecoveryInfo(path, None, project_saved, _untitled(why))
    return RecoveryInfo(path, source, saved)


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _legacy_info(
    config_dir: str | os.PathLike[str], path: Path, project_saved: Any
) -> RecoveryInfo:
    info_path = _info_path(config_dir)
    try:
        note = parse_json(read_bounded(info_path, _NOTE_BYTES))
    except FileNotFoundError:
        return RecoveryInfo(path, None, None)
    except (OSError, JsonError) as exc:
        if isinstance(exc, JsonError):
            why = f"its note is {exc.reason}"
        elif isinstance(exc, UnsafeFileError):
            why = f"its note {exc.reason}"
        else:
            why = f"its note cannot be read ({exc.strerror or exc})"
        moved = _move_aside(info_path)
        where = f"; the note was moved to {moved.name}" if moved else ""
        return RecoveryInfo(path, None, None, _untitled(f"{why}{where}"))
    return _from_note(path, note, project_saved)


def _move_aside(path: Path) -> Path | None:
    """Rename ``path`` to ``<stem>.damaged-<UTC time>[-n]<suffix>``; None if it cannot be."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for n in range(100):
        extra = f"-{n}" if n else ""
        aside = path.with_name(f"{path.stem}.damaged-{stamp}{extra}{path.suffix}")
        if aside.exists():
            continue
        try:
            path.rename(aside)
        except OSError:  # gone already, or a read-only folder: leave it be
            return None
        return aside
    return None


def set_aside_recovery(config_dir: str | os.PathLike[str]) -> Path | None:
    """Move a damaged autosave (and an older version's note) aside, not deleting it.

    Returns where the project file went (None if there was none, or it could only be
    removed), so the next start does not meet it again.
    """
    moved = _move_aside(recovery_path(config_dir))
    _move_aside(_info_path(config_dir))
    return moved


def read_recovery(config_dir: str | os.PathLike[str]) -> ProjectData:
    """Load the autosaved project.

    Raises
    ------
    ModelFileError
        If there is none or it is damaged (then move it aside with `set_aside_recovery`).
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
