from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.data import DatasetError, SampleCollection, concatenate, load_builtin


def stroke(value=1.0):
    img = np.zeros((28, 28), dtype=np.float32)
    img[4:24, 13:15] = value
    return img


def test_add_remove_relabel():
    s = SampleCollection()
    assert len(s) == 0 and s.shape is None
    s.add(stroke(), 1)
    s.add(np.full((28, 28), 255, np.uint8), "7")
    s.add(stroke(0.5), "1")
    assert len(s) == 3 and s.shape == (1, 28, 28)
    assert s.labels == ["1", "7", "1"]
    # Float drawings in [0, 1] are kept as uint8 0-255.
    assert s[0].image.dtype == np.uint8 and s[0].image.max() == 255
    assert s[2].image.max() == 128
    s.relabel(1, "4")
    assert s.counts() == {"1": 2, "4": 1}
    removed = s.remove(0)
    assert removed.label == "1" and s.labels == ["4", "1"]


def test_bad_samples():
    s = SampleCollection()
    s.add(stroke(), "1")
    with pytest.raises(DatasetError, match="1@32x32 but the collection holds 1@28x28"):
        s.add(np.zeros((32, 32)), "1")
    with pytest.raises(DatasetError, match="needs a label"):
        s.add(stroke(), " ")
    with pytest.raises(DatasetError, match="no sample 5"):
        s.relabel(5, "2")


def test_to_dataset_and_added_to_mnist():
    s = SampleCollection()
    for label in ("1", "0", "1", "10"):
        s.add(stroke(), label)
    own = s.to_dataset()
    assert own.class_names == ["0", "1", "10"]  # numeric order, not "0", "1", "10" by text luck
    assert own.counts().tolist() == [1, 2, 1]
    with pytest.raises(DatasetError, match=r"labelled \['10'\]"):
        s.to_dataset([str(d) for d in range(10)])
    s.remove(3)
    mnist = load_builtin().train
    both = concatenate(mnist, s.to_dataset([str(d) for d in range(10)]))
    assert len(both) == 4003 and both.counts()[1] == 402


def test_arrays_round_trip_without_pickle(tmp_path):
    s = SampleCollection()
    s.add(stroke(), "1")
    s.add(stroke(0.3), "star")
    path = tmp_path / "samples.npz"
    np.savez(path, **s.to_arrays())
    with np.load(path, allow_pickle=False) as npz:
        back = SampleCollection.from_arrays(dict(npz))
    assert back.labels == ["1", "star"]
    assert np.array_equal(back[1].image, s[1].image)
    empty = SampleCollection.from_arrays(SampleCollection().to_arrays())
    assert len(empty) == 0
    with pytest.raises(DatasetError, match="missing the 'labels'"):
        SampleCollection.from_arrays({"images": np.zeros((1, 1, 2, 2), np.uint8)})
    with pytest.raises(DatasetError, match="uint8"):
        SampleCollection.from_arrays(
            {"images": np.zeros((1, 1, 2, 2), np.float64), "labels": np.array(["a"])}
        )
