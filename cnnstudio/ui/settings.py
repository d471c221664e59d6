"""Where the app keeps its settings (window layout, recent files)."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

ORGANIZATION = "CNNStudio"
APPLICATION = "CNN Studio"


def config_dir() -> Path | None:
    """A folder chosen with ``CNNSTUDIO_CONFIG_DIR`` (tests, portable installs), else None."""
    value = os.environ.get("CNNSTUDIO_CONFIG_DIR")
    return Path(value) if value else None


def app_settings() -> QSettings:
    """The settings store: the platform's usual place, or an INI file in ``config_dir()``."""
    folder = config_dir()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        return QSettings(str(folder / "cnnstudio.ini"), QSettings.Format.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)
