"""The in-memory dataset type, stratified splits and mini-batch index iteration."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from cnnstudio.data.errors import DatasetError, printable_path
from cnnstudio.engine.layers.base import format_shape

__all__ = [
    "Dataset",
    "DatasetSplit",
    "SkippedFile",
    "batch_indices",
    "concatenate",
    "stratified_split_indices",
]


@dataclass(frozen=True)
class SkippedFile:
    """A file a loader left out, and why (e.g. ``"zero-byte file"``)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{printable_path(self.path)}: {self.reason}"


class Dataset:
    """Labelled images held as uint8, the form every source is converted to.

    Parameters
    ----------
    images
        uint8 array of shape (N, C, H, W) with C = 1 (grayscale) or 3 (RGB). A 3-D
        (N, H, W) array is taken as grayscale.
    labels
        Integer class indices, shape (N,), each in ``range(len(class_names))``.
    class_names
        Display name of each class; the label is the index into this list.
    name
        Short name shown in the UI (e.g. ``"MNIST sample (training)"``).
    source
        Where the data came from, in words (a path, "built-in", ...). Both are kept as
        valid text: bytes of a file name that are not UTF-8 are shown as ``\\xe9``.
    skipped
        Files the loader left out, with the reason (image folders).

    Notes
    -----
    The arrays are made read-only, so datasets can share them safely (``subset``
    copies, slicing a batch with an index array copies).
    """

    __slots__ = ("class_names", "images", "labels", "name", "skipped", "source")
    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    name: str
    source: str
    skipped: tuple[SkippedFile, ...]

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        class_names: Sequence[str],
        name: str = "dataset",
        source: str = "",
        skipped: Sequence[SkippedFile] = (),
    ) -> None:
        images = np.asarray(images)
        labels = np.asarray(labels)
        if images.ndim == 3:
            images = images[:, None]
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise DatasetError(
                f"images must be an (N, C, H, W) array with C = 1 or 3, got shape {images.shape}"
            )
        if images.dtype != np.uint8:
            raise DatasetError(f"images must be uint8 (0-255), got {images.dtype}")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise DatasetError(
                f"there are {images.shape[0]} images but labels has shape {labels.shape}"
            )
        if labels.size and not np.issubdtype(labels.dtype, np.integer):
            whole = np.issubdtype(labels.dtype, np.floating) and bool(
                np.all(np.isfinite(labels)) and np.all(labels == np.round(labels))
            )
            if not whole:
                raise DatasetError(f"labels must be whole numbers, got {labels.dtype}")
        class_names = [str(n) for n in class_names]
        if not class_names:
            raise DatasetError("a dataset needs at least one class name")
        for n in class_names:
            try:
                n.encode("utf-8")  # what a model file stores them as
            except UnicodeEncodeError:
                shown = n.encode("utf-8", "backslashreplace").decode("utf-8")
                raise DatasetError(
                    f"class name {shown!r} is not valid text (UTF-8); rename the class"
                ) from None
        if len(set(class_names)) != len(class_names):
            raise DatasetError(f"class names must be unique, got {class_names}")
        labels = labels.astype(np.int64, copy=False)
        if labels.size and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise DatasetError(
                f"labels run from {labels.min()} to {labels.max()} but there are only "
                f"{len(class_names)} class names"
            )
        images = _read_only(images)
        labels = _read_only(labels)
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "class_names", class_names)
        # Display text that is also saved with a model: printable even when it quotes a
        # file name that is not valid UTF-8.
        object.__setattr__(self, "name", printable_path(str(name)))
        object.__setattr__(self, "source", printable_path(str(source)))
        object.__setattr__(self, "skipped", tuple(skipped))

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("Dataset is immutable; make a new one (subset, concatenate, ...)")

    # Immutable, with read-only arrays: a copy may be the same object.
    def __copy__(self) -> Dataset:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Dataset:
        return self

    # -- basic facts -------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, {len(self)} images, {format_shape(self.input_shape)}, "
            f"{self.num_classes} classes)"
        )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        _, c, h, w = self.images.shape
        return (int(c), int(h), int(w))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def color_mode(self) -> str:
        """``"L"`` for grayscale, ``"RGB"`` for colour (Pillow's mode names)."""
        return "L" if self.images.shape[1] == 1 else "RGB"

    @property
    def nbytes(self) -> int:
        return int(self.images.nbytes + self.labels.nbytes)

    def counts(self) -> np.ndarray:
        """Number of images of each class, int64 of length ``num_classes``."""
        return np.bincount(self.labels, minlength=self.num_classes).astype(np.int64)

    def summary(self) -> str:
        """One line for a status bar or the command line."""
        return (
            f"{self.name}: {len(self)} images of {format_shape(self.input_shape)}, "
            f"{self.num_classes} classes"
        )

    # -- derived datasets --------------------------------------------------------
    def subset(self, indices: np.ndarray | Sequence[int], name: str | None = None) -> Dataset:
        """The images at ``indices`` (a copy), with the same class names."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise DatasetError(f"boolean mask has shape {idx.shape}, expected ({len(self)},)")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.intp, copy=False).reshape(-1)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise DatasetError(f"subset index out of range for a dataset of {len(self)} images")
        return Dataset(
            self.images[idx],
            self.labels[idx],
            self.class_names,
            name=self.name if name is None else name,
            source=self.source,
        )

    def split(self, val_fraction: float, seed: int = 0) -> tuple[Dataset, Dataset]:
        """Split into (train, validation), stratified by class and reproducible by seed.

        Each class keeps the same share in both parts (up to rounding); a class
        with a single image stays in training. ``val_fraction == 0`` gives an
        empty validation set.
        """
        train_idx, val_idx = stratified_split_indices(self.labels, val_fraction, seed)
        return (
            self.subset(train_idx, name=f"{self.name} (training)"),
            self.subset(val_idx, name=f"{self.name} (validation)"),
        )

    def concatenate(self, other: Dataset, name: str | None = None) -> Dataset:
        """This dataset followed by ``other``; see :func:`concatenate` for the rules."""
        return concatenate(self, other, name=name)

    def with_classes(self, class_names: Sequence[str]) -> Dataset:
        """The same images relabelled against a longer list of class names.

        Every current class name must appear in ``class_names``; use it to line up
        a dataset with a model's output classes.
        """
        class_names = [str(n) for n in class_names]
        missing = [n for n in self.class_names if n not in class_names]
        if missing:
            raise DatasetError(
                f"classes {missing} of {self.name!r} are not among the model's classes "
                f"{class_names}"
            )
        remap = np.array([class_names.index(n) for n in self.class_names], dtype=np.int64)
        return Dataset(
            self.images, remap[self.labels], class_names, self.name, self.source, self.skipped
        )

    def converted(
        self,
        input_size: tuple[int, int] | None = None,
        color: str | None = None,
    ) -> Dataset:
        """The images resized to ``input_size`` (H, W) and/or converted to ``color``.

        Grayscale to RGB repeats the channel; RGB to grayscale uses Pillow's
        luminance weights (ITU-R 601-2). Returns ``self`` when nothing changes.
        """
        from cnnstudio.data.convert import convert_images

        images = convert_images(
            self.images, input_size=input_size, color=color, what=self.source or self.name
        )
        if images is self.images:
            return self
        return Dataset(images, self.labels, self.class_names, self.name, self.source)


def _read_only(a: np.ndarray) -> np.ndarray:
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


def concatenate(first: Dataset, second: Dataset, name: str | None = None) -> Dataset:
    """Join two datasets of the same image shape (e.g. the user's samples added to MNIST).

    Classes are matched by name, not by index: the result keeps ``first``'s class
    names in their order and appends the names only ``second`` has, in its order;
    ``second``'s labels are renumbered accordingly. So "7" drawn by the user joins
    MNIST's "7", and a new class "star" becomes class 10.

    Raises
    ------
    DatasetError
        If the image shapes differ (convert one with :meth:`Dataset.converted`).
    """
    if first.input_shape != second.input_shape:
        raise DatasetError(
            f"cannot combine {first.name!r} ({format_shape(first.input_shape)}) with "
            f"{second.name!r} ({format_shape(second.input_shape)}): the images must have the "
            "same size and colour mode"
        )
    names = list(first.class_names)
    for n in second.class_names:
        if n not in names:
            names.append(n)
    remap = np.array([names.index(n) for n in second.class_names], dtype=np.int64)
    images = np.concatenate([first.images, second.images], axis=0)
    labels = np.concatenate([first.labels, remap[second.labels]])
    return Dataset(
        images,
        labels,
        names,
        name=name or f"{first.name} + {second.name}",
        source=f"{first.source}; {second.source}".strip("; "),
    )


def stratified_split_indices(
    labels: np.ndarray, val_fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a stratified, seeded (train, validation) split, each sorted.

    The validation part has ``round(val_fraction * N)`` images when that is
    possible, shared among classes in proportion to their size (largest
    remainders get the rounding), never taking the last image of a class.
    """
    labels = np.asarray(labels)
    if not 0.0 <= float(val_fraction) < 1.0:
        raise DatasetError(
            f"the validation fraction must be at least 0 and below 1, got {val_fraction}"
        )
    n = labels.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    rng = np.random.default_rng(seed)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    exact = counts * float(val_fraction)
    take = np.floor(exact).astype(np.int64)
    target = min(round(n * float(val_fraction)), int((counts - 1).sum()))
    cap = np.maximum(counts - 1, 0)
    take = np.minimum(take, cap)
    order = np.argsort(-(exact - np.floor(exact)), kind="stable")
    while take.sum() < target:
        grew = False
        for k in order:
            if take.sum() >= target:
                break
            if take[k] < cap[k]:
                take[k] += 1
                grew = True
        if not grew:
            break
    # One permutation of everything, then a stable sort by class: each class's
    # images come out in a random order without a Python loop over images.
    perm = rng.permutation(n)
    by_class = perm[np.argsort(inverse[perm], kind="stable")]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(n, dtype=np.int64)
    rank[by_class] = np.arange(n) - np.repeat(starts, counts)
    is_val = rank < take[inverse]
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def batch_indices(
    n: int,
    batch_size: int,
    rng: np.random.Generator | None = None,
    *,
    shuffle: bool = True,
    drop_last: bool = False,
) -> Iterator[np.ndarray]:
    """Yield index arrays for one epoch of mini-batches over ``n`` items.

    Only an index permutation is made per epoch; take a batch with
    ``images[idx]`` (a copy of just that batch).
    """
    if batch_size < 1:
        raise DatasetError(f"batch size must be at least 1, got {batch_size}")
    if shuffle:
        order = (rng if rng is not None else np.random.default_rng()).permutation(n)
    else:
        order = np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


@dataclass(frozen=True)
class DatasetSplit:
    """A source's training part and, when it has one, its held-out test part.

    ``test`` is None for sources without a separate test set (one IDX pair, a
    folder, a CSV file); make a validation split from ``train`` then.
    """

    train: Dataset
    test: Dataset | None = None

    @property
    def evaluation(self) -> Dataset:
        """The part ``cnnstudio evaluate`` should use: the test part, else everything."""
        return self.test if self.test is not None else self.train

    @property
    def class_names(self) -> list[str]:
        return self.train.class_names

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.train.input_shape
