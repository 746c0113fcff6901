"""The MXNet .params reader against files MXNet 1.9.1 wrote (tests/fixtures/resnet38/make_fixtures.py)
and against the older per-array layouts, built here byte by byte from MXNet's ndarray.cc."""

import struct
from pathlib import Path

import numpy as np
import pytest

from pipeline_lib.models.mxnet_params import V1_MAGIC, V2_MAGIC, read_ndarray_list, read_params

FIXTURES = Path(__file__).parent / "fixtures" / "resnet38"


def _expected(npz: Path) -> dict[str, np.ndarray]:
    with np.load(npz) as data:
        return {name: data[name] for name in data.files}


def test_reads_every_dtype_and_name_mxnet_saved():
    arrays, names = read_ndarray_list(FIXTURES / "mx_format_sample.params")
    expected = _expected(FIXTURES / "mx_format_sample.npz")
    assert sorted(names) == sorted(expected)
    for name, array in zip(names, arrays, strict=True):
        assert array.dtype == expected[name].dtype, name
        np.testing.assert_array_equal(array, expected[name], err_msg=name)
    args, auxs = read_params(FIXTURES / "mx_format_sample.params")
    assert {f"arg:{k}" for k in args} | {f"aux:{k}" for k in auxs} == set(expected)


def test_reads_an_unnamed_list_and_refuses_it_as_a_checkpoint():
    arrays, names = read_ndarray_list(FIXTURES / "mx_format_unnamed.params")
    expected = _expected(FIXTURES / "mx_format_unnamed.npz")
    assert names == []
    assert len(arrays) == len(expected)
    for index, array in enumerate(arrays):
        np.testing.assert_array_equal(array, expected[f"arr_{index}"])
    with pytest.raises(ValueError, match="mx_format_unnamed.params: the arrays have no names"):
        read_params(FIXTURES / "mx_format_unnamed.params")


def _list_file(path: Path, encoded_arrays: list[bytes], names: list[str] | None) -> Path:
    """An NDArray list file; ``names=None`` ends it after the arrays (a truncated file)."""
    body = struct.pack("<QQQ", 0x112, 0, len(encoded_arrays)) + b"".join(encoded_arrays)
    if names is not None:
        body += struct.pack("<Q", len(names)) + b"".join(struct.pack("<Q", len(n)) + n.encode() for n in names)
    path.write_bytes(body)
    return path


def _tail(array: np.ndarray) -> bytes:
    """Context (cpu, 0), type flag float32, data."""
    return struct.pack("<iii", 1, 0, 0) + array.astype("<f4").tobytes()


def test_reads_the_v1_and_the_oldest_array_layouts(tmp_path):
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    v1 = struct.pack("<Ii2q", V1_MAGIC, 2, 2, 3) + _tail(array)  # int64 dims, no storage type
    oldest = struct.pack("<I2I", 2, 2, 3) + _tail(array * 2)  # the first word is ndim, uint32 dims
    arrays, names = read_ndarray_list(_list_file(tmp_path / "old.params", [v1, oldest], ["arg:a", "aux:b"]))
    assert names == ["arg:a", "aux:b"]
    np.testing.assert_array_equal(arrays[0], array)
    np.testing.assert_array_equal(arrays[1], array * 2)


@pytest.mark.parametrize(
    ("arrays", "names", "message"),
    [
        ([struct.pack("<Iii", V2_MAGIC, 1, 1)], ["arg:x"], r"array 0 has storage type 1; only dense"),
        ([struct.pack("<Iiiq", V2_MAGIC, 0, 1, 4)], None, r"truncated while reading array 0 context"),
        ([struct.pack("<Iiiqiii", V2_MAGIC, 0, 1, 1, 1, 0, 9) + b"\0" * 4], ["arg:x"], "unknown type flag 9"),
        ([struct.pack("<I", 0xDEADBEEF)], ["arg:x"], "neither an NDArray magic nor a plausible ndim"),
        ([struct.pack("<Iiiq", V2_MAGIC, 0, 1, 1) + _tail(np.zeros(1))], ["arg:x", "arg:y"], "1 arrays but 2 names"),
    ],
)
def test_a_broken_file_is_one_error_naming_it(tmp_path, arrays, names, message):
    path = _list_file(tmp_path / "broken.params", arrays, names)
    with pytest.raises(ValueError, match=rf"broken.params: not an MXNet .params file: .*{message}"):
        read_ndarray_list(path)


def test_wrong_header_and_bad_names_are_refused(tmp_path):
    path = tmp_path / "model.pth"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 40)
    with pytest.raises(ValueError, match=r"model.pth: not an MXNet .params file: list header"):
        read_ndarray_list(path)
    one = struct.pack("<Iiiq", V2_MAGIC, 0, 1, 1) + _tail(np.ones(1))
    for name, message in (("weight", "neither arg:<name> nor aux:<name>"), ("arg:w", "'arg:w' appears twice")):
        twice = _list_file(tmp_path / "names.params", [one, one], [name, "arg:w"])
        with pytest.raises(ValueError, match=message):
            read_params(twice)
    with pytest.raises(FileNotFoundError, match="missing.params"):
        read_ndarray_list(tmp_path / "missing.params")
