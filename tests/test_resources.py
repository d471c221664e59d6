"""Shipped resources are found from a checkout (and, via the same function, from a wheel)."""

from cnnstudio.resources import resource_dir, resource_path


def test_resource_dir_has_the_index_and_the_icon():
    assert (resource_dir() / "RESOURCES.md").is_file()
    icon = resource_path("icons", "cnnstudio.svg")
    assert icon.is_file()
    assert icon.read_text(encoding="utf-8").lstrip().startswith("<svg")
