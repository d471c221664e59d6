from __future__ import annotations

import json

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
    with pytest.raises(DatasetError, match=r"unknown augmentation settings \['flip'\]"):
        Augmentation.from_dict({"flip": True})


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
