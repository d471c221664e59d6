"""Checks shared by the model and project loaders; each raises ``ModelFileError``."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from cnnstudio.io.errors import ModelFileError

PathLike = str | os.PathLike[str]


def check_format(path: PathLike, obj: Any, member: str, fmt: str, supported: int, kind: str) -> int:
    """Check the ``format`` and ``version`` fields of a JSON header; return the version.

    A version newer than ``supported`` is refused with a message telling the user to
    update (forward compatibility: a file never half-loads with fields we do not know).
    """
    from cnnstudio.engine.shapes import describe

    if not isinstance(obj, dict):
        raise ModelFileError(path, f"is damaged: {member} must hold a JSON object")
    found = obj.get("format")
    if found != fmt:
        raise ModelFileError(
            path, f"is not a {kind} ({member} says format {describe(found)}, expected {fmt!r})"
        )
    version = obj.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(path, f"is damaged: {member} has no valid version number")
    if version > supported:
        raise ModelFileError(
            path,
            f"was made by a newer CNN Studio (format {version}, this one reads up to "
            f"{supported}); update CNN Studio to open it",
        )
    return version


def check_architecture(path: PathLike, arch: Any, where: str) -> dict[str, Any]:
    """``arch`` checked by the engine's one parser of the format, without building it.

    A project may hold a graph the user is still editing (it need not compile), so
    only the format is checked here; ``build_network`` does the rest.
    """
    from cnnstudio.engine.architecture import ArchitectureError, parse_architecture

    if not isinstance(arch, dict):
        raise ModelFileError(path, f"is damaged: {where} must be a JSON object")
    try:
        parse_architecture(arch)
    except ArchitectureError as exc:
        raise ModelFileError(path, f"{where}: {exc}") from None
    return arch


def build_network(path: PathLike, arch: dict[str, Any], where: str = "the architecture") -> Any:
    """``Network.from_architecture(arch)``, with any failure as ``ModelFileError``."""
    from cnnstudio.engine.network import Network

    check_architecture(path, arch, where)
    try:
        return Network.from_architecture(arch, seed=0)
    except MemoryError:
        raise ModelFileError(path, f"{where} describes a network too large to build") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        # EngineError is a ValueError; the others only come from a hand-edited config
        # the engine did not anticipate. Either way: the file, not the app, is wrong.
        raise ModelFileError(path, f"{where} cannot be built: {exc}") from None


def precheck_sizes(
    path: PathLike, arch: dict[str, Any], weights: dict[str, np.ndarray], member: str
) -> None:
    """Compare every weight array the architecture needs with the stored ones *before*
    building (building allocates every parameter).

    The shapes come from the engine's shape inference alone
    (``Network.weight_shapes_of``), which also refuses a network over the engine's size
    limits (``engine.shapes.MAX_WEIGHTS``, ``MAX_VALUES_PER_IMAGE``): a hand-made file
    of a few hundred bytes declaring a huge layer is refused here, with the numbers,
    instead of allocating gigabytes first. ``check_weights`` checks the rest (extra
    keys, dtypes, finite values) after building.
    """
    from cnnstudio.engine.network import Network

    for node in arch.get("nodes", []):
        # The declared size first: "fc1 declares 10000000000 units" says more than any
        # shape comparison or limit.
        kind, nid, cfg = node.get("type"), node.get("id"), node.get("config") or {}
        if kind not in ("Dense", "Conv2D"):
            continue
        w = weights.get(f"{nid}.w")
        declared = cfg.get("units" if kind == "Dense" else "filters")
        if w is not None and _is_int(declared) and w.ndim >= 1 and declared != w.shape[0]:
            raise ModelFileError(
                path,
                f"{member} does not fit the architecture: weight {nid}.w has shape "
                f"{tuple(w.shape)}, but {nid} declares {declared} "
                f"{'units' if kind == 'Dense' else 'filters'}",
            )
    try:
        expected = Network.weight_shapes_of(arch)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        # As in build_network: EngineError (a ValueError) for what the engine refuses.
        raise ModelFileError(path, f"the architecture cannot be built: {exc}") from None
    missing = [key for key in expected if key not in weights]
    if missing:
        raise ModelFileError(
            path, f"{member} does not fit the architecture: missing weights {_some(missing)}"
        )
    for key, shape in expected.items():
        found = tuple(weights[key].shape)
        if found != shape:
            raise ModelFileError(
                path,
                f"{member} does not fit the architecture: weight {key} has shape "
                f"{found}, the architecture needs {shape}",
            )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_weights(
    path: PathLike, network: Any, weights: dict[str, np.ndarray], member: str
) -> dict[str, np.ndarray]:
    """Every key present, no extras, float32, the right shapes, finite; returns float32 copies."""
    expected = network.get_weights()
    missing = [k for k in expected if k not in weights]
    if missing:
        shown = _some(missing)
        raise ModelFileError(
            path, f"{member} does not fit the architecture: missing weights {shown}"
        )
    extra = [k for k in weights if k not in expected]
    if extra:
        shown = _some(extra)
        raise ModelFileError(
            path, f"{member} does not fit the architecture: unexpected weights {shown}"
        )
    out = {}
    for key, want in expected.items():
        arr = np.asarray(weights[key])
        if arr.dtype.kind != "f" or arr.dtype.itemsize != 4:
            raise ModelFileError(
                path, f"{member}: weight {key} has dtype {arr.dtype}; CNN Studio stores float32"
            )
        if arr.shape != want.shape:
            raise ModelFileError(
                path,
                f"{member} does not fit the architecture: weight {key} has shape "
                f"{tuple(arr.shape)}, the architecture needs {tuple(want.shape)}",
            )
        if not np.isfinite(arr).all():
            raise ModelFileError(path, f"{member}: weight {key} contains NaN or infinite values")
        out[key] = np.ascontiguousarray(arr, dtype=np.float32)
    return out


def _some(keys: list[str]) -> str:
    more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
    return ", ".join(keys[:5]) + more


def check_class_names(path: PathLike, names: Any, where: str) -> list[str]:
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ModelFileError(path, f"is damaged: {where} must be a list of strings")
    if len(set(names)) != len(names):
        raise ModelFileError(path, f"is damaged: {where} lists a class twice")
    return list(names)


def check_input_shape(path: PathLike, shape: Any, where: str) -> tuple[int, ...]:
    if (
        not isinstance(shape, list | tuple)
        or len(shape) not in (1, 3)
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape)
    ):
        raise ModelFileError(path, f"is damaged: {where} must be [C, H, W] of positive integers")
    return tuple(int(d) for d in shape)


def check_preprocessing(path: PathLike, prep: Any, where: str) -> dict[str, Any]:
    """``{"normalization": Normalization.to_dict() or None, "digit": bool}`` (extra keys kept)."""
    from cnnstudio.data.normalize import Normalization

    if prep is None:
        prep = {}
    if not isinstance(prep, dict):
        raise ModelFileError(path, f"is damaged: {where} must be a JSON object")
    norm = prep.get("normalization")
    if norm is not None:
        try:
            Normalization.from_dict(norm)
        except ValueError as exc:
            raise ModelFileError(path, f"{where}: {exc}") from None
    digit = prep.get("digit")
    if digit is not None and not isinstance(digit, bool):
        raise ModelFileError(path, f"is damaged: {where}.digit must be true or false")
    return dict(prep)


def check_object(path: PathLike, value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ModelFileError(path, f"is damaged: {where} must be a JSON object")
    return value
