"""A photo's way into a colour network, and predicting a whole folder (no Qt)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cnnstudio.data.errors import DatasetError
from cnnstudio.engine.network import Network
from cnnstudio.io.model_file import TrainedModel
from cnnstudio.model import folder_predict, photo_input
from cnnstudio.model.folder_predict import list_folder, predict_folder
from cnnstudio.model.photo_input import centre_crop_box, photo_from_array, photo_from_file
from tests.archs import chain

RED, GREEN, BLUE = (220, 30, 30), (30, 200, 40), (20, 40, 230)


def _model(shape=(3, 32, 32), classes=4, normalization=None):
    arch = chain(
        shape,
        ("Conv2D", {"filters": 4, "kernel_size": 3}),
        ("ReLU", {}),
        ("Flatten", {}),
        ("Dense", {"units": classes}),
        ("Softmax", {}),
    )
    net = Network.from_architecture(arch, seed=1)
    names = [f"class{i}" for i in range(classes)]
    return TrainedModel.from_network(net, names, normalization=normalization)


def _three_stripes(path, size=(300, 100)):
    """A wide picture: red left third, green middle, blue right third."""
    w, h = size
    a = np.zeros((h, w, 3), np.uint8)
    a[:, : w // 3] = RED
    a[:, w // 3 : 2 * w // 3] = GREEN
    a[:, 2 * w // 3 :] = BLUE
    Image.fromarray(a).save(path)
    return path


def test_a_wide_photo_is_centre_cropped_not_squashed(tmp_path):
    photo = photo_from_file(_three_stripes(tmp_path / "wide.png"), (3, 32, 32))
    assert photo.crop == (100, 0, 200, 100), "the middle square of a 300x100 picture"
    assert photo.picture.shape == (100, 300, 3)
    assert photo.input.shape == (3, 32, 32) and photo.input.dtype == np.float32
    # Only the green middle stripe reaches the network.
    centre = photo.input[:, 4:28, 4:28].reshape(3, -1).mean(axis=1) * 255
    np.testing.assert_allclose(centre, GREEN, atol=2)
    assert photo.notes == ()


def test_crop_box_keeps_the_inputs_aspect_ratio():
    assert centre_crop_box(100, 300, 32, 32) == (0, 100, 100, 200)
    assert centre_crop_box(64, 32, 16, 32) == (0, 0, 64, 32)  # already 2:1
    left, top, right, bottom = centre_crop_box(640, 480, 32, 64)
    assert (right - left) / (bottom - top) == pytest.approx(2.0, abs=0.01)


def test_a_grayscale_photo_to_a_colour_model_gets_three_equal_channels_and_a_note(tmp_path):
    path = tmp_path / "grey.png"
    Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))).save(path)
    photo = photo_from_file(path, (3, 32, 32))
    assert np.array_equal(photo.input[0], photo.input[1])
    assert np.array_equal(photo.input[1], photo.input[2])
    assert len(photo.notes) == 1 and "grayscale" in photo.notes[0]
    assert "colour" in photo.notes[0]


def test_a_file_that_is_not_an_image_is_one_dataset_error_naming_it(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("shopping list: milk, eggs")
    with pytest.raises(DatasetError, match=r"notes\.png") as info:
        photo_from_file(bad, (3, 32, 32))
    assert "not an image" in str(info.value)


def test_a_huge_picture_is_refused_as_the_loaders_refuse_it(tmp_path, monkeypatch):
    from cnnstudio.data import folder

    monkeypatch.setattr(folder, "MAX_IMAGE_PIXELS", 50 * 50)
    monkeypatch.setattr(photo_input, "MAX_IMAGE_PIXELS", 50 * 50)
    big = tmp_path / "big.png"
    Image.new("RGB", (60, 60)).save(big)
    with pytest.raises(DatasetError, match=r"too large.*shrink it"):
        photo_from_file(big, (3, 32, 32))
    with pytest.raises(DatasetError, match=r"clipboard.*too large.*shrink it"):
        photo_from_array(np.zeros((60, 60, 3), np.uint8), (3, 32, 32))


def test_a_pasted_array_with_transparency_is_put_on_white():
    rgba = np.zeros((40, 40, 4), np.uint8)  # fully transparent
    photo = photo_from_array(rgba, (3, 32, 32))
    assert photo.name == "the clipboard"
    assert photo.input.min() == pytest.approx(1.0)


def _folder(tmp_path):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    _three_stripes(pictures / "a_wide.png")
    rng = np.random.default_rng(0)
    for name in ("b_noise.jpg", "c_noise.png"):
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(pictures / name)
    Image.fromarray(np.full((30, 30), 90, np.uint8)).save(pictures / "d_grey.png")
    (pictures / "readme.txt").write_text("not a picture")
    (pictures / "broken.jpg").write_bytes(b"\xff\xd8 this is not really a jpeg")
    (pictures / "sub").mkdir()
    (pictures / ".hidden.png").write_bytes(b"")
    return pictures


def test_every_picture_in_a_folder_is_predicted_as_when_opened_alone(tmp_path):
    from cnnstudio.data.normalize import Normalization

    model = _model(normalization=Normalization((0.5, 0.4, 0.3), (0.2, 0.25, 0.3)))
    folder = _folder(tmp_path)
    chunks = list(predict_folder(model, folder, batch_size=2))
    predictions = [p for c in chunks for p in c.predictions]
    assert [p.path.name for p in predictions] == [
        "a_wide.png",
        "b_noise.jpg",
        "c_noise.png",
        "d_grey.png",
    ]
    for p in predictions:
        alone = model.predict_proba(photo_from_file(p.path, model.input_shape).input)[0]
        np.testing.assert_allclose(p.probabilities, alone, rtol=1e-5, atol=1e-6)
        assert p.thumbnail.dtype == np.uint8 and p.thumbnail.shape[2] == 3
        assert max(p.thumbnail.shape[:2]) <= folder_predict.THUMBNAIL_SIZE
        (first, p1), (second, p2) = p.ranked(2)
        assert first != second and p1 >= p2
    assert "grayscale" in predictions[-1].notes[0]
    skipped = {s.path.rsplit("/", 1)[-1]: s.reason for c in chunks for s in c.skipped}
    assert set(skipped) == {"readme.txt", "broken.jpg", "sub"}
    assert "not a picture file ('.txt'" in skipped["readme.txt"]
    assert "subfolders" in skipped["sub"]
    assert skipped["broken.jpg"]
    assert chunks[-1].done == chunks[-1].total == 5


def test_a_digit_model_gets_its_digit_preprocessing(tmp_path):
    model = _model(shape=(1, 28, 28))
    folder = tmp_path / "digits"
    folder.mkdir()
    image = np.full((60, 40), 230, np.uint8)
    image[10:50, 18:22] = 20  # a dark "1" on paper
    Image.fromarray(image).save(folder / "one.png")
    (prediction,) = [p for c in predict_folder(model, folder) for p in c.predictions]
    alone = model.predict_proba(model.load_image(folder / "one.png"))[0]
    np.testing.assert_allclose(prediction.probabilities, alone, rtol=1e-5)
    assert prediction.thumbnail.shape[2] == 3


def test_stopping_ends_the_run_early(tmp_path):
    folder = _folder(tmp_path)
    asked = []

    def stop():
        asked.append(1)
        return len(asked) > 2

    chunks = list(predict_folder(_model(), folder, batch_size=10, should_stop=stop))
    assert sum(len(c.predictions) for c in chunks) == 2
    assert chunks[-1].done == 2 < chunks[-1].total


def test_listing_a_missing_folder_is_one_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="nowhere"):
        list_folder(tmp_path / "nowhere")
    assert list_folder(_folder(tmp_path)).images[0].name == "a_wide.png"


def test_the_command_line_reads_a_wide_photo_as_draw_and_predict_does(tmp_path):
    # cnnstudio predict (load_image_for_prediction) and the GUI (photo_from_file) must
    # give a model the same input: the centre crop, not the squashed whole picture.
    from cnnstudio.data.preprocess import load_image_for_prediction

    rng = np.random.default_rng(3)
    wide = rng.integers(0, 256, (40, 120, 3), dtype=np.uint8)
    wide[:, :40] = 255  # the left third white: cropped away, not squashed in
    path = tmp_path / "wide.png"
    Image.fromarray(wide).save(path)
    cli = load_image_for_prediction(path, (3, 32, 32))
    gui = photo_from_file(path, (3, 32, 32)).input
    np.testing.assert_allclose(cli, gui, atol=1 / 255)
    assert cli.mean() < 0.6  # no white band squashed into the input
