"""Writers for the files the data tests load (IDX, PNG folders, CSV), built by hand here."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte IDX file's bytes, built by hand from the format description."""
    a = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    return header + a.tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def digit_like(rng: np.random.Generator, n: int, size: int = 28) -> np.ndarray:
    """Random images with a bright square each (something to look at, not noise)."""
    images = np.zeros((n, size, size), dtype=np.uint8)
    for i in range(n):
        y, x = rng.integers(2, size - 10, size=2)
        images[i, y : y + 8, x : x + 8] = rng.integers(100, 256)
    return images


def write_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
