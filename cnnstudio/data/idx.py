"""IDX files, the format MNIST, Fashion-MNIST, KMNIST and EMNIST are distributed in.

An IDX file is a 4-byte magic number (two zero bytes, a type byte, the number of
dimensions), one big-endian uint32 per dimension, then the values row-major.
Images are ``idx3`` (count, rows, columns) and labels ``idx1`` (count), both
unsigned bytes; either may be gzip-compressed (``.gz``).
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from cnnstudio.data.convert import MAX_DATASET_BYTES
from cnnstudio.data.dataset import Dataset, DatasetSplit
from cnnstudio.data.errors import DatasetError, naming
from cnnstudio.data.files import file_error, is_folder, open_data
from cnnstudio.data.labels import number_classes
from cnnstudio.fileio import read_bounded

__all__ = [
    "KNOWN_CLASS_NAMES",
    "find_idx_pairs",
    "load_idx",
    "load_idx_dir",
    "read_idx",
]

_TYPES = {
    0x08: (np.uint8, "unsigned byte"),
    0x09: (np.int8, "signed byte"),
    0x0B: (np.dtype(">i2"), "short"),
    0x0C: (np.dtype(">i4"), "int"),
    0x0D: (np.dtype(">f4"), "float"),
    0x0E: (np.dtype(">f8"), "double"),
}

#: Class names of well-known IDX datasets, recognised from the file or folder name.
KNOWN_CLASS_NAMES: dict[str, list[str]] = {
    "fashion-mnist": (
        "T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot".split(",")
    ),
    "kmnist": ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
    "mnist": [str(d) for d in range(10)],
}


#: A mapping file beside EMNIST's files is a few hundred bytes; more is not one.
_MAX_MAPPING_BYTES = 1 << 20
_LABELS_ADVICE = "labels must number the classes 0, 1, 2, ...; is this the right labels file?"


def read_idx(path: str | Path, *, expect_ndim: int | None = None) -> np.ndarray:
    """Read one IDX file (plain or gzip) into an array, validating everything.

    The header's sizes are checked (in Python integers, which cannot overflow) against
    the 2 GB limit and, for a plain file, against the file's length before anything is
    allocated; a gzip file's values are streamed into an array that grows as they
    arrive, so a short file announcing a large array allocates little.

    Parameters
    ----------
    path
        The file.
    expect_ndim
        3 for an images file, 1 for a labels file; None accepts any.

    Returns
    -------
    numpy.ndarray
        Native-endian array of the file's shape; uint8 for MNIST-style files.

    Raises
    ------
    DatasetError
        Naming the file: a wrong magic number, an unknown type, a truncated or
        over-long file, a damaged gzip stream, a header announcing more than 2 GB, or a
        path that is not a regular file (a folder, a FIFO, a device).
    """
    path = Path(path)
    stream, gz, size = open_data(path, limit=MAX_DATASET_BYTES + (1 << 20))
    with stream as f:
        return _read_idx_stream(f, path, expect_ndim, None if gz else size)


def _read_exactly(f: BinaryIO, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = f.read(n - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _read_idx_stream(
    f: BinaryIO, path: Path, expect_ndim: int | None, file_size: int | None
) -> np.ndarray:
    magic = _read_exactly(f, 4)
    if len(magic) < 4:
        raise DatasetError(f"not an IDX file: only {len(magic)} bytes long", path)
    zero, zero2, type_code, ndim = magic
    if zero or zero2 or type_code not in _TYPES or ndim == 0:
        raise DatasetError(
            f"not an IDX file: wrong magic number 0x{magic.hex()} (expected 0x00000801 for "
            "labels or 0x00000803 for images)",
            path,
        )
    if expect_ndim is not None and ndim != expect_ndim:
        kind = "images (idx3)" if expect_ndim == 3 else "labels (idx1)"
        raise DatasetError(
            f"expected an {kind} file but this IDX file has {ndim} dimensions "
            f"(magic number 0x{magic.hex()}); are the images and labels files swapped?",
            path,
        )
    raw_dims = _read_exactly(f, 4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DatasetError(f"file is truncated inside its header ({4 + len(raw_dims)} bytes)", path)
    dims = struct.unpack(f">{ndim}I", raw_dims)
    dtype_spec, type_name = _TYPES[type_code]
    dtype = np.dtype(dtype_spec)  # type: ignore[call-overload]
    announced = f"{' x '.join(map(str, dims))} {type_name} values"
    expected = math.prod(dims) * dtype.itemsize  # Python integers: no overflow
    if expected > MAX_DATASET_BYTES:
        raise DatasetError(
            f"the header announces {announced} ({expected / 1024**3:.1f} GB), more than the "
            f"{MAX_DATASET_BYTES / 1024**3:.0f} GB CNN Studio loads; is the file damaged?",
            path,
        )
    header = 4 + 4 * ndim
    if file_size is not None and file_size != header + expected:
        _wrong_length(path, announced, expected, file_size - header)
    buffer = _read_values(f, expected, grow=file_size is None)
    found = buffer.size
    if found < expected:
        _wrong_length(path, announced, expected, found)
    if file_size is None:
        extra = len(f.read(1 << 16))
        if extra:
            _wrong_length(path, announced, expected, expected + extra, at_least=extra >= 1 << 16)
    data = buffer.view(dtype).reshape(dims)
    if dtype.byteorder == ">":
        data = data.astype(dtype.newbyteorder("="))
    return data


def _read_values(f: BinaryIO, expected: int, *, grow: bool) -> np.ndarray:
    """Up to ``expected`` bytes of ``f`` as uint8 (fewer if the file ends first).

    With ``grow`` (a gzip stream, whose length is unknown) the array starts small and
    doubles as data arrives, so a short file announcing a large array allocates little.
    """
    buffer = np.empty(min(expected, 1 << 24) if grow else expected, dtype=np.uint8)
    found = 0
    while found < expected:
        if found == buffer.size:
            buffer.resize(min(expected, 2 * buffer.size), refcheck=False)
        # Small pieces: GzipFile.readinto reads into a temporary of the requested size.
        stop = min(buffer.size, found + (1 << 20))
        # Views released at once: an array with a live buffer export cannot be resized.
        with memoryview(buffer) as whole, whole[found:stop] as piece:  # type: ignore[arg-type]
            n = f.readinto(piece)  # type: ignore[attr-defined]
        if not n:
            break
        found += n
    if found < buffer.size:
        buffer.resize(found, refcheck=False)
    return buffer


def _wrong_length(
    path: Path, announced: str, expected: int, found: int, *, at_least: bool = False
) -> None:
    if found < expected:
        raise DatasetError(
            f"file is truncated: the header announces {announced} ({expected} bytes) but only "
            f"{found} bytes follow; download it again",
            path,
        )
    more = f"{'at least ' if at_least else ''}{found - expected}"
    raise DatasetError(
        f"file has {more} bytes more than its header announces ({announced}); "
        "it is not a valid IDX file",
        path,
    )


def _known_names_for(*paths: Path) -> list[str] | None:
    text = " ".join(str(p).lower() for p in paths)
    if "fashion" in text:
        return KNOWN_CLASS_NAMES["fashion-mnist"]
    if "kmnist" in text or "kuzushiji" in text:
        return KNOWN_CLASS_NAMES["kmnist"]
    return None


def _emnist_mapping(images_path: Path, count: int) -> list[str] | None:
    """Names of classes 0..count-1 from EMNIST's ``*-mapping.txt`` ("label code" a line).

    None when there is no such file beside the images, it is unreadable, or it names
    no class at or above ``count - 1`` (a mapping for another dataset). Lines for labels
    outside the dataset or with codes that are no character are ignored.
    """
    m = re.match(r"(emnist-[a-z]+)-", images_path.name.lower())
    if not m:
        return None
    mapping = images_path.parent / f"{m.group(1)}-mapping.txt"
    try:
        text = read_bounded(mapping, _MAX_MAPPING_BYTES).decode("ascii")
    except (OSError, UnicodeDecodeError):
        return None
    table: dict[int, str] = {}
    for line in text.splitlines():
        parts = line.split()
        try:
            label, code = int(parts[0]), int(parts[1])
        except (IndexError, ValueError):  # also numbers too long to convert
            continue
        if 0 <= label < count and 0 < code <= 0x10FFFF and chr(code).isprintable():
            table[label] = chr(code)
    if not table or max(table) + 1 < count:
        return None
    return [table.get(i, f"class {i}") for i in range(count)]


def load_idx(
    images_path: str | Path,
    labels_path: str | Path,
    *,
    class_names: Sequence[str] | None = None,
    transpose: bool | None = None,
    name: str | None = None,
) -> Dataset:
    """Load an IDX images file and its labels file as a grayscale :class:`Dataset`.

    Parameters
    ----------
    images_path, labels_path
        The ``*images*idx3-ubyte`` and ``*labels*idx1-ubyte`` files (plain or ``.gz``).
    class_names
        One name per label value. By default: Fashion-MNIST's or KMNIST's names when
        the file or folder name says so, EMNIST's ``*-mapping.txt`` when it lies
        beside the files, else the label numbers as text.
    transpose
        Swap rows and columns of every image. EMNIST stores its images transposed;
        None does this for files whose name starts with ``emnist``.
    name
        Display name; by default the images file's folder and name.

    Raises
    ------
    DatasetError
        Naming the file: bad magic number, non-byte data, truncation, or a
        label/image count mismatch, or labels without a class name.
    """
    images_path, labels_path = Path(images_path), Path(labels_path)
    images = read_idx(images_path, expect_ndim=3)
    labels = read_idx(labels_path, expect_ndim=1)
    if images.dtype != np.uint8:
        raise DatasetError(
            f"images must be unsigned bytes (IDX type 0x08), this file holds {images.dtype}",
            images_path,
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(f"labels must be integers, this file holds {labels.dtype}", labels_path)
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(
            f"the images file holds {images.shape[0]} images but the labels file "
            f"{labels_path.name} holds {labels.shape[0]} labels; they must be a matching pair",
            images_path,
        )
    if images.shape[0] == 0:
        raise DatasetError("the file holds no images", images_path)
    if labels.min() < 0:
        raise DatasetError(f"negative label {labels.min()}", labels_path)
    if class_names is not None:
        class_names = list(class_names)
        if int(labels.max()) >= len(class_names):
            raise DatasetError(
                f"labels go up to {int(labels.max())} but only {len(class_names)} class names "
                "were given",
                labels_path,
            )
    else:
        # Checked before any list is sized by the largest label (2^31-1 in 12 bytes).
        _, class_names = number_classes(
            labels,
            labels_path,
            column="the labels file",
            advice=_LABELS_ADVICE,
            renumber=False,
            unit="label",
        )
        known = _emnist_mapping(images_path, len(class_names)) or _known_names_for(images_path)
        if known is not None and len(known) >= len(class_names):
            class_names = list(known)
    if transpose is None:
        transpose = images_path.name.lower().startswith("emnist")
    if transpose:
        images = np.ascontiguousarray(images.transpose(0, 2, 1))
    with naming(images_path):
        return Dataset(
            images[:, None],
            labels.astype(np.int64),
            class_names,
            name=name or f"{images_path.parent.name}/{images_path.name}",
            source=str(images_path),
        )


_IMAGES_RE = re.compile(r"images?[-_.]?idx3[-_.]ubyte(\.gz)?$", re.IGNORECASE)
_LABELS_RE = re.compile(r"labels?[-_.]?idx1[-_.]ubyte(\.gz)?$", re.IGNORECASE)


def _pair_key(name: str) -> str:
    """The name with the images/labels words removed, so a pair's two files share a key."""
    key = name.lower()
    key = re.sub(r"\.gz$", "", key)
    key = re.sub(r"(images?|labels?)[-_.]?idx[13][-_.]ubyte$", "", key)
    return key


def find_idx_pairs(directory: str | Path) -> list[tuple[Path, Path]]:
    """Find (images, labels) IDX file pairs in a folder (not recursive), sorted by name.

    Files pair up by their name without the ``images``/``labels`` part, so
    ``train-images-idx3-ubyte.gz`` pairs with ``train-labels-idx1-ubyte.gz``
    and ``t10k-...`` with ``t10k-...``.
    """
    directory = Path(directory)
    images: dict[str, Path] = {}
    labels: dict[str, Path] = {}
    try:
        entries = sorted(directory.iterdir())
    except OSError as exc:
        raise file_error(exc, directory, folder=True) from exc
    for p in entries:
        try:
            if not p.is_file():
                continue
        except OSError:  # not even its kind can be found out: not a usable file
            continue
        if _IMAGES_RE.search(p.name):
            images.setdefault(_pair_key(p.name), p)
        elif _LABELS_RE.search(p.name):
            labels.setdefault(_pair_key(p.name), p)
    pairs = [(images[k], labels[k]) for k in sorted(images) if k in labels]
    if not pairs and len(images) == 1 and len(labels) == 1:
        # Oddly named but unambiguous: one images file and one labels file.
        pairs = [(next(iter(images.values())), next(iter(labels.values())))]
    return pairs


def load_idx_dir(
    directory: str | Path,
    *,
    class_names: Sequence[str] | None = None,
) -> DatasetSplit:
    """Load a folder of IDX files: one pair, or a training pair and a test pair.

    A ``train`` pair and a ``t10k``/``test`` pair (as MNIST, Fashion-MNIST, KMNIST
    and EMNIST are downloaded) become ``DatasetSplit(train, test)``; a single pair
    becomes ``DatasetSplit(train)``.

    Raises
    ------
    DatasetError
        If there is no matching pair, an unpaired file, or pairs that cannot be
        told apart, and for any problem with the files themselves.
    """
    directory = Path(directory)
    if not is_folder(directory):
        raise DatasetError("not a folder", directory)
    pairs = find_idx_pairs(directory)
    if not pairs:
        raise DatasetError(
            "no matching IDX pair found: expected one '*images*idx3-ubyte' file and one "
            "'*labels*idx1-ubyte' file (plain or .gz)",
            directory,
        )
    names = class_names if class_names is not None else _known_names_for(directory)
    if len(pairs) == 1:
        return DatasetSplit(train=load_idx(*pairs[0], class_names=names))
    train = [p for p in pairs if "train" in p[0].name.lower()]
    test = [p for p in pairs if re.search(r"t10k|test", p[0].name.lower())]
    if len(train) != 1 or len(test) != 1 or train[0] == test[0]:
        listed = ", ".join(p[0].name for p in pairs)
        raise DatasetError(
            f"found {len(pairs)} IDX pairs ({listed}) and cannot tell which is for training; "
            "keep one training pair and at most one test pair in the folder, or open the "
            "two files explicitly",
            directory,
        )
    prefix = directory.name
    tr = load_idx(*train[0], class_names=names, name=f"{prefix} (training)")
    te = load_idx(*test[0], class_names=tr.class_names, name=f"{prefix} (test)")
    if te.input_shape != tr.input_shape:
        raise DatasetError(
            f"the training images are {tr.input_shape[1]}x{tr.input_shape[2]} but the test "
            f"images are {te.input_shape[1]}x{te.input_shape[2]}",
            test[0][0],
        )
    return DatasetSplit(train=tr, test=te)
