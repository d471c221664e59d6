"""The command line under mutated files and arguments, and two-process training killed
mid-run (see harness.py and cli_target.py)."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from tests.fuzz.cli_target import cli_target
from tests.fuzz.harness import campaign, leaked_shm, run_command, shm_entries, still_running
from tests.fuzz.targets import corpus, resolve_env_tries

#: Mutated command lines in the fast subset, after the corpus; split over two tests.
FAST_TRIES = 14
PARTS = 2


# Every try is bounded by its own timeout; a few hangs must not cut the summary short.
@pytest.mark.timeout(300)
@pytest.mark.parametrize("part", range(PARTS))
def test_fast(part, tmp_path):
    target = cli_target()
    seeds = corpus(target, heavy=False)
    stats = campaign(target, len(seeds) + FAST_TRIES, tmp_path, "fast", seeds, (part, PARTS))
    stats.assert_clean()


@pytest.mark.fuzz
@pytest.mark.timeout(0)
@pytest.mark.parametrize("part", range(PARTS))
def test_campaign(part, tmp_path):
    target = cli_target()
    seeds = corpus(target, heavy=True)
    tries = len(seeds) + max(20, resolve_env_tries(1500) // 10)
    campaign(target, tries, tmp_path, "campaign", seeds, (part, PARTS)).assert_clean()


def _train_until_first_epoch(tmp_path: Path, sig: int, delay: float) -> tuple[str, Path, list[str]]:
    """Two-process training on the built-in sample, sent ``sig`` (to its whole process
    group, as a terminal does) ``delay`` s after its first epoch line; returns its stderr,
    its --out path and the /dev/shm entries it left."""
    work = tmp_path / f"run-{signal.Signals(sig).name}"
    work.mkdir(parents=True)
    out = work / "out.cnnmodel"
    argv = ["train", "--preset", "lenet5", "--data", "mnist-sample", "--epochs", "40"]
    argv += ["--processes", "2", "--out", str(out)]

    def interrupt(proc) -> None:
        deadline = time.monotonic() + 90
        err = work / "stderr.txt"
        while time.monotonic() < deadline and still_running(proc.pid):
            if re.search(r"^epoch ", err.read_text(errors="replace"), re.MULTILINE):
                break
            time.sleep(0.05)
        time.sleep(delay)
        os.killpg(proc.pid, sig)

    before = shm_entries()
    outcome, _stdout, stderr = run_command(argv, timeout=150, cwd=work, on_start=interrupt)
    assert outcome.kind != "hang", f"still running 150 s after {signal.Signals(sig).name}"
    assert "Traceback" not in stderr, stderr[-2000:]
    assert not outcome.problems, outcome.problems
    return stderr, out, leaked_shm(before, settle=2.0)


def _saved_model(stderr: str, out: Path) -> Path | None:
    if out.is_file():
        return out
    for word in re.findall(r"\S+\.cnnmodel", stderr):
        p = Path(word.strip("'\".,;:()"))
        if p.is_file():
            return p
    return None


@pytest.mark.timeout(200)
def test_ctrl_c_during_two_process_training_keeps_the_model_and_no_shared_memory(tmp_path):
    stderr, out, leaked = _train_until_first_epoch(tmp_path, signal.SIGINT, 0.3)
    assert not leaked, f"left in /dev/shm after Ctrl+C: {leaked}"
    saved = _saved_model(stderr, out)
    assert saved is not None, f"Ctrl+C after an epoch wrote no model; stderr:\n{stderr[-1500:]}"
    from cnnstudio.io import load_model

    load_model(saved)


@pytest.mark.timeout(200)
def test_killed_two_process_training_leaves_no_shared_memory(tmp_path):
    _stderr, _out, leaked = _train_until_first_epoch(tmp_path, signal.SIGKILL, 0.3)
    assert not leaked, f"left in /dev/shm after the process group was killed: {leaked}"


@pytest.mark.fuzz
@pytest.mark.timeout(0)
def test_campaign_interrupted_training(tmp_path):
    """Every way a terminal ends a run, at seeded moments: no traceback, no segment left."""
    rng = np.random.default_rng(61)
    failures = []
    runs = max(6, resolve_env_tries(1500) // 100)
    for i in range(runs):
        sig = [signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGKILL][i % 4]
        delay = float(rng.uniform(0, 2))
        try:
            stderr, out, leaked = _train_until_first_epoch(tmp_path / str(i), sig, delay)
        except AssertionError as exc:
            failures.append(f"run {i} {sig.name} after {delay:.2f} s: {exc}")
            continue
        if leaked:
            failures.append(f"run {i} {sig.name} after {delay:.2f} s: left {leaked}")
        if sig == signal.SIGINT and _saved_model(stderr, out) is None:
            failures.append(f"run {i} SIGINT after {delay:.2f} s: no model written")
    assert not failures, "\n".join(failures)
