from __future__ import annotations

import gzip

import numpy as np
import pytest

from cnnstudio.data import DatasetError, load_csv, load_dataset


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
