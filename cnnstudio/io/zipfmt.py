"""Reading and writing the zip containers behind ``*.cnnmodel`` and ``*.cnnstudio`` files.

A file may come from anywhere (a download, a damaged USB stick), so reading is
defensive: sizes are checked before anything is decompressed (each member against
its own limit and against its compressed size, see `Limits`), reads are bounded
(a member that declares 1 KB and inflates to 10 GB stops at the limit), only
stored or deflated members are accepted, and ``.npy`` arrays are parsed here
from their header so that nothing is ever unpickled and no array is allocated
before its size has been checked against the bytes actually present.

Writing is atomic (`cnnstudio.fileio.write_atomic`): the archive goes to a temporary
file in the target's folder and replaces the target with ``os.replace`` only once it
is complete, so a crash or a full disk mid-save leaves the previous file intact.
"""

from __future__ import annotations

import io
import math
import os
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from cnnstudio import fileio
from cnnstudio.engine.shapes import MAX_WEIGHTS
from cnnstudio.fileio import MAX_INFLATION, MIN_UNPACKED
from cnnstudio.io.errors import ModelFileError

__all__ = [
    "Limits",
    "ZipReader",
    "json_bytes",
    "npz_bytes",
    "parse_npz",
    "write_atomic",
    "write_zip_atomic",
]

_MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Size limits applied while reading an archive (bytes, after decompression).

    Every limit is checked against the sizes the zip declares before anything is
    inflated, so a file under 1 MB never makes a reader hold more than about 256 MB.
    """

    #: Largest JSON member.
    json_bytes: int = 64 * _MiB
    #: Largest ``weights.npz``: the most weights any architecture may have
    #: (``engine.shapes.MAX_WEIGHTS``) at 8 bytes each (float32 is written, but a
    #: float64 array is still read, to be refused with its dtype named), plus headers.
    weights_bytes: int = 8 * MAX_WEIGHTS + 4 * _MiB
    #: Largest ``samples.npz`` (the user's drawn samples: 28x28 digits take 784 bytes
    #: each, so this is hundreds of thousands of them).
    samples_bytes: int = 256 * _MiB
    #: All members together.
    total_bytes: int = 1024 * _MiB
    #: Number of members in the archive (and in each .npz inside it).
    members: int = 4096
    #: A member (and an array inside an .npz) may inflate to at most ``ratio`` times
    #: its compressed size, or to ``min_unpacked`` bytes, whichever is more: the rule
    #: of every compressed stream (cnnstudio.fileio.inflation_cap).
    ratio: int = MAX_INFLATION
    min_unpacked: int = MIN_UNPACKED

    def unpacked(self, compressed: int) -> int:
        """The most bytes a member of ``compressed`` bytes may inflate to."""
        return max(self.min_unpacked, self.ratio * compressed)


DEFAULT_LIMITS = Limits()

_OK_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


def _size_text(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # pragma: no cover


class ZipReader:
    """A read-only view of a zip archive that turns every failure into ``ModelFileError``.

    Parameters
    ----------
    path
        The archive; named in every error message.
    kind
        What the file should be, for messages ("CNN Studio model file").
    limits
        Size limits (see `Limits`).

    Use as a context manager::

        with ZipReader(path, "CNN Studio model file") as z:
            meta = z.read_json("meta.json")
    """

    def __init__(
        self, path: str | os.PathLike[str], kind: str, limits: Limits = DEFAULT_LIMITS
    ) -> None:
        self.path = Path(path)
        self.kind = kind
        self.limits = limits
        self._zip: zipfile.ZipFile | None = None
        self._file: BinaryIO | None = None
        self._infos: dict[str, zipfile.ZipInfo] = {}
        self._read_total = 0

    def error(self, problem: str) -> ModelFileError:
        return ModelFileError(self.path, problem)

    # -- opening ---------------------------------------------------------------------
    def __enter__(self) -> ZipReader:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        # Opening a file is also when the temporaries of its interrupted saves go.
        fileio.sweep_temporaries(self.path)
        try:
            f = fileio.open_regular(self.path)
        except FileNotFoundError:
            raise self.error("file not found") from None
        except fileio.UnsafeFileError as exc:
            if exc.reason.startswith("is a folder"):
                raise self.error(f"is a folder, not a {self.kind}") from None
            raise self.error(f"{exc.reason}; open a {self.kind} instead") from None
        except OSError as exc:
            raise self.error(f"cannot be read ({exc.strerror or exc})") from None
        self._file = f
        try:
            head = f.read(4)
        except OSError as exc:
            self.close()
            raise self.error(f"cannot be read ({exc.strerror or exc})") from None
        if not head.startswith(b"PK"):
            self.close()
            hint = ""
            if head.lstrip()[:1] in (b"{", b"["):
                hint = " (it looks like a JSON file)"
            if not head:
                raise self.error(f"is empty, not a {self.kind}")
            raise self.error(f"is not a {self.kind}{hint}")
        try:
            f.seek(0)
            self._zip = zipfile.ZipFile(f)
            infos = self._zip.infolist()
        except Exception as exc:  # a hostile header can raise almost anything
            self.close()
            raise self.error(f"is damaged: not a readable zip archive ({_short(exc)})") from None
        if len(infos) > self.limits.members:
            self.close()
            raise self.error(f"has {len(infos)} members; a {self.kind} has only a few")
        for info in infos:
            if info.filename in self._infos:
                self.close()
                raise self.error(f"is damaged: it holds two members named {info.filename!r}")
            self._infos[info.filename] = info

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None
        if self._file is not None:
            self._file.close()
            self._file = None

    # -- members ---------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Member names, in archive order."""
        return list(self._infos)

    def has(self, name: str) -> bool:
        return name in self._infos

    def require(self, *names: str) -> None:
        """Raise ``ModelFileError`` naming the first member that is missing."""
        missing = [n for n in names if n not in self._infos]
        if missing:
            which = ", ".join(missing)
            raise self.error(
                f"is incomplete or not a {self.kind}: the member{'s' if len(missing) > 1 else ''}"
                f" {which} {'are' if len(missing) > 1 else 'is'} missing"
            )

    def read(self, name: str, limit: int) -> bytes:
        """The decompressed bytes of member ``name``, at most ``limit`` of them."""
        if self._zip is None:
            raise RuntimeError("ZipReader is not open")
        self.require(name)
        info = self._infos[name]
        if info.flag_bits & 0x1:
            raise self.error(f"{name} is encrypted; CNN Studio files never are")
        if info.compress_type not in _OK_COMPRESSION:
            raise self.error(
                f"is damaged: {name} uses an unsupported compression method ({info.compress_type})"
            )
        if info.file_size > limit:
            raise self.error(
                f"{name} is too large ({_size_text(info.file_size)} uncompressed; "
                f"the limit is {_size_text(limit)})"
            )
        if info.file_size > self.limits.unpacked(info.compress_size):
            raise self.error(_bomb(name, info, self.limits.ratio))
        if self._read_total + info.file_size > self.limits.total_bytes:
            raise self.error(
                f"is too large ({_size_text(self._read_total + info.file_size)} uncompressed; "
                f"the limit is {_size_text(self.limits.total_bytes)})"
            )
        try:
            with self._zip.open(info) as f:
                # Bounded read: a member that lies about its size stops at the limit.
                data = f.read(min(limit, self.limits.unpacked(info.compress_size)) + 1)
        except Exception as exc:  # zlib.error, BadZipFile (CRC), EOFError, ...
            raise self.error(f"is damaged: {name} cannot be read ({_short(exc)})") from None
        if len(data) > limit:
            raise self.error(
                f"{name} is too large (over {_size_text(limit)} uncompressed; "
                f"the limit is {_size_text(limit)})"
            )
        self._read_total += len(data)
        return data

    def read_json(self, name: str) -> Any:
        """Member ``name`` parsed as UTF-8 JSON."""
        data = self.read(name, self.limits.json_bytes)
        return parse_json(data, self.path, name)

    def read_npz(self, name: str, limit: int) -> dict[str, np.ndarray]:
        """Member ``name`` parsed as an ``.npz`` of plain (never pickled) arrays, whose
        arrays hold at most ``limit`` bytes (``limits.weights_bytes``, ...)."""
        data = self.read(name, limit)
        return parse_npz(data, self.path, name, limit, self.limits)


def _bomb(name: str, info: zipfile.ZipInfo, ratio: int) -> str:
    return (
        f"is damaged or not a real CNN Studio file: {name} claims to unpack to "
        f"{_size_text(info.file_size)} from {_size_text(info.compress_size)} (more than "
        f"{ratio} times its size, which real data never does)"
    )


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= 160 else text[:157] + "..."


def parse_json(data: bytes, path: str | os.PathLike[str], member: str) -> Any:
    """Parse ``data`` as JSON; ``ModelFileError`` naming ``path`` and ``member`` otherwise.

    Nesting is bounded (`cnnstudio.fileio.parse_json`), so no JSON makes a loader
    recurse without end.
    """
    try:
        return fileio.parse_json(data)
    except fileio.JsonError as exc:
        raise ModelFileError(path, f"is damaged: {member} is {exc.reason}") from None


def parse_npz(
    data: bytes,
    path: str | os.PathLike[str],
    member: str,
    limit: int,
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, np.ndarray]:
    """Parse the bytes of an ``.npz`` archive into ``{key: array}`` without ever unpickling.

    The arrays may hold ``limit`` bytes together (checked from the declared sizes,
    with ``limits``' inflation ratio per array, before anything is inflated). Each
    ``.npy`` header is read and checked first: object arrays (which NumPy would
    have to unpickle) are refused, and the declared shape must match the bytes that
    are actually there, so a hostile header cannot make us allocate gigabytes.

    Raises
    ------
    ModelFileError
        Naming ``path`` and ``member``, for any problem.
    """

    def fail(problem: str) -> ModelFileError:
        return ModelFileError(path, f"{member} {problem}")

    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except Exception as exc:
        raise fail(f"is damaged: not a readable .npz archive ({_short(exc)})") from None
    if len(infos) > limits.members:
        raise fail(f"holds {len(infos)} arrays; that is more than any model has")
    declared = sum(info.file_size for info in infos)
    if declared > limit:
        # Deflated members could otherwise add up to far more than the .npz itself.
        raise fail(
            f"is too large: its arrays hold {_size_text(declared)} uncompressed "
            f"(the limit is {_size_text(limit)})"
        )
    for info in infos:
        if info.file_size > limits.unpacked(info.compress_size):
            raise ModelFileError(path, _bomb(f"{member}/{info.filename}", info, limits.ratio))
    arrays: dict[str, np.ndarray] = {}
    with zf:
        for info in infos:
            name = info.filename
            if not name.endswith(".npy") or "/" in name or "\\" in name:
                raise fail(f"is damaged: unexpected member {name!r} (only .npy arrays belong here)")
            key = name[:-4]
            if key in arrays:
                raise fail(f"is damaged: it holds two arrays named {key!r}")
            if info.flag_bits & 0x1 or info.compress_type not in _OK_COMPRESSION:
                raise fail(f"is damaged: array {key!r} is encrypted or oddly compressed")
            try:
                with zf.open(info) as f:
                    raw = f.read(info.file_size + 1)  # zipfile stops at the declared size
            except Exception as exc:
                raise fail(f"is damaged: array {key!r} cannot be read ({_short(exc)})") from None
            arrays[key] = _parse_npy(raw, key, fail)
    return arrays


def _parse_npy(raw: bytes, key: str, fail: Any) -> np.ndarray:
    fmt = np.lib.format
    fp = io.BytesIO(raw)
    try:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(fp)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except Exception as exc:
        raise fail(f"is damaged: array {key!r} has a bad header ({_short(exc)})") from None
    if dtype.hasobject:
        raise fail(f"contains a pickled object (array {key!r}), which CNN Studio never loads")
    offset = fp.tell()
    try:
        count = math.prod(int(s) for s in shape)
    except (TypeError, ValueError):
        raise fail(f"is damaged: array {key!r} has a bad shape {shape!r}") from None
    if count < 0 or any(int(s) < 0 for s in shape):
        raise fail(f"is damaged: array {key!r} has a bad shape {shape!r}")
    expected = count * dtype.itemsize
    if len(raw) - offset != expected:
        raise fail(
            f"is damaged: array {key!r} of shape {tuple(shape)} needs {expected} bytes, "
            f"but {len(raw) - offset} are stored"
        )
    try:
        flat = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
        arr = flat.reshape(shape, order="F" if fortran else "C")
    except Exception as exc:  # e.g. a structured dtype that frombuffer refuses
        raise fail(f"is damaged: array {key!r} cannot be decoded ({_short(exc)})") from None
    # A private, writable, native-order copy: callers may keep and modify it.
    return arr.astype(arr.dtype.newbyteorder("="), order="C", copy=True)


# -- writing -------------------------------------------------------------------------
def json_bytes(obj: Any) -> bytes:
    """``obj`` as pretty, UTF-8 JSON (NaN allowed: a diverged training curve still saves).

    Raises
    ------
    cnnstudio.fileio.JsonError
        A ``ValueError`` whose ``reason`` says what is wrong (not JSON data, nested too
        deeply, text that is not valid UTF-8).
    """
    return fileio.dump_json(obj, indent=1)


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """The bytes of ``numpy.savez(**arrays)`` (uncompressed; the outer zip deflates)."""
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]
    return buf.getvalue()


def write_zip_atomic(
    path: str | os.PathLike[str], members: Iterable[tuple[str, bytes]], kind: str
) -> None:
    """Write a zip with ``members`` to ``path`` without ever leaving a half-written file there.

    See `write_atomic`.

    Raises
    ------
    ModelFileError
        When the file cannot be written (folder missing, no permission, disk full).
    """

    def write(f: BinaryIO) -> None:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data in members:
                zf.writestr(name, data)

    write_atomic(path, write, kind)


def write_atomic(
    path: str | os.PathLike[str], write: Callable[[BinaryIO], object], kind: str
) -> None:
    """Call ``write(file)`` on a temporary file, then move it over ``path``.

    `cnnstudio.fileio.write_atomic` does the work (permissions kept, symlinks written
    through, temporaries removed on failure and swept after a crash); this turns its
    errors into ``ModelFileError``.

    Raises
    ------
    ModelFileError
        When the file cannot be written (folder missing, no permission, disk full).
    """
    target = Path(path)
    if target.is_dir():
        raise ModelFileError(target, f"cannot be saved: it is a folder, not a {kind}")
    try:
        fileio.write_atomic(target, write)
    except fileio.UnsafeFileError as exc:
        reason = (
            exc.reason if exc.reason.startswith("cannot") else f"cannot be saved: it {exc.reason}"
        )
        raise ModelFileError(target, reason) from None
    except OSError as exc:
        raise ModelFileError(target, f"cannot be saved ({exc.strerror or exc})") from None
