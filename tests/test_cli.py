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


def test_unknown_subcommand_is_one_line_that_points_to_help_and_exits_2():
    result = run_cli("frobnicate")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "invalid choice: 'frobnicate'" in lines[0] and "cnnstudio --help" in lines[0]
    assert result.stdout == ""


def test_unknown_option_exits_2():
    result = run_cli("gui", "--no-such-option")
    assert result.returncode == 2
    assert "unrecognized arguments: --no-such-option" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("train", "--preset", "lenet5", "--seed", "-1"), "--seed must be a whole number >= 0"),
        (("train", "--preset", "lenet5", "--seed", "x"), "argument --seed: invalid int value"),
        (("train", "--preset", "lenet5", "--epochs", "1e3"), "argument --epochs: invalid int"),
        (("train", "--preset", "lenet5", "--momentum", "1.5"), "--momentum must be at least 0"),
        (("train", "--preset", "lenet5", "--optimizer", "lbfgs"), "argument --optimizer: invalid"),
        (("train", "--preset", "lenet5", "--threads", "9" * 20), "--threads must be from 1 to"),
        (("train", "--preset", "lenet5", "--data", ""), "argument --data: the value is empty"),
        (("evaluate", ""), "argument MODEL: the value is empty"),
        (("export", "{tmp}/bad.cnnmodel", "-o", ""), "argument -o/--output: the value is empty"),
        (("train",), "one of the arguments --preset --arch is required"),
        (("evaluate",), "the following arguments are required: MODEL"),
        (("evaluate", "{tmp}"), "is a folder"),
        (("predict", "{tmp}/none.cnnmodel", "x.png"), "none.cnnmodel does not exist"),
        (("predict", "{tmp}/bad.cnnmodel", "x.png"), "bad.cnnmodel: is not a CNN Studio model"),
        (("export", "{tmp}/bad.cnnmodel", "-o", "{tmp}/out.onnx"), "bad.cnnmodel: is not a"),
        (("export", "{tmp}/bad.cnnmodel", "-o", "{tmp}/bad.cnnmodel"), "is the input file"),
        (("gui", "--screenshot", "{tmp}/bad.cnnmodel/shot.png"), "bad.cnnmodel is not a folder"),
        (("gui", "--screenshot", "{tmp}"), "--screenshot must end in .png"),
        (("gui", "--size", "12"), "argument --size: size must look like 1280x800"),
    ],
)
def test_every_failure_is_one_line_that_names_the_option_or_file(tmp_path: Path, args, message):
    (tmp_path / "bad.cnnmodel").write_bytes(b"not a zip")
    result = run_cli(*(a.format(tmp=tmp_path) for a in args), env={"QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert lines[0].startswith("cnnstudio")


def test_an_unexpected_error_is_one_line_unless_debugging(monkeypatch, capsys):
    from cnnstudio import cli
    from cnnstudio.commands import predict

    def broken(args):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(predict, "run", broken)
    assert cli.main(["predict", "m.cnnmodel", "x.png"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "cnnstudio predict: unexpected error (RecursionError: maximum recursion" in err
    monkeypatch.setenv("CNNSTUDIO_DEBUG", "1")
    with pytest.raises(RecursionError):
        cli.main(["predict", "m.cnnmodel", "x.png"])


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
    env["CNNSTUDIO_CONFIG_DIR"] = str(tmp_path / "config")  # never the developer's settings
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


def test_data_errors_reaching_the_command_line_name_the_file():
    from cnnstudio.cli_errors import CLIError, naming

    with pytest.raises(CLIError, match=r"^digits\.csv: labels run from 0 to 12"):
        with naming("digits.csv"):
            raise ValueError("labels run from 0 to 12 but there are only 10 class names")
    with pytest.raises(ValueError, match=r"^digits\.csv: line 3 is short$"):
        with naming("digits.csv"):  # already named: left as it is
            raise ValueError("digits.csv: line 3 is short")
