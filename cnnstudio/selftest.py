"""``cnnstudio --self-test``: check that this installation (or frozen bundle) works.

The self-test runs what a new user does first, end to end, without touching their
files: it finds the shipped resources, loads the built-in digits, builds LeNet-5,
trains it for a few steps, predicts held-out digits, and renders the main window and
the About box without showing anything on screen. It prints one ``ok  <step>: ...``
line per check and returns 0, or names the step that failed on stderr and returns 1.

This module imports neither Qt nor NumPy at import time, so ``cnnstudio --version``
and the other commands stay fast; only the window check loads Qt.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

__all__ = ["SelfTestError", "run"]

#: Training steps the self-test runs (batch of 64): enough for the loss to fall
#: clearly below its starting value, short enough to finish in a few seconds.
TRAIN_STEPS = 30
BATCH_SIZE = 64
#: Held-out images the trained network predicts.
PREDICT_COUNT = 200


class SelfTestError(RuntimeError):
    """A self-test check found something wrong; the message says what."""


class _State:
    """What one check hands to the next (dataset, network, ...)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}


def _check_version(_state: _State) -> str:
    from cnnstudio import __version__

    where = "frozen bundle" if getattr(sys, "frozen", False) else "Python package"
    return f"CNN Studio {__version__} ({where}, Python {sys.version.split()[0]}, {sys.platform})"


def _check_resources(_state: _State) -> str:
    from cnnstudio.io.numpy_export import template_path
    from cnnstudio.resources import resource_dir, resource_path

    folder = resource_dir()
    needed = [
        resource_path("presets", "lenet5.json"),
        resource_path("datasets", "mnist_sample.npz"),
        resource_path("icons", "cnnstudio.svg"),
        template_path(),
    ]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise SelfTestError(f"missing file(s): {', '.join(missing)}")
    presets = sorted(p.stem for p in resource_path("presets").glob("*.json"))
    return f"{folder} ({len(presets)} presets, predictor template found)"


def _check_dataset(state: _State) -> str:
    from cnnstudio.data import load_builtin

    split = load_builtin("mnist-sample")
    train, test = split.train, split.test
    if test is None or len(train) == 0 or len(test) == 0:
        raise SelfTestError("the built-in dataset has an empty part")
    if tuple(train.images.shape[1:]) != (1, 28, 28):
        raise SelfTestError(f"digits should be 1x28x28 images, got {train.images.shape[1:]}")
    state.values["split"] = split
    return f"{len(train) + len(test)} digits ({len(train)} training, {len(test)} held out)"


def _check_model(state: _State) -> str:
    from cnnstudio.model.compile import compile_network
    from cnnstudio.model.presets import load_preset

    graph = load_preset("lenet5")
    network = compile_network(graph, seed=0)
    state.values["network"] = network
    shape = "x".join(str(s) for s in network.input_shape)
    return f"LeNet-5, {network.parameter_count():,} parameters, input {shape}"


def _check_training(state: _State) -> str:
    import math

    from cnnstudio.data.augment import make_transform
    from cnnstudio.data.normalize import Normalization
    from cnnstudio.engine.training import TrainConfig, train

    split = state.values["split"]
    network = state.values["network"]
    transform = make_transform(Normalization.fit(split.train.images))
    config = TrainConfig(
        epochs=1,
        batch_size=BATCH_SIZE,
        optimizer="adam",
        lr=1e-3,
        seed=0,
        max_steps=TRAIN_STEPS,
        snapshot_interval=3600.0,
        threads=1,
    )
    first = last = None
    for snap in train(
        network, (split.train.images, split.train.labels), config=config, transform=transform
    ):
        if first is None:
            first = snap
        last = snap
    if first is None or last is None or last.step != TRAIN_STEPS:
        raise SelfTestError(f"training stopped early (after {0 if last is None else last.step})")
    if not math.isfinite(last.batch_loss):
        raise SelfTestError(f"the loss is not a number after {last.step} steps")
    if not last.batch_loss < first.batch_loss:
        raise SelfTestError(
            f"the loss did not fall ({first.batch_loss:.3f} -> {last.batch_loss:.3f})"
        )
    state.values["transform"] = transform
    return (
        f"{last.step} steps of {BATCH_SIZE}, loss {first.batch_loss:.2f} -> "
        f"{last.batch_loss:.2f} in {last.elapsed:.1f} s"
    )


def _check_predict(state: _State) -> str:
    import numpy as np

    split = state.values["split"]
    network = state.values["network"]
    transform = state.values["transform"]
    test = split.test
    # Every 5th held-out image: all ten digits, no overlap with the training data.
    index = np.arange(0, len(test), max(1, len(test) // PREDICT_COUNT))[:PREDICT_COUNT]
    x = transform(test.images[index], None)
    proba = network.predict_proba(x)
    if proba.shape != (len(index), len(test.class_names)):
        raise SelfTestError(f"probabilities have shape {proba.shape}")
    if not (np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0, atol=1e-4)):
        raise SelfTestError("the class probabilities are not finite or do not sum to 1")
    right = int((proba.argmax(axis=1) == test.labels[index]).sum())
    # Chance is 10%; a few dozen Adam steps reliably get LeNet-5 far past it.
    if right < 0.3 * len(index):
        raise SelfTestError(f"only {right} of {len(index)} held-out digits right")
    return f"{right} of {len(index)} held-out digits right after {TRAIN_STEPS} steps"


def _check_window(state: _State) -> str:
    if sys.platform.startswith("linux") and not (
        os.environ.get("QT_QPA_PLATFORM")
        or os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"

    from PySide6.QtCore import Qt, QThreadPool
    from PySide6.QtGui import QFontMetrics, QGuiApplication

    from cnnstudio import __version__
    from cnnstudio.ui.app import ensure_app
    from cnnstudio.ui.main_window import VIEWS, MainWindow
    from cnnstudio.ui.placeholder import QtPlaceholderView

    app = ensure_app()
    threads_before = threading.active_count()
    window = MainWindow(restore_layout=False)
    try:
        # Rendered for real, but never mapped on a user's screen.
        window.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
        window.resize(1280, 800)
        window.show()
        for _ in range(5):
            app.processEvents()
        if window.tabs.count() != len(VIEWS):
            raise SelfTestError(f"{window.tabs.count()} views instead of {len(VIEWS)}")
        # A view whose module is missing shows a placeholder page instead of failing:
        # in an installed copy that means files were left out of the wheel or bundle.
        missing = [
            f"{spec.title} ({spec.factory.partition(':')[0]})"
            for spec in VIEWS
            if isinstance(window.view(spec.key), QtPlaceholderView)
        ]
        if missing:
            raise SelfTestError(f"view(s) missing from this installation: {', '.join(missing)}")
        if window.windowIcon().isNull():
            raise SelfTestError("the window has no icon (SVG icon support missing?)")
        image = window.grab().toImage()
        if image.width() < 600 or image.height() < 400:
            raise SelfTestError(f"the window rendered at {image.width()}x{image.height()}")
        colours = _distinct_colours(image)
        if colours < 16:
            raise SelfTestError(f"the rendered window is nearly blank ({colours} colours)")
        # Without a usable font Qt silently draws empty boxes of one width.
        metrics = QFontMetrics(window.font())
        if not metrics.horizontalAdvance("WWWW") > metrics.horizontalAdvance("iiii"):
            raise SelfTestError("text does not render (no usable font; install fonts-dejavu-core)")

        about = window.show_about()
        text = about.text()
        about.done(0)
        for needed in (__version__, "MIT", "MNIST"):
            if needed not in text:
                raise SelfTestError(f"the About box does not mention {needed!r}")
        platform = QGuiApplication.platformName()
    finally:
        window.close()
        window.deleteLater()
        for _ in range(3):
            app.processEvents()
    left = [w for w in app.topLevelWidgets() if w.isVisible()]
    if left:
        raise SelfTestError(f"{len(left)} window(s) still open after closing")
    if not QThreadPool.globalInstance().waitForDone(5000):
        raise SelfTestError("Qt worker threads are still running after closing")
    if threading.active_count() > threads_before:
        raise SelfTestError(f"{threading.active_count() - threads_before} thread(s) left running")
    return (
        f"main window {image.width()}x{image.height()} rendered ({platform} platform, "
        f"all {len(VIEWS)} views, {colours} colours), About box ok"
    )


def _distinct_colours(image: Any, step: int = 7) -> int:
    """Distinct pixel values on a sparse grid (enough to tell a real UI from a blank one)."""
    seen = set()
    for y in range(0, image.height(), step):
        for x in range(0, image.width(), step):
            seen.add(image.pixel(x, y))
            if len(seen) >= 256:
                return len(seen)
    return len(seen)


#: (step name, check) in the order they run; later checks use earlier results.
CHECKS: tuple[tuple[str, Callable[[_State], str]], ...] = (
    ("version", _check_version),
    ("resources", _check_resources),
    ("dataset", _check_dataset),
    ("model", _check_model),
    ("training", _check_training),
    ("predict", _check_predict),
    ("window", _check_window),
)


def run(out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run every self-test check; return the exit code (0 all passed, 1 one failed).

    Settings are redirected to a temporary folder (``CNNSTUDIO_CONFIG_DIR``) for the
    run, so the user's window layout, recent files and recovery file are untouched.

    Parameters
    ----------
    out, err : text streams, optional
        Where the ``ok`` lines and the failure go (default: stdout and stderr).

    Returns
    -------
    int
        0 when every check passed, 1 when one failed (its name is on ``err``).
    """
    # A windowed bundle (Windows/macOS) has no sys.stdout/stderr: the exit code still counts.
    out = (sys.stdout or io.StringIO()) if out is None else out
    err = (sys.stderr or io.StringIO()) if err is None else err
    state = _State()
    started = time.perf_counter()
    old_config = os.environ.get("CNNSTUDIO_CONFIG_DIR")
    with tempfile.TemporaryDirectory(prefix="cnnstudio-selftest-") as tmp:
        os.environ["CNNSTUDIO_CONFIG_DIR"] = str(Path(tmp) / "config")
        try:
            for name, check in CHECKS:
                try:
                    detail = check(state)
                except Exception as exc:
                    print(f"FAIL {name}: {exc}", file=err)
                    if not isinstance(exc, SelfTestError):
                        traceback.print_exc(file=err)
                    print(f"cnnstudio --self-test: failed at step '{name}'", file=err)
                    return 1
                print(f"ok  {name}: {detail}", file=out, flush=True)
        finally:
            if old_config is None:
                os.environ.pop("CNNSTUDIO_CONFIG_DIR", None)
            else:
                os.environ["CNNSTUDIO_CONFIG_DIR"] = old_config
    print(
        f"self-test passed: {len(CHECKS)} checks in {time.perf_counter() - started:.1f} s",
        file=out,
    )
    return 0
