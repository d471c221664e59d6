"""Batch normalisation and dropout."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnstudio.engine import norm_kernels
from cnnstudio.engine.errors import EngineError, ShapeError
from cnnstudio.engine.layers._spatial import buffer
from cnnstudio.engine.layers.base import Layer, OnnxOp, Shape, register_layer
from cnnstudio.engine.shapes import config_number

__all__ = ["BatchNorm", "Dropout"]


@register_layer
class BatchNorm(Layer):
    """Normalise each feature (``(F,)`` inputs) or each channel (``(C, H, W)`` inputs).

    Training normalises with the batch's mean and biased variance and updates the
    running statistics the PyTorch way: ``running = (1 - momentum) * running +
    momentum * batch`` with the *unbiased* batch variance. Inference uses the running
    statistics. ``params``: ``gamma`` (scale, starts at 1) and ``beta`` (shift, 0);
    ``state``: ``running_mean`` (0) and ``running_var`` (1), each of shape ``(C,)``.
    """

    type_name = "BatchNorm"
    has_params = True
    backward_in_eval = True
    state_keys = ("running_mean", "running_var")

    def __init__(
        self, momentum: float = 0.1, eps: float = 1e-5, *, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        momentum = config_number(momentum, "momentum", self.name)
        eps = config_number(eps, "eps", self.name)
        if not 0.0 <= momentum <= 1.0:
            raise EngineError(f"{self.name}: momentum must be between 0 and 1, got {momentum}")
        if not eps > 0:
            raise EngineError(f"{self.name}: eps must be positive, got {eps}")
        self.momentum = momentum
        self.eps = eps

    def output_shape(self, input_shape: Any) -> Shape:
        shape = tuple(input_shape)
        if len(shape) not in (1, 3) or any(d < 1 for d in shape):
            raise ShapeError(f"{self.name}: BatchNorm needs a (F,) or (C, H, W) input, got {shape}")
        return shape

    def weight_shapes(self, input_shape: Any) -> dict[str, Shape]:
        c = (int(input_shape[0]),)
        return {"gamma": c, "beta": c, "running_mean": c, "running_var": c}

    def _init_params(self, input_shape: Any, rng: np.random.Generator) -> None:
        c = int(input_shape[0])
        self.params = {"gamma": np.ones(c, np.float32), "beta": np.zeros(c, np.float32)}
        self.state = {
            "running_mean": np.zeros(c, np.float32),
            "running_var": np.ones(c, np.float32),
        }

    def fwd(
        self, x: np.ndarray, training: bool, ctx: dict[str, Any], relu: bool = False
    ) -> np.ndarray:
        """Reproduces ``reference.normalization.BatchNorm.forward`` (batch-last), followed
        by ``reference.activations.ReLU.forward`` with ``relu=True`` (``engine.fused``).

        Training writes its output into an array kept in ``ctx`` and overwritten by the
        next training step; inference returns a new array. ``ctx["sums_hook"]``, when set
        (``engine.threads``), makes the batch statistics those of the whole batch."""
        c = x.shape[0]
        x2 = x.reshape(c, -1)
        if training:
            m = x2.shape[1]
            hook = ctx.get("sums_hook")
            # (A shard of a batch shared between threads holds several images: its sums
            # then cover the whole batch and ``m`` is never small.)
            if m < 2 and hook is None:
                raise ShapeError(
                    f"{self.name}: training BatchNorm needs more than one value per channel; "
                    f"got a batch of {x.shape[-1]} with input {x.shape[:-1]}"
                )
            scratch = buffer(ctx, "scratch", (norm_kernels.CHUNK,), x.dtype)
            stats = norm_kernels.bn_stats(x2, self.eps, scratch, hook)
            if hook is None or ctx.get("leader", True):
                mom = self.momentum
                rm, rv = self.state["running_mean"], self.state["running_var"]
                rm *= 1 - mom
                rm += (mom * stats.mean).astype(rm.dtype)
                rv *= 1 - mom
                rv += (mom * stats.var * (stats.m / (stats.m - 1))).astype(rv.dtype)
            a = self.params["gamma"] * stats.inv_std
            b = self.params["beta"] - stats.mean * a
            out = buffer(ctx, "out", x.shape, x.dtype)
            norm_kernels.bn_forward_apply(x2, a, b, relu, out.reshape(c, -1))
            ctx["x"], ctx["stats"], ctx["relu_out"] = x, stats, out if relu else None
            return out
        inv_std = 1.0 / np.sqrt(self.state["running_var"].astype(np.float64) + self.eps)
        a = self.params["gamma"] * inv_std
        b = self.params["beta"] - self.state["running_mean"] * a
        if "_training" in ctx:  # public API: allow a backward through the frozen statistics
            ctx["eval"] = (x, inv_std.astype(x.dtype))
        out = np.empty_like(x)
        return norm_kernels.bn_forward_apply(x2, a, b, relu, out.reshape(c, -1)).reshape(x.shape)

    def bwd(self, dout, ctx, grads, need_dx=True):  # type: ignore[no-untyped-def]
        """Reproduces ``reference.normalization.BatchNorm.backward`` (batch-last), after
        ``reference.activations.ReLU.backward`` when the forward pass had ``relu=True``."""
        c = dout.shape[0]
        col = (c,) + (1,) * (dout.ndim - 1)
        if not ctx.get("_training", True) and "eval" in ctx:
            # Running statistics are constants: the layer is a per-channel affine map.
            x, inv_std = ctx["eval"]
            xhat = (x - self.state["running_mean"].reshape(col)) * inv_std.reshape(col)
            np.sum(dout.reshape(c, -1), axis=1, out=grads["beta"])
            np.sum((dout * xhat).reshape(c, -1), axis=1, out=grads["gamma"])
            if not need_dx:
                return None
            return dout * (self.params["gamma"] * inv_std).reshape(col)
        x = ctx["x"]
        y = ctx["relu_out"]
        dx = buffer(ctx, "dx", x.shape, x.dtype)
        _, dgamma, dbeta = norm_kernels.bn_backward(
            dout.reshape(c, -1),
            x.reshape(c, -1),
            None if y is None else y.reshape(c, -1),
            ctx["stats"],
            self.params["gamma"],
            dx.reshape(c, -1),
            ctx["scratch"],
            ctx.get("sums_hook"),
        )
        if ctx.get("leader", True):
            grads["gamma"][...] = dgamma
            grads["beta"][...] = dbeta
        else:  # the sums were the whole batch's: the first thread holds them (threads.py)
            grads["gamma"][...] = 0.0
            grads["beta"][...] = 0.0
        return dx if need_dx else None

    def config(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "eps": self.eps}

    # -- describing itself ------------------------------------------------------------
    def summary(self) -> str:
        return f"momentum {self.momentum:g}"

    def onnx_op(self) -> OnnxOp:
        # Inference: the running statistics, as BatchNormalization's mean and var inputs.
        arrays = self.export_weights()
        keys = ("gamma", "beta", "running_mean", "running_var")
        return OnnxOp(
            "BatchNormalization",
            {"epsilon": float(self.eps)},
            tuple((key, arrays[key]) for key in keys),
        )

    def predictor_config(self) -> dict[str, Any]:
        return {"eps": float(self.eps)}


@register_layer
class Dropout(Layer):
    """Inverted dropout: in training each value is zeroed with probability ``rate`` and the
    survivors scaled by ``1 / (1 - rate)``; at inference the layer is the identity.

    The mask comes from ``self.rng`` (a Network gives every layer its own Generator).
    """

    type_name = "Dropout"
    # At inference the layer is the identity and its backward passes the gradient through.
    backward_in_eval = True

    def __init__(self, rate: float = 0.5, *, name: str | None = None) -> None:
        super().__init__(name=name)
        rate = config_number(rate, "rate", self.name)
        if not 0.0 <= rate < 1.0:
            raise EngineError(f"{self.name}: rate must be a number in [0, 1), got {rate!r}")
        self.rate = rate

    def output_shape(self, input_shape: Any) -> Shape:
        shape = tuple(input_shape)
        if not shape or any(d < 1 for d in shape):
            raise ShapeError(f"{self.name}: invalid input shape {shape}")
        return shape

    def fwd(self, x: np.ndarray, training: bool, ctx: dict[str, Any]) -> np.ndarray:
        """Reproduces ``reference.dropout.Dropout.forward`` (batch-last)."""
        if not training or self.rate == 0.0:
            ctx["mask"] = None
            return x
        if self.rng is None:
            raise EngineError(f"{self.name}: dropout needs an rng (build the layer first)")
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.rate
        mask = keep * x.dtype.type(1.0 / (1.0 - self.rate))
        ctx["mask"] = mask
        return x * mask

    def bwd(self, dout, ctx, grads, need_dx=True):  # type: ignore[no-untyped-def]
        """Reproduces ``reference.dropout.Dropout.backward`` (batch-last)."""
        if not need_dx:
            return None
        mask = ctx["mask"]
        return dout if mask is None else dout * mask

    def config(self) -> dict[str, Any]:
        return {"rate": self.rate}

    # -- describing itself ------------------------------------------------------------
    def summary(self) -> str:
        return f"rate {self.rate:g}"

    def onnx_op(self) -> None:
        return None  # the identity at inference
