"""Conv2D -> ReLU -> MaxPool2D run as one step of the fast tier, and the plan of steps a
``Network`` runs.

The fused step computes ``relu(maxpool(conv_without_bias(x)) + b)``: the same numbers
as ``reference.activations.ReLU.forward`` of ``reference.pooling.MaxPool2D.forward`` of
``reference.conv.Conv2D.forward`` (max pooling commutes with adding a per-channel bias
and with the monotone ReLU), with the bias and the ReLU applied to a quarter of the
values. Its backward pass reproduces the three layers' ``backward`` in reverse order.

It uses only the layers' public batch-last methods: ``Conv2D.fwd`` without its bias
into an array kept from step to step, ``MaxPool2D.fwd`` reading that array in place,
and the two ``bwd`` with the bias gradient computed here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnstudio.engine.layers import Conv2D, Layer, MaxPool2D, ReLU

__all__ = ["ConvReluMaxPool", "Step", "plan"]

#: One step of a network's plan: ``(output id, input ids, layer or fused step, id of the
#: node whose ctx and gradients it uses)``.
Step = tuple[str, list[str], Any, str]


class ConvReluMaxPool:
    """Conv2D -> ReLU -> MaxPool2D as one step: ``relu(maxpool(conv_without_bias) + b)``.

    Has the batch-last ``fwd``/``bwd`` of a layer; ``ctx`` and ``grads`` are the
    convolution's.
    """

    n_inputs = 1

    def __init__(self, conv: Conv2D, pool: MaxPool2D) -> None:
        self.conv, self.pool = conv, pool

    def fwd(self, x: np.ndarray, training: bool, ctx: dict[str, Any]) -> np.ndarray:
        """Reproduces ``MaxPool2D.forward``, ``ReLU.forward`` and ``Conv2D.forward`` of
        ``cnnstudio.engine.reference`` one after the other (batch-last)."""
        # The convolution's and the pooling's outputs stay inside this step, so a
        # training batch's go into arrays kept from step to step (and so do the views
        # the backward pass makes of them).
        z = self.conv.fwd(x, training, ctx, add_bias=False, contiguous=False, reuse_output=training)
        y = self.pool.fwd(z, training, ctx.setdefault("fused_pool", {}), reuse_output=True)
        b = self.conv.params["b"].reshape(-1, 1, 1, 1) if self.conv.use_bias else None
        if training:
            # Into a new array: the pooling's backward finds each window's maximum by
            # comparing the window with the maxima it kept (``y`` itself), so they must
            # stay as they were. (Adding the bias in place once sent every gradient of a
            # window whose maximum plus bias was positive to its last element.)
            if b is None:
                y = np.maximum(y, 0)
            else:
                y = y + b
                np.maximum(y, 0, out=y)
            ctx["fused_y"] = y
            return y
        if b is not None:
            y += b
        np.maximum(y, 0, out=y)
        return y

    def bwd(
        self,
        dout: np.ndarray,
        ctx: dict[str, Any],
        grads: dict[str, np.ndarray],
        need_dx: bool = True,
    ) -> np.ndarray | None:
        """Reproduces ``Conv2D.backward``, ``ReLU.backward`` and ``MaxPool2D.backward`` of
        ``cnnstudio.engine.reference`` one after the other (batch-last)."""
        dpre = dout * (ctx["fused_y"] > 0)
        if self.conv.use_bias:
            np.sum(dpre.reshape(dpre.shape[0], -1), axis=1, out=grads["b"])
        dz = self.pool.bwd(dpre, ctx["fused_pool"], {}, True)
        assert dz is not None  # (asked for)
        return self.conv.bwd(dz, ctx, grads, need_dx, bias_grad=False)


def plan(nodes: dict[str, Layer], inputs: dict[str, list[str]], logits_id: str) -> list[Step]:
    """The steps that compute ``logits_id`` from the input, in the order of ``nodes``
    (topological), with every Conv2D -> ReLU -> MaxPool2D chain fused.

    A chain is fused when each of its first two nodes has one reader (the next) and none
    of the three is the logits node; the fused step's output is the pooling's.
    """
    consumers: dict[str, list[str]] = {nid: [] for nid in nodes}
    for nid, srcs in inputs.items():
        for s in srcs:
            consumers[s].append(nid)
    steps: list[Step] = []
    fused: set[str] = set()
    for nid, layer in nodes.items():
        if nid in fused:
            continue
        nxt = consumers[nid]
        if isinstance(layer, Conv2D) and len(nxt) == 1 and logits_id != nid:
            relu = nodes[nxt[0]]
            after = consumers[relu.name]
            if (
                type(relu) is ReLU
                and len(after) == 1
                and type(nodes[after[0]]) is MaxPool2D
                and logits_id not in (relu.name, after[0])
            ):
                fused.update({relu.name, after[0]})
                pool = nodes[after[0]]
                assert isinstance(pool, MaxPool2D)
                steps.append((after[0], list(inputs[nid]), ConvReluMaxPool(layer, pool), nid))
                continue
        steps.append((nid, list(inputs[nid]), layer, nid))
        if nid == logits_id:
            break
    return steps
