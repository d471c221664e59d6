"""Seeded mutations: bytes, text, JSON documents, zips, PNG/JPEG headers, IDX headers.

Over 600 lines because every format's mutator lives here beside the others, so the
targets share them; each function stands alone.

Every function takes a ``numpy.random.Generator`` and uses nothing else for chance, so a
try is the same each time its seed and index are. Functions that pick among several
mutations return ``(result, note)``: the note says what was done, which is most of a
minimal reproduction.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import struct
import sys
import warnings
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

#: Integers that break size arithmetic (sign, 2^31, 2^32, int64 overflow, float precision).
HUGE_INTS = [2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**30]
EDGE_INTS = [0, 1, -1, 2, 255, 256, 65535, 65536, *HUGE_INTS]
#: What tests/io/test_fuzz.py swaps in for a value (kept as it was: it counts on them).
ODD_VALUES: list[Any] = [None, -1, 0, 3.5, 1e308, "x", "", [], {}, [1, "a"], True, 10**12]


def pick(rng: np.random.Generator, seq: Any) -> Any:
    return seq[int(rng.integers(len(seq)))]


# -- bytes --------------------------------------------------------------------------------


def damage_zip(data: bytes, rng: np.random.Generator, kind: int) -> bytes:
    """A damaged zip: 0 truncated, else bit flips in 1 the central directory and end
    record, 2 the first local header, 3 anywhere."""
    n = len(data)
    if kind == 0:
        return data[: int(rng.integers(0, n))]
    tail = max(0, n - 600)  # the central directory and end record live at the end
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 9))):
        if kind == 1:
            pos = int(rng.integers(tail, n))
        elif kind == 2:
            pos = int(rng.integers(0, min(n, 200)))
        else:
            pos = int(rng.integers(0, n))
        b[pos] ^= 1 << int(rng.integers(0, 8))
    return bytes(b)


def _span(data: bytes, rng: np.random.Generator, head: int | None) -> int:
    """A position, in the first ``head`` bytes half the time (headers matter most)."""
    n = max(1, len(data))
    if head and rng.random() < 0.5:
        return int(rng.integers(0, min(n, head)))
    return int(rng.integers(0, n))


def mutate_bytes(data: bytes, rng: np.random.Generator, head: int | None = 64) -> tuple[bytes, str]:
    """One to three byte-level mutations (flips, edge bytes and integers, cuts, inserts)."""
    notes = []
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        op = int(rng.integers(7))
        if not b:
            op = 4
        pos = _span(bytes(b), rng, head) if b else 0
        if op == 0:
            bit = int(rng.integers(8))
            b[pos] ^= 1 << bit
            notes.append(f"flip bit {bit} of byte {pos}")
        elif op == 1:
            v = int(pick(rng, [0, 0xFF, 0x7F, 0x80, 0x01, 0x2C, 0x0A, 0x00]))
            b[pos] = v
            notes.append(f"byte {pos} = 0x{v:02x}")
        elif op == 2:
            v = int(pick(rng, EDGE_INTS)) % 2**32
            b[pos : pos + 4] = v.to_bytes(4, "big")
            notes.append(f"bytes {pos}-{pos + 3} = uint32 BE {v}")
        elif op == 3:
            cut = int(rng.integers(0, len(b) + 1))
            del b[cut:]
            notes.append(f"truncate to {cut} bytes")
        elif op == 4:
            extra = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
            b[pos:pos] = extra
            notes.append(f"insert {len(extra)} random bytes at {pos}")
        elif op == 5:
            end = min(len(b), pos + int(rng.integers(1, 256)))
            b[pos:pos] = b[pos:end] * int(rng.integers(1, 4))
            notes.append(f"repeat bytes {pos}-{end}")
        else:
            end = min(len(b), pos + int(rng.integers(1, 64)))
            del b[pos:end]
            notes.append(f"delete bytes {pos}-{end}")
    return bytes(b), ", ".join(notes)


def gunzip(data: bytes) -> bytes | None:
    """The decompressed bytes, or None for a damaged gzip stream."""
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, ValueError, zlib.error):
        return None


def gzip_bytes(data: bytes) -> bytes:
    # mtime=0: the same input gives the same bytes, so a saved failure is the failure.
    return gzip.compress(data, mtime=0)


# -- JSON documents -----------------------------------------------------------------------


class Deep:
    """A value nested ``depth`` lists deep; `dumps` writes it without recursing and
    `realize` turns it into real nested lists (for targets that take objects)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth

    def __repr__(self) -> str:
        return f"Deep({self.depth})"


class Raw:
    """JSON text written as is (``NaN``, ``1e999``, an unterminated string...)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:20]!r})"


def realize(obj: Any) -> Any:
    """``obj`` with every `Deep` made real (nested lists) and every `Raw` parsed if it can be."""
    if isinstance(obj, Deep):
        value: list = []
        for _ in range(obj.depth - 1):
            value = [value]
        return value
    if isinstance(obj, Raw):
        try:
            return json.loads(obj.text)
        except ValueError:
            return obj.text
    if isinstance(obj, dict):
        return {k: realize(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [realize(v) for v in obj]
    return obj


def dumps(obj: Any) -> bytes:
    """JSON bytes of ``obj``, including `Deep`, `Raw` and integers past the 4,300-digit limit."""
    out: list[str] = []
    _dump(obj, out)
    return "".join(out).encode("utf-8", "surrogatepass")


def _dump(obj: Any, out: list[str]) -> None:
    if isinstance(obj, Deep):
        out.append("[" * obj.depth + "]" * obj.depth)
    elif isinstance(obj, Raw):
        out.append(obj.text)
    elif isinstance(obj, dict):
        out.append("{")
        for i, (k, v) in enumerate(obj.items()):
            out.append(("," if i else "") + json.dumps(str(k)) + ":")
            _dump(v, out)
        out.append("}")
    elif isinstance(obj, list | tuple):
        out.append("[")
        for i, v in enumerate(obj):
            if i:
                out.append(",")
            _dump(v, out)
        out.append("]")
    elif isinstance(obj, bool) or obj is None or isinstance(obj, str | float):
        out.append(json.dumps(obj))
    elif isinstance(obj, int):
        old = sys.get_int_max_str_digits()
        sys.set_int_max_str_digits(0)
        try:
            out.append(str(obj))
        finally:
            sys.set_int_max_str_digits(old)
    else:
        out.append(json.dumps(str(obj)))


def type_swap(obj: Any, rng: np.random.Generator) -> Any:
    """``obj`` (parsed JSON) with one value somewhere replaced by a value of another type."""
    if isinstance(obj, dict) and obj and rng.random() < 0.8:
        key = list(obj)[int(rng.integers(len(obj)))]
        return {**obj, key: type_swap(obj[key], rng)}
    if isinstance(obj, list) and obj and rng.random() < 0.8:
        i = int(rng.integers(len(obj)))
        return [*obj[:i], type_swap(obj[i], rng), *obj[i + 1 :]]
    return ODD_VALUES[int(rng.integers(len(ODD_VALUES)))]


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys and indices) to a value inside ``obj``."""
    found = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            found += _paths(v, (*prefix, i))
    return found


def _get(obj: Any, path: tuple) -> Any:
    for k in path:
        obj = obj[k]
    return obj


def _replaced(obj: Any, path: tuple, fn: Callable[[Any], Any]) -> Any:
    """A copy of ``obj`` with the value at ``path`` replaced by ``fn(value)``; a
    `_DELETE` result removes it."""
    if not path:
        return fn(obj)
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        new = dict(obj)
        value = _replaced(obj[head], rest, fn)
        if value is _DELETE:
            del new[head]
        else:
            new[head] = value
        return new
    new_list = list(obj)
    value = _replaced(obj[head], rest, fn)
    if value is _DELETE:
        del new_list[head]
    else:
        new_list[head] = value
    return new_list


_DELETE = object()


def _big_number(rng: np.random.Generator) -> Any:
    return pick(
        rng,
        [
            *HUGE_INTS,
            -(2**63),
            10**4301,  # past Python's int/str conversion limit
            1e308,
            Raw("1e999"),
            Raw("NaN"),
            Raw("-Infinity"),
            2.5,
            -0.0,
        ],
    )


def _wrong_shape(value: Any, rng: np.random.Generator) -> Any:
    if isinstance(value, list):
        choice = int(rng.integers(5))
        if choice == 0:
            return value[:-1]
        if choice == 1:
            return [*value, 1]
        if choice == 2:
            return [1, 10000, 10000]
        if choice == 3:
            return [pick(rng, [0, -1, 10**6, 2**31, 2**63, 1.5, "3"]) for _ in value]
        return []
    return [value, value]


def mutate_json(
    obj: Any, rng: np.random.Generator, focus: Callable[[tuple], bool] | None = None
) -> tuple[Any, str]:
    """One structural mutation of a parsed JSON document: a type swap, a huge or odd
    number, a deleted key, deep nesting, a duplicated or dropped list item, a wrong shape,
    a long or odd string. ``focus`` narrows the paths it may pick (half the time)."""
    paths = _paths(obj)
    if focus is not None and rng.random() < 0.5:
        focused = [p for p in paths if focus(p)]
        paths = focused or paths
    path = pick(rng, paths)
    where = "/".join(str(k) for k in path) or "(root)"
    value = _get(obj, path)
    op = int(rng.integers(9))
    if op == 0:
        return type_swap(obj, rng), "type swap somewhere"
    if op == 1:
        new = _big_number(rng)
        note = (
            f"{new!r}" if not (isinstance(new, int) and new > 10**40) else "an int of 4302 digits"
        )
        return _replaced(obj, path, lambda _: new), f"{where} = {note}"
    if op == 2 and path:
        return _replaced(obj, path, lambda _: _DELETE), f"delete {where}"
    if op == 3:
        # 900 still parses (json's recursion limit is about 1000) but breaks naive recursion.
        depth = int(pick(rng, [100, 900, 5000, 100_000]))
        return _replaced(obj, path, lambda _: Deep(depth)), f"{where} = nested {depth} deep"
    if op == 4 and isinstance(value, list) and value:
        i = int(rng.integers(len(value)))
        if rng.random() < 0.5:
            return _replaced(
                obj, path, lambda v: [*v[: i + 1], v[i], *v[i + 1 :]]
            ), f"duplicate {where}/{i}"
        return _replaced(obj, path, lambda v: v[::-1]), f"reverse {where}"
    if op == 5:
        return _replaced(obj, path, lambda v: _wrong_shape(v, rng)), f"wrong shape at {where}"
    if op == 6:
        s = pick(rng, ["no", "yes", "false", "0", "", "x" * 100_000, "\u0000", "é/..", "\udcff"])
        return _replaced(obj, path, lambda _: s), f"{where} = {s[:12]!r}"
    if op == 7 and isinstance(value, dict):
        key = pick(rng, ["__proto__", "", "config", "inputs", "id", "x" * 300])
        extra = _big_number(rng) if rng.random() < 0.5 else type_swap(None, rng)
        return _replaced(obj, path, lambda v: {**v, key: extra}), f"{where} gets key {key[:12]!r}"
    if op == 8 and isinstance(value, int | float) and not isinstance(value, bool):
        new = pick(rng, [0, -1, -value, value * 1000, value + 1, True, str(value)])
        return _replaced(obj, path, lambda _: new), f"{where} = {new!r}"
    return type_swap(obj, rng), "type swap somewhere"


def mutate_json_bytes(
    data: bytes, rng: np.random.Generator, focus: Callable[[tuple], bool] | None = None
) -> tuple[bytes, str]:
    """A JSON file mutated structurally (three times in four) or byte by byte."""
    if rng.random() < 0.75:
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError):
            obj = None
        if obj is not None:
            for _ in range(int(rng.integers(1, 3))):
                obj, note = mutate_json(obj, rng, focus)
            return dumps(obj), note
    return mutate_bytes(data, rng, head=None)


# -- zips (model, project and recovery files) ---------------------------------------------


def zip_members(data: bytes) -> list[tuple[str, bytes]]:
    """The members of a zip; ValueError for a zip bomb (we never inflate one here)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        if any(i.file_size > 64 << 20 for i in z.infolist()):
            raise ValueError("a member inflates to more than 64 MB")
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def build_zip(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # a duplicate name, on purpose
                z.writestr(info, data)
    return buf.getvalue()


def npy_bytes(header: dict[str, Any], payload: bytes) -> bytes:
    """An .npy file with a hand-written header (any shape and dtype it claims)."""
    text = repr(header).encode("latin1")
    pad = 64 - (10 + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + payload


#: A pickle that, if ever unpickled, creates the file PWNED in the current folder.
PICKLE_PAYLOAD = b"cbuiltins\nopen\n(S'PWNED'\nS'w'\ntR."


def _npz(arrays: dict[str, bytes]) -> bytes:
    return build_zip([(f"{k}.npy", v) for k, v in arrays.items()])


def pickled_npz(key: str) -> bytes:
    """An .npz whose array ``key`` is an object array: loading it would unpickle."""
    return _npz(
        {key: npy_bytes({"descr": "|O", "fortran_order": False, "shape": (1,)}, PICKLE_PAYLOAD)}
    )


def _odd_npz(keys: list[str], rng: np.random.Generator) -> tuple[bytes, str]:
    key = pick(rng, keys) if keys else "w"
    choice = int(rng.integers(6))
    if choice == 0:
        return pickled_npz(key), f"{key}.npy is a pickle"
    if choice == 1:
        shape = pick(rng, [(2**40,), (2**31, 2**31), (10000, 10000), (-1,), (2**63,)])
        return _npz(
            {key: npy_bytes({"descr": "<f4", "fortran_order": False, "shape": shape}, b"\0" * 64)}
        ), f"{key}.npy claims shape {shape}"
    if choice == 2:
        return _npz(
            {key: npy_bytes({"descr": "<U1000000000", "fortran_order": False, "shape": (1,)}, b"")}
        ), f"{key}.npy claims dtype <U1e9"
    if choice == 3:
        arr = np.zeros(
            pick(rng, [(3,), (1, 1, 1, 1, 1), ()]), dtype=pick(rng, ["<f8", "<i8", "|b1", "<c8"])
        )
        buf = io.BytesIO()
        np.save(buf, arr)
        return _npz(
            {k: buf.getvalue() for k in keys or [key]}
        ), f"every array {arr.dtype} {arr.shape}"
    if choice == 4:
        return b"PK\x05\x06" + b"\0" * 18, "an empty zip"
    return rng.integers(0, 256, 300, dtype=np.uint8).tobytes(), "300 random bytes"


@functools.cache
def bomb_member(mbytes: int) -> tuple[bytes, int]:
    """``mbytes`` MB of zeros as raw deflate (about a thousandth of that) and their CRC."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(1 << 20)
    parts, crc = [], 0
    for _ in range(mbytes):
        parts.append(c.compress(block))
        crc = zlib.crc32(block, crc)
    parts.append(c.flush())
    return b"".join(parts), crc


def mutate_zip(
    data: bytes, rng: np.random.Generator, json_focus: Callable[[tuple], bool] | None = None
) -> tuple[bytes, str]:
    """A model or project zip damaged byte by byte, or rebuilt with one member's JSON
    mutated, one member removed, doubled or replaced by odd arrays, or a zip bomb."""
    op = int(rng.integers(20))
    if op <= 5:
        kind = int(rng.integers(4))
        return damage_zip(data, rng, kind), f"zip damage kind {kind}"
    try:
        members = zip_members(data)
    except (zipfile.BadZipFile, ValueError, OSError):
        return mutate_bytes(data, rng)
    names = [n for n, _ in members]
    json_names = [n for n in names if n.endswith(".json")]
    npz_names = [n for n in names if n.endswith(".npz")]
    if op <= 13 and json_names:
        name = pick(rng, json_names)
        i = names.index(name)
        new, note = mutate_json_bytes(members[i][1], rng, json_focus)
        members[i] = (name, new)
        return build_zip(members), f"{name}: {note}"
    if op <= 16 and members:
        i = int(rng.integers(len(members)))
        if rng.random() < 0.5:
            name = members.pop(i)[0]
            return build_zip(members), f"member {name} removed"
        name = members[i][0]
        members.append((name, members[i][1][: len(members[i][1]) // 2]))
        return build_zip(members), f"member {name} twice"
    if op <= 18 and npz_names:
        name = pick(rng, npz_names)
        i = names.index(name)
        try:
            keys = [n[:-4] for n, _ in zip_members(members[i][1])]
        except (zipfile.BadZipFile, ValueError, OSError):
            keys = []
        new, note = _odd_npz(keys, rng)
        members[i] = (name, new)
        return build_zip(members), f"{name}: {note}"
    # A member that inflates to hundreds of MB (the zip stays under 1 MB).
    name = pick(rng, names) if names else "meta.json"
    mbytes = int(pick(rng, [300, 900]))
    return bombed_zip(members, name, mbytes), f"{name} inflates to {mbytes} MB"


def bombed_zip(members: list[tuple[str, bytes]], bomb: str, mbytes: int = 300) -> bytes:
    """The zip with member ``bomb`` replaced by ``mbytes`` MB of zeros (a thousandth of
    that deflated), its sizes and CRC true, so only a size limit can stop it."""
    raw, crc = bomb_member(mbytes)
    size = mbytes << 20
    out = io.BytesIO()
    central = []
    for name, data in members:
        if name == bomb:
            comp, usize, ucrc = raw, size, crc
        else:
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            comp = c.compress(data) + c.flush()
            usize, ucrc = len(data), zlib.crc32(data)
        offset = out.tell()
        fname = name.encode()
        out.write(
            struct.pack(
                "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, ucrc, len(comp), usize, len(fname), 0
            )
        )
        out.write(fname)
        out.write(comp)
        central.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                8,
                0,
                0x21,
                ucrc,
                len(comp),
                usize,
                len(fname),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + fname
        )
    start = out.tell()
    cd = b"".join(central)
    out.write(cd)
    out.write(
        struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), len(cd), start, 0)
    )
    return out.getvalue()


# -- images -------------------------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int, depth: int = 8, color: int = 0) -> bytes:
    """A PNG that is only a signature, an IHDR and an IEND (45 bytes): no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IEND", b"")


def png_of_zeros(width: int, height: int, depth: int = 16) -> bytes:
    """A valid grayscale PNG of ``width`` x ``height`` black pixels, made without ever
    holding the image: a few hundred KB of deflate for a 12000x12000 16-bit image."""
    row = bytes(1 + width * depth // 8)
    c = zlib.compressobj(9)
    parts = [c.compress(row) for _ in range(height)]
    parts.append(c.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, depth, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", b"".join(parts))
        + png_chunk(b"IEND", b"")
    )


def mutate_png(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """IHDR fields set to edge values with a correct CRC (so Pillow believes them), or bytes."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR" or rng.random() < 0.4:
        return mutate_bytes(data, rng, head=64)
    w, h, depth, color, comp, filt, inter = struct.unpack(">IIBBBBB", data[16:29])
    op = int(rng.integers(4))
    if op == 0:
        w, h = pick(
            rng,
            [
                (100000, 100000),
                (0, 1),
                (2**31 - 1, 1),
                (1, 2**31 - 1),
                (12000, 12000),
                (2**32 - 1, 2**32 - 1),
                (65536, 65536),
            ],
        )
        note = f"IHDR says {w}x{h}"
    elif op == 1:
        depth = int(pick(rng, [1, 2, 4, 8, 16, 3, 0, 255]))
        note = f"IHDR bit depth {depth}"
    elif op == 2:
        color = int(pick(rng, [0, 2, 3, 4, 6, 1, 7]))
        note = f"IHDR colour type {color}"
    else:
        inter = 1
        note = "IHDR interlaced"
    ihdr = struct.pack(">IIBBBBB", w % 2**32, h % 2**32, depth, color, comp, filt, inter)
    return data[:8] + png_chunk(b"IHDR", ihdr) + data[33:], note


def mutate_jpeg(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """The SOF0 frame's height and width set to edge values, or bytes."""
    sof = data.find(b"\xff\xc0")
    if sof < 0 or rng.random() < 0.5:
        return mutate_bytes(data, rng, head=256)
    h, w = pick(rng, [(65535, 65535), (0, 0), (1, 65535), (30000, 30000)])
    b = bytearray(data)
    b[sof + 5 : sof + 9] = struct.pack(">HH", h, w)
    return bytes(b), f"JPEG frame says {w}x{h}"


# -- IDX ----------------------------------------------------------------------------------


def idx_file(
    values: np.ndarray, type_byte: int = 0x08, dims: tuple[int, ...] | None = None
) -> bytes:
    """IDX bytes of ``values`` with any type byte and any dimensions claimed."""
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    dims = values.shape if dims is None else dims
    header = bytes([0, 0, type_byte, len(dims)]) + b"".join(
        (d % 2**32).to_bytes(4, "big") for d in dims
    )
    return header + np.asarray(values).astype(dtypes.get(type_byte, ">u1")).tobytes()


def mutate_idx(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """Header fields (type, dimension count, sizes) set to edge values, or bytes."""
    if len(data) < 8 or rng.random() < 0.3:
        return mutate_bytes(data, rng, head=32)
    b = bytearray(data)
    ndim = b[3]
    op = int(rng.integers(4))
    if op == 0:
        t = int(pick(rng, [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF]))
        b[2] = t
        return bytes(b), f"IDX type byte 0x{t:02x}"
    if op == 1:
        n = int(pick(rng, [0, 1, 2, 3, 4, 255]))
        b[3] = n
        return bytes(b), f"IDX says {n} dimensions"
    k = int(rng.integers(max(1, ndim)))
    v = int(pick(rng, EDGE_INTS)) % 2**32
    b[4 + 4 * k : 8 + 4 * k] = v.to_bytes(4, "big")
    return bytes(b), f"IDX dimension {k} = {v}"


# -- CSV ----------------------------------------------------------------------------------

_TOKENS = [
    "1000000000",
    str(2**63),
    "9" * 5000,
    "-1",
    "256",
    "nan",
    "inf",
    "1e309",
    "",
    "abc",
    "0x10",
    "1_000",
    " 3 ",
    '"5"',
    "0.5",
    "\u00e9",
    "\udcff",
]


def mutate_csv(text: str, rng: np.random.Generator) -> tuple[str, str]:
    """Token-level CSV damage (odd values, ragged rows, dropped rows, one class, odd
    separators, encodings), or a byte-level mutation of the text."""
    lines = text.splitlines()
    rows = [ln.split(",") for ln in lines]
    op = int(rng.integers(10))
    if not rows or op == 9:
        data, note = mutate_bytes(text.encode("utf-8", "surrogateescape"), rng, head=None)
        return data.decode("utf-8", "surrogateescape"), note
    r = int(rng.integers(len(rows)))
    c = int(rng.integers(len(rows[r]))) if rows[r] else 0
    if op <= 2:
        tok = pick(rng, _TOKENS)
        col = pick(rng, [0, 0, c, len(rows[r]) - 1])
        rows[r][col : col + 1] = [tok]
        note = f"line {r + 1} column {col + 1} = {tok[:12]!r}"
    elif op == 3:
        del rows[r][c:]
        note = f"line {r + 1} cut after {c} values"
    elif op == 4:
        keep = int(pick(rng, [0, 1, 2]))
        rows = rows[:keep]
        note = f"only the first {keep} lines"
    elif op == 5:
        for row in rows:
            if row and row[0].strip().isdigit():
                row[0] = rows[-1][0]
        note = "every label the same (one class)"
    elif op == 6:
        rows = [row + ["0"] * int(rng.integers(1, 4)) for row in rows[:1]] + rows[1:]
        note = "first line has extra columns"
    elif op == 7:
        sep = pick(rng, [";", "\t", " "])
        out = "\n".join(sep.join(row) for row in rows) + "\n"
        return out, f"separator {sep!r}"
    else:
        prefix = pick(rng, ["\ufeff", "\x00", "\r\n", "label,x\n", '"', "#"])
        return prefix + text, f"starts with {prefix!r}"
    return "\n".join(",".join(row) for row in rows) + "\n", note


def csv_text_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")
