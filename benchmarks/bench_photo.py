"""Photo networks: the NumPy engine's training speed and memory next to PyTorch's CPU build.

Usage::

    python benchmarks/bench_photo.py            # full run: 3 windows a side per figure
    python benchmarks/bench_photo.py --quick    # 1 window a side, shorter windows
    python benchmarks/bench_photo.py --smoke    # every code path for a moment; nothing saved

What it measures (benchmarks/README.md, "bench_photo.py", says more):

- training throughput (images/s) of the photo preset at batch 64, 128 and 256, and of a
  VGG-style network and LeNet-5 (3@32x32, 3@64x64, 3@96x96) at 64 and 128, on one and
  two threads, the engine and PyTorch taking turns in fresh processes;
- the fraction of this machine's fp32 GEMM peak (NumPy's 1024x1024 product, measured in
  the same run) that each side reaches on the photo preset;
- the photo preset's throughput on one thread and on two while another process keeps a
  core busy;
- the peak resident memory of the app's training loop on 50,000 photos at batch 128.

The tables are printed and saved to ``benchmarks/results/photo-<date>.md``.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as _dt
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import _current_rss_mb, save_results  # noqa: E402

PHOTO_BATCHES = (64, 128, 256)
OTHER_BATCHES = (64, 128)
THREADS = (1, 2)
LENET_SIZES = (32, 64, 96)
#: Both sides' optimizer and loss: the photo recipe's (cnnstudio/model/recipes.py) at a
#: constant rate low enough for every network here to learn from its first step (the
#: photo preset's loss climbed for a dozen steps at 0.02 without the recipe's warm-up).
LR = 0.005
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
LABEL_SMOOTHING = 0.2
#: The images a window cycles through, as float32, stay under this many bytes (at
#: 3@96x96 that is 512 images), and are at most MAX_IMAGES.
IMAGE_BUDGET = 64 * 2**20
MAX_IMAGES = 2560
#: Memory figure: the training set's size, the batch, the steps, and the target.
MEMORY_IMAGES = 50_000
MEMORY_BATCH = 128
MEMORY_STEPS = 30
MEMORY_TARGET_MB = 600
GEMM_SIZE = 1024

NET_NAMES = {
    "photo": "Photo ResNet (`--preset photo`)",
    "vgg": "VGG-style 32-64-128",
    **{f"lenet{s}": f"LeNet-5 RGB 3@{s}x{s}" for s in LENET_SIZES},
}


# -- networks ------------------------------------------------------------------------------
def _node(nid: str, kind: str, config: dict[str, Any], inputs: list[str]) -> dict[str, Any]:
    return {"id": nid, "type": kind, "config": config, "inputs": inputs}


def vgg_architecture(widths: tuple[int, ...] = (32, 64, 128), size: int = 32) -> dict[str, Any]:
    """A VGG-style network at 3@size x size: per stage conv-BN-ReLU twice and a 2x2 max
    pool, then global average pooling and a dense layer of 10."""
    nodes = [_node("input1", "Input", {"shape": [3, size, size]}, [])]
    last, k = "input1", 0
    for stage, width in enumerate(widths, 1):
        for _ in range(2):
            k += 1
            conv = {"filters": width, "kernel_size": [3, 3], "padding": [1, 1], "use_bias": False}
            nodes += [
                _node(f"conv{k}", "Conv2D", conv, [last]),
                _node(f"bn{k}", "BatchNorm", {"momentum": 0.1, "eps": 1e-5}, [f"conv{k}"]),
                _node(f"relu{k}", "ReLU", {}, [f"bn{k}"]),
            ]
            last = f"relu{k}"
        nodes.append(_node(f"maxpool{stage}", "MaxPool2D", {"pool_size": [2, 2]}, [last]))
        last = f"maxpool{stage}"
    nodes += [
        _node("globalavg1", "GlobalAvgPool2D", {}, [last]),
        _node("dense1", "Dense", {"units": 10}, ["globalavg1"]),
        _node("output1", "Softmax", {}, ["dense1"]),
    ]
    return {"format": "cnnstudio-architecture", "version": 1, "name": "VGG-style", "nodes": nodes}


def lenet_architecture(size: int) -> dict[str, Any]:
    """The LeNet-5 RGB preset with its input scaled to 3@size x size (its dense layer
    grows with the last feature map)."""
    arch = json.loads((ROOT / "resources" / "presets" / "lenet5_rgb.json").read_text("utf-8"))
    (first,) = [n for n in arch["nodes"] if n["type"] == "Input"]
    first["config"]["shape"] = [3, size, size]
    return arch


def build_network(key: str) -> Any:
    from cnnstudio.engine import Network

    if key == "photo":
        from cnnstudio.model.compile import compile_network
        from cnnstudio.model.presets import load_preset

        return compile_network(load_preset("photo"), seed=0)
    if key == "vgg":
        return Network.from_architecture(vgg_architecture(), seed=0)
    if key.startswith("lenet"):
        return Network.from_architecture(lenet_architecture(int(key[5:])), seed=0)
    raise ValueError(f"unknown network {key!r}")


def forward_macs(net: Any) -> int:
    """Multiply-adds of one image's forward pass in the convolutions and dense layers
    (what runs as matrix products; BatchNorm, pooling and ReLU are left out)."""
    total = 0
    for nid, layer in net.nodes.items():
        if layer.type_name == "Conv2D":
            total += layer.params["w"].size * math.prod(net.shapes[nid][1:])
        elif layer.type_name == "Dense":
            total += layer.params["w"].size
    return total


def training_flops(net: Any) -> int:
    """Floating-point operations of one image's training step by the usual count: the
    forward pass's multiply-adds, two operations each, three times (forward, input
    gradient, weight gradient)."""
    return 3 * 2 * forward_macs(net)


def torch_mirror(net: Any) -> Any:
    """The engine network ``net`` as a PyTorch module, node by node, with its weights."""
    import torch
    from torch import nn

    def copied(m: Any, weight: Any, bias: Any = None) -> Any:
        with torch.no_grad():  # both sides store (out, in[, kh, kw])
            m.weight.copy_(torch.from_numpy(weight))
            if bias is not None:
                m.bias.copy_(torch.from_numpy(bias))
        return m

    def module(layer: Any, in_shape: tuple[int, ...]) -> nn.Module | None:
        kind, p = layer.type_name, getattr(layer, "params", {})
        if kind == "Conv2D":
            top, bottom, left, right = layer.pads(in_shape)
            if top != bottom or left != right or layer.flip_kernel:
                raise ValueError(f"{layer.name}: no PyTorch mirror for its padding or flip")
            conv = nn.Conv2d(
                in_shape[0], layer.filters, layer.kernel_size, layer.stride, (top, left),
                bias=layer.use_bias,
            )  # fmt: skip
            return copied(conv, p["w"], p.get("b"))
        if kind == "Dense":
            return copied(nn.Linear(in_shape[0], layer.units, bias="b" in p), p["w"], p.get("b"))
        if kind == "BatchNorm":
            bn = nn.BatchNorm2d(in_shape[0], eps=layer.eps, momentum=layer.momentum)
            return copied(bn, p["gamma"], p["beta"])
        if kind == "MaxPool2D":
            top, bottom, left, right = layer.pads(in_shape)
            if top != bottom or left != right:
                raise ValueError(f"{layer.name}: no PyTorch mirror for its padding")
            return nn.MaxPool2d(layer.pool_size, layer.stride, (top, left))
        if kind == "ReLU":
            return nn.ReLU()
        if kind in ("Input", "Add", "Flatten", "GlobalMaxPool2D", "GlobalAvgPool2D", "Softmax"):
            return None  # done in Mirror.forward
        raise ValueError(f"{layer.name}: no PyTorch mirror for {kind}")

    class Mirror(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mods = nn.ModuleDict()
            self.order = [
                (nid, layer.type_name, net.inputs[nid]) for nid, layer in net.nodes.items()
            ]
            for nid, layer in net.nodes.items():
                if net.inputs[nid]:
                    m = module(layer, net.shapes[net.inputs[nid][0]])
                    if m is not None:
                        self.mods[nid] = m

        def forward(self, x: Any) -> Any:
            outs: dict[str, Any] = {}
            for nid, kind, inputs in self.order:
                if not inputs:
                    out = x
                elif nid in self.mods:
                    out = self.mods[nid](outs[inputs[0]])
                elif kind == "Add":
                    out = outs[inputs[0]]
                    for other in inputs[1:]:
                        out = out + outs[other]
                elif kind == "Flatten":
                    out = torch.flatten(outs[inputs[0]], 1)
                elif kind == "GlobalMaxPool2D":
                    out = outs[inputs[0]].amax(dim=(2, 3))
                elif kind == "GlobalAvgPool2D":
                    out = outs[inputs[0]].mean(dim=(2, 3))
                else:
                    raise ValueError(f"{nid}: no PyTorch mirror for {kind}")
                if nid == net.logits_id:
                    return out  # the loss takes the logits, as the engine's fused step
                outs[nid] = out
            raise ValueError("the network has no logits node")

    return Mirror()


# -- data ----------------------------------------------------------------------------------
def load_photos(size: int) -> tuple[Any, Any]:
    """Photos of the built-in CIFAR-10 sample in a fixed shuffled order (the sample is
    stored sorted by label), scaled up to ``size`` by repeating pixels, normalised per
    channel: float32 (N, 3, size, size) and int64 labels, N within ``IMAGE_BUDGET``."""
    import numpy as np

    from cnnstudio.data.loader import load_source

    train = load_source("builtin", "cifar10-sample").train
    n = min(MAX_IMAGES, len(train.labels), IMAGE_BUDGET // (3 * size * size * 4))
    order = np.random.default_rng(0).permutation(len(train.labels))[:n]
    x = train.images[order]
    if size != x.shape[-1]:
        k = size // x.shape[-1]
        x = x.repeat(k, axis=2).repeat(k, axis=3)
    x = x.astype(np.float32) / 255.0
    x -= x.mean(axis=(0, 2, 3), keepdims=True)
    x /= x.std(axis=(0, 2, 3), keepdims=True)
    return np.ascontiguousarray(x), train.labels[order].astype(np.int64)


def cpu_seconds() -> float:
    """CPU time of this process's threads and of its live child processes (the engine's
    helper processes, if it starts any), in seconds."""
    total = time.process_time()
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return total
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/children", encoding="ascii") as f:
                children = f.read().split()
        except OSError:
            continue
        for pid in children:
            try:
                with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


# -- workers (each in a fresh process) -----------------------------------------------------
def train_worker(a: argparse.Namespace) -> dict[str, Any]:
    """Training steps of one side for ``a.seconds`` after ``a.warm`` untimed steps:
    images/s, the mean loss over the last pass through the images, and the cores kept
    busy (CPU seconds per second)."""
    from cnnstudio.engine.blas import blas_threads

    net = build_network(a.net)
    x, y = load_photos(net.input_shape[1])
    b = a.batch
    n_batches = len(x) // b
    if a.side == "torch":
        import torch

        torch.set_num_threads(a.threads)
        model = torch_mirror(net).train()
        xs = [torch.from_numpy(x[i * b : (i + 1) * b]) for i in range(n_batches)]
        ys = [torch.from_numpy(y[i * b : (i + 1) * b]) for i in range(n_batches)]
        opt = torch.optim.SGD(
            model.parameters(), lr=LR, momentum=MOMENTUM, nesterov=True, weight_decay=WEIGHT_DECAY
        )
        criterion = torch.nn.CrossEntropyLoss(label_smoothing=LABEL_SMOOTHING)

        def step(i: int) -> Any:
            opt.zero_grad(set_to_none=True)
            loss = criterion(model(xs[i]), ys[i])
            loss.backward()
            opt.step()
            return loss.detach()

        close: Any = None
    else:
        from cnnstudio.engine.losses import loss_for
        from cnnstudio.engine.optimizers import SGD
        from cnnstudio.engine.parallel import DataParallel

        loss_fn = loss_for(net, LABEL_SMOOTHING)
        sgd = SGD(lr=LR, momentum=MOMENTUM, nesterov=True, weight_decay=WEIGHT_DECAY)
        xs = [x[i * b : (i + 1) * b] for i in range(n_batches)]
        ys = [y[i * b : (i + 1) * b] for i in range(n_batches)]
        trainer = DataParallel(net, a.threads) if a.threads > 1 else None
        train_step = net.train_step if trainer is None else trainer.train_step
        close = None if trainer is None else trainer.close

        def step(i: int) -> Any:
            loss, _ = train_step(xs[i], ys[i], loss_fn)
            # All parameters as one flat array, as the app's training loop steps them.
            sgd.step(net.flat_parameters())
            return loss

    # The engine runs BLAS on one thread (DataParallel's threads on one each), PyTorch
    # has its own pool; NumPy is idle on its side.
    with blas_threads(1):
        for i in range(a.warm):
            step(i % n_batches)
        last: collections.deque[float] = collections.deque(maxlen=n_batches)
        steps, cpu0, t0 = 0, cpu_seconds(), time.perf_counter()
        while time.perf_counter() - t0 < a.seconds or steps < a.min_steps:
            last.append(step(steps % n_batches))
            steps += 1
        dt, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    if close is not None:
        close()
    return {
        "images_per_s": steps * b / dt,
        "loss": statistics.fmean(float(v) for v in last),
        "cores": cpu / dt,
        "steps": steps,
    }


def peak_worker(a: argparse.Namespace) -> dict[str, Any]:
    """GFLOP/s of NumPy's float32 GEMM_SIZE-square product on ``a.threads`` BLAS threads:
    of the fastest call (the peak) and the median call."""
    import numpy as np

    from cnnstudio.engine.blas import blas_threads

    rng = np.random.default_rng(0)
    p, q = (rng.standard_normal((GEMM_SIZE, GEMM_SIZE), dtype=np.float32) for _ in range(2))
    out = np.empty_like(p)
    times: list[float] = []
    with blas_threads(a.threads):
        for _ in range(3):
            np.matmul(p, q, out=out)
        t_end = time.perf_counter() + a.seconds
        while time.perf_counter() < t_end or len(times) < 5:
            t0 = time.perf_counter()
            np.matmul(p, q, out=out)
            times.append(time.perf_counter() - t0)
    flop = 2 * GEMM_SIZE**3
    return {
        "peak_gflops": flop / min(times) / 1e9,
        "median_gflops": flop / statistics.median(times) / 1e9,
    }


def memory_worker(a: argparse.Namespace) -> dict[str, Any]:
    """The app's training loop (``engine.training.train``, the photo recipe at batch
    ``a.batch`` on two cores, augmentation and normalisation as ``cnnstudio train``) on
    ``a.images`` random uint8 photos for ``a.steps`` steps: the whole process's peak
    resident memory."""
    import resource

    import numpy as np

    from cnnstudio.data.augment import default_augmentation, make_transform
    from cnnstudio.data.normalize import Normalization
    from cnnstudio.engine.training import TrainConfig, train
    from cnnstudio.model.recipes import PHOTO_RECIPE

    net = build_network("photo")
    before_data = _current_rss_mb()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (a.images, 3, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 10, a.images).astype(np.int64)
    with_data = _current_rss_mb()
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    recipe = {k: v for k, v in PHOTO_RECIPE.items() if k in names}
    config = TrainConfig(
        **{**recipe, "batch_size": a.batch, "epochs": 1, "max_steps": a.steps, "processes": 2}
    )
    transform = make_transform(Normalization.fit(x), default_augmentation(3))
    *_, last = train(net, (x, y), None, config, transform=transform)
    return {
        "max_rss_mb": _peak_rss_mb(),
        "children_max_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "before_data_mb": before_data,
        "with_data_mb": with_data,
        "steps": last.step,
        "images_per_s": last.samples_per_sec,
        "loss": last.loss,
    }


def _peak_rss_mb() -> float:
    """This process's peak resident memory in MB. Linux's ``getrusage`` ru_maxrss starts
    a new program at the peak of the process it was forked from (it survives ``exec``),
    so where /proc says it, the peak of this program's own memory (VmHWM) is read."""
    import resource

    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


WORKERS = {"train": train_worker, "peak": peak_worker, "memory": memory_worker}


def run_worker(mode: str, threads: int = 1, **opts: Any) -> dict[str, Any]:
    """One measurement in a fresh process (so thread pools, allocators and caches do not
    leak between figures)."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        mode,
        "--threads",
        str(threads),
    ]
    for key, value in opts.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    env = dict(os.environ)
    # Thread counts fixed before any library starts its pool (PyTorch's OpenMP pool).
    env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{mode} {threads} thread(s) {opts} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the run -------------------------------------------------------------------------------
def spread(values: list[float], fmt: str = ",.0f") -> str:
    """``median (min-max)``, or the one value."""
    med = format(statistics.median(values), fmt)
    if len(values) == 1:
        return med
    return f"{med} ({format(min(values), fmt)}-{format(max(values), fmt)})"


@dataclasses.dataclass
class Plan:
    repeats: int
    seconds: float
    warm: int
    min_steps: int
    cells: list[tuple[str, int, int]]  # (network, batch, threads)
    peak_seconds: float
    memory_images: int
    memory_steps: int
    busy_batch: int


def make_plan(mode: str, repeats: int | None) -> Plan:
    from cnnstudio.model.recipes import PHOTO_RECIPE

    recipe_batch = int(PHOTO_RECIPE["batch_size"])
    if mode == "smoke":
        cells = [("photo", 64, 1), ("vgg", 64, 2), ("lenet32", 64, 2), ("lenet96", 64, 1)]
        return Plan(repeats or 1, 0.2, 1, 1, cells, 0.2, 2_000, 2, 64)
    cells = [("photo", b, t) for b in PHOTO_BATCHES for t in THREADS]
    cells += [(k, b, t) for k in ("vgg", *(f"lenet{s}" for s in LENET_SIZES))
              for b in OTHER_BATCHES for t in THREADS]  # fmt: skip
    if mode == "quick":
        return Plan(repeats or 1, 1.5, 2, 3, cells, 1.0, MEMORY_IMAGES, MEMORY_STEPS, recipe_batch)
    return Plan(repeats or 3, 3.0, 3, 5, cells, 2.0, MEMORY_IMAGES, MEMORY_STEPS, recipe_batch)


def measure_throughput(plan: Plan, use_torch: bool) -> dict[tuple[str, int, int, str], list[dict]]:
    """Every cell's windows, the two sides taking turns (which goes first alternates), so
    that a change in the machine's load hits both alike."""
    sides = ["engine", "torch"] if use_torch else ["engine"]
    runs: dict[tuple[str, int, int, str], list[dict]] = {}
    for net, b, t in plan.cells:
        for r in range(plan.repeats):
            for side in sides if r % 2 == 0 else sides[::-1]:
                res = run_worker(
                    "train", t, net=net, side=side, batch=b, seconds=plan.seconds,
                    warm=plan.warm, min_steps=plan.min_steps,
                )  # fmt: skip
                runs.setdefault((net, b, t, side), []).append(res)
        line = " ".join(
            f"{side} {statistics.median(r['images_per_s'] for r in runs[(net, b, t, side)]):,.0f}"
            for side in sides
        )
        print(f"{NET_NAMES[net]:32s} B={b:3d} t={t}: {line} images/s", flush=True)
    return runs


def measure_peak(plan: Plan, runs: int) -> dict[int, list[float]]:
    peaks: dict[int, list[float]] = {t: [] for t in THREADS}
    for _ in range(runs):
        for t in THREADS:
            peaks[t].append(run_worker("peak", t, seconds=plan.peak_seconds)["peak_gflops"])
    return peaks


def measure_busy(plan: Plan) -> dict[int, list[dict]]:
    """The photo preset on one thread and with DataParallel(net, 2), taking turns, while
    a process of ours spins on a core at normal priority."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    busy: dict[int, list[dict]] = {t: [] for t in THREADS}
    try:
        time.sleep(0.5)
        for r in range(plan.repeats):
            for t in THREADS if r % 2 == 0 else THREADS[::-1]:
                res = run_worker(
                    "train", t, net="photo", side="engine", batch=plan.busy_batch,
                    seconds=plan.seconds, warm=plan.warm, min_steps=plan.min_steps,
                )  # fmt: skip
                busy[t].append(res)
    finally:
        spinner.kill()
        spinner.wait()
    for t in THREADS:
        print(
            f"busy machine, engine t={t}: {spread([r['images_per_s'] for r in busy[t]])} images/s"
        )
    return busy


def report(
    plan: Plan,
    mode: str,
    runs: dict[tuple[str, int, int, str], list[dict]],
    peaks: dict[int, list[float]],
    busy: dict[int, list[dict]],
    memory: dict[str, Any],
    use_torch: bool,
    load_before: float,
) -> str:
    def rate(net: str, b: int, t: int, side: str) -> list[float]:
        return [r["images_per_s"] for r in runs.get((net, b, t, side), [])]

    def med(key: str, net: str, b: int, t: int, side: str) -> float:
        return statistics.median(r[key] for r in runs[(net, b, t, side)])

    option = "" if mode == "full" else f" --{mode}"
    lines = [
        f"# Photo networks benchmark, {_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; `bench_photo.py{option}`; {plan.repeats} "
        f"window(s) a side per figure, each a fresh process timing {plan.seconds:g} s after "
        f"{plan.warm} untimed steps; load average before: {load_before:.2f}.",
        "",
        "Both sides: SGD with Nesterov momentum 0.9, lr "
        f"{LR}, weight decay {WEIGHT_DECAY}, softmax cross-entropy with label smoothing "
        f"{LABEL_SMOOTHING}, the same initial weights, photos of the built-in CIFAR-10 "
        "sample normalised per channel. Engine 1 thread: `Network.train_step` under "
        "`blas_threads(1)`; 2 threads: `DataParallel(network, 2)`. PyTorch: "
        "`torch.set_num_threads`.",
        "",
        "## Training throughput (images/s; median (min-max) of the windows)",
        "",
        "Ratio: engine / PyTorch of the medians, and the range of each round's ratio. "
        "Cores: CPU seconds per second of the side's process (and its helpers). Loss: the "
        "mean over the last pass through the images (untrained: about 2.30).",
        "",
        "| network | batch | threads | engine | PyTorch | engine / PyTorch "
        "| cores (engine, PyTorch) | loss (engine, PyTorch) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for net, b, t in plan.cells:
        eng = rate(net, b, t, "engine")
        row = f"| {NET_NAMES[net]} | {b} | {t} | {spread(eng)} | "
        if use_torch:
            pt = rate(net, b, t, "torch")
            per_round = [e / p for e, p in zip(eng, pt, strict=True)]
            ratio = f"{statistics.median(eng) / statistics.median(pt):.2f}x"
            if len(per_round) > 1:
                ratio += f" ({min(per_round):.2f}-{max(per_round):.2f})"
            row += (
                f"{spread(pt)} | {ratio} | {med('cores', net, b, t, 'engine'):.2f}, "
                f"{med('cores', net, b, t, 'torch'):.2f} | {med('loss', net, b, t, 'engine'):.3f}, "
                f"{med('loss', net, b, t, 'torch'):.3f} |"
            )
        else:
            row += (
                f"- | - | {med('cores', net, b, t, 'engine'):.2f}, - | "
                f"{med('loss', net, b, t, 'engine'):.3f}, - |"
            )
        lines.append(row)

    nets = {key: build_network(key) for key in {net for net, _, _ in plan.cells}}
    flops = {key: training_flops(n) for key, n in nets.items()}
    photo_flops = flops["photo"]
    lines += [
        "",
        "## Fraction of the fp32 GEMM peak (photo preset)",
        "",
        f"Peak: NumPy's float32 {GEMM_SIZE}x{GEMM_SIZE} product, the fastest call of a "
        f"{plan.peak_seconds:g} s window, median (min-max) of {len(peaks[1])} process(es): "
        + "; ".join(f"{t} thread(s) {spread(peaks[t], ',.1f')} GFLOP/s" for t in THREADS)
        + f". Training FLOPs per image: {photo_flops / 1e6:,.1f} M (3 x 2 x "
        f"{photo_flops // 6:,} multiply-adds of the convolutions and the dense layer).",
        "",
        "| batch | threads | engine GFLOP/s | engine / peak | PyTorch GFLOP/s | PyTorch / peak |",
        "|---|---|---|---|---|---|",
    ]
    for net, b, t in plan.cells:
        if net != "photo":
            continue
        peak = statistics.median(peaks[t])
        cells = []
        for side in ("engine", "torch"):
            if rate(net, b, t, side):
                g = statistics.median(rate(net, b, t, side)) * photo_flops / 1e9
                cells += [f"{g:.1f}", f"{g / peak:.0%}"]
            else:
                cells += ["-", "-"]
        lines.append(f"| {b} | {t} | " + " | ".join(cells) + " |")

    lenets = [k for k in (f"lenet{s}" for s in LENET_SIZES) if k in nets]
    if lenets:
        b_ref = max(b for net, b, _ in plan.cells if net in lenets)

        def us(key: str, side: str) -> float | None:
            values = rate(key, b_ref, 1, side)
            return 1e6 / statistics.median(values) if values else None

        def cost(key: str, side: str) -> str:
            mine, base = us(key, side), us(lenets[0], side)
            if mine is None:
                return "- | -"
            return f"{mine:,.0f} | " + (f"{mine / base:.1f}x" if base else "-")

        lines += [
            "",
            f"## LeNet-5's cost against its input size (batch {b_ref}, 1 thread)",
            "",
            "| input | training MFLOP / image | FLOPs vs 3@32x32 | engine us / image | "
            "vs 3@32x32 | PyTorch us / image | vs 3@32x32 |",
            "|---|---|---|---|---|---|---|",
        ]
        for key in lenets:
            lines.append(
                f"| {NET_NAMES[key].split()[-1]} | {flops[key] / 1e6:,.1f} | "
                f"{flops[key] / flops[lenets[0]]:.1f}x | {cost(key, 'engine')} | "
                f"{cost(key, 'torch')} |"
            )

    lines += [
        "",
        f"## Busy machine (photo preset, batch {plan.busy_batch}, engine)",
        "",
        "Another process spins (`while True: pass`, normal priority) on one of the cores "
        "throughout; the idle figures are the table's above.",
        "",
        "| engine | images/s, busy | cores | images/s, idle |",
        "|---|---|---|---|",
    ]
    for t in THREADS:
        label = "1 thread" if t == 1 else f"DataParallel(network, {t})"
        idle = rate("photo", plan.busy_batch, t, "engine")
        cores = statistics.median(r["cores"] for r in busy[t])
        lines.append(
            f"| {label} | {spread([r['images_per_s'] for r in busy[t]])} | {cores:.2f} | "
            f"{spread(idle) if idle else '-'} |"
        )

    verdict = "under" if memory["max_rss_mb"] < MEMORY_TARGET_MB else "OVER"
    lines += [
        "",
        f"## Memory: the app's training loop, photo preset, {plan.memory_images:,} photos, "
        f"batch {MEMORY_BATCH}",
        "",
        f"`engine.training.train` with the photo recipe (`model/recipes.py`), two cores "
        f"(`processes=2`), augmentation and normalisation as `cnnstudio train`, "
        f"{memory['steps']} steps on random uint8 photos ({memory['images_per_s']:,.0f} "
        f"images/s, loss {memory['loss']:.3f}):",
        "",
        f"- peak resident memory of the whole process: **{memory['max_rss_mb']:,.0f} MB** "
        f"({verdict} the {MEMORY_TARGET_MB} MB target; VmHWM); helper processes' peak: "
        f"{memory['children_max_rss_mb']:,.0f} MB (0: the two cores were threads of this "
        "process);",
        f"- before the photos were made: {memory['before_data_mb']:,.0f} MB (Python, NumPy, "
        f"the engine, the network); with them: {memory['with_data_mb']:,.0f} MB.",
        "",
        f"Load average after: {os.getloadavg()[0]:.2f}. Other processes may have shared the "
        "cores during the run unless the load averages say otherwise.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="1 window a side, 1.5 s each (~4 min)")
    group.add_argument(
        "--smoke", action="store_true", help="every code path for a moment (~30 s); nothing saved"
    )
    parser.add_argument("--repeats", type=int, default=None, help="windows a side per figure")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--net", default="photo", help=argparse.SUPPRESS)
    parser.add_argument("--side", default="engine", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=MEMORY_BATCH, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--warm", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--min-steps", type=int, default=3, help=argparse.SUPPRESS)
    parser.add_argument("--images", type=int, default=MEMORY_IMAGES, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=MEMORY_STEPS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return

    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    plan = make_plan(mode, args.repeats)
    # Not imported here: this process's memory would become its workers' starting peak.
    use_torch = importlib.util.find_spec("torch") is not None and not args.no_torch
    load_before = os.getloadavg()[0]
    # The peak is measured at the start and at the end, so that it sees the run's load.
    half = max(1, plan.repeats // 2) if mode != "smoke" else 1
    peaks = measure_peak(plan, half)
    runs = measure_throughput(plan, use_torch)
    busy = measure_busy(plan)
    memory = run_worker(
        "memory", 2, images=plan.memory_images, steps=plan.memory_steps, batch=MEMORY_BATCH
    )
    print(f"memory: peak RSS {memory['max_rss_mb']:,.0f} MB", flush=True)
    if mode != "smoke":
        for t, more in measure_peak(plan, half).items():
            peaks[t] += more
    text = report(plan, mode, runs, peaks, busy, memory, use_torch, load_before)
    if mode == "smoke":
        print()
        print(text)
        print("(smoke run: not saved)")
    else:
        save_results(text, "photo", "" if mode == "full" else "-quick")


if __name__ == "__main__":
    main()
