"""Class numbers from the labels a file holds, checked before anything is sized by them.

A label column that is really an id or a timestamp (``1000000000``) must not make a
loader build one class per number up to it: the classes come from the labels that
occur, and a column with (almost) one value per row is refused with a message.
"""

from __future__ import annotations

import os

import numpy as np

from cnnstudio.data.errors import DatasetError

__all__ = ["DENSE_LABELS", "check_class_count", "number_classes"]

#: Label values below this are class numbers as they are: class k is named "k" even when
#: some numbers do not occur (an MNIST subset without sevens still has ten classes).
DENSE_LABELS = 1024
#: Whole numbers above this are not exact in float32 (CSV labels); no class number is.
_EXACT_LIMIT = 1 << 24


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def check_class_count(
    distinct: int, rows: int, path: str | os.PathLike[str], column: str, advice: str
) -> None:
    """Refuse ``distinct`` classes in ``rows`` rows when most rows have a class of their own.

    A few rows each with their own label are fine (a tiny example file); past
    :data:`DENSE_LABELS` classes, more distinct labels than half the rows means the
    column names rows, not classes.
    """
    if distinct > DENSE_LABELS and distinct > rows // 2:
        raise DatasetError(
            f"{column} holds {_count(distinct, 'different value')} in {_count(rows, 'row')}; "
            f"{advice}",
            path,
        )


def number_classes(
    values: np.ndarray,
    path: str | os.PathLike[str],
    *,
    column: str,
    advice: str,
    renumber: bool,
    unit: str = "row",
) -> tuple[np.ndarray, list[str]]:
    """Class indices and class names for whole, non-negative label ``values`` (at least one).

    Values below :data:`DENSE_LABELS`, or 0, 1, ..., K-1 all present, are the class
    numbers themselves (classes named "0", "1", ...). Larger, sparse values are
    renumbered in order and the classes named by their values when ``renumber`` is
    true (CSV labels such as 1000, 5000), refused otherwise (IDX labels, whose test
    file must number its classes like the training file).

    Raises
    ------
    DatasetError
        Naming ``path`` and ``column``, followed by ``advice``, for values too sparse or
        too large to be class labels, or (almost) one different value per row (``unit``
        names what holds one label: a row, a label).
    """
    n = int(values.size)
    top = int(values.max())
    if top < DENSE_LABELS:
        return values.astype(np.int64), [str(i) for i in range(top + 1)]
    present, inverse = np.unique(values, return_inverse=True)
    d = int(present.size)
    if d > n // 2 or top >= _EXACT_LIMIT or (d != top + 1 and not renumber):
        raise DatasetError(
            f"{column} holds values up to {top:,} ({_count(d, 'different value')} in "
            f"{_count(n, unit)}); {advice}",
            path,
        )
    if d == top + 1:
        return values.astype(np.int64), [str(i) for i in range(d)]
    return inverse.astype(np.int64).reshape(-1), [str(int(v)) for v in present]
