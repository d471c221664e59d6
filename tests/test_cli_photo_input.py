"""Bad input on the command line for photos and digits: a picture or a dataset of the
other kind than the model's, a folder mixing the two, CIFAR-10 batches that are cut,
of the wrong length or pickled. Each is one line on stderr and exit status 1."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnstudio.cli import main
from cnnstudio.data.cifar import RECORD_BYTES
from cnnstudio.io import save_model
from tests.cli_output import one_line_error
from tests.io import archs
from tests.io.conftest import make_bundle


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    photo = make_bundle(archs.presets()["lenet5_rgb"])
    photo.preprocessing["digit"] = False  # a colour photo model: whole pictures resized
    return {
        "photo": save_model(folder / "photo.cnnmodel", photo),
        "digits": save_model(folder / "digits.cnnmodel", make_bundle(archs.lenet())),
    }


@pytest.fixture
def pictures(tmp_path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (40, 50), np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    # A grey photo saved as a colour JPEG: three channels, equal but for JPEG's noise.
    Image.fromarray(np.dstack([grey] * 3)).save(tmp_path / "grey.jpg", quality=80)
    Image.fromarray(rng.integers(0, 256, (40, 50, 3), np.uint8)).save(tmp_path / "colour.jpg")
    return {p.stem + p.suffix: p for p in tmp_path.iterdir()}


# -- predict ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["grey.png", "grey.jpg"])
def test_a_grayscale_picture_for_a_colour_photo_model_is_refused(models, pictures, capsys, name):
    args = ["predict", str(models["photo"]), str(pictures["colour.jpg"]), str(pictures[name])]
    assert main(args) == 1
    one_line_error(
        capsys,
        f"cnnstudio predict: {pictures[name]}: is a grayscale picture",
        "photo.cnnmodel is a colour photo model (3@32x32)",
        "Give it a colour picture, or add --allow-grayscale",
    )


def test_allow_grayscale_predicts_it_as_three_equal_channels(models, pictures, capsys):
    args = ["predict", str(models["photo"]), str(pictures["grey.png"]), "--allow-grayscale"]
    assert main([*args, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["image"] == str(pictures["grey.png"])


def test_a_digit_model_takes_a_colour_picture(models, pictures, capsys):
    # Photos of digits on paper come from phones in colour: the digit pipeline makes them
    # grey, as the drawing pad's; no colour test tells such a photo from any other.
    assert main(["predict", str(models["digits"]), str(pictures["colour.jpg"])]) == 0
    assert capsys.readouterr().out.startswith(f"{pictures['colour.jpg']}: ")


# -- evaluate ---------------------------------------------------------------------------
def test_a_digit_model_on_colour_photos_says_the_kinds_differ(models, capsys):
    assert main(["evaluate", str(models["digits"]), "--data", "cifar10-sample"]) == 1
    one_line_error(
        capsys,
        "cnnstudio evaluate: cifar10-sample: holds colour images (3@32x32)",
        "digits.cnnmodel is a model of grayscale images (1@28x28)",
        "evaluate it on data of its own kind",
    )


def test_a_colour_photo_model_on_digits_says_the_kinds_differ(models, capsys):
    assert main(["evaluate", str(models["photo"]), "--data", "mnist-sample"]) == 1
    one_line_error(
        capsys,
        "cnnstudio evaluate: mnist-sample: holds grayscale images (1@28x28)",
        "photo.cnnmodel is a colour photo model (3@32x32)",
        "evaluate it on data of its own kind",
    )


def test_a_grey_model_takes_colour_images_of_its_own_classes(models, tmp_path, capsys):
    rng = np.random.default_rng(1)
    for name in ("class 0", "class 1"):
        for i in range(3):
            image = rng.integers(0, 256, (28, 28, 3), np.uint8)
            (tmp_path / name).mkdir(exist_ok=True)
            Image.fromarray(image).save(tmp_path / name / f"{i}.png")
    args = ["evaluate", str(models["digits"]), "--data", str(tmp_path), "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["n_samples"] == 6


def test_a_folder_mixing_photos_and_digits_is_one_line(models, tmp_path, capsys):
    rng = np.random.default_rng(2)
    for i in range(4):
        for name, shape in (("cat", (32, 32, 3)), ("7", (28, 28))):
            (tmp_path / name).mkdir(exist_ok=True)
            image = Image.fromarray(rng.integers(0, 256, shape, np.uint8))
            image.save(tmp_path / name / f"{i}.png")
    assert main(["evaluate", str(models["photo"]), "--data", str(tmp_path)]) == 1
    one_line_error(
        capsys,
        f"cnnstudio evaluate: {tmp_path}: mixes 4 colour images (all 32x32)",
        "4 grayscale images (all 28x28)",
        "Keep one kind",
    )


# -- CIFAR-10 batches -------------------------------------------------------------------
def _batch(path: Path, records: int, extra: int = 0) -> Path:
    data = np.random.default_rng(3).integers(0, 256, (records, RECORD_BYTES), np.uint8)
    data[:, 0] %= 10
    path.write_bytes(data.tobytes() + bytes(extra))
    return path


def _pickled(path: Path) -> Path:
    path.write_bytes(pickle.dumps({"data": b"", "labels": []}, protocol=2))
    return path


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: _batch(d / "test_batch.bin", 3, extra=100), "not a whole number of 3,073"),
        (lambda d: _batch(d / "test_batch.bin", 0), "is empty"),
        (lambda d: _pickled(d / "test_batch.bin"), "use the binary distribution instead"),
    ],
    ids=["wrong-length", "empty", "pickled"],
)
@pytest.mark.parametrize("command", ["evaluate", "train"])
def test_a_bad_cifar_batch_is_one_line(models, tmp_path, capsys, make, words, command):
    batch = make(tmp_path)
    if command == "evaluate":
        args = ["evaluate", str(models["photo"]), "--data", str(batch)]
    else:
        out = tmp_path / "m.cnnmodel"
        args = ["train", "--preset", "photo", "--data", str(batch), "--out", str(out)]
    assert main(args) == 1
    one_line_error(capsys, f"cnnstudio {command}: {batch}: ", words)
