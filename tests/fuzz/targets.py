"""The fuzz targets: what each one loads, what it may raise, its seed corpus and mutator.

Over 600 lines because it is a catalogue (one section per target, in the order of the
summary table); a new loader adds one section here.

A corpus holds valid inputs made by the project's own writers (``save_model``,
``save_project``, ``write_recovery``, ``save_architecture``; the data tests' IDX and PNG
writers; CIFAR-10 batches written with NumPy), then the reproductions from issue 18.
Samples marked ``heavy`` (inputs that take seconds to decode) run only in the long
campaign.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from tests.fuzz import mutators as m
from tests.fuzz.harness import FIFO, FOLDER, Invariant, Link, Sample, Target

# -- checks run in the child on what a loader returned --------------------------------------


def check_dataset(ds: Any) -> None:
    """What every loaded dataset promises: uint8 (N, C, H, W) images, labels that index
    the class names, and names that can be saved (UTF-8)."""
    if ds.images.dtype != np.uint8 or ds.images.ndim != 4:
        raise Invariant(f"images are {ds.images.dtype} {ds.images.shape}, not uint8 (N, C, H, W)")
    if len(ds.labels) != len(ds.images) or len(ds.labels) == 0:
        raise Invariant(f"{len(ds.images)} images but {len(ds.labels)} labels")
    if int(ds.labels.min()) < 0 or int(ds.labels.max()) >= len(ds.class_names):
        raise Invariant(
            f"labels {int(ds.labels.min())}..{int(ds.labels.max())} for "
            f"{len(ds.class_names)} class names"
        )
    for name in ds.class_names:
        try:
            str(name).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise Invariant(f"class name {name!r} cannot be saved (not UTF-8): {exc}") from None


def load_data(path: Path) -> None:
    from cnnstudio.data.loader import load_dataset

    split = load_dataset(path)
    check_dataset(split.train)
    if split.test is not None:
        check_dataset(split.test)


def _small(shape: Any, limit: int = 200_000) -> bool:
    try:
        return 0 < math.prod(int(s) for s in shape) <= limit
    except (TypeError, ValueError, OverflowError):
        return False


def _predicts(bundle: Any) -> None:
    """A model that loaded must predict (on a small input; a huge one is refused by size)."""
    if not _small(bundle.input_shape):
        return
    x = np.zeros((1, *bundle.input_shape), np.float32)
    try:
        p = bundle.predict_proba(x)
    except Exception as exc:
        raise Invariant(f"it loaded, but predicting failed: {type(exc).__name__}: {exc}") from exc
    if p.shape[0] != 1:
        raise Invariant(f"one image in, {p.shape} probabilities out")


def load_model_file(path: Path) -> None:
    from cnnstudio.io import load_model

    _predicts(load_model(path))


def load_project_file(path: Path) -> None:
    from cnnstudio.io import load_project

    project = load_project(path)
    if project.trained is not None:
        _predicts(project.trained)


def load_recovery_dir(path: Path) -> None:
    from cnnstudio.io import has_recovery, read_recovery, recovery_info

    recovery_info(path)  # documented never to fail: a bad note is ignored
    if has_recovery(path):
        project = read_recovery(path)
        if project.trained is not None:
            _predicts(project.trained)


def load_arch_file(path: Path) -> None:
    from cnnstudio.model.files import load_architecture

    graph = load_architecture(path)
    graph.inference  # what the canvas shows on opening: must not raise  # noqa: B018


def load_arch_file_io(path: Path) -> None:
    from cnnstudio.io import read_architecture

    read_architecture(path)


def build_network(value: Any) -> None:
    from cnnstudio.engine.network import Network

    net = Network.from_architecture(m.realize(value))
    if _small(net.input_shape, 20_000) and net.parameter_count() < 2_000_000:
        try:
            out = net.forward(np.zeros((1, *net.input_shape), np.float32))
        except Exception as exc:
            raise Invariant(f"it built, but forward failed: {type(exc).__name__}: {exc}") from exc
        if out.shape[0] != 1:
            raise Invariant(f"one input, output {out.shape}")


def build_graph(value: Any) -> None:
    from cnnstudio.engine.errors import EngineError
    from cnnstudio.model import Graph, compile_network
    from cnnstudio.model.errors import ModelError

    graph = Graph.from_architecture(m.realize(value))
    info = graph.inference
    shape = graph.input_shape
    if (
        info.is_valid
        and shape is not None
        and _small(shape, 20_000)
        and info.total_params < 2_000_000
    ):
        try:
            compile_network(graph)
        except (ModelError, EngineError) as exc:
            raise Invariant(f"inference calls it valid, the engine refuses it: {exc}") from exc


# -- corpus helpers ----------------------------------------------------------------------


def _images(n: int, size: int = 14, seed: int = 0) -> np.ndarray:
    from tests.data.conftest import digit_like

    return digit_like(np.random.default_rng(seed), n, size)


def csv_text(images: np.ndarray, labels: Any, header: bool = True, last: bool = False) -> str:
    flat = images.reshape(len(images), -1)
    cols = [f"pixel{i}" for i in range(flat.shape[1])]
    lines = []
    if header:
        lines.append(",".join([*cols, "label"] if last else ["label", *cols]))
    for row, lab in zip(flat, labels, strict=True):
        px = [str(int(v)) for v in row]
        lines.append(",".join([*px, str(lab)] if last else [str(lab), *px]))
    return "\n".join(lines) + "\n"


#: The issue's 43-byte CSV: an id-like label column whose one large value was read as a class.
CSV_BIG_LABEL = b"label,a,b,c,d\n1000000000,0,0,0,0\n0,1,2,3,4\n"


def _png(array: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _image_bytes(array: np.ndarray, fmt: str) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    img = Image.fromarray(array)
    if fmt == "GIF":
        img = img.convert("P")
    img.save(buf, format=fmt)
    return buf.getvalue()


# -- data targets --------------------------------------------------------------------------


@cache
def csv_seeds() -> list[Sample]:
    imgs = _images(12)
    labels = [i % 3 for i in range(12)]
    rgb = np.repeat(_images(6, seed=1)[:, None], 3, axis=1)
    return [
        Sample(
            {"d.csv": csv_text(imgs, labels).encode()},
            "d.csv",
            note="csv: header, label first",
            expect="ok",
        ),
        Sample(
            {"d.csv": csv_text(imgs, labels, header=False).encode()},
            "d.csv",
            note="csv: no header",
            expect="ok",
        ),
        Sample(
            {"d.csv": csv_text(imgs, labels, last=True).encode()},
            "d.csv",
            note="csv: label last",
            expect="ok",
        ),
        Sample(
            {"d.csv": csv_text(imgs, ["cat", "dog", "emu"] * 4).encode()},
            "d.csv",
            note="csv: text labels",
            expect="ok",
        ),
        Sample(
            {"d.csv": csv_text(rgb, [0, 1] * 3).encode()},
            "d.csv",
            note="csv: 3 colour planes",
            expect="ok",
        ),
        Sample({"d.csv": CSV_BIG_LABEL}, "d.csv", note="repro: 43-byte CSV, label 1000000000"),
        Sample(
            {"d.csv": b"label,a,b,c,d\n" + str(2**63).encode() + b",0,0,0,0\n0,1,2,3,4\n"},
            "d.csv",
            note="repro: label 2^63",
        ),
        Sample(
            {"d.csv": b"label,a,b,c,d\n1,2,3\n"},
            "d.csv",
            note="repro: the only row shorter than the header",
        ),
        Sample({"d.csv": csv_text(imgs, [0] * 12).encode()}, "d.csv", note="repro: one class"),
        Sample(
            {"d.csv": b"label,a,b,c,d\n" + b"9" * 5000 + b",0,0,0,0\n0,1,2,3,4\n"},
            "d.csv",
            note="repro: a 5000-digit label",
        ),
        Sample({"d.csv": FIFO}, "d.csv", note="repro: a FIFO named .csv", expect="refused"),
        Sample({"d.csv": FOLDER}, "d.csv", note="repro: a folder named .csv", expect="refused"),
        Sample(
            {"d.csv": Link("/dev/zero")},
            "d.csv",
            note="repro: .csv linked to /dev/zero",
            expect="refused",
        ),
    ]


def _mutate_csv_sample(s: Sample, rng: np.random.Generator) -> Sample:
    data = s.files.get(s.arg)
    if not isinstance(data, bytes):
        return s.with_note("unchanged (not a file)")
    text, note = m.mutate_csv(data.decode("utf-8", "surrogateescape"), rng)
    return s.with_note(note, files={**s.files, s.arg: m.csv_text_bytes(text)})


def csv_gz_seeds() -> list[Sample]:
    out = []
    for s in csv_seeds():
        data = s.files.get(s.arg)
        if isinstance(data, bytes):
            out.append(
                Sample(
                    {"d.csv.gz": m.gzip_bytes(data)},
                    "d.csv.gz",
                    note=s.note + " (gz)",
                    expect=s.expect,
                )
            )
    gz = m.gzip_bytes(csv_text(_images(12), [i % 3 for i in range(12)]).encode())
    out += [
        Sample(
            {"d.csv.gz": gz[: len(gz) // 2]},
            "d.csv.gz",
            note="repro: truncated .csv.gz",
            expect="refused",
        ),
        Sample(
            {"d.csv.gz": gz[:10] + bytes(20) + gz[30:]},
            "d.csv.gz",
            note="repro: damaged deflate",
            expect="refused",
        ),
        Sample(
            {"d.csv.gz": gz[:-8] + b"\0" * 8},
            "d.csv.gz",
            note="repro: bad gzip CRC",
            expect="refused",
        ),
        Sample(
            {"d.csv.gz": _csv_gz_bomb()},
            "d.csv.gz",
            note="repro: 1 MB .csv.gz of zero rows",
            heavy=True,
        ),
    ]
    return out


@cache
def _csv_gz_bomb() -> bytes:
    """Under 1 MB of gzip that inflates to about a gigabyte of "0,0,...,0" rows."""
    import zlib

    row = ("0," * 784 + "0\n").encode()
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = row * 1000
    parts = [c.compress(b"label," + ",".join(f"p{i}" for i in range(784)).encode() + b"\n")]
    total = 0
    while total < 900_000:
        parts.append(c.compress(block))
        total = sum(len(p) for p in parts)
    parts.append(c.flush())
    return b"".join(parts)


def _mutate_csv_gz_sample(s: Sample, rng: np.random.Generator) -> Sample:
    data = s.files.get(s.arg)
    if not isinstance(data, bytes):
        return s.with_note("unchanged (not a file)")
    inner = m.gunzip(data) if rng.random() < 0.5 else None
    if inner is not None:
        text, note = m.mutate_csv(inner.decode("utf-8", "surrogateescape"), rng)
        new = m.gzip_bytes(m.csv_text_bytes(text))
        return s.with_note(f"inside the gzip: {note}", files={**s.files, s.arg: new})
    new, note = m.mutate_bytes(data, rng, head=32)
    return s.with_note(f"gzip bytes: {note}", files={**s.files, s.arg: new})


@cache
def idx_seeds() -> list[Sample]:
    from tests.data.conftest import idx_bytes

    imgs = _images(9, 14)
    labels = np.array([i % 3 for i in range(9)], np.uint8)
    pair = {
        "idx/train-images-idx3-ubyte": idx_bytes(imgs),
        "idx/train-labels-idx1-ubyte": idx_bytes(labels),
    }
    gz = {k + ".gz": m.gzip_bytes(v) for k, v in pair.items()}
    test = {
        "idx/t10k-images-idx3-ubyte": idx_bytes(imgs[:4]),
        "idx/t10k-labels-idx1-ubyte": idx_bytes(labels[:4]),
    }
    one = {"idx/train-images-idx3-ubyte": idx_bytes(imgs[:1])}
    return [
        Sample(pair, "idx", note="idx: one pair", expect="ok"),
        Sample(gz, "idx", note="idx: one gz pair", expect="ok"),
        Sample({**pair, **test}, "idx", note="idx: train and t10k pairs", expect="ok"),
        Sample(pair, "idx/train-images-idx3-ubyte", note="idx: the images file given", expect="ok"),
        Sample(
            {**one, "idx/train-labels-idx1-ubyte": m.idx_file(np.array([2**31 - 1]), 0x0C)},
            "idx",
            note="repro: 12-byte labels file holding 2^31-1",
        ),
        Sample(
            {**pair, "idx/train-images-idx3-ubyte": m.idx_file(imgs, dims=(2**32 - 1,) * 3)},
            "idx",
            note="repro: images header 4294967295^3 (int64 overflow)",
            expect="refused",
        ),
        Sample(
            {**pair, "idx/train-labels-idx1-ubyte": idx_bytes(np.zeros(9, np.uint8))},
            "idx",
            note="repro: one class",
        ),
        Sample(
            {**pair, "idx/train-labels-idx1-ubyte": FIFO},
            "idx",
            note="repro: labels file is a FIFO",
            expect="refused",
        ),
        Sample(
            {**pair, "idx/train-labels-idx1-ubyte": Link("/dev/zero")},
            "idx",
            note="repro: labels file linked to /dev/zero",
            expect="refused",
        ),
    ]


def _mutate_idx_sample(s: Sample, rng: np.random.Generator) -> Sample:
    names = sorted(k for k, v in s.files.items() if isinstance(v, bytes))
    if not names:
        return s.with_note("unchanged")
    name = m.pick(rng, names)
    data = s.files[name]
    assert isinstance(data, bytes)
    if name.endswith(".gz"):
        inner = m.gunzip(data) if rng.random() < 0.7 else None
        if inner is None:
            new, note = m.mutate_bytes(data, rng, head=32)
            return s.with_note(f"{name} gzip bytes: {note}", files={**s.files, name: new})
        new, note = m.mutate_idx(inner, rng)
        return s.with_note(
            f"{name} (inside the gzip): {note}", files={**s.files, name: m.gzip_bytes(new)}
        )
    if "labels" in name and rng.random() < 0.2:
        vals = np.array([m.pick(rng, [0, 1, 2, 255, 2**31 - 1, -1, 10**6]) for _ in range(9)])
        t = int(m.pick(rng, [0x08, 0x09, 0x0B, 0x0C, 0x0D]))
        return s.with_note(
            f"{name} = type 0x{t:02x} labels {vals.tolist()}",
            files={**s.files, name: m.idx_file(vals, t)},
        )
    new, note = m.mutate_idx(data, rng)
    return s.with_note(f"{name}: {note}", files={**s.files, name: new})


@cache
def folder_seeds() -> list[Sample]:
    g = _images(9, 14)
    rgb = np.stack([g, g[::-1], 255 - g], axis=-1)
    classes = {
        "imgs/a/1.png": _png(g[0]),
        "imgs/a/2.png": _png(g[1]),
        "imgs/a/3.png": _png(g[2]),
        "imgs/b/1.jpg": _image_bytes(g[3], "JPEG"),
        "imgs/b/2.jpg": _image_bytes(g[4], "JPEG"),
        "imgs/c/1.bmp": _image_bytes(g[5], "BMP"),
        "imgs/c/2.gif": _image_bytes(g[6], "GIF"),
    }
    split = {k.replace("imgs/", "imgs/train/"): v for k, v in classes.items()}
    split.update(
        {
            k.replace("imgs/", "imgs/test/"): v
            for k, v in classes.items()
            if k.endswith("1.png") or "/b/" in k or "/c/" in k
        }
    )
    colour = {
        "imgs/a/1.png": _png(rgb[0]),
        "imgs/a/2.png": _png(rgb[1]),
        "imgs/b/1.png": _png(rgb[2]),
        "imgs/b/2.jpg": _image_bytes(rgb[3], "JPEG"),
    }
    return [
        Sample(classes, "imgs", note="folder: 3 classes, PNG/JPEG/BMP/GIF", expect="ok"),
        Sample(split, "imgs", note="folder: train/ and test/", expect="ok"),
        Sample(colour, "imgs", note="folder: colour", expect="ok"),
        Sample(
            {**colour, **{k.replace("imgs/", "imgs/d/"): v for k, v in classes.items()}},
            "imgs",
            note="repro: colour photos and grey digits mixed in one folder",
            expect="refused",
        ),
        Sample(
            {**classes, "imgs/a/bomb.png": m.png_header(100000, 100000)},
            "imgs",
            note="repro: a 45-byte PNG header claiming 100000x100000 (skip it)",
            expect="ok",
        ),
        Sample(
            {**classes, "imgs/root": Link("/")}, "imgs", note="repro: a class folder linked to /"
        ),
        Sample(
            {**classes, "imgs/a/zero.png": Link("/dev/zero")},
            "imgs",
            note="repro: an image linked to /dev/zero",
            expect="ok",
        ),
        Sample(
            {**classes, "imgs/a/pipe.png": FIFO},
            "imgs",
            note="repro: an image that is a FIFO",
            expect="ok",
        ),
        Sample(
            {**classes, "imgs/caf\udcff/1.png": _png(g[7]), "imgs/caf\udcff/2.png": _png(g[8])},
            "imgs",
            note="repro: a class folder named with invalid UTF-8",
        ),
        Sample(
            {**classes, "imgs/a/self": Link("..")}, "imgs", note="a symlink loop in a class folder"
        ),
        Sample(
            {"imgs/a/1.png": _png(g[0]), "imgs/b/1.png": m.png_header(100000, 100000)},
            "imgs",
            note="repro: only bad images in one class",
            expect="refused",
        ),
        Sample(
            {**classes, "imgs/a/big16.png": m.png_of_zeros(12000, 12000)},
            "imgs",
            note="repro: a 289 KB 16-bit 12000x12000 PNG",
            heavy=True,
        ),
    ]


_SPECIALS: list[tuple[Any, str]] = [
    (Link("/dev/zero"), "a link to /dev/zero"),
    (Link("/"), "a link to /"),
    (Link("{w}/missing"), "a dangling link"),
    (FIFO, "a FIFO"),
    (FOLDER, "a folder"),
    (b"", "empty"),
]


def _mutate_folder_sample(s: Sample, rng: np.random.Generator) -> Sample:
    files = [k for k, v in s.files.items() if isinstance(v, bytes)]
    op = rng.random()
    if files and op < 0.75:
        name = m.pick(rng, files)
        data = s.files[name]
        assert isinstance(data, bytes)
        if name.endswith(".png"):
            new, note = m.mutate_png(data, rng)
        elif name.endswith(".jpg"):
            new, note = m.mutate_jpeg(data, rng)
        else:
            new, note = m.mutate_bytes(data, rng)
        return s.with_note(f"{name}: {note}", files={**s.files, name: new})
    if files and op < 0.9:
        name = m.pick(rng, files)
        entry, what = _SPECIALS[int(rng.integers(len(_SPECIALS)))]
        return s.with_note(f"{name} is {what}", files={**s.files, name: entry})
    # Move every image of one class under another name: hidden, non-UTF-8, nested, a file.
    classes = sorted({k.split("/")[1] for k in s.files if k.count("/") >= 2})
    if not classes:
        return s.with_note("unchanged")
    old = m.pick(rng, classes)
    new_name = m.pick(rng, [".hidden", "\udcff\udcfe", "a" * 250, "x/y/z", "-", " "])
    moved = {
        (
            k.replace(f"imgs/{old}/", f"imgs/{new_name}/", 1) if k.startswith(f"imgs/{old}/") else k
        ): v
        for k, v in s.files.items()
    }
    return s.with_note(f"class {old!r} renamed {new_name[:12]!r}", files=moved)


def load_cifar_source(path: Path) -> None:
    from cnnstudio.data.cifar import IMAGE_SHAPE, load_cifar

    split = load_cifar(path)
    for ds in (split.train, split.test):
        if ds is not None:
            check_dataset(ds)
            if ds.input_shape != IMAGE_SHAPE:
                raise Invariant(f"CIFAR-10 images of shape {ds.input_shape}")


def _cifar_batch(n: int, seed: int, label: int | None = None) -> bytes:
    """``n`` records of random pixels, labels 0-9 (or all ``label``)."""
    from cnnstudio.data.cifar import RECORD_BYTES

    rng = np.random.default_rng(seed)
    records = rng.integers(0, 256, (n, RECORD_BYTES), dtype=np.uint8)
    records[:, 0] = records[:, 0] % 10 if label is None else label
    return records.tobytes()


def _tar(members: dict[str, bytes], gz: bool = True) -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return m.gzip_bytes(buf.getvalue()) if gz else buf.getvalue()


_CIFAR_META = b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n"


@cache
def cifar_seeds() -> list[Sample]:
    """CIFAR-10's binary distribution, a few records a batch: folders, archives, one file."""
    import pickle

    batches = {
        "data_batch_1.bin": _cifar_batch(3, 1),
        "data_batch_2.bin": _cifar_batch(2, 2),
        "test_batch.bin": _cifar_batch(2, 3),
    }
    folder = {f"c/{k}": v for k, v in batches.items()} | {"c/batches.meta.txt": _CIFAR_META}
    inner = {f"cifar-10-batches-bin/{k}": v for k, v in batches.items()}
    inner["cifar-10-batches-bin/batches.meta.txt"] = _CIFAR_META
    # A pickle like the Python distribution's (it would only build a dict if loaded).
    pickled = pickle.dumps({"labels": [1]}, protocol=2)
    return [
        Sample(folder, "c", note="cifar: folder, two data batches and the test batch", expect="ok"),
        Sample(
            {"c/test_batch.bin": batches["test_batch.bin"]},
            "c",
            note="cifar: the test batch alone",
            expect="ok",
        ),
        Sample(folder, "c/data_batch_1.bin", note="cifar: one batch file given", expect="ok"),
        Sample({"a.tar.gz": _tar(inner)}, "a.tar.gz", note="cifar: the .tar.gz", expect="ok"),
        Sample({"a.tar": _tar(inner, gz=False)}, "a.tar", note="cifar: a plain .tar", expect="ok"),
        Sample(
            {"c/data_batch_1.bin": pickled + bytes(-len(pickled) % 3073)},
            "c",
            note="repro: a pickle named data_batch_1.bin",
            expect="refused",
        ),
        Sample(
            {"c/cifar-10-batches-py/data_batch_1": pickled},
            "c",
            note="repro: the Python distribution",
            expect="refused",
        ),
        Sample(
            {**folder, "c/test_batch.bin": batches["test_batch.bin"][:-10]},
            "c",
            note="repro: a truncated batch",
            expect="refused",
        ),
        Sample(
            {**folder, "c/data_batch_2.bin": batches["data_batch_2.bin"] + b"\0" * 100},
            "c",
            note="repro: a batch of the wrong length (100 bytes over)",
            expect="refused",
        ),
        Sample(
            {"c/data_batch_1.bin": pickled},
            "c/data_batch_1.bin",
            note="repro: a pickle named data_batch_1.bin, given alone",
            expect="refused",
        ),
        Sample(
            {"a.tar.gz": _tar(inner)[:-300]},
            "a.tar.gz",
            note="repro: a truncated .tar.gz",
            expect="refused",
        ),
        Sample(
            {"a.tar.gz": _tar({**inner, "cifar-10-batches-bin/test_batch.bin": pickled})},
            "a.tar.gz",
            note="repro: a pickled batch inside the .tar.gz",
            expect="refused",
        ),
        Sample(
            {**folder, "c/data_batch_2.bin": _cifar_batch(2, 2, label=200)},
            "c",
            note="repro: labels beyond the ten classes",
            expect="refused",
        ),
        Sample(
            {**folder, "c/batches.meta.txt": b"x\n" * 400},
            "c",
            note="repro: batches.meta.txt with 400 names",
            expect="refused",
        ),
        Sample({**folder, "c/test_batch.bin": FIFO}, "c", note="repro: a FIFO", expect="refused"),
        Sample(
            {**folder, "c/data_batch_1.bin": Link("/dev/zero")},
            "c",
            note="repro: a batch linked to /dev/zero",
            expect="refused",
        ),
        Sample(
            {**folder, "c/batches.meta.txt": Link("/dev/zero")},
            "c",
            note="repro: batches.meta.txt linked to /dev/zero",
            expect="refused",
        ),
        Sample({"c/readme.txt": b"hi"}, "c", note="repro: no batches", expect="refused"),
        Sample(
            {"a.tar.gz": _tar({"readme.txt": b"hi"})},
            "a.tar.gz",
            note="repro: an archive without batches",
            expect="refused",
        ),
    ]


def _mutate_cifar_sample(s: Sample, rng: np.random.Generator) -> Sample:
    files = [k for k, v in s.files.items() if isinstance(v, bytes)]
    if not files or rng.random() < 0.1:
        name = m.pick(rng, files) if files else s.arg
        entry, what = _SPECIALS[int(rng.integers(len(_SPECIALS)))]
        return s.with_note(f"{name} is {what}", files={**s.files, name: entry})
    name = m.pick(rng, files)
    data = s.files[name]
    assert isinstance(data, bytes)
    op = rng.random()
    if name.endswith(".tar.gz") and op < 0.6:
        inner = m.gunzip(data)
        if inner is not None:
            new, note = m.mutate_bytes(inner, rng, head=512)
            return s.with_note(
                f"{name}, inside: {note}", files={**s.files, name: m.gzip_bytes(new)}
            )
    if name.endswith(".bin") and op < 0.5:
        n = max(1, len(data) // 3073)
        rec = int(rng.integers(n)) * 3073
        label = int(m.pick(rng, [0, 9, 10, 11, 127, 128, 255]))
        new = data[:rec] + bytes([label]) + data[rec + 1 :]
        return s.with_note(
            f"{name}: label of record {rec // 3073} = {label}", files={**s.files, name: new}
        )
    if name.endswith(".txt") and op < 0.5:
        line = m.pick(rng, [b"", b"a" * 300, b"\xff\xfe", b"cat", b"\x00", b"\t dog \r"])
        lines = data.split(b"\n")
        lines.insert(int(rng.integers(len(lines) + 1)), line)
        return s.with_note(
            f"{name}: line {line[:8]!r} inserted", files={**s.files, name: b"\n".join(lines)}
        )
    new, note = m.mutate_bytes(data, rng, head=512 if ".tar" in name else 64)
    return s.with_note(f"{name}: {note}", files={**s.files, name: new})


# -- io targets ---------------------------------------------------------------------------


def _saved(save: Callable[[Path], Path]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="cnnstudio-fuzz-seed-") as d:
        return save(Path(d)).read_bytes()


@cache
def model_bytes(arch_name: str) -> bytes:
    from cnnstudio.io import save_model
    from tests.io import archs
    from tests.io.conftest import make_bundle

    arch = getattr(archs, arch_name)()
    return _saved(lambda d: save_model(d / "m.cnnmodel", make_bundle(arch)))


def huge_input_model() -> bytes:
    """The issue's 730-byte model: an Input of 1x10000x10000 straight into a Dense."""
    from tests.io import archs

    arch = archs._arch(
        "huge",
        [1, 10000, 10000],
        [
            ("flat", "Flatten", {}, ["input"]),
            ("fc", "Dense", {"units": 10}, ["flat"]),
            ("out", "Softmax", {}, ["fc"]),
        ],
    )
    members = dict(m.zip_members(model_bytes("lenet")))
    meta = json.loads(members["meta.json"])
    meta["input_shape"] = [1, 10000, 10000]
    meta["preprocessing"]["digit"] = False
    empty_npz = m.build_zip([])
    return m.build_zip(
        [
            ("meta.json", m.dumps(meta)),
            ("architecture.json", m.dumps(arch)),
            ("weights.npz", empty_npz),
        ]
    )


def _model_with_arch(edit: Callable[[dict], None]) -> bytes:
    members = m.zip_members(model_bytes("lenet"))
    out = []
    for name, data in members:
        if name == "architecture.json":
            arch = json.loads(data)
            edit(arch)
            data = m.dumps(arch)
        out.append((name, data))
    return m.build_zip(out)


def _node(arch: dict, node_id: str) -> dict:
    return next(n for n in arch["nodes"] if n["id"] == node_id)


def _zip_with(data: bytes, name: str, new: bytes) -> bytes:
    return m.build_zip([(n, new if n == name else d) for n, d in m.zip_members(data)])


@cache
def model_seeds() -> list[Sample]:
    lenet = model_bytes("lenet")
    valid = [
        Sample({"m.cnnmodel": model_bytes(a)}, "m.cnnmodel", note=f"model: {a}", expect="ok")
        for a in ("lenet", "kitchen_sink", "residual", "binary")
    ]

    def units(v: Any) -> Callable[[dict], None]:
        return lambda a: _node(a, "fc1")["config"].__setitem__("units", v)

    deep_meta = _zip_with(lenet, "meta.json", b"[" * 100_000 + b"]" * 100_000)
    return [
        *valid,
        Sample(
            {"m.cnnmodel": huge_input_model()},
            "m.cnnmodel",
            note="repro: Input 1x10000x10000 into a Dense",
            expect="refused",
        ),
        Sample(
            {"m.cnnmodel": _model_with_arch(units(2**63))},
            "m.cnnmodel",
            note="repro: Dense units 2^63",
            expect="refused",
        ),
        Sample(
            {"m.cnnmodel": _model_with_arch(units(10**4301))},
            "m.cnnmodel",
            note="repro: an int of 4302 digits",
            expect="refused",
        ),
        Sample(
            {
                "m.cnnmodel": _model_with_arch(
                    lambda a: _node(a, "conv1")["config"].__setitem__("use_bias", "no")
                )
            },
            "m.cnnmodel",
            note='repro: use_bias "no"',
            expect="refused",
        ),
        Sample(
            {"m.cnnmodel": deep_meta},
            "m.cnnmodel",
            note="repro: meta.json nested 100000 deep",
            expect="refused",
        ),
        Sample(
            {
                "m.cnnmodel": _zip_with(
                    lenet,
                    "weights.npz",
                    m.pickled_npz("fc1.w"),
                )
            },
            "m.cnnmodel",
            note="repro: weights hold a pickle",
            expect="refused",
        ),
        Sample({"m.cnnmodel": FIFO}, "m.cnnmodel", note="repro: a FIFO", expect="refused"),
        Sample({"m.cnnmodel": FOLDER}, "m.cnnmodel", note="repro: a folder", expect="refused"),
        Sample({}, "/dev/zero", note="repro: /dev/zero", expect="refused"),
        Sample(
            {"m.cnnmodel": m.bombed_zip(m.zip_members(lenet), "architecture.json")},
            "m.cnnmodel",
            note="a member inflating to 300 MB",
            expect="refused",
        ),
        Sample(
            {
                "m.cnnmodel": _model_with_arch(
                    lambda a: a.__setitem__("nodes", long_chain(20000)["nodes"])
                )
            },
            "m.cnnmodel",
            note="repro: 20,000 layers",
            heavy=True,
        ),
    ]


def _mutate_file(
    s: Sample,
    rng: np.random.Generator,
    mutate: Callable[[bytes, np.random.Generator], tuple[bytes, str]],
) -> Sample:
    names = sorted(k for k, v in s.files.items() if isinstance(v, bytes))
    if not names:
        return s.with_note("unchanged")
    name = m.pick(rng, names)
    data = s.files[name]
    assert isinstance(data, bytes)
    new, note = mutate(data, rng)
    return s.with_note(f"{name}: {note}", files={**s.files, name: new})


def _arch_focus(path: tuple) -> bool:
    return "config" in path or "nodes" in path or "input_shape" in path


def _mutate_zip_sample(s: Sample, rng: np.random.Generator) -> Sample:
    return _mutate_file(s, rng, lambda d, r: m.mutate_zip(d, r, _arch_focus))


@cache
def project_bytes(kind: str) -> bytes:
    from cnnstudio.data.samples import SampleCollection
    from cnnstudio.io import ProjectData, save_project
    from tests.io import archs
    from tests.io.conftest import make_bundle

    samples = SampleCollection()
    for i in range(4):
        samples.add(np.full((1, 28, 28), 60 * i, np.uint8), str(i))
    if kind == "full":
        project = ProjectData(
            architecture=archs.residual(),
            history=[{"name": "run", "loss": [1.0, 0.5]}],
            trained=make_bundle(archs.binary()),
            samples=samples.to_arrays(),
        )
    else:
        project = ProjectData(architecture=archs.lenet())
    return _saved(lambda d: save_project(d / "p.cnnstudio", project))


@cache
def project_seeds() -> list[Sample]:
    full = project_bytes("full")
    deep = _zip_with(full, "project.json", b'{"format": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    return [
        Sample(
            {"p.cnnstudio": full}, "p.cnnstudio", note="project: trained, with samples", expect="ok"
        ),
        Sample(
            {"p.cnnstudio": project_bytes("bare")},
            "p.cnnstudio",
            note="project: architecture only",
            expect="ok",
        ),
        Sample(
            {"p.cnnstudio": deep},
            "p.cnnstudio",
            note="repro: project.json nested 100000 deep",
            expect="refused",
        ),
        Sample(
            {
                "p.cnnstudio": _zip_with(
                    full,
                    "samples.npz",
                    m.pickled_npz("images"),
                )
            },
            "p.cnnstudio",
            note="repro: samples hold a pickle",
            expect="refused",
        ),
        Sample({"p.cnnstudio": FIFO}, "p.cnnstudio", note="repro: a FIFO", expect="refused"),
        Sample({}, "/dev/zero", note="repro: /dev/zero", expect="refused"),
    ]


@cache
def recovery_seeds() -> list[Sample]:
    from cnnstudio.io import load_project, write_recovery

    with tempfile.TemporaryDirectory(prefix="cnnstudio-fuzz-seed-") as d:
        src = Path(d, "p.cnnstudio")
        src.write_bytes(project_bytes("full"))
        write_recovery(Path(d, "cfg"), load_project(src), source=src)
        files: dict[str, Any] = {
            str(p.relative_to(d)): p.read_bytes() for p in Path(d, "cfg").rglob("*") if p.is_file()
        }
    note = "cfg/recovery/autosave.json"
    proj = "cfg/recovery/autosave.cnnstudio"
    return [
        Sample(dict(files), "cfg", note="recovery: autosave and note", expect="ok"),
        Sample({proj: files[proj]}, "cfg", note="recovery: no note", expect="ok"),
        Sample(
            {**files, note: b"[" * 100_000 + b"]" * 100_000},
            "cfg",
            note="repro: autosave.json nested 100000 deep",
            expect="ok",
        ),
        Sample(
            {**files, note: b'{"source": ' + b"9" * 5000 + b"}"},
            "cfg",
            note="repro: autosave.json with a 5000-digit int",
            expect="ok",
        ),
        Sample({**files, note: FIFO}, "cfg", note="repro: autosave.json is a FIFO", expect="ok"),
        Sample(
            {**files, note: Link("/dev/zero")},
            "cfg",
            note="repro: autosave.json linked to /dev/zero",
            expect="ok",
        ),
        Sample(
            {**files, "cfg/recovery/.autosave.cnnstudio.k3j9xqzb.tmp": files[proj][:999]},
            "cfg",
            note="repro: the temporary of an interrupted autosave (swept at start)",
            expect="ok",
        ),
        Sample({**files, proj: FIFO}, "cfg", note="repro: autosave.cnnstudio is a FIFO"),
        Sample({**files, proj: FOLDER}, "cfg", note="repro: autosave.cnnstudio is a folder"),
    ]


def _mutate_recovery_sample(s: Sample, rng: np.random.Generator) -> Sample:
    note_name = "cfg/recovery/autosave.json"
    if isinstance(s.files.get(note_name), bytes) and rng.random() < 0.4:
        new, note = m.mutate_json_bytes(s.files[note_name], rng)  # type: ignore[arg-type]
        return s.with_note(f"autosave.json: {note}", files={**s.files, note_name: new})
    return _mutate_zip_sample(s, rng)


# -- architectures -----------------------------------------------------------------------


def long_chain(n: int) -> dict:
    """An Input and ``n`` cheap layers in a row (no weights), then a tiny head."""
    nodes: list[dict[str, Any]] = [
        {"id": "input", "type": "Input", "config": {"shape": [1, 4, 4]}, "inputs": []}
    ]
    for i in range(n):
        nodes.append({"id": f"r{i}", "type": "ReLU", "config": {}, "inputs": [nodes[-1]["id"]]})
    nodes += [
        {"id": "flat", "type": "Flatten", "config": {}, "inputs": [nodes[-1]["id"]]},
        {"id": "fc", "type": "Dense", "config": {"units": 2}, "inputs": ["flat"]},
        {"id": "out", "type": "Softmax", "config": {}, "inputs": ["fc"]},
    ]
    return {
        "format": "cnnstudio-architecture",
        "version": 1,
        "name": f"chain of {n}",
        "nodes": nodes,
    }


_SPATIAL = [
    "Conv2D",
    "ReLU",
    "LeakyReLU",
    "PReLU",
    "Tanh",
    "Sigmoid",
    "MaxPool2D",
    "AvgPool2D",
    "BatchNorm",
    "Dropout",
]


def random_architecture(rng: np.random.Generator) -> dict:
    """A random chain (with the odd Add/Concatenate branch) of small layers."""
    shape = [int(m.pick(rng, [1, 3])), int(rng.integers(4, 17)), int(rng.integers(4, 17))]
    nodes: list[dict[str, Any]] = [
        {"id": "input", "type": "Input", "config": {"shape": shape}, "inputs": []}
    ]

    def add(kind: str, config: dict, inputs: list[str]) -> str:
        nid = f"n{len(nodes)}"
        nodes.append({"id": nid, "type": kind, "config": config, "inputs": inputs})
        return nid

    last = "input"
    for _ in range(int(rng.integers(0, 7))):
        kind = m.pick(rng, _SPATIAL)
        config: dict[str, Any] = {}
        if kind == "Conv2D":
            config = {
                "filters": int(rng.integers(1, 5)),
                "kernel_size": int(rng.integers(1, 4)),
                "stride": int(rng.integers(1, 3)),
                "padding": m.pick(rng, [0, 1, "same", "valid"]),
            }
        elif kind in ("MaxPool2D", "AvgPool2D"):
            config = {"pool_size": int(rng.integers(1, 3)), "padding": m.pick(rng, [0, "same"])}
        elif kind == "Dropout":
            config = {"rate": float(rng.uniform(0, 0.9))}
        start = last
        last = add(kind, config, [last])
        if rng.random() < 0.2:
            last = add(m.pick(rng, ["Add", "Concatenate"]), {}, [start, last])
    last = add("Flatten", {}, [last])
    last = add("Dense", {"units": int(rng.integers(1, 6))}, [last])
    add(m.pick(rng, ["Softmax", "Sigmoid"]), {}, [last])
    return {"format": "cnnstudio-architecture", "version": 1, "name": "random", "nodes": nodes}


@cache
def arch_dicts() -> list[tuple[str, dict]]:
    from cnnstudio.model.presets import list_presets
    from tests.io import archs

    found = [(f"arch: {k}", a) for k, a in archs.everything().items()]
    found += [(f"preset: {p.key}", json.loads(p.path.read_text())) for p in list_presets()]
    return found


def _edited(arch: dict, node_type: str, key: str, value: Any) -> dict:
    nodes = [dict(n) for n in arch["nodes"]]
    for n in nodes:
        if n["type"] == node_type:
            n["config"] = {**n.get("config", {}), key: value}
            break
    return {**arch, "nodes": nodes}


def _huge_input(arch: dict) -> dict:
    return _edited(arch, "Input", "shape", [1, 10000, 10000])


@cache
def arch_value_seeds() -> list[Sample]:
    from tests.io import archs

    lenet = archs.lenet()
    out = [Sample(value=a, note=n, expect="ok") for n, a in arch_dicts()]
    out += [
        Sample(
            value=_edited(lenet, "Dense", "units", 2**63),
            note="repro: Dense units 2^63",
            expect="refused",
        ),
        Sample(
            value=_edited(lenet, "Conv2D", "filters", 2**63),
            note="repro: Conv2D filters 2^63",
            expect="refused",
        ),
        Sample(
            value=_edited(lenet, "Conv2D", "kernel_size", [2**62, 2**62]),
            note="repro: kernel 2^62",
            expect="refused",
        ),
        Sample(
            value=_edited(lenet, "Dense", "units", 10**4301),
            note="repro: an int of 4302 digits",
            expect="refused",
        ),
        Sample(
            value=_edited(lenet, "Conv2D", "use_bias", "no"),
            note='repro: use_bias "no"',
            expect="refused",
        ),
        Sample(
            value=_edited(lenet, "Conv2D", "padding", m.Deep(100_000)),
            note="repro: padding nested 100000 deep",
            expect="refused",
        ),
        Sample(
            value=_edited(lenet, "Input", "shape", [2**63, 1, 1]),
            note="repro: Input 2^63x1x1",
            expect="refused",
        ),
        Sample(value=long_chain(20000), note="repro: 20,000 layers in a row"),
    ]
    return out


def _mutate_arch_value(s: Sample, rng: np.random.Generator) -> Sample:
    if rng.random() < 0.15:
        return Sample(value=random_architecture(rng), note="random architecture")
    value = s.value if rng.random() < 0.7 else random_architecture(rng)
    notes = []
    for _ in range(int(rng.integers(1, 4))):
        value, note = m.mutate_json(value, rng, lambda p: "config" in p or "inputs" in p)
        notes.append(note)
    return s.with_note("; ".join(notes), value=value, expect=None)


@cache
def arch_file_seeds() -> list[Sample]:
    from cnnstudio.model import Graph
    from cnnstudio.model.files import save_architecture

    def saved(graph: Graph) -> bytes:
        return _saved(lambda d: save_architecture(graph, d / "a.json"))

    out = []
    for note, arch in arch_dicts():
        data = saved(Graph.from_architecture(arch))
        out.append(
            Sample(
                {"a.json": data}, "a.json", note=note.replace("arch:", "arch file:"), expect="ok"
            )
        )
    base = json.loads(out[0].files["a.json"])  # type: ignore[arg-type]
    out += [
        Sample(
            {"a.json": b"[" * 100_000 + b"]" * 100_000},
            "a.json",
            note="repro: nested 100000 deep",
            expect="refused",
        ),
        Sample(
            {"a.json": m.dumps(_edited(base, "Dense", "units", 10**4301))},
            "a.json",
            note="repro: an int of 4302 digits",
            expect="refused",
        ),
        Sample(
            {"a.json": m.dumps(_edited(base, "Dense", "units", 2**63))},
            "a.json",
            note="repro: Dense units 2^63",
        ),
        # (refused when opened for editing; the io reader checks only the structure)
        Sample(
            {"a.json": m.dumps(_edited(base, "Conv2D", "use_bias", "no"))},
            "a.json",
            note='repro: use_bias "no"',
        ),
        Sample({"a.json": m.dumps(_huge_input(base))}, "a.json", note="repro: Input 1x10000x10000"),
        Sample({"a.json": FIFO}, "a.json", note="repro: a FIFO", expect="refused"),
        Sample({"a.json": FOLDER}, "a.json", note="repro: a folder", expect="refused"),
        Sample({}, "/dev/zero", note="repro: /dev/zero", expect="refused"),
        Sample({"a.json": b"\xff\xfe{}"}, "a.json", note="not UTF-8", expect="refused"),
        Sample(
            {"a.json": m.dumps(long_chain(20000))},
            "a.json",
            note="repro: 20,000 layers (152 KB)",
            heavy=True,
        ),
    ]
    return out


def _mutate_json_sample(s: Sample, rng: np.random.Generator) -> Sample:
    return _mutate_file(
        s, rng, lambda d, r: m.mutate_json_bytes(d, r, lambda p: "config" in p or "inputs" in p)
    )


# -- the registry ----------------------------------------------------------------------------


def _errors(*names: str) -> tuple[type[BaseException], ...]:
    import importlib

    out = []
    for name in names:
        module, _, attr = name.rpartition(".")
        out.append(getattr(importlib.import_module(module), attr))
    return tuple(out)


def all_targets() -> dict[str, Target]:
    """Every in-process target by name (the command line is in `cli_target`)."""
    data_err = _errors("cnnstudio.data.errors.DatasetError")
    file_err = _errors("cnnstudio.io.errors.ModelFileError")
    model_err = _errors("cnnstudio.model.errors.ModelError")
    engine_err = _errors("cnnstudio.engine.errors.EngineError")
    targets = [
        Target("data-csv", csv_seeds, _mutate_csv_sample, load_data, data_err, seed=11),
        Target(
            "data-csv-gz",
            csv_gz_seeds,
            _mutate_csv_gz_sample,
            load_data,
            data_err,
            seed=12,
            timeout=60,
        ),
        Target("data-idx", idx_seeds, _mutate_idx_sample, load_data, data_err, seed=13),
        Target(
            "data-folder",
            folder_seeds,
            _mutate_folder_sample,
            load_data,
            data_err,
            seed=14,
            timeout=20,
        ),
        Target(
            "data-cifar",
            cifar_seeds,
            _mutate_cifar_sample,
            load_cifar_source,
            data_err,
            seed=15,
            timeout=20,
        ),
        Target(
            "io-model",
            model_seeds,
            _mutate_zip_sample,
            load_model_file,
            file_err,
            seed=21,
            timeout=30,
        ),
        Target(
            "io-project", project_seeds, _mutate_zip_sample, load_project_file, file_err, seed=22
        ),
        Target(
            "io-recovery",
            recovery_seeds,
            _mutate_recovery_sample,
            load_recovery_dir,
            file_err,
            seed=23,
            owns_folder=True,
        ),
        Target(
            "arch-file",
            arch_file_seeds,
            _mutate_json_sample,
            load_arch_file,
            model_err,
            seed=31,
            timeout=30,
        ),
        Target(
            "arch-file-io",
            arch_file_seeds,
            _mutate_json_sample,
            load_arch_file_io,
            file_err,
            seed=32,
            timeout=30,
        ),
        Target(
            "engine-network",
            arch_value_seeds,
            _mutate_arch_value,
            build_network,
            engine_err,
            names_file=False,
            seed=41,
            timeout=20,
        ),
        Target(
            "model-graph",
            arch_value_seeds,
            _mutate_arch_value,
            build_graph,
            model_err,
            names_file=False,
            seed=42,
            timeout=20,
        ),
    ]
    return {t.name: t for t in targets}


def corpus(target: Target, heavy: bool) -> list[Sample]:
    """The target's seed corpus; the heavy reproductions only when ``heavy``."""
    return [s for s in target.seeds() if heavy or not s.heavy]


def resolve_env_tries(default: int) -> int:
    return int(os.environ.get("FUZZ_TRIES", default))
