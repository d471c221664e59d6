"""Data parallelism over helper processes: each training batch is split between this
process and ``processes - 1`` helper processes, each on one BLAS thread.

Why processes: threads in one process take turns on the GIL between NumPy calls, and
a LeNet-5 step is ~150 short calls, so two threads gained little (benchmarks/README.md).
Two processes run those calls truly at once, as PyTorch's C++ threads do.

Each helper holds its own copy of the network, rebuilt from the architecture dict.
Messages are small JSON objects on a pipe; the arrays travel through shared memory:

- ``params``, one block for all helpers: the main process copies its weights there
  before every training forward pass; the helpers copy them into their network.
- per helper, ``grads``: the helper's parameter gradients after a backward pass,
  summed into the main network's by the main process;
- per helper, ``io``: the input rows, labels, logits and logit gradients of its shard.

main -> helper: ``{"op": "step", "m": rows, "n": batch, "loss": name}`` (forward, the
loss and backward in one message), or for other losses ``{"op": "fwd", "m": rows}``
then ``{"op": "bwd", "m": rows}``;
``{"op": "io", "name": block, "cap": rows}`` (a larger io block), ``{"op": "stop"}``.
helper -> main: ``{"ok": true}`` (with ``"loss"`` after a step) or
``{"ok": false, "error": message}``.

Nothing here unpickles data from a file: the helper receives only its start-up
arguments (the architecture dict and the block names) from its parent process.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import time
from multiprocessing import shared_memory
from typing import Any

import numpy as np

from cnnstudio.engine.errors import EngineError

#: Seconds to wait for a helper to start (import NumPy and the engine, build the net).
START_TIMEOUT = 60.0
#: Seconds to poll a pipe before blocking on it. Waking a process that sleeps in a
#: blocking read took 0.1-0.4 ms on the 2-core VMs we measured, several times a step;
#: a short busy poll first avoids it when the answer comes soon, as it does mid-step.
SPIN_SECONDS = 0.002


def _recv(conn: Any, spin: float = SPIN_SECONDS) -> bytes:
    """``conn.recv_bytes()``, after polling for up to ``spin`` seconds."""
    if not conn.poll(0):
        clock = time.perf_counter
        end = clock() + spin
        while not conn.poll(0):
            if clock() > end:
                break
    data: bytes = conn.recv_bytes()
    return data


class HelperLost(EngineError):
    """A helper process stopped or failed; the step can be redone in this process."""


def _pack(arrays: list[np.ndarray], flat: np.ndarray) -> None:
    """Copy ``arrays`` one after another into ``flat`` (one copy for a flat network)."""
    if len(arrays) == 1:
        np.copyto(flat, arrays[0].reshape(-1))
        return
    at = 0
    for a in arrays:
        flat[at : at + a.size] = a.reshape(-1)
        at += a.size


def _unpack(flat: np.ndarray, arrays: list[np.ndarray], add: bool = False) -> None:
    """Copy (or with ``add``, add) consecutive pieces of ``flat`` into ``arrays``."""
    at = 0
    for a in arrays:
        piece = flat[at : at + a.size].reshape(a.shape)
        if add:
            a += piece
        else:
            np.copyto(a, piece)
        at += a.size


def _flat_view(buf: Any, dtype: np.dtype, total: int) -> np.ndarray:
    return np.ndarray((total,), dtype=dtype, buffer=buf)


def _io_layout(dtype: np.dtype, cap: int, in_shape: tuple[int, ...], k: int) -> list[int]:
    """Byte offsets of the io block's parts: input rows, logits, logit gradients and
    int64 labels (8-byte aligned), and the block's size."""
    x_end = dtype.itemsize * cap * math.prod(in_shape)
    z_end = x_end + dtype.itemsize * cap * k
    dz_end = z_end + dtype.itemsize * cap * k
    y_start = -(-dz_end // 8) * 8
    return [0, x_end, z_end, y_start, y_start + 8 * cap]


def _io_views(
    buf: Any, dtype: np.dtype, cap: int, in_shape: tuple[int, ...], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Input rows ``(cap, *in_shape)``, logits ``(cap, k)``, their gradient, labels."""
    x0, z0, dz0, y0, _ = _io_layout(dtype, cap, in_shape, k)
    x = np.ndarray((cap, *in_shape), dtype=dtype, buffer=buf, offset=x0)
    z = np.ndarray((cap, k), dtype=dtype, buffer=buf, offset=z0)
    dz = np.ndarray((cap, k), dtype=dtype, buffer=buf, offset=dz0)
    y = np.ndarray((cap,), dtype=np.int64, buffer=buf, offset=y0)
    return x, z, dz, y


def _io_bytes(dtype: np.dtype, cap: int, in_shape: tuple[int, ...], k: int) -> int:
    return _io_layout(dtype, cap, in_shape, k)[-1]


def _close_quietly(block: shared_memory.SharedMemory | None, unlink: bool = False) -> None:
    """Unmap (and with ``unlink`` remove) a block; an array still viewing it keeps the
    mapping alive until it goes (Linux frees the memory once nothing maps it)."""
    if block is None:
        return
    try:
        block.close()
    except BufferError:
        pass
    if unlink:
        try:
            block.unlink()
        except FileNotFoundError:
            pass


def _helper_main(conn: Any, arch: dict[str, Any], dtype_name: str, names: dict[str, Any]) -> None:
    """The helper process: build the network, then serve fwd/bwd until told to stop."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the main process's to handle
    from threadpoolctl import threadpool_limits

    from cnnstudio.engine.losses import FUSED_LOSSES
    from cnnstudio.engine.network import Network

    threadpool_limits(limits=1, user_api="blas")
    dtype = np.dtype(dtype_name)
    blocks: list[shared_memory.SharedMemory] = []
    try:
        net = Network.from_architecture(arch)
        if dtype != np.float32:
            net._dtype = dtype.type
            for layer in net.layers:
                for store in (layer.params, layer.grads, layer.state):
                    for key in store:
                        store[key] = store[key].astype(dtype)
        params = [p for _, p, _ in net.flat_parameters()]
        grads = [g for _, _, g in net.flat_parameters()]
        total = sum(p.size for p in params)
        p_shm = shared_memory.SharedMemory(name=names["params"])
        g_shm = shared_memory.SharedMemory(name=names["grads"])
        blocks += [p_shm, g_shm]
        p_flat = _flat_view(p_shm.buf, dtype, total)
        g_flat = _flat_view(g_shm.buf, dtype, total)
        io_shm: shared_memory.SharedMemory | None = None
        x_buf = z_buf = dz_buf = y_buf = np.empty(0)
        conn.send_bytes(json.dumps({"ok": True, "total": total}).encode())
    except Exception as exc:  # reported to the main process, which raises it
        conn.send_bytes(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}).encode())
        return
    in_shape = tuple(net.input_shape)
    k = net.num_classes
    try:
        while True:
            try:
                msg = json.loads(_recv(conn))
            except (EOFError, OSError):
                return  # the main process went away
            op = msg.get("op")
            try:
                if op == "step":  # forward, the loss of this shard, backward
                    m, n = int(msg["m"]), int(msg["n"])
                    loss_fn = FUSED_LOSSES[msg["loss"]][0]
                    _unpack(p_flat, params)
                    with np.errstate(over="ignore", invalid="ignore"):
                        z = net.forward(x_buf[:m], training=True)
                        loss, d = loss_fn(z, y_buf[:m])
                        d *= m / n  # the gradient of the whole batch's mean loss
                        net.backward(d)
                    _pack(grads, g_flat)
                    z_buf[:m] = z
                    conn.send_bytes(json.dumps({"ok": True, "loss": loss}).encode())
                    continue
                if op == "fwd":
                    m = int(msg["m"])
                    _unpack(p_flat, params)
                    with np.errstate(over="ignore", invalid="ignore"):
                        z_buf[:m] = net.forward(x_buf[:m], training=True)
                elif op == "bwd":
                    m = int(msg["m"])
                    with np.errstate(over="ignore", invalid="ignore"):
                        net.backward(dz_buf[:m])
                    _pack(grads, g_flat)
                elif op == "io":
                    x_buf = z_buf = dz_buf = y_buf = np.empty(0)
                    _close_quietly(io_shm)
                    io_shm = shared_memory.SharedMemory(name=msg["name"])
                    views = _io_views(io_shm.buf, dtype, int(msg["cap"]), in_shape, k)
                    x_buf, z_buf, dz_buf, y_buf = views
                elif op == "stop":
                    conn.send_bytes(b'{"ok": true}')
                    return
                else:
                    raise EngineError(f"unknown message {op!r}")
                conn.send_bytes(b'{"ok": true}')
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                conn.send_bytes(json.dumps({"ok": False, "error": error}).encode())
    finally:
        x_buf = z_buf = dz_buf = y_buf = np.empty(0)
        p_flat = g_flat = np.empty(0)
        for block in [io_shm, *blocks]:
            _close_quietly(block)


class _Helper:
    """The main process's end of one helper: its process, pipe and shared blocks."""

    def __init__(self, proc: Any, conn: Any, grads: shared_memory.SharedMemory) -> None:
        self.proc, self.conn, self.grads_shm = proc, conn, grads
        self.io_shm: shared_memory.SharedMemory | None = None
        self.cap = 0
        self.x = self.z = self.dz = self.y = np.empty(0)
        self.g_flat = np.empty(0)
        self.ready = False


class ProcessShards:
    """Helper processes that each run a shard of every training batch of ``network``.

    Used by :class:`~cnnstudio.engine.network.Network` when ``processes > 1``; the
    helpers start at once (in the background) and the first sharded step waits for
    them. :meth:`close` stops them; so does garbage collection or the end of the main
    process (they are daemons and also stop when their pipe closes).
    """

    def __init__(self, network: Any, processes: int) -> None:
        self.n_helpers = processes - 1
        self.dtype = np.dtype(network._dtype)
        self.total = sum(p.size for _, p, _ in network.parameters())
        self.in_shape = tuple(network.input_shape)
        self.k = int(network.num_classes)
        nbytes = max(1, self.total * self.dtype.itemsize)
        self.params_shm = shared_memory.SharedMemory(create=True, size=nbytes)
        self.p_flat = _flat_view(self.params_shm.buf, self.dtype, self.total)
        self.helpers: list[_Helper] = []
        self.closed = False
        ctx = mp.get_context("spawn")  # fork is unsafe in a process with threads (Qt)
        arch = network.to_architecture()
        try:
            for _ in range(self.n_helpers):
                g_shm = shared_memory.SharedMemory(create=True, size=nbytes)
                ours, theirs = ctx.Pipe(duplex=True)
                names = {"params": self.params_shm.name, "grads": g_shm.name}
                proc = ctx.Process(
                    target=_helper_main,
                    args=(theirs, arch, self.dtype.name, names),
                    name="cnnstudio-engine-helper",
                    daemon=True,
                )
                helper = _Helper(proc, ours, g_shm)
                self.helpers.append(helper)
                proc.start()
                theirs.close()  # so a dead helper shows as EOF on our end
                helper.g_flat = _flat_view(g_shm.buf, self.dtype, self.total)
        except Exception:
            self.close()
            raise

    # -- talking to helpers ---------------------------------------------------------------
    def _reply(self, helper: _Helper, timeout: float | None = None) -> dict[str, Any]:
        try:
            if timeout is not None and not helper.conn.poll(timeout):
                raise HelperLost(f"an engine helper process did not start within {timeout:.0f} s")
            msg: dict[str, Any] = json.loads(_recv(helper.conn))
        except (EOFError, OSError) as exc:
            code = helper.proc.exitcode
            raise HelperLost(
                "an engine helper process stopped unexpectedly"
                + (f" (exit code {code})" if code is not None else "")
            ) from exc
        if not msg.get("ok"):
            raise HelperLost(f"an engine helper process failed: {msg.get('error')}")
        return msg

    def _send(self, helper: _Helper, msg: dict[str, Any]) -> None:
        try:
            helper.conn.send_bytes(json.dumps(msg).encode())
        except (OSError, ValueError) as exc:
            raise HelperLost("an engine helper process stopped unexpectedly") from exc

    def _ensure_ready(self) -> None:
        if self.closed:
            raise HelperLost("the engine helper processes were closed")
        for helper in self.helpers:
            if not helper.ready:
                msg = self._reply(helper, START_TIMEOUT)
                if msg.get("total") != self.total:
                    raise HelperLost("an engine helper process built a different network")
                helper.ready = True

    def _ensure_io(self, helper: _Helper, rows: int) -> None:
        if rows <= helper.cap:
            return
        cap = max(rows, 2 * helper.cap)
        block = shared_memory.SharedMemory(
            create=True, size=_io_bytes(self.dtype, cap, self.in_shape, self.k)
        )
        self._send(helper, {"op": "io", "name": block.name, "cap": cap})
        self._reply(helper)
        old = helper.io_shm
        helper.io_shm, helper.cap = block, cap
        views = _io_views(block.buf, self.dtype, cap, self.in_shape, self.k)
        helper.x, helper.z, helper.dz, helper.y = views
        _close_quietly(old, unlink=True)

    # -- a training step ----------------------------------------------------------------
    def start_step(
        self,
        params: list[np.ndarray],
        x: np.ndarray,
        y: np.ndarray,
        bounds: list[tuple[int, int]],
        loss_name: str,
    ) -> None:
        """Hand shards ``bounds[1:]`` of ``(x, y)`` to the helpers for a whole step:
        forward, the loss ``loss_name`` (a key of ``losses.FUSED_LOSSES``), backward."""
        self._send_weights(params)
        n = bounds[-1][1]
        for helper, (a, b) in zip(self.helpers, bounds[1:], strict=True):
            self._ensure_io(helper, b - a)
            np.copyto(helper.x[: b - a], x[a:b], casting="unsafe")
            helper.y[: b - a] = y[a:b]
            self._send(helper, {"op": "step", "m": b - a, "n": n, "loss": loss_name})

    def finish_step(
        self, grads: list[np.ndarray], bounds: list[tuple[int, int]]
    ) -> list[tuple[float, np.ndarray]]:
        """Add the helpers' gradients into ``grads``; their ``(loss, logits)`` per shard."""
        replies = [self._reply(helper) for helper in self.helpers]
        out = []
        for helper, msg, (a, b) in zip(self.helpers, replies, bounds[1:], strict=True):
            _unpack(helper.g_flat, grads, add=True)
            out.append((float(msg["loss"]), helper.z[: b - a]))
        return out

    def _send_weights(self, params: list[np.ndarray]) -> None:
        self._ensure_ready()
        _pack(params, self.p_flat)

    # -- the same in two halves, for losses the helpers do not know --------------------
    def start_forward(
        self, params: list[np.ndarray], x: np.ndarray, bounds: list[tuple[int, int]]
    ) -> None:
        """Hand shards ``bounds[1:]`` of ``x`` to the helpers with the current weights."""
        self._send_weights(params)
        for helper, (a, b) in zip(self.helpers, bounds[1:], strict=True):
            self._ensure_io(helper, b - a)
            np.copyto(helper.x[: b - a], x[a:b], casting="unsafe")
            self._send(helper, {"op": "fwd", "m": b - a})

    def finish_forward(self, bounds: list[tuple[int, int]]) -> list[np.ndarray]:
        """The helpers' logits ``(rows, K)`` for shards ``bounds[1:]``."""
        out = []
        for helper, (a, b) in zip(self.helpers, bounds[1:], strict=True):
            self._reply(helper)
            out.append(helper.z[: b - a])
        return out

    def start_backward(self, dlogits: np.ndarray, bounds: list[tuple[int, int]]) -> None:
        for helper, (a, b) in zip(self.helpers, bounds[1:], strict=True):
            np.copyto(helper.dz[: b - a], dlogits[a:b], casting="unsafe")
            self._send(helper, {"op": "bwd", "m": b - a})

    def finish_backward(self, grads: list[np.ndarray]) -> None:
        """Add every helper's parameter gradients into ``grads``."""
        for helper in self.helpers:
            self._reply(helper)
        for helper in self.helpers:
            _unpack(helper.g_flat, grads, add=True)

    # -- shutting down ---------------------------------------------------------------------
    def close(self) -> None:
        """Stop the helpers and free the shared memory (safe to call twice)."""
        if self.closed:
            return
        self.closed = True
        for helper in self.helpers:
            try:
                if helper.proc.is_alive():
                    helper.conn.send_bytes(b'{"op": "stop"}')
            except (OSError, ValueError):
                pass
        for helper in self.helpers:
            helper.proc.join(timeout=2.0)
            if helper.proc.is_alive():
                helper.proc.terminate()
                helper.proc.join(timeout=2.0)
            helper.conn.close()
            helper.x = helper.z = helper.dz = helper.y = np.empty(0)
            helper.g_flat = np.empty(0)
            _close_quietly(helper.io_shm, unlink=True)
            _close_quietly(helper.grads_shm, unlink=True)
        self.p_flat = np.empty(0)
        _close_quietly(self.params_shm, unlink=True)

    @property
    def alive(self) -> bool:
        return not self.closed and all(h.proc.is_alive() for h in self.helpers)
