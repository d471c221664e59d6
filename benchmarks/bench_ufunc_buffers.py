"""How NumPy's ufunc buffer size changes the engine's strided kernels and a LeNet step.

Usage::

    python benchmarks/bench_ufunc_buffers.py          # kernels and whole steps, ~3 min
    python benchmarks/bench_ufunc_buffers.py --quick  # fewer rounds, ~1 min

NumPy copies a ufunc's strided operands through buffers of ``np.getbufsize()``
elements. The engine runs col2im's slice-adds with ``kernels.SLICE_ADD_BUFSIZE`` and its
pooling with ``kernels.POOL_BUFSIZE`` (see ``benchmarks/README.md``, "NumPy's ufunc
buffers"). This script times each kernel at several buffer sizes, then whole training
steps with the engine's sizes against NumPy's default, in alternating rounds in one
process (the only comparison that holds still on a busy host). One BLAS thread.
The table is printed and saved to ``benchmarks/results/ufunc-buffers-<date>.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

SIZES = (8192, 2048, 256)
BATCHES = (16, 32, 64, 128)


def _per_call_us(fn, calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls * 1e6


def kernel_cases(n: int):
    """LeNet's strided kernels at ``n`` images: (name, function) pairs."""
    import numpy as np

    from cnnstudio.engine import kernels

    rng = np.random.default_rng(0)
    dcols = rng.standard_normal((150, 100 * n)).astype(np.float32)
    fold = kernels.Col2Im(dcols, np.empty((6, 14, 14, n), np.float32), 5, 5, 1, 1, 10, 10)
    xp = np.maximum(rng.standard_normal((6, 28, 28, n)).astype(np.float32), 0)
    pooled = kernels.maxpool_forward(xp, 2, 2, 2, 2, 14, 14)
    back = kernels.MaxPoolBackward(xp, pooled, np.empty_like(xp), 2, 2, 2, 2)
    dout = rng.standard_normal(pooled.shape).astype(np.float32)
    out = np.empty_like(pooled)

    def pool() -> None:
        kernels.maxpool_forward(xp, 2, 2, 2, 2, 14, 14, out=out)

    return [
        ("col2im, conv2", fold),
        ("max-pool forward, pool1", pool),
        ("max-pool backward, pool1", lambda: back(dout)),
    ]


def time_kernels(rounds: int) -> list[str]:
    """Each kernel at each buffer size (set through the kernels' own constants)."""
    from cnnstudio.engine import kernels

    tuned = (kernels.SLICE_ADD_BUFSIZE, kernels.POOL_BUFSIZE)
    lines = ["| kernel | images | " + " | ".join(f"{s:,}" for s in SIZES) + " |"]
    lines.append("|---|---|" + "---|" * len(SIZES))
    for n in BATCHES:
        for name, fn in kernel_cases(n):
            times: dict[int, list[float]] = {s: [] for s in SIZES}
            calls = max(5, 2000 // n)
            for _ in range(rounds):
                for size in SIZES:
                    # The kernels set their own size; make it this one for the timing.
                    kernels.SLICE_ADD_BUFSIZE = kernels.POOL_BUFSIZE = size
                    times[size].append(_per_call_us(fn, calls))
            kernels.SLICE_ADD_BUFSIZE, kernels.POOL_BUFSIZE = tuned
            cells = " | ".join(f"{statistics.median(times[s]):,.0f} us" for s in SIZES)
            lines.append(f"| {name} | {n} | {cells} |")
            print(lines[-1], flush=True)
    return lines


@contextlib.contextmanager
def _sizes(slice_add: int, pool: int):
    """The kernels' buffer sizes set to these inside the block, restored after."""
    from cnnstudio.engine import kernels

    tuned = (kernels.SLICE_ADD_BUFSIZE, kernels.POOL_BUFSIZE)
    kernels.SLICE_ADD_BUFSIZE, kernels.POOL_BUFSIZE = slice_add, pool
    try:
        yield
    finally:
        kernels.SLICE_ADD_BUFSIZE, kernels.POOL_BUFSIZE = tuned


def time_steps(rounds: int) -> list[str]:
    """Whole LeNet training steps: the engine's buffer sizes against NumPy's default."""
    import bench_engine as be

    from cnnstudio.engine import kernels

    tuned = (kernels.SLICE_ADD_BUFSIZE, kernels.POOL_BUFSIZE)
    plans = {"default": lambda: _sizes(8192, 8192), "engine": lambda: _sizes(*tuned)}
    lines = ["| batch | default 8,192 | engine's sizes | speed-up |", "|---|---|---|---|"]
    for b in BATCHES:
        t = be.alternating_steps(b, plans, rounds, steps=max(10, 1280 // b))
        d, e = t["default"], t["engine"]
        lines.append(f"| {b} | {d:,.0f} us | {e:,.0f} us | {d / e:.3f}x |")
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 7 and 10")
    args = parser.parse_args()
    import numpy  # noqa: F401  (threadpoolctl limits only the libraries already loaded)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        text = [
            f"# NumPy ufunc buffer sizes, {_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M} UTC",
            "",
            "## Kernels (median per call)",
            "",
            *time_kernels(3 if args.quick else 7),
            "",
            "## Whole LeNet training steps (median per step)",
            "",
            *time_steps(3 if args.quick else 10),
            "",
        ]
    import bench_engine

    bench_engine.save_results("\n".join(text), "ufunc-buffers")


if __name__ == "__main__":
    main()
