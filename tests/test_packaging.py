"""Packaging: the wheel's contents, the desktop entry and AppStream metadata, the icons,
``cnnstudio --self-test``, and (marked slow) the PyInstaller bundle."""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from cnnstudio import __version__, selftest

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
DESKTOP = PACKAGING / "cnnstudio.desktop"
METAINFO = PACKAGING / "io.github.cnnstudio.CNNStudio.metainfo.xml"
ICON_SIZES = (16, 32, 48, 64, 128, 256, 512)
STEPS = [name for name, _check in selftest.CHECKS]


def _clean_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env.update(QT_QPA_PLATFORM="offscreen", **extra)
    return env


def _desktop_entry() -> dict[str, str]:
    lines = DESKTOP.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "[Desktop Entry]"
    return dict(line.split("=", 1) for line in lines[1:] if "=" in line)


def _tracked_files(folder: str) -> list[Path]:
    """Files under ``folder`` that belong to the project (git's list when available)."""
    if shutil.which("git") and (ROOT / ".git").exists():
        out = subprocess.run(
            ["git", "ls-files", "--", folder],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return [ROOT / line for line in out.splitlines() if (ROOT / line).is_file()]
    return [p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts]


# -- desktop entry, AppStream metadata, icons ---------------------------------------------


@pytest.mark.skipif(
    shutil.which("desktop-file-validate") is None, reason="needs desktop-file-utils"
)
def test_desktop_entry_passes_desktop_file_validate():
    result = subprocess.run(
        ["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True, check=False
    )
    # It exits 0 on hints too; any output line is a finding we want to see fixed.
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="needs appstream (appstreamcli)")
def test_metainfo_passes_appstreamcli_validate():
    result = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(METAINFO)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation was successful" in result.stdout


def test_desktop_entry_launches_the_command_with_the_shipped_icon():
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Name"] == "CNN Studio"
    assert entry["Exec"].split()[0] == "cnnstudio"  # the [project.scripts] command
    assert entry["Terminal"] == "false"
    assert (PACKAGING / "icons" / f"{entry['Icon']}.svg").is_file()


def test_metainfo_describes_this_release_and_points_at_the_desktop_entry():
    root = ET.parse(METAINFO).getroot()
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == METAINFO.name.removesuffix(".metainfo.xml")
    assert root.findtext("launchable") == DESKTOP.name
    assert root.findtext("project_license") == "MIT"
    assert root.findtext("icon") == _desktop_entry()["Icon"]
    versions = [r.get("version") for r in root.iter("release")]
    assert versions[0] == __version__, "add a <release> for the new version to the metainfo"
    assert "MNIST" in "".join(root.find("description").itertext())


def test_app_announces_the_desktop_entry_name(qapp):
    # Wayland compositors and docks match the running window to cnnstudio.desktop by it.
    from cnnstudio.ui.app import ensure_app

    assert ensure_app().desktopFileName() == DESKTOP.stem


def test_packaged_svg_is_the_apps_icon():
    app_icon = (ROOT / "resources" / "icons" / "cnnstudio.svg").read_bytes()
    assert (PACKAGING / "icons" / "cnnstudio.svg").read_bytes() == app_icon, (
        "re-run packaging/make_icons.py after changing resources/icons/cnnstudio.svg"
    )


@pytest.mark.parametrize("size", ICON_SIZES)
def test_png_icon_has_its_size_and_a_transparent_rounded_corner(size):
    from PIL import Image

    with Image.open(PACKAGING / "icons" / f"cnnstudio-{size}.png") as image:
        rgba = image.convert("RGBA")
    assert rgba.size == (size, size)
    assert rgba.getpixel((0, 0))[3] == 0  # outside the rounded square
    centre = rgba.getpixel((size // 2, size // 2))
    assert centre[3] == 255  # the icon itself is opaque


def test_windows_icon_holds_the_usual_sizes():
    from PIL import Image

    with Image.open(PACKAGING / "icons" / "cnnstudio.ico") as ico:
        sizes = ico.info["sizes"]
    assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(sizes)


# -- the wheel ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> list[str]:
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)]
    if importlib.util.find_spec("hatchling") is not None:
        command.append("--no-build-isolation")  # offline and faster with the local backend
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("cnnstudio-*.whl")
    assert wheel.name.startswith(f"cnnstudio-{__version__}-py3-none-any")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        names.append("ENTRY_POINTS:" + zf.read(entry_points).decode())
    return names


def test_wheel_contains_every_shipped_resource(wheel_names):
    resources = _tracked_files("resources")
    assert any(p.suffix == ".npz" for p in resources)  # the dataset is really listed
    missing = [
        str(p.relative_to(ROOT))
        for p in resources
        if "cnnstudio/_resources/" + p.relative_to(ROOT / "resources").as_posix() not in wheel_names
    ]
    assert not missing, f"not in the wheel: {missing}"


def test_wheel_contains_every_module_and_the_predictor_template(wheel_names):
    files = [p for p in _tracked_files("cnnstudio") if p.suffix == ".py" or "templates" in p.parts]
    assert ROOT / "cnnstudio" / "io" / "templates" / "predict.py" in files
    missing = [
        str(p.relative_to(ROOT)) for p in files if p.relative_to(ROOT).as_posix() not in wheel_names
    ]
    assert not missing, f"not in the wheel: {missing}"
    assert not [n for n in wheel_names if n.startswith(("tests/", "packaging/"))]


def test_wheel_installs_the_cnnstudio_command(wheel_names):
    entry_points = next(n for n in wheel_names if n.startswith("ENTRY_POINTS:"))
    assert "cnnstudio = cnnstudio.cli:main" in entry_points


# -- cnnstudio --self-test --------------------------------------------------------------------


def _check_self_test_output(result: subprocess.CompletedProcess) -> list[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[: len(STEPS)]] == [f"ok  {s}" for s in STEPS]
    assert "ok  dataset: 5000 digits (4000 training, 1000 held out)" in lines
    assert lines[-1].startswith(f"self-test passed: {len(STEPS)} checks")
    return lines


def test_self_test_passes_and_leaves_the_users_settings_alone(tmp_path):
    user_config = tmp_path / "user-config"
    result = subprocess.run(
        [sys.executable, "-m", "cnnstudio", "--self-test"],
        cwd=tmp_path,
        env=_clean_env(CNNSTUDIO_CONFIG_DIR=str(user_config)),
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    lines = _check_self_test_output(result)
    assert any("About box ok" in line for line in lines)
    assert not user_config.exists()  # settings went to a temporary folder
    assert list(tmp_path.iterdir()) == []  # and nothing was written to the working folder


def test_self_test_names_the_failing_step_and_stops(monkeypatch):
    ran = []

    def ok(_state):
        ran.append("ok")
        return "fine"

    def broken(_state):
        raise selftest.SelfTestError("the digits are missing")

    def never(_state):
        ran.append("never")
        return ""

    monkeypatch.setattr(selftest, "CHECKS", (("first", ok), ("dataset", broken), ("last", never)))
    before = os.environ.get("CNNSTUDIO_CONFIG_DIR")
    out, err = io.StringIO(), io.StringIO()
    assert selftest.run(out, err) == 1
    assert ran == ["ok"]
    assert out.getvalue() == "ok  first: fine\n"
    assert "FAIL dataset: the digits are missing" in err.getvalue()
    assert "failed at step 'dataset'" in err.getvalue()
    assert os.environ.get("CNNSTUDIO_CONFIG_DIR") == before


def test_self_test_reports_an_unexpected_error_with_its_traceback(monkeypatch):
    def crash(_state):
        raise ModuleNotFoundError("No module named 'pyqtgraph'")

    monkeypatch.setattr(selftest, "CHECKS", (("window", crash),))
    err = io.StringIO()
    assert selftest.run(io.StringIO(), err) == 1
    assert "FAIL window: No module named 'pyqtgraph'" in err.getvalue()
    assert "Traceback" in err.getvalue()


def test_self_test_takes_no_other_arguments(capsys):
    from cnnstudio.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--self-test", "--view", "build"])
    assert exc.value.code == 2
    assert "--self-test takes no other arguments" in capsys.readouterr().err


# -- the PyInstaller bundle (slow: about a minute on two cores) ---------------------------------


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_bundle_builds_and_passes_its_self_test(tmp_path):
    pytest.importorskip("PyInstaller", reason="needs PyInstaller (make bundle installs it)")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--log-level",
            "WARN",
            "--distpath",
            str(tmp_path / "dist"),
            "--workpath",
            str(tmp_path / "build"),
            str(PACKAGING / "cnnstudio.spec"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-4000:]
    exe = tmp_path / "dist" / "cnnstudio" / ("cnnstudio.exe" if os.name == "nt" else "cnnstudio")
    assert exe.is_file()
    internal = tmp_path / "dist" / "cnnstudio" / "_internal"
    assert not (internal / "torch").exists() and not (internal / "onnxruntime").exists()
    result = subprocess.run(
        [str(exe), "--self-test"],
        cwd=tmp_path,
        env=_clean_env(CNNSTUDIO_CONFIG_DIR=str(tmp_path / "user-config")),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = _check_self_test_output(result)
    assert "(frozen bundle," in lines[0]
    assert str(internal / "resources") in lines[1]
    assert not (tmp_path / "user-config").exists()
