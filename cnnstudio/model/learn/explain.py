"""'Explain' from the Build canvas: which lesson to open for a block, and its settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnnstudio.model.learn.activation import ACTIVATIONS
from cnnstudio.model.learn.base import MAX_INPUT, MAX_KERNEL, MAX_PADDING, LabError, check_pair

__all__ = ["ExplainPreset", "explain_preset"]


@dataclass(frozen=True)
class ExplainPreset:
    """Which lesson to open and how to set it for a block sent by ``explain_requested``."""

    lesson: str
    kernel: tuple[int, int] = (3, 3)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    pool_kind: str = "max"
    activation: str = "ReLU"
    caption: str = ""
    notes: list[str] = field(default_factory=list)


def explain_preset(spec: dict[str, Any]) -> ExplainPreset:
    """Turn a block description into lab settings.

    Parameters
    ----------
    spec : dict
        ``{"type": "Conv2D", "kernel_size": [5, 5], "stride": [1, 1], "padding": [0, 0]}``;
        pooling blocks send ``pool_size``; activations just their ``type``.

    Sizes beyond what the lab draws are clamped, and the clamp is named in ``notes``.
    """
    if not isinstance(spec, dict):
        raise LabError(f"an explain request must be a dict, not {type(spec).__name__}")
    kind = str(spec.get("type", ""))
    notes: list[str] = []

    def grab(key: str, default: Any, low: int, high: int) -> tuple[int, int]:
        raw = spec.get(key, default)
        if raw is None:
            raw = default
        try:
            h, w = check_pair(raw, key, 0, 10_000)
        except LabError:
            notes.append(f"{key} {raw!r} is not a size the lab can show; using {default}")
            h, w = check_pair(default, key, low, high)
        ch, cw = min(max(h, low), high), min(max(w, low), high)
        if (ch, cw) != (h, w):
            notes.append(f"{key} {h}x{w} is shown as {ch}x{cw} (the lab draws up to {high})")
        return ch, cw

    if kind == "Conv2D":
        k = grab("kernel_size", 3, 1, MAX_KERNEL)
        s = grab("stride", 1, 1, MAX_INPUT)
        pad_raw = spec.get("padding", 0)
        if isinstance(pad_raw, str):
            if pad_raw.lower() == "same":
                # Symmetric "same" needs (K−1)/2 on each side; even kernels round down here.
                p = ((k[0] - 1) // 2, (k[1] - 1) // 2)
                notes.append("padding 'same' is shown as its explicit zero padding")
            else:
                p = (0, 0)
        else:
            p = grab("padding", 0, 0, MAX_PADDING)
        caption = (
            f"Explaining {spec.get('name') or 'a Conv2D block'}: kernel {k[0]}x{k[1]}, "
            f"stride {s[0]}x{s[1]}, padding {p[0]}x{p[1]}"
        )
        return ExplainPreset("conv", k, s, p, caption=caption, notes=notes)
    if kind in ("MaxPool2D", "AvgPool2D"):
        k = grab("pool_size", 2, 1, MAX_KERNEL)
        s = grab("stride", list(k), 1, MAX_KERNEL)
        caption = (
            f"Explaining {spec.get('name') or 'a ' + kind + ' block'}: pool {k[0]}x{k[1]}, "
            f"stride {s[0]}x{s[1]}"
        )
        return ExplainPreset(
            "pool",
            k,
            s,
            pool_kind="max" if kind == "MaxPool2D" else "avg",
            caption=caption,
            notes=notes,
        )
    if kind in ACTIVATIONS or kind == "PReLU":
        act = "LeakyReLU" if kind == "PReLU" else kind
        return ExplainPreset(
            "activation",
            activation=act,
            caption=f"Explaining {spec.get('name') or 'a ' + kind + ' block'}",
        )
    if kind in ("Flatten", "Dense", "Softmax"):
        return ExplainPreset("flatten", caption=f"Explaining {spec.get('name') or kind}")
    raise LabError(f"the Learn lab has no lesson for a {kind or 'typeless'} block")
