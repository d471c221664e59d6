"""Keeping a convolution's whole unfolded input, against unfolding it again by blocks.

Usage::

    python benchmarks/bench_unfolding.py          # ~2 min
    python benchmarks/bench_unfolding.py --quick  # fewer rounds, ~1 min

A training batch whose convolution product runs in more than one block (about
``kernels.CONV_BLOCK`` columns each) keeps only one block of the unfolded input; the
backward pass unfolds each block again for the weight gradient
(``kernels.weight_grad_unfolding``; see ``benchmarks/README.md``, "Unfolding twice").
Inference keeps one block at any batch size. This script compares, in alternating rounds
in one process (the only comparison that holds still on a busy host), on one BLAS
thread:

- whole LeNet training steps, unfolding again against keeping the whole matrix;
- batched inference, one block against a whole unfolded matrix kept from call to call;
- the tracemalloc peak of 10 training steps at batch 128.

The tables are printed and saved to ``benchmarks/results/unfolding-<date>.md``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

TRAIN_BATCHES = (16, 32, 64, 128)
INFER_BATCHES = (64, 256, 1000)


class _Plan:
    """``with _Plan("keep"):`` makes the convolutions keep whole unfolded inputs, as before
    (``conv_forward`` gets a whole-width array kept per shape, so training keeps it for
    the weight gradient); ``_Plan("blocks")`` leaves the engine as it is."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.saved: tuple = ()

    def __enter__(self) -> None:
        from cnnstudio.engine import kernels

        self.saved = (kernels.conv_forward,)
        if self.mode == "keep":
            orig = kernels.conv_forward
            whole: dict = {}

            def conv_forward(xp, wmat, kh, kw, sh, sw, oh, ow, cols=None, out=None):
                shape = (cols.shape[0], oh * ow * xp.shape[-1])
                if cols.shape != shape:
                    cols = whole.get(shape)
                    if cols is None:
                        cols = whole[shape] = kernels.np.empty(shape, xp.dtype)
                return orig(xp, wmat, kh, kw, sh, sw, oh, ow, cols, out)

            kernels.conv_forward = conv_forward

    def __exit__(self, *exc: object) -> None:
        from cnnstudio.engine import kernels

        (kernels.conv_forward,) = self.saved


def time_steps(rounds: int) -> list[str]:
    import bench_engine as be

    plans = {"keep": lambda: _Plan("keep"), "blocks": lambda: _Plan("blocks")}
    lines = ["| batch | keep the whole unfolding | unfold again by blocks | speed-up |"]
    lines.append("|---|---|---|---|")
    for b in TRAIN_BATCHES:
        # 3 untimed steps a turn: the other plan's buffers leave the cache.
        t = be.alternating_steps(b, plans, rounds, steps=max(8, 480 // b), warm=3, first=0)
        k, u = t["keep"], t["blocks"]
        lines.append(f"| {b} | {k:,.0f} us | {u:,.0f} us | {k / u:.3f}x |")
        print(lines[-1], flush=True)
    return lines


def time_inference(rounds: int) -> list[str]:
    import bench_engine as be

    x, _ = be.load_images()
    net = be.numpy_lenet()
    lines = ["| images | whole unfolding | one block | speed-up |", "|---|---|---|---|"]
    for b in INFER_BATCHES:
        times: dict[str, list[float]] = {"keep": [], "blocks": []}
        for _ in range(rounds):
            for mode in ("keep", "blocks"):
                with _Plan(mode):
                    net.forward(x[:b])
                    t0 = time.perf_counter()
                    for _ in range(3):
                        net.forward(x[:b])
                    times[mode].append((time.perf_counter() - t0) / 3 / b * 1e6)
        k, u = statistics.median(times["keep"]), statistics.median(times["blocks"])
        lines.append(f"| {b} | {k:.1f} us/image | {u:.1f} us/image | {k / u:.2f}x |")
        print(lines[-1], flush=True)
    return lines


def peak_memory() -> list[str]:
    import bench_engine as be

    x, y = be.load_images()
    lines = ["| plan | tracemalloc peak, 10 steps at batch 128 |", "|---|---|"]
    for mode in ("keep", "blocks"):
        with _Plan(mode):
            net = be.numpy_lenet()
            step = be.numpy_train_step_factory(net)
            tracemalloc.start()
            for i in range(10):
                step(x[i * 128 : (i + 1) * 128], y[i * 128 : (i + 1) * 128])
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        name = "keep the whole unfolding" if mode == "keep" else "unfold again by blocks"
        lines.append(f"| {name} | {peak / 2**20:.1f} MB |")
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 rounds instead of 30")
    args = parser.parse_args()
    import numpy  # noqa: F401  (threadpoolctl limits only the libraries already loaded)
    from threadpoolctl import threadpool_limits

    rounds = 10 if args.quick else 30
    with threadpool_limits(limits=1, user_api="blas"):
        text = [
            f"# Unfolding again by blocks, {_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M} UTC",
            "",
            "## Whole LeNet training steps (median per step)",
            "",
            *time_steps(rounds),
            "",
            "## Batched inference (median per image)",
            "",
            *time_inference(rounds),
            "",
            "## Memory",
            "",
            *peak_memory(),
            "",
        ]
    import bench_engine

    bench_engine.save_results("\n".join(text), "unfolding")


if __name__ == "__main__":
    main()
