"""Plain-words health checks of a training snapshot's per-layer statistics (no Qt)."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["DEAD_RELU_WARNING", "layer_warnings"]

#: Share of dead units (0 for every sample) from which a ReLU layer gets a warning.
DEAD_RELU_WARNING = 0.5
#: Mean |gradient| below which gradients count as vanished.
VANISHING = 1e-7
#: Mean |gradient| above which, or gradient/weight ratio above which, they count as exploding.
EXPLODING = 10.0
EXPLODING_RATIO = 1.0


def layer_warnings(stats: Mapping[str, Mapping[str, float]] | None) -> dict[str, str]:
    """One warning per layer that looks unhealthy, keyed by layer name.

    Parameters
    ----------
    stats
        ``TrainingSnapshot.layer_stats``: per layer with parameters ``weight_norm``,
        ``weight_mean_abs``, ``grad_norm``, ``grad_mean_abs``; per ReLU layer
        ``dead_fraction``.
    """
    out: dict[str, str] = {}
    for name, st in (stats or {}).items():
        dead = st.get("dead_fraction")
        if dead is not None and dead >= DEAD_RELU_WARNING:
            out[name] = (
                f"{dead * 100:.0f}% dead ReLUs (always 0): try a lower learning rate, "
                "LeakyReLU or BatchNorm"
            )
            continue
        g = st.get("grad_mean_abs")
        w = st.get("weight_mean_abs")
        if g is None:
            continue
        if g < VANISHING:
            out[name] = f"vanishing gradients (mean |grad| {g:.1e}): this layer barely learns"
        elif g > EXPLODING or (w and g / w > EXPLODING_RATIO):
            out[name] = (
                f"exploding gradients (mean |grad| {g:.1e} vs |weight| {w or 0:.1e}): "
                "lower the learning rate"
            )
    return out
