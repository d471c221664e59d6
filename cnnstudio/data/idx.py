"""IDX files, the format MNIST, Fashion-MNIST, KMNIST and EMNIST are distributed in.

An IDX file is a 4-byte magic number (two zero bytes, a type byte, the number of
dimensions), one big-endian uint32 per dimension, then the values row-major.
Images are ``idx3`` (count, rows, columns) and labels ``idx1`` (count), both
unsigned bytes; either may be gzip-compressed (``.gz``).
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from cnnstudio.data.convert import MAX_DATASET_BYTES
from cnnstudio.data.dataset import Dataset, DatasetSplit
from cnnstudio.data.errors import DatasetError

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


_GZIP_ERRORS = (EOFError, OSError, zlib.error)


def _open(path: Path) -> BinaryIO:
    """The file, decompressing on the fly if it is gzip (whatever its name)."""
    try:
        with open(path, "rb") as f:
            magic = f.read(2)
        if magic == b"\x1f\x8b":
            return gzip.open(path, "rb")  # type: ignore[return-value]
        return open(path, "rb")
    except FileNotFoundError as exc:
        raise DatasetError("file not found", path) from exc
    except OSError as exc:
        raise DatasetError(f"cannot read the file ({exc.strerror or exc})", path) from exc


def _read_exactly(f: BinaryIO, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = f.read(n - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_idx(path: str | Path, *, expect_ndim: int | None = None) -> np.ndarray:
    """Read one IDX file (plain or gzip) into an array, validating everything.

    The values are streamed straight into the result, so loading needs little
    more memory than the array itself.

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
        For a wrong magic number, an unknown type, a truncated or over-long file,
        a damaged gzip stream, or a header announcing more than 2 GB.
    """
    path = Path(path)
    try:
        with _open(path) as f:
            return _read_idx_stream(f, path, expect_ndim)
    except _GZIP_ERRORS as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(
            f"the gzip-compressed file is damaged or truncated ({exc}); download it again", path
        ) from exc


def _read_idx_stream(f: BinaryIO, path: Path, expect_ndim: int | None) -> np.ndarray:
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
    dims = tuple(int(d) for d in np.frombuffer(raw_dims, dtype=">u4"))
    dtype_spec, type_name = _TYPES[type_code]
    dtype = np.dtype(dtype_spec)  # type: ignore[call-overload]
    announced = f"{' x '.join(map(str, dims))} {type_name} values"
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if expected > MAX_DATASET_BYTES:
        raise DatasetError(
            f"the header announces {announced} ({expected / 1024**3:.1f} GB), more than the "
            f"{MAX_DATASET_BYTES / 1024**3:.0f} GB CNN Studio loads; is the file damaged?",
            path,
        )
    buffer = np.empty(expected, dtype=np.uint8)
    view = memoryview(buffer)  # type: ignore[arg-type]
    found = 0
    while found < expected:
        # Small pieces: GzipFile.readinto reads into a temporary of the requested size.
        n = f.readinto(view[found : found + (1 << 20)])  # type: ignore[attr-defined]
        if not n:
            break
        found += n
    if found < expected:
        raise DatasetError(
            f"file is truncated: the header announces {announced} ({expected} bytes) but only "
            f"{found} bytes follow; download it again",
            path,
        )
    extra = len(f.read(1 << 16))
    if extra:
        more = f"{extra}" if extra < (1 << 16) else "at least 65536"
        raise DatasetError(
            f"file has {more} bytes more than its header announces ({announced}); "
            "it is not a valid IDX file",
            path,
        )
    data = buffer.view(dtype).reshape(dims)
    if dtype.byteorder == ">":
        data = data.astype(dtype.newbyteorder("="))
    return data


def _known_names_for(*paths: Path) -> list[str] | None:
    text = " ".join(str(p).lower() for p in paths)
    if "fashion" in text:
        return KNOWN_CLASS_NAMES["fashion-mnist"]
    if "kmnist" in text or "kuzushiji" in text:
        return KNOWN_CLASS_NAMES["kmnist"]
    return None


def _emnist_mapping(images_path: Path) -> list[str] | None:
    """Class names from EMNIST's ``*-mapping.txt`` ("label ascii [ascii]" a line), if beside."""
    m = re.match(r"(emnist-[a-z]+)-", images_path.name.lower())
    if not m:
        return None
    mapping = images_path.parent / f"{m.group(1)}-mapping.txt"
    if not mapping.is_file():
        return None
    table: dict[int, str] = {}
    try:
        for line in mapping.read_text(encoding="ascii").splitlines():
            parts = line.split()
            if len(parts) >= 2:
                table[int(parts[0])] = chr(int(parts[1]))
    except (OSError, ValueError):
        return None
    if not table:
        return None
    return [table.get(i, f"class {i}") for i in range(max(table) + 1)]


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
    if transpose is None:
        transpose = images_path.name.lower().startswith("emnist")
    if transpose:
        images = np.ascontiguousarray(images.transpose(0, 2, 1))
    n_labels = int(labels.max()) + 1
    if class_names is None:
        class_names = _emnist_mapping(images_path) or _known_names_for(images_path)
        if class_names is not None and len(class_names) < n_labels:
            class_names = None
        if class_names is None:
            class_names = [str(i) for i in range(n_labels)]
    class_names = list(class_names)
    if len(class_names) < n_labels:
        raise DatasetError(
            f"labels go up to {n_labels - 1} but only {len(class_names)} class names were given",
            labels_path,
        )
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
    for p in sorted(directory.iterdir()):
        if not p.is_file():
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
    if not directory.is_dir():
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
