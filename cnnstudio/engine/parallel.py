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

Per step, the main process writes the command (step, or forward then backward for
other losses; the shard's rows) into a small control block and rings a "doorbell", a
sequence number in the same block; the helper answers by setting its own sequence
number. Both sides poll the block for a few milliseconds before they sleep: a pipe
message cost ~55 us to send and ~100 us to arrive here, several times a step, where
the doorbell takes ~1-4 us. This relies on x86's ordered stores (the data is written
before the sequence number and seen in that order); elsewhere every command also goes
through the pipe, whose system calls order memory. The pipe also carries the rare
messages (start-up, a larger io block, errors, stop), and closes when either side dies.

Nothing here unpickles data from a file: the helper receives only its start-up
arguments (the architecture dict and the block names) from its parent process.
"""

from __future__ import annotations

import itertools
import json
import math
import multiprocessing as mp
import platform
import time
from multiprocessing import shared_memory
from typing import Any

import numpy as np

from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.losses import FUSED_LOSSES

#: Seconds to wait for a helper to start (import NumPy and the engine, build the net).
START_TIMEOUT = 60.0
#: Seconds to poll before sleeping while waiting for the other side. Waking a sleeping
#: process took 0.1-0.4 ms on the 2-core VMs we measured, several times a step; a short
#: busy poll avoids it when the answer comes soon, as it does mid-step.
SPIN_SECONDS = 0.005
#: Doorbell polling needs stores seen in program order (x86's memory model).
DOORBELL = platform.machine().lower() in {
    "x86_64",
    "amd64",
    "i386",
    "i686",
    "x86",
}

# The control block: int64 slots, then the helper's loss (float64) at byte 64. NAPPING is
# 1 while the helper sleeps in the pipe's poll instead of polling the block.
CMD_SEQ, OP, ROWS, BATCH, LOSS, DONE_SEQ, STATUS, NAPPING = range(8)
CTRL_BYTES = 128
OP_STEP, OP_FWD, OP_BWD = 1, 2, 3


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


def _add_into(flat: np.ndarray, arrays: list[np.ndarray]) -> None:
    """Add consecutive pieces of ``flat`` into ``arrays`` (the inverse of ``_pack``)."""
    at = 0
    for a in arrays:
        a += flat[at : at + a.size].reshape(a.shape)
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


def _ctrl_views(buf: Any) -> tuple[np.ndarray, np.ndarray]:
    return np.ndarray((8,), np.int64, buf), np.ndarray((1,), np.float64, buf, 64)


def _wait_command(conn: Any, ctrl: np.ndarray, seen: int) -> dict[str, Any] | None:
    """Wait for the doorbell (returns ``None``) or a pipe message (returns it).

    Polls the block, and the pipe every millisecond, for ``SPIN_SECONDS``; then sleeps
    in the pipe's poll for growing spells (up to 20 ms), checking the doorbell between
    them, so an idle helper (a paused run) costs next to nothing. While it sleeps it
    sets ``NAPPING``, and the main process sends a "wake" message with its command:
    otherwise a step that comes after a long gap (the main process delayed by another
    program, or a slow step) would wait out the rest of the nap.
    """
    clock = time.perf_counter
    start = clock()
    next_pipe = start + 0.001
    nap = 0.0
    while True:
        if ctrl[CMD_SEQ] != seen:
            ctrl[NAPPING] = 0
            return None
        now = clock()
        if now >= next_pipe:
            if nap and not ctrl[NAPPING]:
                ctrl[NAPPING] = 1  # then look at the doorbell once more before sleeping
                continue
            if conn.poll(nap):
                msg: dict[str, Any] = json.loads(conn.recv_bytes())
                if msg.get("op") == "wake":
                    continue  # the doorbell has rung (or a stale wake: harmless)
                ctrl[NAPPING] = 0
                return msg
            next_pipe = clock() + 0.001
            if now - start > SPIN_SECONDS:
                nap = min(max(2 * nap, 1e-4), 0.02)


def _helper_main(conn: Any, arch: dict[str, Any], names: dict[str, Any], doorbell: bool) -> None:
    """The helper process: build the network, then run commands until told to stop."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the main process's to handle
    from threadpoolctl import threadpool_limits

    from cnnstudio.engine.network import Network

    threadpool_limits(limits=1, user_api="blas")
    dtype = np.dtype(np.float32)
    blocks: list[shared_memory.SharedMemory] = []
    io_shm: shared_memory.SharedMemory | None = None
    try:
        net = Network.from_architecture(arch)
        total = sum(p.size for _, p, _ in net.parameters())
        blocks = [
            shared_memory.SharedMemory(name=names[key]) for key in ("params", "grads", "ctrl")
        ]
        p_flat = _flat_view(blocks[0].buf, dtype, total)
        g_flat = _flat_view(blocks[1].buf, dtype, total)
        # The helper's own parameters and gradients live in the shared blocks: the weights
        # the main process writes before each command are used as they are, and the
        # gradients are read where they were written.
        net._make_flat((p_flat, g_flat))
        ctrl, result = _ctrl_views(blocks[2].buf)
        x_buf = z_buf = dz_buf = y_buf = np.empty(0)
        loss_fns = [fn for fn, _ in FUSED_LOSSES.values()]
        conn.send_bytes(json.dumps({"ok": True, "total": total}).encode())
    except Exception as exc:  # reported to the main process, which raises it
        conn.send_bytes(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}).encode())
        for block in blocks:
            _close_quietly(block)
        return
    in_shape = tuple(net.input_shape)
    k = net.num_classes
    seen = int(ctrl[CMD_SEQ])

    def run_command() -> None:
        op, m, n = int(ctrl[OP]), int(ctrl[ROWS]), int(ctrl[BATCH])
        with np.errstate(over="ignore", invalid="ignore"):
            if op == OP_STEP:  # forward, this shard's loss, backward
                z = net.forward(x_buf[:m], training=True)
                loss, d = loss_fns[int(ctrl[LOSS])](z, y_buf[:m])
                d *= m / n  # the gradient of the whole batch's mean loss
                net.backward(d)
                z_buf[:m] = z
                result[0] = loss
            elif op == OP_FWD:
                z_buf[:m] = net.forward(x_buf[:m], training=True)
            elif op == OP_BWD:
                net.backward(dz_buf[:m])
            else:
                raise EngineError(f"unknown command {op}")

    try:
        while True:
            try:
                msg = _wait_command(conn, ctrl, seen) if doorbell else json.loads(_recv(conn))
            except (EOFError, OSError):
                return  # the main process went away
            if msg is None or msg.get("op") == "cmd":
                seen = int(ctrl[CMD_SEQ])
                try:
                    run_command()
                    ctrl[STATUS] = 0
                    reply = b'{"ok": true}'
                except Exception as exc:
                    ctrl[STATUS] = 1
                    error = f"{type(exc).__name__}: {exc}"
                    reply = json.dumps({"ok": False, "error": error}).encode()
                if not doorbell or ctrl[STATUS]:
                    conn.send_bytes(reply)  # with the doorbell, only errors use the pipe
                ctrl[DONE_SEQ] = seen
                continue
            op = msg.get("op")
            try:
                if op == "io":
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
        p_flat = g_flat = ctrl = result = np.empty(0)
        _close_quietly(io_shm)
        for block in blocks:
            _close_quietly(block)


class _Helper:
    """The main process's end of one helper: its process, pipe and shared blocks."""

    def __init__(
        self,
        proc: Any,
        conn: Any,
        grads: shared_memory.SharedMemory,
        ctrl: shared_memory.SharedMemory,
    ) -> None:
        self.proc, self.conn, self.grads_shm, self.ctrl_shm = proc, conn, grads, ctrl
        self.ctrl, self.result = _ctrl_views(ctrl.buf)
        self.seq = 0
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
        self.dtype = np.dtype(np.float32)
        self.total = sum(p.size for _, p, _ in network.parameters())
        self.in_shape = tuple(network.input_shape)
        self.k = int(network.num_classes)
        nbytes = max(1, self.total * self.dtype.itemsize)
        self.params_shm = shared_memory.SharedMemory(create=True, size=nbytes)
        self.p_flat = _flat_view(self.params_shm.buf, self.dtype, self.total)
        self.helpers: list[_Helper] = []
        self.closed = False
        self.doorbell = DOORBELL
        self._bounds: dict[int, list[tuple[int, int]]] = {}
        self._loss_ids = {name: i for i, name in enumerate(FUSED_LOSSES)}
        ctx = mp.get_context("spawn")  # fork is unsafe in a process with threads (Qt)
        arch = network.to_architecture()
        try:
            for _ in range(self.n_helpers):
                g_shm = shared_memory.SharedMemory(create=True, size=nbytes)
                c_shm = shared_memory.SharedMemory(create=True, size=CTRL_BYTES)
                ours, theirs = ctx.Pipe(duplex=True)
                names = {"params": self.params_shm.name, "grads": g_shm.name, "ctrl": c_shm.name}
                proc = ctx.Process(
                    target=_helper_main,
                    args=(theirs, arch, names, self.doorbell),
                    name="cnnstudio-engine-helper",
                    daemon=True,
                )
                helper = _Helper(proc, ours, g_shm, c_shm)
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

    def _command(self, helper: _Helper, op: int, rows: int, batch: int, loss: int = 0) -> None:
        """Ring ``helper``'s doorbell with a command (through the pipe without one)."""
        ctrl = helper.ctrl
        ctrl[OP], ctrl[ROWS], ctrl[BATCH], ctrl[LOSS] = op, rows, batch, loss
        helper.seq += 1
        ctrl[CMD_SEQ] = helper.seq  # last: the helper reads the rest once it sees this
        if not self.doorbell:
            self._send(helper, {"op": "cmd"})
        elif ctrl[NAPPING]:
            # Asleep in the pipe's poll: wake it rather than wait out its nap. (If the
            # flag and the doorbell cross unseen, the helper still sees the doorbell
            # when its nap ends, at most 20 ms later.)
            self._send(helper, {"op": "wake"})

    def _done(self, helper: _Helper) -> None:
        """Wait until ``helper`` finished its command; ``HelperLost`` if it failed or died."""
        if not self.doorbell:
            self._reply(helper)
            return
        ctrl, seq = helper.ctrl, helper.seq
        clock = time.perf_counter
        start = clock()
        check = start + 0.01
        while ctrl[DONE_SEQ] != seq:
            now = clock()
            if now >= check:
                if not helper.proc.is_alive():
                    code = helper.proc.exitcode
                    raise HelperLost(
                        f"an engine helper process stopped unexpectedly (exit code {code})"
                    )
                check = now + 0.01
            if now - start > SPIN_SECONDS:
                time.sleep(0.0002)
        if ctrl[STATUS]:
            self._reply(helper)  # the error message comes through the pipe; raises

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

    def split(self, n: int) -> list[tuple[int, int]]:
        """Near-equal row ranges of a batch of ``n``: this process's first (the smaller
        one when ``n`` does not divide: it also does the step's serial work)."""
        bounds = self._bounds.get(n)
        if bounds is None:
            parts = len(self.helpers) + 1
            cuts = [n * i // parts for i in range(parts + 1)]
            bounds = self._bounds[n] = list(itertools.pairwise(cuts))
        return bounds

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
            self._command(helper, OP_STEP, b - a, n, self._loss_ids[loss_name])

    def finish_step(
        self, grads: list[np.ndarray], bounds: list[tuple[int, int]]
    ) -> list[tuple[float, np.ndarray]]:
        """Add the helpers' gradients into ``grads``; their ``(loss, logits)`` per shard."""
        for helper in self.helpers:
            self._done(helper)
        out = []
        for helper, (a, b) in zip(self.helpers, bounds[1:], strict=True):
            _add_into(helper.g_flat, grads)
            out.append((float(helper.result[0]), helper.z[: b - a]))
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
            self._command(helper, OP_FWD, b - a, bounds[-1][1])

    def finish_forward(self, bounds: list[tuple[int, int]]) -> list[np.ndarray]:
        """The helpers' logits ``(rows, K)`` for shards ``bounds[1:]``."""
        out = []
        for helper, (a, b) in zip(self.helpers, bounds[1:], strict=True):
            self._done(helper)
            out.append(helper.z[: b - a])
        return out

    def start_backward(self, dlogits: np.ndarray, bounds: list[tuple[int, int]]) -> None:
        for helper, (a, b) in zip(self.helpers, bounds[1:], strict=True):
            np.copyto(helper.dz[: b - a], dlogits[a:b], casting="unsafe")
            self._command(helper, OP_BWD, b - a, len(dlogits))

    def finish_backward(self, grads: list[np.ndarray]) -> None:
        """Add every helper's parameter gradients into ``grads``."""
        for helper in self.helpers:
            self._done(helper)
        for helper in self.helpers:
            _add_into(helper.g_flat, grads)

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
            if helper.proc.pid is not None:  # started
                helper.proc.join(timeout=2.0)
            if helper.proc.is_alive():
                helper.proc.terminate()
                helper.proc.join(timeout=2.0)
            helper.conn.close()
            helper.x = helper.z = helper.dz = helper.y = np.empty(0)
            helper.g_flat = helper.ctrl = helper.result = np.empty(0)
            _close_quietly(helper.io_shm, unlink=True)
            _close_quietly(helper.grads_shm, unlink=True)
            _close_quietly(helper.ctrl_shm, unlink=True)
        self.p_flat = np.empty(0)
        _close_quietly(self.params_shm, unlink=True)
