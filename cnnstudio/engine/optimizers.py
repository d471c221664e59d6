"""Gradient-descent optimizers: SGD (momentum, Nesterov), Adam and RMSprop.

Each follows PyTorch's update rule exactly (``torch.optim.SGD``, ``Adam``,
``RMSprop`` with their default flags), so a user's hyperparameters mean the same
here as in the frameworks they will move on to. Weight decay is the classic L2
term added to the gradient (``g += weight_decay * p``), as in PyTorch.

``step(parameters)`` takes what ``Network.parameters()`` returns, a list of
``(key, param, grad)``, and updates each ``param`` array **in place** (the network
keeps references to them). Per-parameter state (momentum buffers, moments) is keyed
by ``key``, so the grad arrays may be new objects at every step. ``lr`` is a plain
attribute: set it between steps to change the learning rate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from cnnstudio.engine.errors import EngineError

__all__ = ["OPTIMIZERS", "SGD", "Adam", "Optimizer", "RMSprop", "make_optimizer"]

ParamList = Iterable[tuple[str, np.ndarray, np.ndarray]]

#: State values smaller than this in magnitude are set to zero every ``FLUSH_EVERY``
#: steps. A parameter whose gradient stays zero (the weights of a ReLU unit that never
#: fires) has its momentum or moments decay geometrically until they are subnormal
#: (below ~1.2e-38 in float32), where x86 arithmetic is many times slower, so a network
#: with dead units would slow down the longer it trains (benchmarks/README.md, "The
#: benchmark timed dying networks"). A value under 1e-30 moves no weight above ~1e-23
#: (float32 keeps 24 bits), so flushing it changes nothing a user can see.
FLUSH_BELOW = 1e-30
#: Steps between flushes: a state decaying by 0.5 a step takes 26 steps to fall from
#: ``FLUSH_BELOW`` to the subnormal range (0.9, the usual momentum: 173 steps).
FLUSH_EVERY = 16


def _check_number(
    name: str,
    value: Any,
    *,
    low: float,
    low_open: bool,
    high: float | None = None,
    high_open: bool = True,
) -> float:
    """``value`` as a float, or ``EngineError`` naming ``name`` and the allowed range."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise EngineError(f"{name} must be a number, got {value!r}") from None
    ok = math.isfinite(v) and (v > low if low_open else v >= low)
    if high is not None:
        ok = ok and (v < high if high_open else v <= high)
    if not ok:
        lo = f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f" and {'<' if high_open else '<='} {high:g}"
        raise EngineError(f"{name} must be {lo}{hi}, got {value!r}")
    return v


class Optimizer:
    """Base class: holds ``lr``, ``weight_decay``, a step counter and per-key state."""

    name = ""

    def __init__(self, lr: float, weight_decay: float = 0.0) -> None:
        self._lr = _check_number("learning rate", lr, low=0.0, low_open=True)
        self.weight_decay = _check_number("weight decay", weight_decay, low=0.0, low_open=False)
        self.iterations = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self._scratch: dict[str, np.ndarray] = {}

    @property
    def lr(self) -> float:
        """Learning rate used by the next ``step``; may be changed between steps."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _check_number("learning rate", value, low=0.0, low_open=True)

    def _grad(self, key: str, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        """The gradient with L2 weight decay added, without touching the network's grad array."""
        if not self.weight_decay:
            return g
        buf = self._scratch.get(key)
        if buf is None or buf.shape != p.shape:
            buf = self._scratch[key] = np.empty_like(p)
        np.multiply(p, p.dtype.type(self.weight_decay), out=buf)
        buf += g
        return buf

    def _slot(self, key: str, slot: str, like: np.ndarray) -> np.ndarray:
        st = self.state.setdefault(key, {})
        arr = st.get(slot)
        if arr is None or arr.shape != like.shape:
            arr = st[slot] = np.zeros_like(like)
        return arr

    def step(self, parameters: ParamList) -> None:
        """Apply one update to every ``(key, param, grad)`` in place."""
        self.iterations += 1
        for key, p, g in parameters:
            if p.shape != g.shape:
                raise EngineError(
                    f"{self.name}: gradient of {key} has shape {g.shape}, parameter {p.shape}"
                )
            self._update(key, p, self._grad(key, p, g))
        if self.iterations % FLUSH_EVERY == 0:
            self._flush_state()

    def _flush_state(self) -> None:
        """Set state values below ``FLUSH_BELOW`` in magnitude to zero (in place), before
        they decay into slow subnormal numbers."""
        for slots in self.state.values():
            for arr in slots.values():
                np.copyto(arr, 0.0, where=np.abs(arr) < FLUSH_BELOW)

    def _update(self, key: str, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, Any]:
        """Plain dict of the settings (what ``make_optimizer`` accepts)."""
        return {"lr": self.lr, "weight_decay": self.weight_decay}

    def state_dict(self) -> dict[str, Any]:
        """Copies of the state as plain arrays: ``{"iterations": n, "<key>/<slot>": arr}``."""
        out: dict[str, Any] = {"iterations": self.iterations}
        for key, slots in self.state.items():
            for slot, arr in slots.items():
                out[f"{key}/{slot}"] = arr.copy()
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (arrays are copied)."""
        self.iterations = int(state.get("iterations", 0))
        self.state = {}
        for name, arr in state.items():
            if name == "iterations":
                continue
            key, _, slot = name.rpartition("/")
            if not key:
                raise EngineError(f"{self.name}: bad optimizer state entry {name!r}")
            self.state.setdefault(key, {})[slot] = np.array(arr, dtype=np.float32, copy=True)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``.

    ``v = momentum * v + g``; ``p -= lr * v`` (or ``p -= lr * (g + momentum * v)``
    with ``nesterov=True``).
    """

    name = "sgd"

    def __init__(
        self,
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(lr, weight_decay)
        self.momentum = _check_number("momentum", momentum, low=0.0, low_open=False, high=1.0)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise EngineError("Nesterov momentum needs a momentum > 0")

    def _update(self, key: str, p: np.ndarray, g: np.ndarray) -> None:
        lr = p.dtype.type(self._lr)
        if not self.momentum:
            p -= lr * g
            return
        m = p.dtype.type(self.momentum)
        v = self._slot(key, "velocity", p)
        v *= m
        v += g
        if self.nesterov:
            p -= lr * (g + m * v)
        else:
            p -= lr * v

    def hyperparameters(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "weight_decay": self.weight_decay,
        }


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction, as ``torch.optim.Adam``."""

    name = "adam"

    def __init__(
        self,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(lr, weight_decay)
        self.beta1 = _check_number("beta1", beta1, low=0.0, low_open=False, high=1.0)
        self.beta2 = _check_number("beta2", beta2, low=0.0, low_open=False, high=1.0)
        self.eps = _check_number("eps", eps, low=0.0, low_open=True)

    def _update(self, key: str, p: np.ndarray, g: np.ndarray) -> None:
        t = self.iterations
        f = p.dtype.type
        b1, b2 = self.beta1, self.beta2
        m = self._slot(key, "m", p)
        v = self._slot(key, "v", p)
        m *= f(b1)
        m += f(1 - b1) * g
        v *= f(b2)
        v += f(1 - b2) * (g * g)
        step_size = self._lr / (1 - b1**t)
        denom = np.sqrt(v)
        denom /= f(math.sqrt(1 - b2**t))
        denom += f(self.eps)
        np.divide(m, denom, out=denom)
        denom *= f(step_size)
        p -= denom

    def hyperparameters(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
        }


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop`` (``rho`` is PyTorch's ``alpha``)."""

    name = "rmsprop"

    def __init__(
        self,
        lr: float = 1e-3,
        rho: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        *,
        alpha: float | None = None,
    ) -> None:
        super().__init__(lr, weight_decay)
        if alpha is not None:
            rho = alpha
        self.rho = _check_number("rho", rho, low=0.0, low_open=False, high=1.0)
        self.eps = _check_number("eps", eps, low=0.0, low_open=True)
        self.momentum = _check_number("momentum", momentum, low=0.0, low_open=False, high=1.0)

    def _update(self, key: str, p: np.ndarray, g: np.ndarray) -> None:
        f = p.dtype.type
        sq = self._slot(key, "square_avg", p)
        sq *= f(self.rho)
        sq += f(1 - self.rho) * (g * g)
        denom = np.sqrt(sq)
        denom += f(self.eps)
        np.divide(g, denom, out=denom)
        if self.momentum:
            buf = self._slot(key, "momentum", p)
            buf *= f(self.momentum)
            buf += denom
            p -= f(self._lr) * buf
        else:
            denom *= f(self._lr)
            p -= denom

    def hyperparameters(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "rho": self.rho,
            "eps": self.eps,
            "momentum": self.momentum,
            "weight_decay": self.weight_decay,
        }


#: Optimizer classes by the name the UI, CLI and config files use.
OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


def make_optimizer(name: str, **kwargs: Any) -> Optimizer:
    """Build an optimizer by name (``"sgd"``, ``"adam"``, ``"rmsprop"``; case-insensitive).

    Raises
    ------
    EngineError
        For an unknown name (lists the known ones) or a keyword the optimizer does not take.
    """
    cls = OPTIMIZERS.get(str(name).strip().lower())
    if cls is None:
        raise EngineError(
            f"unknown optimizer {name!r}; choose one of {', '.join(sorted(OPTIMIZERS))}"
        )
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise EngineError(f"optimizer {cls.name}: {exc}") from None
