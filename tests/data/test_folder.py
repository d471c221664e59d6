from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from cnnstudio.data import DatasetError, load_dataset, load_image_folder

from .conftest import blank_png16, bomb_png, run_capped, write_png


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


def test_rgb_mode_and_detection(tmp_path):
    red = np.dstack([np.full((9, 9), 250, np.uint8), *[np.zeros((9, 9), np.uint8)] * 2])
    write_png(tmp_path / "red" / "r.png", red)
    write_png(tmp_path / "blue" / "b.png", red[..., ::-1].copy())
    ds = load_image_folder(tmp_path, input_size=(8, 8))
    assert ds.input_shape == (3, 8, 8)
    red = ds.images[ds.labels == ds.class_names.index("red")][0]
    assert red[0].min() > 200 and red[1].max() < 30
    gray = load_image_folder(tmp_path, input_size=(8, 8), color="L")
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


def test_progress_is_reported(folder, monkeypatch):
    from cnnstudio.data import folder as folder_module

    monkeypatch.setattr(folder_module, "_LOAD_CHUNK", 3)  # reported chunk by chunk
    seen = []
    load_image_folder(
        folder, input_size=(8, 8), progress=lambda done, total: seen.append((done, total))
    )
    assert seen == [(3, 8), (6, 8), (8, 8)]


def test_images_decoded_in_parallel_keep_their_labels_around_a_skipped_file(tmp_path, monkeypatch):
    # Two threads convert the files; a damaged file in the middle must not shift the
    # images after it against their labels.
    from cnnstudio.data import folder as folder_module

    monkeypatch.setattr(folder_module, "_LOAD_CHUNK", 4)
    root = tmp_path / "shades"
    for k, cls in enumerate(("dark", "light")):
        (root / cls).mkdir(parents=True)
        for i in range(5):
            value = 40 * k + 8 * i + 100 * k
            Image.fromarray(np.full((8, 8), value, np.uint8)).save(root / cls / f"{i}.png")
    (root / "dark" / "2b.png").write_bytes(b"not a png")
    ds = load_image_folder(root, input_size=(8, 8))
    assert len(ds) == 10 and len(ds.skipped) == 1
    dark = ds.images[ds.labels == 0][:, 0, 0, 0]
    light = ds.images[ds.labels == 1][:, 0, 0, 0]
    assert sorted(dark.tolist()) == [0, 8, 16, 24, 32]
    assert sorted(light.tolist()) == [140, 148, 156, 164, 172]


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


# -- hostile folders and images (issue 18) ----------------------------------------------


def _unlistable(monkeypatch, folder):
    """Make ``folder`` fail to list as it does without read permission (the tests run as
    root, whom chmod does not stop)."""
    blocked = os.fspath(folder)
    real_scandir, real_listdir = os.scandir, os.listdir

    def refuse(path):
        if os.fspath(path) == blocked:
            raise PermissionError(13, "Permission denied", blocked)

    def scandir(path="."):
        refuse(path)
        return real_scandir(path)

    def listdir(path="."):
        refuse(path)
        return real_listdir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "listdir", listdir)


def test_a_folder_that_cannot_be_listed(folder, monkeypatch):
    _unlistable(monkeypatch, folder)
    for load in (load_image_folder, load_dataset):
        with pytest.raises(DatasetError, match="permission denied: cannot list") as err:
            load(folder)
        assert str(folder) in str(err.value)


def test_a_class_folder_that_cannot_be_listed_is_skipped(folder, monkeypatch):
    write_png(folder / "locked" / "x.png", np.zeros((4, 4), np.uint8))
    _unlistable(monkeypatch, folder / "locked")
    ds = load_image_folder(folder, input_size=(8, 8))
    assert ds.class_names == ["box", "dark"]
    reasons = {s.path: s.reason for s in ds.skipped}
    assert "permission denied" in reasons[str(folder / "locked")]


def test_links_leaving_the_dataset_folder_are_not_followed(folder):
    (folder / "everything").symlink_to("/")
    (folder / "loop").symlink_to(folder / "loop")
    (folder / "box" / "again").symlink_to(folder / "box")  # inside, but a cycle
    (folder / "box" / "up").symlink_to(folder)
    (folder / "alias").symlink_to(folder / "dark")  # inside the root: a class like any
    out = run_capped(
        f"(lambda d: (d.class_names, d.counts().tolist(), sorted(s.reason for s in d.skipped)))"
        f"(load_image_folder({str(folder)!r}, input_size=(8, 8)))",
        timeout=60,
    )
    assert out["error"] is None, out
    names, counts, reasons = eval(out["result"])
    assert names == ["alias", "box", "dark"] and counts == [4, 4, 4]
    assert sum("outside the dataset folder" in r for r in reasons) == 1  # /
    assert sum("back to the dataset folder" in r for r in reasons) == 1
    assert any("link loop" in r for r in reasons)
    assert out["seconds"] < 10


def test_a_decompression_bomb_is_skipped_like_any_bad_file(folder):
    (folder / "box" / "bomb.png").write_bytes(bomb_png())
    ds = load_image_folder(folder, input_size=(8, 8))
    assert ds.counts().tolist() == [4, 4]
    (bomb,) = ds.skipped
    assert bomb.path.endswith("bomb.png") and "too large" in bomb.reason
    assert "megapixels" in bomb.reason and "DOS" not in bomb.reason  # our words, not Pillow's


def test_a_huge_16_bit_png_is_skipped_before_it_is_decoded(folder):
    (folder / "box" / "huge.png").write_bytes(blank_png16())  # 290 KB, 288 MB decoded
    out = run_capped(
        f"(lambda d: (d.counts().tolist(), [str(s) for s in d.skipped]))"
        f"(load_image_folder({str(folder)!r}, input_size=(8, 8)))",
        mem_mb=1024,
        timeout=60,
    )
    assert out["error"] is None, out
    counts, skipped = eval(out["result"])
    assert counts == [4, 4] and len(skipped) == 1
    assert "huge.png" in skipped[0] and "12000x12000" in skipped[0]
    assert out["seconds"] < 10


def test_16_bit_images_convert_without_float64_copies(tmp_path):
    gradient = np.tile(np.linspace(0, 4000, 3000).astype(np.uint16), (3000, 1))
    write_png(tmp_path / "a" / "g.png", gradient)  # 18 MB decoded; a float64 copy is 72 MB
    write_png(tmp_path / "b" / "z.png", np.zeros((4, 4), np.uint8))
    tracemalloc.start()
    try:
        ds = load_image_folder(tmp_path, input_size=(8, 8))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    g = ds.images[0, 0]
    assert g[:, 0].max() < 25 and g[:, -1].min() > 230  # scaled by the brightest value
    assert peak < 32 << 20


def test_a_class_folder_name_that_is_not_utf8_is_refused_at_load(folder):
    odd = os.fsencode(folder) + b"/caf\xe9"
    os.mkdir(odd)
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(os.fsdecode(odd + b"/a.png"))
    with pytest.raises(DatasetError, match="rename") as err:
        load_image_folder(folder, input_size=(8, 8))
    message = str(err.value)
    assert "caf\\xe9" in message and "UTF-8" in message
    message.encode("utf-8")  # printable on any terminal


def test_fifos_and_devices_among_the_images_are_skipped_and_reported(folder):
    os.mkfifo(folder / "box" / "pipe.png")
    (folder / "dark" / "zero.png").symlink_to("/dev/zero")
    ds = load_image_folder(folder, input_size=(8, 8))
    assert ds.counts().tolist() == [4, 4]
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in ds.skipped}
    assert "pipe (FIFO)" in reasons["pipe.png"] and "device" in reasons["zero.png"]


def _photos_and_digits(root, photos: int, digits: int, rng) -> None:
    for i in range(photos):
        write_png(root / "cat" / f"p{i}.png", rng.integers(0, 256, (32, 32, 3), np.uint8))
    for i in range(digits):
        write_png(root / "7" / f"d{i}.png", rng.integers(0, 256, (28, 28), np.uint8))


@pytest.mark.parametrize("color", [None, "L", "RGB"])
def test_a_folder_mixing_photos_and_digits_is_refused_saying_what_it_holds(tmp_path, rng, color):
    root = tmp_path / "mixed"
    _photos_and_digits(root, photos=6, digits=4, rng=rng)
    with pytest.raises(DatasetError) as err:
        load_dataset(root, input_size=(32, 32), color=color)
    message = str(err.value)
    assert message.startswith(f"{root}: mixes ")
    assert "6 colour images (all 32x32)" in message
    assert "4 grayscale images (all 28x28)" in message
    assert "e.g. 7/d0.png" in message  # one of the fewer kind, to find them
    assert "move the grayscale images to a folder of their own" in message


def test_a_few_grey_photos_among_colour_ones_are_converted(tmp_path, rng):
    root = tmp_path / "photos"
    _photos_and_digits(root, photos=40, digits=0, rng=rng)
    write_png(root / "dog" / "p.png", rng.integers(0, 256, (32, 32, 3), np.uint8))
    write_png(root / "dog" / "grey.png", rng.integers(0, 256, (30, 20), np.uint8))
    ds = load_image_folder(root, input_size=(32, 32))
    assert ds.input_shape == (3, 32, 32) and len(ds) == 42 and ds.skipped == ()


def test_photos_of_different_sizes_are_each_stretched_to_the_input_size(tmp_path, rng):
    root = tmp_path / "photos"
    for i, (h, w) in enumerate([(32, 32), (480, 640), (100, 50)]):
        red = np.zeros((h, w, 3), np.uint8)
        red[..., 0] = 200
        write_png(root / "red" / f"{i}.png", red)
        write_png(root / "green" / f"{i}.png", red[..., ::-1].copy())
    ds = load_image_folder(root, input_size=(32, 32))
    assert ds.input_shape == (3, 32, 32) and len(ds) == 6
    reds = ds.images[ds.labels == ds.class_names.index("red")]
    assert (reds[:, 0] == 200).all() and (reds[:, 1:] == 0).all()
