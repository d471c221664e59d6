"""Connecting Qt objects to the model's psygnal signals without outliving them."""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject

__all__ = ["ModelConnections"]


class ModelConnections:
    """The psygnal connections of one Qt object; all dropped when it is destroyed.

    A model (a ``Graph``, a ``Project``) can outlive the views that watch it (a test
    keeps its graph; New replaces the view's graph). Each slot is guarded: it does
    nothing once the Qt object is gone, and every connection is cut when the object
    emits ``destroyed``.
    """

    def __init__(self, owner: QObject) -> None:
        self._owner_ref = weakref.ref(owner)
        self._items: list[tuple[Any, Callable[..., None]]] = []
        items = self._items

        def drop_all(*_args: Any) -> None:
            for signal, slot in items:
                try:
                    signal.disconnect(slot)
                except (ValueError, RuntimeError):
                    pass
            items.clear()

        owner.destroyed.connect(drop_all)

    def connect(self, signal: Any, slot: Callable[..., None]) -> None:
        """Connect ``slot`` to the psygnal ``signal`` for the owner's lifetime."""
        # Weak: the model's signal must not keep the view (and its slot's self) alive.
        owner_ref = self._owner_ref
        slot_ref = weakref.WeakMethod(slot) if inspect.ismethod(slot) else (lambda: slot)

        def call(*args: Any) -> None:
            owner = owner_ref()
            method = slot_ref()
            if owner is not None and method is not None and shiboken6.isValid(owner):
                method(*args)

        signal.connect(call)
        self._items.append((signal, call))

    def clear(self) -> None:
        """Disconnect everything connected so far."""
        for signal, slot in self._items:
            try:
                signal.disconnect(slot)
            except (ValueError, RuntimeError):
                pass
        self._items.clear()
