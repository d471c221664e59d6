from __future__ import annotations

import gzip
import os
import tracemalloc

import numpy as np
import pytest

from cnnstudio.data import DatasetError, load_csv, load_dataset

from .conftest import run_capped


def rows_text(images, labels, header=True, label_last=False):
    npix = images[0].size
    lines = []
    if header:
        cols = [f"pixel{i}" for i in range(npix)]
        lines.append(",".join([*cols, "label"] if label_last else ["label", *cols]))
    for img, lab in zip(images, labels, strict=True):
        pix = [str(v) for v in img.ravel()]
        lines.append(",".join([*pix, str(lab)] if label_last else [str(lab), *pix]))
    return "\n".join(lines) + "\n"


@pytest.fixture
def data(rng):
    images = rng.integers(0, 256, size=(12, 4, 4), dtype=np.uint8)
    images[:, 0, 0] = 0  # MNIST-like: the corner pixel is always background
    labels = np.arange(12) % 3
    return images, labels


@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("label_last", [True, False])
def test_round_trip_layouts(tmp_path, data, header, label_last):
    images, labels = data
    path = tmp_path / "d.csv"
    path.write_text(rows_text(images, labels, header, label_last))
    ds = load_csv(path)
    assert ds.input_shape == (1, 4, 4)
    assert ds.labels.tolist() == labels.tolist()
    assert np.array_equal(ds.images[:, 0], images)
    assert ds.class_names == ["0", "1", "2"]


def test_gzipped(tmp_path, data):
    images, labels = data
    path = tmp_path / "d.csv.gz"
    path.write_bytes(gzip.compress(rows_text(images, labels).encode()))
    ds = load_dataset(path).train
    assert np.array_equal(ds.images[:, 0], images)


def test_text_labels_become_classes(tmp_path, data):
    images, _ = data
    names = np.array(["cat", "dog", "cat", "emu"] * 3)
    path = tmp_path / "d.csv"
    path.write_text(rows_text(images, names, header=True))
    ds = load_csv(path)
    assert ds.class_names == ["cat", "dog", "emu"]
    assert ds.labels.tolist()[:4] == [0, 1, 0, 2]


def test_ragged_row_names_the_line(tmp_path, data):
    images, labels = data
    lines = rows_text(images, labels).splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0]
    path = tmp_path / "ragged.csv"
    path.write_text("\n".join(lines))
    with pytest.raises(DatasetError, match="line 6 has 16 values but the first row has 17") as err:
        load_csv(path)
    assert "ragged.csv" in str(err.value)


def test_non_numeric_pixel_names_line_and_column(tmp_path, data):
    images, labels = data
    lines = rows_text(images, labels).splitlines()
    parts = lines[3].split(",")
    parts[7] = "abc"
    lines[3] = ",".join(parts)
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines))
    with pytest.raises(DatasetError, match="line 4, column 8: 'abc' is not a number"):
        load_csv(path)


def test_pixel_out_of_range(tmp_path, data):
    images, labels = data
    lines = rows_text(images, labels, header=False).splitlines()
    lines[2] = lines[2].replace(",", ",300,", 1).rsplit(",", 1)[0]
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines))
    with pytest.raises(DatasetError, match="line 3 has pixel value 300"):
        load_csv(path)


def test_unknown_image_shape_and_empty_file(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("1,2,3,4,5,6\n0,1,2,3,4,5\n")
    with pytest.raises(DatasetError, match="5 pixel values"):
        load_csv(path)
    assert load_csv(path, image_shape=(1, 5)).input_shape == (1, 1, 5)
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n")
    with pytest.raises(DatasetError, match="empty"):
        load_csv(empty)


def test_values_in_zero_to_one_are_scaled(tmp_path):
    path = tmp_path / "unit.csv"
    path.write_text("label,a,b,c,d\n0,0,0.5,1,0.25\n1,1,1,0,0\n")
    ds = load_csv(path)
    assert ds.images[:, 0].reshape(2, 4).tolist() == [[0, 128, 255, 64], [255, 255, 0, 0]]


def test_windows_line_ends_byte_order_mark_and_headerless_text_labels(tmp_path):
    path = tmp_path / "win.csv"
    path.write_bytes("\ufefflabel,a,b,c,d\r\n3,1,2,3,4\r\n1,5,6,7,8\r\n".encode())
    ds = load_csv(path)
    assert ds.labels.tolist() == [3, 1] and ds.images[1, 0].ravel().tolist() == [5, 6, 7, 8]
    bare = tmp_path / "bare.csv"
    bare.write_text("cat,1,2,3,4\ndog,5,6,7,8\ncat,0,0,0,0\n")
    ds = load_csv(bare)
    assert ds.class_names == ["cat", "dog"] and ds.labels.tolist() == [0, 1, 0]


# -- hostile and damaged files (issue 18) ---------------------------------------------


def test_an_id_in_the_label_column_is_refused_before_anything_is_sized_by_it(tmp_path):
    # 43 bytes: one class name per number up to 10^9 used to be built (24 GB, OOM).
    path = tmp_path / "ids.csv"
    path.write_text("label,a,b,c,d\n1000000000,1,2,3,4\n")
    out = run_capped(f"load_csv({str(path)!r})", mem_mb=1024, timeout=60)
    assert out["error"] == "DatasetError", out
    assert "ids.csv" in out["message"] and "'label'" in out["message"]
    assert "id or a timestamp" in out["message"] and "label column" in out["message"]
    assert out["seconds"] < 5


def test_a_label_column_of_distinct_ids_is_refused(tmp_path, rng):
    images = rng.integers(0, 256, size=(3000, 2, 2), dtype=np.uint8)
    path = tmp_path / "rows.csv"
    path.write_text(rows_text(images, 7_000 + np.arange(3000)))
    with pytest.raises(DatasetError, match="3,000 different values in 3,000 rows") as err:
        load_csv(path)
    assert "rows.csv" in str(err.value)


def test_sparse_small_labels_keep_their_numbers(tmp_path, data):
    images, _ = data
    path = tmp_path / "sparse.csv"
    path.write_text(rows_text(images, np.array([0, 5, 9] * 4)))
    ds = load_csv(path)
    assert ds.class_names == [str(i) for i in range(10)]
    assert ds.labels.tolist()[:3] == [0, 5, 9]


def test_large_label_codes_become_classes_named_by_their_code(tmp_path, data):
    images, _ = data
    path = tmp_path / "codes.csv"
    path.write_text(rows_text(images, np.array([5000, 1000, 250000] * 4)))
    ds = load_csv(path)
    assert ds.class_names == ["1000", "5000", "250000"]
    assert ds.labels.tolist()[:3] == [1, 0, 2]


def _damaged_gzip(kind: str) -> bytes:
    data = gzip.compress(("label,a,b,c,d\n" + "1,2,3,4,5\n" * 2000).encode())
    if kind == "truncated":  # EOFError inside gzip
        return data[: len(data) // 2]
    if kind == "bad block":  # zlib.error
        return data[:10] + b"\xff" * 20 + data[30:]
    return b"\x1f\x8b" + b"\0" * 40  # gzip.BadGzipFile: unknown compression method


@pytest.mark.parametrize("kind", ["truncated", "bad block", "bad header"])
def test_a_damaged_gzip_file_is_a_dataset_error(tmp_path, kind):
    path = tmp_path / "d.csv.gz"
    path.write_bytes(_damaged_gzip(kind))
    with pytest.raises(DatasetError, match="damaged or truncated") as err:
        load_csv(path)
    assert str(path) in str(err.value)


def test_a_single_row_shorter_than_the_header(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("label,a,b,c,d\n1,2,3\n")
    with pytest.raises(DatasetError, match="line 2 has 3 values but the first row has 5") as err:
        load_csv(path)
    assert "short.csv" in str(err.value)


@pytest.mark.parametrize("column", [0, 2])
def test_numbers_with_thousands_of_digits(tmp_path, column):
    values = ["1", "2", "3", "4", "5"]
    values[column] = "9" * 5000
    path = tmp_path / "digits.csv"
    path.write_text("label,a,b,c,d\n" + ",".join(values) + "\n0,1,2,3,4\n")
    with pytest.raises(DatasetError, match="line 2") as err:
        load_csv(path)
    assert "digits.csv" in str(err.value) and len(str(err.value)) < 300


def test_class_name_problems_name_the_file(tmp_path, data):
    images, labels = data
    path = tmp_path / "named.csv"
    path.write_text(rows_text(images, labels))
    with pytest.raises(DatasetError, match="unique") as err:
        load_csv(path, class_names=["a", "a", "b"])
    assert "named.csv" in str(err.value)


def _zeros_gzip(path, rows: int, npix: int = 784) -> None:
    """A .csv.gz of all-zero rows: tiny on disk, about 2 bytes of text per pixel inside."""
    row = ("0," * npix + "0\n").encode()
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(("label," + ",".join(f"p{i}" for i in range(npix)) + "\n").encode())
        for _ in range(rows // 1000):
            f.write(row * 1000)


@pytest.fixture(scope="module")
def zeros_gz(tmp_path_factory):
    path = tmp_path_factory.mktemp("bomb") / "zeros.csv.gz"
    _zeros_gzip(path, 120_000)  # 190 MB of text in 340 KB
    assert path.stat().st_size < 400_000
    return path


def test_a_gzip_bomb_is_refused_early_with_little_memory(zeros_gz):
    # The old loader parsed it all into a float table first (1.9 MB took 2.6 GB).
    for limit in ("", ", max_bytes=8 << 20"):
        out = run_capped(f"load_csv({str(zeros_gz)!r}{limit})", mem_mb=448, timeout=60)
        assert out["error"] == "DatasetError", out
        assert "zeros.csv.gz" in out["message"]
        assert ("limit" if limit else "decompression bomb") in out["message"]
        assert out["seconds"] < 5


def test_loading_a_csv_needs_no_float_copy_of_it(tmp_path):
    path = tmp_path / "zeros.csv"
    with open(path, "w") as f:
        f.write("label," + ",".join(f"p{i}" for i in range(784)) + "\n")
        f.write(("0," * 784 + "0\n") * 40_000)  # 63 MB of text, a 31 MB dataset
    tracemalloc.start()
    try:
        ds = load_csv(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(ds) == 40_000
    # A float32 table of it (the old loader) alone is 4 times the dataset.
    assert peak < 2 * ds.images.nbytes + (16 << 20)


def _long_rows(labels, values) -> str:
    """Rows of 784 pixels: enough text that the loader reads them in several blocks."""
    head = "label," + ",".join(f"p{i}" for i in range(784))
    rows = [f"{lab}," + ",".join([v] * 784) for lab, v in zip(labels, values, strict=True)]
    return "\n".join([head, *rows])


def test_text_labels_that_start_after_the_first_block(tmp_path):
    n = 6000  # about 9 MB: the first blocks hold only number labels
    labels = [str(i % 3) for i in range(n - 2)] + ["cat", "dog"]
    path = tmp_path / "late.csv"
    path.write_text(_long_rows(labels, ["7"] * n))
    ds = load_csv(path)
    assert ds.class_names == ["0", "1", "2", "cat", "dog"]
    assert ds.labels.tolist()[:4] == [0, 1, 2, 0] and ds.labels.tolist()[-2:] == [3, 4]
    assert len(ds) == n and (ds.images == 7).all()


def test_a_zero_to_one_start_does_not_decide_the_scale_of_a_0_255_file(tmp_path):
    n = 6000
    values = ["1"] * (n - 1) + ["200"]  # the first blocks look like a 0-1 scale
    path = tmp_path / "dark.csv"
    path.write_text(_long_rows(["0", "1"] * (n // 2), values))
    ds = load_csv(path)
    assert (ds.images[:-1] == 1).all() and (ds.images[-1] == 200).all()
    scaled = tmp_path / "unit.csv"
    scaled.write_text(_long_rows(["0", "1"] * (n // 2), ["0.5"] * n))
    assert (load_csv(scaled).images == 128).all()


def test_fifo_device_and_folder_are_refused_naming_them(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    out = run_capped(f"load_csv({str(fifo)!r})", timeout=30)
    assert out["error"] == "DatasetError" and "pipe.csv" in out["message"], out
    assert "pipe (FIFO)" in out["message"]
    out = run_capped("load_csv('/dev/zero')", mem_mb=512, timeout=30)
    assert out["error"] == "DatasetError" and "/dev/zero" in out["message"], out
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(DatasetError, match="is a folder") as err:
        load_csv(tmp_path / "folder.csv")
    assert "folder.csv" in str(err.value)


def test_the_decompressed_size_of_a_gzip_is_bounded(tmp_path):
    path = tmp_path / "blank.csv.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"label,a,b,c,d\n1,2,3,4,5\n")
        f.write(b"\n" * (40 << 20))
    with pytest.raises(DatasetError, match="decompresses to more than") as err:
        load_csv(path, max_bytes=1 << 20)
    assert "blank.csv.gz" in str(err.value)


def test_a_file_name_that_is_not_utf8_gives_savable_names(tmp_path, data):
    images, labels = data
    path = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.csv")
    with open(path, "w") as f:
        f.write(rows_text(images, labels))
    ds = load_csv(path)
    assert ds.name == "caf\\xe9.csv"
    ds.source.encode("utf-8")  # saved with a trained model: must be valid text
