"""Files that are not what they claim: FIFOs, devices, deep JSON, modes, symlinks, leftovers.

Each test goes through the public loaders and savers, as the command line and the GUI do.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cnnstudio.io import (
    ModelFileError,
    ProjectData,
    file_kind,
    load_model,
    load_project,
    load_trained_model,
    save_model,
    save_project,
    write_architecture,
)
from cnnstudio.io import read_architecture as load_arch_dict
from cnnstudio.model import ArchitectureFileError, load_architecture, load_preset, save_architecture
from tests.io import archs
from tests.io.conftest import make_bundle, rewrite_zip

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_hang() -> Iterator[None]:
    """Interrupt the test after 5 s: a loader blocked in open() fails instead of hanging."""

    class Blocked(BaseException):  # not an OSError, which loaders would catch
        pass

    def stop(signum: int, frame: object) -> None:
        raise Blocked("blocked for 5 s")

    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, 5.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


LOADERS: dict[str, tuple[Callable[[Path], object], type[Exception]]] = {
    "model": (load_model, ModelFileError),
    "project": (load_project, ModelFileError),
    "trained model": (load_trained_model, ModelFileError),
    "architecture dict": (load_arch_dict, ModelFileError),
    "architecture": (load_architecture, ArchitectureFileError),
}


@pytest.mark.parametrize("which", sorted(LOADERS))
def test_a_fifo_is_refused_at_once_naming_it(tmp_path, no_hang, which):
    load, error = LOADERS[which]
    fifo = tmp_path / "pipe.cnnmodel"
    os.mkfifo(fifo)
    with pytest.raises(error, match="pipe") as info:
        load(fifo)
    assert str(fifo) in str(info.value)
    assert "not a regular file" in str(info.value)


def test_file_kind_of_a_fifo_is_unknown_at_once(tmp_path, no_hang):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    assert file_kind(fifo) == "unknown"


def test_dev_zero_is_refused_with_bounded_memory():
    # A child with a 1 GB address-space cap: before the fix, reading /dev/zero ran it
    # out of memory (MemoryError) instead of refusing it.
    script = r"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from cnnstudio.io import ModelFileError, file_kind, load_model, load_project
from cnnstudio.io import read_architecture as load_arch_dict
from cnnstudio.model import ArchitectureFileError, load_architecture
print(file_kind("/dev/zero"))
for load in (load_architecture, load_arch_dict, load_model, load_project):
    try:
        load("/dev/zero")
    except (ModelFileError, ArchitectureFileError) as exc:
        print(type(exc).__name__, exc)
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "unknown"
    assert len(lines) == 5
    for line in lines[1:]:
        assert line.split()[0] in ("ModelFileError", "ArchitectureFileError")
        assert "/dev/zero" in line and "is a device, not a regular file" in line


# -- JSON that breaks parsers ---------------------------------------------------------
DEEP = "[" * 50_000 + "]" * 50_000
BIG_INT = '{"version": ' + "9" * 5000 + ', "nodes": []}'


@pytest.mark.parametrize("text", [DEEP, BIG_INT], ids=["deep", "big-int"])
def test_hostile_architecture_json_is_an_architecture_error(tmp_path, text):
    path = tmp_path / "net.json"
    path.write_text(text)
    with pytest.raises(ArchitectureFileError) as info:
        load_architecture(path)
    assert str(info.value).startswith(str(path))
    with pytest.raises(ModelFileError, match=r"net\.json"):
        load_arch_dict(path)


@pytest.mark.parametrize("text", [DEEP, BIG_INT], ids=["deep", "big-int"])
def test_hostile_json_members_are_model_file_errors(tmp_path, model_path, text):
    bad = rewrite_zip(model_path, tmp_path / "bad.cnnmodel", {"meta.json": text.encode()})
    with pytest.raises(ModelFileError, match=r"bad\.cnnmodel: is damaged: meta\.json is"):
        load_model(bad)
    good = save_project(tmp_path / "p.cnnstudio", ProjectData(architecture=archs.lenet()))
    bad = rewrite_zip(good, tmp_path / "bad.cnnstudio", {"project.json": text.encode()})
    with pytest.raises(ModelFileError, match=r"bad\.cnnstudio: is damaged: project\.json is"):
        load_project(bad)


def test_deep_nesting_is_named_as_such(tmp_path):
    path = tmp_path / "net.json"
    path.write_text(DEEP)
    with pytest.raises(ArchitectureFileError, match="nested too deeply"):
        load_architecture(path)


def test_a_project_too_deep_to_read_back_is_not_saved(tmp_path):
    deep: list = []
    for _ in range(200):
        deep = [deep]
    project = ProjectData(architecture=archs.lenet(), ui_state={"x": deep})
    with pytest.raises(ModelFileError, match="nested too deeply"):
        save_project(tmp_path / "p.cnnstudio", project)
    assert not list(tmp_path.iterdir())


# -- saving: permissions, symlinks, failures -----------------------------------------
def _savers(tmp_path: Path) -> dict[str, Callable[[Path], object]]:
    bundle = make_bundle()
    graph = load_preset("mlp")
    return {
        "model": lambda p: save_model(p, bundle),
        "project": lambda p: save_project(p, ProjectData(architecture=archs.lenet())),
        "architecture": lambda p: save_architecture(graph, p),
        "architecture dict": lambda p: write_architecture(archs.lenet(), p),
    }


@pytest.mark.parametrize("which", ["model", "project", "architecture", "architecture dict"])
def test_saving_keeps_a_private_file_private(tmp_path, which):
    save = _savers(tmp_path)[which]
    target = tmp_path / "mine.file"
    save(target)
    os.chmod(target, 0o600)
    save(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


@pytest.mark.parametrize("which", ["model", "architecture"])
def test_a_new_file_gets_the_usual_permissions(tmp_path, which):
    old = os.umask(0o022)
    try:
        _savers(tmp_path)[which](tmp_path / "new.file")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.file").stat().st_mode) == 0o644


@pytest.mark.parametrize("which", ["model", "project", "architecture"])
def test_saving_through_a_symlink_writes_its_target_and_keeps_the_link(tmp_path, which):
    save = _savers(tmp_path)[which]
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "file.bin"
    real.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(real)
    save(link)
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert real.read_bytes() != b"old"
    assert not [p for p in tmp_path.rglob(".*") if p.name.endswith(".tmp")]


def test_a_failed_save_keeps_the_old_file_byte_for_byte(tmp_path, monkeypatch):
    target = save_model(tmp_path / "m.cnnmodel", make_bundle())
    before = target.read_bytes()
    real_fsync = os.fsync

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(ModelFileError, match="No space left on device"):
        save_model(target, make_bundle(seed=9))
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.cnnmodel"]


# -- temporaries left by killed saves --------------------------------------------------
def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _leftovers(folder: Path, name: str) -> dict[str, Path]:
    found = {
        "old hex": folder / f".{name}.0badc0de.tmp",  # zipfmt's former names
        "old mkstemp": folder / f".{name}.k2_x9qzt.tmp",  # tempfile.mkstemp's
        "dead writer": folder / f".{name}.{_dead_pid()}.0123abcd.tmp",
        "live writer": folder / f".{name}.{os.getpid()}.4567cdef.tmp",
        "not ours": folder / f".{name}.backup.tmp",
    }
    for p in found.values():
        p.write_bytes(b"half a file")
    return found


@pytest.mark.parametrize("action", ["save", "open"])
def test_stale_temporaries_are_swept_on_save_and_open(tmp_path, action):
    target = save_model(tmp_path / "digits.cnnmodel", make_bundle())
    left = _leftovers(tmp_path, target.name)
    if action == "save":
        save_model(target, make_bundle(seed=5))
    else:
        load_model(target)
    remaining = {k for k, p in left.items() if p.exists()}
    # A save in progress (its writer alive) and files we did not write are kept.
    assert remaining == {"live writer", "not ours"}


def test_opening_an_architecture_sweeps_its_temporaries(tmp_path):
    path = save_architecture(load_preset("mlp"), tmp_path / "net.json")
    left = _leftovers(tmp_path, path.name)
    load_architecture(path)
    assert {k for k, p in left.items() if p.exists()} == {"live writer", "not ours"}


# -- names that are not valid UTF-8 ----------------------------------------------------
def test_a_class_name_that_is_not_utf8_is_a_clear_error_on_save(tmp_path):
    bundle = make_bundle()
    bundle.class_names[3] = os.fsdecode(b"caf\xe9")  # a folder named in Latin-1
    target = tmp_path / "m.cnnmodel"
    with pytest.raises(
        ModelFileError, match="class name 'caf\\\\udce9' is not valid UTF-8"
    ) as info:
        save_model(target, bundle)
    assert "rename it" in str(info.value)
    project = ProjectData(architecture=archs.lenet(), class_names=bundle.class_names)
    with pytest.raises(ModelFileError, match="is not valid UTF-8"):
        save_project(tmp_path / "p.cnnstudio", project)
    assert not list(tmp_path.iterdir())


def test_names_of_files_that_are_not_utf8_save_and_open(tmp_path):
    # Legal on Linux: a model saved under such a name, from a dataset folder named so,
    # is written and read back with the very same names.
    target = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.cnnmodel"))
    bundle = make_bundle()
    bundle.training_summary = {"dataset": os.fsdecode(b"donn\xe9es")}
    save_model(target, bundle)
    assert load_model(target).training_summary["dataset"] == os.fsdecode(b"donn\xe9es")
    project = ProjectData(architecture=archs.lenet(), dataset={"path": str(target)})
    save_project(target.with_suffix(".cnnstudio"), project)
    assert load_project(target.with_suffix(".cnnstudio")).dataset == {"path": str(target)}
