"""`cnnstudio export` and `cnnstudio predict` end to end: outputs, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnstudio.cli import main
from cnnstudio.io import ProjectData, load_model, save_model, save_project
from tests.cli_output import one_line_error
from tests.io import archs
from tests.io.conftest import make_bundle, rewrite_zip


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    bundle = make_bundle(archs.lenet())
    model = save_model(tmp_path / "digits.cnnmodel", bundle)
    one = np.full((120, 100), 250, np.uint8)
    one[15:105, 45:55] = 10  # a dark "1" on paper
    zero = np.zeros((28, 28), np.uint8)
    yy, xx = np.mgrid[:28, :28]
    zero[np.abs(((yy - 14) / 10) ** 2 + ((xx - 14) / 6) ** 2 - 1) < 0.35] = 255  # a light "0"
    Image.fromarray(one).save(tmp_path / "one.png")
    Image.fromarray(zero).save(tmp_path / "zero.png")
    (tmp_path / "junk.png").write_text("this is not a picture")
    return {
        "model": model,
        "one": tmp_path / "one.png",
        "zero": tmp_path / "zero.png",
        "junk": tmp_path / "junk.png",
    }


# -- predict --------------------------------------------------------------------------
def test_predict_prints_top_class_per_image(files, capsys):
    assert main(["predict", str(files["model"]), str(files["one"]), str(files["zero"])]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    bundle = load_model(files["model"])
    assert len(out) == 2
    for line, key in zip(out, ("one", "zero"), strict=True):
        p = bundle.predict_proba(bundle.load_image(files[key]))[0]
        top = bundle.class_names[int(p.argmax())]
        assert line.startswith(f"{files[key]}: {top} ({100 * p.max():.1f}%)"), line
        assert "next: " in line


def test_predict_json_has_every_probability(files, capsys):
    assert main(["predict", str(files["model"]), str(files["one"]), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    bundle = load_model(files["model"])
    p = bundle.predict_proba(bundle.load_image(files["one"]))[0]
    assert row["image"] == str(files["one"])
    assert row["class"] == bundle.class_names[int(p.argmax())]
    assert list(row["probabilities"]) == bundle.class_names
    np.testing.assert_allclose(list(row["probabilities"].values()), p, atol=1e-6)


def test_predict_uses_the_models_preprocessing(files, capsys):
    # The model is a digit model: a dark-on-paper photo is cropped, centred, inverted
    # and normalised exactly as the drawing pad does before the network sees it.
    from cnnstudio.data.preprocess import preprocess_digit

    bundle = load_model(files["model"])
    prepared = preprocess_digit(np.asarray(Image.open(files["one"])), (28, 28))
    expected = bundle.network().predict_proba(((prepared - 0.13) / 0.31)[None, None])[0]
    assert main(["predict", str(files["model"]), str(files["one"]), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    got = np.array(list(row["probabilities"].values()))
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_predict_rgb_model_gets_three_equal_channels(tmp_path, files, capsys):
    bundle = make_bundle(archs.presets()["lenet5_rgb"])
    bundle.preprocessing["digit"] = True
    model = save_model(tmp_path / "rgb.cnnmodel", bundle)
    assert main(["predict", str(model), str(files["zero"]), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    gray = load_model(model).load_image(files["zero"])
    assert gray.shape == (3, 32, 32)
    np.testing.assert_array_equal(gray[0], gray[1])
    np.testing.assert_array_equal(gray[1], gray[2])
    expected = bundle.predict_proba(gray)[0]
    np.testing.assert_allclose(list(row["probabilities"].values()), expected, atol=1e-5)


def test_predict_bad_image_is_one_line_and_prints_nothing_else(files, capsys):
    code = main(["predict", str(files["model"]), str(files["one"]), str(files["junk"])])
    assert code == 1
    one_line_error(capsys, "cnnstudio predict:", str(files["junk"]), "cannot read")


def test_predict_missing_image(files, tmp_path, capsys):
    assert main(["predict", str(files["model"]), str(tmp_path / "nope.png")]) == 1
    one_line_error(capsys, "nope.png", "not found")


def test_predict_damaged_model(files, capsys):
    data = files["model"].read_bytes()
    files["model"].write_bytes(data[:-200])
    assert main(["predict", str(files["model"]), str(files["one"])]) == 1
    one_line_error(capsys, str(files["model"]), "damaged")


def test_predict_newer_model(files, tmp_path, capsys):
    with zipfile.ZipFile(files["model"]) as z:
        meta = json.loads(z.read("meta.json"))
    meta["version"] = 7
    data = json.dumps(meta).encode()
    newer = rewrite_zip(files["model"], tmp_path / "new.cnnmodel", {"meta.json": data})
    assert main(["predict", str(newer), str(files["one"])]) == 1
    one_line_error(capsys, "newer CNN Studio", "update CNN Studio")


def test_predict_missing_model(tmp_path, files, capsys):
    assert main(["predict", str(tmp_path / "none.cnnmodel"), str(files["one"])]) == 1
    one_line_error(capsys, "none.cnnmodel does not exist")


def test_predict_with_a_trained_project(tmp_path, files, capsys):
    project = save_project(
        tmp_path / "p.cnnstudio",
        ProjectData(architecture=archs.lenet(), trained=load_model(files["model"])),
    )
    assert main(["predict", str(project), str(files["one"])]) == 0
    assert capsys.readouterr().out.startswith(f"{files['one']}: ")


# -- export -------------------------------------------------------------------------------
def test_export_onnx_by_suffix(files, tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "digits.onnx"
    assert main(["export", str(files["model"]), "-o", str(out)]) == 0
    assert "ONNX" in capsys.readouterr().out
    bundle = load_model(files["model"])
    x = np.random.default_rng(0).random((2, 1, 28, 28)).astype(np.float32)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(
        sess.run(None, {"input": x})[0], bundle.network().predict_proba(x), atol=1e-5
    )


def test_export_numpy_folder_runs(files, tmp_path, capsys):
    out = tmp_path / "predictor"
    assert main(["export", str(files["model"]), "--format", "numpy", "-o", str(out)]) == 0
    assert "predict.py" in capsys.readouterr().out
    run = subprocess.run(
        [sys.executable, "-I", str(out / "predict.py"), str(files["one"])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    main(["predict", str(files["model"]), str(files["one"])])
    ours = capsys.readouterr().out.split("   next:")[0]
    assert run.stdout.strip() == ours.strip()  # same class, same percentage


def test_export_cnnmodel_and_json(files, tmp_path, capsys):
    copy = tmp_path / "copy.cnnmodel"
    assert main(["export", str(files["model"]), "-o", str(copy)]) == 0
    original = load_model(files["model"])
    again = load_model(copy)
    assert all(again.weights[k].tobytes() == a.tobytes() for k, a in original.weights.items())

    arch = tmp_path / "arch.json"
    assert main(["export", str(files["model"]), "-f", "json", "-o", str(arch)]) == 0
    assert json.loads(arch.read_text()) == original.architecture


def test_export_json_from_an_untrained_project(tmp_path, capsys):
    graph = archs.residual()
    project = save_project(tmp_path / "p.cnnstudio", ProjectData(architecture=graph))
    assert main(["export", str(project), "-o", str(tmp_path / "g.json")]) == 0
    assert json.loads((tmp_path / "g.json").read_text()) == graph
    capsys.readouterr()
    assert main(["export", str(project), "-o", str(tmp_path / "g.onnx")]) == 1
    one_line_error(capsys, "no trained model yet")


def test_export_errors(files, tmp_path, capsys):
    assert main(["export", str(tmp_path / "none.cnnmodel"), "-o", str(tmp_path / "x.onnx")]) == 1
    one_line_error(capsys, "cnnstudio export:", "does not exist")

    assert main(["export", str(files["model"]), "-o", str(tmp_path / "no" / "x.onnx")]) == 1
    one_line_error(capsys, "folder", "does not exist")

    assert main(["export", str(files["model"]), "-o", str(files["model"])]) == 1
    one_line_error(capsys, "is the input file")

    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("x")
    assert main(["export", str(files["model"]), "-f", "numpy", "-o", str(tmp_path / "full")]) == 1
    one_line_error(capsys, "not empty")

    files["junk"].rename(tmp_path / "junk.cnnmodel")
    assert main(["export", str(tmp_path / "junk.cnnmodel"), "-o", str(tmp_path / "y.onnx")]) == 1
    one_line_error(capsys, "junk.cnnmodel", "is not a CNN Studio model file")


def test_commands_work_without_qt(files, tmp_path):
    """predict and export never import Qt: they run with PySide6 made unimportable."""
    code = (
        "import sys; sys.modules['PySide6'] = None\n"
        "from cnnstudio.cli import main\n"
        f"rc = main(['predict', {str(files['model'])!r}, {str(files['one'])!r}])\n"
        f"rc += main(['export', {str(files['model'])!r}, '-o', {str(tmp_path / 'q.onnx')!r}])\n"
        "qt = [m for m, v in sys.modules.items() if v and m.startswith(('PySide6', 'pyqtgraph'))]\n"
        "assert not qt, qt\n"
        "sys.exit(rc)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "q.onnx").is_file()


def test_bad_input_from_a_real_process_has_no_traceback(files):
    run = subprocess.run(
        [sys.executable, "-m", "cnnstudio", "predict", str(files["model"]), str(files["junk"])],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert str(files["junk"]) in run.stderr
