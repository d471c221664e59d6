"""CIFAR-10's binary distribution: ``cifar-10-binary.tar.gz``, or its batch files in a folder.

A batch file is a run of 3,073-byte records: one label byte, then the 32x32 photo as its
red plane, green plane and blue plane (1,024 bytes each, row-major), which is already
one (3, 32, 32) image of a Dataset. ``data_batch_1.bin`` ... ``data_batch_5.bin`` hold
the 50,000 training photos, ``test_batch.bin`` the 10,000 test photos, and
``batches.meta.txt`` the class names, one a line.

Records are read in chunks straight into the one uint8 array the Dataset keeps (about
150 MB for the training set), so loading needs little more memory than the result.

CIFAR-10's Python distribution (``cifar-10-python.tar.gz``, ``data_batch_1`` without
``.bin``) is pickled: it is recognised and refused, never unpickled (unpickling runs
whatever code the file names).
"""

from __future__ import annotations

import os
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from cnnstudio.data.convert import check_memory
from cnnstudio.data.dataset import Dataset, DatasetSplit
from cnnstudio.data.errors import DatasetError, naming
from cnnstudio.data.files import file_error, is_folder, open_data
from cnnstudio.fileio import check_regular, open_regular, read_bounded

__all__ = [
    "CIFAR10_CLASSES",
    "IMAGE_SHAPE",
    "RECORD_BYTES",
    "is_cifar_source",
    "load_cifar",
]

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
IMAGE_SHAPE = (3, 32, 32)
RECORD_BYTES = 1 + 3 * 32 * 32
TRAIN_BATCHES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_BATCH = "test_batch.bin"
META_FILE = "batches.meta.txt"
#: The folders the two distributions unpack into.
BINARY_FOLDER = "cifar-10-batches-bin"
PYTHON_FOLDER = "cifar-10-batches-py"
#: File names of the Python distribution (pickles).
_PICKLED = frozenset({*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"})
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")

#: The official batches.meta.txt is 61 bytes; a label byte numbers at most 256 classes.
_MAX_META_BYTES = 64 << 10
_MAX_CLASSES = 256
_MAX_NAME_CHARS = 100
#: The official archive is 185 MB unpacked; anything much larger is not it.
_MAX_ARCHIVE_BYTES = 512 << 20
_MAX_MEMBERS = 10_000
_CHUNK_RECORDS = 1024

_BINARY_ADVICE = (
    "use the binary distribution instead: cifar-10-binary.tar.gz "
    "(https://www.cs.toronto.edu/~kriz/cifar.html)"
)
_PICKLED_REFUSAL = (
    "this is CIFAR-10's Python distribution, whose files are pickles, which CNN Studio "
    f"never opens (unpickling can run any code); {_BINARY_ADVICE}"
)
_NO_BATCHES = (
    f"holds no CIFAR-10 batches: expected {TRAIN_BATCHES[0]} ... {TRAIN_BATCHES[-1]} and/or "
    f"{TEST_BATCH} (the binary distribution, cifar-10-binary.tar.gz, as it comes or unpacked)"
)


def _is_pickle_header(head: bytes) -> bool:
    """The PROTO opcode of pickle protocols 2-5 (the Python distribution uses 2)."""
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _is_archive_name(name: str) -> bool:
    return name.lower().endswith(_ARCHIVE_SUFFIXES)


def _batch_role(name: str) -> str | None:
    """A batch file's part by its name: "train", "test", or None for any other name."""
    if name in TRAIN_BATCHES:
        return "train"
    if name == TEST_BATCH:
        return "test"
    return None


def _names_in(folder: Path) -> set[str]:
    try:
        with os.scandir(folder) as entries:
            return {e.name for e in entries}
    except OSError as exc:
        raise file_error(exc, folder, folder=True) from exc


def _batch_folder(folder: Path) -> Path:
    """``folder``, or its ``cifar-10-batches-bin`` subfolder when the batches are in there."""
    names = _names_in(folder)
    if not any(_batch_role(n) for n in names) and BINARY_FOLDER in names:
        inner = folder / BINARY_FOLDER
        if is_folder(inner):
            return inner
    return folder


def is_cifar_source(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is for :func:`load_cifar`: a folder holding CIFAR-10 batch files
    (binary or pickled, or the folder they unpack into), a ``.tar.gz``/``.tgz``/``.tar``
    archive, a ``.bin`` file, or a pickled batch by its name (to be refused by name).

    Never raises: a path that cannot be examined is not a CIFAR-10 source.
    """
    p = Path(path)
    try:
        if p.is_dir():
            names = _names_in(p)
            return bool(
                any(_batch_role(n) for n in names)
                or names & _PICKLED
                or names & {BINARY_FOLDER, PYTHON_FOLDER}
            )
        if not p.exists():
            return False
    except (OSError, DatasetError):
        return False
    name = p.name.lower()
    return _is_archive_name(name) or name.endswith(".bin") or p.name in _PICKLED


# -- reading records ------------------------------------------------------------------


@dataclass
class _Part:
    """The records of one part (training or test) as they are read: images and labels
    grow together, in place, so no second copy of the part is ever made."""

    images: np.ndarray = field(default_factory=lambda: np.empty((0, 3 * 32 * 32), np.uint8))
    labels: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint8))
    count: int = 0
    #: (file, first record, end record) of each batch, for naming the file of a bad label.
    batches: list[tuple[str, int, int]] = field(default_factory=list)

    def reserve(self, n: int) -> None:
        if n > self.images.shape[0]:
            self.images.resize((n, self.images.shape[1]), refcheck=False)
            self.labels.resize(n, refcheck=False)

    def finish(self) -> None:
        self.images.resize((self.count, self.images.shape[1]), refcheck=False)
        self.labels.resize(self.count, refcheck=False)


def _read_records(
    f: IO[bytes], part: _Part, records: int, where: str, *, claimed: bool = False
) -> None:
    """Append ``records`` records read from ``f`` to ``part``.

    ``claimed`` says that ``records`` comes from an archive header, not from the size of a
    file on disk: room is then made as the data arrives (doubling, up to the claim), so a
    small archive claiming a huge member allocates little before it runs out.
    """
    start = part.count
    end = start + records
    if not claimed:
        part.reserve(end)
    chunk = np.empty((min(_CHUNK_RECORDS, max(records, 1)), RECORD_BYTES), np.uint8)
    view = chunk.data.cast("B")
    while part.count < end:
        want = min(_CHUNK_RECORDS, end - part.count)
        got = _fill(f, view[: want * RECORD_BYTES])
        if got < want * RECORD_BYTES:
            done = (part.count - start) * RECORD_BYTES + got
            record = part.count - start + got // RECORD_BYTES + 1
            raise DatasetError(
                f"ends after {done:,} bytes, inside record {record:,} of the {records:,} its "
                "size announces; the file is truncated: download it again",
                where,
            )
        if claimed:
            part.reserve(min(end, max(2 * part.images.shape[0], part.count + want)))
        part.images[part.count : part.count + want] = chunk[:want, 1:]
        part.labels[part.count : part.count + want] = chunk[:want, 0]
        part.count += want
    part.batches.append((where, start, end))


def _fill(f: IO[bytes], buffer: memoryview) -> int:
    """Read into ``buffer`` until it is full or the stream ends; the bytes read."""
    got = 0
    while got < len(buffer):
        n = f.readinto(buffer[got:])  # type: ignore[attr-defined]
        if not n:
            break
        got += n
    return got


def _head(f: Any) -> bytes:
    """The first two bytes of a buffered stream, left to be read again."""
    return bytes(f.peek(2)[:2])


def _records_in(size: int, head: bytes, where: str) -> int:
    """The number of records a batch of ``size`` bytes starting with ``head`` holds."""
    if _is_pickle_header(head):
        raise DatasetError(_PICKLED_REFUSAL, where)
    if size == 0:
        raise DatasetError(
            "is empty (0 bytes); a CIFAR-10 batch holds 10,000 records of 3,073 bytes: "
            "download it again",
            where,
        )
    if size % RECORD_BYTES:
        raise DatasetError(
            f"is {size:,} bytes, not a whole number of 3,073-byte CIFAR-10 records (a label "
            f"byte, then 3,072 pixel bytes): {size // RECORD_BYTES:,} records and "
            f"{size % RECORD_BYTES:,} bytes over. The file is truncated or not a CIFAR-10 "
            "batch: download it again",
            where,
        )
    return size // RECORD_BYTES


def _read_batch_file(path: Path, part: _Part) -> None:
    try:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            records = _records_in(size, _head(f), str(path))
            _read_records(f, part, records, str(path))
    except OSError as exc:
        raise file_error(exc, path) from exc


def _read_meta(path: Path) -> tuple[bytes, str]:
    try:
        return read_bounded(path, _MAX_META_BYTES), str(path)
    except OSError as exc:
        raise file_error(exc, path) from exc


# -- class names ----------------------------------------------------------------------


def _class_names(data: bytes, where: str) -> list[str]:
    """The class names of a ``batches.meta.txt``: one a line, blank lines at the end ignored."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DatasetError(
            "is not UTF-8 text; it should hold one class name a line (airplane, automobile, ...)",
            where,
        ) from None
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise DatasetError("names no classes; it should hold one class name a line", where)
    if len(lines) > _MAX_CLASSES:
        raise DatasetError(
            f"holds {len(lines):,} lines, but a CIFAR label byte can only number "
            f"{_MAX_CLASSES} classes; is it the right file?",
            where,
        )
    for number, name in enumerate(lines, 1):
        if not name:
            raise DatasetError(f"line {number} is blank: every class needs a name", where)
        if len(name) > _MAX_NAME_CHARS or not name.isprintable():
            shown = name[:40].encode("unicode_escape").decode("ascii")
            raise DatasetError(
                f"line {number} ({shown!r}{'...' if len(name) > 40 else ''}) is not a class "
                f"name: at most {_MAX_NAME_CHARS} printable characters",
                where,
            )
    seen: dict[str, int] = {}
    for number, name in enumerate(lines, 1):
        if name in seen:
            raise DatasetError(
                f"class {name!r} is named twice (lines {seen[name]} and {number}); "
                "every class needs its own name",
                where,
            )
        seen[name] = number
    return lines


def _check_labels(part: _Part, names: list[str], names_from: str) -> None:
    for where, start, end in part.batches:
        if end > start:
            top = int(part.labels[start:end].max())
            if top >= len(names):
                raise DatasetError(
                    f"holds label {top}, but {names_from} names only {len(names)} classes "
                    f"(labels 0-{len(names) - 1}); is this a CIFAR-10 batch?",
                    where,
                )


def _dataset(part: _Part, names: list[str], name: str, source: str) -> Dataset:
    part.finish()
    images = part.images.reshape(part.count, *IMAGE_SHAPE)
    with naming(source):
        return Dataset(images, part.labels, names, name=name, source=source)


def _split(
    train: _Part,
    test: _Part,
    meta: tuple[bytes, str] | None,
    title: str,
    source: str,
) -> DatasetSplit:
    names = list(CIFAR10_CLASSES) if meta is None else _class_names(*meta)
    names_from = "CIFAR-10" if meta is None else META_FILE
    for part in (train, test):
        _check_labels(part, names, names_from)
    if not train.batches:
        # Only the test batch (to evaluate a model): it is the whole dataset.
        return DatasetSplit(train=_dataset(test, names, f"{title} (test batch)", source))
    if not test.batches:
        return DatasetSplit(train=_dataset(train, names, title, source))
    tr = _dataset(train, names, f"{title} (training)", source)
    return DatasetSplit(train=tr, test=_dataset(test, names, f"{title} (test)", source))


# -- sources --------------------------------------------------------------------------


def _load_folder(folder: Path) -> DatasetSplit:
    folder = _batch_folder(folder)
    names = _names_in(folder)
    train_files = [folder / n for n in TRAIN_BATCHES if n in names]
    test_files = [folder / TEST_BATCH] if TEST_BATCH in names else []
    if not train_files and not test_files:
        if names & _PICKLED or PYTHON_FOLDER in names:
            raise DatasetError(_PICKLED_REFUSAL, folder)
        raise DatasetError(_NO_BATCHES, folder)
    sizes = []
    for f in train_files + test_files:
        try:
            sizes.append(check_regular(f))
        except OSError as exc:
            raise file_error(exc, f) from exc
    check_memory(sum(s // RECORD_BYTES for s in sizes), IMAGE_SHAPE, str(folder))
    train, test = _Part(), _Part()
    for f in train_files:
        _read_batch_file(f, train)
    for f in test_files:
        _read_batch_file(f, test)
    meta = _read_meta(folder / META_FILE) if META_FILE in names else None
    return _split(train, test, meta, folder.name, str(folder))


def _load_batch(path: Path) -> DatasetSplit:
    """One batch file given on its own: the training part, or the test batch alone."""
    if path.name in _PICKLED:
        raise DatasetError(_PICKLED_REFUSAL, path)
    part = _Part()
    _read_batch_file(path, part)
    meta_path = path.parent / META_FILE
    meta = _read_meta(meta_path) if os.path.lexists(meta_path) else None
    return _split(part, _Part(), meta, f"{path.parent.name}/{path.name}", str(path))


def _archive_title(path: Path) -> str:
    return re.sub(r"(\.tar\.gz|\.tgz|\.tar)$", "", path.name, flags=re.IGNORECASE)


def _load_archive(path: Path) -> DatasetSplit:
    """Stream the archive's members once, reading the batches as they come; nothing is
    written to disk and at most ``_MAX_ARCHIVE_BYTES`` are unpacked."""
    where = str(path)
    if "cifar-10-python" in path.name.lower():
        raise DatasetError(_PICKLED_REFUSAL, path)
    stream, _, _ = open_data(path, limit=_MAX_ARCHIVE_BYTES)
    train, test = _Part(), _Part()
    meta: tuple[bytes, str] | None = None
    seen: dict[str, str] = {}
    pickled = images = members = 0
    with stream:
        try:
            with tarfile.open(fileobj=stream, mode="r|", bufsize=1 << 20) as tar:
                for member in tar:
                    members += 1
                    if members > _MAX_MEMBERS:
                        raise _not_batches(path, pickled, images, many=True)
                    base = member.name.rstrip("/").rsplit("/", 1)[-1]
                    role = _batch_role(base)
                    if base in _PICKLED or PYTHON_FOLDER in member.name:
                        pickled += 1
                    if base.lower().endswith((".jpg", ".jpeg", ".png")):
                        images += 1
                    if role is None and base != META_FILE:
                        continue
                    inside = f"{where}: {member.name}"
                    if not member.isfile():
                        raise DatasetError(
                            "is not a regular file in the archive (a link, a folder or a "
                            "device entry); the CIFAR-10 archive holds plain files",
                            inside,
                        )
                    if base in seen:
                        raise DatasetError(
                            f"the archive holds {base} twice ({seen[base]} and {member.name}); "
                            "keep one",
                            path,
                        )
                    seen[base] = member.name
                    f = tar.extractfile(member)
                    assert f is not None  # a regular file's member
                    if base == META_FILE:
                        if member.size > _MAX_META_BYTES:
                            raise DatasetError(
                                f"is {member.size:,} bytes, far more than a list of class "
                                "names; is it the right file?",
                                inside,
                            )
                        meta = (f.read(_MAX_META_BYTES), inside)
                        continue
                    records = _records_in(member.size, _head(f), inside)
                    check_memory(train.count + test.count + records, IMAGE_SHAPE, where)
                    part = train if role == "train" else test
                    _read_records(f, part, records, inside, claimed=True)
        except (tarfile.TarError, EOFError) as exc:
            raise DatasetError(
                f"the archive is damaged or truncated ({exc}); download it again", path
            ) from exc
        except OSError as exc:
            raise file_error(exc, path) from exc
    if not train.batches and not test.batches:
        raise _not_batches(path, pickled, images)
    return _split(train, test, meta, _archive_title(path), where)


def _not_batches(path: Path, pickled: int, images: int, *, many: bool = False) -> DatasetError:
    """Why an archive is not CIFAR-10's binary distribution, from what it was seen to hold."""
    if pickled:
        return DatasetError(_PICKLED_REFUSAL, path)
    if images:
        return DatasetError(
            f"the archive holds {'many ' if many else ''}images, not CIFAR-10 batches: unpack "
            "it and open the folder of class folders instead",
            path,
        )
    if many:
        return DatasetError(
            f"the archive holds more than {_MAX_MEMBERS:,} entries, so it is not CIFAR-10's "
            "binary distribution (cifar-10-binary.tar.gz, which holds a few files)",
            path,
        )
    return DatasetError(_NO_BATCHES, path)


def load_cifar(path: str | os.PathLike[str]) -> DatasetSplit:
    """Load CIFAR-10's binary distribution.

    Parameters
    ----------
    path
        ``cifar-10-binary.tar.gz`` itself (or any ``.tar.gz``/``.tgz``/``.tar`` holding the
        batches); a folder holding some or all of ``data_batch_1.bin`` ...
        ``data_batch_5.bin`` and ``test_batch.bin`` (or holding the
        ``cifar-10-batches-bin`` folder they unpack into); or one batch file.

    Returns
    -------
    DatasetSplit
        ``train`` (the data batches, in order; in an archive, in the archive's order) and
        ``test`` (the test batch) when both are there. With only the test batch, or one
        batch file, that batch is ``train`` and there is no ``test``. Images are uint8
        (N, 3, 32, 32); class names come from ``batches.meta.txt`` when it is there,
        else CIFAR-10's ten names.

    Raises
    ------
    DatasetError
        Naming the file: a batch whose length is not a whole number of records or that
        ends early, a label without a class name, a ``batches.meta.txt`` that is not a
        list of names, a folder or archive without batches, a path that is not a regular
        file (a FIFO, a device), a damaged archive, and CIFAR-10's Python distribution
        (pickles), which is refused and never unpickled.
    """
    p = Path(path)
    if is_folder(p):
        return _load_folder(p)
    if _is_archive_name(p.name):
        return _load_archive(p)
    return _load_batch(p)
