"""Label conversion on small fabricated datasets in the real layouts."""

import json
import logging

import numpy as np
import pandas as pd
import pytest
from conftest import run_snakemake, tiny_config

from pipeline_lib.data import image_io
from pipeline_lib.data.convert import (
    LabelConversionError,
    convert_labels,
    list_cityscapes,
    list_gta5,
    list_samples,
    list_synthia,
    write_report,
)
from pipeline_lib.data.labels import CITYSCAPES_LABELS

PALETTE = np.array([lab.color for lab in CITYSCAPES_LABELS if lab.id >= 0], dtype=np.uint8)
CITY = "aachen"


def make_gta5(root, frames):
    """frames: list of (image HxWx3, label HxW or None for no label file) written as NNNNN.png."""
    for index, (image, label) in enumerate(frames, start=1):
        image_io.write_rgb(root / "images" / f"{index:05d}.png", image)
        (root / "labels").mkdir(parents=True, exist_ok=True)
        if label is not None:
            image_io.write_label(root / "labels" / f"{index:05d}.png", label, PALETTE)


def make_synthia(root, frames):
    """frames: list of (image HxWx3, SYNTHIA class HxW) written as NNNNNNN.png."""
    for index, (image, classes) in enumerate(frames):
        image_io.write_rgb(root / "RGB" / f"{index:07d}.png", image)
        raw = np.zeros((*classes.shape, 3), dtype=np.uint16)
        raw[..., 0] = classes
        image_io.write_uint16_rgb(root / "GT" / "LABELS" / f"{index:07d}.png", raw)


def make_cityscapes(root, split, frames):
    """frames: list of (image HxWx3, labelIds HxW or None for no gtFine file); returns the stems."""
    stems = [f"{CITY}_000000_{index:06d}" for index in range(len(frames))]
    for stem, (image, label) in zip(stems, frames, strict=True):
        image_io.write_rgb(root / "leftImg8bit" / split / CITY / f"{stem}_leftImg8bit.png", image)
        if label is not None:
            image_io.write_label(root / "gtFine" / split / CITY / f"{stem}_gtFine_labelIds.png", label)
    return stems


def noisy_image(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)


def road(height, width):
    return np.full((height, width), 7, dtype=np.uint8)


def test_gta5_conversion_maps_ids_and_lists_bad_frames(tmp_path):
    good = road(6, 8)
    good[0, :] = 23  # sky
    good[1, 0] = 9  # parking: ignored in the 19-class protocol
    make_gta5(
        tmp_path / "gta5",
        [
            (noisy_image(6, 8), good),
            (noisy_image(6, 8), road(5, 8)),  # size mismatch
            (np.full((6, 8, 3), 255, dtype=np.uint8), good),  # blank frame like 15188
            (noisy_image(6, 8), None),  # no label file: a source frame is skipped, not an error
        ],
    )
    out = tmp_path / "out"
    samples = list_gta5(tmp_path / "gta5")
    report = convert_labels("gta5", samples, out / "labels", out / "all.csv", split="all", size_mismatch="skip")
    assert report.converted == 1 and report.resized == []
    reasons = {item["name"]: item["reason"] for item in report.skipped}
    assert reasons["00002"].startswith("size mismatch") and reasons["00003"].startswith("blank")
    assert reasons["00004"] == "no label file"
    listing = pd.read_csv(out / "all.csv")
    assert list(listing.columns) == ["name", "image", "label"] and listing["name"].tolist() == [1]
    converted = image_io.read_index_label(listing["label"][0])
    assert converted[0, 0] == 10 and converted[2, 2] == 0 and converted[1, 0] == 255


def test_synthia_frame_without_label_is_skipped_and_reported(tmp_path):
    root = tmp_path / "synthia"
    make_synthia(root, [(noisy_image(4, 6), np.full((4, 6), 21, dtype=np.uint16))] * 2)
    (root / "GT" / "LABELS" / "0000001.png").unlink()
    report = convert_labels("synthia", list_synthia(root), tmp_path / "o", tmp_path / "o.csv", split="all")
    assert report.converted == 1
    assert report.skipped == [
        {"name": "0000001", "image": str(root / "RGB" / "0000001.png"), "reason": "no label file"}
    ]


def test_size_mismatch_policies(tmp_path, caplog):
    make_gta5(tmp_path / "gta5", [(noisy_image(6, 8), road(5, 8))])
    samples = list_gta5(tmp_path / "gta5")
    with pytest.raises(LabelConversionError, match="00001.png: size mismatch"):
        convert_labels("gta5", samples, tmp_path / "a", tmp_path / "a.csv", split="all", size_mismatch="error")
    with caplog.at_level(logging.WARNING, logger="pipeline_lib.data.convert"):
        report = convert_labels(
            "gta5", samples, tmp_path / "b", tmp_path / "b.csv", split="all", size_mismatch="resize_label"
        )
    assert report.converted == 1
    assert image_io.read_index_label(tmp_path / "b" / "00001.png").shape == (6, 8)
    label = tmp_path / "gta5" / "labels" / "00001.png"
    assert report.resized == [
        {
            "name": "00001",
            "image": str(tmp_path / "gta5" / "images" / "00001.png"),
            "label": str(label),
            "label_size": [8, 5],
            "image_size": [8, 6],
        }
    ]
    assert f"resized label {label} from 8x5 to its image's 8x6" in caplog.text
    write_report(tmp_path / "report.json", report)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["resized_count"] == 1 and saved["resized"] == report.resized


def test_target_and_synthia_size_mismatch_is_always_an_error(tmp_path):
    root = tmp_path / "cityscapes"
    make_cityscapes(root, "val", [(noisy_image(6, 8), road(5, 8))])
    samples = list_cityscapes(root, "val")
    with pytest.raises(LabelConversionError, match="gtFine_labelIds.png: size mismatch with .*leftImg8bit.png"):
        convert_labels("cityscapes", samples, tmp_path / "o", tmp_path / "o.csv", split="val")
    for dataset, policy in (("cityscapes", "skip"), ("synthia", "resize_label")):
        with pytest.raises(ValueError, match=f"size_mismatch='{policy}' applies to gta5 only"):
            convert_labels(dataset, samples, tmp_path / "o", tmp_path / "o.csv", split="val", size_mismatch=policy)


@pytest.mark.workflow
def test_rule_applies_the_gta5_size_policy_to_gta5_only(tmp_path):
    """``size_mismatch: skip`` under datasets.gta5 must not let a broken Cityscapes val set through."""
    make_gta5(tmp_path / "gta5", [(noisy_image(6, 8), road(6, 8))])
    stems = make_cityscapes(
        tmp_path / "cityscapes", "val", [(noisy_image(6, 8), road(6, 8)), (noisy_image(6, 8), road(5, 8))]
    )
    config = tiny_config()
    config["demo"]["generate"] = False
    config["datasets"]["gta5"] = {"root": str(tmp_path / "gta5"), "size_mismatch": "skip"}
    config["datasets"]["cityscapes"] = {"root": str(tmp_path / "cityscapes")}
    result = run_snakemake(tmp_path, "data/converted/cityscapes/val.csv", config=config)
    assert result.returncode != 0
    log = (tmp_path / "logs/convert_labels/cityscapes_val.log").read_text()
    assert f"{stems[1]}_gtFine_labelIds.png: size mismatch" in log
    assert not (tmp_path / "data/converted/cityscapes/val.csv").exists()


def test_label_value_outside_table_names_the_file(tmp_path):
    make_gta5(tmp_path / "gta5", [(noisy_image(4, 4), np.full((4, 4), 200, dtype=np.uint8))])
    with pytest.raises(LabelConversionError, match=r"labels/00001.png: label values \[200\]"):
        convert_labels("gta5", list_gta5(tmp_path / "gta5"), tmp_path / "o", tmp_path / "o.csv", split="all")


def test_corrupt_label_png_names_the_file(tmp_path):
    make_gta5(tmp_path / "gta5", [(noisy_image(4, 4), road(4, 4))])
    (tmp_path / "gta5" / "labels" / "00001.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    with pytest.raises(image_io.ImageReadError, match="labels/00001.png: cannot read image"):
        convert_labels("gta5", list_gta5(tmp_path / "gta5"), tmp_path / "o", tmp_path / "o.csv", split="all")
    assert not (tmp_path / "o.csv").exists()


def _damage(path, how):
    """``truncated``: the first half of the file, as ``head -c``; ``flipped``: one byte inverted inside IDAT."""
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
        return
    start = data.index(b"IDAT") + 4
    length = int.from_bytes(data[start - 8 : start - 4], "big")
    damaged = bytearray(data)
    damaged[start + length // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))


def _one_frame(dataset, root):
    """One labelled frame of ``dataset`` (cityscapes_train: unlabelled); returns (dataset, split, image)."""
    image = noisy_image(16, 32)
    if dataset == "gta5":
        make_gta5(root, [(image, road(16, 32))])
        return "gta5", "all", root / "images" / "00001.png"
    if dataset == "synthia":
        make_synthia(root, [(image, np.full((16, 32), 21, dtype=np.uint16))])
        return "synthia", "all", root / "RGB" / "0000000.png"
    split = "val" if dataset == "cityscapes_val" else "train"
    stem = make_cityscapes(root, split, [(image, road(16, 32) if split == "val" else None)])[0]
    return "cityscapes", split, root / "leftImg8bit" / split / CITY / f"{stem}_leftImg8bit.png"


@pytest.mark.parametrize("how", ["truncated", "flipped"])
@pytest.mark.parametrize("frame", ["gta5", "synthia", "cityscapes_val", "cityscapes_train"])
def test_damaged_image_stops_conversion_naming_it(tmp_path, frame, how):
    dataset, split, image = _one_frame(frame, tmp_path / "data")
    _damage(image, how)
    samples = list_samples(dataset, tmp_path / "data", split)
    with pytest.raises(LabelConversionError, match=f"{image}: cannot read image"):
        convert_labels(
            dataset, samples, tmp_path / "o", tmp_path / "o.csv", split=split, require_labels=split != "train"
        )
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
    stem = make_cityscapes(root, "train", [(noisy_image(4, 8), None)])[0]
    samples = list_cityscapes(root, "train")
    assert samples[0].name == stem
    assert samples[0].label == root / "gtFine" / "train" / CITY / f"{stem}_gtFine_labelIds.png"
    convert_labels("cityscapes", samples, tmp_path / "o", tmp_path / "train.csv", split="train", require_labels=False)
    listing = pd.read_csv(tmp_path / "train.csv", keep_default_na=False)
    assert listing["label"].tolist() == [""]


def test_cityscapes_val_frame_without_label_is_an_error_naming_it(tmp_path):
    root = tmp_path / "cityscapes"
    stems = make_cityscapes(root, "val", [(noisy_image(4, 8), road(4, 8)), (noisy_image(4, 8), None)])
    label = root / "gtFine" / "val" / CITY / f"{stems[1]}_gtFine_labelIds.png"
    image = root / "leftImg8bit" / "val" / CITY / f"{stems[1]}_leftImg8bit.png"
    with pytest.raises(LabelConversionError) as caught:
        convert_labels("cityscapes", list_cityscapes(root, "val"), tmp_path / "o", tmp_path / "val.csv", split="val")
    assert str(caught.value).startswith("1 of 2 cityscapes 'val' frames have no label file")
    assert f"missing {label} (image {image})" in str(caught.value)
    assert not (tmp_path / "val.csv").exists()


@pytest.mark.parametrize(
    ("dataset", "split", "folders", "searched"),
    [
        ("cityscapes", "val", [f"leftImg8bit/val/{CITY}"], "leftImg8bit/val"),
        ("gta5", "all", ["images", "labels"], "images"),
    ],
)
def test_no_images_names_the_folder_and_config_key(tmp_path, dataset, split, folders, searched):
    for folder in folders:
        (tmp_path / dataset / folder).mkdir(parents=True)
    with pytest.raises(LabelConversionError) as caught:
        list_samples(dataset, tmp_path / dataset, split)
    assert f"in {tmp_path / dataset / searched} (config key datasets.{dataset}.root)" in str(caught.value)


def test_every_frame_skipped_gives_the_reasons(tmp_path):
    make_gta5(tmp_path / "gta5", [(noisy_image(4, 4, seed), None) for seed in range(5)])
    with pytest.raises(LabelConversionError) as caught:
        convert_labels("gta5", list_gta5(tmp_path / "gta5"), tmp_path / "o", tmp_path / "o.csv", split="all")
    message = str(caught.value)
    assert message.startswith("every one of the 5 gta5 'all' frames was skipped")
    assert f"{tmp_path / 'gta5' / 'images' / '00001.png'}: no label file" in message
    assert "00003.png: no label file (and 2 more)" in message and "00004.png" not in message
    assert not (tmp_path / "o.csv").exists()


def test_missing_dataset_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"GTA5 images folder not found: .* \(config key datasets.gta5.root\)"):
        list_gta5(tmp_path / "nowhere")


def test_label_id_34_is_ignore_in_gta5_and_an_error_in_cityscapes(tmp_path):
    """GTA5's palette has index 34 (void); a Cityscapes gtFine labelIds PNG has IDs 0..33 only."""
    label = road(4, 4)
    label[0, 0] = 34
    make_gta5(tmp_path / "gta5", [(noisy_image(4, 4), label)])
    convert_labels("gta5", list_gta5(tmp_path / "gta5"), tmp_path / "g", tmp_path / "g.csv", split="all")
    assert image_io.read_index_label(tmp_path / "g" / "00001.png")[0, 0] == 255
    make_cityscapes(tmp_path / "cityscapes", "val", [(noisy_image(4, 4), label)])
    samples = list_cityscapes(tmp_path / "cityscapes", "val")
    with pytest.raises(LabelConversionError, match=r"gtFine_labelIds.png: label values \[34\]"):
        convert_labels("cityscapes", samples, tmp_path / "c", tmp_path / "c.csv", split="val")


@pytest.mark.workflow
def test_a_bad_second_root_keeps_the_first_roots_converted_labels(tmp_path):
    """Snakemake deletes data/converted/gta5/ before converting another root; the store keeps the good
    root's conversion, and switching back restores it without converting again."""
    make_gta5(tmp_path / "good", [(noisy_image(6, 8, seed), road(6, 8)) for seed in range(3)])
    bad_label = road(6, 8)
    bad_label[0, 0] = 200
    make_gta5(tmp_path / "bad", [(noisy_image(6, 8), road(6, 8)), (noisy_image(6, 8), bad_label)])
    config = tiny_config()
    config["demo"]["generate"] = False
    config["datasets"]["cityscapes"] = {"root": str(tmp_path / "cityscapes")}
    make_cityscapes(tmp_path / "cityscapes", "val", [(noisy_image(6, 8), road(6, 8))])
    target = "data/converted/gta5/all.csv"

    def convert(root):
        config["datasets"]["gta5"] = {"root": str(tmp_path / root), "size_mismatch": "skip"}
        return run_snakemake(tmp_path, target, config=config)

    assert convert("good").returncode == 0
    assert "holds 3 frames, the full dataset has 24966" in (tmp_path / "logs/convert_labels/gta5_all.log").read_text()
    first_list = (tmp_path / target).read_text()
    first_labels = {p.name: p.read_bytes() for p in (tmp_path / "data/converted/gta5/all_labels").glob("*.png")}
    assert len(first_labels) == 3
    failed = convert("bad")
    assert (
        failed.returncode != 0 and "label values [200]" in (tmp_path / "logs/convert_labels/gta5_all.log").read_text()
    )
    assert not (tmp_path / target).exists()  # Snakemake removed the outputs before the failing job
    stored = [p for p in (tmp_path / "data/converted/.store/gta5_all").iterdir() if not p.name.endswith(".partial")]
    assert len(stored) == 1
    assert {p.name: p.read_bytes() for p in (stored[0] / "labels").glob("*.png")} == first_labels

    assert convert("good").returncode == 0
    assert "restored the conversion stored at" in (tmp_path / "logs/convert_labels/gta5_all.log").read_text()
    assert (tmp_path / target).read_text() == first_list
    assert {p.name: p.read_bytes() for p in (tmp_path / "data/converted/gta5/all_labels").glob("*.png")} == first_labels
