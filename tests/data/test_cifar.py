"""CIFAR-10's binary distribution: batches written here with NumPy from the format's
description (a label byte, then the red, green and blue planes), in a folder or an archive."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from cnnstudio.data import DatasetError
from cnnstudio.data.cifar import CIFAR10_CLASSES, RECORD_BYTES, is_cifar_source, load_cifar

TRAIN = [f"data_batch_{i}.bin" for i in range(1, 6)]
NAMES = "\n".join(CIFAR10_CLASSES) + "\n\n"  # the official file ends in a blank line


def batch_bytes(images: np.ndarray, labels) -> bytes:
    """Records as the CIFAR-10 page describes them: label byte, then 1,024 bytes of red,
    1,024 of green and 1,024 of blue, each plane row-major."""
    images = np.asarray(images, np.uint8)
    records = np.empty((len(images), RECORD_BYTES), np.uint8)
    records[:, 0] = labels
    records[:, 1:] = images.reshape(len(images), -1)
    return records.tobytes()


def random_batch(n: int, seed: int, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8),
        rng.integers(0, classes, n, dtype=np.uint8),
    )


def write_folder(folder: Path, sizes: dict[str, int], meta: str | None = NAMES) -> dict:
    """Batch files of the given record counts (their images and labels returned by name)."""
    folder.mkdir(parents=True, exist_ok=True)
    content = {}
    for k, (name, n) in enumerate(sizes.items()):
        images, labels = random_batch(n, k)
        (folder / name).write_bytes(batch_bytes(images, labels))
        content[name] = (images, labels)
    if meta is not None:
        (folder / "batches.meta.txt").write_text(meta, encoding="utf-8")
    return content


def write_tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def official_members(n: int = 7) -> tuple[dict[str, bytes], dict]:
    """The archive's members, in an order that is not sorted (as tar files often are)."""
    content = {name: random_batch(n, k) for k, name in enumerate([*TRAIN, "test_batch.bin"])}
    members = {"cifar-10-batches-bin/batches.meta.txt": NAMES.encode()}
    for name in ["data_batch_1.bin", "data_batch_3.bin", "test_batch.bin", "data_batch_2.bin"]:
        members[f"cifar-10-batches-bin/{name}"] = batch_bytes(*content[name])
    members["cifar-10-batches-bin/readme.html"] = b"<html></html>"
    for name in ["data_batch_4.bin", "data_batch_5.bin"]:
        members[f"cifar-10-batches-bin/{name}"] = batch_bytes(*content[name])
    return members, content


def refused(path, *words: str) -> str:
    """The DatasetError message for loading ``path``: it must name ``path`` and say ``words``."""
    with pytest.raises(DatasetError) as err:
        load_cifar(path)
    message = str(err.value)
    for w in words:
        assert w in message, message
    return message


# -- reading ---------------------------------------------------------------------------


def test_planes_are_red_green_blue_so_a_red_top_left_pixel_is_channel_0(tmp_path):
    image = np.zeros((3, 32, 32), np.uint8)
    image[0, 0, 0] = 255  # red plane, first byte: the top-left pixel
    image[2, 31, 31] = 200  # blue plane, last byte: the bottom-right pixel
    image[1, 0, 5] = 100  # green, first row, sixth column (row-major)
    (tmp_path / "test_batch.bin").write_bytes(batch_bytes(image[None], [3]))
    ds = load_cifar(tmp_path / "test_batch.bin").train
    assert ds.images.shape == (1, 3, 32, 32) and ds.images.dtype == np.uint8
    assert ds.images[0, :, 0, 0].tolist() == [255, 0, 0]
    assert ds.images[0, :, 31, 31].tolist() == [0, 0, 200]
    assert ds.images[0, 1, 0, 5] == 100 and ds.images[0, 1].sum() == 100
    assert ds.labels.tolist() == [3] and ds.class_names[3] == "cat"
    assert ds.color_mode == "RGB"


def test_a_full_folder_is_training_then_test_in_batch_order(tmp_path):
    content = write_folder(tmp_path / "cifar", {**dict.fromkeys(TRAIN, 4), "test_batch.bin": 3})
    split = load_cifar(tmp_path / "cifar")
    assert split.test is not None and split.evaluation is split.test
    expect = np.concatenate([content[n][0] for n in TRAIN])
    assert np.array_equal(split.train.images, expect)
    assert split.train.labels.tolist() == np.concatenate([content[n][1] for n in TRAIN]).tolist()
    assert np.array_equal(split.test.images, content["test_batch.bin"][0])
    assert split.train.class_names == list(CIFAR10_CLASSES)
    assert split.train.name == "cifar (training)" and split.test.name == "cifar (test)"


@pytest.mark.parametrize(
    "files, train, test",
    [
        (["test_batch.bin"], 5, None),  # what `evaluate` needs: the test batch alone
        (["data_batch_2.bin"], 5, None),
        (["data_batch_1.bin", "data_batch_4.bin", "test_batch.bin"], 10, 5),
    ],
)
def test_a_folder_with_only_some_batches(tmp_path, files, train, test):
    write_folder(tmp_path, dict.fromkeys(files, 5), meta=None)
    split = load_cifar(tmp_path)
    assert len(split.train) == train
    assert (split.test is None) if test is None else len(split.test) == test
    if files == ["test_batch.bin"]:
        assert "test batch" in split.train.name and len(split.evaluation) == 5


def test_the_folder_holding_the_unpacked_batches_folder_works_too(tmp_path):
    write_folder(tmp_path / "cifar-10-batches-bin", {"data_batch_1.bin": 2, "test_batch.bin": 2})
    assert is_cifar_source(tmp_path)
    split = load_cifar(tmp_path)
    assert len(split.train) == 2 and split.test is not None


def test_class_names_come_from_batches_meta_txt(tmp_path):
    write_folder(tmp_path, {"test_batch.bin": 6}, meta="zero\none\r\ntwo\nthree\n")
    (tmp_path / "test_batch.bin").write_bytes(batch_bytes(np.zeros((4, 3, 32, 32)), [0, 1, 2, 3]))
    ds = load_cifar(tmp_path).train
    assert ds.class_names == ["zero", "one", "two", "three"]


@pytest.mark.parametrize("mode, name", [("w:gz", "cifar-10-binary.tar.gz"), ("w", "c.tar")])
def test_the_archive_is_read_as_it_comes(tmp_path, mode, name):
    members, content = official_members()
    members["cifar-10-batches-bin/batches.meta.txt"] = b"a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n"
    path = write_tar(tmp_path / name, members, mode)
    before = set(os.listdir(tmp_path))
    split = load_cifar(path)
    assert set(os.listdir(tmp_path)) == before  # nothing extracted
    assert split.test is not None and len(split.train) == 35 and len(split.test) == 7
    assert split.train.class_names == list("abcdefghij")
    # The training batches in the archive's order, each one intact.
    order = ["data_batch_1.bin", "data_batch_3.bin", "data_batch_2.bin", *TRAIN[3:]]
    assert np.array_equal(split.train.images, np.concatenate([content[n][0] for n in order]))
    assert np.array_equal(split.test.labels, content["test_batch.bin"][1])
    assert split.train.name == name.split(".")[0] + " (training)"


def test_memory_of_50000_records_stays_near_their_uint8_size(tmp_path):
    """The whole training set in a folder and in an archive: no second copy, no floats."""
    rng = np.random.default_rng(0)
    for name in TRAIN:
        records = rng.integers(0, 256, (10000, RECORD_BYTES), dtype=np.uint8)
        records[:, 0] %= 10
        records.tofile(tmp_path / name)
    with tarfile.open(tmp_path.parent / "all.tar", "w") as tar:
        for name in TRAIN:
            tar.add(tmp_path / name, arcname=f"cifar-10-batches-bin/{name}")
    size = 50000 * 3 * 32 * 32
    for source in (tmp_path, tmp_path.parent / "all.tar"):
        tracemalloc.start()
        try:
            split = load_cifar(source)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert split.train.images.shape == (50000, 3, 32, 32)
        assert split.train.images.dtype == np.uint8
        assert peak < 1.2 * size, f"{source}: peak {peak / 1e6:.0f} MB for {size / 1e6:.0f} MB"
        del split


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [-100, 1, 3072])
def test_a_batch_that_is_not_whole_records_is_refused(tmp_path, extra):
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(batch_bytes(*random_batch(3, 0)) + bytes(max(extra, 0)))
    if extra < 0:
        path.write_bytes(path.read_bytes()[:extra])  # a download cut short
    refused(path, str(path), "3,073-byte", "truncated", "download it again")
    refused(tmp_path, str(path), "3,073-byte")  # the folder's loader names the file too


def test_an_empty_batch_and_a_truncated_archive_member_are_refused(tmp_path):
    (tmp_path / "test_batch.bin").write_bytes(b"")
    refused(tmp_path, str(tmp_path / "test_batch.bin"), "empty")
    members, _ = official_members()
    data = write_tar(tmp_path / "c.tar", members, "w").read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: len(data) // 2])
    refused(cut, str(cut), "truncated", "download it again")
    gz = write_tar(tmp_path / "c.tar.gz", members).read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(gz[: len(gz) // 2])
    refused(tmp_path / "cut.tar.gz", str(tmp_path / "cut.tar.gz"), "truncated")


def test_an_archive_member_whose_size_is_not_whole_records_is_refused(tmp_path):
    path = write_tar(tmp_path / "c.tar.gz", {"b/data_batch_1.bin": bytes(3073 * 2 + 5)})
    refused(path, f"{path}: b/data_batch_1.bin", "3,073-byte")


def test_a_small_archive_claiming_a_huge_batch_allocates_little(tmp_path):
    info = tarfile.TarInfo("cifar-10-batches-bin/data_batch_1.bin")
    info.size = 400_000 * RECORD_BYTES  # 1.2 GB announced, 30 KB there
    data = info.tobuf(format=tarfile.GNU_FORMAT) + batch_bytes(*random_batch(10, 0))
    path = tmp_path / "c.tar"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        refused(path, str(path), "truncated")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20


def test_labels_beyond_the_class_names_are_refused_naming_the_batch(tmp_path):
    write_folder(tmp_path, {"data_batch_1.bin": 3, "data_batch_2.bin": 3}, meta=None)
    images, _ = random_batch(3, 9)
    (tmp_path / "data_batch_2.bin").write_bytes(batch_bytes(images, [1, 10, 2]))
    refused(tmp_path, str(tmp_path / "data_batch_2.bin"), "label 10", "10 classes")
    (tmp_path / "batches.meta.txt").write_text("a\nb\n")
    (tmp_path / "data_batch_2.bin").write_bytes(batch_bytes(images, [1, 1, 1]))
    message = refused(tmp_path, str(tmp_path / "data_batch_1.bin"), "batches.meta.txt")
    assert "names only 2 classes" in message


def test_a_folder_or_archive_without_batches_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    refused(tmp_path / "empty", str(tmp_path / "empty"), "data_batch_1.bin", "test_batch.bin")
    path = write_tar(tmp_path / "other.tar.gz", {"notes.txt": b"hello"})
    refused(path, str(path), "holds no CIFAR-10 batches", "cifar-10-binary.tar.gz")


def test_the_jpeg_archive_of_class_folders_is_told_to_be_unpacked(tmp_path):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(buf, "JPEG")
    members = {f"./{c}/{i:04d}.jpg": buf.getvalue() for c in CIFAR10_CLASSES for i in range(2)}
    path = write_tar(tmp_path / "cifar10_train_jpg.tar.gz", members)
    refused(path, str(path), "images", "unpack it")


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "folder"])
def test_a_batch_that_is_no_regular_file_is_refused(tmp_path, kind):
    write_folder(tmp_path, {"data_batch_1.bin": 2}, meta=None)
    target = tmp_path / "test_batch.bin"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    else:
        target.symlink_to(kind)
    message = refused(tmp_path, str(target))
    assert "not a" in message or "folder" in message
    if kind != "folder":
        refused(target, str(target))


def test_archive_entries_that_are_no_regular_files_are_refused(tmp_path):
    path = tmp_path / "c.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-bin/data_batch_1.bin")
        info.type = tarfile.SYMTYPE
        info.linkname = "/dev/zero"
        tar.addfile(info)
    refused(path, f"{path}: cifar-10-batches-bin/data_batch_1.bin", "not a regular file")


@pytest.mark.parametrize(
    "meta, words",
    [
        ("\n".join(f"c{i}" for i in range(300)), ["300 lines", "256"]),
        ("a\n\nb\n", ["line 2 is blank"]),
        ("a\nb\x00c\n", ["line 2", "printable"]),
        ("x" * 500 + "\n", ["line 1", "100 printable"]),
        ("a\nb\na\n", ["'a' is named twice", "lines 1 and 3"]),
        ("\n\n", ["names no classes"]),
        (b"\xff\xfe\x00a".decode("latin-1"), ["UTF-8"]),
    ],
)
def test_an_odd_batches_meta_txt_is_refused_naming_it(tmp_path, meta, words):
    write_folder(tmp_path, {"test_batch.bin": 2}, meta=None)
    data = meta.encode("latin-1" if "\xff" in meta else "utf-8")
    (tmp_path / "batches.meta.txt").write_bytes(data)
    refused(tmp_path, str(tmp_path / "batches.meta.txt"), *words)


def test_a_huge_batches_meta_txt_is_not_read_whole(tmp_path):
    write_folder(tmp_path, {"test_batch.bin": 2}, meta=None)
    (tmp_path / "batches.meta.txt").write_bytes(b"cat\n" * 100_000)
    refused(tmp_path, str(tmp_path / "batches.meta.txt"), "too large")
    os.remove(tmp_path / "batches.meta.txt")
    os.mkfifo(tmp_path / "batches.meta.txt")  # would block a plain open() forever
    refused(tmp_path, str(tmp_path / "batches.meta.txt"), "FIFO")
    members, _ = official_members(2)
    members["cifar-10-batches-bin/batches.meta.txt"] = b"cat\n" * 100_000
    path = write_tar(tmp_path / "c.tar.gz", members)
    refused(path, "batches.meta.txt", "far more than a list of class names")


# -- the Python distribution: recognised, never unpickled --------------------------------


class _Plant:
    """Unpickling this creates a file: proof that something was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_the_python_distribution_folder_is_refused_and_never_unpickled(tmp_path):
    planted = tmp_path / "unpickled.txt"
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in ["data_batch_1", "test_batch", "batches.meta"]:
        (folder / name).write_bytes(pickle.dumps(_Plant(planted), protocol=2))
    for path in (folder, tmp_path, folder / "data_batch_1"):
        assert is_cifar_source(path)
        refused(path, str(path), "Python distribution", "never", "cifar-10-binary.tar.gz")
    assert not planted.exists()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_a_pickle_named_like_a_binary_batch_is_refused_and_never_unpickled(tmp_path, protocol):
    planted = tmp_path / "unpickled.txt"
    data = pickle.dumps(_Plant(planted), protocol=protocol)
    # Padded to whole records, so that only its first bytes can tell what it is.
    data += bytes(-len(data) % RECORD_BYTES)
    (tmp_path / "data_batch_1.bin").write_bytes(data)
    message = refused(tmp_path, str(tmp_path / "data_batch_1.bin"), "cifar-10-binary.tar.gz")
    assert len(message.splitlines()) == 1
    path = write_tar(tmp_path / "c.tar.gz", {"x/test_batch.bin": data})
    refused(path, "x/test_batch.bin", "Python distribution")
    assert not planted.exists()


def test_the_python_archive_is_refused_by_its_contents_and_by_its_name(tmp_path):
    planted = tmp_path / "unpickled.txt"
    pickled = pickle.dumps(_Plant(planted), protocol=2)
    members = {f"cifar-10-batches-py/{n}": pickled for n in ["data_batch_1", "batches.meta"]}
    for name in ("renamed.tar.gz", "cifar-10-python.tar.gz"):
        path = write_tar(tmp_path / name, members)
        refused(path, str(path), "Python distribution", "cifar-10-binary.tar.gz")
    assert not planted.exists()


def test_what_is_a_cifar_source(tmp_path):
    write_folder(tmp_path / "bin", {"test_batch.bin": 1})
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.png").write_bytes(b"")
    assert is_cifar_source(tmp_path / "bin") and is_cifar_source(tmp_path / "bin/test_batch.bin")
    assert not is_cifar_source(tmp_path / "other")
    assert not is_cifar_source(tmp_path / "missing.tar.gz")
    assert not is_cifar_source(tmp_path / "other" / "a.png")


# -- the JPEG copy as a folder of class folders ------------------------------------------


def _jpeg_tree(root: Path, per_class: int, start: int = 0) -> np.ndarray:
    """``root/<class>/<nnnn>.jpg`` as in the shared CIFAR-10 JPEG archive, from the built-in
    sample's own JPEG files; returns the photos as the sample decodes them."""
    from cnnstudio.data import load_builtin
    from cnnstudio.resources import resource_path

    with np.load(resource_path("datasets", "cifar10_sample.npz"), allow_pickle=False) as npz:
        blob, offsets, files = npz["train_jpeg"], npz["train_offsets"], npz["train_files"]
    decoded = load_builtin("cifar10-sample").train.images
    picked = [k * 500 + i for k in range(10) for i in range(start, start + per_class)]
    for i in picked:
        target = root / str(files[i])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob[offsets[i] : offsets[i + 1]].tobytes())
    return decoded[picked]


def test_the_cifar_jpeg_tree_loads_as_a_class_folder_dataset(tmp_path):
    from cnnstudio.data import describe_spec, load_dataset

    expect = _jpeg_tree(tmp_path / "cifar10", 3)
    assert describe_spec(tmp_path / "cifar10") == "folder"
    # As `cnnstudio train --data DIR` reads it for a 3@32x32 network.
    split = load_dataset(tmp_path / "cifar10", input_size=(32, 32), color="RGB")
    assert split.train.class_names == list(CIFAR10_CLASSES)
    assert split.train.counts().tolist() == [3] * 10 and split.test is None
    assert np.array_equal(split.train.images, expect)  # the JPEG pixels, unchanged
    assert split.train.color_mode == "RGB"  # also when the colour mode is detected:
    assert load_dataset(tmp_path / "cifar10").train.color_mode == "RGB"


def test_the_cifar_jpeg_tree_with_train_and_test_folders(tmp_path):
    from cnnstudio.data import load_dataset

    train = _jpeg_tree(tmp_path / "c" / "train", 3)
    test = _jpeg_tree(tmp_path / "c" / "test", 2, start=3)
    split = load_dataset(tmp_path / "c", input_size=(32, 32), color="RGB")
    assert split.test is not None and split.evaluation is split.test
    assert np.array_equal(split.train.images, train) and np.array_equal(split.test.images, test)
    assert split.test.class_names == list(CIFAR10_CLASSES)
    assert split.test.counts().tolist() == [2] * 10


# -- through the one dispatch (command line and Train view) -------------------------------


def test_load_dataset_recognises_the_binary_distribution(tmp_path):
    from cnnstudio.data import describe_spec, load_dataset
    from cnnstudio.data.loader import load_source

    content = write_folder(tmp_path / "c", {"data_batch_1.bin": 4, "test_batch.bin": 3})
    members, _ = official_members(2)
    archive = write_tar(tmp_path / "cifar-10-binary.tar.gz", members)
    for source in (tmp_path / "c", archive, tmp_path / "c" / "test_batch.bin"):
        assert describe_spec(source) == "cifar" and describe_spec(str(source)) == "cifar"
    split = load_dataset(tmp_path / "c")
    assert np.array_equal(split.test.images, content["test_batch.bin"][0])
    assert len(load_dataset(archive).train) == 10
    assert len(load_source("cifar", str(tmp_path / "c")).train) == 4
    # `cnnstudio evaluate` with a digit model: converted to the model's input.
    small = load_dataset(tmp_path / "c", input_size=(28, 28), color="L")
    assert small.evaluation.input_shape == (1, 28, 28)


def test_load_dataset_refuses_the_pickled_distribution_and_says_what_it_reads(tmp_path):
    from cnnstudio.data import load_dataset

    planted = tmp_path / "unpickled.txt"
    (tmp_path / "py").mkdir()
    (tmp_path / "py" / "data_batch_1").write_bytes(pickle.dumps(_Plant(planted), protocol=2))
    with pytest.raises(DatasetError, match=r"cifar-10-binary\.tar\.gz"):
        load_dataset(tmp_path / "py")
    assert not planted.exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"cifar10-sample.*CIFAR-10.s binary batches"):
        load_dataset(tmp_path / "empty")
