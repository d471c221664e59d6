"""Run fuzz tries in isolation and judge them.

Over 600 lines: the child process (limits, outcome), the parent (timeouts, peak memory,
leftovers) and the report (summary table, saved failing inputs) are one protocol, read
best together.

Every try runs in its own child process: forked from the test process for the in-process
targets (a few milliseconds), or a fresh ``python -m cnnstudio`` for the command line. The
child gets an address-space cap a little above what it starts with, so a runaway
allocation fails fast there with ``MemoryError`` instead of taking the machine; the parent
kills it after a wall-clock timeout (a hang) and reads its peak resident memory from
``os.wait4``. Each try has one outcome:

``ok``        the input loaded (and passed the target's checks on what it returned)
``refused``   it raised one of the target's documented error types
``crash``     any other exception (its traceback is kept), or a command-line traceback
``invalid``   it loaded, but what came back breaks a promise (`Invariant`)
``oom``       ``MemoryError`` under the cap, or a documented error caused by one
``hang``      still running at the timeout
``killed``    the child died without reporting (a signal, the OOM killer)

The parent adds problems of its own: a refusal that does not name the file, a peak
memory growth over `PEAK_LIMIT` for an input under `SMALL_INPUT`, files left behind in
the try's folder or its private temp folder, and a reproduction whose known answer
(``expect``) did not come. A failing try's input is written to the test's tmp folder
with a README saying how to replay it (``python -m tests.fuzz replay TARGET TRY``).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MB = 1 << 20
#: Address space a child may add to what it inherits before allocations fail.
HEADROOM = 1200 * MB
#: Peak resident-memory growth allowed per try for an input under SMALL_INPUT.
PEAK_LIMIT = 1024 * MB
SMALL_INPUT = 1 * MB
#: Where each campaign writes its summary row (``python -m tests.fuzz summary`` prints them).
SUMMARY_DIR = Path(
    os.environ.get("FUZZ_SUMMARY_DIR", Path(tempfile.gettempdir()) / "cnnstudio-fuzz")
)
#: How many failures a test lists in its message (all are in the summary file).
SHOWN_FAILURES = 12
_REPORT_CHARS = 6000
FAILURE_KINDS = ("crash", "invalid", "oom", "hang", "killed")


# -- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """A symbolic link in a sample's file tree; ``{w}`` in the target is the try's folder."""

    target: str


@dataclass(frozen=True)
class Fifo:
    """A named pipe in a sample's file tree (nothing ever writes to it)."""


@dataclass(frozen=True)
class Folder:
    """An (empty) folder in a sample's file tree."""


FIFO = Fifo()
FOLDER = Folder()
Entry = bytes | Link | Fifo | Folder


@dataclass
class Sample:
    """One fuzz input.

    ``files`` is a small file tree written into the try's folder (``in/``), ``arg`` the
    path the target is given (relative to that folder, or absolute such as ``/dev/zero``).
    Targets that take an object instead of a file get ``value``. The command line gets
    ``argv`` with ``{w}`` standing for the try's folder.
    """

    files: dict[str, Any] = field(default_factory=dict)  # path -> Entry
    arg: str = ""
    value: Any = None
    argv: list[str] | None = None
    note: str = ""
    #: A reproduction's known right answer: "ok" or "refused" (None: anything but a failure).
    expect: str | None = None
    #: Command line: what an error message must name (a path under {w}, an option, or
    #: several choices separated by "|").
    subject: str | None = None
    #: Command line: files the run may create in the try's folder (its --out).
    outputs: tuple[str, ...] = ()
    #: Slow to decode (seconds): run by the long campaign only.
    heavy: bool = False

    def size(self) -> int:
        return sum(len(v) for v in self.files.values() if isinstance(v, bytes))

    def with_note(self, note: str, **changes: Any) -> Sample:
        # A mutated reproduction no longer has a known right answer.
        fields = {**self.__dict__, "expect": None, **changes}
        fields["note"] = f"{self.note}; {note}" if self.note else note
        return Sample(**fields)

    def write(self, folder: Path) -> None:
        """Create the file tree in ``folder`` (which must exist)."""
        for rel, entry in sorted(self.files.items(), key=lambda kv: kv[0].count("/")):
            p = folder / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(entry, bytes):
                p.write_bytes(entry)
            elif isinstance(entry, Link):
                os.symlink(entry.target.replace("{w}", str(folder)), p)
            elif isinstance(entry, Fifo):
                os.mkfifo(p)
            else:
                p.mkdir(exist_ok=True)

    def resolve(self, folder: Path) -> Path:
        return Path(self.arg) if os.path.isabs(self.arg) else folder / self.arg

    def command(self, folder: Path) -> list[str]:
        return [a.replace("{w}", str(folder)) for a in self.argv or []]

    def manifest(self) -> str:
        lines = [f"note: {self.note}", f"arg: {self.arg}"]
        if self.argv is not None:
            lines.append(f"argv: cnnstudio {' '.join(self.argv)}")
        for rel, entry in sorted(self.files.items()):
            kind = (
                f"{len(entry)} bytes"
                if isinstance(entry, bytes)
                else f"symlink -> {entry.target}"
                if isinstance(entry, Link)
                else "fifo"
                if isinstance(entry, Fifo)
                else "folder"
            )
            lines.append(f"  {rel}: {kind}")
        return "\n".join(lines)


class Invariant(AssertionError):
    """Raised by a target's checks: the input loaded, but the result breaks a promise."""


# -- targets ------------------------------------------------------------------------------


@dataclass
class Target:
    """What one campaign fuzzes.

    ``load`` runs in the forked child on the sample's path (or ``value``); ``None`` means a
    command-line target, run with ``python -m cnnstudio`` and the sample's ``argv``.
    """

    name: str
    seeds: Callable[[], list[Sample]]
    mutate: Callable[[Sample, np.random.Generator], Sample]
    load: Callable[[Any], Any] | None = None
    errors: tuple[type[BaseException], ...] = ()
    #: Whether a refusal's message must name the input (the file or the folder holding it).
    names_file: bool = True
    timeout: float = 10.0
    seed: int = 0
    #: The input folder is the loader's own (the recovery folder): it may move damaged files
    #: aside and sweep temporaries; only a temporary (".*.tmp") left there is a problem.
    owns_folder: bool = False


@dataclass
class Outcome:
    kind: str
    error: str = ""
    message: str = ""
    detail: str = ""
    peak: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.kind in FAILURE_KINDS or bool(self.problems)


def _short(text: str, n: int = _REPORT_CHARS) -> str:
    return text if len(text) <= n else text[: n // 2] + "\n[...]\n" + text[-n // 2 :]


def _text_of(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception as inner:  # a message that cannot even be printed
        return f"<str() failed: {type(inner).__name__}>"


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, kind):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


def _attempt(load: Callable[[Any], Any], arg: Any, errors: tuple[type[BaseException], ...]) -> dict:
    try:
        load(arg)
    except MemoryError:
        return {"kind": "oom", "error": "MemoryError", "detail": traceback.format_exc()}
    except Invariant as exc:
        return {"kind": "invalid", "message": _text_of(exc), "detail": traceback.format_exc()}
    except errors as exc:
        name = type(exc).__name__
        if _caused_by(exc, MemoryError):
            # Refused only because an allocation over the cap failed: without the cap it
            # would have taken that memory.
            return {"kind": "oom", "error": name, "message": _text_of(exc)}
        return {"kind": "refused", "error": name, "message": _text_of(exc)}
    except BaseException as exc:
        return {
            "kind": "crash",
            "error": type(exc).__name__,
            "message": _text_of(exc),
            "detail": traceback.format_exc(),
        }
    return {"kind": "ok"}


def limit_address_space(headroom: int = HEADROOM) -> None:
    """Cap this process's address space at its current size plus ``headroom``."""
    with open("/proc/self/statm") as f:
        vm = int(f.read().split()[0]) * resource.getpagesize()
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = vm + headroom
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def run_forked(target: Target, arg: Any, private: Path) -> Outcome:
    """Run ``target.load(arg)`` in a forked child under the memory cap and the timeout.

    ``private`` is the child's working and temp folder; its stderr goes to a file there.
    """
    read_end, write_end = os.pipe()
    base = _rss()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        report: dict = {"kind": "crash", "error": "harness", "message": "child set-up failed"}
        # The growth is measured from what the child holds now (fork shares the parent's
        # pages; those not yet touched do not count).
        child_base = _rss()
        try:
            os.close(read_end)
            err = os.open(private / "stderr.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(err, 2)
            tmp = private / "tmp"
            os.chdir(tmp)
            os.environ["TMPDIR"] = str(tmp)
            tempfile.tempdir = str(tmp)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            limit_address_space()
            report = _attempt(target.load, arg, target.errors)  # type: ignore[arg-type]
            report["base"] = child_base
        except BaseException as exc:
            report["detail"] = repr(exc)
        finally:
            with contextlib.suppress(BaseException):
                data = json.dumps(report).encode()
                while data:
                    data = data[os.write(write_end, data) :]
            os._exit(0)
    os.close(write_end)
    chunks: list[bytes] = []
    hung = False
    deadline = start + target.timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                hung = True
                break
            ready, _, _ = select.select([read_end], [], [], left)
            if ready:
                chunk = os.read(read_end, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(read_end)
        if hung:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
    seconds = time.monotonic() - start
    peak = max(0, usage.ru_maxrss * 1024 - base)
    if hung:
        return Outcome(
            "hang", message=f"still running after {target.timeout:g} s", peak=peak, seconds=seconds
        )
    try:
        report = json.loads(b"".join(chunks))
    except ValueError:
        how = (
            f"signal {os.WTERMSIG(status)} ({signal.Signals(os.WTERMSIG(status)).name})"
            if os.WIFSIGNALED(status)
            else f"exit {os.WEXITSTATUS(status)}"
        )
        stderr = (private / "stderr.txt").read_text(errors="replace")
        return Outcome("killed", error=how, detail=_short(stderr), peak=peak, seconds=seconds)
    if "base" in report:
        peak = max(0, usage.ru_maxrss * 1024 - report["base"])
    return Outcome(
        report["kind"],
        error=report.get("error", ""),
        message=_short(report.get("message", ""), 1500),
        detail=_short(report.get("detail", "")),
        peak=peak,
        seconds=seconds,
    )


# -- the command line ---------------------------------------------------------------------

_CLI_VM: list[int] = []


def _cli_baseline() -> int:
    """Address space of a fresh ``python -m cnnstudio`` with its command modules imported."""
    if not _CLI_VM:
        code = (
            "import cnnstudio.cli as c, onnx, PIL.Image; c.build_parser();"
            "print(open('/proc/self/statm').read().split()[0])"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        )
        _CLI_VM.append(int(out.stdout.split()[-1]) * resource.getpagesize())
        probe = subprocess.Popen(
            [sys.executable, "-c", "import cnnstudio.cli as c; c.build_parser()"],
            stdout=subprocess.DEVNULL,
        )
        _, _, usage = os.wait4(probe.pid, 0)
        probe.returncode = 0
        _CLI_VM.append(usage.ru_maxrss * 1024)
    return _CLI_VM[0]


def cli_rss_baseline() -> int:
    _cli_baseline()
    return _CLI_VM[1]


#: How ``cnnstudio`` words an exception it did not expect (cli.py's catch-all).
UNEXPECTED = "unexpected error ("


def run_command(
    argv: Sequence[str],
    timeout: float,
    cwd: Path,
    env: dict[str, str] | None = None,
    on_start: Callable[[subprocess.Popen], None] | None = None,
) -> tuple[Outcome, str, str]:
    """Run ``python -m cnnstudio *argv`` capped and timed; (outcome, stdout, stderr).

    ``ok`` is exit 0, ``refused`` a non-zero exit (error ``exit N``), ``crash`` a
    ``Traceback`` on stderr, ``oom`` a ``MemoryError`` there.
    """
    cap = _cli_baseline() + HEADROOM

    def limit() -> None:  # in the child, between fork and exec
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    start = time.monotonic()
    out_path, err_path = cwd / "stdout.txt", cwd / "stderr.txt"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cnnstudio", *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            cwd=cwd,
            env=full_env,
            preexec_fn=limit,
            # Its own process group, so a hang is killed together with its helpers.
            start_new_session=True,
        )
        hung = False
        try:
            if on_start is not None:
                on_start(proc)
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() - start > timeout:
                    hung = True
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    _, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.02)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.wait4(proc.pid, 0)
            raise
        finally:
            proc.returncode = 0  # reaped above: stop Popen from waiting on it again
    seconds = time.monotonic() - start
    stragglers = _wait_for_group(proc.pid)
    stdout = out_path.read_text(errors="replace")
    stderr = err_path.read_text(errors="replace")
    out_path.unlink()
    err_path.unlink()
    peak = max(0, usage.ru_maxrss * 1024 - cli_rss_baseline())
    if hung:
        return (
            Outcome(
                "hang", message=f"still running after {timeout:g} s", peak=peak, seconds=seconds
            ),
            stdout,
            stderr,
        )
    code = os.waitstatus_to_exitcode(status)
    lines = stderr.strip().splitlines()
    last = lines[-1] if lines else ""
    if "MemoryError" in stderr:
        kind, error = "oom", "MemoryError"
    elif UNEXPECTED in stderr:
        # The command line's own catch-all: one line, but still an exception nobody expected.
        kind, error = "crash", stderr.split(UNEXPECTED, 1)[1].split(":", 1)[0]
    elif "Traceback" in stderr:
        kind, error = (
            "crash",
            next((ln for ln in reversed(lines) if ln and not ln.startswith(" ")), ""),
        )
    elif code < 0:
        kind, error = "killed", f"signal {-code}"
    elif code == 0:
        kind, error = "ok", ""
    else:
        kind, error = "refused", f"exit {code}"
    outcome = Outcome(
        kind,
        error=error,
        message=_short(last, 1500),
        detail=_short(stderr),
        peak=peak,
        seconds=seconds,
    )
    if stragglers:
        outcome.problems.append(
            f"processes still running {GROUP_GRACE:g} s after it ended (killed)"
        )
    outcome.returncode = code  # type: ignore[attr-defined]
    return outcome, stdout, stderr


def still_running(pid: int) -> bool:
    """Whether child ``pid`` has not exited, without reaping it (run_command does that)."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None


#: How long the helpers of a finished command (engine helpers, multiprocessing's resource
#: tracker) may take to exit after it.
GROUP_GRACE = 10.0


def _wait_for_group(pgid: int) -> bool:
    """Wait until no process of group ``pgid`` is left; kill them after GROUP_GRACE.

    Returns True when some had to be killed.
    """
    deadline = time.monotonic() + GROUP_GRACE
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return False
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    return True


def shm_entries() -> set[str]:
    try:
        return set(os.listdir("/dev/shm"))
    except OSError:
        return set()


def leaked_shm(before: set[str], settle: float = 1.0) -> list[str]:
    """/dev/shm entries created since ``before`` that are still there after ``settle`` s.

    Waiting lets another test's segments (the machine is shared) come and go; a leak stays.
    """
    new = shm_entries() - before
    if new:
        time.sleep(settle)
        new &= shm_entries()
    return sorted(new)


# -- campaigns ----------------------------------------------------------------------------


def _tree(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (symlinks not followed) -> its kind and size."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(root, name)
            st = p.lstat()
            found[str(p.relative_to(folder))] = (
                f"{st.st_mode:o}:{st.st_size if not p.is_dir() else 0}"
            )
    return found


def _remove(folder: Path) -> None:
    def fix(func: Any, path: str, _exc: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(path, 0o700)
            func(path)

    shutil.rmtree(folder, onerror=fix)


def sample_for(target: Target, corpus: list[Sample], index: int) -> Sample:
    """Try ``index`` of ``target``: the corpus in order, then seeded mutations of it."""
    if index < len(corpus):
        return corpus[index]
    rng = np.random.default_rng([target.seed, index])
    # Mostly mutate valid inputs: a damaged reproduction is usually refused for the old reason.
    valid = [s for s in corpus if s.expect == "ok"]
    pool = valid if valid and rng.random() < 0.85 else corpus
    base = pool[int(rng.integers(len(pool)))]
    return target.mutate(base, rng)


@dataclass
class Failure:
    target: str
    seed: int
    index: int
    note: str
    kind: str
    error: str
    message: str
    problems: list[str]
    saved: str
    detail: str = ""

    def __str__(self) -> str:
        what = f"{self.kind} {self.error}: {self.message}".strip()
        extra = "".join(f"\n      - {p}" for p in self.problems)
        return (
            f"{self.target} seed={self.seed} try={self.index} [{self.note}]\n"
            f"      {what[:400]}{extra}\n      input: {self.saved}\n"
            f"      replay: python -m tests.fuzz replay {self.target} {self.index}"
        )


@dataclass
class Stats:
    target: str
    mode: str
    tries: int = 0
    ok: int = 0
    refused: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    failed_tries: int = 0
    max_peak: int = 0
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.tries += 1
        self.kinds[outcome.kind] += 1
        if outcome.kind == "ok":
            self.ok += 1
        elif outcome.kind == "refused":
            self.refused[outcome.error] += 1
        self.max_peak = max(self.max_peak, outcome.peak)

    def row(self) -> dict:
        return {
            "target": self.target,
            "mode": self.mode,
            "tries": self.tries,
            "ok": self.ok,
            "refused": dict(self.refused),
            "crash": self.kinds["crash"],
            "invalid": self.kinds["invalid"],
            "oom": self.kinds["oom"],
            "hang": self.kinds["hang"],
            "killed": self.kinds["killed"],
            "failed_tries": self.failed_tries,
            "max_peak_mb": round(self.max_peak / MB, 1),
            "seconds": round(self.seconds, 1),
            "failures": [asdict(f) for f in self.failures[:200]],
        }

    def save(self) -> Path:
        SUMMARY_DIR.mkdir(parents=True, exist_ok=True)
        path = SUMMARY_DIR / f"{self.mode}-{self.target}.json"
        path.write_text(json.dumps(self.row(), indent=1))
        return path

    def assert_clean(self) -> None:
        if not self.failures:
            return
        shown = "\n  ".join(str(f) for f in self.failures[:SHOWN_FAILURES])
        more = len(self.failures) - SHOWN_FAILURES
        raise AssertionError(
            f"{self.target}: {self.failed_tries} of {self.tries} tries failed "
            f"({format_rows([self.row()])})\n  {shown}"
            + (f"\n  ... and {more} more (see {SUMMARY_DIR})" if more > 0 else "")
        )


def judge(target: Target, sample: Sample, outcome: Outcome, folder: Path) -> None:
    """Add the parent's own checks to ``outcome.problems``."""
    if outcome.kind == "refused" and target.names_file and target.load is not None:
        arg = str(sample.resolve(folder))
        if arg not in outcome.message and f"{folder}/" not in outcome.message:
            outcome.problems.append(f"the message does not name the file {arg}")
    if outcome.peak >= PEAK_LIMIT and sample.size() < SMALL_INPUT:
        outcome.problems.append(
            f"peak memory grew {outcome.peak / MB:.0f} MB for a {sample.size():,}-byte input"
        )
    if sample.expect == "ok" and outcome.kind == "refused":
        outcome.problems.append(f"expected it to load, it was refused: {outcome.message[:300]}")
    if sample.expect == "refused" and outcome.kind == "ok":
        outcome.problems.append("expected a refusal, it was accepted")


def _is_temporary(rel: str) -> bool:
    name = os.path.basename(rel)
    return name.startswith(".") and name.endswith(".tmp")


def run_try(target: Target, sample: Sample, work: Path) -> Outcome:
    """One try in ``work`` (created and removed here); checks for files left behind."""
    inputs, private = work / "in", work / "private"
    inputs.mkdir(parents=True)
    (private / "tmp").mkdir(parents=True)
    try:
        sample.write(inputs)
        before = _tree(inputs)
        if target.load is None:
            outcome = _run_cli_try(target, sample, inputs, private)
            allowed = set(sample.outputs)
        else:
            arg = sample.value if sample.value is not None else sample.resolve(inputs)
            outcome = run_forked(target, arg, private)
            allowed = set()
        judge(target, sample, outcome, inputs)
        after = _tree(inputs)
        if target.owns_folder:
            temps = sorted(p for p in after if _is_temporary(p))
            if temps:
                outcome.problems.append(f"temporaries left in the folder: {temps[:5]}")
        else:
            new = sorted(
                p
                for p in set(after) - set(before)
                if not any(p == a or p.startswith(f"{a}/") for a in allowed)
            )
            if new:
                outcome.problems.append(f"left behind in the input folder: {new[:5]}")
            changed = sorted(p for p in before if after.get(p) != before[p])
            if changed:
                outcome.problems.append(f"input changed or removed: {changed[:5]}")
        stray = sorted(os.listdir(private / "tmp"))
        if stray:
            outcome.problems.append(f"left behind in the temp folder: {stray[:5]}")
        return outcome
    finally:
        _remove(work)


def _run_cli_try(target: Target, sample: Sample, inputs: Path, private: Path) -> Outcome:
    shm_before = shm_entries()
    # A relative --out lands in the working folder: that is what was asked, not litter.
    cwd = private / "cwd"
    cwd.mkdir()
    outcome, _stdout, stderr = run_command(
        sample.command(inputs), target.timeout, cwd=cwd, env={"TMPDIR": str(private / "tmp")}
    )
    if outcome.kind == "refused":
        lines = stderr.strip().splitlines()
        code = getattr(outcome, "returncode", 1)
        if code == 2 and len(lines) > 1 and ": error: " not in lines[-1]:
            # argparse's usage error: the usage, then one "cnnstudio X: error: ..." line.
            outcome.problems.append(f"a usage error without an error line: {stderr[-300:]!r}")
        elif code != 2 and len(lines) != 1:
            outcome.problems.append(
                f"{len(lines)} lines on stderr, expected one: {stderr[-600:]!r}"
            )
        subjects = [x.replace("{w}", str(inputs)) for x in (sample.subject or "").split("|") if x]
        if subjects and not any(x in stderr for x in subjects):
            outcome.problems.append(f"the message does not name {' or '.join(subjects)}")
    leaked = leaked_shm(shm_before) if "--processes" in (sample.argv or []) else []
    if leaked:
        outcome.problems.append(f"left shared memory in /dev/shm: {leaked}")
    return outcome


def campaign(
    target: Target,
    tries: int,
    out_dir: Path,
    mode: str,
    corpus: list[Sample] | None = None,
    part: tuple[int, int] = (0, 1),
) -> Stats:
    """Run the corpus, then mutations, ``tries`` in all; failing inputs go to ``out_dir``.

    ``part=(k, n)`` runs only the tries whose index is k modulo n (to spread one target
    over several tests, hence workers); its summary row is named after the part.
    """
    corpus = corpus if corpus is not None else target.seeds()
    k, n = part
    stats = Stats(target.name if n == 1 else f"{target.name}.{k}", mode)
    start = time.monotonic()
    work_root = out_dir / "work"
    for index in range(k, tries, n):
        sample = sample_for(target, corpus, index)
        outcome = run_try(target, sample, work_root / str(index))
        stats.add(outcome)
        if outcome.failed:
            stats.failed_tries += 1
            stats.failures.append(_record(target, index, sample, outcome, out_dir))
    stats.seconds = time.monotonic() - start
    with contextlib.suppress(OSError):
        work_root.rmdir()
    stats.save()
    return stats


def _printable(text: str) -> str:
    """``text`` with lone surrogates (from non-UTF-8 file names) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _record(target: Target, index: int, sample: Sample, outcome: Outcome, out_dir: Path) -> Failure:
    folder = out_dir / "failures" / f"{target.name}-seed{target.seed}-try{index}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "in").mkdir(exist_ok=True)
    with contextlib.suppress(OSError):
        sample.write(folder / "in")
    if sample.value is not None:
        (folder / "value.json").write_text(to_json_text(sample.value))
    (folder / "README.txt").write_text(
        _printable(
            f"target: {target.name}\nseed: {target.seed}\ntry: {index}\n{sample.manifest()}\n\n"
            f"outcome: {outcome.kind} {outcome.error}\nmessage: {outcome.message}\n"
            f"problems: {outcome.problems}\n\n{outcome.detail}\n\n"
            f"replay: python -m tests.fuzz replay {target.name} {index}\n"
        )
    )
    return Failure(
        target.name,
        target.seed,
        index,
        _printable(sample.note),
        outcome.kind,
        outcome.error,
        _printable(outcome.message),
        [_printable(p) for p in outcome.problems],
        _printable(str(folder)),
        _printable(outcome.detail[-1500:]),
    )


def to_json_text(value: Any) -> str:
    """JSON text of a fuzz value, including integers past Python's 4,300-digit str limit
    and nesting deeper than the json module's recursion."""
    from tests.fuzz.mutators import dumps

    return dumps(value).decode()


# -- the summary table --------------------------------------------------------------------


def format_rows(rows: list[dict]) -> str:
    head = (
        f"{'target':<18}{'mode':<6}{'tries':>7}{'ok':>6}{'crash':>6}{'inval':>6}{'oom':>5}"
        f"{'hang':>5}{'kill':>5}{'peakMB':>8}{'time s':>8}  refused by type"
    )
    lines = [head]
    for r in rows:
        refused = ", ".join(f"{k} {v}" for k, v in sorted(r["refused"].items())) or "-"
        lines.append(
            f"{r['target']:<18}{r['mode']:<6}{r['tries']:>7}{r['ok']:>6}{r['crash']:>6}"
            f"{r['invalid']:>6}{r['oom']:>5}{r['hang']:>5}{r['killed']:>5}"
            f"{r['max_peak_mb']:>8.0f}{r['seconds']:>8.1f}  {refused}"
        )
    return "\n".join(lines)


def summary(folder: Path = SUMMARY_DIR, mode: str | None = None, since: float = 0.0) -> str:
    """The table of the campaigns saved in ``folder`` (of ``mode``, written after ``since``)."""
    rows = []
    for p in sorted(folder.glob("*.json")):
        if p.stat().st_mtime < since:
            continue
        row = json.loads(p.read_text())
        if mode is None or row["mode"] == mode:
            rows.append(row)
    if not rows:
        return f"no fuzz results in {folder}"
    total = {
        "target": "TOTAL",
        "mode": "",
        "refused": sum((Counter(r["refused"]) for r in rows), Counter()),
        **{
            k: sum(r[k] for r in rows)
            for k in ("tries", "ok", "crash", "invalid", "oom", "hang", "killed", "seconds")
        },
        "max_peak_mb": max(r["max_peak_mb"] for r in rows),
    }
    return format_rows([*rows, total])
