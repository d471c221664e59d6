"""The project's dataset choice: the built-in samples by name, CIFAR-10's batches, and
project files written before the CIFAR-10 sample existed."""

from __future__ import annotations

import pytest

from cnnstudio.data import load_builtin
from cnnstudio.data.loader import load_source
from cnnstudio.io.project_file import load_project, save_project
from cnnstudio.model.presets import load_preset
from cnnstudio.model.project import DatasetChoice, Project


def test_a_built_in_choice_is_labelled_with_its_samples_name():
    assert DatasetChoice().label == "Built-in MNIST sample"
    cifar = DatasetChoice("builtin", None, {"name": "cifar10-sample"})
    assert cifar.label == "Built-in CIFAR-10 sample"
    assert cifar.builtin_name == "cifar10-sample"
    assert DatasetChoice().builtin_name == "mnist-sample"
    assert DatasetChoice("csv", "/data/digits.csv").builtin_name is None


def test_cifar_batches_need_a_path_like_the_other_files():
    with pytest.raises(ValueError, match="a cifar dataset needs a path"):
        DatasetChoice("cifar")
    choice = DatasetChoice("cifar", "/data/cifar-10-binary.tar.gz")
    assert choice.label == "cifar-10-binary.tar.gz (CIFAR-10 binary)"
    assert DatasetChoice.from_dict(choice.to_dict()) == choice


def test_a_built_in_samples_name_must_be_text():
    with pytest.raises(ValueError, match="built-in dataset's name is text"):
        DatasetChoice.from_dict({"kind": "builtin", "options": {"name": 7}})


@pytest.mark.parametrize(
    "saved",
    [
        {"kind": "builtin", "path": None, "options": {}},
        {"kind": "builtin", "path": None, "options": {"add_samples": True}},
        {"kind": "csv", "path": "/data/digits.csv", "options": {}},
        {"kind": "folder", "path": "/data/pets", "options": {"size": [32, 32], "color": "RGB"}},
        {"kind": "samples", "path": None, "options": {}},
    ],
)
def test_choices_written_by_the_current_release_read_back_unchanged(saved):
    choice = DatasetChoice.from_dict(saved)
    assert choice.to_dict() == saved
    if saved["kind"] == "builtin":
        assert choice.builtin_name == "mnist-sample"
        assert choice.label == "Built-in MNIST sample"


def test_the_default_sample_named_is_the_choice_every_release_wrote():
    # So picking the MNIST sample again from the menu is no change to the project.
    named = DatasetChoice("builtin", None, {"name": "mnist-sample", "add_samples": True})
    assert named.to_dict() == {"kind": "builtin", "path": None, "options": {"add_samples": True}}


def test_a_project_saved_with_the_cifar_sample_reopens_with_it(tmp_path):
    project = Project()
    project.set_graph(load_preset("lenet5"))
    choice = DatasetChoice("builtin", None, {"name": "cifar10-sample"})
    project.set_dataset(choice, load_builtin("cifar10-sample"))
    path = tmp_path / "photos.cnnstudio"
    save_project(path, project.to_data())

    reopened = Project()
    reopened.load_data(load_project(path), path)
    assert reopened.dataset is None  # the Train view loads it again from the choice
    again = reopened.dataset_choice
    assert again == choice
    assert again.label == "Built-in CIFAR-10 sample"
    split = load_source(again.kind, again.builtin_name)
    assert len(split.train) == 5000 and split.train.input_shape == (3, 32, 32)
    assert reopened.graph.input_shape == (3, 32, 32)


def test_an_unknown_sample_of_a_newer_release_opens_and_says_so_when_loaded():
    from cnnstudio.data import DatasetError

    choice = DatasetChoice.from_dict({"kind": "builtin", "options": {"name": "svhn-sample"}})
    assert choice.label == "Built-in svhn-sample"
    with pytest.raises(DatasetError, match="no built-in dataset called 'svhn-sample'"):
        load_source(choice.kind, choice.builtin_name)
