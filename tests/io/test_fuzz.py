"""Truncated and bit-flipped model and project files: always ModelFileError, never a crash."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cnnstudio.data.samples import SampleCollection
from cnnstudio.io import (
    ModelFileError,
    ProjectData,
    load_model,
    load_project,
    save_model,
    save_project,
)
from tests.fuzz.mutators import damage_zip, type_swap
from tests.io import archs
from tests.io.conftest import make_bundle

N_VARIANTS = 300


def _variants(data: bytes, seed: int) -> list[bytes]:
    """Seeded damage: truncations, and bit flips aimed at the headers and anywhere."""
    rng = np.random.default_rng(seed)
    return [damage_zip(data, rng, k % 4) for k in range(N_VARIANTS)]


def _fuzz(tmp_path: Path, original: Path, load: Callable, check: Callable, seed: int) -> None:
    outcomes = {"loaded": 0, "refused": 0}
    target = tmp_path / f"fuzzed{original.suffix}"
    for i, data in enumerate(_variants(original.read_bytes(), seed)):
        target.write_bytes(data)
        try:
            result = load(target)
        except ModelFileError as exc:
            assert str(target) in str(exc), f"variant {i}: message does not name the file"
            outcomes["refused"] += 1
        except Exception as exc:  # pragma: no cover - the failure this test exists for
            pytest.fail(f"variant {i}: {type(exc).__name__}: {exc}")
        else:
            # A flip in an unused header field (a timestamp) may leave a good file.
            check(result)
            outcomes["loaded"] += 1
    assert outcomes["refused"] > N_VARIANTS // 2, outcomes


@pytest.mark.timeout(60)
def test_fuzzed_model_files(tmp_path):
    bundle = make_bundle(archs.kitchen_sink())
    original = save_model(tmp_path / "m.cnnmodel", bundle)
    x = np.random.default_rng(0).random((2, *bundle.input_shape)).astype(np.float32)
    expected = bundle.predict_proba(x)

    def check(loaded):
        np.testing.assert_array_equal(loaded.predict_proba(x), expected)

    _fuzz(tmp_path, original, load_model, check, seed=1)


@pytest.mark.timeout(60)
def test_fuzzed_project_files(tmp_path):
    samples = SampleCollection()
    for i in range(4):
        samples.add(np.full((1, 28, 28), 60 * i, np.uint8), str(i))
    project = ProjectData(
        architecture=archs.residual(),
        history=[{"name": "run", "loss": [1.0, 0.5]}],
        trained=make_bundle(archs.binary()),
        samples=samples.to_arrays(),
    )
    original = save_project(tmp_path / "p.cnnstudio", project)

    def check(loaded):
        assert loaded.architecture == project.architecture
        assert loaded.samples is not None and loaded.samples["images"].shape == (4, 1, 28, 28)

    _fuzz(tmp_path, original, load_project, check, seed=2)


@pytest.mark.timeout(60)
def test_mutated_json_members(tmp_path):
    """Well-formed zips whose JSON says nonsense: the validation, not the CRC, must catch it."""
    import json
    import zipfile

    from tests.io.conftest import rewrite_zip

    bundle = make_bundle(archs.kitchen_sink())
    original = save_model(tmp_path / "m.cnnmodel", bundle)
    with zipfile.ZipFile(original) as z:
        docs = {n: json.loads(z.read(n)) for n in ("meta.json", "architecture.json")}
    rng = np.random.default_rng(3)
    refused = 0
    for i in range(N_VARIANTS):
        member = "architecture.json" if i % 3 else "meta.json"
        data = json.dumps(type_swap(docs[member], rng)).encode()
        target = rewrite_zip(original, tmp_path / "mutated.cnnmodel", {member: data})
        try:
            load_model(target)
        except ModelFileError as exc:
            assert str(target) in str(exc)
            refused += 1
        except Exception as exc:  # pragma: no cover
            pytest.fail(f"variant {i} ({member}): {type(exc).__name__}: {exc}")
    # Many mutations hit ignored fields (a node's canvas position, the summary).
    assert refused > N_VARIANTS // 4
