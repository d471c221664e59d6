from __future__ import annotations

import gzip
import os
import struct
import tracemalloc
import zlib

import numpy as np
import pytest

from cnnstudio.data import DatasetError, load_dataset, load_idx, load_idx_dir, read_idx

from .conftest import digit_like, idx_bytes, run_capped, write_idx


@pytest.fixture
def pair(tmp_path, rng):
    images = digit_like(rng, 50)
    labels = rng.integers(0, 10, 50).astype(np.uint8)
    labels[:10] = np.arange(10)
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
def test_round_trip(tmp_path, pair, gz):
    images, labels = pair
    suffix = ".gz" if gz else ""
    ip = write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", images, gz)
    lp = write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", labels, gz)
    ds = load_idx(ip, lp)
    assert ds.input_shape == (1, 28, 28)
    assert np.array_equal(ds.images[:, 0], images)
    assert ds.labels.tolist() == labels.tolist()
    assert ds.class_names == [str(i) for i in range(10)]


def test_directory_with_train_and_test_pairs(tmp_path, pair):
    images, labels = pair
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images, True)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels, True)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images[:20], True)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels[:20], True)
    split = load_idx_dir(tmp_path)
    assert len(split.train) == 50 and split.test is not None and len(split.test) == 20
    via_spec = load_dataset(str(tmp_path))
    assert len(via_spec.evaluation) == 20


def test_single_pair_directory_and_fashion_names(tmp_path, pair):
    images, labels = pair
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte", images)
    write_idx(folder / "train-labels-idx1-ubyte", labels)
    split = load_idx_dir(folder)
    assert split.test is None
    assert split.train.class_names[0] == "T-shirt/top"
    assert split.train.class_names[9] == "Ankle boot"


def test_explicit_class_names_and_emnist_transpose(tmp_path, pair):
    images, labels = pair
    ip = write_idx(tmp_path / "emnist-digits-train-images-idx3-ubyte", images)
    lp = write_idx(tmp_path / "emnist-digits-train-labels-idx1-ubyte", labels)
    ds = load_idx(ip, lp, class_names=list("abcdefghij"))
    assert ds.class_names[:3] == ["a", "b", "c"]
    # EMNIST stores images transposed; the loader puts them upright.
    assert np.array_equal(ds.images[:, 0], images.transpose(0, 2, 1))


def test_truncated_file(tmp_path, pair):
    images, labels = pair
    ip = tmp_path / "train-images-idx3-ubyte"
    ip.write_bytes(idx_bytes(images)[:-100])
    lp = write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    with pytest.raises(DatasetError, match="truncated") as err:
        load_idx(ip, lp)
    assert "train-images-idx3-ubyte" in str(err.value)
    assert "50 x 28 x 28" in str(err.value)


def test_truncated_gzip(tmp_path, pair):
    images, _ = pair
    ip = tmp_path / "train-images-idx3-ubyte.gz"
    ip.write_bytes(gzip.compress(idx_bytes(images))[:-50])
    with pytest.raises(DatasetError, match="damaged or truncated") as err:
        read_idx(ip)
    assert "train-images-idx3-ubyte.gz" in str(err.value)


def test_wrong_magic(tmp_path, pair):
    images, labels = pair
    ip = tmp_path / "train-images-idx3-ubyte"
    ip.write_bytes(b"\x89PNG" + idx_bytes(images)[4:])
    lp = write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    with pytest.raises(DatasetError, match="wrong magic number 0x89504e47") as err:
        load_idx(ip, lp)
    assert str(ip) in str(err.value)


def test_swapped_files_are_named(tmp_path, pair):
    images, labels = pair
    ip = write_idx(tmp_path / "a-images-idx3-ubyte", images)
    lp = write_idx(tmp_path / "a-labels-idx1-ubyte", labels)
    with pytest.raises(DatasetError, match="swapped"):
        load_idx(lp, ip)


def test_count_mismatch(tmp_path, pair):
    images, labels = pair
    ip = write_idx(tmp_path / "train-images-idx3-ubyte", images)
    lp = write_idx(tmp_path / "train-labels-idx1-ubyte", labels[:40])
    with pytest.raises(DatasetError, match=r"50 images but the labels file .* 40 labels"):
        load_idx(ip, lp)


def test_extra_bytes(tmp_path, pair):
    _, labels = pair
    lp = tmp_path / "train-labels-idx1-ubyte"
    lp.write_bytes(idx_bytes(labels) + b"\0\0\0")
    with pytest.raises(DatasetError, match="3 bytes more"):
        read_idx(lp)


def test_folder_without_a_pair(tmp_path, pair):
    images, _ = pair
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    with pytest.raises(DatasetError, match="no matching IDX pair"):
        load_idx_dir(tmp_path)


def test_hostile_header_announcing_huge_sizes(tmp_path):
    path = tmp_path / "evil-images-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">3I", 4_000_000_000, 1000, 1000))
    with pytest.raises(DatasetError, match="GB") as err:
        read_idx(path)
    assert "damaged" in str(err.value)


def test_emnist_mapping_file_names_the_classes(tmp_path, rng):
    images = digit_like(rng, 4)
    ip = write_idx(tmp_path / "emnist-letters-train-images-idx3-ubyte", images)
    lp = write_idx(tmp_path / "emnist-letters-train-labels-idx1-ubyte", np.array([1, 2, 26, 1]))
    lines = [f"{i} {64 + i} {96 + i}" for i in range(1, 27)]
    (tmp_path / "emnist-letters-mapping.txt").write_text("\n".join(lines) + "\n")
    ds = load_idx(ip, lp)
    assert ds.class_names[1] == "A" and ds.class_names[26] == "Z"
    assert ds.class_names[ds.labels[2]] == "Z"


# -- hostile and damaged files (issue 18) ---------------------------------------------


def _int_labels(path, values) -> None:
    """An IDX labels file of big-endian int32 values (type 0x0C)."""
    values = list(values)
    path.write_bytes(
        bytes([0, 0, 0x0C, 1]) + struct.pack(f">I{len(values)}i", len(values), *values)
    )


def test_a_huge_label_is_refused_before_anything_is_sized_by_it(tmp_path, rng):
    # 12 bytes: one class name per number up to 2^31-1 used to be built (OOM).
    ip = write_idx(tmp_path / "train-images-idx3-ubyte", digit_like(rng, 1))
    lp = tmp_path / "train-labels-idx1-ubyte"
    _int_labels(lp, [2**31 - 1])
    assert lp.stat().st_size == 12
    out = run_capped(f"load_idx({str(ip)!r}, {str(lp)!r})", mem_mb=1024, timeout=60)
    assert out["error"] == "DatasetError", out
    assert "train-labels-idx1-ubyte" in out["message"] and "2,147,483,647" in out["message"]
    assert "right labels file" in out["message"]
    assert out["seconds"] < 5


def test_int_labels_numbering_classes_are_fine(tmp_path, rng):
    ip = write_idx(tmp_path / "train-images-idx3-ubyte", digit_like(rng, 4))
    lp = tmp_path / "train-labels-idx1-ubyte"
    _int_labels(lp, [0, 7, 3, 7])
    ds = load_idx(ip, lp)
    assert ds.class_names == [str(i) for i in range(8)] and ds.labels.tolist() == [0, 7, 3, 7]


def test_a_size_product_beyond_int64_does_not_wrap(tmp_path):
    # 2^22 * 2^21 * 2^21 = 2^64, which wraps to 0 in int64 arithmetic.
    path = tmp_path / "wrap-images-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">3I", 2**22, 2**21, 2**21))
    with pytest.raises(DatasetError, match="GB") as err:
        read_idx(path)
    assert "wrap-images-idx3-ubyte" in str(err.value)


@pytest.mark.parametrize("gz", [False, True])
def test_the_announced_size_is_checked_before_it_is_allocated(tmp_path, gz):
    # The header announces 1.5 GB (under the 2 GB limit); 10 bytes follow.
    data = bytes([0, 0, 8, 3]) + struct.pack(">3I", 1500, 1000, 1000) + bytes(10)
    path = tmp_path / "short-images-idx3-ubyte"
    path.write_bytes(gzip.compress(data) if gz else data)
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match="truncated") as err:
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "short-images-idx3-ubyte" in str(err.value)
    assert peak < 64 << 20


def test_an_emnist_mapping_with_absurd_numbers_is_not_trusted(tmp_path, rng):
    ip = write_idx(tmp_path / "emnist-letters-train-images-idx3-ubyte", digit_like(rng, 3))
    lp = write_idx(tmp_path / "emnist-letters-train-labels-idx1-ubyte", np.array([0, 1, 2]))
    mapping = tmp_path / "emnist-letters-mapping.txt"
    mapping.write_text(f"0 65\n1 {'9' * 30}\n2 67\n{2**31 - 1} 68\n")
    out = run_capped(f"load_idx({str(ip)!r}, {str(lp)!r}).class_names", timeout=60)
    assert out["error"] is None, out
    assert out["result"] == "['A', 'class 1', 'C']"


def test_a_fifo_or_a_device_is_refused_naming_it(tmp_path):
    fifo = tmp_path / "train-labels-idx1-ubyte"
    os.mkfifo(fifo)
    out = run_capped(f"read_idx({str(fifo)!r})", timeout=30)
    assert out["error"] == "DatasetError" and "pipe (FIFO)" in out["message"], out
    assert str(fifo) in out["message"]
    out = run_capped("read_idx('/dev/zero')", mem_mb=512, timeout=30)
    assert out["error"] == "DatasetError" and "/dev/zero" in out["message"], out


def test_a_gzip_bomb_is_refused_by_its_compression_ratio(tmp_path):
    # 205 MB of zeros (under the 2 GB limit, and what the header says) in 200 KB.
    path = tmp_path / "zeros-images-idx3-ubyte.gz"
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip stream
    parts = [packer.compress(bytes([0, 0, 8, 3]) + struct.pack(">3I", 2000, 320, 320))]
    parts += [packer.compress(bytes(1 << 20)) for _ in range(2000 * 320 * 320 >> 20)]
    path.write_bytes(b"".join([*parts, packer.compress(bytes(2000 * 320 * 320 % (1 << 20)))]))
    with open(path, "ab") as f:
        f.write(packer.flush())
    assert path.stat().st_size < 250_000
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match="decompression bomb") as err:
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "zeros-images-idx3-ubyte.gz" in str(err.value)
    assert peak < 160 << 20  # the old reader allocated all 205 MB first
