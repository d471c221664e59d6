"""Weight initialisers. Every draw comes from an explicit ``numpy.random.Generator``.

An initialiser is named by a string or a dict (the form stored in a layer's config)::

    "he"                                   # normal(0, sqrt(2 / fan_in)); default for Conv2D/Dense
    "glorot"                               # uniform(±sqrt(6 / (fan_in + fan_out))), a.k.a. Xavier
    "fan_in_uniform"                       # uniform(±1 / sqrt(fan_in)): PyTorch's default
                                           # for Conv2d and Linear weights
    "normal"  or {"name": "normal", "std": 0.05}          # normal(0, std); std defaults to 0.05
    "uniform" or {"name": "uniform", "low": -1, "high": 1}  # the reference notes' uniform[-1, 1]
    "zeros"

``fan_in`` is ``C_in * KH * KW`` for a convolution and ``in`` for a dense layer;
``fan_out`` is ``C_out * KH * KW`` or ``out``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.shapes import config_number, describe

__all__ = ["INITIALIZERS", "initialize", "parse_init"]

#: Names and the keyword arguments (with defaults) each accepts.
INITIALIZERS: dict[str, dict[str, float]] = {
    "he": {},
    "glorot": {},
    "fan_in_uniform": {},
    "normal": {"std": 0.05},
    "uniform": {"low": -1.0, "high": 1.0},
    "zeros": {},
}


def parse_init(spec: Any, *, layer: str = "layer") -> tuple[str, dict[str, float]]:
    """Validate an initialiser spec; return ``(name, kwargs with defaults filled in)``.

    Raises
    ------
    EngineError
        For an unknown name, an unknown or non-numeric keyword, or a bad range.
    """
    if isinstance(spec, str):
        name, kwargs = spec, {}
    elif isinstance(spec, dict) and isinstance(spec.get("name"), str):
        name = spec["name"]
        kwargs = {k: v for k, v in spec.items() if k != "name"}
    else:
        raise EngineError(
            f"{layer}: init must be a name such as 'he' or a dict like "
            f"{{'name': 'normal', 'std': 0.05}}, not {describe(spec)}"
        )
    name = name.lower()
    if name not in INITIALIZERS:
        raise EngineError(
            f"{layer}: unknown initialiser {describe(name)} (known: {', '.join(INITIALIZERS)})"
        )
    params = dict(INITIALIZERS[name])
    for key, value in kwargs.items():
        if key not in params:
            raise EngineError(f"{layer}: initialiser {name!r} takes no argument {describe(key)}")
        params[key] = config_number(value, f"initialiser argument {key}", layer)
    if name == "normal" and not params["std"] > 0:
        raise EngineError(f"{layer}: normal initialiser needs std > 0, got {params['std']}")
    if name == "uniform" and not (
        params["low"] < params["high"] and math.isfinite(params["high"] - params["low"])
    ):
        raise EngineError(
            f"{layer}: uniform initialiser needs low < high (a finite range), got "
            f"{params['low']}, {params['high']}"
        )
    return name, params


def initialize(
    spec: Any,
    shape: tuple[int, ...],
    fan_in: int,
    fan_out: int,
    rng: np.random.Generator,
    *,
    layer: str = "layer",
) -> np.ndarray:
    """Draw a float32 array of ``shape`` with the initialiser ``spec``.

    Parameters
    ----------
    spec : str or dict
        See the module docstring.
    shape : tuple of int
    fan_in, fan_out : int
        Inputs and outputs feeding one unit; used by "he" and "glorot".
    rng : numpy.random.Generator
    layer : str
        Named in error messages.
    """
    name, kw = parse_init(spec, layer=layer)
    if name == "he":
        w = rng.normal(0.0, np.sqrt(2.0 / max(fan_in, 1)), size=shape)
    elif name == "glorot":
        limit = np.sqrt(6.0 / max(fan_in + fan_out, 1))
        w = rng.uniform(-limit, limit, size=shape)
    elif name == "fan_in_uniform":
        limit = 1.0 / np.sqrt(max(fan_in, 1))
        w = rng.uniform(-limit, limit, size=shape)
    elif name == "normal":
        w = rng.normal(0.0, kw["std"], size=shape)
    elif name == "uniform":
        w = rng.uniform(kw["low"], kw["high"], size=shape)
    else:
        w = np.zeros(shape)
    return w.astype(np.float32)
