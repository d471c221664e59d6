"""Training inside the app: event-loop stalls, feature-map refresh rate, overhead, time to 95 %.

Usage::

    python benchmarks/bench_gui.py              # 3 epochs per pass, 3 repeats (~3 minutes)
    python benchmarks/bench_gui.py --quick      # 1 epoch per pass, 1 repeat
    python benchmarks/bench_gui.py --photo      # the photo preset on the CIFAR-10 sample
    python benchmarks/bench_gui.py --photo --quick
    python benchmarks/bench_gui.py --photo --smoke       # every code path, 3 steps a pass
    python benchmarks/bench_gui.py --photo --diagnose    # + where the long stalls come from

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

With ``--photo``: the photo preset (3@32x32) on the built-in CIFAR-10 sample (4,900
training and 100 validation images) with the app's settings for photos
(``TrainSettings.with_data_defaults`` with ``model.recipes.PHOTO_RECIPE``), each pass
with "Use 2 processor cores" off and on (``processes`` 1 and 2); no time to 95 %.

The table is printed and saved to ``benchmarks/results/gui-<date>.md``
(``gui-photo-<date>.md`` with ``--photo``; ``-quick`` added for ``--quick``; ``--smoke``
saves nothing).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import faulthandler
import itertools
import os
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

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

#: The longest event-loop stall the window may have while it trains (issue 25).
STALL_TARGET_MS = 50.0


@dataclass(frozen=True)
class Case:
    """What a pass trains: a preset on a built-in sample with the Train view's settings
    (a ``TrainSettings`` dict; the epochs are set per pass). ``images``: only that many
    training images (a fixed shuffle of the sample), for ``--smoke``."""

    preset: str
    data: str
    settings: dict[str, Any] = field(hash=False)
    images: int | None = None

    def train_settings(self, epochs: int) -> Any:
        from cnnstudio.ui.train.train_settings import TrainSettings

        return TrainSettings.from_dict({**self.settings, "epochs": epochs})

    def load(self) -> Any:
        import numpy as np

        from cnnstudio.data import load_builtin
        from cnnstudio.data.dataset import DatasetSplit

        split = load_builtin(self.data)
        if self.images is None:
            return split
        pick = np.random.default_rng(0).permutation(len(split.train))[: self.images]
        return DatasetSplit(split.train.subset(pick), split.test)

    def architecture(self) -> dict:
        from cnnstudio.model.compile import graph_to_architecture
        from cnnstudio.model.presets import load_preset

        return graph_to_architecture(load_preset(self.preset))

    def for_steps(self, steps: int) -> Case:
        """The same case on ``steps`` full batches an epoch and a half batch: a last batch
        of a few images would take another path (one thread; see benchmarks/README.md)."""
        s = self.train_settings(1)
        return replace(self, images=int((steps + 0.5) * s.batch_size / (1 - s.val_split)))


def lenet_case() -> Case:
    from cnnstudio.ui.train.train_settings import TrainSettings

    return Case("lenet5", "mnist-sample", TrainSettings.from_dict(SETTINGS).to_dict())


def photo_case(processes: int) -> Case:
    """The photo preset with the settings the Train view gives photos (the photo recipe,
    the photos' augmentation), on ``processes`` cores."""
    from cnnstudio.model.recipes import PHOTO_RECIPE
    from cnnstudio.ui.train.train_settings import TrainSettings

    settings = TrainSettings().with_data_defaults(3, PHOTO_RECIPE)
    settings.processes = processes
    return Case("photo", str(PHOTO_RECIPE["data"]), settings.to_dict())


def bare_engine(case: Case, epochs: int, threads: int) -> dict:
    """Train in a plain loop with the app's settings; no Qt event loop."""
    from cnnstudio.engine.network import Network
    from cnnstudio.engine.training import train as run_train
    from cnnstudio.ui.train.train_settings import transforms_for

    settings = case.train_settings(epochs)
    split = case.load()
    train, val = split.train.split(settings.val_split, seed=settings.seed)
    config = settings.train_config(threads=threads)
    network = Network.from_architecture(case.architecture(), seed=0)
    transform, val_transform, _norm = transforms_for(settings, train.images)

    t0 = time.perf_counter()
    last = None
    for snap in run_train(
        network,
        (train.images, train.labels),
        (val.images, val.labels),
        config,
        transform=transform,
        val_transform=val_transform,
    ):
        last = snap
    wall = time.perf_counter() - t0
    if last is None:
        raise RuntimeError("training gave no snapshot")
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


class StallWatch(threading.Thread):
    """For ``--diagnose``: where the GUI thread is while its timer is late.

    Every 2 ms this thread reads the GUI thread's scheduler counters (its CPU time and its
    time waiting for a core, from ``/proc/self/task/<tid>/schedstat``) and, while the
    last tick is over 30 ms old, the GUI thread's Python stack. For a stall the deltas
    tell its kind: CPU time about the stall's length is work on the GUI thread (the
    stack says which); time waiting for a core is the machine's other load; neither is
    the GUI thread asleep, waiting for the GIL (or a lock). Its own wake-ups, late by
    more than 2 ms, show how long a Python thread waited for the GIL (and a core). It
    takes the GIL itself 500 times a second: figures with it are not the benchmark's.
    """

    def __init__(self, ticks: list[float]) -> None:
        super().__init__(name="stall-watch", daemon=True)
        self.ticks = ticks
        self.main = threading.main_thread()
        self.halt = threading.Event()
        self.sched: list[tuple[float, int, int]] = []  # (time, cpu ns, run-queue wait ns)
        self.stacks: list[tuple[float, str]] = []
        self.late: list[float] = []  # ms each wake-up came after it was due

    def _schedstat(self) -> tuple[int, int]:
        with open(f"/proc/self/task/{self.main.native_id}/schedstat") as f:
            cpu, wait, _slices = f.read().split()
        return int(cpu), int(wait)

    def run(self) -> None:
        while not self.halt.is_set():
            due = time.perf_counter() + 0.002
            time.sleep(0.002)
            now = time.perf_counter()
            self.late.append((now - due) * 1000)
            self.sched.append((now, *self._schedstat()))
            if self.ticks and now - self.ticks[-1] > 0.030:
                self.stacks.append((now, self._gui_stack()))

    def _gui_stack(self) -> str:
        # faulthandler reads the threads' frames in C without making frame objects:
        # walking the GUI thread's frames from here (sys._current_frames) crashed
        # Python 3.11 with a segmentation fault.
        with tempfile.TemporaryFile("w+") as f:
            faulthandler.dump_traceback(f, all_threads=True)
            f.seek(0)
            text = f.read()
        head = f"0x{self.main.ident:016x}"
        for block in text.split("\n\n"):
            if head in block.split("\n", 1)[0]:
                frames = [
                    re.sub(r'File "(?:.*/)?([^"]+)", line (\d+) in (.*)', r"\1:\2 \3", ln.strip())
                    for ln in block.splitlines()[1:7]
                ]
                return " < ".join(frames)
        return "?"

    def explain(self, start: float, end: float) -> dict:
        """The GUI thread between two ticks: CPU ms, ms waiting for a core, its stacks."""
        inside = [s for s in self.sched if start <= s[0] <= end]
        before = [s for s in self.sched if s[0] < start][-1:]
        points = before + inside
        cpu = (points[-1][1] - points[0][1]) / 1e6 if len(points) > 1 else float("nan")
        wait = (points[-1][2] - points[0][2]) / 1e6 if len(points) > 1 else float("nan")
        stacks = Counter(w for t, w in self.stacks if start <= t <= end)
        return {"cpu_ms": cpu, "runqueue_ms": wait, "stacks": stacks.most_common(3)}


def app_run(
    case: Case,
    epochs: int,
    view: str,
    until_accuracy: float | None = None,
    diagnose: bool = False,
) -> dict:
    """Train ``case`` from the Train view of a main window with ``view`` on screen."""
    from PySide6.QtCore import QEventLoop

    from cnnstudio.model.presets import load_preset
    from cnnstudio.model.project import DatasetChoice
    from cnnstudio.ui.app import ensure_app
    from cnnstudio.ui.main_window import MainWindow

    app = ensure_app()
    window = MainWindow(restore_layout=False)
    window.resize(1280, 800)
    project = window.context.project
    project.set_graph(load_preset(case.preset))
    project.set_dataset(DatasetChoice(options={"name": case.data}), case.load())
    wanted = case.train_settings(epochs)
    project.set_train_settings(wanted.to_dict())
    window.show()
    window.show_view(view)
    app.processEvents()
    train_view: Any = window.view("train")
    inspect_view: Any = window.view("inspect")
    if train_view.settings() != wanted:  # the view must not have put its own defaults in
        raise RuntimeError(f"the Train view has {train_view.settings()}, not {wanted}")
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
    watch = StallWatch(ticker.times) if diagnose else None
    ticker.start()
    if watch is not None:
        watch.start()
    t0 = time.perf_counter()
    if not train_view.start():
        raise RuntimeError(f"could not start: {train_view.controls.message_label.text()}")
    loop.exec()
    wall = time.perf_counter() - t0
    if watch is not None:
        watch.halt.set()
        watch.join()
    all_gaps = sorted(ticker.stop())
    first, done = marks.get("first", t0), marks.get("done", t0 + wall)
    gaps = _gaps_between(ticker.times, first, done)
    stalls = []
    if watch is not None:
        for a, b in itertools.pairwise(ticker.times):
            if (b - a) * 1000 > STALL_TARGET_MS:
                during = "training" if first <= a and b <= done else "start/finish"
                stalls.append(
                    {"at": a - t0, "ms": (b - a) * 1000, "during": during, **watch.explain(a, b)}
                )
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
    if not gaps:  # a run shorter than one tick
        gaps = [0.0]
    return {
        "start_finish_max": all_gaps[-1] if all_gaps else 0.0,
        "samples_per_sec": last.samples_per_sec,
        "wall_samples_per_sec": last.step * wanted.batch_size / wall if last.step else 0.0,
        "wall": wall,
        "val_accuracy": last.val_accuracy,
        "gap_p50": gaps[len(gaps) // 2],
        "gap_p99": gaps[min(int(len(gaps) * 0.99), len(gaps) - 1)],
        "gap_max": gaps[-1],
        "maps_per_sec": maps / wall,
        "reached": reached,
        "stalls": stalls,
        "watch_late": sorted(watch.late) if watch is not None else [],
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


def _diagnosis(name: str, rows: list[dict]) -> list[str]:
    """``--diagnose``: each stall over the target of a pass, with what the GUI thread did."""
    out = []
    for i, r in enumerate(rows):
        late = r["watch_late"]
        if late:
            out.append(
                f"- {name}, repeat {i + 1}: watch thread woke late by p50 "
                f"{late[len(late) // 2]:.1f} / p99 {late[int(len(late) * 0.99)]:.1f} / "
                f"max {late[-1]:.1f} ms (GIL and core waits of a Python thread)"
            )
        for s in r["stalls"]:
            stacks = "; ".join(f"{n}x {w}" for w, n in s["stacks"]) or "no sample"
            out.append(
                f"  - {s['ms']:.0f} ms at {s['at']:.2f} s ({s['during']}): GUI thread on a "
                f"core {s['cpu_ms']:.0f} ms, waiting for one {s['runqueue_ms']:.0f} ms; "
                f"stacks: {stacks}"
            )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch per pass, 1 repeat")
    parser.add_argument(
        "--photo",
        action="store_true",
        help="the photo preset on the CIFAR-10 sample with the photo recipe, 1 and 2 cores",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="every code path on 3 steps a pass, 1 repeat (seconds); nothing saved",
    )
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="sample the GUI thread during stalls over 50 ms and list them (perturbs the timing)",
    )
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    epochs = args.epochs or (1 if args.quick or args.smoke else 3)
    repeats = args.repeats or (1 if args.quick or args.smoke else 3)

    if args.photo:
        cases = {"1 core": photo_case(1), "2 cores": photo_case(2)}
    else:
        cases = {"": lenet_case()}
    if args.smoke:
        cases = {k: c.for_steps(3) for k, c in cases.items()}
    first = next(iter(cases.values()))

    def each(name: str) -> str:
        return f"{name}, {{}}" if args.photo else name

    train_rows: dict[str, list[dict]] = {k: [] for k in cases}
    inspect_rows: dict[str, list[dict]] = {k: [] for k in cases}
    idle_rows: list[dict] = []
    # (row name, case, BLAS threads, the case's key): a case's app passes are compared
    # with its first bare pass.
    bare_passes = (
        [(f"bare engine, {k}", c, 1, k) for k, c in cases.items()]
        if args.photo
        else [
            ("bare engine, 1 BLAS thread", first, 1, ""),
            ("bare engine, 2 BLAS threads", first, 2, ""),
        ]
    )
    bare: dict[str, list[dict]] = {name: [] for name, *_ in bare_passes}
    bare_of: dict[str, list[dict]] = {}
    for name, _case, _threads, key in bare_passes:
        bare_of.setdefault(key, bare[name])
    # First-time costs (imports, font and glyph caches, the first paint of each
    # plot item) belong to starting the app, not to training: one short run first
    # (a few steps of every case, with the feature maps on screen).
    print("warm-up run ...", file=sys.stderr, flush=True)
    for case in cases.values():
        app_run(case.for_steps(3) if args.photo else case, 1, "inspect")
    for r in range(repeats):
        print(f"repeat {r + 1}/{repeats}: idle window ...", file=sys.stderr, flush=True)
        idle_rows.append(idle_gaps(1.0 if args.smoke else 4.0))
        for name, case, threads, _key in bare_passes:
            print(f"  {name} ...", file=sys.stderr, flush=True)
            bare[name].append(bare_engine(case, epochs, threads=threads))
        for key, case in cases.items():
            for view, rows in (("train", train_rows), ("inspect", inspect_rows)):
                print(f"  app, {view} view {key} ...", file=sys.stderr, flush=True)
                rows[key].append(app_run(case, epochs, view, diagnose=args.diagnose))
    to95 = None
    if not args.photo:
        print("time to 95% ...", file=sys.stderr, flush=True)
        to95 = app_run(first, 2 if args.smoke else 20, "train", until_accuracy=0.95)

    s = first.train_settings(epochs)
    n_train = len(first.load().train)
    n_val = round(n_train * s.val_split)
    if args.photo:
        aug = ", ".join(f"{k}={v}" for k, v in s.augmentation.items()) or "none"
        what = (
            f"Photo preset ({first.preset}, 3@32x32), built-in CIFAR-10 sample "
            f"({n_train - n_val:,} train / {n_val:,} validation), the app's photo settings: "
            f"SGD{' Nesterov' if s.nesterov else ''} lr {s.lr:g} {s.schedule}, "
            f"batch {s.batch_size}, weight decay {s.weight_decay:g}, label smoothing "
            f"{s.label_smoothing:g}, {'normalised' if s.normalize else 'not normalised'}, "
            f"augmentation {aug}; '1 core' / '2 cores': Use 2 processor cores off / on "
            f"(processes 1 / 2)"
        )
    else:
        what = (
            f"LeNet-5, built-in MNIST sample ({n_train - n_val:,} train / {n_val:,} "
            f"validation), Adam 0.001, batch 64"
        )
    lines = [
        f"# GUI training benchmark{' (photo)' if args.photo else ''}, "
        f"{_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"{what}, {epochs} epoch(s) per pass, median of {repeats}; offscreen Qt; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average at the end {os.getloadavg()[0]:.1f} (other processes were running)."
        + (" SMOKE RUN (3 steps a pass): not a measurement." if args.smoke else "")
        + (
            " With --diagnose (a sampling thread): gaps are not the benchmark's."
            if args.diagnose
            else ""
        ),
        "",
        "After one warm-up run (first-time costs of the app). "
        "Tick gaps are measured while the worker trains (first step to last step); "
        "'start/finish' is the longest gap including pressing Start (building the network, "
        "splitting the data) and the end of the run (evaluation, saving the model in the "
        "project, other views following it). 'vs bare': against the bare engine"
        + (" on as many cores." if args.photo else " on 1 BLAS thread."),
        "",
        "| pass | samples/s (training) | vs bare | samples/s (wall) | vs bare | "
        f"tick gap p50 / p99 / max (ms) | max <= {STALL_TARGET_MS:.0f} ms | "
        "start/finish max (ms) | feature maps /s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def row(name: str, rows: list[dict], base_rows: list[dict], gui: bool) -> str:
        base = median(base_rows, "samples_per_sec")
        base_wall = median(base_rows, "wall_samples_per_sec")
        sps = median(rows, "samples_per_sec")
        wall = median(rows, "wall_samples_per_sec")
        worst = max(r["gap_max"] for r in rows) if gui else 0.0
        gaps = (
            f"{median(rows, 'gap_p50'):.1f} / {median(rows, 'gap_p99'):.1f} / {worst:.1f}"
            if gui
            else "–"
        )
        within = ("yes" if worst <= STALL_TARGET_MS else "**no**") if gui else "–"
        maps = f"{median(rows, 'maps_per_sec'):.1f}" if gui else "–"
        edge = f"{max(r['start_finish_max'] for r in rows):.0f}" if gui else "–"
        return (
            f"| {name} | {sps:,.0f} | {sps / base:.0%} | {wall:,.0f} | {wall / base_wall:.0%} | "
            f"{gaps} | {within} | {edge} | {maps} |"
        )

    idle = (
        f"{median(idle_rows, 'gap_p50'):.1f} / {median(idle_rows, 'gap_p99'):.1f} / "
        f"{max(r['gap_max'] for r in idle_rows):.1f}"
    )
    lines.append(f"| idle main window (no training) | – | – | – | – | {idle} | – | – | – |")
    for name, _case, _threads, key in bare_passes:
        lines.append(row(name, bare[name], bare_of[key], False))
    for key in cases:
        lines.append(
            row(each("app, Train view shown").format(key), train_rows[key], bare_of[key], True)
        )
    for key in cases:
        lines.append(
            row(
                each("app, Inspect view shown (live feature maps)").format(key),
                inspect_rows[key],
                bare_of[key],
                True,
            )
        )
    if to95 is not None:
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
        ]
    lines += [
        "",
        "Targets: in-app throughput within 10% of the bare engine; timer gaps max < 50 ms; "
        "feature maps >= 2 refreshes/s" + ("." if args.photo else "; 95% in < 30 s."),
    ]
    if args.diagnose:
        lines += ["", f"Stalls over {STALL_TARGET_MS:.0f} ms (--diagnose):", ""]
        for key in cases:
            lines += _diagnosis(each("Train view").format(key), train_rows[key])
            lines += _diagnosis(each("Inspect view").format(key), inspect_rows[key])
    flags = [f for f, on in (("--photo", args.photo), ("--quick", args.quick)) if on]
    lines += [
        "",
        "Command: `.venv/bin/python benchmarks/bench_gui.py"
        + "".join(f" {f}" for f in flags)
        + "`",
    ]
    text = "\n".join(lines)
    print(text)
    if args.smoke:
        return 0
    stem = "gui-photo" if args.photo else "gui"
    out = (
        ROOT
        / "benchmarks"
        / "results"
        / (f"{stem}-{_dt.date.today().isoformat()}{'-quick' if args.quick else ''}.md")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(f"\nsaved {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
