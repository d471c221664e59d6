"""``Network``: a directed acyclic graph of layers with one input and one output.

The public methods take and return NCHW / ``(N, F)`` arrays. On the fast tier (the
default) the whole graph runs in the batch-last layout (``(C, H, W, N)`` / ``(F, N)``,
``engine.fused.Plan``), converting only at the edges; on the readable tier
(``kernels="reference"``) each node's NCHW layer of ``engine.reference`` runs in turn.
Training on several processes wraps a network from outside (``engine.parallel``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from cnnstudio.engine import fused
from cnnstudio.engine.architecture import ARCHITECTURE_FORMAT, ARCHITECTURE_VERSION, layers_of
from cnnstudio.engine.blas import blas_threads
from cnnstudio.engine.errors import EngineError, ShapeError
from cnnstudio.engine.flat import FlatParameters
from cnnstudio.engine.layers import (
    Input,
    Layer,
    Sigmoid,
    Softmax,
)
from cnnstudio.engine.layers.base import Shape, format_shape
from cnnstudio.engine.losses import loss_for, softmax
from cnnstudio.engine.metrics import n_classes_of
from cnnstudio.engine.reference import reference_layer
from cnnstudio.engine.shapes import describe
from cnnstudio.engine.topology import assign_names, check_graph

__all__ = ["Network"]

#: Most numbers one inference batch may produce over all layer outputs: 2**26 (256 MB of
#: float32). Larger batches run in parts (one image at least), so a network near
#: ``shapes.MAX_VALUES_PER_IMAGE`` does not need 256 times that for 256 images; small
#: networks (LeNet: 10,000 values an image) keep their batches whole.
INFERENCE_VALUES = 2**26
#: Fewest images each thread takes when inference runs on two (``set_inference_threads``).
MIN_THREAD_SHARD = 16


class Network:
    """A trainable network of engine layers.

    Parameters
    ----------
    layers : list of Layer
        A chain, applied in order. An ``Input`` layer is put in front unless the list
        starts with one. Layers without an explicit name get unique ones
        (``conv2d1``, ``relu2``...).
    input_shape : tuple, optional
        Per-sample input shape ``(C, H, W)`` or ``(F,)``; required without an Input layer.
    seed : int
        Seeds every initial weight and every dropout mask: the same seed gives
        bit-identical weights.
    name : str
        Stored in ``to_architecture()``.
    kernels : {"fast", "reference"}
        Which tier runs the network (see ``set_kernels``).

    Attributes
    ----------
    input_shape, output_shape : tuple
        Per-sample shapes of the input and of the logits ``(K,)``.
    n_logits : int
        ``K``, the logits' width; 1 means a binary sigmoid output.
    output_activation : {"softmax", "sigmoid"}
        How logits become probabilities (and which loss the trainer fuses):
        the sink when it is ``Softmax``, or ``Sigmoid`` after a 1-unit layer;
        otherwise "softmax" with the sink's output as logits.
    layers : list of Layer
        In topological order (the input first, the sink last).
    nodes : dict[str, Layer]
        By node id, in topological order.
    inputs : dict[str, list[str]]
        Each node's input ids.
    shapes : dict[str, tuple]
        Each node's per-sample output shape.
    input_id, output_id, logits_id : str
        The Input node, the sink, and the node whose output is the logits.
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        input_shape: Sequence[int] | None = None,
        seed: int = 0,
        *,
        name: str = "network",
        kernels: str = "fast",
    ) -> None:
        layers = list(layers)
        if not all(isinstance(layer, Layer) for layer in layers):
            raise EngineError("Network: every item of layers must be a Layer")
        if not layers or not isinstance(layers[0], Input):
            if input_shape is None:
                raise EngineError(
                    "Network: give input_shape, e.g. (1, 28, 28), or start the layers with Input"
                )
            layers.insert(0, Input(shape=tuple(input_shape), name="input"))
        elif input_shape is not None and tuple(input_shape) != layers[0].shape:
            raise ShapeError(
                f"Network: input_shape {tuple(input_shape)} differs from the Input layer's "
                f"{layers[0].shape}"
            )
        assign_names(layers)
        specs = [
            (layer.name, layer, [] if i == 0 else [layers[i - 1].name])
            for i, layer in enumerate(layers)
        ]
        self.name = name
        self._setup(specs, seed)
        self.set_kernels(kernels)

    def set_kernels(self, kernels: str) -> None:
        """Run on the fast tier (``"fast"``, the default) or on the readable one
        (``"reference"``: ``cnnstudio.engine.reference``, several times slower): each
        node's NCHW layer forward in order and backward in reverse, for a student to step
        through in a debugger. Both tiers share the weights, gradients, BatchNorm's
        statistics and Dropout's generators, and agree up to float rounding.
        """
        if kernels not in ("fast", "reference"):
            raise EngineError(f"kernels must be 'fast' or 'reference', got {describe(kernels)}")
        self.kernels = kernels
        #: Each node's reference twin (sharing its arrays) while ``kernels == "reference"``.
        self._reference: dict[str, Any] | None = None
        if kernels == "reference":
            self._reference = {nid: reference_layer(layer) for nid, layer in self.nodes.items()}

    # -- construction ---------------------------------------------------------------
    @classmethod
    def from_architecture(cls, arch: dict[str, Any], seed: int = 0) -> Network:
        """Build a network from an architecture dict (docs/file-formats.md), as parsed
        by ``engine.architecture``.

        Sizes are checked by shape inference before any weight is allocated: a network
        over ``shapes.MAX_WEIGHTS`` weights or ``shapes.MAX_VALUES_PER_IMAGE`` values per
        image is refused.

        Raises
        ------
        EngineError
            For a malformed dict, an unknown layer type or keyword, a config value of the
            wrong type or out of range, duplicate ids, references to missing nodes,
            cycles, no or several Input nodes or sinks, a wrong number of inputs, or a
            network over the size limits; the message names the node.
        ShapeError
            When the sizes do not fit; the message names the layer and the numbers.
        """
        specs, name = layers_of(arch)
        return cls._from_specs(specs, seed, name="network" if name is None else name)

    @staticmethod
    def weight_shapes_of(arch: dict[str, Any]) -> dict[str, Shape]:
        """The shape of every weight array (``"<node>.<name>"``, as ``get_weights`` keys
        them) that ``from_architecture(arch)`` would create, found by shape inference
        alone: nothing is allocated. Raises as ``from_architecture`` does."""
        return check_graph(layers_of(arch)[0]).weight_shapes

    @classmethod
    def _from_specs(
        cls, specs: list[tuple[str, Layer, list[str]]], seed: int, name: str
    ) -> Network:
        net = cls.__new__(cls)
        net.name = name
        net._setup(specs, seed)
        return net

    def _setup(self, specs: list[tuple[str, Layer, list[str]]], seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise EngineError(f"seed must be a non-negative integer, got {describe(seed)}")
        plan = check_graph(specs)
        order, by_id = plan.order, plan.by_id
        rng = np.random.default_rng(seed)
        children = rng.spawn(len(order))
        self.nodes: dict[str, Layer] = {}
        self.inputs: dict[str, list[str]] = {}
        self.shapes: dict[str, Shape] = {}
        for nid, child in zip(order, children, strict=True):
            layer, inputs = by_id[nid]
            layer.name = nid
            layer.rng = child
            if isinstance(layer, Input):
                shape = layer.build(None, child)
            elif layer.n_inputs == -1:
                shape = layer.build([self.shapes[i] for i in inputs], child)
            else:
                shape = layer.build(self.shapes[inputs[0]], child)
            self.nodes[nid] = layer
            self.inputs[nid] = list(inputs)
            self.shapes[nid] = tuple(shape)
        self.layers: list[Layer] = list(self.nodes.values())
        self._order = list(self.nodes)
        self.input_id: str = plan.input_id
        self.output_id = order[-1]
        self.input_shape: Shape = self.shapes[self.input_id]
        sink = self.nodes[self.output_id]
        sink_in = self.inputs[self.output_id][0] if self.inputs[self.output_id] else None
        if isinstance(sink, Softmax) and sink_in is not None:
            self.output_activation = "softmax"
            self.logits_id = sink_in
        elif isinstance(sink, Sigmoid) and sink_in is not None and self.shapes[sink_in] == (1,):
            self.output_activation = "sigmoid"
            self.logits_id = sink_in
        else:
            self.output_activation = "softmax"
            self.logits_id = self.output_id
        logits_shape = self.shapes[self.logits_id]
        if len(logits_shape) != 1:
            raise ShapeError(
                f"the network output ({self.logits_id}) must be a vector of class scores, got "
                f"{format_shape(logits_shape)}; end the network with Flatten and Dense"
            )
        self.output_shape: Shape = logits_shape
        self.n_logits = int(logits_shape[0])
        values = sum(math.prod(shape) for shape in self.shapes.values())
        #: Images per inference batch (see ``INFERENCE_VALUES``).
        self.inference_batch = max(1, INFERENCE_VALUES // max(1, values))
        self._flat = FlatParameters(self.layers)
        #: The fast tier's steps and their caches (``engine.fused``).
        self._fast = fused.Plan(self.nodes, self.inputs, self.logits_id)
        #: ``(plan, one-thread pool)`` while inference runs on two threads.
        self._infer_helper: tuple[fused.Plan, Any] | None = None
        self._to_batch_last = (*range(1, len(self.input_shape) + 1), 0)
        self._batch: int | None = None
        self.kernels = "fast"
        self._reference = None
        # float32 always; tests switch to float64 (with float64 parameters) for gradient checks.
        self._dtype: type = np.float32

    # -- running ----------------------------------------------------------------------
    def check_batch(self, x: Any) -> np.ndarray:
        """``x`` as an array, after checking it is a non-empty numeric batch of
        ``(N, *input_shape)``; ``EngineError`` or ``ShapeError`` saying what is wrong."""
        x = np.asarray(x)
        if x.dtype.kind not in "fiub":
            raise EngineError(f"network input must be numeric, got dtype {x.dtype}")
        expected = self.input_shape
        if x.ndim != len(expected) + 1 or tuple(x.shape[1:]) != expected:
            want = ", ".join(str(d) for d in expected)
            raise ShapeError(f"network input: expected shape (N, {want}), got {tuple(x.shape)}")
        if x.shape[0] < 1:
            raise ShapeError("network input: the batch is empty")
        return x

    def _prepare(self, x: Any) -> np.ndarray:
        """``check_batch(x)``, float32 and batch-last."""
        x = self.check_batch(x)
        return np.ascontiguousarray(x.transpose(self._to_batch_last), dtype=self._dtype)

    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        """Logits ``(N, K)`` float32 for a batch ``x`` of shape ``(N, *input_shape)``.

        With ``training=True`` the layers keep what ``backward`` needs, dropout is
        active and BatchNorm uses (and updates) batch statistics.
        """
        parts = self._inference_parts(x) if not training else None
        if parts is not None:
            return np.concatenate([self.forward(part) for part in parts], axis=0)
        if self._reference is not None:
            x = np.asarray(self.check_batch(x), dtype=self._dtype)
            if training:
                self._batch = len(x)
            return self._forward_nodes(self._reference, x, training, self.logits_id)[self.logits_id]
        if not training:
            return np.ascontiguousarray(self._fast_logits(x).T)
        xb = self._prepare(x)
        logits = self._fast.forward(xb, training)
        self._batch = xb.shape[-1]
        return np.ascontiguousarray(logits.T)

    def set_inference_threads(self, threads: int) -> None:
        """Run inference batches of at least ``2 * MIN_THREAD_SHARD`` images on two
        threads (``threads=2``), each half through its own plan, or on this thread alone
        (1, the default). Two threads make evaluating a test set of photos nearly twice
        as fast on an idle two-core machine; a single image never waits for a thread."""
        if threads not in (1, 2):
            raise EngineError(f"inference threads must be 1 or 2, got {threads!r}")
        if threads == 1:
            helper, self._infer_helper = self._infer_helper, None
            if helper is not None:
                helper[1].shutdown(wait=True)
        elif self._infer_helper is None:
            from concurrent.futures import ThreadPoolExecutor

            plan = fused.Plan(self.nodes, self.inputs, self.logits_id)
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cnnstudio-infer")
            self._infer_helper = (plan, pool)

    def _fast_logits(self, x: Any) -> np.ndarray:
        """The fast tier's inference logits ``(K, N)`` of one batch ``x`` (public layout),
        its second half on the helper thread when ``set_inference_threads(2)``."""
        helper = self._infer_helper
        n = len(x) if hasattr(x, "__len__") else 0
        if helper is None or n < 2 * MIN_THREAD_SHARD:
            return self._fast.forward(self._prepare(x), False)
        plan, pool = helper
        half = n // 2
        self.check_batch(x)
        with blas_threads(1):
            other = pool.submit(lambda: plan.forward(self._prepare(x[half:]), False).copy())
            first = self._fast.forward(self._prepare(x[:half]), False)
            return np.concatenate([first, other.result()], axis=1)

    def train_step(self, x: Any, y: Any, loss_fn: Any = None) -> tuple[float, np.ndarray]:
        """Forward (``training=True``), the loss and backward: every layer's ``grads``
        filled for an optimizer step. Returns ``(mean loss, logits (N, K))``.

        ``loss_fn(logits, y)`` returns ``(mean loss, dlogits)``; it defaults to the one
        matching the output (``losses.loss_for``). ``engine.parallel.DataParallel`` shares
        these steps between processes.
        """
        if loss_fn is None:
            loss_fn = loss_for(self)
        logits = self.forward(x, training=True)
        loss, dlogits = loss_fn(logits, y)
        self.backward(dlogits)
        return loss, logits

    def backward(self, dlogits: Any) -> None:
        """Backpropagate ``dlogits`` (N, K), the loss gradient w.r.t. the logits of the last
        ``forward(x, training=True)``; fills every layer's ``grads`` in place."""
        if self._batch is None:
            raise EngineError("backward called before forward(x, training=True)")
        d = np.asarray(dlogits)
        if d.shape != (self._batch, self.n_logits):
            raise ShapeError(
                f"backward: dlogits must have shape ({self._batch}, {self.n_logits}), got {d.shape}"
            )
        if self._reference is not None:
            self._backward_nodes(self._reference, np.asarray(d, dtype=self._dtype))
            return
        self._fast.backward(np.ascontiguousarray(d.T, dtype=self._dtype))

    def input_gradient(self, x: Any, class_index: int) -> np.ndarray:
        """Gradient of one class's score w.r.t. the input: the saliency map.

        The score is the class's logit (for a sigmoid network, ``+logit`` for class 1 and
        ``-logit`` for class 0). The network behaves as at inference: BatchNorm uses its
        running statistics and Dropout passes everything. Parameter gradients are left
        as they were, so this is safe between training steps.

        Returns
        -------
        numpy.ndarray
            Same shape as ``x`` (``(N, *input_shape)``), float32.
        """
        parts = self._inference_parts(np.asarray(x))
        if parts is not None:  # in batches of inference_batch images
            return np.concatenate([self.input_gradient(p, class_index) for p in parts], axis=0)
        xb = np.asarray(x, dtype=np.float32)
        if xb.shape[1:] != tuple(self.input_shape):
            raise ShapeError(
                f"input_gradient: expected input of shape (N, {format_shape(self.input_shape)}),"
                f" got {xb.shape}"
            )
        classes = n_classes_of(self)
        if not 0 <= class_index < classes:
            raise EngineError(f"class index {class_index} is out of range (0..{classes - 1})")
        saved = {
            nid: {k: g.copy() for k, g in layer.grads.items()} for nid, layer in self.nodes.items()
        }
        layers = self.nodes if self._reference is None else self._reference
        try:
            # None: inference, keeping what backward needs (see _forward_nodes).
            logits = self._forward_nodes(layers, xb, None, self.logits_id)[self.logits_id]
            seed = np.zeros_like(logits)
            if self.output_activation == "sigmoid":
                seed[:, 0] = 1.0 if class_index == 1 else -1.0
            else:
                seed[:, class_index] = 1.0
            dx = self._backward_nodes(layers, seed)
        finally:
            for nid, layer in self.nodes.items():
                for k, g in saved[nid].items():
                    layer.grads[k][...] = g
        return np.asarray(dx, dtype=np.float32)

    # -- the same in NCHW, node by node: the reference tier, and the saliency map -------
    def _forward_nodes(
        self, layers: dict[str, Any], x: np.ndarray, training: bool | None, last: str
    ) -> dict[str, np.ndarray]:
        """Every node's output up to ``last``, each node's layer in ``layers`` (reference
        layers, or fast ones through their public NCHW methods) applied in order.

        ``training=None``: inference that a backward pass may follow. A fast layer then
        runs its training forward (the same numbers, and it keeps what backward needs)
        unless its inference differs (BatchNorm's running statistics, Dropout's
        identity): those may backward from inference. Reference layers always may.
        """
        outs: dict[str, np.ndarray] = {}
        for nid in self._order[: self._order.index(last) + 1]:
            layer, srcs = layers[nid], self.inputs[nid]
            mode = not getattr(layer, "backward_in_eval", True) if training is None else training
            if not srcs:
                outs[nid] = x
            elif layer.n_inputs == -1:  # merge layers take a list
                outs[nid] = layer.forward([outs[s] for s in srcs], mode)
            else:
                outs[nid] = layer.forward(outs[srcs[0]], mode)
        return outs

    def _backward_nodes(self, layers: dict[str, Any], dlogits: np.ndarray) -> np.ndarray:
        """Backpropagate ``dlogits`` through ``layers`` after ``_forward_nodes``, node by
        node in reverse order; each layer fills its ``grads``. Returns the gradient
        w.r.t. the input."""
        grads: dict[str, np.ndarray] = {self.logits_id: dlogits}
        for nid in reversed(self._order[: self._order.index(self.logits_id) + 1]):
            dout, srcs = grads.pop(nid), self.inputs[nid]
            if not srcs:
                return dout  # the Input node
            layer = layers[nid]
            # A merge layer returns one gradient per input; an input read by several nodes
            # gets the sum of their gradients.
            dxs = layer.backward(dout) if layer.n_inputs == -1 else [layer.backward(dout)]
            for src, dx in zip(srcs, dxs, strict=True):
                grads[src] = dx if src not in grads else grads[src] + dx
        raise AssertionError("unreachable: the Input node comes first")

    def _inference_parts(self, x: Any) -> list[np.ndarray] | None:
        """``x`` cut into batches of ``inference_batch`` images, or None when it is one
        batch (or not a batch at all: ``_prepare`` says what is wrong with it)."""
        step = self.inference_batch
        if not hasattr(x, "shape") or len(x.shape) != len(self.input_shape) + 1:
            return None
        if x.shape[0] <= step:
            return None
        return [x[s : s + step] for s in range(0, x.shape[0], step)]

    def predict_proba(self, x: Any, batch_size: int = 256) -> np.ndarray:
        """Class probabilities ``(N, K)``; a sigmoid network gives ``(N, 2)`` = ``[1-p, p]``.

        ``batch_size`` images run at a time, fewer for a network whose layer outputs
        would take more than ``INFERENCE_VALUES`` numbers (``inference_batch``)."""
        x = np.asarray(x)
        if batch_size < 1:
            raise EngineError(f"batch_size must be at least 1, got {batch_size}")
        batch_size = min(batch_size, self.inference_batch)
        if x.ndim == len(self.input_shape) + 1 and len(x) == 0:
            return np.zeros((0, n_classes_of(self)), np.float32)
        parts = []
        for s in range(0, len(x), batch_size):
            if self._reference is None:
                z = self._fast_logits(x[s : s + batch_size])
            else:
                z = self.forward(x[s : s + batch_size]).T  # (K, N), as the fast tier's
            if self.output_activation == "sigmoid":
                p = 0.5 * np.tanh(0.5 * z[0]) + 0.5
                parts.append(np.stack([1.0 - p, p], axis=1).astype(np.float32))
            else:
                parts.append(np.ascontiguousarray(softmax(z, axis=0).T))
        return np.concatenate(parts, axis=0)

    def predict(self, x: Any, batch_size: int = 256) -> np.ndarray:
        """Predicted class index per sample, ``(N,)`` int64."""
        return self.predict_proba(x, batch_size).argmax(axis=1).astype(np.int64)

    def activations(self, x: Any) -> dict[str, np.ndarray]:
        """Every node's output for ``x`` (inference mode), in public layout, in topological
        order, keyed by node id; the sink's entry holds the final probabilities.

        Runs ``inference_batch`` images at a time, filling the returned arrays."""
        parts = self._inference_parts(x)
        if parts is None:
            return self._activations(x)
        result: dict[str, np.ndarray] = {}
        start = 0
        for part in parts:
            for nid, y in self._activations(part).items():
                if nid not in result:
                    result[nid] = np.empty((len(x), *y.shape[1:]), y.dtype)
                result[nid][start : start + len(part)] = y
            start += len(part)
        return result

    def _activations(self, x: Any) -> dict[str, np.ndarray]:
        if self._reference is not None:
            x = np.asarray(self.check_batch(x), dtype=self._dtype)
            outs = self._forward_nodes(self._reference, x, False, self.output_id)
            return {nid: np.array(y) for nid, y in outs.items()}  # (some are views)
        outs = self._fast.outputs(self._prepare(x))
        return {nid: np.ascontiguousarray(np.moveaxis(y, -1, 0)) for nid, y in outs.items()}

    # -- parameters -------------------------------------------------------------------
    def parameters(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """``(key, param, grad)`` for every trainable array; keys ``"<node>.<param>"``.

        The arrays are the live ones: optimizers update ``param`` in place, and
        ``backward`` refills ``grad`` in place, so the objects stay valid.
        """
        return [
            (f"{nid}.{k}", layer.params[k], layer.grads[k])
            for nid, layer in self.nodes.items()
            for k in layer.params
        ]

    def use_flat_arrays(self, params: np.ndarray, grads: np.ndarray) -> None:
        """Keep every parameter in ``params`` and every gradient in ``grads`` from now on
        (flat arrays of ``parameter_count()`` numbers of the parameters' dtype, such as
        shared memory); the current parameters are copied into ``params``."""
        self._flat = FlatParameters(self.layers, (params, grads))
        if not self._flat.ok:
            raise EngineError("use_flat_arrays: the network's parameters differ in dtype")

    def flat_parameters(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """``[("*", all parameters, all gradients)]`` as two flat live arrays, for element-
        wise optimizers (``engine.flat``); ``parameters()`` instead if the layers' arrays
        were replaced."""
        if self._flat.intact():
            return [("*", self._flat.params, self._flat.grads)]
        return self.parameters()

    def _weight_arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for nid, layer in self.nodes.items():
            for k, v in layer.params.items():
                out[f"{nid}.{k}"] = v
            for k, v in layer.state.items():
                out[f"{nid}.{k}"] = v
        return out

    def get_weights(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and state array, keyed ``"<node>.<name>"``."""
        return {k: v.copy() for k, v in self._weight_arrays().items()}

    def set_weights(self, weights: dict[str, Any], strict: bool = True) -> None:
        """Copy ``weights`` into the network in place, after checking all of them.

        Parameters
        ----------
        weights : dict[str, array]
            As from ``get_weights`` or a weights.npz file.
        strict : bool
            If true, every key must be present and no other key may appear.

        Raises
        ------
        EngineError
            Naming the key: missing, unexpected, not a float array, or the wrong shape
            (with the expected and the found shape). Nothing is changed then.
        """
        targets = self._weight_arrays()
        if not isinstance(weights, dict):
            raise EngineError(f"weights must be a dict of arrays, not {type(weights).__name__}")
        if strict:
            missing = [k for k in targets if k not in weights]
            if missing:
                raise EngineError(f"weights: missing {', '.join(missing)}")
        extra = [k for k in weights if k not in targets]
        if extra:
            raise EngineError(
                f"weights: unexpected key(s) {', '.join(map(str, extra))} for this architecture"
            )
        arrays = {}
        for key, value in weights.items():
            arr = np.asarray(value)
            if arr.dtype.kind != "f":
                raise EngineError(f"weights: {key} must be a float array, found dtype {arr.dtype}")
            expected = targets[key].shape
            if arr.shape != expected:
                raise EngineError(f"weights: {key} has shape {arr.shape}, expected {expected}")
            if not np.all(np.isfinite(arr)):
                raise EngineError(f"weights: {key} contains NaN or infinite values")
            arrays[key] = arr
        for key, arr in arrays.items():
            np.copyto(targets[key], arr, casting="same_kind")

    def parameter_count(self) -> int:
        """Number of trainable numbers."""
        return sum(layer.parameter_count() for layer in self.layers)

    def layer_summaries(self) -> list[dict[str, Any]]:
        """Per node: ``name``, ``type``, ``inputs``, ``output_shape`` (tuple),
        ``output_text`` (``6@28x28`` or ``120``) and ``params`` (count)."""
        return [
            {
                "name": nid,
                "type": layer.type_name,
                "inputs": list(self.inputs[nid]),
                "output_shape": self.shapes[nid],
                "output_text": format_shape(self.shapes[nid]),
                "params": layer.parameter_count(),
            }
            for nid, layer in self.nodes.items()
        ]

    def summary(self) -> str:
        """A text table of layer, type, output shape (``C@HxW``) and parameters, with the total."""
        rows = [("Layer", "Type", "Output", "Params")]
        rows += [
            (s["name"], s["type"], s["output_text"], f"{s['params']:,}")
            for s in self.layer_summaries()
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = []
        for k, r in enumerate(rows):
            lines.append(
                "  ".join(
                    c.rjust(widths[i]) if i == 3 else c.ljust(widths[i]) for i, c in enumerate(r)
                ).rstrip()
            )
            if k == 0:
                lines.append("-" * len(lines[0]))
        lines.append("-" * len(lines[0]))
        lines.append(f"Total parameters: {self.parameter_count():,}")
        return "\n".join(lines)

    def to_architecture(self) -> dict[str, Any]:
        """The architecture dict (docs/file-formats.md) that rebuilds this network."""
        return {
            "format": ARCHITECTURE_FORMAT,
            "version": ARCHITECTURE_VERSION,
            "name": self.name,
            "nodes": [
                {
                    "id": nid,
                    "type": layer.type_name,
                    "config": layer.config(),
                    "inputs": list(self.inputs[nid]),
                }
                for nid, layer in self.nodes.items()
            ],
        }

    def __repr__(self) -> str:
        return (
            f"Network({self.name!r}, {len(self.nodes)} nodes, "
            f"input {format_shape(self.input_shape)}, "
            f"{self.n_logits} outputs, {self.parameter_count():,} parameters)"
        )
