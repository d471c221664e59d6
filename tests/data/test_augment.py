from __future__ import annotations

import json
import sys
import time

import numpy as np
import pytest

from cnnstudio.data import (
    DIGIT_AUGMENTATION,
    Augmentation,
    DatasetError,
    Normalization,
    augment_batch,
    load_builtin,
    make_transform,
    preview_grid,
)
from cnnstudio.data.augment import PHOTO_AUGMENTATION, default_augmentation


@pytest.fixture(scope="module")
def digits():
    return load_builtin().train.images[::40][:64].copy()  # 64 digits of every class


def com(batch):
    """Centre of mass (y, x) of each image of an (N, 1, H, W) batch."""
    x = batch[:, 0].astype(np.float64)
    m = x.sum(axis=(1, 2))
    ys, xs = np.indices(x.shape[1:])
    return (x * ys).sum(axis=(1, 2)) / m, (x * xs).sum(axis=(1, 2)) / m


def test_same_seed_same_batch_other_seed_other_batch(digits):
    tf = make_transform(
        None, Augmentation(shift=2, rotation=15, scale=0.1, noise=0.05, thickness=1)
    )
    a = tf(digits, np.random.default_rng(3))
    b = tf(digits, np.random.default_rng(3))
    c = tf(digits, np.random.default_rng(4))
    assert a.dtype == np.float32 and a.shape == digits.shape
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_no_augmentation_is_plain_scaling_and_input_untouched(digits):
    before = digits.copy()
    out = make_transform(Normalization(), Augmentation())(digits, np.random.default_rng(0))
    np.testing.assert_allclose(out, digits / 255.0, rtol=1e-6)
    make_transform(None, DIGIT_AUGMENTATION)(digits, np.random.default_rng(0))
    assert np.array_equal(digits, before)


def test_no_rng_means_no_augmentation(digits):
    # The engine validates with transform(x, None): the same normalisation, nothing random.
    norm = Normalization((0.1307,), (0.3081,))
    out = make_transform(norm, DIGIT_AUGMENTATION)(digits, None)
    np.testing.assert_allclose(out, norm.apply(digits))


def test_shift_moves_the_centre_of_mass_by_whole_pixels(digits):
    out = augment_batch(digits / 255.0, Augmentation(shift=3), np.random.default_rng(1))
    (y0, x0), (y1, x1) = com(digits), com(out)
    dy, dx = y1 - y0, x1 - x0
    assert (np.abs(dy) > 0.5).mean() > 0.5  # most images moved
    # Where no ink was pushed out of the frame, the move is whole pixels, at most 3.
    kept = out.sum(axis=(1, 2, 3)) / (digits / 255.0).sum(axis=(1, 2, 3)) > 0.999
    assert kept.mean() > 0.8
    assert np.abs(dy[kept]).max() <= 3.01 and np.abs(dx[kept]).max() <= 3.01
    np.testing.assert_allclose(np.round(dy[kept]), dy[kept], atol=0.02)
    np.testing.assert_allclose(np.round(dx[kept]), dx[kept], atol=0.02)


def test_rotation_turns_a_bar_by_at_most_the_limit():
    bar = np.zeros((32, 1, 29, 29), np.float32)
    bar[:, :, 14, 4:25] = 1.0  # horizontal
    out = augment_batch(bar, Augmentation(rotation=30), np.random.default_rng(2))
    x = out[:, 0].astype(np.float64)
    ys, xs = np.indices(x.shape[1:]) - 14.0
    m = x.sum(axis=(1, 2))
    cov_xy = (x * xs * ys).sum(axis=(1, 2)) / m
    cov_xx = (x * xs * xs).sum(axis=(1, 2)) / m
    cov_yy = (x * ys * ys).sum(axis=(1, 2)) / m
    angle = np.degrees(0.5 * np.arctan2(2 * cov_xy, cov_xx - cov_yy))
    assert np.abs(angle).max() <= 31 and np.abs(angle).max() > 10
    assert np.abs(angle).std() > 3  # different angles for different images


def test_scale_changes_ink_area_within_limits(digits):
    x = digits / 255.0
    out = augment_batch(x, Augmentation(scale=0.2), np.random.default_rng(5))
    ratio = out.sum(axis=(1, 2, 3)) / x.sum(axis=(1, 2, 3))
    assert ratio.min() >= 0.8**2 * 0.95 and ratio.max() <= 1.2**2 * 1.05
    assert ratio.max() > 1.1 and ratio.min() < 0.9


def test_noise_has_the_requested_std():
    grey = np.full((64, 1, 28, 28), 0.5, np.float32)
    out = augment_batch(grey, Augmentation(noise=0.1), np.random.default_rng(0))
    assert (out - grey).std() == pytest.approx(0.1, rel=0.05)
    assert out.min() >= 0 and out.max() <= 1


def test_thickness_grows_and_shrinks_strokes():
    line = np.zeros((60, 1, 28, 28), np.float32)
    line[:, :, 5:23, 12:15] = 1.0
    out = augment_batch(line, Augmentation(thickness=1), np.random.default_rng(0))
    ink = out.sum(axis=(1, 2, 3))
    base = line[0].sum()
    thicker, thinner = ink > base, ink < base
    assert thicker.any() and thinner.any() and (ink == base).any()
    assert (out[thicker] >= line[thicker]).all()  # dilation only adds ink
    assert (out[thinner] <= line[thinner]).all()
    assert ink[thicker].min() == base + 2 * 18 + 2 * 3  # one pixel all round (cross)


def test_dict_round_trip_and_bad_settings():
    aug = Augmentation(shift=2, rotation=12.5, scale=0.1, noise=0.02, thickness=1)
    assert Augmentation.from_dict(json.loads(json.dumps(aug.to_dict()))) == aug
    assert not Augmentation().enabled and aug.enabled
    with pytest.raises(DatasetError, match="rotation must lie in 0-180"):
        Augmentation(rotation=-5)
    with pytest.raises(DatasetError, match="whole pixels"):
        Augmentation(shift=1.5)
    with pytest.raises(DatasetError, match=r"unknown augmentation settings \['flop'\]"):
        Augmentation.from_dict({"flop": True})
    photo = Augmentation(crop=4, flip=True, brightness=0.2, contrast=0.1, saturation=0.3, cutout=8)
    assert Augmentation.from_dict(json.loads(json.dumps(photo.to_dict()))) == photo
    with pytest.raises(DatasetError, match="flip must be true or false"):
        Augmentation(flip=1)
    with pytest.raises(DatasetError, match="crop is in whole pixels"):
        Augmentation(crop=2.5)
    with pytest.raises(DatasetError, match=r"saturation must lie in 0-1, got 1\.5"):
        Augmentation(saturation=1.5)


def test_transform_applies_the_normalisation_after_augmenting(digits):
    norm = Normalization((0.1307,), (0.3081,))
    aug = Augmentation(shift=1)
    out = make_transform(norm, aug)(digits, np.random.default_rng(9))
    plain = augment_batch(digits / 255.0, aug, np.random.default_rng(9))
    np.testing.assert_allclose(out, (plain - 0.1307) / 0.3081, rtol=1e-5, atol=1e-5)


def test_preview_grid(digits):
    grid = preview_grid(digits, DIGIT_AUGMENTATION, seed=1, rows=3, cols=5)
    assert grid.dtype == np.uint8 and grid.shape == (3 * 29 - 1, 5 * 29 - 1)
    # Column 0 shows the images as they are; the others differ.
    assert np.array_equal(grid[:28, :28], digits[0, 0])
    assert not np.array_equal(grid[:28, 29:57], digits[0, 0])
    assert np.array_equal(grid, preview_grid(digits, DIGIT_AUGMENTATION, seed=1, rows=3, cols=5))
    rgb = preview_grid(np.repeat(digits, 3, axis=1), DIGIT_AUGMENTATION, rows=2, cols=2)
    assert rgb.shape == (57, 57, 3)


# -- the photos' augmentations ---------------------------------------------------------


@pytest.fixture(scope="module")
def photos():
    return load_builtin("cifar10-sample").train.images[::50][:100].copy()  # every class


def test_crop_moves_the_content_by_its_offset_with_reflected_borders():
    rng = np.random.default_rng(0)
    x = rng.random((200, 3, 12, 10), dtype=np.float32)
    pad = 3
    out = augment_batch(x, Augmentation(crop=pad), np.random.default_rng(1))
    assert out.shape == x.shape and out.dtype == np.float32
    moves = []
    for img, src in zip(out, x, strict=True):
        padded = np.pad(src, ((0, 0), (pad, pad), (pad, pad)), mode="reflect")
        found = [
            (pad - top, pad - left)
            for top in range(2 * pad + 1)
            for left in range(2 * pad + 1)
            if np.array_equal(img, padded[:, top : top + 12, left : left + 10])
        ]
        assert len(found) == 1  # the image is the padded one cut at one offset, exactly
        moves.append(found[0])
    dy, dx = np.array(moves).T
    # Content at (y, x) lands at (y + dy, x + dx): one offset per image, all of them used.
    assert np.abs(dy).max() == pad and np.abs(dx).max() == pad
    assert len(set(moves)) == (2 * pad + 1) ** 2
    # An inner pixel is found moved by exactly the offset.
    i = 0
    assert out[i, :, 5 + dy[i], 5 + dx[i]].tolist() == x[i, :, 5, 5].tolist()


def test_crop_pads_by_reflection_so_no_black_frame_comes_in(photos):
    out = augment_batch(photos, Augmentation(crop=4), np.random.default_rng(0))
    shifted = augment_batch(photos, Augmentation(shift=4), np.random.default_rng(0))

    # shift fills with zeros: black edges; crop reflects the picture: no zero-filled rows.
    def black_rows(batch):
        return (batch.max(axis=(1, 3)) == 0).sum()

    assert black_rows(shifted) > 100 and black_rows(out) == black_rows(photos / 255.0)


def test_flip_mirrors_about_half_the_images():
    x = np.random.default_rng(0).random((400, 3, 8, 8), dtype=np.float32)
    out = augment_batch(x, Augmentation(flip=True), np.random.default_rng(2))
    same = (out == x).all(axis=(1, 2, 3))
    mirrored = (out == x[..., ::-1]).all(axis=(1, 2, 3))
    assert (same ^ mirrored).all()  # every image is itself or its mirror image
    assert 0.4 < mirrored.mean() < 0.6


def test_brightness_scales_each_image_by_a_factor_within_the_strength():
    x = np.random.default_rng(0).uniform(0.0, 0.5, (300, 3, 8, 8)).astype(np.float32)
    out = augment_batch(x, Augmentation(brightness=0.4), np.random.default_rng(0))
    ratio = out.reshape(300, -1) / x.reshape(300, -1)
    factor = ratio[:, 0]
    np.testing.assert_allclose(
        ratio, np.repeat(factor[:, None], ratio.shape[1], 1), rtol=1e-5
    )  # one factor per image
    assert factor.min() >= 0.6 - 1e-6 and factor.max() <= 1.4 + 1e-6
    assert factor.min() < 0.7 and factor.max() > 1.3  # both ways
    bright = augment_batch(x * 2, Augmentation(brightness=1.0), np.random.default_rng(0))
    assert bright.min() >= 0.0 and bright.max() == 1.0  # clipped to the range


def grey_of(batch):
    return np.einsum("nchw,c->nhw", batch.astype(np.float64), [0.299, 0.587, 0.114])


def test_contrast_scales_the_spread_about_the_mean_grey():
    x = np.random.default_rng(0).uniform(0.3, 0.7, (300, 3, 8, 8)).astype(np.float32)
    out = augment_batch(x, Augmentation(contrast=0.5), np.random.default_rng(0))
    g0, g1 = grey_of(x), grey_of(out)
    np.testing.assert_allclose(g1.mean(axis=(1, 2)), g0.mean(axis=(1, 2)), atol=1e-5)
    factor = g1.std(axis=(1, 2)) / g0.std(axis=(1, 2))
    assert factor.min() >= 0.5 - 1e-4 and factor.max() <= 1.5 + 1e-4
    assert factor.min() < 0.6 and factor.max() > 1.4
    flat = augment_batch(x, Augmentation(contrast=1.0), np.random.default_rng(3))
    assert flat.min() >= 0.0 and flat.max() <= 1.0


def test_saturation_mixes_each_pixel_with_its_grey(photos):
    x = photos / np.float32(255)
    out = augment_batch(x, Augmentation(saturation=1.0), np.random.default_rng(0))
    assert out.min() >= 0.0 and out.max() <= 1.0

    def colourfulness(batch):  # how far the channels are from their grey
        return np.abs(batch - grey_of(batch)[:, None]).mean(axis=(1, 2, 3))

    ratio = colourfulness(out) / colourfulness(x)
    assert ratio.min() < 0.2 and ratio.max() > 1.5  # some nearly grey, some more colourful
    # Where nothing clipped, each pixel keeps its grey.
    unclipped = ((out > 0) & (out < 1)).all(axis=(1, 2, 3))
    assert unclipped.sum() > 10
    np.testing.assert_allclose(grey_of(out[unclipped]), grey_of(x[unclipped]), atol=1e-5)
    # A grey image has no colour: saturation leaves it alone.
    grey = x[:, :1]
    assert np.array_equal(
        augment_batch(grey, Augmentation(saturation=1.0), np.random.default_rng(0)), grey
    )


def test_cutout_zeroes_exactly_one_square_per_image():
    x = np.ones((200, 3, 20, 16), np.float32)
    out = augment_batch(x, Augmentation(cutout=6), np.random.default_rng(0))
    corners = set()
    for img in out:
        zero = img == 0
        assert (zero == zero[0]).all()  # the same square in every channel
        ys, xs = np.nonzero(zero[0])
        assert zero[0].sum() == 36 and np.ptp(ys) == 5 and np.ptp(xs) == 5
        assert (img[~zero] == 1).all()
        corners.add((ys.min(), xs.min()))
    assert len(corners) > 50  # a place per image, anywhere inside
    rows, cols = zip(*corners, strict=True)
    assert min(rows) == 0 and max(rows) == 14 and min(cols) == 0 and max(cols) == 10
    with pytest.raises(DatasetError, match="cutout 24 is larger than the 20x16 images"):
        augment_batch(x, Augmentation(cutout=24), np.random.default_rng(0))


def test_photo_augmentations_are_seeded_uint8_in_float32_out(photos):
    aug = Augmentation.parse("crop=4,flip,jitter=0.3,cutout=8,noise=0.02")
    before = photos.copy()
    a = augment_batch(photos, aug, np.random.default_rng(7))
    b = augment_batch(photos, aug, np.random.default_rng(7))
    c = augment_batch(photos, aug, np.random.default_rng(8))
    assert a.dtype == np.float32 and a.shape == photos.shape
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert np.array_equal(a, b) and not np.allclose(a, c)
    assert np.array_equal(photos, before)  # the dataset's images are never changed
    tf = make_transform(Normalization((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)), aug)
    np.testing.assert_allclose(tf(photos, np.random.default_rng(7)), (a - 0.5) / 0.25, atol=1e-5)


ALL_ON = Augmentation(
    shift=2, rotation=10, scale=0.1, noise=0.05, crop=4, flip=True,
    brightness=0.2, contrast=0.2, saturation=0.2, cutout=8,
)  # fmt: skip


def calls_made(fn):
    """How many Python and C functions ``fn()`` calls: a loop over images calls more for more."""
    count = 0

    def profile(_frame, event, _arg):
        nonlocal count
        count += event in ("call", "c_call")

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return count


def test_no_python_loop_over_images():
    def batch(n):
        return np.random.default_rng(0).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)

    small, large = batch(100), batch(1000)
    for aug in (ALL_ON.for_channels(3), Augmentation(thickness=2, flip=True, crop=2)):
        augment_batch(small, aug, np.random.default_rng(0))  # fill one-time caches
        # The same function calls for 100 images as for 1,000: nothing runs per image.
        assert calls_made(lambda a=aug: augment_batch(small, a, np.random.default_rng(0))) == (
            calls_made(lambda a=aug: augment_batch(large, a, np.random.default_rng(0)))
        )
    start = time.perf_counter()
    out = augment_batch(large, ALL_ON, np.random.default_rng(0))
    assert time.perf_counter() - start < 2.0  # about 0.1 s
    assert out.shape == large.shape


def test_parse_the_command_lines_words():
    aug = Augmentation.parse("crop=4,flip,jitter=0.2,cutout=8")
    assert aug == Augmentation(
        crop=4, flip=True, brightness=0.2, contrast=0.2, saturation=0.2, cutout=8
    )
    assert Augmentation.parse(aug.describe()) == aug
    assert Augmentation.parse(" Shift=2, rotation=10 ,scale=0.1,thickness=1,noise=0.05") == (
        Augmentation(shift=2, rotation=10, scale=0.1, thickness=1, noise=0.05)
    )
    assert Augmentation.parse("none") == Augmentation() and Augmentation().describe() == "none"
    assert Augmentation.parse("flip=off,crop=2") == Augmentation(crop=2)
    # A colour given by name wins over jitter, in any order.
    assert Augmentation.parse("saturation=0.5,jitter=0.1") == Augmentation(
        brightness=0.1, contrast=0.1, saturation=0.5
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("crop=4,flop", "unknown augmentation 'flop' in 'crop=4,flop'; known: shift, rotation"),
        ("crop=x", "'crop=x': crop must be a number"),
        ("crop=40", "'crop=40': crop must lie in 0-16, got 40"),
        ("crop=2.5", "'crop=2.5': crop is in whole pixels"),
        ("cutout", "'cutout': cutout needs a value, e.g. cutout=8"),
        ("jitter=2", "'jitter=2': jitter must lie in 0-1, got 2"),
        ("flip=maybe", "'flip=maybe': flip is on or off"),
        ("crop=4,,flip", "an empty item in 'crop=4,,flip'"),
        ("crop=4,crop=2", "crop is given twice"),
        ("none,flip", "'none' cannot be combined"),
        ("  ", "no augmentation given"),
    ],
)
def test_a_bad_spec_is_one_error_naming_the_bad_part(spec, message):
    with pytest.raises(DatasetError) as info:
        Augmentation.parse(spec)
    assert message in str(info.value)


def test_defaults_and_what_applies_per_kind_of_data():
    assert default_augmentation(1) == Augmentation()  # digits: as before, no flips
    assert default_augmentation(3) == PHOTO_AUGMENTATION == Augmentation(crop=4, flip=True)
    both = Augmentation(thickness=1, saturation=0.2, crop=2)
    assert both.for_channels(1) == Augmentation(thickness=1, crop=2)
    assert both.for_channels(3) == Augmentation(saturation=0.2, crop=2)
    assert both.unsuited(3) == ["Stroke thickness is for grey (1-channel) images such as digits"]
    assert both.unsuited(1) == ["Saturation needs colour (3-channel) images"]


def test_preview_grid_shows_photos_in_colour(photos):
    grid = preview_grid(photos, PHOTO_AUGMENTATION, seed=0, rows=3, cols=5)
    assert grid.shape == (3 * 33 - 1, 5 * 33 - 1, 3) and grid.dtype == np.uint8
    assert np.array_equal(grid[:32, :32], photos[0].transpose(1, 2, 0))  # column 0 as is
    assert np.abs(grid.astype(int) - grid.mean(axis=2, keepdims=True)).mean() > 5  # colour
