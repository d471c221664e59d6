"""Export a trained network to ONNX, the format most inference runtimes read.

The exported graph is the whole network including the final softmax: input
``"input"`` of shape ``(N, C, H, W)`` (``N`` dynamic), output ``"probabilities"`` of
shape ``(N, K)``, the same numbers as ``Network.predict_proba`` (a sigmoid network
gives two columns ``[1 - p, p]``). The normalisation from training is *not* part of
the graph (as with most published models); it is recorded, with the class names, in
the model's ``metadata_props``.

Every engine layer describes its ONNX operator itself (``Layer.onnx_op``: op type,
attributes and weights as NumPy arrays, or a short chain of them, e.g. global pooling
then Flatten); this module turns those descriptions into protobuf. Dropout is the
identity at inference and is left out.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from cnnstudio import __version__
from cnnstudio.io.errors import ExportError
from cnnstudio.io.zipfmt import write_atomic

__all__ = ["OPSET", "export_onnx", "to_onnx"]

#: ONNX operator set used; 17 is read by every onnxruntime since 1.12 (2022).
OPSET = 17
#: IR version matching opset 17, so older runtimes accept the file too.
_IR_VERSION = 8


def to_onnx(
    network: Any,
    class_names: list[str] | None = None,
    *,
    preprocessing: dict[str, Any] | None = None,
    model_name: str | None = None,
) -> Any:
    """The ``onnx.ModelProto`` of ``network`` (an engine ``Network``), checked.

    Parameters
    ----------
    network : cnnstudio.engine.Network
    class_names
        Stored as JSON in the metadata (``"class_names"``).
    preprocessing
        Stored as JSON in the metadata (``"preprocessing"``), so users can see
        which normalisation the inputs need.
    model_name
        The graph name (default: the network's name).

    Raises
    ------
    ExportError
        For a layer that has no ONNX mapping (none today) or a model that fails
        ``onnx.checker``.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []
    # Tensor name holding each engine node's output (a layer without an operator, such
    # as Dropout, aliases its input).
    tensor: dict[str, str] = {network.input_id: "input"}

    def init(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), name))
        return name

    for nid, layer in network.nodes.items():
        if nid == network.input_id:
            continue
        if nid == network.output_id and nid != network.logits_id:
            break  # the output activation, written below with the probabilities
        try:
            op = layer.onnx_op()
        except NotImplementedError:
            raise ExportError(f"layer {nid}: {layer.type_name} has no ONNX export yet") from None
        srcs = [tensor[s] for s in network.inputs[nid]]
        if op is None:
            tensor[nid] = srcs[0]
        else:
            # A layer may be a short chain of operators (global pooling, then Flatten):
            # each reads the one before, and the last writes the node's own tensor.
            chain = op if isinstance(op, tuple) else (op,)
            for k, step in enumerate(chain):
                # ":" never occurs in a node id, so inner names cannot clash with one.
                out = nid if k == len(chain) - 1 else f"{nid}:{step.op_type}"
                weights = [init(f"{nid}.{key}", arr) for key, arr in step.initializers]
                nodes.append(
                    helper.make_node(
                        step.op_type, srcs + weights, [out], name=out, **step.attributes
                    )
                )
                srcs = [out]
            tensor[nid] = nid
        if nid == network.logits_id:
            break

    logits = tensor[network.logits_id]
    if network.output_activation == "sigmoid":
        one = init("one", np.ones((1,), dtype=np.float32))
        nodes += [
            helper.make_node("Sigmoid", [logits], ["p_positive"], name="output_sigmoid"),
            helper.make_node("Sub", [one, "p_positive"], ["p_negative"], name="output_complement"),
            helper.make_node(
                "Concat", ["p_negative", "p_positive"], ["probabilities"], name="output", axis=1
            ),
        ]
        n_out = 2
    else:
        nodes.append(
            helper.make_node("Softmax", [logits], ["probabilities"], name="output", axis=1)
        )
        n_out = int(network.n_logits)

    in_dims: list[Any] = ["N", *(int(d) for d in network.input_shape)]
    graph = helper.make_graph(
        nodes,
        model_name or str(getattr(network, "name", "network")),
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_dims)],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", n_out])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        producer_name="CNN Studio",
        producer_version=__version__,
        opset_imports=[helper.make_opsetid("", OPSET)],
        doc_string=(
            "Exported by CNN Studio. Input: float32 images (N, C, H, W) after the "
            "normalisation in the 'preprocessing' metadata. Output: class probabilities."
        ),
    )
    model.ir_version = _IR_VERSION
    meta = {
        "class_names": json.dumps(list(class_names) if class_names is not None else []),
        "cnnstudio_version": __version__,
        "preprocessing": json.dumps(preprocessing or {}),
    }
    helper.set_model_props(model, meta)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # onnx raises its own ValidationError types
        raise ExportError(f"the exported ONNX model does not pass onnx.checker: {exc}") from exc
    return model


def export_onnx(bundle: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``bundle`` (a `TrainedModel`) as an ONNX file at ``path`` (atomically).

    Raises
    ------
    ExportError
        When the network cannot be expressed in ONNX.
    ModelFileError
        When the file cannot be written.
    """
    model = to_onnx(
        bundle.network(),
        bundle.class_names,
        preprocessing=bundle.preprocessing,
        model_name=str(bundle.architecture.get("name") or "network"),
    )
    data = model.SerializeToString()
    path = Path(path)
    write_atomic(path, lambda f: f.write(data), "ONNX file")
    return path
