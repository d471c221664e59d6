"""The model layer must load on a machine without Qt."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_import_model_loads_no_qt_module():
    code = textwrap.dedent(
        """
        import sys
        QT = ("PySide6", "pyqtgraph", "superqt", "shiboken6")
        for name in QT:
            sys.modules[name] = None  # any import of them now fails, as without Qt
        import cnnstudio.model
        from cnnstudio.model import load_preset, compile_network
        compile_network(load_preset("lenet5"))
        print(",".join(sorted(m for m in sys.modules if m.split(".")[0] in QT and sys.modules[m])))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
