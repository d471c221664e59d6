"""How the fast tier runs a ``Network``: its plan of steps from the input to the logits,
forward and backward in the batch-last layout, with Conv2D -> ReLU -> MaxPool2D fused
into one step.

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

from cnnstudio.engine.layers import BatchNorm, Conv2D, Layer, MaxPool2D, ReLU

__all__ = ["BatchNormRelu", "ConvReluMaxPool", "Plan", "Step", "steps_of"]

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


class BatchNormRelu:
    """BatchNorm -> ReLU as one step (``BatchNorm.fwd``/``bwd`` with ``relu=True``): the
    ReLU is applied to each chunk of the normalised output while it is in cache, and its
    backward mask comes from the same output. ``ctx`` and ``grads`` are the BatchNorm's.
    """

    n_inputs = 1

    def __init__(self, bn: BatchNorm) -> None:
        self.bn = bn

    def fwd(self, x: np.ndarray, training: bool, ctx: dict[str, Any]) -> np.ndarray:
        """Reproduces ``ReLU.forward`` of ``BatchNorm.forward`` (the reference tier's)."""
        return self.bn.fwd(x, training, ctx, relu=True)

    def bwd(
        self,
        dout: np.ndarray,
        ctx: dict[str, Any],
        grads: dict[str, np.ndarray],
        need_dx: bool = True,
    ) -> np.ndarray | None:
        """Reproduces ``BatchNorm.backward`` of ``ReLU.backward`` (the reference tier's)."""
        return self.bn.bwd(dout, ctx, grads, need_dx)


def steps_of(nodes: dict[str, Layer], inputs: dict[str, list[str]], logits_id: str) -> list[Step]:
    """The steps that compute ``logits_id`` from the input, in the order of ``nodes``
    (topological), with every Conv2D -> ReLU -> MaxPool2D chain and every BatchNorm ->
    ReLU pair fused.

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
        if isinstance(layer, BatchNorm) and len(nxt) == 1 and logits_id != nid:
            relu = nodes[nxt[0]]
            if type(relu) is ReLU and logits_id != relu.name:
                fused.add(relu.name)
                steps.append((relu.name, list(inputs[nid]), BatchNormRelu(layer), nid))
                continue
        steps.append((nid, list(inputs[nid]), layer, nid))
        if nid == logits_id:
            break
    return steps


class Plan:
    """A network's fast-tier run: ``steps_of`` its graph, in the batch-last layout.

    Each step keeps what its backward pass needs, and the arrays it reuses from call to
    call, in the ctx dict of its node: one set for training, one for inference.

    Parameters
    ----------
    nodes : dict[str, Layer]
        Every node's built layer, in topological order (the Input first).
    inputs : dict[str, list[str]]
        Each node's input ids.
    logits_id : str
        The node whose output is the logits; ``forward`` stops there.
    """

    def __init__(
        self, nodes: dict[str, Layer], inputs: dict[str, list[str]], logits_id: str
    ) -> None:
        self.nodes, self.inputs, self.logits_id = nodes, inputs, logits_id
        self.steps = steps_of(nodes, inputs, logits_id)
        self.input_id = self.steps[0][0]
        #: The last step that reads each output: ``forward`` lets it go after that one.
        self.last_use = {src: k for k, (_, srcs, _, _) in enumerate(self.steps) for src in srcs}
        #: ``(step, ctx id)`` after the input when each step takes the one before it (a
        #: chain, as every preset but the residual ones): ``forward`` then needs no
        #: bookkeeping of outputs, a few microseconds of a single image's latency.
        is_chain = not self.steps[0][1] and all(
            srcs == [prev[0]] and step.n_inputs != -1
            for (_, srcs, step, _), prev in zip(self.steps[1:], self.steps, strict=False)
        )
        self.chain = [(step, cid) for _, _, step, cid in self.steps[1:]] if is_chain else None
        self.train_ctx: dict[str, dict[str, Any]] = {nid: {} for nid in nodes}
        self.infer_ctx: dict[str, dict[str, Any]] = {nid: {} for nid in nodes}

    def forward(self, xb: np.ndarray, training: bool) -> np.ndarray:
        """The logits ``(K, N)`` of the batch-last input ``xb``."""
        ctxs = self.train_ctx if training else self.infer_ctx
        if self.chain is not None:
            y = xb
            for step, cid in self.chain:
                y = step.fwd(y, training, ctxs[cid])
            return y
        outs: dict[str, np.ndarray] = {}
        for k, (nid, srcs, step, cid) in enumerate(self.steps):
            if not srcs:
                y = xb
            elif step.n_inputs == -1:
                y = step.fwd([outs[s] for s in srcs], training, ctxs[cid])
            else:
                y = step.fwd(outs[srcs[0]], training, ctxs[cid])
            outs[nid] = y
            for s in srcs:
                if self.last_use[s] == k:
                    # pop: a merge may list the same input twice (Add of x and x).
                    outs.pop(s, None)
        return outs[self.logits_id]

    def backward(
        self, dlogits: np.ndarray, param_grads: dict[str, dict[str, np.ndarray]] | None = None
    ) -> None:
        """After ``forward(xb, training=True)``: every layer's ``grads`` (filled in place)
        from the gradient of the logits ``(K, N)``; or, with ``param_grads`` (node id ->
        arrays like the layer's ``grads``), those arrays (``engine.threads``)."""
        grads: dict[str, Any] = {self.logits_id: dlogits}
        for nid, srcs, step, cid in reversed(self.steps):
            dout = grads.pop(nid, None)
            if dout is None or not srcs:
                continue
            ctx = self.train_ctx[cid]
            pgrads = self.nodes[cid].grads if param_grads is None else param_grads[cid]
            if step.n_inputs == -1:
                dxs = step.bwd(dout, ctx, pgrads, True)
            else:
                dxs = [step.bwd(dout, ctx, pgrads, srcs[0] != self.input_id)]
            for src, dx in zip(srcs, dxs, strict=True):
                if src != self.input_id:
                    grads[src] = dx if src not in grads else grads[src] + dx

    def outputs(self, xb: np.ndarray) -> dict[str, np.ndarray]:
        """Every node's own output (inference, nothing fused) up to the network's sink,
        batch-last: what feature maps show."""
        outs: dict[str, np.ndarray] = {}
        for nid, layer in self.nodes.items():
            srcs = self.inputs[nid]
            if not srcs:
                outs[nid] = xb
            elif layer.n_inputs == -1:
                outs[nid] = layer.fwd([outs[s] for s in srcs], False, self.infer_ctx[nid])
            else:
                outs[nid] = layer.fwd(outs[srcs[0]], False, self.infer_ctx[nid])
        return outs
