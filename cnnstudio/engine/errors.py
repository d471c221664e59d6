"""The engine's error types. All derive from ``ValueError`` so callers may catch either."""

from __future__ import annotations


class EngineError(ValueError):
    """A configuration or input the engine cannot work with; the message says why."""


class ShapeError(EngineError):
    """An input or configuration whose sizes do not fit (names the layer and the numbers)."""


class DivergenceError(EngineError):
    """Training produced a NaN or infinite loss."""


class TrainingMemoryError(EngineError, MemoryError):
    """Training ran out of memory; the message says where and what to lower.

    Also a ``MemoryError``, so code that catches that still does. The network keeps
    the weights of the last completed step.
    """
