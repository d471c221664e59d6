"""The Train view's Source menu: one entry per built-in sample, CIFAR-10's binary batches,
and what the panel says about colour photos (their shape, classes, the network's input)."""

from __future__ import annotations

import io
import tarfile
import threading
import time

import numpy as np
import pytest

from cnnstudio.data import BUILTIN_DATASETS, CIFAR10_CLASSES
from cnnstudio.ui.train import QtTrainView
from cnnstudio.ui.train import qt_data_panel as data_module
from tests.ui.train.helpers import tiny_context


@pytest.fixture
def view(qtbot):
    v = QtTrainView(tiny_context())
    qtbot.addWidget(v)
    v.resize(1200, 800)
    yield v
    if v.session.is_active:
        v.session.shutdown(keep=False)


def entries(view) -> list[tuple[str, str | None, str]]:
    combo = view.data.source_combo
    return [
        (combo.itemData(i), combo.itemData(i, data_module.NAME_ROLE), combo.itemText(i))
        for i in range(combo.count())
    ]


def pick(view, kind: str, name: str | None = None) -> None:
    """Choose a Source entry as the user does (the combo's "activated")."""
    combo = view.data.source_combo
    index = next(i for i, (k, n, _) in enumerate(entries(view)) if k == kind and n == name)
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def current_entry(view) -> tuple[str, str | None, str]:
    return entries(view)[view.data.source_combo.currentIndex()]


def records(images: np.ndarray, labels: np.ndarray) -> bytes:
    """CIFAR-10's binary records: a label byte, then the red, green and blue planes."""
    out = bytearray()
    for image, label in zip(images, labels, strict=True):
        out.append(int(label))
        for plane in image:  # R, G, B, each 32 rows of 32 bytes
            out += plane.tobytes()
    return bytes(out)


def photos(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    return images, np.arange(n, dtype=np.uint8) % 10


def test_the_source_menu_has_one_entry_per_built_in_sample_and_cifar_batches(view):
    listed = entries(view)
    builtins = {name: label for kind, name, label in listed if kind == "builtin"}
    assert set(builtins) == set(BUILTIN_DATASETS)
    assert builtins["mnist-sample"] == "Built-in MNIST sample"
    assert builtins["cifar10-sample"] == "Built-in CIFAR-10 sample"
    assert ("cifar", None, "CIFAR-10 binary batches…") in listed
    from PySide6.QtCore import Qt

    combo = view.data.source_combo
    for i, (kind, name, _) in enumerate(listed):
        if kind == "builtin" and name is not None:  # the sample's description, on hover
            assert combo.itemData(i, Qt.ItemDataRole.ToolTipRole) == BUILTIN_DATASETS[name][1]
    assert current_entry(view)[:2] == ("builtin", "mnist-sample")


def test_choosing_the_cifar_sample_loads_5000_colour_photos(view):
    project = view.project
    assert project.graph.input_shape == (1, 28, 28)
    pick(view, "builtin", "cifar10-sample")
    train, test = project.dataset.train, project.dataset.test
    assert (len(train), len(test)) == (5000, 1000)
    assert train.input_shape == (3, 32, 32) and train.images.dtype == np.uint8
    assert list(train.class_names) == list(CIFAR10_CLASSES)
    assert project.dataset_choice.builtin_name == "cifar10-sample"
    assert project.dataset_choice.label == "Built-in CIFAR-10 sample"
    assert current_entry(view)[:2] == ("builtin", "cifar10-sample")
    text = view.data.dataset_label.text()
    assert "<b>Built-in CIFAR-10 sample</b>" in text
    assert "5,000 training images, 1,000 held out" in text
    assert "3@32x32 colour, 10 classes: airplane, automobile, bird" in text
    # The network's Input follows the data; the panel says so.
    assert project.graph.input_shape == (3, 32, 32)
    assert "The network's input changed from 1@28x28 to 3@32x32" in text
    assert view.controls.start_button.isEnabled()
    # A failed pick afterwards shows the CIFAR-10 sample's entry again, not MNIST's.
    assert not view.data.load_source("csv", "/nowhere/digits.csv")
    assert current_entry(view)[:2] == ("builtin", "cifar10-sample")
    # Picking the MNIST sample again takes the network back to grey digits.
    pick(view, "builtin", "mnist-sample")
    assert project.dataset.train.input_shape == (1, 28, 28)
    assert project.dataset_choice.to_dict() == {"kind": "builtin", "path": None, "options": {}}
    assert "changed from 3@32x32 to 1@28x28" in view.data.dataset_label.text()


def test_the_cifar_entry_loads_a_folder_of_binary_batches_in_the_background(
    view, tmp_path, monkeypatch
):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    train_images, train_labels = photos(30, seed=1)
    test_images, test_labels = photos(10, seed=2)
    (folder / "data_batch_1.bin").write_bytes(records(train_images, train_labels))
    (folder / "test_batch.bin").write_bytes(records(test_images, test_labels))
    (folder / "batches.meta.txt").write_text("\n".join(CIFAR10_CLASSES) + "\n\n")
    monkeypatch.setattr(data_module, "choose_cifar_source", lambda parent: str(folder))
    threads = []
    real = data_module.load_choice

    def noting_thread(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(data_module, "load_choice", noting_thread)
    pick(view, "cifar")
    split = view.project.dataset
    assert threads and threads[0] is not threading.main_thread()
    assert view.project.dataset_choice.kind == "cifar"
    assert view.project.dataset_choice.path == str(folder)
    assert (len(split.train), len(split.test)) == (30, 10)
    assert split.train.input_shape == (3, 32, 32)
    np.testing.assert_array_equal(split.train.images, train_images)  # R, G, B planes
    np.testing.assert_array_equal(split.test.labels, test_labels)
    assert current_entry(view)[0] == "cifar"
    text = view.data.dataset_label.text()
    assert "cifar-10-batches-bin (CIFAR-10 binary)" in text
    assert "30 training images, 10 held out" in text and "3@32x32 colour" in text
    assert not view.data.data_error_label.isVisibleTo(view)


def test_the_cifar_entry_loads_the_tar_gz_archive(view, tmp_path, monkeypatch):
    images, labels = photos(20, seed=3)
    archive = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = records(images, labels)
        info = tarfile.TarInfo("cifar-10-batches-bin/data_batch_1.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    monkeypatch.setattr(data_module, "choose_cifar_source", lambda parent: str(archive))
    pick(view, "cifar")
    assert len(view.project.dataset.train) == 20
    np.testing.assert_array_equal(view.project.dataset.train.images, images)


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("data_batch_1.bin", bytes(3073 * 2 + 100), ("data_batch_1.bin", "3,073")),
        ("data_batch_1", b"\x80\x02" + bytes(200), ("pickles", "binary distribution")),
    ],
    ids=["wrong length", "pickled"],
)
def test_a_bad_cifar_batch_is_one_note_and_the_previous_dataset_stays(
    view, tmp_path, monkeypatch, name, content, words
):
    project = view.project
    pick(view, "builtin", "cifar10-sample")
    before = project.dataset
    folder = tmp_path / "batches"
    folder.mkdir()
    (folder / name).write_bytes(content)
    monkeypatch.setattr(data_module, "choose_cifar_source", lambda parent: str(folder))
    pick(view, "cifar")
    note = view.data.data_error_label.text()
    assert view.data.data_error_label.isVisibleTo(view)
    assert note.startswith("Could not load the dataset: ") and "\n" not in note
    for word in words:
        assert word in note
    assert project.dataset is before
    assert current_entry(view)[:2] == ("builtin", "cifar10-sample")


def test_cancelling_cifar_batches_drops_them_even_though_they_cannot_be_interrupted(
    view, qtbot, monkeypatch, tmp_path
):
    # The binary reader reports no progress, so Cancel cannot stop it: its result must
    # not replace the dataset the user chose to keep.
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QProgressDialog, QPushButton

    before = view.project.dataset
    finished = []

    def slow_cifar(choice, samples=None, progress=None):
        time.sleep(1.5)  # ignores progress, as load_cifar does
        finished.append(1)
        return data_module.load_source("builtin", "cifar10-sample")

    monkeypatch.setattr(data_module, "load_choice", slow_cifar)
    monkeypatch.setattr(data_module, "choose_cifar_source", lambda parent: str(tmp_path))

    def press_cancel():
        dialog = view.findChild(QProgressDialog)
        if dialog is not None and dialog.isVisible():
            timer.stop()
            qtbot.mouseClick(dialog.findChild(QPushButton), Qt.MouseButton.LeftButton)

    timer = QTimer(interval=50)
    timer.timeout.connect(press_cancel)
    timer.start()
    pick(view, "cifar")
    timer.stop()
    assert finished == [1]
    assert view.project.dataset is before
    assert "Loading cancelled" in view.data.data_error_label.text()
    assert current_entry(view)[:2] == ("builtin", "mnist-sample")


def test_a_project_saved_with_the_cifar_sample_reopens_with_it(view, qtbot, tmp_path):
    from cnnstudio.io.project_file import load_project, save_project

    project = view.project
    pick(view, "builtin", "cifar10-sample")
    path = tmp_path / "photos.cnnstudio"
    save_project(path, project.to_data())
    pick(view, "builtin", "mnist-sample")  # something else, then File > Open
    project.load_data(load_project(path), path)
    qtbot.waitUntil(lambda: project.dataset is not None, timeout=10000)
    assert project.dataset_choice.builtin_name == "cifar10-sample"
    assert len(project.dataset.train) == 5000 and project.dataset.train.input_shape == (3, 32, 32)
    assert current_entry(view)[:2] == ("builtin", "cifar10-sample")
    assert "<b>Built-in CIFAR-10 sample</b>" in view.data.dataset_label.text()
    assert project.graph.input_shape == (3, 32, 32)


def test_a_network_for_digits_and_colour_photos_is_refused_with_what_to_do(view):
    project = view.project
    pick(view, "builtin", "cifar10-sample")
    # The user sets the Input back to grey digits (or undoes a preset) in the Build view.
    input_id = next(b.id for b in project.graph.blocks.values() if b.type == "Input")
    project.graph.set_params(input_id, {"channels": 1, "height": 28, "width": 28})
    assert not view.controls.start_button.isEnabled()
    status = view.controls.status_label.text()
    assert status.startswith(
        "Cannot start: The network's input is 1@28x28 (grey) but the dataset's images are "
        "3@32x32 (colour). In the Build view, set the Input block to 3@32x32, or load a "
        "preset, which takes the dataset's shape"
    )
    assert '"LeNet-5 (RGB)"' in status
    assert not view.start()
    assert view.controls.message_label.text() == status.removeprefix("Cannot start: ")


def test_the_cifar_dialog_takes_the_folder_of_batches_or_a_file(view, tmp_path):
    # Qt's dialogs take files or folders, not both; this one takes both.
    from PySide6.QtWidgets import QFileDialog

    batches = tmp_path / "cifar-10-batches-bin"
    batches.mkdir()
    (batches / "data_batch_1.bin").write_bytes(records(*photos(2, seed=4)))
    archive = tmp_path / "cifar-10-binary.tar.gz"
    archive.write_bytes(b"")
    other = tmp_path / "holiday photos"
    other.mkdir()
    for target, taken in ((batches, True), (archive, True), (other, False)):
        dialog = data_module._CifarDialog(view)
        dialog.setDirectory(str(tmp_path))
        dialog.selectFile(str(target))
        dialog.accept()
        accepted = dialog.result() == QFileDialog.DialogCode.Accepted
        assert accepted is taken
        assert dialog.chosen == (str(target) if taken else "")
        if not taken:  # an ordinary folder opens, as in any file dialog
            assert dialog.directory().path() == str(other)
