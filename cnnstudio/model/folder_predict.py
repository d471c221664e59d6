"""Predict every picture in one folder, in batches, without Qt.

Draw & Predict's "Predict a folder" runs :func:`predict_folder` on a worker thread and
fills its table from the chunks it yields; Cancel stops it between pictures. Only the
folder itself is read, not its subfolders (they are listed as skipped, saying so).
Each picture is prepared exactly as when it is opened on its own: a photo model gets
the centre crop of :mod:`cnnstudio.model.photo_input`, a digit model the MNIST-style
preprocessing of ``TrainedModel.load_image``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cnnstudio.data.dataset import SkippedFile
from cnnstudio.data.errors import DatasetError
from cnnstudio.data.files import file_error
from cnnstudio.data.folder import IMAGE_EXTENSIONS, flatten_alpha, image_file
from cnnstudio.fileio import UnsafeFileError, check_regular
from cnnstudio.model.photo_input import is_photo_model, photo_from_file

__all__ = [
    "BATCH_SIZE",
    "THUMBNAIL_SIZE",
    "FolderChunk",
    "FolderListing",
    "ImagePrediction",
    "list_folder",
    "predict_folder",
]

#: Pictures predicted together (one forward pass each batch).
BATCH_SIZE = 64
#: Thumbnails are at most this many pixels on a side (about 7 KB each in RGB).
THUMBNAIL_SIZE = 48

_EXTENSIONS = ", ".join(sorted(IMAGE_EXTENSIONS))


@dataclass(frozen=True)
class ImagePrediction:
    """One picture's class probabilities, with a thumbnail and any conversion notes."""

    path: Path
    probabilities: np.ndarray  # (K,) float64, summing to 1
    thumbnail: np.ndarray  # uint8 (h, w, 3), at most THUMBNAIL_SIZE on a side
    notes: tuple[str, ...] = ()

    def ranked(self, k: int = 2) -> list[tuple[int, float]]:
        """The ``k`` most probable classes as (index, probability), most probable first."""
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        return [(int(i), float(self.probabilities[i])) for i in order]


@dataclass
class FolderListing:
    """The pictures of a folder (sorted by name) and the entries left out, with why."""

    folder: Path
    images: list[Path] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)


@dataclass(frozen=True)
class FolderChunk:
    """What one step of :func:`predict_folder` adds: predictions, skipped files, progress."""

    predictions: list[ImagePrediction]
    skipped: list[SkippedFile]
    done: int  # pictures handled so far (predicted or skipped)
    total: int  # pictures in the folder


def list_folder(folder: str | os.PathLike[str]) -> FolderListing:
    """The picture files directly in ``folder``; other entries are skipped with a reason.

    Hidden files are ignored. Subfolders are not searched (listed as skipped). Files
    whose name does not end in a picture extension are skipped without being opened.

    Raises
    ------
    DatasetError
        When ``folder`` is not a folder or cannot be listed.
    """
    root = Path(folder)
    try:
        with os.scandir(root) as it:
            entries = sorted(it, key=lambda e: e.name.lower())
    except OSError as exc:
        raise file_error(exc, root, folder=True) from exc
    listing = FolderListing(root)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_dir():
                listing.skipped.append(
                    SkippedFile(
                        entry.path, "a folder: only the chosen folder is read, not its subfolders"
                    )
                )
                continue
            check_regular(entry.path)
        except UnsafeFileError as exc:
            listing.skipped.append(SkippedFile(entry.path, exc.reason))
            continue
        except OSError as exc:
            listing.skipped.append(SkippedFile(entry.path, file_error(exc, entry.path).reason))
            continue
        suffix = Path(entry.name).suffix.lower()
        if suffix not in IMAGE_EXTENSIONS:
            what = f"'{suffix}'" if suffix else "no extension"
            listing.skipped.append(
                SkippedFile(
                    entry.path, f"not a picture file ({what}; pictures end in {_EXTENSIONS})"
                )
            )
            continue
        listing.images.append(Path(entry.path))
    return listing


def _thumbnail(picture: np.ndarray) -> np.ndarray:
    img = Image.fromarray(picture)
    img.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def _file_thumbnail(path: Path) -> np.ndarray:
    side = (THUMBNAIL_SIZE * 4, THUMBNAIL_SIZE * 4)
    with image_file(path, shrink_to=side) as img:
        img.draft(img.mode, side)
        img.load()
        rgb = flatten_alpha(img).convert("RGB")
    rgb.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8)


def _load(model: Any, path: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(network input (C, H, W) in [0, 1], thumbnail, notes) for one picture file."""
    if is_photo_model(model) or not model.digit_preprocessing:
        photo = photo_from_file(path, model.input_shape)
        return photo.input, _thumbnail(photo.picture), photo.notes
    return model.load_image(path), _file_thumbnail(path), ()


def predict_folder(
    model: Any,
    folder: str | os.PathLike[str] | FolderListing,
    *,
    batch_size: int = BATCH_SIZE,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[FolderChunk]:
    """Predict every picture directly in ``folder`` with ``model`` (a ``TrainedModel``).

    Yields one :class:`FolderChunk` first with the entries :func:`list_folder` left
    out, then one per batch of up to ``batch_size`` pictures. A picture that cannot
    be read (damaged, too large, not really an image) is skipped with its reason;
    the others are still predicted. ``should_stop`` is asked before each picture:
    when it answers True, the generator ends after the current batch.

    Raises
    ------
    DatasetError
        When the folder cannot be listed.
    """
    if batch_size < 1:
        raise DatasetError(f"the batch size must be at least 1, got {batch_size}")
    listing = folder if isinstance(folder, FolderListing) else list_folder(folder)
    total = len(listing.images)
    yield FolderChunk([], list(listing.skipped), 0, total)
    done = 0
    for start in range(0, total, batch_size):
        inputs: list[np.ndarray] = []
        loaded: list[tuple[Path, np.ndarray, tuple[str, ...]]] = []
        skipped: list[SkippedFile] = []
        stopped = False
        for path in listing.images[start : start + batch_size]:
            if should_stop is not None and should_stop():
                stopped = True
                break
            try:
                x, thumb, notes = _load(model, path)
            except DatasetError as exc:
                skipped.append(SkippedFile(str(path), exc.reason))
            else:
                inputs.append(x)
                loaded.append((path, thumb, notes))
            done += 1
        predictions: list[ImagePrediction] = []
        if inputs:
            proba = np.asarray(model.predict_proba(np.stack(inputs)), dtype=np.float64)
            predictions = [
                ImagePrediction(path, p, thumb, notes)
                for (path, thumb, notes), p in zip(loaded, proba, strict=True)
            ]
        yield FolderChunk(predictions, skipped, done, total)
        if stopped:
            return
