"""Ready-made architectures from the reference notes, scaled to small images.

Each preset is an architecture JSON file in ``resources/presets`` with a
``description`` (what the architecture teaches) and canvas positions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cnnstudio.model.errors import ModelError
from cnnstudio.model.graph import Graph
from cnnstudio.resources import resource_path

__all__ = ["PRESET_ALIASES", "PRESET_ORDER", "PresetInfo", "list_presets", "load_preset"]

#: Menu order: from the simplest baseline to the branching networks, then the photo networks.
PRESET_ORDER = (
    "mlp",
    "lenet5",
    "lenet5_rgb",
    "alexnet_mini",
    "vgg_mini",
    "resnet_mini",
    "densenet_mini",
    "vgg_photo",
    "resnet_photo",
)

#: Short names for the command line (``--preset photo``): alias -> preset key.
PRESET_ALIASES = {"photo": "resnet_photo"}


@dataclass(frozen=True)
class PresetInfo:
    """A preset for a menu: ``key`` (file stem), ``name``, ``description``, ``input_shape``."""

    key: str
    name: str
    description: str
    input_shape: tuple[int, ...]
    path: Path


def _preset_dir() -> Path:
    return resource_path("presets")


@cache
def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def list_presets() -> list[PresetInfo]:
    """Every shipped preset, in menu order."""
    found = {p.stem: p for p in _preset_dir().glob("*.json")}
    keys = [k for k in PRESET_ORDER if k in found] + sorted(set(found) - set(PRESET_ORDER))
    infos = []
    for key in keys:
        arch = _read(found[key])
        shape: tuple[int, ...] = ()
        for node in arch.get("nodes", []):
            if node.get("type") == "Input":
                shape = tuple(node.get("config", {}).get("shape", ()))
        infos.append(
            PresetInfo(key, arch.get("name", key), arch.get("description", ""), shape, found[key])
        )
    return infos


def load_preset(name: str) -> Graph:
    """A new :class:`Graph` of the preset with this key (``"lenet5"``), name (``"LeNet-5"``)
    or alias of :data:`PRESET_ALIASES` (``"photo"``).

    Raises
    ------
    ModelError
        No preset has that key or name (the message lists them).
    """
    key = PRESET_ALIASES.get(name, name)
    for info in list_presets():
        if key in (info.key, info.name):
            return Graph.from_architecture(_read(info.path))
    known = ", ".join([*PRESET_ALIASES, *(info.key for info in list_presets())])
    raise ModelError(f"there is no preset {name!r} (presets: {known})")
