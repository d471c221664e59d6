"""LeNet-5 speed and memory of the NumPy engine, next to PyTorch's CPU build when installed.

Usage::

    python benchmarks/bench_engine.py            # full run (a few minutes)
    python benchmarks/bench_engine.py --quick    # one process per figure, shorter timing
    python benchmarks/bench_engine.py --against /tmp/before   # this tree against another

Every figure is measured in a fresh subprocess (so BLAS thread pools, allocator state
and warm caches do not leak between configurations), repeated, and the median is
reported. The table is printed and saved to ``benchmarks/results/engine-<date>.md``.

Training step (both engines): forward, softmax cross-entropy, backward, SGD with
momentum 0.9 (lr 0.01), on batches of 2,048 images of the built-in MNIST sample in a
fixed shuffled order (real digits: their blank backgrounds make max-pool ties), scaled
to [0, 1]. The results also give each engine's training loss at the end, to show that
both networks learned.
"""

from __future__ import annotations

import argparse
import collections
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BATCHES = (32, 64, 128)


# -- data --------------------------------------------------------------------------------
def load_images(n: int = 2048, channels: int = 1):
    """``n`` images (N, channels, 28, 28) float32 in [0, 1] and their labels. With
    ``channels`` > 1, channel ``c`` is the digit shifted ``c`` pixels to the right (an
    input as wide as a colour image's, for the first convolution's cost)."""
    import numpy as np

    path = ROOT / "resources" / "datasets" / "mnist_sample.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as d:
            # The sample is stored sorted by label: a fixed shuffle gives every batch a mix
            # of digits, as training does. (Taken in order, each batch held one digit, and
            # both engines' networks "learned" each digit in turn until every ReLU of the
            # NumPy one died, which changes what the step costs.)
            order = np.random.default_rng(0).permutation(len(d["train_labels"]))[:n]
            x = d["train_images"][order].astype(np.float32) / 255.0
            y = d["train_labels"][order].astype(np.int64)
    else:  # synthetic stand-in: sparse strokes on a blank background
        rng = np.random.default_rng(0)
        x = rng.random((n, 1, 28, 28), dtype=np.float32)
        x[x < 0.8] = 0.0
        y = rng.integers(0, 10, n)
    if channels > 1:
        x = np.concatenate([np.roll(x, c, axis=-1) for c in range(channels)], axis=1)
    return x, y


# -- NumPy engine ------------------------------------------------------------------------
def numpy_lenet(channels: int = 1):
    sys.path.insert(0, str(ROOT))
    from cnnstudio.engine import Conv2D, Dense, Flatten, MaxPool2D, Network, ReLU, Softmax

    layers = [
        Conv2D(6, 5, padding=2), ReLU(), MaxPool2D(2),
        Conv2D(16, 5), ReLU(), MaxPool2D(2), Flatten(),
        Dense(120), ReLU(), Dense(84), ReLU(), Dense(10), Softmax(),
    ]  # fmt: skip
    return Network(layers, input_shape=(channels, 28, 28), seed=0)


def numpy_train_step_factory(net, lr: float = 0.01, momentum: float = 0.9, processes: int = 1):
    """The engine's fused softmax cross-entropy step (``Network.train_step``: forward,
    loss, backward; with ``processes`` > 1 through ``engine.parallel.DataParallel``) and
    the engine's own SGD with momentum (what training in the app runs; it computes
    PyTorch's SGD update)."""
    from cnnstudio.engine.optimizers import SGD
    from cnnstudio.engine.parallel import DataParallel

    trainer = DataParallel(net, processes)
    params = net.flat_parameters()
    opt = SGD(lr, momentum=momentum)

    def step(x, y):
        loss, _ = trainer.train_step(x, y)
        opt.step(params)
        return loss

    step.close = trainer.close  # type: ignore[attr-defined]
    return step


# -- PyTorch -------------------------------------------------------------------------------
def torch_lenet(channels: int = 1):
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )  # fmt: skip


def torch_train_step_factory(model):
    import torch

    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()

    return step


def save_results(text: str, name: str, suffix: str = "") -> None:
    """Print ``text`` and save it to ``benchmarks/results/<name>-<date><suffix>.md`` (a later
    run on the same day overwrites it)."""
    print()
    print(text)
    path = ROOT / "benchmarks" / "results" / f"{name}-{_dt.date.today():%Y-%m-%d}{suffix}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"saved {path.relative_to(ROOT)}")


def alternating_steps(
    batch: int, plans: dict, rounds: int, steps: int, warm: int = 0, first: int = 20
) -> dict[str, float]:
    """Median microseconds per LeNet training step under each of ``plans`` (name -> a
    context-manager factory that switches the engine to that plan), taking turns for
    ``rounds`` rounds of ``steps`` steps in this process, each turn after ``warm`` untimed
    steps (and ``first`` untimed steps before the first round). Alternating in one process
    is the only comparison that holds still on a busy host."""
    x, y = load_images()
    net = numpy_lenet()
    step = numpy_train_step_factory(net)
    n_batches = len(x) // batch
    i = 0

    def run(n: int) -> None:
        nonlocal i
        for _ in range(n):
            a = (i % n_batches) * batch
            step(x[a : a + batch], y[a : a + batch])
            i += 1

    run(first)
    times: dict[str, list[float]] = {name: [] for name in plans}
    for _ in range(rounds):
        for name, plan in plans.items():
            with plan():
                run(warm)
                t0 = time.perf_counter()
                run(steps)
                times[name].append((time.perf_counter() - t0) / steps * 1e6)
    return {name: statistics.median(t) for name, t in times.items()}


# -- workers (run in a fresh process) ---------------------------------------------------
def worker(args: argparse.Namespace) -> dict:
    import numpy as np
    from threadpoolctl import threadpool_limits

    x_all, y_all = load_images(channels=args.channels)
    b = args.batch
    n_batches = len(x_all) // b
    if args.engine == "torch":
        import torch

        torch.set_num_threads(args.threads)
        model = torch_lenet(args.channels)
        xs = [torch.from_numpy(x_all[i * b : (i + 1) * b]) for i in range(n_batches)]
        ys = [torch.from_numpy(y_all[i * b : (i + 1) * b]) for i in range(n_batches)]
        step = torch_train_step_factory(model)

        def infer(x1):
            with torch.no_grad():
                return model(x1)

        x1 = torch.from_numpy(x_all[:1].copy())
        model_for_infer = model.eval
    else:
        net = numpy_lenet(args.channels)
        xs = [x_all[i * b : (i + 1) * b] for i in range(n_batches)]
        ys = [y_all[i * b : (i + 1) * b] for i in range(n_batches)]
        step = numpy_train_step_factory(net, processes=args.procs)

        def infer(x1):
            return net.forward(x1)

        x1 = x_all[:1].copy()

        def model_for_infer():
            return None

    # The whole measurement runs under one BLAS thread limit, restored afterwards.
    with threadpool_limits(limits=args.blas_threads if args.engine != "torch" else None):
        if args.mode == "train":
            for i in range(5):
                step(xs[i % n_batches], ys[i % n_batches])
            steps, t0 = 0, time.perf_counter()
            last = collections.deque(maxlen=n_batches)  # the losses of the last epoch
            while time.perf_counter() - t0 < args.seconds:
                last.append(step(xs[steps % n_batches], ys[steps % n_batches]))
                steps += 1
            dt = time.perf_counter() - t0
            # The loss shows that the network learned (a network whose ReLUs died, or
            # that diverged, would time a different computation).
            return {
                "samples_per_s": steps * b / dt,
                "loss": statistics.fmean(float(v) for v in last),
            }
        if args.mode == "latency":
            model_for_infer()
            for _ in range(200):
                infer(x1)
            times = []
            t_end = time.perf_counter() + args.seconds
            while time.perf_counter() < t_end or len(times) < 200:
                t0 = time.perf_counter()
                infer(x1)
                times.append(time.perf_counter() - t0)
            return {
                "median_us": statistics.median(times) * 1e6,
                "p90_us": float(np.percentile(times, 90)) * 1e6,
            }
        if args.mode == "memory":
            import tracemalloc

            rss0 = _current_rss_mb()
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            for i in range(10):
                step(xs[i % n_batches], ys[i % n_batches])
            peak = tracemalloc.get_traced_memory()[1] - base
            tracemalloc.stop()
            return {"peak_mb": peak / 2**20, "rss_growth_mb": _current_rss_mb() - rss0}
    raise ValueError(args.mode)


def _current_rss_mb() -> float:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
    except OSError:
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_worker(
    engine: str,
    mode: str,
    batch: int,
    threads: int,
    seconds: float,
    procs: int = 1,
    channels: int = 1,
    script: Path | str = __file__,
):
    """Run one measurement in a fresh process; ``script``: this benchmark in another
    source tree (``--against``)."""
    cmd = [
        sys.executable, str(script), "--worker", "--engine", engine, "--mode", mode,
        "--batch", str(batch), "--blas-threads", str(threads), "--threads", str(threads),
        "--procs", str(procs), "--seconds", str(seconds),
        "--channels", str(channels),
    ]  # fmt: skip
    env = dict(os.environ)
    # Fix thread counts before any library starts its pool (threadpoolctl also limits
    # BLAS at run time; these keep OpenMP/MKL pools from oversubscribing the cores).
    env["OMP_NUM_THREADS"] = str(threads)
    cwd = Path(script).resolve().parents[1]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{engine} {mode} b={batch} t={threads} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_of(repeats: int, *args) -> dict:
    runs = [run_worker(*args) for _ in range(repeats)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def compare(other: Path, rounds: int, seconds: float) -> None:
    """LeNet-5 training throughput of this source tree against ``other`` (a git worktree of
    an earlier commit, e.g. ``git worktree add /tmp/before <sha>``), each figure in a fresh
    process, the two trees taking turns for ``rounds`` rounds so that a change in the
    machine's load hits both alike. Each tree runs its own copy of this script."""
    theirs = other.resolve() / "benchmarks" / "bench_engine.py"
    if not theirs.is_file():
        raise SystemExit(f"{theirs} does not exist: give the root of another source tree")
    configs = [(b, p) for p in (1, 2) for b in BATCHES]
    load_before = os.getloadavg()[0]
    runs: dict[tuple[str, int, int], list[float]] = {}
    for r in range(rounds):
        for b, p in configs:
            trees = [("before", theirs), ("after", Path(__file__))]
            if r % 2:  # which tree goes first alternates too
                trees.reverse()
            for tree, script in trees:
                value = run_worker("numpy", "train", b, 1, seconds, p, 1, script)["samples_per_s"]
                runs.setdefault((tree, b, p), []).append(value)
        print(f"round {r + 1}/{rounds} done, load average {os.getloadavg()[0]:.2f}", flush=True)
    commits = [
        subprocess.run(
            ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        or "?"
        for tree in (other, ROOT)
    ]
    lines = [
        f"# Engine comparison, {_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"LeNet-5 training, samples/s: {rounds} alternating rounds of {seconds:g} s per figure, "
        f"each in a fresh process; before = {other} (commit {commits[0]}), after = this tree "
        f"(commit {commits[1]}, with what is not committed). Median (min-max) over the rounds; the",
        "ratio of the medians, of the best runs, and the median of each round's ratio (the",
        "two runs of a round are back to back, so they share the host's load most). Load",
        f"average before: {load_before:.2f}, after: {os.getloadavg()[0]:.2f}.",
        "",
        "| processes | batch | before | after | medians | best | per round |",
        "|---|---|---|---|---|---|---|",
    ]
    for b, p in configs:
        old, new = runs[("before", b, p)], runs[("after", b, p)]
        rounds_ratio = statistics.median(n / o for n, o in zip(new, old, strict=True))
        lines.append(
            f"| {p} | {b} | {statistics.median(old):,.0f} ({min(old):,.0f}-{max(old):,.0f}) | "
            f"{statistics.median(new):,.0f} ({min(new):,.0f}-{max(new):,.0f}) | "
            f"{statistics.median(new) / statistics.median(old):.3f} | "
            f"{max(new) / max(old):.3f} | {rounds_ratio:.3f} |"
        )
    save_results("\n".join(lines) + "\n", "engine-compare")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 process per figure, 2 s each")
    parser.add_argument("--repeats", type=int, default=None, help="fresh processes per figure")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    parser.add_argument(
        "--channels",
        type=int,
        default=1,
        help="input channels (default 1; 3: each digit in 3 shifted copies, as wide as colour)",
    )
    parser.add_argument(
        "--against",
        metavar="TREE",
        type=Path,
        help="compare LeNet-5 training with another source tree (a git worktree), alternating",
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds of --against (default 5)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", default="numpy", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="train", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=64, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--blas-threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--procs", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=3.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    if args.against is not None:
        compare(args.against, args.rounds, 2.0 if args.quick else 3.0)
        return

    repeats = args.repeats or (1 if args.quick else 3)
    seconds = 2.0 if args.quick else 4.0
    use_torch = torch_available() and not args.no_torch
    load_before = os.getloadavg()
    ch = args.channels
    what = "" if ch == 1 else f" in {ch} channels (channel c shifted c pixels)"
    lines = [
        f"# Engine benchmark, {_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; LeNet-5 on MNIST digits{what}; medians of {repeats} "
        f"fresh process(es), {seconds:.0f} s each; load average before: "
        f"{load_before[0]:.2f}.",
        "",
        "## Training throughput (samples/s)",
        "",
    ]
    header = "| engine | threads | " + " | ".join(f"B={b}" for b in BATCHES) + " |"
    lines += [header, "|---|---|" + "---|" * len(BATCHES)]
    results: dict[tuple[str, int], dict[int, float]] = {}
    # (label, engine, threads in all, processes)
    configs = [
        ("NumPy (BLAS threads)", "numpy", 1, 1),
        ("NumPy (BLAS threads)", "numpy", 2, 1),
    ]
    # DataParallel(network, 2): this process and one helper process, each on half of
    # every batch with one BLAS thread.
    configs.append(("NumPy DataParallel(processes=2), BLAS 1", "numpy", 2, 2))
    if use_torch:
        configs += [("PyTorch CPU", "torch", 1, 1), ("PyTorch CPU", "torch", 2, 1)]
    # Configurations take turns (round-robin over repeats) so that a change in the
    # machine's load during the run hits all of them alike.
    runs: dict[tuple[str, int, int], list[float]] = {}
    losses: dict[tuple[str, int], dict[int, list[float]]] = {}
    for b in BATCHES:
        for _ in range(repeats):
            for label, engine, threads, n_procs in configs:
                blas = 1 if n_procs > 1 else threads
                r = run_worker(engine, "train", b, blas, seconds, n_procs, ch)
                runs.setdefault((label, threads, b), []).append(r["samples_per_s"])
                losses.setdefault((label, threads), {}).setdefault(b, []).append(r["loss"])
        for label, _, threads, _ in configs:
            value = statistics.median(runs[(label, threads, b)])
            results.setdefault((label, threads), {})[b] = value
            print(f"{label:38s} t={threads} B={b:4d}: {value:8.0f} samples/s", flush=True)
    for label, _, threads, _ in configs:
        row = results[(label, threads)]
        lines.append(
            f"| {label} | {threads} | " + " | ".join(f"{row[b]:,.0f}" for b in BATCHES) + " |"
        )
    if use_torch:
        lines += ["", "## NumPy / PyTorch, same threads", ""]
        lines += ["| NumPy config | threads | " + " | ".join(f"B={b}" for b in BATCHES) + " |"]
        lines += ["|---|---|" + "---|" * len(BATCHES)]
        for (label, threads), row in results.items():
            if label.startswith("PyTorch"):
                continue
            ref = results[("PyTorch CPU", threads)]
            ratios = " | ".join(f"{row[b] / ref[b]:.2f}x" for b in BATCHES)
            lines.append(f"| {label} | {threads} | {ratios} |")

    lines += [
        "",
        "## Training loss at the end of the timed steps",
        "",
        "Mean over the last pass through the 2,048 images, median over the processes: every",
        "network learned (the untrained loss is about 2.3), so every engine timed the same",
        "kind of computation.",
        "",
        header,
        "|---|---|" + "---|" * len(BATCHES),
    ]
    for (label, threads), by_batch in losses.items():
        values = " | ".join(f"{statistics.median(by_batch[b]):.3f}" for b in BATCHES)
        lines.append(f"| {label} | {threads} | {values} |")

    lines += ["", "## Single-image inference latency (1 thread)", ""]
    lines += ["| engine | median (us) | p90 (us) |", "|---|---|---|"]
    lat_engines = ["numpy"] + (["torch"] if use_torch else [])
    for engine in lat_engines:
        r = median_of(repeats, engine, "latency", 1, 1, seconds, 1, ch)
        name = "NumPy" if engine == "numpy" else "PyTorch CPU"
        print(f"{name} latency: median {r['median_us']:.0f} us, p90 {r['p90_us']:.0f} us")
        lines.append(f"| {name} | {r['median_us']:.0f} | {r['p90_us']:.0f} |")

    lines += ["", "## Memory, training at B=128 (NumPy, 1 thread)", ""]
    r = median_of(1, "numpy", "memory", 128, 1, seconds, 1, ch)
    print(f"NumPy memory: tracemalloc peak {r['peak_mb']:.1f} MB")
    lines += [
        f"- tracemalloc peak over 10 training steps: {r['peak_mb']:.1f} MB "
        f"(resident memory grew by {r['rss_growth_mb']:.1f} MB) on top of the network and "
        "the dataset.",
        "",
        f"Load average after: {os.getloadavg()[0]:.2f}. Other processes shared the 2 cores "
        "during this run unless the load averages say otherwise: treat the figures as noisy.",
    ]
    save_results("\n".join(lines) + "\n", "engine", "" if ch == 1 else f"-{ch}ch")


if __name__ == "__main__":
    main()
