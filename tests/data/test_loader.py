from __future__ import annotations

import os

import numpy as np
import pytest

from cnnstudio.data import DatasetError, describe_spec, load_dataset

from .conftest import digit_like, run_capped, write_idx, write_png


def test_unknown_name_suggests_the_builtin(tmp_path):
    with pytest.raises(DatasetError, match="did you mean 'mnist-sample'"):
        load_dataset("mnist-smaple")


def test_folder_without_anything_usable(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(DatasetError, match="no IDX files and no class subfolders"):
        load_dataset(tmp_path)


def test_unreadable_file_kind(tmp_path):
    path = tmp_path / "weights.h5"
    path.write_bytes(b"\0" * 10)
    with pytest.raises(DatasetError, match=r"\.csv") as err:
        load_dataset(path)
    assert "weights.h5" in str(err.value)


def test_idx_images_file_given_directly(tmp_path, rng):
    images = digit_like(rng, 6)
    ip = write_idx(tmp_path / "train-images-idx3-ubyte", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([0, 1, 0, 1, 0, 1]))
    assert describe_spec(ip) == "idx"
    split = load_dataset(ip)
    assert len(split.train) == 6 and split.test is None


def test_builtin_converted_for_an_rgb_model():
    split = load_dataset("mnist-sample", input_size=(32, 32), color="RGB")
    assert split.train.input_shape == (3, 32, 32)
    assert split.test is not None and split.test.input_shape == (3, 32, 32)
    assert len(split.test) == 1000


def test_fifos_and_devices_are_refused_by_what_they_are(tmp_path):
    for name in ("data.csv", "train-images-idx3-ubyte", "something"):
        fifo = tmp_path / name
        os.mkfifo(fifo)
        out = run_capped(f"load_dataset({str(fifo)!r})", timeout=30)
        assert out["error"] == "DatasetError", out
        assert f"{name}: is a pipe (FIFO), not a regular file" in out["message"]
    with pytest.raises(DatasetError, match="/dev/null: is a device"):
        load_dataset("/dev/null")


def test_a_path_that_cannot_be_examined(tmp_path, monkeypatch):
    path = tmp_path / "locked" / "data.csv"
    real_stat = os.stat

    def stat(p, *args, **kwargs):
        if os.fspath(p) == os.fspath(path):
            raise PermissionError(13, "Permission denied", os.fspath(p))
        return real_stat(p, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    with pytest.raises(DatasetError, match="permission denied") as err:
        load_dataset(path)
    assert "data.csv" in str(err.value)


def _train_test_folder(root):
    for part, n in (("train", 3), ("test", 2)):
        for name, value in (("dark", 10), ("light", 240)):
            for i in range(n):
                write_png(root / part / name / f"{i}.png", np.full((12, 12), value, np.uint8))
    return root


def test_the_train_views_sources_load_as_the_command_line_does(tmp_path):
    # One dispatch: a train/ + test/ folder picked in the Train view used to become two
    # classes named "train" and "test"; it is a training part and a held-out part.
    from cnnstudio.data.loader import load_source

    root = _train_test_folder(tmp_path / "imgs")
    picked = load_source("folder", str(root), input_size=(12, 12), color="L")
    named = load_dataset(root, input_size=(12, 12), color="L")
    assert picked.train.class_names == named.train.class_names == ["dark", "light"]
    assert len(picked.train) == len(named.train) == 6
    assert picked.test is not None and len(picked.test) == 4
    assert load_source("builtin").train.name == load_dataset("mnist-sample").train.name


def test_a_source_of_a_known_kind_that_is_missing_or_empty_says_so(tmp_path):
    from cnnstudio.data.loader import load_source

    with pytest.raises(DatasetError, match="no such file or folder") as err:
        load_source("csv", tmp_path / "gone.csv")
    assert "gone.csv" in str(err.value)
    with pytest.raises(DatasetError, match="no drawn samples yet"):
        load_source("samples", samples=[])
    with pytest.raises(DatasetError, match="unknown kind of dataset 'zip'"):
        load_source("zip", tmp_path)
