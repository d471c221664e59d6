"""The standalone NumPy predictor: same preprocessing, same numbers, runs with NumPy + Pillow."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnstudio.data.preprocess import load_image_for_prediction, preprocess_digit
from cnnstudio.io import ExportError, export_numpy, read_architecture, write_architecture
from cnnstudio.io.numpy_export import template_path
from tests.io import archs
from tests.io.conftest import make_bundle


def _template():
    spec = importlib.util.spec_from_file_location("exported_predict", template_path())
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Images a user would feed: pad drawings, photos of paper, RGBA, big photos, blanks.
def _drawn_one() -> np.ndarray:
    a = np.zeros((280, 280), np.uint8)
    a[40:240, 130:150] = 255
    return a


def _paper_seven() -> np.ndarray:
    rng = np.random.default_rng(0)
    a = rng.normal(205, 12, (90, 70)).clip(0, 255)
    a[15:22, 10:60] = 40
    for k in range(60):
        a[20 + k, max(0, 55 - k // 2) : 62 - k // 2] = 35
    return a.astype(np.uint8)


def _rgb_noise() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (24, 30, 3), dtype=np.uint8)


def _rgba_ring() -> np.ndarray:
    a = np.zeros((64, 64, 4), np.uint8)
    yy, xx = np.mgrid[:64, :64]
    ring = np.abs(np.hypot(yy - 32, xx - 30) - 20) < 4
    a[ring] = (10, 10, 10, 255)
    return a


def _big_photo() -> np.ndarray:
    a = np.full((1300, 1100), 230, np.uint8)
    a[200:1100, 500:620] = 20
    return a


IMAGES = {
    "drawn_one": _drawn_one,
    "paper_seven": _paper_seven,
    "rgb_noise": _rgb_noise,
    "rgba_ring": _rgba_ring,
    "big_photo": _big_photo,
    "blank": lambda: np.zeros((28, 28), np.uint8),
}


@pytest.fixture(scope="module")
def image_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("images")
    out = {}
    for name, make in IMAGES.items():
        path = folder / f"{name}.png"
        Image.fromarray(make()).save(path)
        out[name] = path
    jpg = folder / "paper_seven.jpg"
    Image.fromarray(_paper_seven()).save(jpg, quality=90)
    out["jpeg"] = jpg
    return out


@pytest.mark.parametrize("name", sorted(IMAGES))
@pytest.mark.parametrize("size", [(28, 28), (32, 24)])
def test_preprocess_digit_matches_cnnstudio_data(name, size):
    image = IMAGES[name]()
    ours = _template().preprocess_digit(image, size)
    np.testing.assert_array_equal(ours, preprocess_digit(image, size))


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize("digit", [True, False])
def test_load_image_matches_cnnstudio_data(image_files, shape, digit):
    template = _template()
    for name, path in image_files.items():
        ours = template.load_image(path, shape, digit)
        theirs = load_image_for_prediction(path, shape, mode="digit" if digit else "resize")
        np.testing.assert_array_equal(ours, theirs, err_msg=name)


def test_predict_script_imports_only_numpy_and_pillow():
    tree = ast.parse(template_path().read_text("utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    assert roots - set(sys.stdlib_module_names) == {"numpy", "PIL"}


def _run(folder: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    # -I: isolated mode, so nothing of CNN Studio (cwd, PYTHONPATH) can be imported.
    return subprocess.run(
        [sys.executable, "-I", str(folder / "predict.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=folder,
    )


def _expected(bundle, path: Path) -> np.ndarray:
    return bundle.predict_proba(bundle.load_image(path))[0]


# Every layer type and option is in the hand-made architectures: each runs in its own
# process, exactly as a user would run it.
@pytest.mark.parametrize("name", sorted(archs.ALL))
def test_exported_predict_py_matches_the_engine(tmp_path, image_files, name):
    bundle = make_bundle(archs.ALL[name]())
    export_numpy(bundle, tmp_path / "predictor")
    paths = [image_files[k] for k in ("drawn_one", "paper_seven", "rgba_ring", "jpeg")]

    result = _run(tmp_path / "predictor", *map(str, paths), "--json")

    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["image"] for r in rows] == [str(p) for p in paths]
    for path, row in zip(paths, rows, strict=True):
        expected = _expected(bundle, path)
        got = np.array([row["probabilities"][c] for c in bundle.class_names])
        assert row["class"] == bundle.class_names[int(expected.argmax())], path.name
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5, err_msg=path.name)
        assert row["probability"] == pytest.approx(float(expected.max()), abs=1e-5)


# The presets only combine those layers; their exported code is run in this process
# (the same functions main() calls) to keep the suite fast.
@pytest.mark.parametrize("name", sorted(archs.presets()))
def test_exported_predictor_matches_the_engine_on_presets(tmp_path, image_files, name):
    bundle = make_bundle(archs.presets()[name])
    script = export_numpy(bundle, tmp_path / "predictor")
    spec = importlib.util.spec_from_file_location(f"exported_{name}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model, weights = module.load_model(script.parent)
    prep = model["preprocessing"]
    for key in ("drawn_one", "paper_seven"):
        image = module.load_image(image_files[key], model["input_shape"], prep["digit"])
        x = module.normalize(image, prep["normalization"])[None]
        got = module.predict_proba(model, weights, x)[0]
        expected = _expected(bundle, image_files[key])
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5, err_msg=key)
        assert got.argmax() == expected.argmax()


def test_predict_py_text_output_and_bad_image(tmp_path, image_files):
    bundle = make_bundle(archs.lenet())
    export_numpy(bundle, tmp_path / "p")
    ok = _run(tmp_path / "p", str(image_files["drawn_one"]))
    assert ok.returncode == 0, ok.stderr
    expected = bundle.predict_proba(bundle.load_image(image_files["drawn_one"]))[0]
    top = bundle.class_names[int(expected.argmax())]
    assert ok.stdout.strip() == f"{image_files['drawn_one']}: {top} ({100 * expected.max():.1f}%)"

    junk = tmp_path / "junk.png"
    junk.write_text("not an image")
    bad = _run(tmp_path / "p", str(junk))
    assert bad.returncode == 1
    assert str(junk) in bad.stderr and "Traceback" not in bad.stderr


def test_export_folder_contents(tmp_path):
    bundle = make_bundle(archs.kitchen_sink())
    script = export_numpy(bundle, tmp_path / "out")
    assert script == tmp_path / "out" / "predict.py"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "model.json",
        "predict.py",
        "weights.npz",
    ]
    model = json.loads((tmp_path / "out" / "model.json").read_text())
    assert model["class_names"] == bundle.class_names
    assert model["input_shape"] == [1, 13, 11]
    conv1 = next(n for n in model["nodes"] if n["id"] == "conv1")
    assert conv1["config"]["pads"] == [1, 2, 1, 1]  # "same" made explicit (kernel 4x3)
    with np.load(tmp_path / "out" / "weights.npz", allow_pickle=False) as w:
        # flip_kernel is baked into the exported weights
        np.testing.assert_array_equal(w["conv1.w"], bundle.weights["conv1.w"][:, :, ::-1, ::-1])


def test_export_refuses_a_folder_with_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        export_numpy(make_bundle(archs.binary()), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_export_over_an_earlier_export(tmp_path):
    export_numpy(make_bundle(archs.binary()), tmp_path / "p")
    export_numpy(make_bundle(archs.lenet()), tmp_path / "p")
    assert json.loads((tmp_path / "p" / "model.json").read_text())["input_shape"] == [1, 28, 28]


def test_architecture_json_round_trip(tmp_path):
    arch = archs.residual()
    path = write_architecture(arch, tmp_path / "a.json")
    assert json.loads(path.read_text()) == arch
    assert read_architecture(path) == arch


def test_vector_input_model_cannot_be_a_predictor(tmp_path):
    arch = {
        "nodes": [
            {"id": "input", "type": "Input", "config": {"shape": [6]}, "inputs": []},
            {"id": "fc", "type": "Dense", "config": {"units": 3}, "inputs": ["input"]},
        ]
    }
    bundle = make_bundle(arch)
    with pytest.raises(ExportError, match="input is 6"):
        export_numpy(bundle, tmp_path / "p")
    with pytest.raises(ValueError, match="not a grayscale or RGB image"):
        bundle.load_image(tmp_path / "any.png")


def test_predict_py_refuses_fifos_and_oversized_images_before_reading_them(tmp_path):
    import os

    from tests.fuzz.mutators import png_header, png_of_zeros

    export_numpy(make_bundle(archs.lenet()), tmp_path / "p")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    # 8200 x 8200 black pixels in 67 KB: decodable, but over the 8192 x 8192 limit.
    large = tmp_path / "large.png"
    large.write_bytes(png_of_zeros(8200, 8200, depth=8))
    # 45 bytes claiming 100000 x 100000 (Pillow's own bomb error was a traceback).
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header(100000, 100000))
    for path, words in [
        (fifo, "not a regular file"),
        (large, "8200x8200 pixels"),
        (bomb, "too large"),
    ]:
        try:
            result = _run(tmp_path / "p", str(path), timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"predict.py still waits on {path.name} after 30 s")
        assert result.returncode == 1, path.name
        assert str(path) in result.stderr and words in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_predict_py_runs_every_engine_layer_type():
    # The exporter no longer lists the types predict.py knows: each layer describes what
    # predict.py needs, so predict.py must know every type the engine has. The hand-made
    # architectures hold them all, and each is run by predict.py above.
    from cnnstudio.engine.layers import LAYER_TYPES

    covered = {node["type"] for fn in archs.ALL.values() for node in fn()["nodes"]}
    assert covered == set(LAYER_TYPES)
