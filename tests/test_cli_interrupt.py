"""``cnnstudio train`` never throws finished training away: Ctrl+C, SIGTERM, closing the
terminal (SIGHUP) and divergence save the last good model, and an unwritable --out is
refused before any training. Real subprocesses, signalled like a terminal does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cnnstudio.io import load_model

ROOT = Path(__file__).resolve().parents[1]


def _child_setup() -> None:
    # A shell starts background jobs with SIGINT ignored, and Python keeps an ignored
    # signal ignored: give the command the dispositions it gets from a terminal.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def start_train(cwd: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    env.pop("QT_QPA_PLATFORM", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnstudio", "train", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_child_setup,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    watchdog = threading.Timer(180, proc.kill)  # a hang fails the test instead of blocking
    watchdog.daemon = True
    watchdog.start()
    return proc


def read_until(proc: subprocess.Popen, prefix: str) -> list[str]:
    """stderr lines up to and including the first that starts with ``prefix``."""
    lines = []
    while True:
        line = proc.stderr.readline()
        assert line, f"the command ended before printing {prefix!r}: {''.join(lines)}"
        lines.append(line)
        if line.startswith(prefix):
            return lines


def signal_and_finish(proc: subprocess.Popen, sig: int, seen: list[str]) -> tuple[int, str]:
    os.killpg(proc.pid, sig)  # the whole group, helper processes included, as a terminal does
    _, rest = proc.communicate(timeout=120)
    return proc.returncode, "".join(seen) + rest


def messages(stderr: str) -> list[str]:
    """stderr without the start line and the progress lines."""
    return [
        ln
        for ln in stderr.splitlines()
        if ln.strip() and not ln.startswith(("epoch ", "Training "))
    ]


@pytest.mark.parametrize(
    ("sig", "processes"),
    [(signal.SIGINT, "1"), (signal.SIGHUP, "1"), (signal.SIGTERM, "1"), (signal.SIGINT, "2")],
    ids=["ctrl-c", "terminal-closed", "sigterm", "ctrl-c-two-processes"],
)
def test_a_stop_signal_saves_the_last_good_model_and_says_where(tmp_path, sig, processes):
    out = tmp_path / "stopped.cnnmodel"
    proc = start_train(
        tmp_path, "--preset", "lenet5", "--epochs", "500", "--processes", processes,
        "--out", str(out),
    )  # fmt: skip
    seen = read_until(proc, "epoch 1/500")
    code, stderr = signal_and_finish(proc, sig, seen)
    assert code == 128 + sig, stderr
    assert "Traceback" not in stderr and "Warning" not in stderr, stderr
    said = messages(stderr)
    assert len(said) == 1, stderr
    assert said[0].startswith("cnnstudio train: interrupted by "), said
    assert f"saved the model of the last completed step to {out}" in said[0]
    bundle = load_model(out)
    summary = bundle.training_summary
    assert summary["outcome"] == "interrupted" and summary["steps"] >= 57  # one full epoch
    assert len(bundle.class_names) == 10


def test_ctrl_c_without_out_says_the_model_was_not_saved_and_how_to_keep_it(tmp_path):
    proc = start_train(tmp_path, "--preset", "lenet5", "--epochs", "500")
    seen = read_until(proc, "epoch 1/500")
    code, stderr = signal_and_finish(proc, signal.SIGINT, seen)
    assert code == 130
    said = messages(stderr)
    assert len(said) == 1 and "Traceback" not in stderr, stderr
    assert "the model was not saved" in said[0] and "--out MODEL.cnnmodel" in said[0]
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_the_helper_process_starts_is_one_line(tmp_path):
    out = tmp_path / "early.cnnmodel"
    proc = start_train(
        tmp_path, "--preset", "lenet5", "--epochs", "500", "--processes", "2",
        "--out", str(out),
    )  # fmt: skip
    seen = read_until(proc, "Training ")  # the helper process starts right after this line
    code, stderr = signal_and_finish(proc, signal.SIGINT, seen)
    assert code == 130
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    said = messages(stderr)
    assert len(said) == 1 and said[0].startswith("cnnstudio train: interrupted by Ctrl+C"), said
    if out.exists():  # a step may have finished before the signal arrived
        load_model(out)
        assert str(out) in said[0]
    else:
        assert "nothing to save" in said[0]


def test_divergence_saves_the_last_good_weights_and_says_so(tmp_path):
    out = tmp_path / "diverged.cnnmodel"
    proc = start_train(
        tmp_path, "--preset", "lenet5", "--epochs", "2", "--lr", "1e6", "--out", str(out)
    )
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1
    said = messages(stderr)
    assert len(said) == 1 and "Traceback" not in stderr, stderr
    assert "Training diverged" in said[0]
    assert f"Saved the last good weights to {out}" in said[0]
    bundle = load_model(out)
    assert bundle.training_summary["outcome"] == "diverged"
    assert bundle.training_summary["steps"] >= 1


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: (d / "f.txt").write_text("x") and d / "f.txt" / "m.cnnmodel", "is not a folder"),
        (lambda d: (d / "taken.cnnmodel").mkdir() or d / "taken.cnnmodel", "is a folder"),
    ],
    ids=["folder-is-a-file", "out-is-a-folder"],
)  # fmt: skip
def test_an_unusable_out_is_refused_before_training(tmp_path, make, message):
    out = make(tmp_path)
    proc = start_train(tmp_path, "--preset", "lenet5", "--epochs", "1", "--out", str(out))
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr  # no "Training ..." line: nothing was loaded or trained
    assert lines[0].startswith(f"cnnstudio train: --out {out}") and message in lines[0]


def test_an_out_folder_that_cannot_be_written_is_refused(tmp_path, monkeypatch):
    # Permissions do not stop root, so the refusal of a real write is simulated.
    from cnnstudio import cli_errors
    from cnnstudio.cli_errors import CLIError, check_output_file

    def refuse(**kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cli_errors.tempfile, "mkstemp", refuse)
    with pytest.raises(CLIError, match=rf"cannot write in the folder {tmp_path} \(Permission"):
        check_output_file(tmp_path / "m.cnnmodel", "--out", ".cnnmodel")
