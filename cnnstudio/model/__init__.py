"""The document a user edits: the architecture graph, block registry, shape checks, compiling.

Also the open project, the training session and the Learn lab's numbers (``learn``).
Pure Python + psygnal; no Qt (docs/architecture.md, "Layers, and who may import whom").
Views in ``cnnstudio.ui`` mirror it.
"""

from cnnstudio.model.checks import BlockInfo, NetworkInfo, format_shape
from cnnstudio.model.compile import compile_network
from cnnstudio.model.errors import ArchitectureFileError, GraphError, ModelError, ParamError
from cnnstudio.model.files import load_architecture, save_architecture
from cnnstudio.model.graph import Block, Graph, GraphEvents, Link, Removed
from cnnstudio.model.presets import PresetInfo, list_presets, load_preset
from cnnstudio.model.registry import (
    BLOCK_SPECS,
    GROUPS,
    BlockSpec,
    ParamSpec,
    block_spec,
    blocks_in_group,
    icon_path,
)

__all__ = [
    "BLOCK_SPECS",
    "GROUPS",
    "ArchitectureFileError",
    "Block",
    "BlockInfo",
    "BlockSpec",
    "Graph",
    "GraphError",
    "GraphEvents",
    "Link",
    "ModelError",
    "NetworkInfo",
    "ParamError",
    "ParamSpec",
    "PresetInfo",
    "Removed",
    "block_spec",
    "blocks_in_group",
    "compile_network",
    "format_shape",
    "icon_path",
    "list_presets",
    "load_architecture",
    "load_preset",
    "save_architecture",
]
