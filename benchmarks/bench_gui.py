"""Training inside the app: event-loop stalls, feature-map refresh rate, overhead, time to 95 %.

Usage::

    python benchmarks/bench_gui.py              # 3 epochs per pass, 3 repeats (~3 minutes)
    python benchmarks/bench_gui.py --quick      # 1 epoch per pass, 1 repeat

What it measures, training LeNet-5 on the built-in MNIST sample (3,600 training and
400 validation images, Adam 0.001, batches of 64, one BLAS thread, as the app does):

- **bare engine**: ``engine.training.train`` consumed in a plain loop (same settings,
  same snapshot interval), samples/s and wall time; also with 2 BLAS threads.
- **app, Train view shown**: the main window (offscreen) trains from the Train view
  while a 10 ms QTimer records the gaps between its ticks (a gap is how long a click
  would wait); throughput as the app reports it and by wall clock.
- **app, Inspect view shown**: the same with the live feature maps on screen; also
  counts feature-map refreshes per second.
- **time to 95 %**: from pressing Start until an epoch ends with validation accuracy
  >= 95 % (Train view shown).

The table is printed and saved to ``benchmarks/results/gui-<date>.md``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import itertools
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
os.environ.setdefault("CNNSTUDIO_CONFIG_DIR", str(Path("/tmp") / "cnnstudio-bench-config"))

SETTINGS = {
    "optimizer": "adam",
    "lr": 0.001,
    "batch_size": 64,
    "val_split": 0.1,
    "seed": 0,
    "schedule": "constant",
}


def lenet_arch() -> dict:
    from cnnstudio.model.compile import graph_to_architecture
    from cnnstudio.model.presets import load_preset

    return graph_to_architecture(load_preset("lenet5"))


def bare_engine(epochs: int, threads: int) -> dict:
    """Train in a plain loop with the app's settings; no Qt event loop."""
    from cnnstudio.data import load_builtin
    from cnnstudio.data.augment import make_transform
    from cnnstudio.engine.network import Network
    from cnnstudio.ui.train.train_settings import TrainSettings

    split = load_builtin()
    train, val = split.train.split(SETTINGS["val_split"], seed=SETTINGS["seed"])
    settings = TrainSettings.from_dict({**SETTINGS, "epochs": epochs})
    config = settings.train_config(threads=threads)
    network = Network.from_architecture(lenet_arch(), seed=0)
    transform = make_transform()
    from cnnstudio.engine.training import train as run_train

    t0 = time.perf_counter()
    last = None
    for snap in run_train(
        network,
        (train.images, train.labels),
        (val.images, val.labels),
        config,
        transform=transform,
        val_transform=transform,
    ):
        last = snap
    wall = time.perf_counter() - t0
    return {
        "samples_per_sec": last.samples_per_sec,
        "wall_samples_per_sec": len(train) * last.epoch / wall,
        "wall": wall,
        "val_accuracy": last.val_accuracy,
    }


def _delete(widget) -> None:
    """Really delete a closed window now (processEvents alone leaves deleteLater pending)."""
    from PySide6.QtCore import QCoreApplication, QEvent

    widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    QCoreApplication.processEvents()


class Ticker:
    """A 10 ms QTimer recording the gaps between its ticks."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(10)
        self.timer.timeout.connect(lambda: self.times.append(time.perf_counter()))

    def start(self) -> None:
        self.times.clear()
        self.timer.start()

    def stop(self, start: float = 0.0, end: float = float("inf")) -> list[float]:
        """Gaps in ms between ticks, for ticks that ended within [start, end]."""
        self.timer.stop()
        return [
            (b - a) * 1000
            for a, b in zip(self.times, self.times[1:], strict=False)
            if start <= b <= end
        ]


def app_run(epochs: int, view: str, until_accuracy: float | None = None) -> dict:
    """Train LeNet-5 from the Train view of a main window with ``view`` on screen."""
    from PySide6.QtCore import QEventLoop

    from cnnstudio.data import load_builtin
    from cnnstudio.model.presets import load_preset
    from cnnstudio.model.project import DatasetChoice
    from cnnstudio.ui.app import ensure_app
    from cnnstudio.ui.main_window import MainWindow

    app = ensure_app()
    window = MainWindow(restore_layout=False)
    window.resize(1280, 800)
    project = window.context.project
    project.set_graph(load_preset("lenet5"))
    project.set_dataset(DatasetChoice(), load_builtin())
    project.set_train_settings({**SETTINGS, "epochs": epochs})
    window.show()
    window.show_view(view)
    app.processEvents()
    train_view = window.view("train")
    inspect_view = window.view("inspect")
    session = train_view.session
    ticker = Ticker()
    loop = QEventLoop()
    reached: dict = {}

    marks: dict = {}

    def on_progress(batch) -> None:
        marks.setdefault("first", time.perf_counter())
        if batch.last.done:
            marks["done"] = time.perf_counter()
        for snap in batch.snapshots:
            if (
                until_accuracy is not None
                and snap.val_accuracy is not None
                and snap.val_accuracy >= until_accuracy
                and "time" not in reached
            ):
                reached.update(
                    time=time.perf_counter() - t0, epoch=snap.epoch, acc=snap.val_accuracy
                )
                session.stop()

    session.progress.connect(on_progress)
    session.run_finished.connect(loop.quit)
    maps_before = getattr(inspect_view, "map_updates", 0)
    ticker.start()
    t0 = time.perf_counter()
    if not train_view.start():
        raise RuntimeError(f"could not start: {train_view.controls.message_label.text()}")
    loop.exec()
    wall = time.perf_counter() - t0
    all_gaps = sorted(ticker.stop())
    gaps = [
        g for g in _gaps_between(ticker.times, marks.get("first", t0), marks.get("done", t0 + wall))
    ]
    maps = getattr(inspect_view, "map_updates", 0) - maps_before
    result = session.result
    last = result.last
    session.progress.disconnect(on_progress)
    from PySide6.QtWidgets import QMessageBox

    from cnnstudio.ui import qt_file_controller

    qt_file_controller.ask = lambda *a, **k: QMessageBox.StandardButton.Discard
    window.close()
    _delete(window)
    gaps.sort()
    return {
        "start_finish_max": all_gaps[-1],
        "samples_per_sec": last.samples_per_sec,
        "wall_samples_per_sec": last.step * 64 / wall if last.step else 0.0,
        "wall": wall,
        "val_accuracy": last.val_accuracy,
        "gap_p50": gaps[len(gaps) // 2],
        "gap_p99": gaps[min(int(len(gaps) * 0.99), len(gaps) - 1)],
        "gap_max": gaps[-1],
        "maps_per_sec": maps / wall,
        "reached": reached,
    }


def _gaps_between(times: list[float], start: float, end: float) -> list[float]:
    return [(b - a) * 1000 for a, b in itertools.pairwise(times) if start <= a and b <= end]


def idle_gaps(seconds: float) -> dict:
    """Tick gaps of the main window doing nothing: what the machine itself adds."""
    from PySide6.QtCore import QEventLoop, QTimer

    from cnnstudio.ui.app import ensure_app
    from cnnstudio.ui.main_window import MainWindow

    app = ensure_app()
    window = MainWindow(restore_layout=False)
    window.resize(1280, 800)
    window.show()
    window.show_view("train")
    app.processEvents()
    ticker = Ticker()
    loop = QEventLoop()
    ticker.start()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    gaps = sorted(ticker.stop())
    window.context.project.mark_dirty(False)
    window.close()
    _delete(window)
    return {
        "gap_p50": gaps[len(gaps) // 2],
        "gap_p99": gaps[min(int(len(gaps) * 0.99), len(gaps) - 1)],
        "gap_max": gaps[-1],
    }


def median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch per pass, 1 repeat")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    epochs = args.epochs or (1 if args.quick else 3)
    repeats = args.repeats or (1 if args.quick else 3)

    bare1, bare2, train_rows, inspect_rows, idle_rows = [], [], [], [], []
    # First-time costs (imports, font and glyph caches, the first paint of each
    # plot item) belong to starting the app, not to training: one short run first.
    print("warm-up run ...", file=sys.stderr, flush=True)
    app_run(1, "inspect")
    for r in range(repeats):
        print(f"repeat {r + 1}/{repeats}: idle window ...", file=sys.stderr, flush=True)
        idle_rows.append(idle_gaps(4.0))
        print(f"repeat {r + 1}/{repeats}: bare engine ...", file=sys.stderr, flush=True)
        bare1.append(bare_engine(epochs, threads=1))
        print("  app, Train view ...", file=sys.stderr, flush=True)
        train_rows.append(app_run(epochs, "train"))
        print("  app, Inspect view ...", file=sys.stderr, flush=True)
        inspect_rows.append(app_run(epochs, "inspect"))
        print("  bare engine, 2 BLAS threads ...", file=sys.stderr, flush=True)
        bare2.append(bare_engine(epochs, threads=2))
    print("time to 95% ...", file=sys.stderr, flush=True)
    to95 = app_run(20, "train", until_accuracy=0.95)

    base = median(bare1, "samples_per_sec")
    base_wall = median(bare1, "wall_samples_per_sec")
    lines = [
        f"# GUI training benchmark, {_dt.date.today().isoformat()}",
        "",
        f"LeNet-5, built-in MNIST sample (3,600 train / 400 validation), Adam 0.001, batch 64, "
        f"{epochs} epoch(s) per pass, median of {repeats}; offscreen Qt; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average at the end {os.getloadavg()[0]:.1f} (other processes were running).",
        "",
        "After one warm-up run (first-time costs of the app). "
        "Tick gaps are measured while the worker trains (first step to last step); "
        "'start/finish' is the longest gap including pressing Start (building the network, "
        "splitting the data) and the end of the run (evaluation, saving the model in the "
        "project, other views following it).",
        "",
        "| pass | samples/s (training) | vs bare | samples/s (wall) | vs bare | "
        "tick gap p50 / p99 / max (ms) | start/finish max (ms) | feature maps /s |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def row(name: str, rows: list[dict], gui: bool) -> str:
        sps = median(rows, "samples_per_sec")
        wall = median(rows, "wall_samples_per_sec")
        gaps = (
            f"{median(rows, 'gap_p50'):.1f} / {median(rows, 'gap_p99'):.1f} / "
            f"{max(r['gap_max'] for r in rows):.1f}"
            if gui
            else "–"
        )
        maps = f"{median(rows, 'maps_per_sec'):.1f}" if gui else "–"
        edge = f"{max(r['start_finish_max'] for r in rows):.0f}" if gui else "–"
        return (
            f"| {name} | {sps:,.0f} | {sps / base:.0%} | {wall:,.0f} | {wall / base_wall:.0%} | "
            f"{gaps} | {edge} | {maps} |"
        )

    idle = (
        f"{median(idle_rows, 'gap_p50'):.1f} / {median(idle_rows, 'gap_p99'):.1f} / "
        f"{max(r['gap_max'] for r in idle_rows):.1f}"
    )
    lines.append(f"| idle main window (no training) | – | – | – | – | {idle} | – | – |")
    lines.append(row("bare engine, 1 BLAS thread", bare1, False))
    lines.append(row("bare engine, 2 BLAS threads", bare2, False))
    lines.append(row("app, Train view shown", train_rows, True))
    lines.append(row("app, Inspect view shown (live feature maps)", inspect_rows, True))
    reached = to95["reached"]
    lines += [
        "",
        (
            f"Time to 95% validation accuracy in the app (Train view, from Start): "
            f"**{reached['time']:.1f} s** (epoch {reached['epoch']}, "
            f"{reached['acc'] * 100:.1f}%)."
            if reached
            else f"95% validation accuracy was not reached in 20 epochs "
            f"(final {to95['val_accuracy'] * 100:.1f}%)."
        ),
        "",
        "Targets: in-app throughput within 10% of the bare engine; timer gaps max < 50 ms; "
        "feature maps >= 2 refreshes/s; 95% in < 30 s.",
        "",
        "Command: `.venv/bin/python benchmarks/bench_gui.py"
        + (" --quick" if args.quick else "")
        + "`",
    ]
    text = "\n".join(lines)
    print(text)
    out = ROOT / "benchmarks" / "results" / f"gui-{_dt.date.today().isoformat()}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(f"\nsaved {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
