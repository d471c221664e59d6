"""Two-process training under signals: however the processes end (the terminal closed,
the process group killed, Ctrl+C while the helpers start), no shared-memory block stays
behind in /dev/shm, no helper prints a traceback, and nothing waits for a dead or stuck
helper for good.

Each case runs a real training script in its own session (its own process group, so
signals reach only its processes). The script reports the blocks it creates; only those
are checked, as other test runs may create blocks at the same time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cnnstudio.engine import Dense, Flatten, Network, Softmax

SHM = Path("/dev/shm")
needs_shm = pytest.mark.skipif(not SHM.is_dir(), reason="needs POSIX shared memory in /dev/shm")

SCRIPT = r"""
import os, signal, sys, time, warnings
from multiprocessing import shared_memory

real_init = shared_memory.SharedMemory.__init__

def init(self, name=None, create=False, size=0):
    real_init(self, name, create, size)
    if create:
        print("BLOCK", self.name.lstrip("/"), flush=True)

shared_memory.SharedMemory.__init__ = init

import numpy as np
from cnnstudio.engine import Dense, Flatten, Network, ReLU, Softmax
from cnnstudio.engine.parallel import DataParallel

mode = sys.argv[1]
if mode == "interrupts":
    # Ctrl+C pressed over and over while the helper starts: this process ignores all
    # but the last, which stops it as it stops the command line (exit code 130).
    count = 0

    def on_sigint(signum, frame):
        global count
        count += 1
        if count == 30:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
rng = np.random.default_rng(0)
x = rng.random((64, 1, 8, 8), dtype=np.float32)
y = rng.integers(0, 10, 64)
net = None
try:
    net = DataParallel(
        Network([Flatten(), Dense(32), ReLU(), Dense(10), Softmax()], input_shape=(1, 8, 8)), 2
    )
    if mode == "start":
        print("READY", flush=True)  # the helper is still starting
        time.sleep(60)
    if mode == "interrupts":
        print("READY", flush=True)
    warnings.simplefilter("error")  # a lost helper (a RuntimeWarning) ends the script
    net.train_step(x[:32], y[:32])
    net.train_step(x, y)  # a larger batch: a new io block
    if mode != "interrupts":
        print("READY", flush=True)
    while True:
        net.train_step(x, y)
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
    sys.exit(130)
finally:
    if net is not None:
        net.close()
"""


def run_script(mode: str) -> tuple[subprocess.Popen[str], list[str]]:
    """Start the script in a new session; wait until it says READY. Returns the process
    and the names of the blocks it has made."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", SCRIPT, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    assert proc.stdout is not None
    names = []
    for line in proc.stdout:
        if line.startswith("BLOCK "):
            names.append(line.split()[1])
        elif line.strip() == "READY":
            return proc, names
    proc.wait(30)
    raise AssertionError(f"the training script stopped early: {proc.communicate()[1]}")


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Wait until the script and every process it started (helpers, the resource
    tracker: all hold its output pipes) have ended; their remaining output."""
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"the processes did not end: {err}") from None
    return out, err


def left_behind(names: list[str]) -> list[str]:
    """Blocks still in /dev/shm (removed here, so a failure leaves nothing either)."""
    left = [name for name in names if (SHM / name).exists()]
    for name in left:
        (SHM / name).unlink(missing_ok=True)
    return left


@needs_shm
@pytest.mark.parametrize(
    ("sig", "group", "mode"),
    [
        (signal.SIGKILL, True, "train"),  # kill -9 of the whole process group
        (signal.SIGKILL, True, "start"),  # ... while the helper is still starting
        (signal.SIGHUP, True, "train"),  # the terminal closed
        (signal.SIGHUP, False, "train"),
        (signal.SIGTERM, False, "train"),
    ],
    ids=["kill-group", "kill-group-at-start", "hangup-group", "hangup", "terminate"],
)
def test_no_shared_memory_is_left_however_the_processes_end(sig, group, mode):
    proc, names = run_script(mode)
    try:
        assert len(names) >= (2 if mode == "start" else 3)  # params, grads (+ io)
        (os.killpg if group else os.kill)(proc.pid, sig)
        _, err = finish(proc)
    finally:
        left = left_behind(names)
    assert proc.returncode == -sig
    assert not left, f"shared memory left in {SHM}: {left}"
    # Python's resource tracker had nothing to clean up or warn about either.
    assert "Traceback" not in err and "leaked" not in err, err


@needs_shm
def test_ctrl_c_while_the_helper_starts_prints_no_traceback():
    proc, names = run_script("interrupts")
    try:
        # Ctrl+C reaches every process of the foreground group. The helper, whatever it
        # is doing while it starts (Python's start-up, importing NumPy, building the
        # network), leaves it to the main process: it neither dies nor prints anything.
        for _ in range(30):
            os.killpg(proc.pid, signal.SIGINT)
            time.sleep(0.02)
        out, err = finish(proc)
    finally:
        left = left_behind(names)
    assert "INTERRUPTED" in out
    assert proc.returncode == 130
    assert "Traceback" not in err, err
    assert not left, f"shared memory left in {SHM}: {left}"


@pytest.mark.parametrize("case", ["step", "new io block"])
def test_a_helper_that_stops_answering_is_given_up(monkeypatch, case):
    # A suspended (kill -STOP) or stuck helper is alive, so its pipe stays open: without a
    # deadline the main process would wait for good. After it, the step is done here.
    from cnnstudio.engine import parallel

    monkeypatch.setattr(parallel, "HELPER_TIMEOUT", 1.0)
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 1, 4, 4), dtype=np.float32), np.arange(64) % 10
    n = 64 if case == "new io block" else 32  # 64: the helper must first map a larger block

    def net() -> Network:
        return Network([Flatten(), Dense(10), Softmax()], input_shape=(1, 4, 4), seed=1)

    one, two = net(), parallel.DataParallel(net(), 2)
    try:
        one.train_step(x[:32], y[:32])
        two.train_step(x[:32], y[:32])  # the helper is up
        helper = two._shards.helpers[0]
        os.kill(helper.proc.pid, signal.SIGSTOP)
        start = time.monotonic()
        with pytest.warns(RuntimeWarning, match="did not answer within 1 s"):
            loss, _ = two.train_step(x[:n], y[:n])
        assert loss == pytest.approx(one.train_step(x[:n], y[:n])[0], rel=1e-5)
        assert time.monotonic() - start < 10
        assert two.processes == 1 and not helper.proc.is_alive()  # stopped for good
    finally:
        two.close()
