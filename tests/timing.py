"""Timing helpers for the tests that guard against quadratic work (not speed tests)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any


def best_seconds(fn: Callable[..., Any], *args: Any) -> float:
    """Best of two runs, the garbage collector off (both against a busy shared machine)."""
    best = float("inf")
    for _ in range(2):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            fn(*args)
            best = min(best, time.perf_counter() - start)
        finally:
            gc.enable()
    return best
