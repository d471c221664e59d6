from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cnnstudio.data import DatasetError, load_dataset, load_image_folder

from .conftest import write_png


@pytest.fixture
def folder(tmp_path, rng):
    """Two classes of PNGs of different sizes: bright squares ("box") and dark ones ("dark")."""
    root = tmp_path / "shapes"
    for i in range(4):
        size = 20 + 10 * i
        box = np.zeros((size, size + 5), dtype=np.uint8)
        box[size // 4 : -size // 4, size // 4 : -size // 4] = 255
        write_png(root / "box" / f"b{i}.png", box)
        write_png(root / "dark" / f"d{i}.png", np.full((size, size), 10, dtype=np.uint8))
    return root


def test_round_trip_grayscale(folder):
    ds = load_image_folder(folder, input_size=(16, 16))
    assert ds.class_names == ["box", "dark"]
    assert ds.input_shape == (1, 16, 16) and ds.color_mode == "L"
    assert ds.counts().tolist() == [4, 4]
    assert ds.skipped == ()
    boxes = ds.images[ds.labels == 0]
    # Converted, not just stacked: every box is bright in the middle and dark at the edge.
    assert (boxes[:, 0, 8, 8] > 200).all() and (boxes[:, 0, 0, 0] < 30).all()
    assert (ds.images[ds.labels == 1] < 30).all()


def test_rgb_mode_and_detection(folder, rng):
    write_png(
        folder / "red" / "r.png",
        np.dstack([np.full((9, 9), 250, np.uint8), *[np.zeros((9, 9), np.uint8)] * 2]),
    )
    ds = load_image_folder(folder, input_size=(8, 8))
    assert ds.input_shape == (3, 8, 8)
    red = ds.images[ds.labels == ds.class_names.index("red")][0]
    assert red[0].min() > 200 and red[1].max() < 30
    gray = load_image_folder(folder, input_size=(8, 8), color="L")
    assert gray.input_shape == (1, 8, 8)


def test_other_formats_are_read(folder):
    img = Image.fromarray(np.full((12, 12), 200, np.uint8))
    img.save(folder / "box" / "x.jpg")
    img.save(folder / "box" / "x.bmp")
    img.save(folder / "box" / "x.gif")
    ds = load_image_folder(folder, input_size=(8, 8))
    assert ds.counts().tolist() == [7, 4]


def test_bad_files_are_skipped_and_reported(folder):
    (folder / "box" / "empty.png").write_bytes(b"")
    (folder / "box" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    (folder / "dark" / "notes.txt").write_text("hello")
    (folder / "dark" / "fake.jpg").write_text("not a jpeg")
    ds = load_image_folder(folder, input_size=(8, 8))
    assert ds.counts().tolist() == [4, 4]
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in ds.skipped}
    assert set(reasons) == {"empty.png", "broken.png", "notes.txt", "fake.jpg"}
    assert "zero-byte" in reasons["empty.png"]
    assert "not an image" in reasons["notes.txt"]
    assert "not an image" in reasons["fake.jpg"] or "unreadable" in reasons["fake.jpg"]
    assert "unreadable" in reasons["broken.png"] or "not an image" in reasons["broken.png"]


def test_empty_folder(tmp_path):
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DatasetError, match="no class subfolders") as err:
        load_image_folder(tmp_path / "nothing")
    assert "nothing" in str(err.value)


def test_images_without_class_subfolders(tmp_path):
    write_png(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DatasetError, match="one subfolder per class"):
        load_image_folder(tmp_path)


def test_one_class(tmp_path):
    write_png(tmp_path / "cats" / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DatasetError, match=r"at least two class.*'cats'"):
        load_image_folder(tmp_path)


def test_class_with_only_bad_images_is_left_out(folder):
    (folder / "ghost").mkdir()
    (folder / "ghost" / "zero.png").write_bytes(b"")
    ds = load_image_folder(folder, input_size=(8, 8))
    assert ds.class_names == ["box", "dark"]
    assert any("class left out" in s.reason for s in ds.skipped)


def test_oversized_conversion_refused(folder):
    with pytest.raises(DatasetError, match=r"would need .* GB .*limit") as err:
        load_image_folder(folder, input_size=(10000, 10000), color="RGB")
    assert "smaller input size" in str(err.value)
    with pytest.raises(DatasetError, match="limit"):
        load_image_folder(folder, input_size=(16, 16), max_bytes=100)


def test_load_dataset_detects_class_folders(folder):
    split = load_dataset(folder, input_size=(10, 12))
    assert split.test is None and split.train.input_shape == (1, 10, 12)


def test_progress_is_reported(folder):
    seen = []
    load_image_folder(
        folder, input_size=(8, 8), progress=lambda done, total: seen.append((done, total))
    )
    assert seen[-1] == (8, 8) and len(seen) == 8


def test_train_and_test_folders_of_classes(tmp_path):
    root = tmp_path / "pets"
    for part, n in (("train", 3), ("test", 2)):
        for k, cls in enumerate(("cat", "dog", "emu")):
            if part == "test" and cls == "dog":
                continue  # a test part may lack a class
            for i in range(n):
                write_png(root / part / cls / f"{i}.png", np.full((9, 9), 40 * k, np.uint8))
    split = load_dataset(root, input_size=(8, 8))
    assert split.train.class_names == ["cat", "dog", "emu"]
    assert split.test is not None and split.test.class_names == ["cat", "dog", "emu"]
    assert split.test.counts().tolist() == [2, 0, 2]
    # Labels agree across parts: every "emu" image is the same grey in both.
    assert (
        split.test.images[split.test.labels == 2].min()
        == split.train.images[split.train.labels == 2].min()
    )


def test_test_folder_with_an_unknown_class(tmp_path):
    root = tmp_path / "pets"
    for part, classes in (("train", ("cat", "dog")), ("val", ("cat", "yak"))):
        for cls in classes:
            write_png(root / part / cls / "0.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DatasetError, match=r"val folder has classes \['yak'\]"):
        load_dataset(root)
