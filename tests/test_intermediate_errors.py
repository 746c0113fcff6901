"""Damaged intermediates (truncated files, changed bytes) fail with an error that names the file."""

import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from pipeline_lib.cpsl.hard_label_store import HardLabelStore, HardLabelWriter
from pipeline_lib.cpsl.prototypes import load_prototypes, save_prototypes
from pipeline_lib.cpsl.soft_label_store import SoftLabelStore, SoftLabelWriter
from pipeline_lib.intermediate_files import RECREATE, DamagedFileError, check_unit_range, load_probabilities
from pipeline_lib.jobs.cpsl_class_distribution import class_distribution
from pipeline_lib.jobs.selftrain_predict import load_prior
from pipeline_lib.selftrain.prediction_store import PredictionWriter, prediction_count, read_predictions
from pipeline_lib.selftrain.spatial_prior import spatial_prior
from pipeline_lib.selftrain.thresholds import ConfidenceHistogram

CLASSES = 19


def probabilities(seed: int = 0, size_hw: tuple[int, int] = (32, 64)) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(CLASSES), size=size_hw).transpose(2, 0, 1)


def write_predictions(path: Path) -> str:
    with PredictionWriter(path, CLASSES) as writer:
        writer.add("a", "img/a.png", "", (256, 512), probabilities(0))
        writer.add("b", "img/b.png", "", (256, 512), probabilities(1))
    return "predictions/000001"


def write_soft_labels(path: Path) -> str:
    with SoftLabelWriter(path, CLASSES) as writer:
        writer.add("frame", probabilities(), (256, 512))
    return "soft_labels/frame"


def write_hard_labels(path: Path) -> str:
    with HardLabelWriter(path, threshold=0.95) as writer:
        writer.add("frame", np.random.default_rng(2).integers(0, CLASSES, size=(256, 512)).astype(np.uint8))
    return "hard_labels/frame"


# name -> (the project's writer, returning the key of a dataset; the reader that jobs use)
STORES = {
    "predictions": (write_predictions, lambda path: list(read_predictions(path))),
    "prediction count": (write_predictions, prediction_count),
    "soft labels": (write_soft_labels, lambda path: SoftLabelStore(path)["frame"]),
    "hard labels": (write_hard_labels, lambda path: HardLabelStore(path)["frame"]),
}


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def change_bytes(path: Path, offset: int, count: int = 8) -> None:
    data = bytearray(path.read_bytes())
    data[offset : offset + count] = bytes(b ^ 0xFF for b in data[offset : offset + count])
    path.write_bytes(bytes(data))


def change_chunk_bytes(path: Path, key: str) -> None:
    """Invert bytes in the middle of the first chunk of dataset ``key``."""
    with h5py.File(path, "r") as file:
        assert file[key].fletcher32
        chunk = file[key].id.get_chunk_info(0)
    change_bytes(path, chunk.byte_offset + chunk.size // 2)


def assert_names(err: pytest.ExceptionInfo, path: Path) -> None:
    assert str(path) in str(err.value) and RECREATE in str(err.value)


@pytest.mark.parametrize("store", STORES)
def test_truncated_store_names_the_file(tmp_path, store):
    write, read = STORES[store]
    path = tmp_path / "store.h5"
    write(path)
    truncate(path)
    with pytest.raises(DamagedFileError, match="truncated file") as err:
        read(path)
    assert_names(err, path)


@pytest.mark.parametrize("store", ["predictions", "soft labels", "hard labels"])
def test_changed_chunk_bytes_fail_their_checksum(tmp_path, store):
    write, read = STORES[store]
    path = tmp_path / "store.h5"
    change_chunk_bytes(path, write(path))
    with pytest.raises(DamagedFileError, match="filter returned failure during read") as err:
        read(path)
    assert_names(err, path)


class _Frames(Dataset):
    def __init__(self, store: SoftLabelStore) -> None:
        self.store = store

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> np.ndarray:
        return self.store["frame"]


def test_damage_found_in_a_loader_worker_keeps_its_type_and_file_name(tmp_path):
    """Training reads the label stores in data-loader workers, which re-raise in the main process."""
    path = tmp_path / "soft.h5"
    change_chunk_bytes(path, write_soft_labels(path))
    store = SoftLabelStore(path)
    with pytest.raises(DamagedFileError) as err:
        next(iter(DataLoader(_Frames(store), batch_size=None, num_workers=1)))
    assert_names(err, path)


def test_stored_values_outside_unit_range_are_refused(tmp_path):
    """What a store written before the checksums shows after a few changed bytes (float16 60224)."""
    bad = probabilities()
    bad[3, 10, 20] = 60224.0
    with PredictionWriter(tmp_path / "s.h5", CLASSES) as writer:
        writer.add("a", "img/a.png", "", (256, 512), bad)
    with pytest.raises(DamagedFileError, match=r"predictions/000000 holds values outside \[0, 1\].*60224") as err:
        list(read_predictions(tmp_path / "s.h5"))
    assert_names(err, tmp_path / "s.h5")
    with SoftLabelWriter(tmp_path / "soft.h5", CLASSES) as writer:
        writer.add("frame", -bad, (256, 512))
    with pytest.raises(DamagedFileError, match="soft_labels/frame holds values outside") as err:
        SoftLabelStore(tmp_path / "soft.h5")["frame"]
    assert_names(err, tmp_path / "soft.h5")


def test_unit_range_check_agrees_with_comparison_for_every_float16():
    """The bit-pattern shortcut for float16 accepts exactly the values in [0, 1], -0.0 included."""
    for value in np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16):
        with np.errstate(invalid="ignore"):
            valid = bool(0 <= value <= 1)
        try:
            check_unit_range(np.array([value]), "store.h5", "prediction store", "key")
            accepted = True
        except DamagedFileError:
            accepted = False
        assert accepted == valid, value


def test_missing_store_stays_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.h5"):
        SoftLabelStore(tmp_path / "absent.h5")
    with pytest.raises(FileNotFoundError, match="absent.npy"):
        load_prior(tmp_path / "absent.npy")


def test_store_reopens_after_pickling(tmp_path):
    write_soft_labels(tmp_path / "soft.h5")
    store = SoftLabelStore(tmp_path / "soft.h5")
    first = store["frame"]  # opens the handle, which must not travel to a worker
    assert np.array_equal(pickle.loads(pickle.dumps(store))["frame"], first)


def histogram_file(path: Path) -> Path:
    histogram = ConfidenceHistogram(CLASSES, 1000)
    generator = torch.Generator().manual_seed(3)
    histogram.add(torch.randint(0, CLASSES, (200_000,), generator=generator), torch.rand(200_000, generator=generator))
    histogram.save(path)
    return path


@pytest.mark.parametrize("damage", [truncate, lambda path: change_bytes(path, path.stat().st_size // 2)])
def test_damaged_histogram_names_the_file(tmp_path, damage):
    path = histogram_file(tmp_path / "shard0.npz")
    damage(path)
    with pytest.raises(DamagedFileError, match="not a readable confidence histogram") as err:
        ConfidenceHistogram.load(path)
    assert_names(err, path)


def prior_file(path: Path) -> Path:
    counts = np.random.default_rng(4).integers(0, 50, size=(CLASSES, 64, 128)).astype(np.float64)
    np.save(path, spatial_prior(counts, sigma=1.0, normalization="per_class"))
    return path


def test_truncated_spatial_prior_names_the_file(tmp_path):
    path = prior_file(tmp_path / "prior.npy")
    truncate(path)
    with pytest.raises(DamagedFileError, match="not a readable spatial prior") as err:
        load_prior(path)
    assert_names(err, path)


def test_changed_spatial_prior_bytes_are_refused(tmp_path):
    """``.npy`` has no checksum: inverted bytes read as negative values or NaN, which the [0, 1] check refuses."""
    path = prior_file(tmp_path / "prior.npy")
    change_bytes(path, path.stat().st_size // 2)
    with pytest.raises(DamagedFileError, match="outside") as err:
        load_prior(path)
    assert_names(err, path)


def test_truncated_class_distribution_names_the_file(tmp_path):
    path = tmp_path / "class_distribution.npy"
    np.save(path, class_distribution(np.arange(1, CLASSES + 1)))
    np.testing.assert_allclose(load_probabilities(path, "class distribution").sum(), 1.0)
    truncate(path)
    with pytest.raises(DamagedFileError, match="not a readable class distribution") as err:
        load_probabilities(path, "class distribution")
    assert_names(err, path)


def test_truncated_prototypes_name_the_file(tmp_path):
    path = tmp_path / "prototypes.pt"
    save_prototypes(path, torch.randn(CLASSES, 64), torch.ones(CLASSES))
    truncate(path)
    with pytest.raises(ValueError, match="not a readable checkpoint") as err:
        load_prototypes(path)
    assert str(path) in str(err.value)
