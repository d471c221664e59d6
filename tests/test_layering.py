"""The Qt-free layers stay Qt-free: importing them never loads PySide6, pyqtgraph or superqt."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys

    class BlockQt(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in {"PySide6", "pyqtgraph", "superqt", "PyQt5", "PyQt6"}:
                raise ImportError(f"{name} is blocked: this layer must not import Qt")
            return None

    sys.meta_path.insert(0, BlockQt())
    """
)


@pytest.mark.parametrize(
    "module",
    ["cnnstudio.engine", "cnnstudio.data", "cnnstudio.model", "cnnstudio.io", "cnnstudio.cli"],
)
def test_layer_imports_without_qt(module):
    code = BLOCKER + textwrap.dedent(
        f"""
        import importlib, pkgutil
        mod = importlib.import_module({module!r})
        # Import every submodule too, so a Qt import anywhere in the package is caught.
        if hasattr(mod, "__path__"):
            for info in pkgutil.walk_packages(mod.__path__, prefix=mod.__name__ + "."):
                importlib.import_module(info.name)
        qt = {{"PySide6", "pyqtgraph", "superqt"}}
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in qt)
        assert not loaded, loaded
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_cli_help_and_train_parsers_load_no_qt():
    code = BLOCKER + textwrap.dedent(
        """
        from cnnstudio.cli import build_parser
        build_parser().format_help()
        assert "PySide6" not in sys.modules
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
