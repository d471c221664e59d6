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

Shared memory under POSIX has a name (a file in /dev/shm on Linux) that outlives every
process until it is removed, so a killed process group (the terminal closed, kill -9)
would leave its blocks until reboot; Python's resource tracker, which would remove them,
dies with the group. So each block's name is removed as soon as the block exists, and
the helpers map it through its file descriptor: inherited when they are spawned, sent
over the pipe (a Unix socket) for an io block made later. The memory goes when the last
process that maps it ends, however it ends. (Windows frees a block with its last handle
and has nothing to remove: there the helpers open blocks by name.)

Ctrl+C reaches every process of the terminal's process group. It is the main process's
to handle: the helpers start with SIGINT blocked and then ignore it, so neither a Ctrl+C
while they start (importing NumPy) nor one later prints their traceback or stops them;
the main process closes them.

Every wait for a helper has a deadline: a helper that died is noticed within
milliseconds (its pipe closes), and one that stopped answering (suspended, stuck) after
``HELPER_TIMEOUT`` seconds, or ten times as long as this process took for its own shard.
Either is a :class:`HelperLost`, after which the main process redoes the step alone.

Nothing here unpickles data from a file: the helper receives only its start-up
arguments (the architecture dict and the blocks) from its parent process.
"""

from __future__ import annotations

import itertools
import json
import math
import mmap
import multiprocessing as mp
import os
import platform
import signal
import time
from multiprocessing import reduction, shared_memory
from types import SimpleNamespace
from typing import Any

import numpy as np

from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.losses import FUSED_LOSSES

#: Seconds to wait for a helper to start (import NumPy and the engine, build the net).
START_TIMEOUT = 60.0
#: Seconds, at least, to wait for a helper's answer before giving it up as stuck.
HELPER_TIMEOUT = 60.0
#: Blocks are handed to helpers by file descriptor (their names removed at once).
_BY_FD = os.name == "posix"
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


def _poll(conn: Any, timeout: float | None = None) -> bool:
    """``conn.poll(timeout)`` (``None``: no limit), spinning for the first
    ``SPIN_SECONDS`` before it sleeps."""
    if not conn.poll(0):
        clock = time.perf_counter
        end = clock() + SPIN_SECONDS
        while not conn.poll(0):
            if clock() > end:
                rest = None if timeout is None else max(0.0, timeout - SPIN_SECONDS)
                return bool(conn.poll(rest))
    return True


def _recv(conn: Any) -> bytes:
    """``conn.recv_bytes()``, spinning for a few milliseconds before it sleeps."""
    _poll(conn)
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


def _new_block(size: int) -> shared_memory.SharedMemory:
    """A new shared block, already without a name (see the module's docstring).

    ``unlink`` also takes the name off Python's resource tracker, which therefore never
    warns about or removes it; helpers map it by file descriptor and never register it.
    """
    block = shared_memory.SharedMemory(create=True, size=size)
    block.unlink()  # a no-op on Windows
    return block


def _fd_of(block: shared_memory.SharedMemory) -> int:
    fd: int = block._fd  # type: ignore[attr-defined]  # not public, but stable since 3.8
    return fd


class _InheritedFd:
    """A block's file descriptor in a helper's start-up arguments: pickling it while the
    helper is spawned passes the descriptor to the new process, which gets the number."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, tuple[Any]]:
        return _detach, (reduction.DupFd(self.fd),)


def _detach(dup: Any) -> int:
    fd: int = dup.detach()
    return fd


def _block_ref(block: shared_memory.SharedMemory) -> Any:
    """What a helper needs to map ``block`` (see ``_attach``)."""
    return _InheritedFd(_fd_of(block)) if _BY_FD else block.name


def _attach(ref: int | str) -> Any:
    """Map a block in a helper, by file descriptor (then closed) or, on Windows, by name:
    an object with ``buf`` and ``close()``, as ``SharedMemory`` has."""
    if isinstance(ref, str):
        return shared_memory.SharedMemory(name=ref)
    try:
        mapping = mmap.mmap(ref, 0)
    finally:
        os.close(ref)
    return SimpleNamespace(buf=mapping, close=mapping.close)


def _close_quietly(block: Any) -> None:
    """Unmap a block (a ``SharedMemory`` or a helper's mapping); an array still viewing
    it keeps the mapping alive until it goes. The memory is freed once nothing maps it."""
    if block is None:
        return
    try:
        block.close()
    except BufferError:
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


def _helper_main(conn: Any, arch: dict[str, Any], refs: dict[str, Any], doorbell: bool) -> None:
    """The helper process: build the network, then run commands until told to stop.

    ``refs`` holds the ``params``, ``grads`` and ``ctrl`` blocks (see ``_attach``)."""
    # SIGINT came blocked from the main process (``ProcessShards._start``). Ignoring it
    # drops one that came meanwhile; Ctrl+C is the main process's to handle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    blocks: list[Any] = []
    try:
        _serve(conn, arch, refs, doorbell, blocks)
    except (EOFError, OSError):
        pass  # the main process went away (the pipe closed): nobody to tell
    finally:
        for block in blocks:
            _close_quietly(block)


def _serve(
    conn: Any, arch: dict[str, Any], refs: dict[str, Any], doorbell: bool, blocks: list[Any]
) -> None:
    """``_helper_main``'s work; maps its blocks into ``blocks`` (closed by the caller)."""
    from threadpoolctl import threadpool_limits

    from cnnstudio.engine.network import Network

    threadpool_limits(limits=1, user_api="blas")
    dtype = np.dtype(np.float32)
    try:
        blocks += [_attach(refs[key]) for key in ("params", "grads", "ctrl")]
        net = Network.from_architecture(arch)
        total = sum(p.size for _, p, _ in net.parameters())
        p_flat = _flat_view(blocks[0].buf, dtype, total)
        g_flat = _flat_view(blocks[1].buf, dtype, total)
        # The helper's own parameters and gradients live in the shared blocks: the weights
        # the main process writes before each command are used as they are, and the
        # gradients are read where they were written.
        net._make_flat((p_flat, g_flat))
        ctrl, result = _ctrl_views(blocks[2].buf)
        x_buf = z_buf = dz_buf = y_buf = np.empty(0)
        loss_fns = [fn for fn, _ in FUSED_LOSSES.values()]
    except Exception as exc:  # reported to the main process, which raises it
        conn.send_bytes(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}).encode())
        return
    conn.send_bytes(json.dumps({"ok": True, "total": total}).encode())
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

    while True:
        msg = _wait_command(conn, ctrl, seen) if doorbell else json.loads(_recv(conn))
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
        if op == "stop":
            conn.send_bytes(b'{"ok": true}')
            return
        try:
            if op == "io":
                # The new block's descriptor follows the message on the pipe (by name on
                # Windows); the old block is unmapped once no view of it is left.
                ref = msg.get("name") or reduction.recv_handle(conn)
                x_buf = z_buf = dz_buf = y_buf = np.empty(0)
                if len(blocks) > 3:
                    _close_quietly(blocks.pop())
                blocks.append(_attach(ref))
                views = _io_views(blocks[3].buf, dtype, int(msg["cap"]), in_shape, k)
                x_buf, z_buf, dz_buf, y_buf = views
            else:
                raise EngineError(f"unknown message {op!r}")
            conn.send_bytes(b'{"ok": true}')
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            conn.send_bytes(json.dumps({"ok": False, "error": error}).encode())


def _start(proc: Any) -> None:
    """Start a helper with SIGINT blocked in this thread, which the new process inherits
    (through exec): a Ctrl+C while its Python starts would otherwise stop it with a
    traceback before it can ignore SIGINT. One that comes meanwhile reaches this
    process once SIGINT is unblocked here (as the resource tracker does, bpo-33613)."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows
        proc.start()
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        proc.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


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


def _given_up(helper: _Helper, what: str, seconds: float) -> HelperLost:
    """Stop a helper that did not ``what`` within ``seconds`` (stuck or suspended: it
    would not stop when asked either); the error to raise."""
    helper.proc.kill()
    return HelperLost(f"an engine helper process did not {what} within {seconds:.0f} s")


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
        self.params_shm = _new_block(nbytes)
        self.p_flat = _flat_view(self.params_shm.buf, self.dtype, self.total)
        self.helpers: list[_Helper] = []
        self.closed = False
        self.doorbell = DOORBELL
        self._bounds: dict[int, list[tuple[int, int]]] = {}
        self._loss_ids = {name: i for i, name in enumerate(FUSED_LOSSES)}
        self._sent_at = 0.0  # when the current commands went out (start_*)
        ctx = mp.get_context("spawn")  # fork is unsafe in a process with threads (Qt)
        arch = network.to_architecture()
        try:
            for _ in range(self.n_helpers):
                g_shm, c_shm = _new_block(nbytes), _new_block(CTRL_BYTES)
                ours, theirs = ctx.Pipe(duplex=True)  # a Unix socket pair on POSIX
                refs = {
                    "params": _block_ref(self.params_shm),
                    "grads": _block_ref(g_shm),
                    "ctrl": _block_ref(c_shm),
                }
                proc = ctx.Process(
                    target=_helper_main,
                    args=(theirs, arch, refs, self.doorbell),
                    name="cnnstudio-engine-helper",
                    daemon=True,
                )
                helper = _Helper(proc, ours, g_shm, c_shm)
                self.helpers.append(helper)
                _start(proc)
                theirs.close()  # so a dead helper shows as EOF on our end
                helper.g_flat = _flat_view(g_shm.buf, self.dtype, self.total)
        except BaseException:  # KeyboardInterrupt too: no helper is left running
            self.close()
            raise

    # -- talking to helpers ---------------------------------------------------------------
    def _reply(
        self, helper: _Helper, timeout: float | None = None, what: str = "answer"
    ) -> dict[str, Any]:
        """``helper``'s next message; ``HelperLost`` if it failed, died or is silent for
        ``timeout`` seconds (``HELPER_TIMEOUT`` by default)."""
        timeout = HELPER_TIMEOUT if timeout is None else timeout
        try:
            if not _poll(helper.conn, timeout):
                raise _given_up(helper, what, timeout)
            msg: dict[str, Any] = json.loads(helper.conn.recv_bytes())
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

    def _wait_limit(self) -> float:
        """Seconds to wait for the helpers' shards, which are as large as this process's:
        ten times as long as this one took for its own (since ``start_*``), at least
        ``HELPER_TIMEOUT``."""
        return max(HELPER_TIMEOUT, 10 * (time.perf_counter() - self._sent_at))

    def _done(self, helper: _Helper, limit: float) -> None:
        """Wait until ``helper`` finished its command; ``HelperLost`` if it failed, died
        or did not finish within ``limit`` seconds."""
        if not self.doorbell:
            self._reply(helper, limit)
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
                if now - start > limit:
                    raise _given_up(helper, "answer", limit)
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
                msg = self._reply(helper, START_TIMEOUT, "start")
                if msg.get("total") != self.total:
                    raise HelperLost("an engine helper process built a different network")
                helper.ready = True

    def _ensure_io(self, helper: _Helper, rows: int) -> None:
        if rows <= helper.cap:
            return
        cap = max(rows, 2 * helper.cap)
        block = _new_block(_io_bytes(self.dtype, cap, self.in_shape, self.k))
        try:
            if _BY_FD:
                self._send(helper, {"op": "io", "cap": cap})
                try:
                    reduction.send_handle(helper.conn, _fd_of(block), helper.proc.pid)
                except (OSError, RuntimeError) as exc:  # RuntimeError: no receipt (macOS)
                    raise HelperLost("an engine helper process stopped unexpectedly") from exc
            else:
                self._send(helper, {"op": "io", "cap": cap, "name": block.name})
            self._reply(helper)
        except BaseException:
            _close_quietly(block)
            raise
        old = helper.io_shm
        helper.io_shm, helper.cap = block, cap
        views = _io_views(block.buf, self.dtype, cap, self.in_shape, self.k)
        helper.x, helper.z, helper.dz, helper.y = views
        _close_quietly(old)

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
        self._sent_at = time.perf_counter()

    def finish_step(
        self, grads: list[np.ndarray], bounds: list[tuple[int, int]]
    ) -> list[tuple[float, np.ndarray]]:
        """Add the helpers' gradients into ``grads``; their ``(loss, logits)`` per shard."""
        limit = self._wait_limit()
        for helper in self.helpers:
            self._done(helper, limit)
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
        self._sent_at = time.perf_counter()

    def finish_forward(self, bounds: list[tuple[int, int]]) -> list[np.ndarray]:
        """The helpers' logits ``(rows, K)`` for shards ``bounds[1:]``."""
        out = []
        limit = self._wait_limit()
        for helper, (a, b) in zip(self.helpers, bounds[1:], strict=True):
            self._done(helper, limit)
            out.append(helper.z[: b - a])
        return out

    def start_backward(self, dlogits: np.ndarray, bounds: list[tuple[int, int]]) -> None:
        for helper, (a, b) in zip(self.helpers, bounds[1:], strict=True):
            np.copyto(helper.dz[: b - a], dlogits[a:b], casting="unsafe")
            self._command(helper, OP_BWD, b - a, len(dlogits))
        self._sent_at = time.perf_counter()

    def finish_backward(self, grads: list[np.ndarray]) -> None:
        """Add every helper's parameter gradients into ``grads``."""
        limit = self._wait_limit()
        for helper in self.helpers:
            self._done(helper, limit)
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
            for end in (helper.proc.terminate, helper.proc.kill):  # kill: if suspended
                if helper.proc.is_alive():
                    end()
                    helper.proc.join(timeout=2.0)
            helper.conn.close()
            helper.x = helper.z = helper.dz = helper.y = np.empty(0)
            helper.g_flat = helper.ctrl = helper.result = np.empty(0)
            _close_quietly(helper.io_shm)
            _close_quietly(helper.grads_shm)
            _close_quietly(helper.ctrl_shm)
        self.p_flat = np.empty(0)
        _close_quietly(self.params_shm)
