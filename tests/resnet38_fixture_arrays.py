"""Deterministic ResNet-38 fixture arrays, and a writer of MXNet's NDArray list format.

Shared by ``tests/fixtures/resnet38/make_fixtures.py`` (run with MXNet 1.9.1 under numpy 1.23) and
the PyTorch tests (numpy 2.x), so it uses numpy only and draws every number from the legacy
``np.random.RandomState``, whose streams are the same in every numpy version.

Parameter names are MXNet's (``res2a_branch2a_weight``, ``bn2a_branch2a_moving_var``, ...).  A key
may carry MXNet's ``arg:`` / ``aux:`` prefix or not: the prefix is stripped before the name is
classified and hashed, so ``"arg:conv1a_weight"`` and ``"conv1a_weight"`` give the same array,
and the returned dict uses the keys exactly as given.

Each array comes from its own ``RandomState([seed, zlib.crc32(bare_name)])``, so neither the order
of the keys nor the other keys in the list change it.  Values are computed in float64 and rounded
to float32 once.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "fixture_arrays",
    "fixture_input",
    "fixture_array",
    "bare_name",
    "write_ndarray_list",
    "CONV_WEIGHT_GAIN",
    "MXNET_TYPE_FLAGS",
]

# Gain on the He scale sqrt(2 / fan_in) of every weight.  The batch norms are frozen
# (use_global_stats) with moving statistics that do not match the activations, so nothing
# renormalises the residual stream: gain 1 makes it grow ~100x over the 38 layers, gain 0.5 makes
# the input's contribution fade away; 0.75 keeps the residual stream at std ~1-4 all the way and the
# class scores input-dependent (max |score| is recorded in each fixture json).
CONV_WEIGHT_GAIN = 0.75
BIAS_STD = 0.05
BETA_STD = 0.05
MOVING_MEAN_STD = 0.05
GAMMA_RANGE = (0.8, 1.2)
MOVING_VAR_RANGE = (0.5, 1.5)

_PREFIXES = ("arg:", "aux:")


def bare_name(key: str) -> str:
    """``key`` without a leading ``arg:`` / ``aux:``."""
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def _random_state(seed: int, tag: str) -> np.random.RandomState:
    return np.random.RandomState([int(seed) & 0xFFFFFFFF, zlib.crc32(tag.encode("utf-8")) & 0xFFFFFFFF])


def fixture_array(key: str, shape: Sequence[int], seed: int) -> np.ndarray:
    """The float32 array for one parameter ``key`` (prefixed or not) of ``shape``.

    * ``*_weight``: standard normal * ``CONV_WEIGHT_GAIN`` * sqrt(2 / fan_in), fan_in = the
      product of all dims but the first (conv: in_channels * kh * kw; fully connected: inputs);
    * ``*_bias``: normal, std ``BIAS_STD``;
    * ``*_gamma``: uniform ``GAMMA_RANGE``;  ``*_beta``: normal, std ``BETA_STD``;
    * ``*_moving_mean``: normal, std ``MOVING_MEAN_STD``;  ``*_moving_var``: uniform ``MOVING_VAR_RANGE``.

    Any other name is a ValueError.
    """
    name = bare_name(key)
    shape = tuple(int(d) for d in shape)
    rs = _random_state(seed, name)
    if name.endswith("_weight"):
        if len(shape) < 2:
            raise ValueError(f"{key}: a weight needs at least 2 dims, got {shape}")
        fan_in = int(np.prod(shape[1:]))
        values = rs.standard_normal(shape) * (CONV_WEIGHT_GAIN * np.sqrt(2.0 / fan_in))
    elif name.endswith("_bias"):
        values = rs.standard_normal(shape) * BIAS_STD
    elif name.endswith("_gamma"):
        values = rs.uniform(GAMMA_RANGE[0], GAMMA_RANGE[1], size=shape)
    elif name.endswith("_beta"):
        values = rs.standard_normal(shape) * BETA_STD
    elif name.endswith("_moving_mean"):
        values = rs.standard_normal(shape) * MOVING_MEAN_STD
    elif name.endswith("_moving_var"):
        values = rs.uniform(MOVING_VAR_RANGE[0], MOVING_VAR_RANGE[1], size=shape)
    else:
        raise ValueError(f"{key}: no fixture rule for this parameter name")
    return np.asarray(values, dtype=np.float64).astype(np.float32)


def fixture_arrays(keys: Sequence[tuple[str, Sequence[int]]], seed: int) -> dict[str, np.ndarray]:
    """``{key: fixture_array(key, shape, seed)}`` for each ``(key, shape)``, in the given order."""
    out: dict[str, np.ndarray] = {}
    for key, shape in keys:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = fixture_array(key, shape, seed)
    return out


def fixture_input(shape: Sequence[int], seed: int) -> np.ndarray:
    """The (already normalised) network input: standard normal float32 of ``shape``.

    Drawn from ``RandomState([seed, zlib.crc32(b"__input__")])``, independent of the parameters.
    """
    rs = _random_state(seed, "__input__")
    return rs.standard_normal(tuple(int(d) for d in shape)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# MXNet NDArray list format (what mx.nd.save writes; MXNet 1.x, dense arrays)

# mshadow type flags
MXNET_TYPE_FLAGS = {
    np.dtype(np.float32): 0,
    np.dtype(np.float64): 1,
    np.dtype(np.float16): 2,
    np.dtype(np.uint8): 3,
    np.dtype(np.int32): 4,
    np.dtype(np.int8): 5,
    np.dtype(np.int64): 6,
}

_LIST_MAGIC = 0x112  # kMXAPINDArrayListMagic
_NDARRAY_V2_MAGIC = 0xF993FAC9


def _write_ndarray(f, array: np.ndarray) -> None:
    array = np.asarray(array)
    dtype = array.dtype.newbyteorder("=")
    if dtype not in MXNET_TYPE_FLAGS:
        raise TypeError(f"no MXNet type flag for dtype {array.dtype}")
    if array.ndim == 0:
        # MXNet 1.x (V2 records) reads ndim 0 as "no array"; mx.nd.save cannot store a scalar either.
        raise ValueError("0-d arrays cannot be stored in an MXNet 1.x NDArray list; reshape to (1,)")
    header = b"".join(
        [
            struct.pack("<I", _NDARRAY_V2_MAGIC),
            struct.pack("<i", 0),  # storage type: dense
            struct.pack("<i", array.ndim),  # TShape: int32 ndim ...
            struct.pack(f"<{array.ndim}q", *array.shape),  # ... then int64 dims
            struct.pack("<ii", 1, 0),  # Context: dev_type 1 (cpu), dev_id 0
            struct.pack("<i", MXNET_TYPE_FLAGS[dtype]),
        ]
    )
    f.write(header)
    f.write(np.ascontiguousarray(array, dtype=dtype.newbyteorder("<")).tobytes())


def write_ndarray_list(path: str | Path, arrays: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> None:
    """Write ``arrays`` as ``mx.nd.save(path, arrays)`` would (MXNet 1.9.1, CPU, dense).

    A mapping keeps its order and stores its keys as names; a list/tuple stores no names (like
    ``mx.nd.save(path, [a, b])``).  Layout, all little-endian:

    * header: uint64 0x112, uint64 0 (reserved), uint64 number of arrays;
    * each array: uint32 0xF993FAC9 (V2 magic), int32 storage type 0 (dense), int32 ndim,
      ndim x int64 dims, int32 dev_type 1 (cpu), int32 dev_id 0, int32 type flag
      (``MXNET_TYPE_FLAGS``), then the raw C-order data;
    * uint64 number of names, then each name as uint64 byte length + UTF-8 bytes.

    ``make_fixtures.py`` checks that this gives the same bytes (sha256) as ``mx.nd.save`` for the
    full parameter files and for ``mx_format_sample.params`` / ``mx_format_unnamed.params``.
    """
    if isinstance(arrays, Mapping):
        names = [str(k) for k in arrays.keys()]
        values = list(arrays.values())
    else:
        names = []
        values = list(arrays)
    with open(path, "wb") as f:
        f.write(struct.pack("<QQQ", _LIST_MAGIC, 0, len(values)))
        for value in values:
            _write_ndarray(f, value)
        f.write(struct.pack("<Q", len(names)))
        for name in names:
            encoded = name.encode("utf-8")
            f.write(struct.pack("<Q", len(encoded)))
            f.write(encoded)
