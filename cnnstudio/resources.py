"""Find files shipped in ``resources/``, wherever CNN Studio runs from.

One function serves a source checkout (``<repo>/resources``), an installed wheel
(``cnnstudio/_resources``, see ``[tool.hatch.build.targets.wheel.force-include]``)
and a frozen PyInstaller bundle (``<bundle>/resources``).
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

__all__ = ["resource_dir", "resource_path"]

_PACKAGE_DIR = Path(__file__).resolve().parent


def _candidates() -> list[Path]:
    found = []
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        found.append(Path(frozen_root) / "resources")
    found.append(_PACKAGE_DIR / "_resources")  # installed wheel
    found.append(_PACKAGE_DIR.parent / "resources")  # source checkout / editable install
    return found


@cache
def resource_dir() -> Path:
    """Return the folder that holds CNN Studio's shipped resources.

    Raises
    ------
    FileNotFoundError
        If no resources folder exists (a broken install); the message lists where
        it looked.
    """
    candidates = _candidates()
    for candidate in candidates:
        if (candidate / "RESOURCES.md").is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"CNN Studio's resources folder is missing (looked in: {looked}); reinstall CNN Studio."
    )


def resource_path(*parts: str) -> Path:
    """Return the path of a shipped resource, e.g. ``resource_path("icons", "app.svg")``."""
    return resource_dir().joinpath(*parts)
