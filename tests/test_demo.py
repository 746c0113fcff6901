"""The synthetic demo datasets must be indistinguishable in format from the real ones (spec datasets_eval §1-§3)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline_lib.data.demo import (
    CITYSCAPES_FRAME,
    MANIFEST_NAME,
    TRAIN_CITIES,
    VAL_CITIES,
    Code,
    DemoSpec,
    cityscapes_stem,
    generate_demo,
)
from pipeline_lib.data.image_io import read_image_size, read_index_label, read_rgb, read_synthia_label
from pipeline_lib.data.labels import (
    CITYSCAPES_LABELS,
    MAX_SYNTHIA_ID,
    NUM_CLASSES,
    SYNTHIA_CLASSES,
    cityscapes_to_train_id_lut,
    gta5_to_train_id_lut,
)

# Four images per set: the rare classes are forced into images by a rotation of four (SceneStyle.forced).
SMALL = DemoSpec(seed=3, gta5_count=4, synthia_count=4, cityscapes_train_count=4, cityscapes_val_count=4)
INSTANCE_CLASS_IDS = {24, 25, 26, 27, 28, 29, 30, 31, 32, 33}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("demo")
    return root, generate_demo(root, SMALL)


def cityscapes_pairs(root: Path, split: str) -> list[tuple[Path, Path, Path]]:
    pairs = []
    for image in sorted((root / "cityscapes" / "leftImg8bit" / split).glob("*/*_leftImg8bit.png")):
        stem = image.name.removesuffix("_leftImg8bit.png")
        gt = root / "cityscapes" / "gtFine" / split / image.parent.name
        pairs.append((image, gt / f"{stem}_gtFine_labelIds.png", gt / f"{stem}_gtFine_instanceIds.png"))
    return pairs


def test_file_names_follow_the_real_layouts(demo: tuple[Path, dict]) -> None:
    root, _ = demo
    assert sorted(p.name for p in (root / "gta5" / "images").iterdir()) == [f"{i:05d}.png" for i in range(1, 5)]
    assert sorted(p.name for p in (root / "gta5" / "labels").iterdir()) == [f"{i:05d}.png" for i in range(1, 5)]
    assert sorted(p.name for p in (root / "synthia" / "RGB").iterdir()) == [f"{i:07d}.png" for i in range(4)]
    assert sorted(p.name for p in (root / "synthia" / "GT" / "LABELS").iterdir()) == [f"{i:07d}.png" for i in range(4)]
    for split, cities in (("train", TRAIN_CITIES), ("val", VAL_CITIES)):
        pairs = cityscapes_pairs(root, split)
        assert len(pairs) == 4
        for image, label_ids, instance_ids in pairs:
            city, seq, frame, kind = image.name.split("_")
            assert city in cities and image.parent.name == city
            assert len(seq) == 6 and frame == f"{CITYSCAPES_FRAME:06d}" and kind == "leftImg8bit.png"
            assert label_ids.exists() and instance_ids.exists()
    assert (
        root / "cityscapes" / "leftImg8bit" / "train" / "aachen" / f"{cityscapes_stem('aachen', 0)}_leftImg8bit.png"
    ).exists()


def test_gta5_labels_are_palette_pngs_of_cityscapes_label_ids(demo: tuple[Path, dict]) -> None:
    root, _ = demo
    lut = gta5_to_train_id_lut()
    car = next(label for label in CITYSCAPES_LABELS if label.name == "car")
    for path in sorted((root / "gta5" / "labels").glob("*.png")):
        with Image.open(path) as image:
            assert image.mode == "P"
            palette = np.array(image.getpalette()[: 3 * 34]).reshape(-1, 3)
        ids = read_index_label(path)
        assert (lut[ids] != -1).all(), "every index must be an official label ID"
        assert tuple(palette[car.id]) == car.color


def test_synthia_labels_are_16_bit_with_class_in_red_and_instances_in_green(demo: tuple[Path, dict]) -> None:
    root, _ = demo
    absent = {c.id for c in SYNTHIA_CLASSES if c.name in {"terrain", "truck", "train"}}
    lanemarking = next(c.id for c in SYNTHIA_CLASSES if c.name == "lanemarking")
    seen: set[int] = set()
    max_instance = 0
    for path in sorted((root / "synthia" / "GT" / "LABELS").glob("*.png")):
        classes = read_synthia_label(path)
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # BGR
        assert raw.dtype == np.uint16 and raw.shape[2] == 3
        assert (raw[..., 0] == 0).all(), "blue channel is unused"
        assert classes.max() <= MAX_SYNTHIA_ID
        seen |= set(np.unique(classes).tolist())
        max_instance = max(max_instance, int(raw[..., 1].max()))
    assert max_instance > 255, "instance IDs above 255 prove the labels need 16-bit reading"
    assert not seen & absent, "SYNTHIA-RAND-CITYSCAPES has no terrain, truck or train"
    assert lanemarking in seen


def test_cityscapes_label_ids_and_instance_ids(demo: tuple[Path, dict]) -> None:
    root, _ = demo
    seen: set[int] = set()
    for image_path, label_path, instance_path in cityscapes_pairs(root, "val"):
        with Image.open(label_path) as image:
            assert image.mode == "L"
        labels = read_index_label(label_path)
        instances = np.asarray(Image.open(instance_path)).astype(np.int64)
        assert instances.shape == labels.shape == read_rgb(image_path).shape[:2]
        is_object = np.isin(labels, list(INSTANCE_CLASS_IDS)) & (instances >= 1000)
        assert is_object.any()
        assert (instances[is_object] // 1000 == labels[is_object]).all()
        assert (instances[~is_object] == labels[~is_object]).all()
        seen |= set(np.unique(labels).tolist())
    ego_vehicle, out_of_roi = Code.EGO_VEHICLE, Code.OUT_OF_ROI
    assert {ego_vehicle, out_of_roi} <= seen, "void IDs must occur so that ignore handling is exercised"


def test_image_sizes_match_the_spec_and_differ_per_domain(demo: tuple[Path, dict]) -> None:
    root, _ = demo
    sizes = {
        "gta5": {read_image_size(p) for p in (root / "gta5").glob("*/*.png")},
        "synthia": {read_image_size(p) for p in (root / "synthia" / "RGB").glob("*.png")},
        "cityscapes": {read_image_size(p) for p in (root / "cityscapes").glob("*/*/*/*.png")},
    }
    assert sizes == {"gta5": {SMALL.gta5_size}, "synthia": {SMALL.synthia_size}, "cityscapes": {SMALL.cityscapes_size}}
    assert len({SMALL.gta5_size, SMALL.synthia_size, SMALL.cityscapes_size}) == 3


def train_ids_present(label_paths: list[Path]) -> set[int]:
    lut = cityscapes_to_train_id_lut()
    return {int(i) for path in label_paths for i in np.unique(lut[read_index_label(path)]) if 0 <= i < 255}


def test_all_19_train_classes_occur_in_gta5_and_in_each_cityscapes_split(demo: tuple[Path, dict]) -> None:
    root, _ = demo
    assert train_ids_present(sorted((root / "gta5" / "labels").glob("*.png"))) == set(range(NUM_CLASSES))
    for split in ("train", "val"):
        labels = [label for _, label, _ in cityscapes_pairs(root, split)]
        assert train_ids_present(labels) == set(range(NUM_CLASSES)), split


def test_same_seed_gives_identical_files_and_another_seed_different_images(
    demo: tuple[Path, dict], tmp_path: Path
) -> None:
    root, _ = demo
    spec = DemoSpec(seed=SMALL.seed, gta5_count=2, synthia_count=2, cityscapes_train_count=1, cityscapes_val_count=1)
    generate_demo(tmp_path / "same", spec)
    generate_demo(
        tmp_path / "other",
        DemoSpec(seed=SMALL.seed + 1, gta5_count=2, synthia_count=2, cityscapes_train_count=1, cityscapes_val_count=1),
    )
    for relative in (
        "gta5/images/00002.png",
        "gta5/labels/00002.png",
        "synthia/RGB/0000001.png",
        "synthia/GT/LABELS/0000001.png",
    ):
        assert (tmp_path / "same" / relative).read_bytes() == (root / relative).read_bytes(), relative
        assert (tmp_path / "other" / relative).read_bytes() != (root / relative).read_bytes(), relative
    same_cs = cityscapes_pairs(tmp_path / "same", "val")[0][0]
    assert np.array_equal(read_rgb(same_cs), read_rgb(cityscapes_pairs(root, "val")[0][0]))
    assert not np.array_equal(read_rgb(same_cs), read_rgb(cityscapes_pairs(tmp_path / "other", "val")[0][0]))


def mean_colour(pairs: list[tuple[Path, Path]], label_id: int) -> np.ndarray:
    pixels = [read_rgb(image)[read_index_label(label) == label_id] for image, label in pairs]
    return np.concatenate(pixels).astype(np.float64).mean(axis=0)


def test_source_and_target_look_different(demo: tuple[Path, dict]) -> None:
    """The same class must render visibly differently across domains, or adaptation has nothing to adapt."""
    root, _ = demo
    gta5 = [(root / "gta5" / "images" / p.name, p) for p in sorted((root / "gta5" / "labels").glob("*.png"))]
    cityscapes = [(image, label) for image, label, _ in cityscapes_pairs(root, "train")]
    for label_id in (Code.ROAD, Code.VEGETATION):
        shift = np.linalg.norm(mean_colour(gta5, label_id) - mean_colour(cityscapes, label_id))
        assert shift > 8, (label_id, shift)


def test_manifest_is_written_last_with_counts_sizes_and_class_shares(demo: tuple[Path, dict]) -> None:
    root, returned = demo
    manifest = json.loads((root / MANIFEST_NAME).read_text())
    assert manifest == returned
    assert manifest["seed"] == SMALL.seed
    assert manifest["counts"] == {
        "gta5": 4, "synthia": 4, "cityscapes_train": 4, "cityscapes_val": 4, "acdc_train": 0, "acdc_val": 0
    }
    assert "acdc" not in manifest["roots"] and not (root / "acdc").exists()  # the second target only on request
    assert manifest["sizes"]["cityscapes"] == list(SMALL.cityscapes_size)
    for domain, shares in manifest["class_pixel_shares"].items():
        assert sum(shares.values()) == pytest.approx(1.0, abs=1e-4), domain
    assert manifest["class_pixel_shares"]["synthia"]["terrain"] == 0.0
    newest_data = max(p.stat().st_mtime_ns for p in root.rglob("*.png"))
    assert (root / MANIFEST_NAME).stat().st_mtime_ns >= newest_data


def test_scene_codes_below_40_are_cityscapes_label_ids() -> None:
    """Scene codes are written to Cityscapes/GTA5 labels unchanged, so their names must match the official table."""
    names = {label.id: label.name for label in CITYSCAPES_LABELS}
    for code in Code:
        if code < 40:
            assert names[code.value] == code.name.lower().replace("_", " ")


def test_spec_accepts_sizes_from_yaml_lists_and_rejects_nonsense() -> None:
    assert DemoSpec(gta5_size=[120, 66]).gta5_size == (120, 66)
    with pytest.raises(ValueError, match="gta5_count"):
        DemoSpec(gta5_count=-1)
    with pytest.raises(ValueError, match="cityscapes_size"):
        DemoSpec(cityscapes_size=(8, 4))


def test_real_resolution_writes_the_datasets_own_frame_sizes(tmp_path: Path) -> None:
    """demo.resolution: real (issue 19): GTA5 1914x1052, SYNTHIA 1280x760, Cityscapes 2048x1024."""
    spec = DemoSpec.from_config(
        {"generate": True, "root": "x", "seed": 0, "resolution": "real", "gta5_count": 1, "synthia_count": 1,
         "cityscapes_train_count": 1, "cityscapes_val_count": 1}
    )
    assert (spec.gta5_size, spec.synthia_size, spec.cityscapes_size) == ((1914, 1052), (1280, 760), (2048, 1024))
    generate_demo(tmp_path, spec)
    with Image.open(tmp_path / "gta5" / "images" / "00001.png") as gta5:
        assert gta5.size == (1914, 1052)
    with Image.open(next((tmp_path / "cityscapes" / "leftImg8bit" / "val").rglob("*.png"))) as city:
        assert city.size == (2048, 1024)
    assert DemoSpec.from_config({"seed": 0}).cityscapes_size == DemoSpec().cityscapes_size
    with pytest.raises(ValueError, match="demo.resolution must be one of demo, real, got 'huge'"):
        DemoSpec.from_config({"resolution": "huge"})


def test_acdc_night_is_a_second_target_in_acdc_s_layout_darker_than_cityscapes(demo, tmp_path: Path) -> None:
    """The demo's second target domain (issue 21): ACDC's night folders and file names, train IDs beside
    label IDs, 1920x1080 / 8 frames, visibly darker than Cityscapes; the other datasets' bytes unchanged."""
    root, _ = demo
    spec = DemoSpec(seed=SMALL.seed, gta5_count=2, synthia_count=2, cityscapes_train_count=2, cityscapes_val_count=2,
                    acdc_train_count=2, acdc_val_count=3)
    manifest = generate_demo(tmp_path, spec)
    assert manifest["roots"]["acdc"] == "acdc" and manifest["counts"]["acdc_val"] == 3
    images = sorted((tmp_path / "acdc" / "rgb_anon" / "night" / "val").glob("*/*_rgb_anon.png"))
    assert [image.name for image in images] == [f"GOPR0356_frame_{i:06d}_rgb_anon.png" for i in range(3)]
    assert len(list((tmp_path / "acdc" / "rgb_anon" / "night" / "train").glob("*/*_rgb_anon.png"))) == 2
    gt = tmp_path / "acdc" / "gt" / "night" / "val" / "GOPR0356"
    label_ids = read_index_label(gt / "GOPR0356_frame_000000_gt_labelIds.png")
    train_ids = read_index_label(gt / "GOPR0356_frame_000000_gt_labelTrainIds.png")
    assert np.array_equal(train_ids, cityscapes_to_train_id_lut()[label_ids])
    assert read_image_size(images[0]) == (240, 135)
    night = np.mean([read_rgb(image).mean() for image in images])
    day = np.mean([read_rgb(image).mean() for image, _, _ in cityscapes_pairs(root, "val")])
    assert night < 0.6 * day, (night, day)
    for relative in ("gta5/images/00002.png", "synthia/RGB/0000001.png"):
        assert (tmp_path / relative).read_bytes() == (root / relative).read_bytes(), relative
