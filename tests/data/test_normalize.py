from __future__ import annotations

import json

import numpy as np
import pytest

from cnnstudio.data import DatasetError, Normalization, load_builtin


def test_plain_scaling():
    x = np.array([[[[0, 255], [51, 102]]]], dtype=np.uint8)
    out = Normalization().apply(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.ravel(), [0, 1, 0.2, 0.4], rtol=1e-6)
    # Floats are taken as already in [0, 1] (preprocess_digit's output).
    np.testing.assert_allclose(Normalization().apply(out), out)


def test_fit_matches_numpy_and_standardises():
    images = load_builtin().train.images
    norm = Normalization.fit(images)
    ref = images.astype(np.float64) / 255.0
    assert norm.mean[0] == pytest.approx(ref.mean(), rel=1e-6)
    assert norm.std[0] == pytest.approx(ref.std(), rel=1e-6)
    out = norm.apply(images[:500])
    assert abs(out.mean()) < 0.1 and abs(out.std() - 1) < 0.1


def test_per_channel_rgb():
    rng = np.random.default_rng(0)
    images = np.stack(
        [rng.integers(0, 50, (20, 8, 8)), rng.integers(100, 256, (20, 8, 8)), np.zeros((20, 8, 8))],
        axis=1,
    ).astype(np.uint8)
    norm = Normalization.fit(images)
    assert len(norm.mean) == 3 and norm.mean[1] > norm.mean[0] > norm.mean[2] == 0
    assert norm.std[2] > 0  # a constant channel gets a floor, not a division by zero
    assert len(Normalization.fit(images, per_channel=False).mean) == 1


def test_dict_round_trip_through_json():
    norm = Normalization((0.1307,), (0.3081,))
    back = Normalization.from_dict(json.loads(json.dumps(norm.to_dict())))
    assert back == norm
    assert Normalization.from_dict(Normalization().to_dict()).is_plain


@pytest.mark.parametrize(
    ("d", "words"),
    [
        ({"type": "zscore"}, "unknown normalisation"),
        ({"mean": [0.5], "std": None}, "both a mean and a std"),
        ({"mean": [0.5], "std": [0.0]}, "positive"),
        ({"mean": [0.5, 0.5], "std": [1, 1]}, "1 or 3 values"),
        ({"scale": 1.0}, "only 1/255"),
        ({"mean": ["x"], "std": [1]}, "bad normalisation values"),
    ],
)
def test_bad_dicts(d, words):
    with pytest.raises(DatasetError, match=words):
        Normalization.from_dict(d)
