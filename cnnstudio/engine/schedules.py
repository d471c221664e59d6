"""Learning-rate schedules.

A schedule is a callable ``schedule(step, base_lr) -> lr``: ``step`` is the number
of optimizer steps already taken (0 for the first step) and ``base_lr`` the
learning rate the user chose. Taking ``base_lr`` at each call (instead of fixing it
at construction) lets the user change the learning rate while training: the
schedule keeps shaping whatever the current base rate is.

All step counts are in optimizer steps (batches); ``training.train`` converts the
epoch-based settings of ``TrainConfig`` into steps.
"""

from __future__ import annotations

import math
from typing import Any

from cnnstudio.engine.errors import EngineError

__all__ = [
    "SCHEDULES",
    "ConstantSchedule",
    "CosineSchedule",
    "OneCycleSchedule",
    "Schedule",
    "StepSchedule",
    "make_schedule",
]


class Schedule:
    """Base class: the constant schedule."""

    name = "constant"

    def __call__(self, step: int, base_lr: float) -> float:
        return base_lr

    def multiplier(self, step: int) -> float:
        """``lr / base_lr`` at ``step`` (for schedules that do not clamp to an absolute floor)."""
        return self(step, 1.0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ConstantSchedule(Schedule):
    """The learning rate never changes."""


class StepSchedule(Schedule):
    """Multiply the learning rate by ``gamma`` every ``step_size`` steps (``torch``'s StepLR).

    ``lr = base_lr * gamma ** (step // step_size)``.
    """

    name = "step"

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
            raise EngineError(
                f"step schedule: step_size must be an integer >= 1, got {step_size!r}"
            )
        if not (isinstance(gamma, int | float) and math.isfinite(gamma) and gamma > 0):
            raise EngineError(f"step schedule: gamma must be a number > 0, got {gamma!r}")
        self.step_size = step_size
        self.gamma = float(gamma)

    def __call__(self, step: int, base_lr: float) -> float:
        return base_lr * self.gamma ** (step // self.step_size)

    def __repr__(self) -> str:
        return f"StepSchedule(step_size={self.step_size}, gamma={self.gamma})"


class CosineSchedule(Schedule):
    """Cosine annealing from ``base_lr`` at step 0 to ``min_lr`` at ``total_steps``.

    ``lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * step / total_steps)) / 2``;
    after ``total_steps`` it stays at ``min_lr``. A ``min_lr`` above the base rate is
    clamped to the base rate (the rate never rises).
    """

    name = "cosine"

    def __init__(self, total_steps: int, min_lr: float = 0.0) -> None:
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
            raise EngineError(
                f"cosine schedule: total_steps must be an integer >= 1, got {total_steps!r}"
            )
        if not (isinstance(min_lr, int | float) and math.isfinite(min_lr) and min_lr >= 0):
            raise EngineError(f"cosine schedule: min_lr must be a number >= 0, got {min_lr!r}")
        self.total_steps = total_steps
        self.min_lr = float(min_lr)

    def __call__(self, step: int, base_lr: float) -> float:
        floor = min(self.min_lr, base_lr)
        t = min(max(step, 0), self.total_steps) / self.total_steps
        return floor + (base_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * t))

    def __repr__(self) -> str:
        return f"CosineSchedule(total_steps={self.total_steps}, min_lr={self.min_lr})"


class OneCycleSchedule(Schedule):
    """One cycle: up from ``base_lr / 25`` to ``base_lr``, then down to ``min_lr``.

    The rate rises linearly over the first ``warmup`` of ``total_steps`` (a quarter by
    default) and falls linearly to ``min_lr`` at ``total_steps``, staying there after.
    This is the piecewise-linear cycle of the fast-CIFAR (ResNet-9 / DAWNBench) recipe;
    the start at ``base_lr / 25`` is PyTorch ``OneCycleLR``'s default ``div_factor``. A
    ``min_lr`` above the start rate is clamped to it.
    """

    name = "onecycle"
    #: The starting rate is ``base_lr / DIV_FACTOR``.
    DIV_FACTOR = 25.0

    def __init__(self, total_steps: int, min_lr: float = 0.0, warmup: float = 0.25) -> None:
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
            raise EngineError(
                f"one-cycle schedule: total_steps must be an integer >= 1, got {total_steps!r}"
            )
        if not (isinstance(min_lr, int | float) and math.isfinite(min_lr) and min_lr >= 0):
            raise EngineError(f"one-cycle schedule: min_lr must be a number >= 0, got {min_lr!r}")
        if not (isinstance(warmup, int | float) and 0 < warmup < 1):
            raise EngineError(
                f"one-cycle schedule: warmup must be a fraction in (0, 1), got {warmup!r}"
            )
        self.total_steps = total_steps
        self.min_lr = float(min_lr)
        self.warmup = float(warmup)
        # The step at which the rate peaks; at least 1 so a 1-step run does not divide by 0.
        self.peak_step = max(1, round(total_steps * self.warmup))

    def __call__(self, step: int, base_lr: float) -> float:
        start = base_lr / self.DIV_FACTOR
        step = max(step, 0)
        if step < self.peak_step:
            return start + (base_lr - start) * step / self.peak_step
        floor = min(self.min_lr, start)
        down = self.total_steps - self.peak_step
        t = 1.0 if down <= 0 else min(step - self.peak_step, down) / down
        return base_lr + (floor - base_lr) * t

    def __repr__(self) -> str:
        return (
            f"OneCycleSchedule(total_steps={self.total_steps}, min_lr={self.min_lr}, "
            f"warmup={self.warmup})"
        )


SCHEDULES: dict[str, type[Schedule]] = {
    "constant": ConstantSchedule,
    "step": StepSchedule,
    "cosine": CosineSchedule,
    "onecycle": OneCycleSchedule,
}


def make_schedule(name: str, **kwargs: Any) -> Schedule:
    """Build a schedule by name.

    Parameters
    ----------
    name : {"constant", "step", "cosine", "onecycle"}
    **kwargs
        ``step``: ``step_size`` (steps), ``gamma``; ``cosine``: ``total_steps``, ``min_lr``;
        ``onecycle``: ``total_steps``, ``min_lr``, ``warmup`` (fraction, default 0.25).
        Keywords that the chosen schedule does not use are ignored, so a caller can
        pass every setting it has.

    Raises
    ------
    EngineError
        Unknown name, a missing required setting or a value out of range.
    """
    key = str(name).strip().lower()
    if key == "constant":
        return ConstantSchedule()
    if key == "step":
        if "step_size" not in kwargs:
            raise EngineError("step schedule: step_size is required")
        return StepSchedule(kwargs["step_size"], kwargs.get("gamma", 0.1))
    if key == "cosine":
        if "total_steps" not in kwargs:
            raise EngineError("cosine schedule: total_steps is required")
        return CosineSchedule(kwargs["total_steps"], kwargs.get("min_lr", 0.0))
    if key == "onecycle":
        if "total_steps" not in kwargs:
            raise EngineError("one-cycle schedule: total_steps is required")
        return OneCycleSchedule(
            kwargs["total_steps"], kwargs.get("min_lr", 0.0), kwargs.get("warmup", 0.25)
        )
    raise EngineError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
