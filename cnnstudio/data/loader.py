"""One dispatch for datasets: ``--data`` on the command line and the Train view's Source.

:func:`load_source` loads a source of a known kind (the Train view's picker, a
project's saved choice); :func:`load_dataset` first tells the kind of a name or path
(``--data``) with :func:`describe_spec`, then loads it the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnnstudio.data.builtin import BUILTIN_DATASETS, load_builtin
from cnnstudio.data.cifar import is_cifar_source, load_cifar
from cnnstudio.data.csvfile import load_csv
from cnnstudio.data.dataset import DatasetSplit
from cnnstudio.data.errors import DatasetError
from cnnstudio.data.files import file_error, is_folder
from cnnstudio.data.folder import is_image_folder, load_image_folder_split
from cnnstudio.data.idx import find_idx_pairs, load_idx, load_idx_dir
from cnnstudio.fileio import check_regular

__all__ = ["SOURCE_KINDS", "describe_spec", "load_dataset", "load_source"]

#: Kinds of dataset source: a built-in sample, an IDX folder or file, a folder of class
#: folders, a CSV file, the user's own drawn samples (a ``data.SampleCollection``), or
#: CIFAR-10's binary batches (a folder, one batch, or cifar-10-binary.tar.gz).
SOURCE_KINDS = ("builtin", "idx", "folder", "csv", "samples", "cifar")

_HELP = (
    "give 'mnist-sample' or 'cifar10-sample', a folder of IDX files (e.g. "
    "train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz), a folder with one subfolder "
    "of images per class, CIFAR-10's binary batches (cifar-10-binary.tar.gz or its folder), "
    "or a .csv / .csv.gz file"
)


def describe_spec(spec: str | Path) -> str:
    """What kind of source ``spec`` names: "builtin", "idx", "folder", "csv", "cifar" or
    "unknown".

    A path that exists but is no regular file (a FIFO named ``x.csv``, say) is told by
    its name, so that its loader refuses it with a message saying what it is.

    Raises
    ------
    DatasetError
        For a path that cannot be examined (no permission) or a folder that cannot be
        listed.
    """
    if str(spec) in BUILTIN_DATASETS:
        return "builtin"
    p = Path(spec)
    if is_cifar_source(p):
        return "cifar"
    if is_folder(p):
        if find_idx_pairs(p):
            return "idx"
        return "folder" if is_image_folder(p) else "unknown"
    name = p.name.lower()
    if _exists(p):
        if name.endswith((".csv", ".csv.gz")):
            return "csv"
        if "idx3-ubyte" in name:
            return "idx"
    return "unknown"


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError as exc:
        raise file_error(exc, path) from exc


def load_dataset(
    spec: str | Path,
    *,
    input_size: tuple[int, int] | None = None,
    color: str | None = None,
) -> DatasetSplit:
    """Load the dataset named on the command line (``--data``) or picked in the UI.

    Parameters
    ----------
    spec
        ``"mnist-sample"``; a folder holding an IDX pair (or a train and a test pair),
        one subfolder of images per class, or ``train/`` and ``test/`` (or ``val/``)
        folders of class subfolders; a ``.csv``/``.csv.gz`` file; an
        ``*images*idx3-ubyte`` file whose labels file lies beside it; or CIFAR-10's binary
        distribution (see :func:`cnnstudio.data.cifar.load_cifar`).
    input_size
        (H, W) the images should have (a model's input). Image folders are converted
        to it (default 28x28); other sources are resized only when it differs.
    color
        ``"L"`` or ``"RGB"`` to match a model's input channels; None keeps the
        source's own (image folders: detected).

    Returns
    -------
    DatasetSplit
        ``train``, and ``test`` when the source has a held-out part (the built-in
        sample, train and t10k IDX pairs, train/test image folders). ``cnnstudio evaluate``
        should use ``split.evaluation``.

    Raises
    ------
    DatasetError
        For anything it cannot use, saying what it expected.
    """
    text = str(spec)
    kind = describe_spec(spec)
    path = Path(spec)
    if kind != "unknown":
        return load_source(kind, text, input_size=input_size, color=color)
    if not _exists(path):
        close = difflib.get_close_matches(text, list(BUILTIN_DATASETS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise DatasetError(f"no such file or folder{hint}; {_HELP}", text)
    if is_folder(path):
        raise DatasetError(f"the folder holds no IDX files and no class subfolders; {_HELP}", path)
    _check_file(path)
    raise DatasetError(f"not a dataset file CNN Studio can read; {_HELP}", path)


def load_source(
    kind: str,
    path: str | Path | None = None,
    *,
    input_size: tuple[int, int] | None = None,
    color: str | None = None,
    samples: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> DatasetSplit:
    """Load a source of a known ``kind`` (one of ``SOURCE_KINDS``).

    Parameters
    ----------
    kind
        ``"builtin"`` (``path`` names the sample, default ``"mnist-sample"``),
        ``"idx"``, ``"folder"``, ``"csv"``, ``"cifar"``, or ``"samples"`` (the drawn
        ``samples``).
    path
        The file or folder (for a built-in source: its name).
    input_size, color
        As in :func:`load_dataset`.
    samples
        The user's drawn samples, for ``"samples"``.
    progress
        Called as ``progress(done, total)`` while the images of a folder are converted.

    Raises
    ------
    DatasetError
        For anything it cannot use, saying what it expected.
    """
    if kind not in SOURCE_KINDS:
        raise DatasetError(f"unknown kind of dataset {kind!r}; one of: {', '.join(SOURCE_KINDS)}")
    if kind == "builtin":
        split = load_builtin(str(path or "mnist-sample"))
    elif kind == "samples":
        if samples is None or len(samples) == 0:
            raise DatasetError(
                "there are no drawn samples yet; draw digits in Draw & Predict and add them"
            )
        split = DatasetSplit(train=samples.to_dataset())
    else:
        where = Path(path or "")
        if not _exists(where):
            raise DatasetError("no such file or folder", where)
        if kind == "folder":
            split = load_image_folder_split(
                where, input_size=input_size or (28, 28), color=color, progress=progress
            )
        elif kind == "csv":
            split = DatasetSplit(train=load_csv(where))
        elif kind == "cifar":
            split = load_cifar(where)
        elif is_folder(where):
            split = load_idx_dir(where)
        else:
            _check_file(where)
            split = DatasetSplit(train=load_idx(where, _labels_beside(where)))
    return _converted(split, input_size, color)


def _converted(
    split: DatasetSplit, input_size: tuple[int, int] | None, color: str | None
) -> DatasetSplit:
    """``split`` at ``input_size`` and ``color`` where given (a model's input)."""
    if input_size is None and color is None:
        return split
    train = split.train.converted(input_size, color)
    test = None if split.test is None else split.test.converted(input_size, color)
    return DatasetSplit(train=train, test=test)


def _check_file(path: Path) -> None:
    """Refuse a FIFO, a device or a socket by what it is."""
    try:
        check_regular(path)
    except OSError as exc:
        raise file_error(exc, path) from exc


def _labels_beside(images_path: Path) -> Path:
    for images, labels in find_idx_pairs(images_path.parent):
        if images == images_path:
            return labels
    raise DatasetError(
        "found no matching '*labels*idx1-ubyte' file beside this images file", images_path
    )
