"""Read MXNet ``.params`` files (``mx.nd.save``'s NDArray list) with numpy, without MXNet.

Written from the layout MXNet's ``src/ndarray/ndarray.cc`` saves and loads (1.x), little-endian:

- list header: uint64 ``0x112`` (kMXAPINDArrayListMagic), uint64 reserved, uint64 array count;
- each array, by its first uint32:
  - ``0xF993FAC9`` (V2, MXNet >= 0.11) or ``0xF993FACA`` (V3, NumPy-shape mode): int32 storage type
    (0 = dense; sparse arrays are refused), shape, context, int32 type flag, raw data;
  - ``0xF993FAC8`` (V1): shape, context, type flag, data, without the storage type;
  - anything else: the oldest format, where that uint32 *is* ndim, followed by uint32 dims;
  shape = int32 ndim + int64 dims (V1-V3); context = int32 device type + int32 device id;
- uint64 name count, then each name as uint64 length + bytes (``arg:<name>`` / ``aux:<name>`` in
  checkpoints; zero names when a plain list was saved).

Every violation is a ``ValueError`` naming the file, the array and the byte offset.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

LIST_MAGIC = 0x112
V1_MAGIC = 0xF993FAC8
V2_MAGIC = 0xF993FAC9
V3_MAGIC = 0xF993FACA
DENSE_STORAGE = 0
#: MXNet type flags (mshadow ``TypeFlag``) -> numpy little-endian dtypes.
DTYPES = {0: "<f4", 1: "<f8", 2: "<f2", 3: "u1", 4: "<i4", 5: "i1", 6: "<i8", 7: "?"}


class _Reader:
    """Sequential little-endian reads over the file's bytes, with errors that name the file and offset."""

    def __init__(self, path: Path, data: bytes) -> None:
        self.path, self.data, self.offset = path, data, 0

    def error(self, what: str) -> ValueError:
        return ValueError(f"{self.path}: not an MXNet .params file: {what} (byte {self.offset})")

    def take(self, size: int, what: str) -> bytes:
        if self.offset + size > len(self.data):
            raise self.error(f"truncated while reading {what}")
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple[int, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def _read_array(reader: _Reader, index: int) -> np.ndarray:
    where = f"array {index}"
    (magic,) = reader.unpack("I", f"{where} magic")
    if magic in (V2_MAGIC, V3_MAGIC):
        (storage,) = reader.unpack("i", f"{where} storage type")
        if storage != DENSE_STORAGE:
            raise reader.error(f"{where} has storage type {storage}; only dense arrays are supported")
    if magic in (V1_MAGIC, V2_MAGIC, V3_MAGIC):
        (ndim,) = reader.unpack("i", f"{where} ndim")
        shape = reader.unpack(f"{ndim}q", f"{where} shape") if ndim > 0 else ()
    else:  # oldest format: the first word is ndim, dims are uint32
        ndim = magic
        if ndim > 32:
            raise reader.error(f"{where} starts with {magic:#x}, neither an NDArray magic nor a plausible ndim")
        shape = reader.unpack(f"{ndim}I", f"{where} shape")
    if ndim == 0 and magic != V3_MAGIC:
        raise reader.error(f"{where} is an empty (none) NDArray")
    if any(dim < 0 for dim in shape):
        raise reader.error(f"{where} has an unknown dimension in shape {shape}")
    reader.unpack("ii", f"{where} context")
    (type_flag,) = reader.unpack("i", f"{where} type flag")
    if type_flag not in DTYPES:
        raise reader.error(f"{where} has unknown type flag {type_flag}")
    dtype = np.dtype(DTYPES[type_flag])
    count = int(np.prod(shape, dtype=np.int64))
    raw = reader.take(count * dtype.itemsize, f"{where} data ({shape}, {dtype})")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def read_ndarray_list(path: str | Path) -> tuple[list[np.ndarray], list[str]]:
    """The arrays and names (empty if saved without) of an ``mx.nd.save`` file, in file order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MXNet .params file not found: {path}")
    reader = _Reader(path, path.read_bytes())
    header, _reserved = reader.unpack("QQ", "list header")
    if header != LIST_MAGIC:
        raise reader.error(f"list header {header:#x}, expected {LIST_MAGIC:#x}")
    (count,) = reader.unpack("Q", "array count")
    arrays = [_read_array(reader, index) for index in range(count)]
    (name_count,) = reader.unpack("Q", "name count")
    names = []
    for index in range(name_count):
        (length,) = reader.unpack("Q", f"name {index} length")
        names.append(reader.take(length, f"name {index}").decode("utf-8"))
    if names and len(names) != len(arrays):
        raise reader.error(f"{len(arrays)} arrays but {len(names)} names")
    if reader.offset != len(reader.data):
        raise reader.error(f"{len(reader.data) - reader.offset} bytes after the name list")
    return arrays, names


def read_params(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A checkpoint's ``arg:`` (parameters) and ``aux:`` (BN statistics) arrays by bare name.

    Mirrors the reference's ``mxutil.load_params_from_file``, but a name with another or no type
    prefix, or a repeated name, is an error instead of being dropped.
    """
    arrays, names = read_ndarray_list(path)
    if not names:
        raise ValueError(f"{path}: the arrays have no names; a checkpoint names each arg:/aux: array")
    groups: dict[str, dict[str, np.ndarray]] = {"arg": {}, "aux": {}}
    for name, array in zip(names, arrays, strict=True):
        kind, _, bare = name.partition(":")
        if kind not in groups or not bare:
            raise ValueError(f"{path}: array name {name!r} is neither arg:<name> nor aux:<name>")
        if bare in groups[kind]:
            raise ValueError(f"{path}: {name!r} appears twice")
        groups[kind][bare] = array
    return groups["arg"], groups["aux"]
