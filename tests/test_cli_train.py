"""``cnnstudio train`` and ``cnnstudio evaluate`` end to end, as a user runs them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.ui.train.helpers import TINY_ARCH

ROOT = Path(__file__).resolve().parents[1]


def cnnstudio(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    env.pop("QT_QPA_PLATFORM", None)
    return subprocess.run(
        [sys.executable, "-m", "cnnstudio", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    arch = folder / "tiny.json"
    arch.write_text(json.dumps(TINY_ARCH))
    out = folder / "tiny.cnnmodel"
    proc = cnnstudio(
        "train", "--arch", str(arch), "--data", "mnist-sample", "--epochs", "2",
        "--batch-size", "64", "--optimizer", "adam", "--lr", "0.003", "--seed", "1",
        "--val-split", "0.1", "--out", str(out), cwd=folder,
    )  # fmt: skip
    return folder, out, proc


def test_train_shows_progress_and_summary_and_saves(trained_model):
    _, out, proc = trained_model
    assert proc.returncode == 0, proc.stderr
    # not a terminal: one plain progress line per epoch on stderr
    epochs = [line for line in proc.stderr.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/2", "2/2"]
    assert all("samples/s" in line and "val_acc" in line for line in epochs)
    assert "\r" not in proc.stderr
    assert "Trained tiny for 2 epoch(s)" in proc.stdout
    assert "validation:" in proc.stdout and "test:" in proc.stdout
    assert out.exists() and f"Saved the model to {out}" in proc.stdout


def test_evaluate_json_matches_the_text_report(trained_model):
    folder, out, _ = trained_model
    proc = cnnstudio("evaluate", str(out), "--data", "mnist-sample", "--json", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    cm = report["confusion"]
    assert report["n_samples"] == 1000 == sum(map(sum, cm))
    assert report["accuracy"] == pytest.approx(sum(cm[i][i] for i in range(10)) / 1000)
    assert report["accuracy"] > 0.5  # two epochs of a tiny CNN learn the digits
    assert set(report["per_class_accuracy"]) == {str(i) for i in range(10)}
    text = cnnstudio("evaluate", str(out), cwd=folder)
    assert text.returncode == 0
    assert f"accuracy {report['accuracy'] * 100:.2f}%" in text.stdout
    assert "confusion matrix" in text.stdout and "per-class accuracy" in text.stdout


def test_training_on_two_processes_reports_and_reaches_the_same_model(trained_model):
    folder, _, one = trained_model
    arch = folder / "tiny.json"
    two = cnnstudio(
        "train", "--arch", str(arch), "--data", "mnist-sample", "--epochs", "2",
        "--batch-size", "64", "--optimizer", "adam", "--lr", "0.003", "--seed", "1",
        "--val-split", "0.1", "--processes", "2", cwd=folder,
    )  # fmt: skip
    assert two.returncode == 0, two.stderr
    assert "2 cores" in two.stderr.splitlines()[0]

    def test_accuracy(proc):
        line = next(ln for ln in proc.stdout.splitlines() if ln.strip().startswith("test:"))
        return float(line.split("accuracy")[1].split("%")[0])

    # The same run, split over two processes: equal up to float rounding of the sums.
    assert test_accuracy(two) == pytest.approx(test_accuracy(one), abs=0.5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("train", "--preset", "lenet5", "--epochs", "0"), "--epochs must be at least 1"),
        (("train", "--preset", "nosuchnet"), "no preset 'nosuchnet'"),
        (("train", "--preset", "lenet5", "--data", "nowhere"), "nowhere: no such file"),
        (("train", "--preset", "lenet5", "--out", "model.zip"), "must end in .cnnmodel"),
        (("evaluate", "missing.cnnmodel"), "missing.cnnmodel does not exist"),
        (("train", "--preset", "lenet5", "--processes", "0"), "--processes must be from 1 to 64"),
    ],
)
def test_bad_input_is_one_line_on_stderr(tmp_path, args, message):
    proc = cnnstudio(*args, cwd=tmp_path)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_evaluate_rejects_a_damaged_model_file(tmp_path):
    bad = tmp_path / "broken.cnnmodel"
    bad.write_bytes(b"not a zip at all")
    proc = cnnstudio("evaluate", str(bad), cwd=tmp_path)
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1 and "broken.cnnmodel" in proc.stderr


class _FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _snap(step: int, epoch_end: bool = False):
    from cnnstudio.engine.training import TrainingSnapshot

    return TrainingSnapshot(
        epoch=1, epochs=1, step=step, steps_per_epoch=4, total_steps=4, step_in_epoch=step,
        batch_loss=0.5, loss=0.5, accuracy=0.75, lr=0.001, base_lr=0.001,
        samples_per_sec=1234.0, elapsed=1.0, eta_seconds=3.0, epoch_end=epoch_end,
        done=epoch_end, val_loss=0.4 if epoch_end else None,
        val_accuracy=0.8 if epoch_end else None,
    )  # fmt: skip


def test_progress_bar_redraws_one_line_on_a_terminal():
    from cnnstudio.commands.train import ProgressBar

    out = _FakeTerminal()
    bar = ProgressBar(out, interval=0.0)
    for step in (1, 2, 3):
        bar.update(_snap(step))
    bar.update(_snap(4, epoch_end=True))
    text = out.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n") and text.count("\n") == 1
    last = text.rsplit("\r", 1)[1]
    assert "epoch 1/1" in last and "4/4" in last and "1,234 samples/s" in last
    assert "val_acc 80.0%" in last


def write_csv(path: Path, labels, side: int = 28) -> Path:
    """A pixel CSV whose class c lights up row band c, so a network can tell them apart."""
    rng = np.random.default_rng(0)
    rows = ["label," + ",".join(f"pixel{i}" for i in range(side * side))]
    for label in labels:
        img = rng.integers(0, 40, (side, side))
        img[label % side] = 250
        rows.append(f"{label}," + ",".join(map(str, img.ravel())))
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_preset_adapts_its_output_layer_to_the_class_count_and_says_so(tmp_path):
    data = write_csv(tmp_path / "three.csv", [0, 1, 2] * 30)
    out = tmp_path / "three.cnnmodel"
    proc = cnnstudio("train", "--preset", "lenet5", "--data", str(data), "--epochs", "1",
                     "--out", str(out), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[0] == "LeNet-5's output layer set to 3 classes for this dataset"
    assert "-> 3 classes" in proc.stderr
    from cnnstudio.io import load_model

    bundle = load_model(out)
    assert bundle.class_names == ["0", "1", "2"] and bundle.network().n_logits == 3


def test_a_preset_adapts_its_input_to_the_image_size(tmp_path):
    data = write_csv(tmp_path / "small.csv", [0, 1, 2, 3] * 20, side=8)
    proc = cnnstudio("train", "--preset", "mlp", "--data", str(data), "--epochs", "1",
                     cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    notes = proc.stderr.splitlines()[:2]
    assert notes == [
        "MLP baseline's input set to 1@8x8 for this dataset",
        "MLP baseline's output layer set to 4 classes for this dataset",
    ]


@pytest.mark.parametrize(
    ("side", "classes", "message"),
    [
        (28, 3, "tiny.json: the output layer 'Dense' has 10 units, but {data} has 3 classes; "
                "set its units to 3"),
        (8, 10, "tiny.json: the input layer 'Input' takes 1@28x28 images, but {data} has 1@8x8 "
                "images"),
    ],
    ids=["classes", "input"],
)  # fmt: skip
def test_an_architecture_file_that_does_not_fit_the_data_names_the_layer(
    tmp_path, side, classes, message
):
    arch = tmp_path / "tiny.json"
    arch.write_text(json.dumps(TINY_ARCH))
    data = write_csv(tmp_path / "d.csv", list(range(classes)) * 8, side=side)
    proc = cnnstudio("train", "--arch", str(arch), "--data", str(data), "--epochs", "1",
                     cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message.format(data=data) in lines[0], proc.stderr


def test_an_image_folder_is_read_at_the_networks_input_size(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / "pets" / cls).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (40, 30), dtype=np.uint8)).save(
                tmp_path / "pets" / cls / f"{i}.png"
            )
    arch = dict(TINY_ARCH, nodes=[dict(n) for n in TINY_ARCH["nodes"]])
    arch["nodes"][0] = {**arch["nodes"][0], "config": {"shape": [1, 16, 16]}}
    arch["nodes"][5] = {**arch["nodes"][5], "config": {"units": 2}}
    (tmp_path / "small.json").write_text(json.dumps(arch))
    proc = cnnstudio("train", "--arch", "small.json", "--data", "pets", "--epochs", "1",
                     cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "(1@16x16 -> 2 classes)" in proc.stderr


def test_one_class_csv_and_idx_datasets_are_refused_naming_the_file(tmp_path):
    from tests.data.conftest import write_idx

    csv = write_csv(tmp_path / "one.csv", [4] * 20)
    idx = tmp_path / "idx"
    idx.mkdir()
    write_idx(idx / "train-images-idx3-ubyte", np.zeros((20, 28, 28), np.uint8))
    write_idx(idx / "train-labels-idx1-ubyte", np.full(20, 7, np.uint8))
    for data in (csv, idx):
        proc = cnnstudio("train", "--preset", "lenet5", "--data", str(data), "--epochs", "1",
                         cwd=tmp_path)  # fmt: skip
        assert proc.returncode == 1
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith(f"cnnstudio train: {data} has only one class"), lines[0]
        assert "at least two classes" in lines[0]


def test_running_out_of_memory_is_one_line_and_keeps_the_last_good_model(
    tmp_path, monkeypatch, capsys
):
    from cnnstudio.cli import main
    from cnnstudio.engine.optimizers import Adam
    from cnnstudio.io import load_model

    real_step = Adam.step
    steps = {"n": 0}

    def step(self, parameters):
        steps["n"] += 1
        if steps["n"] == 3:
            raise MemoryError
        real_step(self, parameters)

    monkeypatch.setattr(Adam, "step", step)
    out = tmp_path / "oom.cnnmodel"
    code = main(["train", "--preset", "lenet5", "--epochs", "1", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 2 and err[0].startswith("Training LeNet-5"), err
    assert "ran out of memory at epoch 1, step 3" in err[1] and "--batch-size 32" in err[1]
    assert f"Saved the last good weights to {out}" in err[1]
    summary = load_model(out).training_summary
    assert summary["outcome"] == "out of memory" and summary["steps"] == 2


def test_the_readable_engine_trains_from_the_command_line(trained_model):
    folder, _, _ = trained_model
    proc = cnnstudio(
        "train", "--arch", str(folder / "tiny.json"), "--data", "mnist-sample", "--epochs", "1",
        "--kernels", "reference", "--out", str(folder / "readable.cnnmodel"), cwd=folder,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "readable (reference) engine" in proc.stderr
    assert (folder / "readable.cnnmodel").exists()


def test_train_help_documents_every_augmentation_and_data_source():
    from dataclasses import fields

    from cnnstudio.cli import build_parser
    from cnnstudio.data.augment import Augmentation

    def help_of(command):
        parser = build_parser()
        sub = next(a for a in parser._actions if hasattr(a, "choices") and a.choices)
        return " ".join(sub.choices[command].format_help().split())

    train = help_of("train")
    for name in [f.name for f in fields(Augmentation)] + ["jitter"]:
        assert f"{name}=" in train or f"{name} (" in train, name
    assert "crop=4,flip,jitter=0.2,cutout=8" in train and "'none'" in train
    assert "Default: none for grey (1-channel) images such as digits, crop=4,flip for colour" in (
        train
    )
    for command in ("train", "evaluate"):
        text = help_of(command)
        for source in ("mnist-sample", "cifar10-sample", "CIFAR-10's binary batches",
                       "cifar-10-binary.tar.gz", "one subfolder of images per class",
                       "IDX files", ".csv"):  # fmt: skip
            assert source in text, (command, source)


@pytest.mark.parametrize(
    ("spec", "part"),
    [
        ("crop=4,flop", "unknown augmentation 'flop' in 'crop=4,flop'"),
        ("crop=4,flip,jitter=x", "'jitter=x': jitter must be a number"),
        ("cutout=99", "'cutout=99': cutout must lie in 0-32, got 99"),
        ("rotation", "'rotation': rotation needs a value, e.g. rotation=10"),
    ],
)
def test_a_bad_augment_spec_is_one_line_naming_the_bad_part(capsys, spec, part):
    from cnnstudio.cli import main

    with pytest.raises(SystemExit) as info:
        main(["train", "--preset", "lenet5", "--augment", spec])
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("cnnstudio train: argument --augment: ") and part in lines[0]


def test_augmentation_defaults_per_kind_of_data_and_as_given(tmp_path, capsys):
    from cnnstudio.cli import main
    from cnnstudio.io import load_model

    def train(*args):
        out = tmp_path / "m.cnnmodel"
        code = main(["train", "--preset", "lenet5", "--epochs", "1", "--quiet",
                     "--val-split", "0", "--out", str(out), *args])  # fmt: skip
        err = capsys.readouterr().err.splitlines()
        assert code == 0, err
        return err, load_model(out).training_summary["settings"]["augmentation"]

    err, saved = train("--data", "cifar10-sample")
    assert "augmentation crop=4,flip" in err[-1] and saved == {"crop": 4, "flip": True}
    err, saved = train("--data", "mnist-sample")
    assert "augmentation none" in err[-1] and saved == {}
    err, saved = train("--data", "mnist-sample", "--augment", "shift=2,rotation=10,scale=0.1")
    assert "augmentation shift=2,rotation=10,scale=0.1" in err[-1]
    assert saved == {"shift": 2, "rotation": 10.0, "scale": 0.1}
    # Photos leave out stroke thickness, and say so; jitter's colours stay.
    err, saved = train("--data", "cifar10-sample", "--augment", "thickness=1,jitter=0.1")
    assert err[-2] == (
        "--augment: left out for cifar10-sample: stroke thickness is for grey (1-channel) "
        "images such as digits"
    )
    assert saved == {"brightness": 0.1, "contrast": 0.1, "saturation": 0.1}
    err, saved = train("--data", "cifar10-sample", "--augment", "none")
    assert "augmentation none" in err[-1] and saved == {}


def _run_until_training(monkeypatch, capsys, *args):
    """Run ``cnnstudio train`` up to the first step: the TrainConfig it built and its stderr."""
    import cnnstudio.engine.training as training
    from cnnstudio.cli import main

    seen = {}

    def fake_train(network, data, val, config, **kwargs):
        seen["config"] = config
        seen["transform"] = kwargs.get("transform")
        raise KeyboardInterrupt
        yield  # a generator, as train() is

    monkeypatch.setattr(training, "train", fake_train)
    code = main(["train", "--quiet", *args])
    return code, seen["config"], capsys.readouterr().err.splitlines()


def test_the_photo_preset_trains_with_the_fast_cifar_recipe(monkeypatch, capsys):
    code, config, err = _run_until_training(monkeypatch, capsys, "--preset", "photo")
    assert code == 130  # the fake run was interrupted before any step
    assert (config.optimizer, config.lr, config.momentum, config.nesterov) == (
        "sgd",
        0.2,
        0.9,
        True,
    )
    assert (config.weight_decay, config.label_smoothing, config.schedule) == (5e-4, 0.2, "onecycle")
    assert (config.batch_size, config.epochs) == (256, 9)
    assert config.processes == 2  # both cores: BatchNorm networks share batches on threads
    line = next(line for line in err if line.startswith("Training Photo ResNet"))
    assert "(3@32x32 -> 10 classes)" in line  # the photo data by default, not digits
    assert "sgd (Nesterov momentum 0.9) lr 0.2 onecycle, weight decay 0.0005" in line
    assert "label smoothing 0.2, batch 256, 9 epoch(s), normalised per channel" in line
    assert "augmentation crop=4,flip" in line and "(preset defaults: --optimizer," in line


def test_explicit_options_override_the_preset_defaults(monkeypatch, capsys):
    _, config, err = _run_until_training(
        monkeypatch, capsys, "--preset", "photo", "--epochs", "3", "--batch-size", "128",
        "--lr", "0.1", "--no-nesterov", "--weight-decay", "0", "--label-smoothing", "0.1",
        "--schedule", "cosine", "--no-normalize",
    )  # fmt: skip
    assert (config.epochs, config.batch_size, config.lr, config.nesterov) == (3, 128, 0.1, False)
    assert (config.weight_decay, config.label_smoothing, config.schedule) == (0.0, 0.1, "cosine")
    line = next(line for line in err if line.startswith("Training Photo ResNet"))
    assert "normalised" not in line
    assert "(preset defaults: --optimizer, --data, --val-split, --processes, --momentum)" in line
    # Another optimizer keeps its own learning rate; the preset's SGD settings do not apply.
    _, config, _ = _run_until_training(
        monkeypatch, capsys, "--preset", "photo", "--optimizer", "adam", "--epochs", "1"
    )
    assert (config.optimizer, config.lr, config.nesterov) == ("adam", 3e-3, False)
    assert config.label_smoothing == 0.2
    # Other presets keep today's defaults.
    _, config, _ = _run_until_training(monkeypatch, capsys, "--preset", "lenet5")
    assert (config.optimizer, config.lr, config.schedule, config.epochs) == (
        "adam",
        3e-3,
        "cosine",
        5,
    )
    assert (config.nesterov, config.weight_decay, config.label_smoothing) == (False, 0.0, 0.0)


def test_recipe_options_reach_the_training_settings(monkeypatch, capsys):
    _, config, _ = _run_until_training(
        monkeypatch, capsys, "--preset", "lenet5", "--optimizer", "sgd", "--nesterov",
        "--weight-decay", "1e-4", "--label-smoothing", "0.05", "--schedule", "onecycle",
    )  # fmt: skip
    assert (config.nesterov, config.weight_decay, config.label_smoothing) == (True, 1e-4, 0.05)
    assert config.schedule == "onecycle" and config.make_optimizer().nesterov is True
    assert config.make_optimizer().weight_decay == 1e-4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--weight-decay", "-1"), "--weight-decay must be a number >= 0"),
        (("--weight-decay", "nan"), "--weight-decay must be a number >= 0"),
        (("--label-smoothing", "1"), "--label-smoothing must be at least 0 and below 1"),
        (("--label-smoothing", "-0.1"), "--label-smoothing must be at least 0 and below 1"),
        (("--nesterov",), "--nesterov is for --optimizer sgd only, not adam"),
        (("--optimizer", "sgd", "--nesterov", "--momentum", "0"), "--nesterov needs a --momentum"),
    ],
)
def test_bad_recipe_options_are_one_line_naming_the_option(capsys, args, message):
    from cnnstudio.cli import main

    code = main(["train", "--preset", "lenet5", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and message in err[0], err


def test_train_help_documents_the_recipe_options_and_preset_defaults():
    from cnnstudio.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if hasattr(a, "choices") and a.choices)
    text = " ".join(sub.choices["train"].format_help().split())
    for option in ("--weight-decay X", "--nesterov, --no-nesterov", "--label-smoothing X",
                   "onecycle", "--normalize, --no-normalize"):  # fmt: skip
        assert option in text, option
    assert "--preset photo or resnet_photo: --data cifar10-sample --epochs 9" in text
    assert "--schedule onecycle --label-smoothing 0.2 --normalize" in text
