"""Killing CNN Studio while it saves never costs a file, and the next start leaves no debris.

A forked child saves a model and writes the autosave in a loop, alternating two versions
of each; it is killed with SIGKILL at seeded random moments. After each kill the model
must load as one of the two versions, the autosave's note must name the project it was
written with, and once the files have been opened again (what the next start does) no
temporary file may remain.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from cnnstudio.io import (
    ProjectData,
    load_model,
    read_recovery,
    recovery_info,
    recovery_path,
    save_model,
    write_recovery,
)
from tests.io import archs
from tests.io.conftest import make_bundle

KILLS = 30
#: Longest wait before a kill: saving the model and the autosave takes about 25 ms.
MAX_DELAY_S = 0.08

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")


def _temporaries(*folders: Path) -> list[str]:
    return sorted(p.name for folder in folders for p in folder.iterdir() if p.name.endswith(".tmp"))


def _save_forever(target: Path, config: Path, versions: list, k: int) -> None:
    while True:
        bundle, project, source = versions[k % 2]
        save_model(target, bundle)
        write_recovery(config, project, source=source)
        k += 1


def test_kills_during_saves_keep_old_or_new_and_the_next_start_sweeps(tmp_path):
    rng = random.Random(18)
    target = tmp_path / "models" / "digits.cnnmodel"
    target.parent.mkdir()
    config = tmp_path / "config"
    versions = []
    for v in (0, 1):
        bundle = make_bundle(seed=v)
        bundle.training_summary = {"version": v}
        project = ProjectData(architecture=archs.lenet(), ui_state={"version": v})
        versions.append((bundle, project, tmp_path / f"project{v}.cnnstudio"))
    save_model(target, versions[0][0])
    write_recovery(config, versions[0][1], source=versions[0][2])
    # Each child starts with the other version, so a completed save changes the file.

    started = time.monotonic()
    interrupted = 0  # kills that left a temporary behind (the case under test)
    seen = set()
    for kill in range(KILLS):
        pid = os.fork()
        if pid == 0:  # the child: save until killed, never return into pytest
            try:
                _save_forever(target, config, versions, kill + 1)
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0.0, MAX_DELAY_S))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)  # reaped: its pid no longer runs

        interrupted += bool(_temporaries(target.parent, recovery_path(config).parent))
        # The next start: open the model and the autosave.
        version = load_model(target).training_summary["version"]
        assert version in (0, 1)
        seen.add(version)
        info = recovery_info(config)
        assert info is not None and info.problem is None
        restored = read_recovery(config).ui_state["version"]
        assert info.source == versions[restored][2].resolve(), "the note names another project"
        assert _temporaries(target.parent, recovery_path(config).parent) == []

    assert time.monotonic() - started < 30
    assert interrupted > 0, "no kill landed during a save; the test proved nothing"
    assert seen == {0, 1}
