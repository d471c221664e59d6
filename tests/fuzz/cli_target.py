"""The command line as a fuzz target: ``python -m cnnstudio`` with mutated files and arguments.

Each sample is a small folder (a CSV, an IDX pair, an image folder, a model, a project,
an architecture file, images) and a command line over it. Mutations damage one of the
files with the matching file-format mutator, or replace, drop or repeat an argument.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from tests.fuzz import mutators as m
from tests.fuzz import targets as t
from tests.fuzz.harness import FIFO, FOLDER, Sample, Target

W = "{w}"
_TRAIN = ["--epochs", "1", "--batch-size", "16", "--val-split", "0", "--quiet"]


@cache
def _files() -> dict[str, Any]:
    from cnnstudio.model import load_preset
    from cnnstudio.model.files import save_architecture
    from tests.data.conftest import idx_bytes

    imgs = t._images(30, 28)
    labels = [i % 10 for i in range(30)]
    idx = t._images(20, 14)
    arch = t._saved(lambda d: save_architecture(load_preset("lenet5"), d / "a.json"))
    return {
        "d.csv": t.csv_text(imgs, labels).encode(),
        "d.csv.gz": m.gzip_bytes(t.csv_text(imgs, labels, last=True).encode()),
        "idx/train-images-idx3-ubyte": idx_bytes(idx),
        "idx/train-labels-idx1-ubyte": idx_bytes(np.array([i % 3 for i in range(20)], np.uint8)),
        **{k: v for k, v in t.folder_seeds()[0].files.items()},
        "m.cnnmodel": _digit_model(),
        "p.cnnstudio": t.project_bytes("full"),
        "a.json": arch,
        "digit.png": t._png(imgs[0]),
        "photo.jpg": t._image_bytes(np.stack([imgs[1]] * 3, axis=-1), "JPEG"),
    }


def _digit_model() -> bytes:
    """LeNet for 28x28 digits whose classes are named "0".."9", like the CSV's labels."""
    from cnnstudio.data.normalize import Normalization
    from cnnstudio.io import TrainedModel, save_model
    from tests.io import archs
    from tests.io.conftest import trained_network

    bundle = TrainedModel.from_network(
        trained_network(archs.lenet()),
        [str(i) for i in range(10)],
        normalization=Normalization((0.13,), (0.31,)),
    )
    return t._saved(lambda d: save_model(d / "m.cnnmodel", bundle))


def _pick(*names: str, **extra: Any) -> dict[str, Any]:
    files = _files()
    chosen = {k: v for k, v in files.items() if any(k == n or k.startswith(f"{n}/") for n in names)}
    return {**chosen, **extra}


def _train(data: str, *more: str, arch: str | None = None) -> list[str]:
    source = ["--arch", arch] if arch else ["--preset", "lenet5"]
    return ["train", *source, "--data", data, *_TRAIN, *more, "--out", f"{W}/out.cnnmodel"]


@cache
def cli_seeds() -> list[Sample]:
    out = ("out.cnnmodel",)
    big = t.CSV_BIG_LABEL
    one = t.csv_text(t._images(12), [0] * 12).encode()
    bomb = {**t.folder_seeds()[0].files, "imgs/a/bomb.png": m.png_header(100000, 100000)}
    return [
        Sample(
            _pick("d.csv"),
            argv=_train(f"{W}/d.csv"),
            note="train on a CSV",
            expect="ok",
            outputs=out,
        ),
        Sample(
            _pick("d.csv.gz", "a.json"),
            argv=_train(f"{W}/d.csv.gz", arch=f"{W}/a.json"),
            note="train --arch on a .csv.gz",
            expect="ok",
            outputs=out,
        ),
        Sample(
            _pick("idx"),
            argv=_train(f"{W}/idx", "--processes", "2"),
            note="train on IDX, 2 processes",
            expect="ok",
            outputs=out,
        ),
        Sample(
            _pick("imgs"),
            argv=_train(f"{W}/imgs"),
            note="train on an image folder",
            expect="ok",
            outputs=out,
        ),
        Sample(
            _pick("m.cnnmodel", "d.csv"),
            argv=["evaluate", f"{W}/m.cnnmodel", "--data", f"{W}/d.csv"],
            note="evaluate",
            expect="ok",
        ),
        Sample(
            _pick("m.cnnmodel", "idx"),
            argv=["evaluate", f"{W}/m.cnnmodel", "--data", f"{W}/idx", "--json"],
            note="evaluate --json on IDX",
        ),
        Sample(
            _pick("m.cnnmodel", "digit.png", "photo.jpg"),
            argv=["predict", f"{W}/m.cnnmodel", f"{W}/digit.png", f"{W}/photo.jpg", "--top", "2"],
            note="predict",
            expect="ok",
        ),
        Sample(
            _pick("m.cnnmodel"),
            argv=["export", f"{W}/m.cnnmodel", "-o", f"{W}/out.onnx"],
            note="export onnx",
            expect="ok",
            outputs=("out.onnx",),
        ),
        Sample(
            _pick("p.cnnstudio"),
            argv=["export", f"{W}/p.cnnstudio", "-f", "numpy", "-o", f"{W}/np"],
            note="export a project to numpy",
            expect="ok",
            outputs=("np",),
        ),
        Sample(
            _pick("m.cnnmodel"),
            argv=["export", f"{W}/m.cnnmodel", "-o", f"{W}/arch.json"],
            note="export json",
            expect="ok",
            outputs=("arch.json",),
        ),
        # the reproductions
        Sample(
            {},
            argv=_train("mnist-sample", arch="/dev/zero"),
            note="repro: train --arch /dev/zero",
            expect="refused",
            subject="/dev/zero",
        ),
        Sample(
            {"fifo.json": FIFO},
            argv=_train("mnist-sample", arch=f"{W}/fifo.json"),
            note="repro: train --arch FIFO",
            expect="refused",
            subject=f"{W}/fifo.json",
        ),
        Sample(
            {"dir.json": FOLDER},
            argv=_train("mnist-sample", arch=f"{W}/dir.json"),
            note="repro: train --arch a folder",
            expect="refused",
            subject=f"{W}/dir.json",
        ),
        Sample(
            {"big.csv": big},
            argv=_train(f"{W}/big.csv"),
            note="repro: train on the 43-byte CSV",
            outputs=out,
        ),
        Sample(
            {"one.csv": one},
            argv=_train(f"{W}/one.csv"),
            note="repro: train on a one-class CSV",
            expect="refused",
            subject=f"{W}/one.csv",
        ),
        Sample(
            bomb,
            argv=_train(f"{W}/imgs"),
            note="repro: image folder with a bomb PNG",
            expect="ok",
            outputs=out,
        ),
        Sample(
            _pick("m.cnnmodel", "d.csv", huge=t.huge_input_model()),
            argv=["evaluate", f"{W}/huge", "--data", f"{W}/d.csv"],
            note="repro: evaluate the 1x10000x10000 model",
            expect="refused",
            subject=f"{W}/huge",
        ),
        Sample(
            _pick("d.csv"),
            argv=[*_train(f"{W}/d.csv"), "--seed", "-1"],
            note="repro: --seed -1",
            expect="refused",
            subject="--seed",
        ),
        Sample(
            _pick("d.csv"),
            argv=[*_train(f"{W}/d.csv")[:-1], f"{W}/d.csv/out.cnnmodel"],
            note="repro: --out under a file",
            expect="refused",
            subject=f"{W}/d.csv/out.cnnmodel",
        ),
        Sample(
            {"d.csv.gz": m.gzip_bytes(_files()["d.csv"])[:200]},
            argv=_train(f"{W}/d.csv.gz"),
            note="repro: truncated .csv.gz",
            expect="refused",
            subject=f"{W}/d.csv.gz",
        ),
        Sample(
            _pick("m.cnnmodel", bomb=m.png_header(100000, 100000)),
            argv=["predict", f"{W}/m.cnnmodel", f"{W}/bomb"],
            note="repro: predict a bomb PNG",
            expect="refused",
            subject=f"{W}/bomb",
        ),
    ]


_ODD_VALUES = [
    "-1",
    "0",
    "nan",
    "inf",
    "1e309",
    "",
    "abc",
    "99999999999999999999",
    str(2**63),
    "-0",
    "1e-300",
    "\udcff",
]
_ODD_PATHS = ["/dev/zero", f"{W}/missing", W, f"{W}/fifo", "/"]
#: Values that would make a valid run take forever: not bugs, so not tried.
_NO_HUGE = {"--epochs", "--top"}


def _options(argv: list[str]) -> list[int]:
    """Indices of option values (the word after an option that takes one)."""
    flags = {"--quiet", "--normalize", "--json", "-h", "--help"}
    return [i + 1 for i, a in enumerate(argv[:-1]) if a.startswith("-") and a not in flags]


def _mutate_cli(s: Sample, rng: np.random.Generator) -> Sample:
    argv = list(s.argv or [])
    files = [k for k, v in s.files.items() if isinstance(v, bytes)]
    op = rng.random()
    if files and op < 0.55:
        name = m.pick(rng, files)
        data = s.files[name]
        assert isinstance(data, bytes)
        if name.endswith(".csv"):
            text, note = m.mutate_csv(data.decode("utf-8", "surrogateescape"), rng)
            new = m.csv_text_bytes(text)
        elif name.endswith((".cnnmodel", ".cnnstudio")) or name == "huge":
            new, note = m.mutate_zip(data, rng, t._arch_focus)
        elif name.endswith(".json"):
            new, note = m.mutate_json_bytes(data, rng)
        elif name.endswith(".png") or name == "bomb":
            new, note = m.mutate_png(data, rng)
        elif name.endswith(".jpg"):
            new, note = m.mutate_jpeg(data, rng)
        elif "idx" in name:
            new, note = m.mutate_idx(data, rng)
        else:
            new, note = m.mutate_bytes(data, rng)
        # The message must name the input: the file, or the folder the command was given
        # (or what the base sample already got wrong).
        subject = _either(s.subject, f"{W}/")
        return s.with_note(f"{name}: {note}", files={**s.files, name: new}, subject=subject)
    values = _options(argv)
    if values and op < 0.85:
        i = m.pick(rng, values)
        option = argv[i - 1]
        pool = _ODD_VALUES if option in ("--epochs", "--top") else _ODD_VALUES + _ODD_PATHS
        value = m.pick(
            rng,
            [
                v
                for v in pool
                if not (option in _NO_HUGE and v in ("99999999999999999999", str(2**63), "inf"))
            ],
        )
        argv[i] = value
        files_ = {**s.files, "fifo": FIFO} if value == f"{W}/fifo" else s.files
        # The message must name the option or the value (an empty value: just the option),
        # or what the base sample already got wrong.
        subject = _either(s.subject, option, value)
        return s.with_note(f"{option} {value!r}", argv=argv, files=files_, subject=subject)
    if argv and op < 0.95:
        i = int(rng.integers(1, len(argv))) if len(argv) > 1 else 0
        dropped = argv.pop(i)
        return s.with_note(f"argument {dropped!r} dropped", argv=argv, subject=None)
    if argv and argv[0] == "train" and "--processes" not in argv:
        return s.with_note("--processes 2", argv=[*argv, "--processes", "2"])
    return s.with_note(
        "--no-such-option",
        argv=[*argv, "--no-such-option"],
        expect="refused",
        subject="--no-such-option",
    )


def _either(*subjects: str | None) -> str:
    """A subject (see Sample.subject) satisfied by naming any of ``subjects``."""
    return "|".join(x for x in subjects if x)


def cli_target() -> Target:
    return Target("cli", cli_seeds, _mutate_cli, None, (), seed=51, timeout=90)
