"""ONNX export: checked by onnx.checker, and onnxruntime agrees with the engine within 1e-5."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnstudio.io import ModelFileError, export_onnx
from cnnstudio.io.onnx_export import OPSET, to_onnx
from tests.io import archs
from tests.io.conftest import make_bundle

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

ARCHS = archs.everything()


def _session(path_or_bytes):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else str(path_or_bytes)
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def test_every_preset_is_covered():
    assert len(archs.presets()) >= 5, "the presets are missing from resources/presets"


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_onnxruntime_matches_the_engine(tmp_path, name):
    bundle = make_bundle(ARCHS[name])
    path = export_onnx(bundle, tmp_path / "m.onnx")
    net = bundle.network()
    x = np.random.default_rng(7).random((5, *net.input_shape)).astype(np.float32)
    expected = net.predict_proba(x)

    got = _session(path).run(["probabilities"], {"input": x})[0]

    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))


def test_dropout_is_identity_and_not_in_the_graph():
    model = to_onnx(make_bundle(archs.kitchen_sink()).network())
    ops = [n.op_type for n in model.graph.node]
    assert "Dropout" not in ops
    assert ops.count("BatchNormalization") == 2
    assert ops.count("PRelu") == 2
    assert "AveragePool" in ops


def test_global_pooling_is_global_pool_then_flatten(tmp_path):
    # ONNX's global pooling keeps (N, C, 1, 1); the engine's layer gives (N, C), so each
    # is followed by a Flatten (the onnxruntime check of this model is above).
    model = to_onnx(make_bundle(archs.global_pooling()).network())
    ops = [(n.op_type, list(n.input), list(n.output)) for n in model.graph.node]
    assert ("GlobalAveragePool", ["relu"], ["gap:GlobalAveragePool"]) in ops
    assert ("Flatten", ["gap:GlobalAveragePool"], ["gap"]) in ops
    assert ("GlobalMaxPool", ["conv"], ["gmp:GlobalMaxPool"]) in ops
    assert ("Flatten", ["gmp:GlobalMaxPool"], ["gmp"]) in ops
    assert len({n.name for n in model.graph.node}) == len(model.graph.node)
    # The same file runs images of the size it was exported for, in any batch size.
    sess = _session(model.SerializeToString())
    x = np.random.default_rng(3).random((2, 3, 9, 7)).astype(np.float32)
    assert sess.run(None, {"input": x})[0].shape == (2, 6)


def test_interface_names_shapes_and_metadata(tmp_path):
    bundle = make_bundle(archs.lenet())
    model = onnx.load(str(export_onnx(bundle, tmp_path / "m.onnx")))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == OPSET

    (inp,) = model.graph.input
    (out,) = model.graph.output
    assert inp.name == "input" and out.name == "probabilities"
    in_dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    out_dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    assert in_dims == ["N", 1, 28, 28]  # a dynamic batch
    assert out_dims == ["N", 10]

    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["class_names"]) == bundle.class_names
    assert props["cnnstudio_version"]
    assert json.loads(props["preprocessing"])["normalization"]["mean"] == [0.13]


def test_batch_size_is_dynamic(tmp_path):
    bundle = make_bundle(archs.residual())
    sess = _session(export_onnx(bundle, tmp_path / "m.onnx"))
    for n in (1, 3):
        x = np.random.default_rng(n).random((n, 3, 12, 12)).astype(np.float32)
        assert sess.run(None, {"input": x})[0].shape == (n, 5)


def test_sigmoid_network_gives_two_columns(tmp_path):
    bundle = make_bundle(archs.binary())
    sess = _session(export_onnx(bundle, tmp_path / "m.onnx"))
    x = np.random.default_rng(0).random((4, 1, 8, 8)).astype(np.float32)
    got = sess.run(None, {"input": x})[0]
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(got, bundle.network().predict_proba(x), atol=1e-5)


def test_export_into_missing_folder(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        export_onnx(make_bundle(archs.binary()), tmp_path / "no" / "m.onnx")


def test_every_engine_layer_type_is_exported_and_checked_by_onnxruntime():
    from cnnstudio.engine.layers import LAYER_TYPES

    assert {node["type"] for a in ARCHS.values() for node in a["nodes"]} == set(LAYER_TYPES)


def test_a_layer_without_an_onnx_form_is_an_export_error_naming_it(monkeypatch):
    from cnnstudio.engine.layers import Layer, Tanh
    from cnnstudio.io import ExportError

    monkeypatch.setattr(Tanh, "onnx_op", Layer.onnx_op)
    with pytest.raises(ExportError, match="layer tanh2: Tanh has no ONNX export yet"):
        to_onnx(make_bundle(archs.lenet()).network())
