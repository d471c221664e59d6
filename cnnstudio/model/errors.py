"""The model layer's error types. All derive from ``ValueError`` so callers may catch either."""

from __future__ import annotations

__all__ = ["ArchitectureFileError", "GraphError", "ModelError", "ParamError"]


class ModelError(ValueError):
    """Base class: something the user asked of the architecture model cannot be done."""


class GraphError(ModelError):
    """An edit that would break the graph (unknown block, self-link, duplicate link, cycle...)."""


class ParamError(ModelError):
    """A block parameter value outside what its spec allows; the message names both."""


class ArchitectureFileError(ModelError):
    """An architecture file or dict that cannot be read; the message says where and why."""
