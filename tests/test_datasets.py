"""File lists fail early and clearly; samples are reproducible from (seed, epoch, index); the infinite
loader resumed at iteration k yields what an uninterrupted run yields from k."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from pipeline_lib.data.datasets import (
    FileListError,
    SegmentationDataset,
    epoch_order,
    infinite_loader,
    iterations_per_epoch,
    read_file_list,
)
from pipeline_lib.data.labels import IGNORE_INDEX
from pipeline_lib.data.transforms import AugmentationConfig, EvalTransform, TrainAugmentation, denormalize

HEIGHT, WIDTH = 12, 16


def _write_frames(root: Path, count: int, labelled: bool = True) -> Path:
    """``count`` tiny frames and a file list with paths relative to ``root`` (the working directory)."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(exist_ok=True)
    (root / "labels").mkdir(exist_ok=True)
    rows = []
    for i in range(count):
        image = f"images/frame{i}.png"
        Image.fromarray(rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)).save(root / image)
        label = ""
        if labelled:
            label = f"labels/frame{i}.png"
            train_ids = rng.integers(0, 19, (HEIGHT, WIDTH), dtype=np.uint8)
            train_ids[0, 0] = IGNORE_INDEX
            Image.fromarray(train_ids).save(root / label)
        rows.append((f"frame{i}", image, label))
    file_list = root / "list.csv"
    pd.DataFrame(rows, columns=["name", "image", "label"]).to_csv(file_list, index=False)
    return file_list


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


_AUGMENT = TrainAugmentation(AugmentationConfig(scale=(0.8, 1.5), crop=(10, 10), hflip=0.5, color_jitter=0.3))


# --- file lists ------------------------------------------------------------------------------------


def test_read_file_list_keeps_empty_labels_as_empty_strings(workdir: Path) -> None:
    frames = read_file_list(_write_frames(workdir, 3, labelled=False))
    assert list(frames.columns) == ["name", "image", "label"]
    assert frames["label"].tolist() == ["", "", ""]
    assert frames["name"].tolist() == ["frame0", "frame1", "frame2"]


def test_wrong_header_names_the_file(workdir: Path) -> None:
    bad = workdir / "bad.csv"
    bad.write_text("image,label\na.png,b.png\n")
    with pytest.raises(FileListError, match=r"bad\.csv.*name,image,label"):
        read_file_list(bad)


def test_missing_files_are_named_and_counted(workdir: Path) -> None:
    file_list = _write_frames(workdir, 8)
    for i in range(7):
        (workdir / f"labels/frame{i}.png").unlink()
    with pytest.raises(FileListError) as caught:
        read_file_list(file_list)
    message = str(caught.value)
    assert "list.csv" in message and "7 referenced file(s) missing" in message
    assert "labels/frame0.png" in message and "(and 2 more)" in message


def test_missing_file_list_is_named(workdir: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere.csv"):
        read_file_list(workdir / "nowhere.csv")


def test_dataset_checks_files_at_construction(workdir: Path) -> None:
    file_list = _write_frames(workdir, 2)
    (workdir / "images/frame1.png").unlink()
    with pytest.raises(FileListError, match="images/frame1.png"):
        SegmentationDataset(file_list, EvalTransform())


# --- samples ------------------------------------------------------------------------------------------


def test_item_has_normalised_image_and_int64_train_ids(workdir: Path) -> None:
    file_list = _write_frames(workdir, 2)
    dataset = SegmentationDataset(file_list, EvalTransform())
    item = dataset[1]
    assert item["name"] == "frame1" and item["index"] == 1
    assert item["image"].shape == (3, HEIGHT, WIDTH) and item["image"].dtype == torch.float32
    assert item["label"].shape == (HEIGHT, WIDTH) and item["label"].dtype == torch.int64
    expected_label = np.asarray(Image.open(workdir / "labels/frame1.png"))
    np.testing.assert_array_equal(item["label"].numpy(), expected_label)
    pixels = np.asarray(Image.open(workdir / "images/frame1.png")).transpose(2, 0, 1)
    np.testing.assert_allclose(denormalize(item["image"], "imagenet").numpy(), pixels, atol=1e-3)


def test_caffe_convention_is_applied(workdir: Path) -> None:
    dataset = SegmentationDataset(_write_frames(workdir, 1), EvalTransform(), convention="caffe_bgr")
    pixels = np.asarray(Image.open(workdir / "images/frame0.png")).transpose(2, 0, 1)
    np.testing.assert_allclose(denormalize(dataset[0]["image"], "caffe_bgr").numpy(), pixels, atol=1e-3)


def test_label_absent_without_labels(workdir: Path) -> None:
    assert "label" not in SegmentationDataset(_write_frames(workdir, 1), EvalTransform(), with_labels=False)[0]
    assert "label" not in SegmentationDataset(_write_frames(workdir, 1, labelled=False), EvalTransform())[0]


def test_label_image_size_mismatch_is_named(workdir: Path) -> None:
    file_list = _write_frames(workdir, 1)
    Image.fromarray(np.zeros((5, 5), dtype=np.uint8)).save(workdir / "labels/frame0.png")
    with pytest.raises(ValueError, match="labels/frame0.png"):
        SegmentationDataset(file_list, EvalTransform())[0]


def test_label_value_that_is_no_train_id_is_named(workdir: Path) -> None:
    file_list = _write_frames(workdir, 1)
    label = np.full((HEIGHT, WIDTH), 7, dtype=np.uint8)
    label[0, :3] = (19, 50, IGNORE_INDEX)  # 255 is ignore and fine; 19 and 50 are no class
    Image.fromarray(label).save(workdir / "labels/frame0.png")
    with pytest.raises(ValueError, match=r"labels/frame0\.png: values \[19, 50\] are not train IDs"):
        SegmentationDataset(file_list, EvalTransform())[0]


def test_transform_and_dataset_conventions_must_agree(workdir: Path) -> None:
    with pytest.raises(ValueError, match="caffe_bgr"):
        SegmentationDataset(_write_frames(workdir, 1), _AUGMENT, convention="caffe_bgr")


def test_augmentation_depends_on_seed_epoch_and_index_only(workdir: Path) -> None:
    file_list = _write_frames(workdir, 3)
    dataset = SegmentationDataset(file_list, _AUGMENT, seed=5)
    first = dataset[2]
    _ = dataset[0]  # other reads in between change nothing
    again = SegmentationDataset(file_list, _AUGMENT, seed=5)[2]
    torch.testing.assert_close(first["image"], again["image"])
    torch.testing.assert_close(first["label"], again["label"])
    dataset.set_epoch(1)
    assert not torch.equal(dataset[2]["image"], first["image"])
    other_seed = SegmentationDataset(file_list, _AUGMENT, seed=6)[2]
    assert not torch.equal(other_seed["image"], first["image"])


# --- infinite loader -----------------------------------------------------------------------------------


def _indices(batches: list[dict]) -> list[list[int]]:
    return [batch["index"].tolist() for batch in batches]


def test_epoch_order_is_a_fresh_permutation_per_epoch() -> None:
    first, second = epoch_order(20, seed=3, epoch=0), epoch_order(20, seed=3, epoch=1)
    assert sorted(first.tolist()) == list(range(20)) and sorted(second.tolist()) == list(range(20))
    assert not torch.equal(first, second)
    torch.testing.assert_close(first, epoch_order(20, seed=3, epoch=0))


def test_iterations_per_epoch_drops_the_incomplete_batch() -> None:
    assert iterations_per_epoch(7, 2) == 3
    with pytest.raises(ValueError, match="batch size"):
        iterations_per_epoch(3, 4)


def test_a_list_shorter_than_one_batch_is_refused_naming_it(workdir: Path) -> None:
    file_list = _write_frames(workdir, 3)
    with pytest.raises(ValueError, match=f"{file_list}: 3 frames, fewer than one batch of 4"):
        next(infinite_loader(SegmentationDataset(file_list, _AUGMENT), batch_size=4, seed=0))


def test_loader_batches_cover_each_epoch_without_repeats(workdir: Path) -> None:
    dataset = SegmentationDataset(_write_frames(workdir, 7), _AUGMENT)
    batches = _indices(list(itertools.islice(infinite_loader(dataset, batch_size=2, seed=1), 6)))
    for epoch in (batches[:3], batches[3:]):
        flat = [i for batch in epoch for i in batch]
        assert len(set(flat)) == 6
    assert batches[:3] != batches[3:]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resumed_loader_matches_uninterrupted_run(workdir: Path, num_workers: int) -> None:
    file_list = _write_frames(workdir, 5)
    total, resume_at = 8, 5  # 2 iterations per epoch: resumes mid-way through epoch 2
    full = list(itertools.islice(infinite_loader(SegmentationDataset(file_list, _AUGMENT), 2, seed=9), total))
    resumed_loader = infinite_loader(
        SegmentationDataset(file_list, _AUGMENT), 2, seed=9, start_iteration=resume_at, num_workers=num_workers
    )
    resumed = list(itertools.islice(resumed_loader, total - resume_at))
    assert _indices(resumed) == _indices(full[resume_at:])
    for expected, actual in zip(full[resume_at:], resumed, strict=True):
        torch.testing.assert_close(actual["image"], expected["image"])
        torch.testing.assert_close(actual["label"], expected["label"])
        assert actual["name"] == expected["name"]
