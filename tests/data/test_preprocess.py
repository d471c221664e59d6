from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cnnstudio.data import DatasetError, has_ink, load_image_for_prediction, preprocess_digit

from .conftest import blank_png16, bomb_png, run_capped


def centre_of_mass(img):
    m = img.sum()
    ys, xs = np.indices(img.shape)
    return (ys * img).sum() / m, (xs * img).sum() / m


def ink_box(img, threshold=0.1):
    ys, xs = np.nonzero(img > threshold)
    return ys.max() - ys.min() + 1, xs.max() - xs.min() + 1


def paper_seven(size=(300, 400)):
    """A big, off-centre "7" in dark ink on white paper (a photo or scan)."""
    img = Image.new("L", size[::-1], 255)
    draw = ImageDraw.Draw(img)
    draw.line([(220, 30), (380, 30), (290, 280)], fill=20, width=18)
    return np.asarray(img)


def test_off_centre_large_dark_digit_ends_centred_and_fitted():
    out = preprocess_digit(paper_seven())
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0 and out.max() > 0.9
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) <= 0.51 and abs(cx - 14) <= 0.51
    h, w = ink_box(out)
    assert max(h, w) in (20, 21) and max(h, w) == h  # taller than wide, like the drawing
    assert w < h * 0.8
    # Ink is bright on black now, and the corners are background.
    assert out[0, 0] == 0 and out[-1, -1] == 0


def test_polarity_does_not_matter():
    dark_on_light = paper_seven()
    light_on_dark = 255 - dark_on_light
    np.testing.assert_allclose(
        preprocess_digit(dark_on_light), preprocess_digit(light_on_dark), atol=1e-6
    )
    # Forcing the wrong polarity gives something else (the paper becomes the ink).
    assert not np.allclose(
        preprocess_digit(dark_on_light, invert=False), preprocess_digit(dark_on_light)
    )


def test_grey_noisy_photo_background_is_removed():
    rng = np.random.default_rng(0)
    photo = paper_seven().astype(np.float64) / 255.0 * 0.6 + 0.3  # grey paper, grey ink
    photo += rng.normal(0, 0.02, photo.shape)
    out = preprocess_digit(np.clip(photo, 0, 1))
    assert out.max() > 0.9
    assert (out[:3] < 0.05).all() and (out[:, :3] < 0.05).all()


def test_input_forms_agree():
    gray = paper_seven((120, 160))
    ref = preprocess_digit(gray)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    rgba = np.dstack([rgb, np.full(gray.shape, 255, np.uint8)])
    for form in (gray / 255.0, rgb, rgba, gray[None], np.repeat(gray[None], 3, axis=0)):
        np.testing.assert_allclose(preprocess_digit(form), ref, atol=2e-2)


def test_any_output_size():
    out = preprocess_digit(paper_seven(), out_size=(56, 40))
    assert out.shape == (56, 40)
    h, w = ink_box(out)
    assert h <= round(56 * 20 / 28) + 1 and w <= round(40 * 20 / 28) + 1
    cy, cx = centre_of_mass(out)
    assert abs(cy - 28) <= 0.51 and abs(cx - 20) <= 0.51


def test_wide_stroke_keeps_its_aspect():
    img = np.zeros((100, 100), np.float32)
    img[40:50, 5:95] = 1.0  # a dash 90 wide, 10 tall
    h, w = ink_box(preprocess_digit(img))
    assert w in (20, 21) and 2 <= h <= 4


def test_empty_images_give_zeros_not_errors():
    for blank in (np.zeros((50, 50)), np.full((50, 50), 255, np.uint8), np.full((9, 9, 3), 0.9)):
        out = preprocess_digit(blank)
        assert out.shape == (28, 28) and not out.any()
        assert not has_ink(blank)
    noise = np.clip(0.9 + np.random.default_rng(1).normal(0, 0.01, (40, 40)), 0, 1)
    assert not has_ink(noise)
    assert has_ink(paper_seven())


def test_bad_arrays():
    with pytest.raises(DatasetError, match="shape"):
        preprocess_digit(np.zeros((2, 3, 4, 5)))
    with pytest.raises(DatasetError, match="NaN"):
        preprocess_digit(np.full((5, 5), np.nan))
    with pytest.raises(DatasetError, match="invert"):
        preprocess_digit(np.zeros((5, 5)), invert="yes")


def test_image_file_for_a_gray_and_an_rgb_model(tmp_path):
    path = tmp_path / "seven.png"
    Image.fromarray(paper_seven()).save(path)
    gray = load_image_for_prediction(path, (1, 28, 28))
    assert gray.shape == (1, 28, 28) and gray.dtype == np.float32
    np.testing.assert_allclose(gray[0], preprocess_digit(paper_seven()), atol=1e-6)
    rgb = load_image_for_prediction(path, (3, 28, 28), mode="digit")
    assert rgb.shape == (3, 28, 28) and np.array_equal(rgb[0], rgb[2])
    photo = load_image_for_prediction(path, (3, 16, 16))  # RGB models: whole picture resized
    assert photo.shape == (3, 16, 16) and photo[:, 0, 0].min() > 0.9


def test_unreadable_image_files(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    for path, words in (
        (empty, "zero-byte"),
        (text, "cannot read this file as an image"),
        (tmp_path / "missing.png", "not found"),
    ):
        with pytest.raises(DatasetError, match=words) as err:
            load_image_for_prediction(path, (1, 28, 28))
        assert path.name in str(err.value)


def test_mnist_digits_pass_through_almost_unchanged():
    """The recipe is MNIST's: its own digits (and their negatives) come out as they went in."""
    from cnnstudio.data import load_builtin

    digits = load_builtin().test.images[::5, 0]
    for source in (digits, 255 - digits):
        out = np.stack([preprocess_digit(d) for d in source])
        diff = np.abs(np.round(out * 255) - digits.astype(np.float64))
        assert diff.mean() < 0.5
        assert (diff.reshape(len(digits), -1).max(axis=1) <= 2).mean() > 0.95


def test_a_faint_mark_far_from_the_digit_is_ignored():
    drawing = np.zeros((100, 100), np.float32)
    drawing[20:80, 45:55] = 1.0
    smudged = drawing.copy()
    smudged[95, 2] = 0.05  # a faint speck in a corner of a clean drawing
    np.testing.assert_array_equal(preprocess_digit(smudged), preprocess_digit(drawing))


def test_image_files_that_are_no_regular_files_or_too_large(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    out = run_capped(f"load_image_for_prediction({str(fifo)!r}, (1, 28, 28))", timeout=30)
    assert out["error"] == "DatasetError" and "pipe.png: is a pipe (FIFO)" in out["message"], out
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bomb_png())
    huge = tmp_path / "huge.png"
    huge.write_bytes(blank_png16())
    for path, words in ((bomb, "header claims far more than"), (huge, "12000x12000 pixels")):
        out = run_capped(f"load_image_for_prediction({str(path)!r}, (1, 28, 28))", timeout=60)
        assert out["error"] == "DatasetError" and words in out["message"], out
        assert path.name in out["message"]
    with pytest.raises(DatasetError, match="is a folder") as err:
        load_image_for_prediction(tmp_path, (1, 28, 28))
    assert str(tmp_path) in str(err.value)
