from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.data import Dataset, DatasetError, batch_indices, concatenate
from cnnstudio.engine.layers.base import format_shape


def make(n_per_class=(10, 20, 30), shape=(1, 8, 8), names=None, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(n_per_class)), n_per_class)
    images = rng.integers(0, 256, size=(len(labels), *shape), dtype=np.uint8)
    names = names or [f"c{i}" for i in range(len(n_per_class))]
    return Dataset(images, labels, names, name="toy", source="test")


def test_basic_facts():
    ds = make()
    assert len(ds) == 60
    assert ds.input_shape == (1, 8, 8)
    assert ds.color_mode == "L"
    assert ds.images.dtype == np.uint8 and ds.labels.dtype == np.int64
    assert ds.counts().tolist() == [10, 20, 30]
    assert format_shape(ds.input_shape) == "1@8x8"
    assert "60 images of 1@8x8, 3 classes" in ds.summary()


def test_arrays_are_read_only():
    ds = make()
    with pytest.raises(ValueError):
        ds.images[0, 0, 0, 0] = 1
    with pytest.raises(AttributeError):
        ds.name = "other"


@pytest.mark.parametrize(
    ("images", "labels", "names", "words"),
    [
        (np.zeros((3, 2, 4, 4), np.uint8), np.zeros(3), ["a"], "C = 1 or 3"),
        (np.zeros((3, 1, 4, 4), np.float32), np.zeros(3), ["a"], "uint8"),
        (np.zeros((3, 1, 4, 4), np.uint8), np.zeros(2), ["a"], "3 images"),
        (np.zeros((3, 1, 4, 4), np.uint8), np.array([0, 1, 2]), ["a", "b"], "only 2 class names"),
        (np.zeros((3, 1, 4, 4), np.uint8), np.zeros(3), ["a", "a"], "unique"),
        (np.zeros((3, 1, 4, 4), np.uint8), np.full(3, 0.5), ["a"], "whole numbers"),
    ],
)
def test_invalid_arrays_are_refused(images, labels, names, words):
    with pytest.raises(DatasetError, match=words):
        Dataset(images, labels, names)


def test_subset_copies_and_keeps_names():
    ds = make()
    sub = ds.subset([0, 59, 29])
    assert sub.labels.tolist() == [0, 2, 1]
    assert sub.class_names == ds.class_names
    assert np.array_equal(sub.images[1], ds.images[59])
    with pytest.raises(DatasetError, match="out of range"):
        ds.subset([60])


def test_split_is_stratified_seeded_and_disjoint():
    ds = make((100, 200, 300))
    train, val = ds.split(0.2, seed=7)
    assert len(val) == 120 and len(train) == 480
    assert val.counts().tolist() == [20, 40, 60]
    _, val2 = ds.split(0.2, seed=7)
    assert np.array_equal(val.images, val2.images)
    _, val3 = ds.split(0.2, seed=8)
    assert not np.array_equal(val.images, val3.images)
    # Every image ends up in exactly one part.
    joined = {im.tobytes() for im in train.images} | {im.tobytes() for im in val.images}
    assert len(joined) == len({im.tobytes() for im in ds.images})


def test_split_rounds_to_total_and_never_empties_a_class_of_training():
    ds = make((3, 7, 1))
    train, val = ds.split(0.5, seed=0)
    assert len(val) == 6  # round(0.5 * 11), shared 2 / 4 / 0
    assert val.counts().tolist() == [2, 4, 0]
    assert (train.counts() >= 1).all()
    with pytest.raises(DatasetError, match="below 1"):
        ds.split(1.0)
    _, empty = ds.split(0.0)
    assert len(empty) == 0


def test_concatenate_matches_classes_by_name():
    mnist = make((5, 5), names=["0", "7"])
    mine = make((2, 3), names=["7", "star"], seed=1)
    both = concatenate(mnist, mine)
    assert both.class_names == ["0", "7", "star"]
    assert len(both) == 15
    # The user's "7"s join MNIST's "7" (label 1); "star" is a new class 2.
    assert both.labels[10:].tolist() == [1, 1, 2, 2, 2]
    assert both.counts().tolist() == [5, 7, 3]
    assert np.array_equal(both.images[10:], mine.images)


def test_concatenate_refuses_different_shapes():
    with pytest.raises(DatasetError, match=r"1@8x8.*3@8x8"):
        make().concatenate(make(shape=(3, 8, 8)))


def test_converted_changes_size_and_colour():
    ds = make(shape=(1, 8, 8))
    rgb = ds.converted((16, 12), "RGB")
    assert rgb.input_shape == (3, 16, 12)
    assert np.array_equal(rgb.images[:, 0], rgb.images[:, 2])
    gray = rgb.converted(color="L")
    assert gray.input_shape == (1, 16, 12)
    assert np.abs(gray.images.astype(int) - rgb.images[:, :1].astype(int)).max() <= 1
    assert ds.converted() is ds


def test_with_classes_lines_up_with_a_model():
    ds = make((2, 2), names=["b", "a"])
    lined = ds.with_classes(["a", "b", "c"])
    assert lined.labels.tolist() == [1, 1, 0, 0]
    with pytest.raises(DatasetError, match="not among"):
        ds.with_classes(["a"])


def test_batch_indices_cover_each_item_once_per_epoch():
    rng = np.random.default_rng(0)
    batches = list(batch_indices(10, 4, rng))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
    assert [len(b) for b in batch_indices(10, 4, rng, drop_last=True)] == [4, 4]
    first = np.concatenate(list(batch_indices(10, 4, np.random.default_rng(5))))
    again = np.concatenate(list(batch_indices(10, 4, np.random.default_rng(5))))
    assert np.array_equal(first, again) and not np.array_equal(first, np.arange(10))


def test_batch_resize_matches_pillow():
    from PIL import Image

    from cnnstudio.data.convert import resize_batch

    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(6, 1, 28, 28), dtype=np.uint8)
    for size in ((32, 32), (14, 10)):
        ours = resize_batch(images, size)[:, 0].astype(int)
        pillow = np.stack(
            [
                np.asarray(Image.fromarray(im[0]).resize(size[::-1], Image.Resampling.BILINEAR))
                for im in images
            ]
        ).astype(int)
        assert np.abs(ours - pillow).max() <= 1


def test_empty_dataset_splits_and_copies():
    import copy

    ds = make().subset([])
    assert len(ds) == 0 and ds.counts().tolist() == [0, 0, 0]
    train, val = ds.split(0.2)
    assert len(train) == len(val) == 0
    full = make()
    assert copy.deepcopy(full) is full
