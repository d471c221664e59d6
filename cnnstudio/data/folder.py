"""Image folders: one subfolder per class, images of any size converted to one input size."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from cnnstudio.data.convert import check_memory
from cnnstudio.data.dataset import Dataset, DatasetSplit, SkippedFile
from cnnstudio.data.errors import DatasetError

__all__ = [
    "IMAGE_EXTENSIONS",
    "is_image_folder",
    "load_image_folder",
    "load_image_folder_split",
    "open_image",
    "split_folders",
]

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
_IGNORED = frozenset({"thumbs.db", "desktop.ini"})
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})
#: How many images decide the colour mode when none is chosen.
_COLOR_PROBE = 32


def _natural_key(name: str) -> list[object]:
    """Sort "class2" before "class10"."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def open_image(path: str | Path) -> Image.Image:
    """Open and decode an image file with Pillow (first frame of an animation).

    Raises
    ------
    DatasetError
        For a missing, zero-byte, unreadable or non-image file, naming it and the reason.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DatasetError(f"cannot read the file ({exc.strerror or exc})", path) from exc
    if size == 0:
        raise DatasetError("zero-byte file (empty)", path)
    try:
        img = Image.open(path)
        img.load()
    except UnidentifiedImageError as exc:
        raise DatasetError("not an image Pillow can read", path) from exc
    except Image.DecompressionBombError as exc:
        raise DatasetError(f"image is too large to open safely ({exc})", path) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise DatasetError(f"unreadable or damaged image ({exc})", path) from exc
    return img


def flatten_alpha(img: Image.Image) -> Image.Image:
    """Composite a transparent image onto white, as a viewer would show it."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img


def image_to_array(img: Image.Image, size: tuple[int, int], color: str) -> np.ndarray:
    """Convert a Pillow image to uint8 (C, H, W) of ``size`` (H, W) in ``color`` ("L"/"RGB")."""
    h, w = size
    img = flatten_alpha(img)
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        a = np.asarray(img, dtype=np.float64)
        top = a.max() if a.max() > 0 else 1.0
        img = Image.fromarray(np.clip(a * (255.0 / top), 0, 255).astype(np.uint8))
    img = img.convert(color)
    if img.size != (w, h):
        img = img.resize((w, h), Image.Resampling.LANCZOS, reducing_gap=3.0)
    a = np.asarray(img, dtype=np.uint8)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def _class_dirs(root: Path) -> list[Path]:
    return sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: _natural_key(p.name),
    )


def is_image_folder(path: str | Path) -> bool:
    """True if ``path`` is a folder with at least one non-hidden subfolder (class folders)."""
    path = Path(path)
    return path.is_dir() and bool(_class_dirs(path))


def _files(class_dir: Path) -> list[Path]:
    files = [
        p
        for p in class_dir.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(class_dir).parts)
        and p.name.lower() not in _IGNORED
    ]
    return sorted(files, key=lambda p: _natural_key(str(p.relative_to(class_dir))))


def load_image_folder(
    root: str | Path,
    *,
    input_size: tuple[int, int] = (28, 28),
    color: str | None = None,
    max_bytes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    class_names: Sequence[str] | None = None,
) -> Dataset:
    """Load a folder holding one subfolder of images per class.

    Parameters
    ----------
    root
        The folder; each subfolder's name is a class name (sorted naturally, so
        "2" comes before "10"). Images may sit deeper inside a class folder.
    input_size
        (H, W) every image is resized to (stretched, Lanczos).
    color
        ``"L"`` (grayscale, 1 channel) or ``"RGB"`` (3 channels). None picks RGB
        if any of the first images is in colour, else L. Transparent images are
        put on white first.
    max_bytes
        Refuse to build a dataset larger than this (default 2 GB).
    progress
        Called as ``progress(done, total)`` while images are converted.
    class_names
        Use only these subfolders, in this order.

    Returns
    -------
    Dataset
        Its ``skipped`` lists every file left out and why (zero-byte, unreadable,
        not an image, unsupported extension, class folder without usable images).

    Raises
    ------
    DatasetError
        For a missing or empty folder, fewer than two classes with usable images,
        or a conversion larger than ``max_bytes``.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError("not a folder", root)
    if color is not None and color not in ("L", "RGB"):
        raise DatasetError(f'colour mode must be "L" or "RGB", got {color!r}')
    h, w = int(input_size[0]), int(input_size[1])
    if h < 1 or w < 1:
        raise DatasetError(f"input size must be positive, got {input_size}")
    dirs = _class_dirs(root)
    if class_names is not None:
        by_name = {d.name: d for d in dirs}
        missing = [n for n in class_names if n not in by_name]
        if missing:
            raise DatasetError(f"no subfolder for classes {missing}", root)
        dirs = [by_name[n] for n in class_names]
    if not dirs:
        loose = [p for p in root.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS]
        hint = (
            f" (it holds {len(loose)} images directly; move them into one subfolder per class)"
            if loose
            else ""
        )
        raise DatasetError(f"the folder has no class subfolders{hint}", root)

    skipped: list[SkippedFile] = []
    candidates: list[tuple[Path, int]] = []
    for k, d in enumerate(dirs):
        for f in _files(d):
            if f.suffix.lower() in IMAGE_EXTENSIONS:
                candidates.append((f, k))
            else:
                skipped.append(SkippedFile(str(f), f"not an image file ({f.suffix or 'no'} ext)"))
    if len({k for _, k in candidates}) < 2:
        found = ", ".join(f"'{d.name}'" for d in dirs)
        raise DatasetError(
            f"need at least two class subfolders with images, found {found}"
            if candidates
            else f"no image files (PNG, JPEG, BMP, GIF) in the class subfolders {found}",
            root,
        )

    if color is None:
        color = _guess_color([f for f, _ in candidates[:: max(1, len(candidates) // _COLOR_PROBE)]])
    c = 1 if color == "L" else 3
    check_memory(len(candidates), (c, h, w), str(root), max_bytes)

    images = np.empty((len(candidates), c, h, w), dtype=np.uint8)
    labels = np.empty(len(candidates), dtype=np.int64)
    n = 0
    for i, (f, k) in enumerate(candidates):
        try:
            with open_image(f) as img:
                images[n] = image_to_array(img, (h, w), color)
        except DatasetError as exc:
            skipped.append(SkippedFile(str(f), exc.reason))
        except (OSError, ValueError) as exc:
            skipped.append(SkippedFile(str(f), f"cannot convert the image ({exc})"))
        else:
            labels[n] = k
            n += 1
        if progress is not None:
            progress(i + 1, len(candidates))

    counts = np.bincount(labels[:n], minlength=len(dirs))
    keep = np.flatnonzero(counts)
    for empty in np.flatnonzero(counts == 0):
        skipped.append(SkippedFile(str(dirs[empty]), "no usable images; class left out"))
    if len(keep) < 2:
        reasons = "; ".join(str(s) for s in skipped[:3])
        raise DatasetError(
            f"fewer than two classes have readable images ({n} usable images in all); {reasons}",
            root,
        )
    remap = np.full(len(dirs), -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    return Dataset(
        images[:n],
        remap[labels[:n]],
        [dirs[k].name for k in keep],
        name=root.name,
        source=str(root),
        skipped=skipped,
    )


def _guess_color(files: list[Path]) -> str:
    """``"RGB"`` if any of the first readable files is a colour image, else ``"L"``."""
    seen = 0
    for f in files:
        try:
            with Image.open(f) as img:
                mode = img.mode
                if mode == "P":
                    palette = img.getpalette() or []
                    rgb = np.asarray(palette, dtype=np.int64).reshape(-1, 3)
                    if (rgb.max(axis=1) != rgb.min(axis=1)).any():
                        return "RGB"
                elif mode not in _GRAY_MODES:
                    return "RGB"
        except (OSError, ValueError, SyntaxError):
            continue
        seen += 1
        if seen >= _COLOR_PROBE:
            break
    return "L"


_TRAIN_NAMES = ("train", "training")
_TEST_NAMES = ("test", "testing", "val", "valid", "validation")


def split_folders(root: str | Path) -> tuple[Path, Path] | None:
    """(train, test) subfolders when ``root`` is laid out as ``train/<class>/…`` and
    ``test/<class>/…`` (or ``val``/``validation``), else None."""
    root = Path(root)
    if not root.is_dir():
        return None
    dirs = {d.name.lower(): d for d in _class_dirs(root)}
    train = [dirs[n] for n in _TRAIN_NAMES if n in dirs]
    test = [dirs[n] for n in _TEST_NAMES if n in dirs]
    if len(dirs) != 2 or len(train) != 1 or len(test) != 1:
        return None
    if not (is_image_folder(train[0]) and is_image_folder(test[0])):
        return None
    return train[0], test[0]


def load_image_folder_split(
    root: str | Path,
    *,
    input_size: tuple[int, int] = (28, 28),
    color: str | None = None,
    max_bytes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DatasetSplit:
    """Load class folders, or ``train/`` and ``test/`` folders of class folders.

    With the two-part layout the test part is labelled against the training
    part's classes and converted the same way (size and colour mode); otherwise
    this is :func:`load_image_folder` as ``DatasetSplit(train)``.

    Raises
    ------
    DatasetError
        As :func:`load_image_folder`; also when the test part has a class the
        training part lacks.
    """
    parts = split_folders(root)
    if parts is None:
        return DatasetSplit(
            train=load_image_folder(
                root, input_size=input_size, color=color, max_bytes=max_bytes, progress=progress
            )
        )
    train = load_image_folder(
        parts[0], input_size=input_size, color=color, max_bytes=max_bytes, progress=progress
    )
    test = load_image_folder(
        parts[1], input_size=input_size, color=train.color_mode, max_bytes=max_bytes
    )
    missing = [n for n in test.class_names if n not in train.class_names]
    if missing:
        raise DatasetError(
            f"the {parts[1].name} folder has classes {missing} that {parts[0].name} lacks", root
        )
    name = Path(root).name
    test = test.with_classes(train.class_names)
    return DatasetSplit(
        train=Dataset(
            train.images,
            train.labels,
            train.class_names,
            f"{name} ({parts[0].name})",
            train.source,
            train.skipped,
        ),
        test=Dataset(
            test.images,
            test.labels,
            test.class_names,
            f"{name} ({parts[1].name})",
            test.source,
            test.skipped,
        ),
    )
