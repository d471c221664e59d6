"""Image folders: one subfolder per class, images of any size converted to one input size.

A folder is one kind of data: colour photos or grayscale images such as digits. One
that mixes the two in earnest is refused, saying how many of each it holds and of which
sizes (see :func:`load_image_folder`).

Symbolic links are followed only while they stay inside the dataset folder: a class
folder (or a folder inside one) that links out of it, or back to it, is left out and
listed in ``Dataset.skipped``, as is a link loop, so a link to ``/`` cannot make the
loader walk the file system. Images are checked for size before they are decoded
(:data:`MAX_IMAGE_PIXELS`).
"""

from __future__ import annotations

import errno
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from cnnstudio.data.convert import check_memory
from cnnstudio.data.dataset import Dataset, DatasetSplit, SkippedFile
from cnnstudio.data.errors import DatasetError, naming
from cnnstudio.data.files import file_error, is_folder
from cnnstudio.fileio import UnsafeFileError, check_regular, open_regular

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_IMAGE_PIXELS",
    "MIXED_SHARE",
    "image_file",
    "is_image_folder",
    "load_image_folder",
    "load_image_folder_split",
    "open_image",
    "split_folders",
]

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
#: Images with more pixels are not decoded (a JPEG is first decoded at a reduced size).
#: Converting one needs at most about 8 bytes a pixel, so 8192 x 8192 stays near 512 MB;
#: a few hundred bytes of PNG can claim far more than that.
MAX_IMAGE_PIXELS = 8192 * 8192
_IGNORED = frozenset({"thumbs.db", "desktop.ini"})
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})
#: Modes whose values do not fit in a byte: scaled by their brightest value.
_WIDE_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
#: How many images decide the colour mode when none is chosen.
_COLOR_PROBE = 32
#: Threads decoding images at once, and images per progress report.
_LOAD_THREADS = 2
_LOAD_CHUNK = 500
#: A folder is refused as a mix of two kinds of data when both its colour and its
#: grayscale images are more than this share of it. Below it, the odd grey photo among
#: colour ones (photo collections have a few) is converted like any other image.
MIXED_SHARE = 0.05


def _natural_key(name: str) -> list[object]:
    """Sort "class2" before "class10"."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


@contextmanager
def image_file(
    path: str | Path, *, shrink_to: tuple[int, int] | None = None
) -> Iterator[Image.Image]:
    """The image at ``path``, opened by Pillow but not yet decoded (it decodes on ``load``).

    Only regular files are opened, and the image's declared size is checked before
    anything is decoded: beyond :data:`MAX_IMAGE_PIXELS` it is refused, unless it is a
    JPEG that Pillow can decode at a reduced size of at least ``shrink_to`` (W, H).
    Errors raised while the block runs (decoding a damaged file) become DatasetErrors.

    Raises
    ------
    DatasetError
        For a missing, zero-byte, non-regular, unreadable, too large or non-image file,
        naming it and the reason.
    """
    path = Path(path)
    try:
        f = open_regular(path)
    except OSError as exc:
        raise file_error(exc, path) from exc
    with f:
        try:
            if os.fstat(f.fileno()).st_size == 0:
                raise DatasetError("zero-byte file (empty)", path)
            with warnings.catch_warnings():
                # Pillow warns from 89 megapixels; the size is checked below instead.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                img = Image.open(f)
            _check_size(img, path, shrink_to)
            yield img
        except DatasetError:
            raise
        except UnidentifiedImageError as exc:
            raise DatasetError(
                "cannot read this file as an image: it is not an image Pillow can read", path
            ) from exc
        except Image.DecompressionBombError as exc:
            # Pillow refuses the header before we can read its size; say it in our words.
            raise DatasetError(
                f"image is too large: its header claims far more than "
                f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels, the most CNN Studio decodes; "
                "shrink it",
                path,
            ) from exc
        except Exception as exc:  # Pillow's decoders raise many types on damaged data
            raise DatasetError(f"unreadable or damaged image ({exc})", path) from exc


def _check_size(img: Image.Image, path: Path, shrink_to: tuple[int, int] | None) -> None:
    w, h = img.size
    if w * h > MAX_IMAGE_PIXELS and shrink_to is not None and img.format == "JPEG":
        img.draft(img.mode, shrink_to)  # JPEG decodes at 1/2, 1/4 or 1/8 size directly
        w, h = img.size
    if w * h > MAX_IMAGE_PIXELS:
        raise DatasetError(
            f"image is too large: {w}x{h} pixels ({w * h / 1e6:,.0f} megapixels; CNN Studio "
            f"decodes at most {MAX_IMAGE_PIXELS / 1e6:.0f}); shrink it",
            path,
        )


def open_image(path: str | Path, *, shrink_to: tuple[int, int] | None = None) -> Image.Image:
    """Open and decode an image file with Pillow (first frame of an animation).

    See :func:`image_file` for the checks made first (``shrink_to`` included).

    Raises
    ------
    DatasetError
        For a missing, zero-byte, non-regular, unreadable, too large or non-image file,
        naming it and the reason.
    """
    with image_file(path, shrink_to=shrink_to) as img:
        img.load()
    return img


def flatten_alpha(img: Image.Image) -> Image.Image:
    """Composite a transparent image onto white, as a viewer would show it."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img


def image_to_array(img: Image.Image, size: tuple[int, int], color: str) -> np.ndarray:
    """Convert a Pillow image to uint8 (C, H, W) of ``size`` (H, W) in ``color`` ("L"/"RGB").

    A large picture is copied at full size at most once: a transparent image is resized
    first (Pillow weights transparent pixels correctly) and then put on white; 16-bit
    and float images are resized in single precision, then scaled by their brightest
    value.
    """
    h, w = size
    if img.mode in _WIDE_MODES:
        top = float(img.getextrema()[1])  # type: ignore[arg-type]
        wide = img.convert("F")
        if wide.size != (w, h):
            wide = wide.resize((w, h), Image.Resampling.LANCZOS, reducing_gap=3.0)
        a = np.asarray(wide, dtype=np.float32) * np.float32(255.0 / (top if top > 0 else 1.0))
        img = Image.fromarray(np.rint(np.clip(a, 0, 255)).astype(np.uint8))
    elif img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        img.mode == "P" and "transparency" in img.info
    ):
        if img.mode not in ("RGBA", "LA"):
            img = img.convert("RGBA")
        if img.size != (w, h):
            img = img.resize((w, h), Image.Resampling.LANCZOS, reducing_gap=3.0)
        img = flatten_alpha(img)
    if img.mode != color:
        img = img.convert(color)
    if img.size != (w, h):
        img = img.resize((w, h), Image.Resampling.LANCZOS, reducing_gap=3.0)
    a = np.asarray(img, dtype=np.uint8)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def _gray_palette(img: Image.Image) -> bool:
    palette = img.getpalette() or []
    rgb = np.asarray(palette, dtype=np.int64).reshape(-1, 3)
    return bool((rgb.max(axis=1) == rgb.min(axis=1)).all())


def _entry_kind(entry: os.DirEntry[str]) -> tuple[str, str]:
    """("dir" | "file" | "skip", why skipped) for one folder entry, links followed."""
    try:
        if entry.is_dir():
            return "dir", ""
        if entry.is_file():
            return "file", ""
        check_regular(entry.path)  # raises, with what the entry is instead
        return "file", ""
    except UnsafeFileError as exc:
        return "skip", exc.reason
    except FileNotFoundError:
        return "skip", "a link to nothing (broken link)"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "skip", "a link loop; not followed"
        return "skip", file_error(exc, entry.path).reason


def _link_problem(entry: os.DirEntry[str], root_real: str) -> str | None:
    """Why the folder link ``entry`` is not followed, or None when it stays inside the root."""
    if not entry.is_symlink():
        return None
    target = os.path.realpath(entry.path)
    if target == root_real:
        return "a link back to the dataset folder; not followed"
    if not target.startswith(root_real.rstrip(os.sep) + os.sep):
        return (
            "a link to a folder outside the dataset folder; not followed (copy or move the "
            "images into the dataset folder instead)"
        )
    return None


def _scan(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        return list(entries)


def _class_dirs(root: Path) -> tuple[list[Path], list[SkippedFile]]:
    """The class folders of ``root`` (sorted naturally) and the links left out.

    Raises
    ------
    DatasetError
        When ``root`` cannot be listed.
    """
    try:
        entries = _scan(root)
    except OSError as exc:
        raise file_error(exc, root, folder=True) from exc
    root_real = os.path.realpath(root)
    dirs: list[Path] = []
    skipped: list[SkippedFile] = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        kind, reason = _entry_kind(entry)
        if kind == "dir":
            problem = _link_problem(entry, root_real)
            if problem is None:
                dirs.append(Path(entry.path))
            else:
                skipped.append(SkippedFile(entry.path, problem))
        elif kind == "skip" and entry.is_symlink():
            skipped.append(SkippedFile(entry.path, reason))
    return sorted(dirs, key=lambda p: _natural_key(p.name)), skipped


def is_image_folder(path: str | Path) -> bool:
    """True if ``path`` is a folder with at least one non-hidden subfolder (class folders)."""
    path = Path(path)
    try:
        return path.is_dir() and bool(_class_dirs(path)[0])
    except (OSError, DatasetError):
        return False


def _files(class_dir: Path, root_real: str, skipped: list[SkippedFile]) -> list[Path]:
    """The files in ``class_dir`` and its subfolders, sorted naturally by relative path.

    Hidden files and folders are ignored; folders that cannot be listed, links that
    leave the dataset folder or loop, and entries that are not regular files (FIFOs,
    devices) are added to ``skipped``. Each folder is read once, so a link back into
    the class folder ends.
    """
    files: list[Path] = []
    seen: set[tuple[int, int]] = set()
    stack = [class_dir]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            entries = _scan(folder)
        except OSError as exc:
            skipped.append(SkippedFile(str(folder), file_error(exc, folder, folder=True).reason))
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.name.lower() in _IGNORED:
                continue
            kind, reason = _entry_kind(entry)
            if kind == "dir":
                problem = _link_problem(entry, root_real)
                if problem is None:
                    stack.append(Path(entry.path))
                else:
                    skipped.append(SkippedFile(entry.path, problem))
            elif kind == "file":
                files.append(Path(entry.path))
            else:
                skipped.append(SkippedFile(entry.path, reason))
    return sorted(files, key=lambda p: _natural_key(str(p.relative_to(class_dir))))


def _check_class_name(folder: Path) -> None:
    try:
        folder.name.encode("utf-8")
    except UnicodeEncodeError:
        raise DatasetError(
            "the folder's name is not valid UTF-8 text, so it cannot be saved as a class "
            "name; rename the folder",
            folder,
        ) from None


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
        (H, W) every image is resized to (stretched, Lanczos), whatever its own size:
        photos of different sizes make one dataset, as ``Resize((H, W))`` would in
        other tools. Give the size most of the images have to keep every pixel.
    color
        ``"L"`` (grayscale, 1 channel) or ``"RGB"`` (3 channels). None picks RGB
        if any of the first images is in colour, else L. Transparent images are
        put on white first. A folder whose colour and grayscale images are both more
        than :data:`MIXED_SHARE` of it (photos and digits, say) is refused whatever
        ``color`` is: the message gives how many there are of each, their sizes and
        an example; a few grey photos among colour ones are converted.
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
        not an image, too large, unsupported extension, not a regular file, a folder
        that cannot be listed, a link leaving the dataset folder, class folder without
        usable images).

    Raises
    ------
    DatasetError
        For a missing, empty or unlistable folder, a class folder whose name is not
        valid UTF-8, fewer than two classes with usable images, a mix of colour and
        grayscale images (see ``color``), or a conversion larger than ``max_bytes``.
    """
    root = Path(root)
    if not is_folder(root):
        raise DatasetError("not a folder", root)
    if color is not None and color not in ("L", "RGB"):
        raise DatasetError(f'colour mode must be "L" or "RGB", got {color!r}')
    h, w = int(input_size[0]), int(input_size[1])
    if h < 1 or w < 1:
        raise DatasetError(f"input size must be positive, got {input_size}")
    dirs, skipped = _class_dirs(root)
    if class_names is not None:
        by_name = {d.name: d for d in dirs}
        missing = [n for n in class_names if n not in by_name]
        if missing:
            raise DatasetError(f"no subfolder for classes {missing}", root)
        dirs = [by_name[n] for n in class_names]
    if not dirs:
        loose = [e for e in _scan(root) if Path(e.name).suffix.lower() in IMAGE_EXTENSIONS]
        hint = (
            f" (it holds {len(loose)} images directly; move them into one subfolder per class)"
            if loose
            else ""
        )
        raise DatasetError(f"the folder has no class subfolders{hint}", root)
    for d in dirs:
        _check_class_name(d)

    root_real = os.path.realpath(root)
    candidates: list[tuple[Path, int]] = []
    for k, d in enumerate(dirs):
        for f in _files(d, root_real, skipped):
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
    kinds = _Kinds()

    def convert(i: int) -> tuple[bool, Any]:
        """Image ``i`` into ``images[i]``: (True, (colour, size)) or (False, reason)."""
        f = candidates[i][0]
        try:
            with image_file(f, shrink_to=(w, h)) as img:
                img.load()
                images[i] = image_to_array(img, (h, w), color)
                return True, (_is_colour(img), img.size)
        except DatasetError as exc:
            return False, exc.reason

    # Two threads decode at once (Pillow releases the GIL while it decodes and resizes):
    # 50,000 CIFAR-10 JPEGs load in about half the time. Chunk by chunk, so progress
    # (which may cancel) is reported from this thread.
    n = 0
    with ThreadPoolExecutor(max_workers=_LOAD_THREADS) as pool:
        for start in range(0, len(candidates), _LOAD_CHUNK):
            stop = min(len(candidates), start + _LOAD_CHUNK)
            indices = range(start, stop)
            for i, (ok, info) in zip(indices, pool.map(convert, indices), strict=True):
                f, k = candidates[i]
                if not ok:
                    skipped.append(SkippedFile(str(f), info))
                    continue
                kinds.add(f, *info)
                if n != i:  # an earlier file was skipped: close the gap
                    images[n] = images[i]
                labels[n] = k
                n += 1
            if progress is not None:
                progress(stop, len(candidates))
    kinds.check(root)

    counts = np.bincount(labels[:n], minlength=len(dirs))
    keep = np.flatnonzero(counts)
    reported = {s.path for s in skipped}
    for empty in np.flatnonzero(counts == 0):
        if str(dirs[empty]) not in reported:  # not already as a folder that cannot be listed
            skipped.append(SkippedFile(str(dirs[empty]), "no usable images; class left out"))
    if len(keep) < 2:
        reasons = "; ".join(str(s) for s in skipped[:3])
        raise DatasetError(
            f"fewer than two classes have readable images ({n} usable images in all); {reasons}",
            root,
        )
    remap = np.full(len(dirs), -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    with naming(root):
        return Dataset(
            images[:n],
            remap[labels[:n]],
            [dirs[k].name for k in keep],
            name=root.name,
            source=str(root),
            skipped=skipped,
        )


def _is_colour(img: Image.Image) -> bool:
    """Whether an opened image is stored in colour (a palette of greys is grey)."""
    if img.mode == "P":
        return not _gray_palette(img)
    return img.mode not in _GRAY_MODES


class _Kinds:
    """The colour and grayscale images of a folder as they are read: how many, of which
    sizes, and one of each, to refuse a folder that mixes two kinds of data."""

    def __init__(self) -> None:
        self.sizes: dict[bool, Counter[tuple[int, int]]] = {True: Counter(), False: Counter()}
        self.example: dict[bool, Path] = {}

    def add(self, path: Path, colour: bool, size: tuple[int, int]) -> None:
        self.sizes[colour][size] += 1
        self.example.setdefault(colour, path)

    def check(self, root: Path) -> None:
        colour, grey = (self.sizes[k].total() for k in (True, False))
        if min(colour, grey) <= MIXED_SHARE * (colour + grey):
            return
        minority = colour < grey

        def described(kind: bool, count: int) -> str:
            (w, h), most = self.sizes[kind].most_common(1)[0]
            size = f"all {w}x{h}" if most == count else f"{most:,} of them {w}x{h}"
            return f"{count:,} {'colour' if kind else 'grayscale'} images ({size})"

        example = self.example[minority]
        try:
            shown: Path = example.relative_to(root)
        except ValueError:
            shown = example
        raise DatasetError(
            f"mixes {described(True, colour)} and {described(False, grey)}, e.g. {shown}: "
            "two kinds of data, such as photos and digits, in one dataset. Keep one kind: "
            f"move the {'colour' if minority else 'grayscale'} images to a folder of their "
            "own, or convert them all to one kind first",
            root,
        )


def _guess_color(files: list[Path]) -> str:
    """``"RGB"`` if any of the first readable files is a colour image, else ``"L"``."""
    seen = 0
    for f in files:
        try:
            with image_file(f) as img:
                if _is_colour(img):
                    return "RGB"
        except DatasetError:
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
    if not is_folder(root):
        return None
    dirs = {d.name.lower(): d for d in _class_dirs(root)[0]}
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
