"""``DataParallel(network, processes)``: a network's training steps shared between this
process and ``processes - 1`` helper processes, each on one BLAS thread.

Why processes: threads in one process take turns on the GIL between NumPy calls, and
a small network's step is many short calls, so two threads gained little
(benchmarks/README.md, "Reading the figures").
Two processes run those calls truly at once, as PyTorch's C++ threads do.

Each helper holds its own copy of the network, rebuilt from the architecture dict, and
runs a whole training step (forward, loss, backward) on its shard of every batch. The
arrays travel through shared memory:

- ``params``, one block for all helpers: this process copies its weights there before
  every step; the helpers' parameters are views of it;
- per helper, ``grads``: the helper's parameter gradients (views of it too), added into
  this network's after the step;
- per helper, ``io``: the input rows and labels of its shard, and its logits.

The signalling goes through the helper's pipe (a Unix socket pair on POSIX): one small
message each way per step, the command (the shard's size, the loss) and the answer (the
shard's loss), packed with ``struct``; the rare messages (start-up, a new io block,
errors, stop) are JSON objects. Everything written into shared memory before a message
is sent is seen by the other side once it has received it (the pipe's system calls
order memory), on any processor. Both sides poll the pipe for a few milliseconds
before they sleep in it: waking a sleeping process takes longer than a step's answer
usually takes to come (benchmarks/README.md, "Figures quoted in the code"). The pipe
also closes when either side dies.

Shared memory under POSIX has a name (a file in /dev/shm on Linux) that outlives every
process until it is removed, so a killed process group (the terminal closed, kill -9)
would leave its blocks until reboot; Python's resource tracker, which would remove them,
dies with the group. So each block's name is removed as soon as the block exists, and
the helpers map it through its file descriptor: inherited when they are spawned, sent
over the pipe for an io block made later. The memory goes when the last process that
maps it ends, however it ends. (Windows frees a block with its last handle and has
nothing to remove: there the helpers open blocks by name.)

Ctrl+C reaches every process of the terminal's process group. It is the main process's
to handle: the helpers start with SIGINT blocked and then ignore it, so neither a Ctrl+C
while they start (importing NumPy) nor one later prints their traceback or stops them;
the main process closes them.

Every wait for a helper has a deadline: a helper that died is noticed within
milliseconds (its pipe closes), and one that stopped answering (suspended, stuck) after
``HELPER_TIMEOUT`` seconds, or ten times as long as this process took for its own shard;
it is then killed. Either is a :class:`HelperLost`, after which this process redoes the
lost shards and trains alone.

Nothing here unpickles data from a file: a helper receives only its start-up arguments
(the architecture dict and the blocks) from its parent process.

(One file of about 700 lines: the wrapper, the helper's loop and this process's side of
each exchange are the two ends of one protocol, best read together.)
"""

from __future__ import annotations

import itertools
import json
import math
import mmap
import multiprocessing as mp
import os
import select
import signal
import struct
import time
import warnings
import weakref
from collections.abc import Callable
from multiprocessing import reduction, shared_memory
from types import SimpleNamespace
from typing import Any

import numpy as np

from cnnstudio.engine.blas import blas_threads
from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.layers import BatchNorm, Dropout
from cnnstudio.engine.losses import FUSED_LOSSES, check_labels, loss_for
from cnnstudio.engine.network import Network
from cnnstudio.engine.threads import ThreadShards, thread_shareable

__all__ = ["DataParallel", "HelperLost"]

#: Seconds to wait for a helper to start (import NumPy and the engine, build the net).
START_TIMEOUT = 60.0
#: Seconds, at least, to wait for a helper's answer before giving it up as stuck.
HELPER_TIMEOUT = 60.0
#: Blocks are handed to helpers by file descriptor (their names removed at once).
_BY_FD = os.name == "posix"
#: Seconds to poll the pipe before sleeping in it (see the module's docstring).
SPIN_SECONDS = 0.005
#: A step's messages: the command (b"S", the shard's rows, the batch's size, the loss's
#: index in ``losses.FUSED_LOSSES``) and the answer (b"D", the shard's mean loss).
#: Packed, because parsing JSON right after a shard's arithmetic has filled the caches
#: was a noticeable part of a small network's step (benchmarks/README.md, "The pipe
#: again").
_STEP = struct.Struct("<cqqq")
_DONE = struct.Struct("<cd")


class HelperLost(EngineError):
    """A helper process stopped or failed; the step can be redone in this process."""


class DataParallel:
    """Training steps of ``network`` shared with ``processes - 1`` helper processes.

    Each step's batch is split in near-equal shards: this process runs the first on
    ``network`` itself, each helper one of the others on its own copy, and the helpers'
    parameter gradients are added to ``network``'s. Results equal one process's up to
    float rounding of the summed gradients; on an idle machine two processes train
    markedly faster than one, and slower when another program keeps a core busy
    (benchmarks/README.md).

    The helpers start at once, in the background (about half a second before the first
    step can use them). A helper that cannot start, fails or dies is reported with a
    ``RuntimeWarning``; its shard is redone here and training goes on in this process.

    Parameters
    ----------
    network : Network
        Trained in place; its weights may change between steps (each step sends them).
    processes : int
        1 or more; 1 runs every step in this process.

    Attributes
    ----------
    network : Network
    processes : int
        Processes that share the steps now: 1 for networks with BatchNorm or Dropout (each
        shard would have its own batch statistics and masks), networks that are not
        float32 or run on the reference tier (see ``shareable``), when the helpers could
        not start, or after one was lost.
    min_shard : int
        Batches under ``min_shard * processes`` samples run in this process only.

    Use it as a context manager, or call :meth:`close` (garbage collection and the end
    of this process also stop the helpers)::

        with DataParallel(network, 2) as parallel:
            loss, logits = parallel.train_step(x, y)
            optimizer.step(network.flat_parameters())
    """

    def __init__(self, network: Network, processes: int) -> None:
        if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
            raise EngineError(f"processes must be a positive integer, got {processes!r}")
        self.network = network
        self.processes = 1
        #: Smallest shard worth a helper process.
        self.min_shard = 8
        self._shards: _ProcessShards | None = None
        self._threads: ThreadShards | None = None
        self._finalizer: Any = None
        if processes > 1 and not shareable(network) and thread_shareable(network):
            # BatchNorm: threads of this process, which can add up the batch statistics.
            self._threads = ThreadShards(network, processes)
            self.processes = processes
            self._finalizer = weakref.finalize(self, self._threads.close)
            return
        if processes > 1 and shareable(network):
            try:
                self._shards = _ProcessShards(network, processes)
            except (OSError, RuntimeError) as exc:
                # No shared memory or no new process here: one process still trains.
                self._lose(RuntimeError(f"could not start engine helper processes ({exc})"))
                return
            self.processes = processes
            self._finalizer = weakref.finalize(self, self._shards.close)

    def train_step(
        self, x: Any, y: Any, loss_fn: Callable[..., Any] | None = None
    ) -> tuple[float, np.ndarray]:
        """As ``Network.train_step``: forward, the loss and backward, every layer's
        ``grads`` filled for an optimizer step. Returns ``(mean loss, logits (N, K))``.

        Shared only with the network's own loss (``losses.loss_for``) or another of
        ``losses.FUSED_LOSSES``, which the helpers know; other losses run here.
        """
        net = self.network
        loss_fn = loss_for(net) if loss_fn is None else loss_fn
        if self._threads is not None and hasattr(x, "shape") and len(x.shape) >= 1:
            with blas_threads(1):  # (a batch too small to share runs on this thread)
                return self._threads.train_step(x, y, loss_fn)
        shards = self._shards
        name = getattr(loss_fn, "__name__", "")
        if (
            shards is None
            or FUSED_LOSSES.get(name, (None, ""))[0] is not loss_fn
            or not hasattr(x, "shape")
            or len(x.shape) < 1
            or x.shape[0] < self.min_shard * self.processes
        ):
            return net.train_step(x, y, loss_fn)
        x, y = np.asarray(x), np.asarray(y)
        n = x.shape[0]
        # The checks one process would make, here, before any helper sees the batch.
        net.check_batch(x)
        check_labels(y, n, max(2, net.n_logits), FUSED_LOSSES[name][1])
        bounds = shards.split(n)
        try:
            shards.start_step([p for _, p, _ in net.flat_parameters()], x, y, bounds, name)
        except HelperLost as exc:
            self._lose(exc)
            return net.train_step(x, y, loss_fn)
        a, b = bounds[0]
        with blas_threads(1):
            loss, z = net.train_step(x[a:b], y[a:b], _scaled(loss_fn, (b - a) / n))
        try:
            results = shards.finish_step([g for _, _, g in net.flat_parameters()], bounds)
        except HelperLost as exc:
            # A helper went away mid-step: redo its shards here, so the step stays whole.
            self._lose(exc)
            results = self._redo_here(x, y, loss_fn, bounds[1:])
        total = loss * (b - a) + sum(
            part * (hi - lo) for (part, _), (lo, hi) in zip(results, bounds[1:], strict=True)
        )
        return total / n, np.concatenate([z, *(zs for _, zs in results)], axis=0)

    def _redo_here(
        self, x: np.ndarray, y: np.ndarray, loss_fn: Any, bounds: list[tuple[int, int]]
    ) -> list[tuple[float, np.ndarray]]:
        """Shards ``bounds`` of the step run here, their gradients added to the network's."""
        grads = [g for _, _, g in self.network.flat_parameters()]
        summed = [g.copy() for g in grads]
        results = []
        for a, b in bounds:
            results.append(
                self.network.train_step(x[a:b], y[a:b], _scaled(loss_fn, (b - a) / len(x)))
            )
            for total, g in zip(summed, grads, strict=True):
                total += g
        for g, total in zip(grads, summed, strict=True):
            np.copyto(g, total)
        return results

    def _lose(self, exc: Exception) -> None:
        warnings.warn(f"{exc}; training goes on in this process only", RuntimeWarning, stacklevel=3)
        self.close()

    def close(self) -> None:
        """Stop the helpers and free the shared memory (safe to call twice); later steps
        run in this process."""
        if self._shards is not None:
            self._finalizer.detach()
            self._shards.close()
            self._shards = None
        if self._threads is not None:
            self._finalizer.detach()
            self._threads.close()
            self._threads = None
        self.processes = 1

    def __enter__(self) -> DataParallel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def shareable(network: Network) -> bool:
    """Whether ``network``'s steps can be split between processes with the same results:
    float32 and on the fast tier (the readable one runs whole in this process, to be
    stepped through), without BatchNorm or Dropout.

    BatchNorm's batch statistics would be each shard's and Dropout's masks drawn by each
    process's own generator. Sharing BatchNorm would take the shards' per-channel sums
    exchanged mid-step, between the helpers' forward passes: a wrapper that owns the
    whole step, as this one does, is where that goes.
    """
    return (
        network.kernels == "fast"
        and not any(isinstance(layer, BatchNorm | Dropout) for layer in network.layers)
        and all(p.dtype == np.float32 for _, p, _ in network.parameters())
    )


def _scaled(loss_fn: Any, share: float) -> Callable[[np.ndarray, Any], tuple[float, np.ndarray]]:
    """``loss_fn`` of a shard holding ``share`` of the batch: its mean loss, and the gradient
    of the whole batch's mean loss (the shard's gradient times ``share``)."""

    def loss(logits: np.ndarray, y: Any) -> tuple[float, np.ndarray]:
        value, d = loss_fn(logits, y)
        d *= share
        return value, d

    return loss


# -- the pipe ---------------------------------------------------------------------------
class _Channel:
    """One end of a helper's pipe: messages (bytes; a dict goes as JSON), and waits that
    poll before they sleep."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._ready: Callable[[], bool]
        if hasattr(select, "poll"):  # a look far cheaper than conn.poll(0), for the spin
            poller = select.poll()
            poller.register(conn.fileno(), select.POLLIN)  # (a closed pipe counts too)
            self._ready = lambda: bool(poller.poll(0))
        else:
            self._ready = lambda: bool(conn.poll(0))

    def wait(self, timeout: float | None) -> bool:
        """Whether a message (or the pipe's end) came within ``timeout`` seconds
        (``None``: no limit), polling for the first ``SPIN_SECONDS``."""
        if self._ready():
            return True
        clock = time.perf_counter
        end = clock() + SPIN_SECONDS
        while not self._ready():
            if clock() > end:
                rest = None if timeout is None else max(0.0, timeout - SPIN_SECONDS)
                return bool(self.conn.poll(rest))
        return True

    def send(self, msg: bytes | dict[str, Any]) -> None:
        self.conn.send_bytes(msg if isinstance(msg, bytes) else json.dumps(msg).encode())

    def recv(self) -> bytes:
        data: bytes = self.conn.recv_bytes()
        return data


def _failure(exc: Exception) -> dict[str, Any]:
    """The message a helper answers with when a command failed."""
    return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


# -- shared memory ----------------------------------------------------------------------
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


def _flat_view(buf: Any, total: int) -> np.ndarray:
    return np.ndarray((total,), dtype=np.float32, buffer=buf)


def _io_layout(cap: int, in_shape: tuple[int, ...], k: int) -> tuple[int, int, int]:
    """Byte offsets of an io block's logits and (8-byte aligned) int64 labels after its
    float32 input rows, and the block's size, for shards of up to ``cap`` rows."""
    z_start = 4 * cap * math.prod(in_shape)
    y_start = -(-(z_start + 4 * cap * k) // 8) * 8
    return z_start, y_start, y_start + 8 * cap


def _io_views(
    buf: Any, cap: int, in_shape: tuple[int, ...], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Input rows ``(cap, *in_shape)``, logits ``(cap, k)`` and labels ``(cap,)``."""
    z_start, y_start, _ = _io_layout(cap, in_shape, k)
    x = np.ndarray((cap, *in_shape), dtype=np.float32, buffer=buf)
    z = np.ndarray((cap, k), dtype=np.float32, buffer=buf, offset=z_start)
    y = np.ndarray((cap,), dtype=np.int64, buffer=buf, offset=y_start)
    return x, z, y


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


# -- the helper process -----------------------------------------------------------------
def _helper_main(conn: Any, arch: dict[str, Any], refs: dict[str, Any]) -> None:
    """The helper process: build the network, then run commands until told to stop.

    ``refs`` holds the ``params`` and ``grads`` blocks (see ``_attach``)."""
    # SIGINT came blocked from the main process (``_start``). Ignoring it drops one that
    # came meanwhile; Ctrl+C is the main process's to handle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    blocks: list[Any] = []
    try:
        _serve(_Channel(conn), arch, refs, blocks)
    except (EOFError, OSError):
        pass  # the main process went away (the pipe closed): nobody to tell
    finally:
        for block in blocks:
            _close_quietly(block)


def _serve(pipe: _Channel, arch: dict[str, Any], refs: dict[str, Any], blocks: list[Any]) -> None:
    """``_helper_main``'s work; maps its blocks into ``blocks`` (closed by the caller)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    try:
        blocks += [_attach(refs[key]) for key in ("params", "grads")]
        net = Network.from_architecture(arch)
        total = net.parameter_count()
        # The parameters this process's steps use are the weights the main process
        # writes before each command, and its gradients are read where they are written.
        net.use_flat_arrays(_flat_view(blocks[0].buf, total), _flat_view(blocks[1].buf, total))
        x_buf = z_buf = y_buf = np.empty(0)
    except Exception as exc:  # reported to the main process, which raises it
        pipe.send(_failure(exc))
        return
    pipe.send({"ok": True, "total": total})
    in_shape, k = tuple(net.input_shape), net.n_logits
    loss_fns = [fn for fn, _ in FUSED_LOSSES.values()]
    while True:
        pipe.wait(None)
        data = pipe.recv()
        if data[:1] == b"S":  # a step: forward, this shard's loss, backward
            _, m, n, loss_id = _STEP.unpack(data)
            try:
                loss_fn = _scaled(loss_fns[loss_id], m / n)
                with np.errstate(over="ignore", invalid="ignore"):
                    loss, z = net.train_step(x_buf[:m], y_buf[:m], loss_fn)
                z_buf[:m] = z
                pipe.send(_DONE.pack(b"D", loss))
            except Exception as exc:
                pipe.send(_failure(exc))
            continue
        msg = json.loads(data)
        op = msg.get("op")
        if op == "stop":
            pipe.send({"ok": True})
            return
        reply: dict[str, Any] = {"ok": True}
        try:
            if op == "io":
                # The new block's descriptor follows the message on the pipe (by name on
                # Windows); the old block is unmapped once no view of it is left.
                ref = msg.get("name") or reduction.recv_handle(pipe.conn)
                x_buf = z_buf = y_buf = np.empty(0)
                if len(blocks) > 2:
                    _close_quietly(blocks.pop())
                blocks.append(_attach(ref))
                x_buf, z_buf, y_buf = _io_views(blocks[2].buf, int(msg["cap"]), in_shape, k)
            else:
                raise EngineError(f"unknown message {op!r}")
        except Exception as exc:
            reply = _failure(exc)
        pipe.send(reply)


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


# -- this process's side ----------------------------------------------------------------
class _Helper:
    """This process's end of one helper: its process, pipe and shared blocks."""

    def __init__(self, proc: Any, conn: Any, grads: shared_memory.SharedMemory) -> None:
        self.proc, self.pipe, self.grads_shm = proc, _Channel(conn), grads
        self.io_shm: shared_memory.SharedMemory | None = None
        self.cap = 0
        self.x = self.z = self.y = np.empty(0)
        self.g_flat = np.empty(0)
        self.ready = False


class _ProcessShards:
    """The helper processes of a :class:`DataParallel` and the step's exchanges with them.

    The helpers start at once (in the background) and the first step waits for them.
    :meth:`close` stops them; so does the end of this process (they are daemons and also
    stop when their pipe closes).
    """

    def __init__(self, network: Network, processes: int) -> None:
        self.total = network.parameter_count()
        self.in_shape = tuple(network.input_shape)
        self.k = int(network.n_logits)
        nbytes = max(1, 4 * self.total)
        self.params_shm = _new_block(nbytes)
        self.p_flat = _flat_view(self.params_shm.buf, self.total)
        self.helpers: list[_Helper] = []
        self.closed = False
        self._bounds: dict[int, list[tuple[int, int]]] = {}
        self._loss_ids = {name: i for i, name in enumerate(FUSED_LOSSES)}
        self._sent_at = 0.0  # when the current commands went out (start_step)
        ctx = mp.get_context("spawn")  # fork is unsafe in a process with threads (Qt)
        arch = network.to_architecture()
        try:
            for _ in range(processes - 1):
                g_shm = _new_block(nbytes)
                ours, theirs = ctx.Pipe(duplex=True)  # a Unix socket pair on POSIX
                refs = {"params": _block_ref(self.params_shm), "grads": _block_ref(g_shm)}
                proc = ctx.Process(
                    target=_helper_main,
                    args=(theirs, arch, refs),
                    name="cnnstudio-engine-helper",
                    daemon=True,
                )
                helper = _Helper(proc, ours, g_shm)
                self.helpers.append(helper)
                _start(proc)
                theirs.close()  # so a dead helper shows as EOF on our end
                helper.g_flat = _flat_view(g_shm.buf, self.total)
        except BaseException:  # KeyboardInterrupt too: no helper is left running
            self.close()
            raise

    def _send(self, helper: _Helper, msg: bytes | dict[str, Any]) -> None:
        try:
            helper.pipe.send(msg)
        except (OSError, ValueError) as exc:
            raise HelperLost("an engine helper process stopped unexpectedly") from exc

    def _reply(
        self, helper: _Helper, timeout: float, what: str = "answer", packed: bool = False
    ) -> Any:
        """``helper``'s next message: a JSON object, or with ``packed`` a step's answer
        (the shard's loss). ``HelperLost`` if the helper failed, died, or said nothing for
        ``timeout`` seconds (it is then killed: stuck or suspended, it would not stop when
        asked either)."""
        try:
            if not helper.pipe.wait(timeout):
                helper.proc.kill()
                raise HelperLost(f"an engine helper process did not {what} within {timeout:.0f} s")
            data = helper.pipe.recv()
        except (EOFError, OSError) as exc:
            code = helper.proc.exitcode
            raise HelperLost(
                "an engine helper process stopped unexpectedly"
                + (f" (exit code {code})" if code is not None else "")
            ) from exc
        if packed and data[:1] == b"D":
            return _DONE.unpack(data)[1]
        msg = json.loads(data)
        if not msg.get("ok"):
            raise HelperLost(f"an engine helper process failed: {msg.get('error')}")
        return msg

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
        block = _new_block(_io_layout(cap, self.in_shape, self.k)[-1])
        try:
            if _BY_FD:
                self._send(helper, {"op": "io", "cap": cap})
                try:
                    reduction.send_handle(helper.pipe.conn, _fd_of(block), helper.proc.pid)
                except (OSError, RuntimeError) as exc:  # RuntimeError: no receipt (macOS)
                    raise HelperLost("an engine helper process stopped unexpectedly") from exc
            else:
                self._send(helper, {"op": "io", "cap": cap, "name": block.name})
            self._reply(helper, HELPER_TIMEOUT)
        except BaseException:
            _close_quietly(block)
            raise
        old = helper.io_shm
        helper.io_shm, helper.cap = block, cap
        helper.x, helper.z, helper.y = _io_views(block.buf, cap, self.in_shape, self.k)
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

    def start_step(
        self,
        params: list[np.ndarray],
        x: np.ndarray,
        y: np.ndarray,
        bounds: list[tuple[int, int]],
        loss_name: str,
    ) -> None:
        """Hand shards ``bounds[1:]`` of ``(x, y)`` to the helpers, with the weights
        ``params``, for a whole step: forward, the loss ``loss_name`` (a key of
        ``losses.FUSED_LOSSES``), backward."""
        self._ensure_ready()
        _pack(params, self.p_flat)
        n = bounds[-1][1]
        for helper, (a, b) in zip(self.helpers, bounds[1:], strict=True):
            self._ensure_io(helper, b - a)
            np.copyto(helper.x[: b - a], x[a:b], casting="unsafe")
            helper.y[: b - a] = y[a:b]
            self._send(helper, _STEP.pack(b"S", b - a, n, self._loss_ids[loss_name]))
        self._sent_at = time.perf_counter()

    def finish_step(
        self, grads: list[np.ndarray], bounds: list[tuple[int, int]]
    ) -> list[tuple[float, np.ndarray]]:
        """Wait for the helpers (``HelperLost`` if one failed, died or did not answer in
        time) and add their gradients into ``grads``; their ``(loss, logits)`` per shard.

        The helpers' shards are as large as this process's: the wait is ten times as long
        as this process took for its own (since ``start_step``), ``HELPER_TIMEOUT`` at
        least."""
        limit = max(HELPER_TIMEOUT, 10 * (time.perf_counter() - self._sent_at))
        losses = [self._reply(helper, limit, packed=True) for helper in self.helpers]
        out = []
        for helper, loss, (a, b) in zip(self.helpers, losses, bounds[1:], strict=True):
            _add_into(helper.g_flat, grads)
            out.append((loss, helper.z[: b - a]))
        return out

    def close(self) -> None:
        """Stop the helpers and free the shared memory (safe to call twice)."""
        if self.closed:
            return
        self.closed = True
        for helper in self.helpers:
            try:
                if helper.proc.is_alive():
                    helper.pipe.conn.send_bytes(b'{"op": "stop"}')
            except (OSError, ValueError):
                pass
        for helper in self.helpers:
            if helper.proc.pid is not None:  # started
                helper.proc.join(timeout=2.0)
            for end in (helper.proc.terminate, helper.proc.kill):  # kill: if suspended
                if helper.proc.is_alive():
                    end()
                    helper.proc.join(timeout=2.0)
            helper.pipe.conn.close()
            helper.x = helper.z = helper.y = helper.g_flat = np.empty(0)
            _close_quietly(helper.io_shm)
            _close_quietly(helper.grads_shm)
        self.p_flat = np.empty(0)
        _close_quietly(self.params_shm)
