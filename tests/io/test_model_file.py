"""*.cnnmodel: exact round trips, and a clear ModelFileError for every kind of bad file."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cnnstudio.io import ModelFileError, TrainedModel, load_model, save_model, zipfmt
from cnnstudio.io.zipfmt import Limits
from tests.io import archs
from tests.io.conftest import make_bundle, rewrite_zip


def _npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _meta(path: Path) -> dict:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("meta.json"))


def _weights(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as z, np.load(io.BytesIO(z.read("weights.npz"))) as npz:
        return {k: npz[k] for k in npz.files}


def _with_meta(model_path: Path, tmp_path: Path, meta: dict) -> Path:
    data = json.dumps(meta).encode()
    return rewrite_zip(model_path, tmp_path / "x.cnnmodel", {"meta.json": data})


# -- round trips -------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(archs.ALL))
def test_round_trip_is_exact(tmp_path, name):
    bundle = make_bundle(archs.ALL[name]())
    path = save_model(tmp_path / f"{name}.cnnmodel", bundle)
    loaded = load_model(path)

    assert loaded.architecture == bundle.architecture  # canvas positions ("ui") included
    assert sorted(loaded.weights) == sorted(bundle.weights)
    for key, arr in bundle.weights.items():
        assert loaded.weights[key].dtype == np.float32
        assert loaded.weights[key].tobytes() == arr.tobytes(), key  # bit-identical
    assert loaded.class_names == bundle.class_names
    assert loaded.input_shape == bundle.input_shape
    assert loaded.preprocessing == bundle.preprocessing
    assert loaded.training_summary == bundle.training_summary
    x = np.random.default_rng(0).random((4, *bundle.input_shape)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict_proba(x), bundle.predict_proba(x))


def test_file_layout_and_metadata(model_path, bundle):
    with zipfile.ZipFile(model_path) as z:
        assert sorted(z.namelist()) == ["architecture.json", "meta.json", "weights.npz"]
    meta = _meta(model_path)
    assert meta["format"] == "cnnstudio-model"
    assert meta["version"] == 1
    assert meta["class_names"] == bundle.class_names
    assert meta["input_shape"] == [1, 28, 28]
    assert meta["preprocessing"]["digit"] is True
    assert meta["preprocessing"]["normalization"]["mean"] == [0.13]
    assert meta["training_summary"]["accuracy"] == 0.981
    # Plain npz: readable by anyone with NumPy, no pickle needed.
    weights = _weights(model_path)
    assert weights["conv1.w"].shape == (6, 1, 5, 5)


def test_predict_proba_applies_the_stored_normalisation(bundle):
    x = np.random.default_rng(1).random((2, 1, 28, 28)).astype(np.float32)
    direct = bundle.network().predict_proba((x - np.float32(0.13)) / np.float32(0.31))
    np.testing.assert_allclose(bundle.predict_proba(x), direct, rtol=0, atol=1e-6)
    # One image without the batch axis works too.
    assert bundle.predict_proba(x[0]).shape == (1, 10)


def test_sigmoid_model_has_two_class_names(tmp_path):
    bundle = make_bundle(archs.binary())
    assert len(bundle.class_names) == 2
    loaded = load_model(save_model(tmp_path / "b.cnnmodel", bundle))
    assert loaded.predict_proba(np.zeros((3, 1, 8, 8), np.float32)).shape == (3, 2)


# -- bad files: every message names the file and the problem ----------------------------------
def _assert_error(path: Path, *fragments: str) -> ModelFileError:
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return info.value


def test_missing_file(tmp_path):
    _assert_error(tmp_path / "nothing.cnnmodel", "file not found")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.cnnmodel"
    p.write_bytes(b"")
    _assert_error(p, "is empty")


def test_not_a_zip(tmp_path):
    p = tmp_path / "notes.cnnmodel"
    p.write_text("hello")
    _assert_error(p, "is not a CNN Studio model file")


def test_json_instead_of_model_says_so(tmp_path):
    p = tmp_path / "arch.cnnmodel"
    p.write_text(json.dumps(archs.lenet()))
    _assert_error(p, "looks like a JSON file")


def test_truncated_zip(model_path):
    data = model_path.read_bytes()
    model_path.write_bytes(data[: len(data) // 2])
    _assert_error(model_path, "damaged", "not a readable zip")


def test_corrupt_member_data(model_path, tmp_path):
    # Flip bytes inside the compressed weights: the CRC (or inflate) must catch it.
    data = bytearray(model_path.read_bytes())
    with zipfile.ZipFile(model_path) as z:
        info = z.getinfo("weights.npz")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for k in range(start + 100, start + 110):
        data[k] ^= 0xFF
    model_path.write_bytes(bytes(data))
    _assert_error(model_path, "damaged", "weights.npz")


@pytest.mark.parametrize("member", ["meta.json", "architecture.json", "weights.npz"])
def test_missing_member(model_path, tmp_path, member):
    bad = rewrite_zip(model_path, tmp_path / "bad.cnnmodel", {member: None})
    _assert_error(bad, f"{member} is missing")


def test_bad_json(model_path, tmp_path):
    bad = rewrite_zip(model_path, tmp_path / "bad.cnnmodel", {"meta.json": b'{"format": '})
    _assert_error(bad, "meta.json is not valid JSON")


def test_not_utf8_json(model_path, tmp_path):
    bad = rewrite_zip(model_path, tmp_path / "bad.cnnmodel", {"meta.json": b"\xff\xfe{}"})
    _assert_error(bad, "meta.json is not UTF-8")


def test_newer_version_asks_to_update(model_path, tmp_path):
    meta = _meta(model_path)
    meta["version"] = 3
    bad = _with_meta(model_path, tmp_path, meta)
    err = _assert_error(bad, "newer CNN Studio", "format 3", "reads up to 1", "update CNN Studio")
    assert err.reason.startswith("was made by a newer CNN Studio")


def test_newer_architecture_version_asks_to_update(model_path, tmp_path):
    arch = archs.lenet()
    arch["version"] = 2
    bad = rewrite_zip(
        model_path, tmp_path / "new.cnnmodel", {"architecture.json": json.dumps(arch).encode()}
    )
    _assert_error(bad, "newer CNN Studio", "update CNN Studio")


def test_wrong_format_name(model_path, tmp_path):
    meta = _meta(model_path)
    meta["format"] = "something-else"
    bad = _with_meta(model_path, tmp_path, meta)
    _assert_error(bad, "is not a CNN Studio model file", "something-else")


def test_architecture_that_cannot_be_built(model_path, tmp_path):
    arch = archs.lenet()
    arch["nodes"][1]["type"] = "Conv3D"
    bad = rewrite_zip(
        model_path, tmp_path / "x.cnnmodel", {"architecture.json": json.dumps(arch).encode()}
    )
    _assert_error(bad, "architecture cannot be built", "Conv3D")


def test_wrong_weight_shape(model_path, tmp_path):
    w = _weights(model_path)
    w["fc2.w"] = np.zeros((10, 31), np.float32)
    bad = rewrite_zip(model_path, tmp_path / "x.cnnmodel", {"weights.npz": _npz(**w)})
    _assert_error(bad, "does not fit the architecture", "fc2.w", "(10, 31)", "(10, 32)")


def test_missing_weight(model_path, tmp_path):
    w = _weights(model_path)
    del w["conv2.b"]
    bad = rewrite_zip(model_path, tmp_path / "x.cnnmodel", {"weights.npz": _npz(**w)})
    _assert_error(bad, "missing weights conv2.b")


def test_extra_weight(model_path, tmp_path):
    w = _weights(model_path)
    w["conv9.w"] = np.zeros(3, np.float32)
    bad = rewrite_zip(model_path, tmp_path / "x.cnnmodel", {"weights.npz": _npz(**w)})
    _assert_error(bad, "unexpected weights conv9.w")


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.float16])
def test_wrong_dtype(model_path, tmp_path, dtype):
    w = _weights(model_path)
    w["fc1.b"] = w["fc1.b"].astype(dtype)
    bad = rewrite_zip(model_path, tmp_path / "x.cnnmodel", {"weights.npz": _npz(**w)})
    _assert_error(bad, "fc1.b", f"dtype {np.dtype(dtype)}", "float32")


def test_nan_weights(model_path, tmp_path):
    w = _weights(model_path)
    w["fc1.w"][0, 0] = np.nan
    bad = rewrite_zip(model_path, tmp_path / "x.cnnmodel", {"weights.npz": _npz(**w)})
    _assert_error(bad, "fc1.w", "NaN")


def test_pickled_object_is_never_loaded(model_path, tmp_path):
    class Boom:
        def __reduce__(self):  # would run on unpickling
            return (os.system, ("echo pwned > /dev/null",))

    w = _weights(model_path)
    payload = io.BytesIO()
    np.save(payload, np.array([Boom()], dtype=object), allow_pickle=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, a in w.items():
            z.writestr(f"{k}.npy", payload.getvalue() if k == "fc1.b" else _npy(a))
    bad = rewrite_zip(model_path, tmp_path / "x.cnnmodel", {"weights.npz": buf.getvalue()})
    _assert_error(bad, "contains a pickled object", "which CNN Studio never loads")


def _npy(a: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def test_npy_header_lying_about_its_size(model_path, tmp_path):
    # A header that claims a huge array must not make us allocate it.
    w = _weights(model_path)
    raw = _npy(w["fc1.b"]).replace(b"(32,)", b"(99999999999,)")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, a in w.items():
            z.writestr(f"{k}.npy", raw if k == "fc1.b" else _npy(a))
    bad = rewrite_zip(model_path, tmp_path / "x.cnnmodel", {"weights.npz": buf.getvalue()})
    _assert_error(bad, "weights.npz", "fc1.b", "damaged")


def test_oversize_member_is_refused_before_inflating(model_path, tmp_path):
    # 50 MB of zeros deflates to ~50 KB: a small zip bomb against a 10 MB limit.
    bomb = rewrite_zip(
        model_path, tmp_path / "bomb.cnnmodel", {"architecture.json": b" " * (50 << 20)}
    )
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(ModelFileError) as info:
        load_model(bomb, limits=Limits(json_bytes=10 << 20))
    assert "architecture.json is too large" in str(info.value)
    assert "limit is 10.0 MB" in str(info.value)


def _set_declared_size(data: bytearray, name: str, size: int) -> None:
    """Overwrite the uncompressed size of member ``name`` in its local and central headers."""
    pos = 0
    while (pos := data.find(b"PK\x01\x02", pos)) >= 0:  # central directory entries
        n = struct.unpack_from("<H", data, pos + 28)[0]
        if bytes(data[pos + 46 : pos + 46 + n]) == name.encode():
            struct.pack_into("<I", data, pos + 24, size)
            local = struct.unpack_from("<I", data, pos + 42)[0]
            struct.pack_into("<I", data, local + 22, size)
            return
        pos += 4
    raise AssertionError(f"{name} not found")


def test_member_that_lies_about_its_size_stops_at_the_limit(model_path, tmp_path):
    # 4 MB that declares 1000 bytes: the read stops there and the CRC fails, instead
    # of inflating whatever the data holds.
    liar = rewrite_zip(model_path, tmp_path / "liar.cnnmodel", {"meta.json": b" " * (4 << 20)})
    data = bytearray(liar.read_bytes())
    _set_declared_size(data, "meta.json", 1000)
    liar.write_bytes(bytes(data))
    _assert_error(liar, "damaged", "meta.json")


def test_member_declaring_a_huge_size(model_path, tmp_path):
    data = bytearray(model_path.read_bytes())
    _set_declared_size(data, "weights.npz", 0xFFFFFFF0)
    model_path.write_bytes(bytes(data))
    _assert_error(model_path, "weights.npz is too large", "4.0 GB")


def test_npz_whose_arrays_inflate_past_the_limit(model_path, tmp_path):
    w = _weights(model_path)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for k, a in w.items():
            z.writestr(f"{k}.npy", _npy(a))
        for i in range(3):  # 3 x 4 MB of zeros, deflated to a few KB each
            z.writestr(f"pad{i}.npy", _npy(np.zeros(1 << 20, np.float32)))
    bad = rewrite_zip(model_path, tmp_path / "x.cnnmodel", {"weights.npz": buf.getvalue()})
    assert bad.stat().st_size < 1 << 20
    with pytest.raises(ModelFileError, match=r"weights\.npz is too large"):
        load_model(bad, limits=Limits(weights_bytes=8 << 20))


def test_too_many_members(model_path, tmp_path):
    extra = {f"junk{i}.txt": b"x" for i in range(40)}
    bad = rewrite_zip(model_path, tmp_path / "x.cnnmodel", extra)
    with pytest.raises(ModelFileError, match="members"):
        load_model(bad, limits=Limits(members=20))


def test_unknown_extra_members_are_ignored(model_path, tmp_path):
    # Forward compatibility: a later minor addition does not lock older readers out.
    extra = rewrite_zip(model_path, tmp_path / "x.cnnmodel", {"thumbnail.png": b"\x89PNG"})
    assert load_model(extra).class_names == load_model(model_path).class_names


def test_class_names_must_match_outputs(model_path, tmp_path):
    meta = _meta(model_path)
    meta["class_names"] = ["a", "b"]
    bad = _with_meta(model_path, tmp_path, meta)
    _assert_error(bad, "2 names for 10 output classes")


def test_input_shape_must_match_architecture(model_path, tmp_path):
    meta = _meta(model_path)
    meta["input_shape"] = [3, 28, 28]
    bad = _with_meta(model_path, tmp_path, meta)
    _assert_error(bad, "input shape [3, 28, 28] differs")


def test_bad_normalisation(model_path, tmp_path):
    meta = _meta(model_path)
    meta["preprocessing"]["normalization"]["std"] = [-1.0]
    bad = _with_meta(model_path, tmp_path, meta)
    _assert_error(bad, "preprocessing", "std must be positive")


def test_huge_declared_layer_is_refused_before_building(model_path, tmp_path):
    # Building first would try to allocate 10^10 floats for fc1 before any check.
    arch = archs.lenet()
    next(n for n in arch["nodes"] if n["id"] == "fc1")["config"]["units"] = 10**10
    bad = rewrite_zip(
        model_path, tmp_path / "x.cnnmodel", {"architecture.json": json.dumps(arch).encode()}
    )
    _assert_error(bad, "fc1.w has shape (32, 400)", "declares 10000000000 units")


def test_project_is_not_a_model(tmp_path):
    from cnnstudio.io import ProjectData, save_project

    p = save_project(tmp_path / "p.cnnmodel", ProjectData(architecture=archs.lenet()))
    _assert_error(p, "is a CNN Studio project (.cnnstudio), not a model file")


def test_a_folder_is_not_a_model(tmp_path):
    _assert_error(tmp_path, "is a folder")


# -- saving -------------------------------------------------------------------------------
def test_save_is_atomic_when_writing_fails(model_path, monkeypatch):
    before = model_path.read_bytes()
    other = make_bundle(archs.kitchen_sink())
    calls = {"n": 0}
    real = zipfile.ZipFile.writestr

    def failing_writestr(self, name, data, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:  # the disk fills up in the middle of the archive
            raise OSError(28, "No space left on device")
        return real(self, name, data, *a, **k)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing_writestr)
    with pytest.raises(ModelFileError) as info:
        save_model(model_path, other)
    monkeypatch.undo()
    assert "cannot be saved" in str(info.value)
    assert "No space left on device" in str(info.value)
    assert model_path.read_bytes() == before  # the old file is intact
    assert sorted(p.name for p in model_path.parent.iterdir()) == [model_path.name]  # no temp
    assert load_model(model_path).class_names == [f"class {i}" for i in range(10)]


def test_save_is_atomic_when_interrupted(model_path, monkeypatch):
    before = model_path.read_bytes()

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(zipfmt.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_model(model_path, make_bundle(archs.binary()))
    monkeypatch.undo()
    assert model_path.read_bytes() == before
    assert [p.name for p in model_path.parent.iterdir()] == [model_path.name]


def test_save_replaces_an_existing_file(model_path):
    save_model(model_path, make_bundle(archs.binary()))
    assert load_model(model_path).class_names == ["class 0", "class 1"]


def test_save_into_missing_folder(tmp_path, bundle):
    with pytest.raises(ModelFileError, match="does not exist"):
        save_model(tmp_path / "nope" / "m.cnnmodel", bundle)


def test_save_refuses_weights_that_do_not_fit(tmp_path, bundle):
    bundle.weights["fc2.w"] = np.zeros((3, 3), np.float32)
    with pytest.raises(ModelFileError, match=r"fc2\.w"):
        save_model(tmp_path / "m.cnnmodel", bundle)
    assert not (tmp_path / "m.cnnmodel").exists()


def test_from_network_defaults():
    from tests.io.conftest import trained_network

    b = TrainedModel.from_network(trained_network(archs.residual()))
    assert b.class_names == ["0", "1", "2", "3", "4"]
    assert b.input_shape == (3, 12, 12)
    assert b.preprocessing == {"normalization": None, "digit": False}  # RGB: no digit cropping
