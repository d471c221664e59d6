"""Writers for the files the data tests load (IDX, PNG folders, CSV), built by hand here."""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import zlib
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


_CAPPED = """
import json, resource, sys, time
cap = int(sys.argv[1]) << 20
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
import cnnstudio.data as data
from cnnstudio.data import *  # noqa: F403
started = time.perf_counter()
error = message = None
try:
    result = eval(sys.argv[2])
except BaseException as exc:  # MemoryError included: that is what the cap turns a blow-up into
    error, message = type(exc).__name__, str(exc)
    result = None
print(json.dumps({
    "error": error,
    "message": message,
    "result": None if result is None else repr(result),
    "seconds": time.perf_counter() - started,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def run_capped(expression: str, *, mem_mb: int = 1024, timeout: float = 60) -> dict:
    """Evaluate a ``cnnstudio.data`` expression in a fresh interpreter whose address space is
    capped at ``mem_mb`` MB (so a loader that allocates without bound fails with MemoryError
    there instead of taking this machine down). Returns the error type and message (None when
    it succeeded), the result's repr, the seconds it took and the peak resident memory in MB.
    """
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _CAPPED, str(mem_mb), expression],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, f"the child died ({done.returncode}): {done.stderr}"
    return json.loads(lines[-1])


def _png(width: int, height: int, bit_depth: int, idat: bytes | None) -> bytes:
    """A grayscale PNG built by hand around already compressed image data (or none)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    data = b"" if idat is None else chunk(b"IDAT", idat)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + data + chunk(b"IEND", b"")


def bomb_png(side: int = 100_000) -> bytes:
    """45 bytes: a PNG header claiming ``side`` x ``side`` pixels, and no image data."""
    return _png(side, side, 8, None)


def blank_png16(side: int = 12000) -> bytes:
    """A black 16-bit ``side`` x ``side`` PNG: 290 KB on disk for 12000, 288 MB decoded."""
    compressor = zlib.compressobj(9)
    row = bytes(1 + 2 * side)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    return _png(side, side, 16, data)
