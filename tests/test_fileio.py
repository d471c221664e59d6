"""cnnstudio.fileio's JSON and atomic-writing helpers at their edges."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cnnstudio.fileio import (
    MAX_JSON_DEPTH,
    JsonError,
    UnsafeFileError,
    dump_json,
    parse_json,
    sweep_temporaries,
    write_atomic,
)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_json_nesting_is_bounded_at_the_documented_depth():
    assert parse_json(nested(MAX_JSON_DEPTH)) is not None
    with pytest.raises(JsonError, match="nested too deeply"):
        parse_json(nested(MAX_JSON_DEPTH + 1))
    with pytest.raises(JsonError, match="nested too deeply"):
        parse_json(nested(200_000))  # far past the recursion limit
    deep: list = []
    for _ in range(MAX_JSON_DEPTH + 1):
        deep = [deep]
    with pytest.raises(JsonError, match="nested too deeply"):
        dump_json(deep)  # never write what cannot be read back


def test_json_errors_are_value_errors_with_a_reason():
    for data, reason in [
        (b"\xff", "not UTF-8 text"),
        ('{"a": ', "not valid JSON (line 1, column 7"),
        ("1" * 5000, "an integer of more than 4,300 digits"),
    ]:
        with pytest.raises(JsonError) as info:
            parse_json(data)
        assert isinstance(info.value, ValueError) and reason in info.value.reason
    with pytest.raises(JsonError, match="not plain JSON data"):
        dump_json({"x": object()})


def test_undecodable_names_round_trip_through_json():
    name = os.fsdecode(b"caf\xe9")  # a lone surrogate
    data = dump_json({"name": name, "ok": "café"})
    assert data.isascii()
    assert parse_json(data) == {"name": name, "ok": "café"}
    assert parse_json(dump_json({"ok": "café"})) == {"ok": "café"}


def test_an_interrupted_write_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def interrupted(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, interrupted)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_targets_that_are_not_regular_files_are_refused(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(UnsafeFileError, match="pipe"):
        write_atomic(fifo, lambda f: f.write(b"x"))
    with pytest.raises(UnsafeFileError, match="folder"):
        write_atomic(tmp_path, lambda f: f.write(b"x"))
    with pytest.raises(UnsafeFileError, match="does not exist"):
        write_atomic(tmp_path / "no" / "f", lambda f: f.write(b"x"))
    assert fifo.exists() and not fifo.is_file(), "the pipe was not replaced"


def test_long_names_get_temporaries_that_fit_and_are_swept(tmp_path):
    target = tmp_path / ("n" * 250)
    assert write_atomic(target, lambda f: f.write(b"x")) == target
    for pid in ("999999999", "9999999999"):  # no such process; no such pid at all
        (tmp_path / f".{'n' * 160}.{pid}.0123abcd.tmp").write_bytes(b"")
    assert sweep_temporaries(target) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_a_dangling_symlink_is_written_through(tmp_path):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "later.json")
    written = write_atomic(link, lambda f: f.write(b"{}"))
    assert written == Path(os.path.realpath(link))
    assert link.is_symlink() and link.read_bytes() == b"{}"


def test_a_day_old_temporary_is_stale_even_if_its_pid_runs_again(tmp_path):
    target = tmp_path / "f.bin"
    old = tmp_path / f".f.bin.{os.getpid()}.0123abcd.tmp"  # a pid reused since
    old.write_bytes(b"")
    os.utime(old, (0, 0))
    fresh = tmp_path / f".f.bin.{os.getpid()}.4567cdef.tmp"  # a save in progress
    fresh.write_bytes(b"")
    assert sweep_temporaries(target) == 1
    assert not old.exists() and fresh.exists()
