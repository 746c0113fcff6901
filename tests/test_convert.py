"""Label conversion on small fabricated datasets in the real layouts."""

import numpy as np
import pandas as pd
import pytest

from pipeline_lib.data import image_io
from pipeline_lib.data.convert import LabelConversionError, convert_labels, list_cityscapes, list_gta5, list_synthia
from pipeline_lib.data.labels import CITYSCAPES_LABELS

PALETTE = np.array([lab.color for lab in CITYSCAPES_LABELS if lab.id >= 0], dtype=np.uint8)


def make_gta5(root, frames):
    """frames: list of (image HxWx3, label HxW) written as NNNNN.png."""
    for index, (image, label) in enumerate(frames, start=1):
        image_io.write_rgb(root / "images" / f"{index:05d}.png", image)
        image_io.write_label(root / "labels" / f"{index:05d}.png", label, PALETTE)


def noisy_image(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)


def test_gta5_conversion_maps_ids_and_lists_bad_frames(tmp_path):
    good = np.full((6, 8), 7, dtype=np.uint8)  # road
    good[0, :] = 23  # sky
    good[1, 0] = 9  # parking: ignored in the 19-class protocol
    make_gta5(
        tmp_path / "gta5",
        [
            (noisy_image(6, 8), good),
            (noisy_image(6, 8), np.full((5, 8), 7, dtype=np.uint8)),  # size mismatch
            (np.full((6, 8, 3), 255, dtype=np.uint8), good),  # blank frame like 15188
        ],
    )
    out = tmp_path / "out"
    report = convert_labels("gta5", list_gta5(tmp_path / "gta5"), out / "labels", out / "all.csv", split="all")
    assert report.converted == 1
    reasons = {item["name"]: item["reason"] for item in report.skipped}
    assert reasons["00002"].startswith("size mismatch") and reasons["00003"].startswith("blank")
    listing = pd.read_csv(out / "all.csv")
    assert list(listing.columns) == ["name", "image", "label"] and listing["name"].tolist() == [1]
    converted = image_io.read_index_label(listing["label"][0])
    assert converted[0, 0] == 10 and converted[2, 2] == 0 and converted[1, 0] == 255


def test_size_mismatch_policies(tmp_path):
    make_gta5(tmp_path / "gta5", [(noisy_image(6, 8), np.full((5, 8), 7, dtype=np.uint8))])
    samples = list_gta5(tmp_path / "gta5")
    with pytest.raises(LabelConversionError, match="00001.png: size mismatch"):
        convert_labels("gta5", samples, tmp_path / "a", tmp_path / "a.csv", split="all", size_mismatch="error")
    report = convert_labels(
        "gta5", samples, tmp_path / "b", tmp_path / "b.csv", split="all", size_mismatch="resize_label"
    )
    assert report.converted == 1
    assert image_io.read_index_label(tmp_path / "b" / "00001.png").shape == (6, 8)


def test_label_value_outside_table_names_the_file(tmp_path):
    make_gta5(tmp_path / "gta5", [(noisy_image(4, 4), np.full((4, 4), 200, dtype=np.uint8))])
    with pytest.raises(LabelConversionError, match=r"labels/00001.png: label values \[200\]"):
        convert_labels("gta5", list_gta5(tmp_path / "gta5"), tmp_path / "o", tmp_path / "o.csv", split="all")


def test_corrupt_label_png_names_the_file(tmp_path):
    make_gta5(tmp_path / "gta5", [(noisy_image(4, 4), np.full((4, 4), 7, dtype=np.uint8))])
    (tmp_path / "gta5" / "labels" / "00001.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    with pytest.raises(image_io.ImageReadError, match="labels/00001.png: cannot read image"):
        convert_labels("gta5", list_gta5(tmp_path / "gta5"), tmp_path / "o", tmp_path / "o.csv", split="all")
    assert not (tmp_path / "o.csv").exists()


def test_synthia_reads_sixteen_bit_red_channel(tmp_path):
    root = tmp_path / "synthia"
    image_io.write_rgb(root / "RGB" / "0000000.png", noisy_image(4, 6))
    raw = np.zeros((4, 6, 3), dtype=np.uint16)
    raw[..., 0] = 21  # wall
    raw[0, :, 0] = 22  # lanemarking -> ignore
    raw[..., 1] = 1234  # instance ids above 255: the high byte must not leak into the class
    image_io.write_uint16_rgb(root / "GT" / "LABELS" / "0000000.png", raw)
    convert_labels("synthia", list_synthia(root), tmp_path / "o", tmp_path / "o.csv", split="all")
    converted = image_io.read_index_label(tmp_path / "o" / "0000000.png")
    assert converted[0, 0] == 255 and (converted[1:] == 3).all()


def test_synthia_eight_bit_label_is_rejected(tmp_path):
    root = tmp_path / "synthia"
    image_io.write_rgb(root / "RGB" / "0000000.png", noisy_image(4, 6))
    image_io.write_label(root / "GT" / "LABELS" / "0000000.png", np.full((4, 6), 3, dtype=np.uint8))
    with pytest.raises(image_io.ImageReadError, match="0000000.png: expected a 16-bit 3-channel"):
        convert_labels("synthia", list_synthia(root), tmp_path / "o", tmp_path / "o.csv", split="all")


def test_cityscapes_pairs_by_stem_and_allows_unlabelled_train(tmp_path):
    root = tmp_path / "cityscapes"
    stem = "aachen_000000_000019"
    image_io.write_rgb(root / "leftImg8bit" / "train" / "aachen" / f"{stem}_leftImg8bit.png", noisy_image(4, 8))
    samples = list_cityscapes(root, "train")
    assert samples[0].name == stem and samples[0].label is None
    convert_labels(
        "cityscapes", samples, tmp_path / "o", tmp_path / "train.csv", split="train", require_labels=False
    )
    listing = pd.read_csv(tmp_path / "train.csv", keep_default_na=False)
    assert listing["label"].tolist() == [""]


def test_missing_dataset_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="GTA5 images folder not found"):
        list_gta5(tmp_path / "nowhere")
