"""The user's own labelled drawings ("my samples"), saved with the project."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cnnstudio.data.dataset import Dataset
from cnnstudio.data.errors import DatasetError
from cnnstudio.engine.layers.base import format_shape

__all__ = ["Sample", "SampleCollection"]


@dataclass(frozen=True)
class Sample:
    """One labelled image: uint8 (C, H, W), also its own thumbnail."""

    image: np.ndarray
    label: str


def _as_uint8_chw(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[0] not in (1, 3) or min(a.shape[1:]) < 1:
        raise DatasetError(f"a sample must be an HxW or CxHxW image (C = 1 or 3), got {a.shape}")
    if a.dtype == np.uint8:
        return a.copy()
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if not np.issubdtype(a.dtype, np.number) or not np.isfinite(a).all():
        raise DatasetError("a sample image must hold finite numbers")
    if np.issubdtype(a.dtype, np.floating):
        # Floats are the preprocessing output, in [0, 1].
        return np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.clip(a, 0, 255).astype(np.uint8)


def _natural(name: str) -> tuple[int, float, str]:
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


class SampleCollection:
    """A growing list of labelled images of one shape, e.g. digits drawn on the pad.

    Labels are class *names* (``"7"``, ``"star"``), so the collection stays
    meaningful when the dataset or model it is used with changes. All images share
    the shape of the first one added (the model input size when it was drawn).
    """

    def __init__(self) -> None:
        self._images: list[np.ndarray] = []
        self._labels: list[str] = []

    # -- reading -----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._images)

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, index: int) -> Sample:
        self._check_index(index)
        image = self._images[index].view()
        image.flags.writeable = False
        return Sample(image, self._labels[index])

    @property
    def labels(self) -> list[str]:
        return list(self._labels)

    @property
    def shape(self) -> tuple[int, int, int] | None:
        """(C, H, W) of the samples, None while empty."""
        return tuple(self._images[0].shape) if self._images else None  # type: ignore[return-value]

    def class_names(self) -> list[str]:
        """The distinct labels, numbers first in numeric order, then names alphabetically."""
        return sorted(set(self._labels), key=_natural)

    def counts(self) -> dict[str, int]:
        """Number of samples of each label."""
        return {n: self._labels.count(n) for n in self.class_names()}

    # -- editing -----------------------------------------------------------------
    def add(self, image: np.ndarray, label: str | int) -> int:
        """Add a sample; returns its index.

        ``image`` is uint8 (0-255) or float in [0, 1] (as the preprocessing returns),
        HxW or CxHxW; it is copied.
        """
        a = _as_uint8_chw(image)
        label = self._check_label(label)
        if self._images and a.shape != self._images[0].shape:
            raise DatasetError(
                f"this sample is {format_shape(a.shape)} but the collection holds "
                f"{format_shape(self._images[0].shape)} samples; draw at the same input size"
            )
        self._images.append(a)
        self._labels.append(label)
        return len(self._images) - 1

    def remove(self, index: int) -> Sample:
        """Remove and return the sample at ``index``."""
        sample = self[index]
        del self._images[index]
        del self._labels[index]
        return sample

    def relabel(self, index: int, label: str | int) -> None:
        """Change the label of the sample at ``index``."""
        self._check_index(index)
        self._labels[index] = self._check_label(label)

    def clear(self) -> None:
        self._images.clear()
        self._labels.clear()

    # -- conversion --------------------------------------------------------------
    def to_dataset(
        self, class_names: Sequence[str] | None = None, name: str = "My samples"
    ) -> Dataset:
        """The samples as a :class:`Dataset`.

        Parameters
        ----------
        class_names
            The classes to index the labels against (a model's or a dataset's); each
            sample's label must be among them. By default the collection's own labels
            (:meth:`class_names`).
        """
        if not self._images:
            raise DatasetError("there are no samples yet; draw some and add them first")
        names = self.class_names() if class_names is None else [str(n) for n in class_names]
        unknown = sorted(set(self._labels) - set(names), key=_natural)
        if unknown:
            raise DatasetError(
                f"samples labelled {unknown} do not match any of the classes {names}; "
                "relabel or remove them"
            )
        lookup = {n: i for i, n in enumerate(names)}
        labels = np.array([lookup[n] for n in self._labels], dtype=np.int64)
        return Dataset(np.stack(self._images), labels, names, name=name, source="drawn samples")

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Arrays for a project's ``.npz``: ``images`` uint8 (N, C, H, W) and ``labels`` (str)."""
        if not self._images:
            return {
                "images": np.zeros((0, 1, 1, 1), dtype=np.uint8),
                "labels": np.zeros(0, dtype="<U1"),
            }
        return {"images": np.stack(self._images), "labels": np.array(self._labels, dtype=str)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> SampleCollection:
        """Rebuild a collection from :meth:`to_arrays` output, validating it."""
        try:
            images = np.asarray(arrays["images"])
            labels = np.asarray(arrays["labels"])
        except KeyError as exc:
            raise DatasetError(f"saved samples are missing the {exc.args[0]!r} array") from exc
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
            raise DatasetError(
                f"saved sample images must be uint8 (N, C, H, W), got {images.dtype} {images.shape}"
            )
        if labels.dtype.kind not in "US" or labels.shape != (images.shape[0],):
            raise DatasetError(
                f"saved sample labels must be {images.shape[0]} strings, got "
                f"{labels.dtype} {labels.shape}"
            )
        out = cls()
        for image, label in zip(images, labels.astype(str).tolist(), strict=True):
            out.add(image, label)
        return out

    # -- helpers -----------------------------------------------------------------
    def _check_index(self, index: int) -> None:
        if not -len(self) <= index < len(self):
            raise DatasetError(f"there is no sample {index} (the collection has {len(self)})")

    @staticmethod
    def _check_label(label: str | int) -> str:
        text = str(label).strip()
        if not text:
            raise DatasetError("a sample needs a label (a class name such as '7')")
        return text
