"""``cnnstudio train`` and ``cnnstudio evaluate`` end to end, as a user runs them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

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
    assert "2 processes" in two.stderr.splitlines()[0]

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
