"""The command line as a user meets it: version, usage errors, display problems, screenshots."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnnstudio import __version__


def run_cli(
    *args: str, env: dict | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    if env is not None:
        full_env.update(env)
    full_env = {k: v for k, v in full_env.items() if v is not None}
    return subprocess.run(
        [sys.executable, "-m", "cnnstudio", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"CNN Studio {__version__}"


def test_unknown_subcommand_prints_usage_and_exits_2():
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "usage: cnnstudio" in result.stderr
    assert "frobnicate" in result.stderr
    assert result.stdout == ""


def test_unknown_option_exits_2():
    result = run_cli("gui", "--no-such-option")
    assert result.returncode == 2
    assert "unrecognized arguments: --no-such-option" in result.stderr


def test_missing_display_is_one_clear_line():
    env = dict(os.environ)
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        env.pop(var, None)
    result = subprocess.run(
        [sys.executable, "-m", "cnnstudio", "gui"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "no display found" in lines[0]
    assert "QT_QPA_PLATFORM=offscreen" in lines[0]


def test_screenshot_writes_the_main_window(tmp_path: Path):
    from PIL import Image

    out = tmp_path / "main.png"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)  # the command must pick offscreen by itself
    result = subprocess.run(
        [sys.executable, "-m", "cnnstudio", "gui", "--screenshot", str(out), "--size", "1000x700"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    image = Image.open(out)
    assert image.size == (1000, 700)
    # A real rendering has many distinct colours (text, tabs, widgets), not a blank page.
    assert len(image.convert("RGB").getcolors(maxcolors=1_000_000) or []) > 50


@pytest.mark.parametrize("bad", ["shot.jpg", "no-such-folder/shot.png"])
def test_screenshot_bad_path_is_one_line(tmp_path: Path, bad: str):
    result = run_cli("gui", "--screenshot", str(tmp_path / bad))
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cnnstudio gui:" in result.stderr


def test_gui_refuses_a_missing_file(tmp_path: Path):
    result = run_cli(
        "gui", str(tmp_path / "nothing.cnnstudio"), env={"QT_QPA_PLATFORM": "offscreen"}
    )
    assert result.returncode == 1
    assert "does not exist" in result.stderr
