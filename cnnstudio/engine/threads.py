"""``ThreadShards``: a network's training steps shared between threads of this process,
with BatchNorm's statistics those of the whole batch.

``engine.parallel.DataParallel`` shares steps between processes, which a network with
BatchNorm cannot use: each process would normalise its shard by the shard's own
statistics. Threads share one address space, so the shards' per-channel sums can be
added mid-step: each thread runs its own ``fused.Plan`` (its own buffers, the same
layers and weights) on its shard, and every BatchNorm hands its sums to an
``_Exchange`` that waits for the other threads' and returns the total
(``norm_kernels``' ``sums_hook``). The forward and backward passes of the shards thus
compute exactly the numbers of one pass over the whole batch, up to the order in which
floats are added. Only the first thread updates the running statistics.

Threads take turns on the GIL between NumPy calls; for photo networks the calls are
long (convolutions over a hundred images) and NumPy and BLAS release the GIL while they
compute, so two threads keep two cores busy. Each thread keeps BLAS at one thread.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.fused import Plan
from cnnstudio.engine.layers import BatchNorm, Dropout

__all__ = ["ThreadShards", "thread_shareable"]

#: Seconds a thread waits for the others at a BatchNorm before the step is given up (a
#: thread that failed aborts the wait at once; this only bounds a hang).
SYNC_TIMEOUT = 120.0
#: Fewest images a thread takes: smaller batches train on this thread alone.
MIN_SHARD = 8


def thread_shareable(network: Any) -> bool:
    """Whether ``network``'s steps can be shared between threads with the same results:
    fast tier, float32, without Dropout (whose masks come from one generator per layer,
    drawn in an order threads would make unpredictable)."""
    return (
        getattr(network, "kernels", "") == "fast"
        and not any(isinstance(layer, Dropout) for layer in network.layers)
        and all(p.dtype == np.float32 for _, p, _ in network.parameters())
    )


class _Exchange:
    """Per-channel sums of every thread's shard, added up: ``total(k, sums)``."""

    def __init__(self, barrier: threading.Barrier, parts: int) -> None:
        self.barrier = barrier
        self.slots: list[Any] = [None] * parts

    def total(self, k: int, sums: np.ndarray) -> np.ndarray:
        self.slots[k] = sums
        self.barrier.wait()
        # Every thread adds the slots in the same order, so all get the same numbers.
        out = np.array(self.slots[0], dtype=np.float64, copy=True)
        for part in self.slots[1:]:
            out += part
        self.barrier.wait()  # nobody overwrites a slot before everyone has read them
        return out


class _Worker(threading.Thread):
    """A thread that runs one function at a time for ``ThreadShards``."""

    def __init__(self) -> None:
        super().__init__(name="cnnstudio-shard", daemon=True)
        self.job: Callable[[], Any] | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.go = threading.Event()
        self.done = threading.Event()
        self.stop = False

    def run(self) -> None:
        while True:
            self.go.wait()
            self.go.clear()
            if self.stop:
                return
            job, self.job = self.job, None
            try:
                self.result = job() if job is not None else None
            except BaseException as exc:  # handed to the caller, which raises it
                self.error = exc
            self.done.set()

    def submit(self, job: Callable[[], Any]) -> None:
        self.job, self.result, self.error = job, None, None
        self.done.clear()
        self.go.set()


class ThreadShards:
    """Training steps of ``network`` shared between this thread and ``threads - 1`` more.

    ``train_step(x, y, loss_fn)`` is ``Network.train_step`` (forward, the loss, backward,
    every layer's ``grads`` filled) with the batch split in near-equal shards, one per
    thread. The other threads' gradients go into arrays of their own and are added into
    the network's at the end of the step.
    """

    def __init__(self, network: Any, threads: int) -> None:
        if not thread_shareable(network):
            raise EngineError("this network's training steps cannot be shared between threads")
        self.network = network
        self.threads = threads
        self.plans: list[Plan] = [network._fast]
        self.grads: list[dict[str, dict[str, np.ndarray]]] = [
            {nid: layer.grads for nid, layer in network.nodes.items()}
        ]
        for _ in range(threads - 1):
            self.plans.append(Plan(network.nodes, network.inputs, network.logits_id))
            self.grads.append(
                {
                    nid: {k: np.zeros_like(g) for k, g in layer.grads.items()}
                    for nid, layer in network.nodes.items()
                }
            )
        self.barrier = threading.Barrier(threads, timeout=SYNC_TIMEOUT)
        for nid, layer in network.nodes.items():
            if isinstance(layer, BatchNorm):
                ex = _Exchange(self.barrier, threads)
                for k, plan in enumerate(self.plans):
                    ctx = plan.train_ctx[nid]
                    ctx["sums_hook"] = lambda sums, k=k, ex=ex: ex.total(k, sums)
                    ctx["leader"] = k == 0
        self.workers = [_Worker() for _ in range(threads - 1)]
        for w in self.workers:
            w.start()

    def split(self, n: int) -> list[tuple[int, int]]:
        """Near-equal ``(start, stop)`` shards of a batch of ``n``."""
        edges = np.linspace(0, n, self.threads + 1).round().astype(int)
        return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]

    def _shard(self, k: int, x: np.ndarray, y: np.ndarray, share: float, loss_fn: Any) -> Any:
        net, plan = self.network, self.plans[k]
        try:
            logits = np.ascontiguousarray(plan.forward(net._prepare(x), True).T)
            loss, dlogits = loss_fn(logits, y)
            d = np.ascontiguousarray((np.asarray(dlogits) * share).T, dtype=logits.dtype)
            plan.backward(d, self.grads[k])
        except BaseException:
            self.barrier.abort()  # the other threads stop waiting for this one
            raise
        return float(loss) * share, logits

    def train_step(self, x: Any, y: Any, loss_fn: Any) -> tuple[float, np.ndarray]:
        x, y = np.asarray(x), np.asarray(y)
        n = x.shape[0]
        self.network.check_batch(x)
        if n < MIN_SHARD * self.threads:
            return self._alone(x, y, loss_fn)
        bounds = self.split(n)
        for k, (w, (a, b)) in enumerate(zip(self.workers, bounds[1:], strict=True), start=1):
            share = (b - a) / n
            w.submit(functools.partial(self._shard, k, x[a:b], y[a:b], share, loss_fn))
        a, b = bounds[0]
        error: BaseException | None = None
        try:
            first = self._shard(0, x[a:b], y[a:b], (b - a) / n, loss_fn)
        except BaseException as exc:
            error, first = exc, None
        for w in self.workers:
            w.done.wait()
        self.barrier.reset()  # usable again after an abort
        errors = [e for e in [error, *(w.error for w in self.workers)] if e is not None]
        # The thread that failed first raised its own error; the others saw the broken
        # barrier. Raise the real one.
        real = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
        if errors:
            raise (real or errors)[0]
        assert first is not None
        parts = [first, *(w.result for w in self.workers)]
        for own in self.grads[1:]:
            for nid, layer in self.network.nodes.items():
                for key, g in layer.grads.items():
                    g += own[nid][key]
        self.network._batch = n
        loss = sum(p[0] for p in parts)
        return loss, np.concatenate([p[1] for p in parts], axis=0)

    def _alone(self, x: np.ndarray, y: np.ndarray, loss_fn: Any) -> tuple[float, np.ndarray]:
        """A batch too small to share (the last of an epoch, say), on this thread: its
        BatchNorms then use their own statistics, waiting for no other thread."""
        ctxs = [ctx for ctx in self.plans[0].train_ctx.values() if "sums_hook" in ctx]
        hooks = [ctx.pop("sums_hook") for ctx in ctxs]
        try:
            return self.network.train_step(x, y, loss_fn)
        finally:
            for ctx, hook in zip(ctxs, hooks, strict=True):
                ctx["sums_hook"] = hook

    def close(self) -> None:
        """Stop the worker threads, and let the network's own plan train alone again."""
        for ctx in self.plans[0].train_ctx.values():
            ctx.pop("sums_hook", None)
            ctx.pop("leader", None)
        for w in self.workers:
            w.stop = True
            w.go.set()
        for w in self.workers:
            w.join(timeout=5)
        self.workers = []
