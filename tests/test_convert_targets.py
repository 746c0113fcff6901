"""Label conversion of the extra target datasets, on tiny fabricated trees in each release's layout."""

import json

import numpy as np
import pandas as pd
import pytest

from pipeline_lib.data import convert as convert_module
from pipeline_lib.data import converted_store, image_io, target_labels
from pipeline_lib.data.convert import LabelConversionError, Sample, convert_labels, list_samples
from pipeline_lib.data.labels import TRAIN_CLASSES
from pipeline_lib.jobs import convert_labels as convert_labels_job

HEIGHT, WIDTH = 8, 16

# Raw label value -> train ID, a few per dataset, written out from each release's own table (not from the
# code under test): train-ID releases keep their values; IDD level-3 IDs (AutoNUE helpers/anue_labels.py);
# Mapillary v1.2 IDs as RobustNet maps them; Cross-City's Cityscapes label IDs.
TRAIN_ID_VALUES = {0: 0, 7: 7, 13: 13, 18: 18, 255: 255}
RAW_TO_TRAIN = {
    "acdc": TRAIN_ID_VALUES,
    "dark_zurich": TRAIN_ID_VALUES,
    "bdd100k": TRAIN_ID_VALUES,
    "folder": TRAIN_ID_VALUES,
    "idd": {0: 0, 2: 1, 4: 11, 9: 13, 18: 7, 19: 6, 25: 10, 3: 255, 12: 255, 255: 255},
    "mapillary": {13: 0, 24: 0, 2: 1, 27: 10, 55: 13, 58: 16, 21: 12, 8: 255, 65: 255},
    "crosscity": {7: 0, 8: 1, 19: 6, 26: 13, 28: 15, 33: 18, 0: 255, 255: 255},
}
# A value outside each table: a 20th train ID, IDD level 3 beyond 25, Mapillary beyond 65, and on
# Cross-City a class it never evaluates (wall, label ID 12).
OUT_OF_TABLE = {"acdc": 19, "dark_zurich": 19, "bdd100k": 19, "folder": 19, "idd": 26, "mapillary": 66, "crosscity": 12}
DATASETS = list(RAW_TO_TRAIN)


def noisy_image(seed=0):
    return np.random.default_rng(seed).integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)


def striped_label(dataset, seed=0):
    """Raw label with each of the dataset's sample values in a column stripe (rolled by ``seed``)."""
    values = np.roll(np.array(list(RAW_TO_TRAIN[dataset]), dtype=np.uint8), seed)
    return np.resize(values, WIDTH)[None, :].repeat(HEIGHT, axis=0)


def expected_train_ids(dataset, raw):
    return np.vectorize(RAW_TO_TRAIN[dataset].get)(raw).astype(np.uint8)


def _write_pair(image_path, label_path, image, label, palette=None):
    image_io.write_rgb(image_path, image)
    if label is not None:
        image_io.write_label(label_path, label, palette)


def make_tree(dataset, root, split, frames):
    """Writes ``frames`` (image, raw label or None) in the dataset's release layout.

    Returns the listing options and, per frame, (name, image path, where its label lies or would lie).
    """
    made = []
    options = {}
    for index, (image, label) in enumerate(frames):
        if dataset == "acdc":
            stem = f"GOPR0475_frame_{index:06d}"
            name, options = f"fog_{stem}", {"conditions": ["fog"]}
            image_path = root / "rgb_anon" / "fog" / split / "GOPR0475" / f"{stem}_rgb_anon.png"
            label_path = root / "gt" / "fog" / split / "GOPR0475" / f"{stem}_gt_labelTrainIds.png"
        elif dataset == "dark_zurich":
            name = f"GOPR0356_frame_{index:06d}"
            image_path = root / "rgb_anon" / split / "night" / "GOPR0356" / f"{name}_rgb_anon.png"
            label_path = root / "gt" / split / "night" / "GOPR0356" / f"{name}_gt_labelTrainIds.png"
        elif dataset == "bdd100k":
            name = f"7d2f7975-e0c1c5a{index}"
            image_path = root / "images" / "10k" / split / f"{name}.jpg"
            label_path = root / "labels" / "sem_seg" / "masks" / split / f"{name}.png"
        elif dataset == "idd":
            drive, frame_id = str(index), "000123"  # frame IDs repeat across drives
            name = f"{drive}_{frame_id}"
            image_path = root / "leftImg8bit" / split / drive / f"{frame_id}_leftImg8bit.png"
            label_path = root / "gtFine" / split / drive / f"{frame_id}_gtFine_labellevel3Ids.png"
            label_path.parent.mkdir(parents=True, exist_ok=True)
            (label_path.parent / f"{frame_id}_gtFine_polygons.json").write_text("{}")
        elif dataset == "mapillary":
            folder = {"train": "training", "val": "validation"}[split]
            name = f"--Zr3Xx2fu1BuEAKBS4ys{index}"
            image_path = root / folder / "images" / f"{name}.jpg"
            label_path = root / folder / "labels" / f"{name}.png"
        elif dataset == "crosscity":
            folder = {"train": "Train", "val": "Test"}[split]
            name, options = f"pano_0000{index}_0_180", {"city": "Rome"}
            image_path = root / "Rome" / "Images" / folder / f"{name}.jpg"
            label_path = root / "Rome" / "Labels" / folder / f"{name}_eval.png"
        else:  # folder
            name = f"images__seq__frame_{index}"
            image_path = root / "images" / "seq" / f"frame_{index}.png"
            label_path = root / "labels" / "seq" / f"frame_{index}.png"
        # Mapillary ships palette PNGs whose indices are the class IDs; the others greyscale PNGs.
        palette = np.zeros((66, 3), np.uint8) if dataset == "mapillary" else None
        _write_pair(image_path, label_path, image, label, palette)
        made.append((name, image_path, label_path if label is not None or dataset != "folder" else None))
    if dataset == "folder":
        rows = [
            {"image": str(image.relative_to(root)), "label": str(label.relative_to(root)) if label else ""}
            for _, image, label in made
        ]
        pd.DataFrame(rows, columns=["image", "label"]).to_csv(root / f"{split}.csv", index=False)
    return options, made


def convert(dataset, root, split, options, out, require_labels):
    samples = list_samples(dataset, root, split, options)
    return convert_labels(
        dataset, samples, out / f"{split}_labels", out / f"{split}.csv", split=split, require_labels=require_labels
    )


@pytest.mark.parametrize("dataset", DATASETS)
def test_labelled_split_converts_end_to_end(tmp_path, dataset):
    raws = [striped_label(dataset, seed) for seed in range(2)]
    options, made = make_tree(dataset, tmp_path / "data", "val", [(noisy_image(s), raws[s]) for s in range(2)])
    report = convert(dataset, tmp_path / "data", "val", options, tmp_path / "out", require_labels=True)
    assert report.converted == 2 and report.skipped == []
    listing = pd.read_csv(tmp_path / "out" / "val.csv", keep_default_na=False, dtype=str)
    assert list(listing.columns) == ["name", "image", "label"]
    assert listing["name"].tolist() == [name for name, _, _ in made]
    assert listing["image"].tolist() == [str(image) for _, image, _ in made]
    for (name, _, _), raw, label in zip(made, raws, listing["label"], strict=True):
        assert label == str(tmp_path / "out" / "val_labels" / f"{name}.png")
        np.testing.assert_array_equal(image_io.read_train_id_label(label), expected_train_ids(dataset, raw))


@pytest.mark.parametrize("dataset", DATASETS)
def test_out_of_table_label_value_names_the_file(tmp_path, dataset):
    raw = striped_label(dataset)
    raw[0, 0] = OUT_OF_TABLE[dataset]
    options, made = make_tree(dataset, tmp_path / "data", "val", [(noisy_image(), raw)])
    with pytest.raises(LabelConversionError, match=rf"{made[0][2]}: label values \[{OUT_OF_TABLE[dataset]}\]"):
        convert(dataset, tmp_path / "data", "val", options, tmp_path / "out", require_labels=True)
    assert not (tmp_path / "out" / "val.csv").exists()


@pytest.mark.parametrize("dataset", DATASETS)
def test_missing_label_in_labelled_split_names_it(tmp_path, dataset):
    frames = [(noisy_image(0), striped_label(dataset)), (noisy_image(1), None)]
    options, made = make_tree(dataset, tmp_path / "data", "val", frames)
    with pytest.raises(LabelConversionError) as caught:
        convert(dataset, tmp_path / "data", "val", options, tmp_path / "out", require_labels=True)
    _, image, label = made[1]
    assert str(label if label is not None else image) in str(caught.value)
    assert not (tmp_path / "out" / "val.csv").exists()


@pytest.mark.parametrize("dataset", DATASETS)
def test_unlabelled_train_split_is_listed_with_empty_labels(tmp_path, dataset):
    options, made = make_tree(dataset, tmp_path / "data", "train", [(noisy_image(s), None) for s in range(3)])
    report = convert(dataset, tmp_path / "data", "train", options, tmp_path / "out", require_labels=False)
    assert report.converted == 3
    listing = pd.read_csv(tmp_path / "out" / "train.csv", keep_default_na=False, dtype=str)
    assert listing["name"].tolist() == [name for name, _, _ in made]
    assert listing["label"].tolist() == ["", "", ""]


@pytest.mark.parametrize("dataset", DATASETS)
def test_unknown_split_and_option_are_errors(tmp_path, dataset):
    options, _ = make_tree(dataset, tmp_path / "data", "val", [(noisy_image(), striped_label(dataset))])
    with pytest.raises(ValueError, match=f"{dataset} has the splits train, val; got 'test'"):
        list_samples(dataset, tmp_path / "data", "test", options)
    with pytest.raises(ValueError, match=rf"unknown {dataset} option\(s\) \['citty'\]"):
        list_samples(dataset, tmp_path / "data", "val", {**options, "citty": "Rome"})


@pytest.mark.parametrize("dataset", ["bdd100k", "mapillary", "crosscity"])
def test_truncated_jpeg_stops_conversion_naming_it(tmp_path, dataset):
    """PIL's verify() passes a JPEG cut inside its scan data; only decoding it finds the missing bytes."""
    options, made = make_tree(dataset, tmp_path / "data", "val", [(noisy_image(), striped_label(dataset))])
    image = made[0][1]
    data = image.read_bytes()
    scan = data.index(b"\xff\xda")  # start of scan: the headers stay whole, the pixels are cut
    image.write_bytes(data[: scan + (len(data) - scan) // 2])
    with pytest.raises(LabelConversionError, match=f"{image}: cannot read image, truncated or corrupt"):
        convert(dataset, tmp_path / "data", "val", options, tmp_path / "out", require_labels=True)


def test_acdc_merges_conditions_under_prefixed_names(tmp_path):
    root = tmp_path / "acdc"
    for condition in ("fog", "night"):
        stem = "GOPR0475_frame_000001"  # the same stem under two conditions
        image_io.write_rgb(root / "rgb_anon" / condition / "val" / "GOPR0475" / f"{stem}_rgb_anon.png", noisy_image())
    names = [s.name for s in list_samples("acdc", root, "val", {"conditions": ["fog", "night"]})]
    assert names == ["fog_GOPR0475_frame_000001", "night_GOPR0475_frame_000001"]
    with pytest.raises(FileNotFoundError, match=r"ACDC rgb_anon/rain/val folder .*not found: .*rgb_anon/rain/val"):
        list_samples("acdc", root, "val")  # the default is all four conditions
    with pytest.raises(ValueError, match="acdc option conditions=.*out of fog, night, rain, snow"):
        list_samples("acdc", root, "val", {"conditions": ["fog", "haze"]})


def test_dark_zurich_train_takes_only_night(tmp_path):
    root = tmp_path / "dz"
    for time_of_day in ("day", "twilight", "night"):
        folder = root / "rgb_anon" / "train" / time_of_day / "GOPR0351"
        image_io.write_rgb(folder / f"GOPR0351_frame_{time_of_day}_rgb_anon.png", noisy_image())
    assert [s.name for s in list_samples("dark_zurich", root, "train")] == ["GOPR0351_frame_night"]


def test_idd_without_level3_pngs_names_the_folder_and_the_toolkit_step(tmp_path):
    root = tmp_path / "idd"
    image_io.write_rgb(root / "leftImg8bit" / "val" / "0" / "000123_leftImg8bit.png", noisy_image())
    (root / "gtFine" / "val" / "0").mkdir(parents=True)
    (root / "gtFine" / "val" / "0" / "000123_gtFine_polygons.json").write_text("{}")
    with pytest.raises(LabelConversionError) as caught:
        list_samples("idd", root, "val")
    message = str(caught.value)
    assert f"no IDD level-3 label PNGs (*_gtFine_labellevel3Ids.png) in {root / 'gtFine' / 'val'}" in message
    assert "createLabels.py" in message and "--id-type level3Id" in message


def test_idd_train_needs_no_level3_pngs(tmp_path):
    root = tmp_path / "idd"
    image_io.write_rgb(root / "leftImg8bit" / "train" / "7" / "000042_leftImg8bit.png", noisy_image())
    assert [s.name for s in list_samples("idd", root, "train")] == ["7_000042"]


def test_mapillary_v2_package_reads_its_v12_labels(tmp_path):
    """The v2.0 package nests the 66-class labels under v1.2/ beside the 124-class v2.0/ ones."""
    root = tmp_path / "vistas"
    image_io.write_rgb(root / "validation" / "images" / "key.jpg", noisy_image())
    (root / "validation" / "v2.0" / "labels").mkdir(parents=True)
    (root / "validation" / "v1.2" / "labels").mkdir(parents=True)
    assert list_samples("mapillary", root, "val")[0].label == root / "validation" / "v1.2" / "labels" / "key.png"


def test_crosscity_needs_a_city_and_refuses_every_class_it_does_not_evaluate(tmp_path):
    make_tree("crosscity", tmp_path / "nthu", "val", [(noisy_image(), striped_label("crosscity"))])
    with pytest.raises(ValueError, match="crosscity needs the option city, one of Rome, Rio, Tokyo, Taipei"):
        list_samples("crosscity", tmp_path / "nthu", "val")
    lut = target_labels.crosscity_to_train_id_lut()
    not_evaluated = {"wall": 12, "fence": 13, "pole": 17, "terrain": 22, "truck": 27, "train": 31}
    assert all(lut[label_id] < 0 for label_id in not_evaluated.values())
    evaluated = {label_id: int(lut[label_id]) for label_id in range(256) if 0 <= lut[label_id] < 255}
    assert sorted(TRAIN_CLASSES[t] for t in evaluated.values()) == sorted(
        [
            "road",
            "sidewalk",
            "building",
            "traffic light",
            "traffic sign",
            "vegetation",
            "sky",
            "person",
            "rider",
            "car",
            "bus",
            "motorcycle",
            "bicycle",
        ]
    )
    assert lut[0] == 255 and lut[255] == 255 and (lut[34:255] < 0).all()


def test_folder_list_resolves_paths_from_the_csv_folder_and_names_bad_rows(tmp_path):
    root = tmp_path / "mine"
    image_io.write_rgb(root / "lists" / "img" / "a.png", noisy_image())
    image_io.write_label(root / "lists" / "lab" / "a.png", np.full((HEIGHT, WIDTH), 5, np.uint8))
    (root / "lists" / "mine_val.csv").write_text("image,label\nimg/a.png,lab/a.png\n")
    samples = list_samples("folder", root, "val", {"val_list": "lists/mine_val.csv"})
    assert samples == [Sample("img__a", root / "lists" / "img" / "a.png", root / "lists" / "lab" / "a.png")]
    (root / "lists" / "mine_val.csv").write_text("image,label\nimg/a.png,lab/a.png\nimg/b.png,lab/b.png\n")
    with pytest.raises(LabelConversionError, match=r"mine_val.csv line 3: image file .*img/b.png not found"):
        list_samples("folder", root, "val", {"val_list": "lists/mine_val.csv"})
    (root / "lists" / "train.csv").write_text("image\nimg/a.png\n")  # no label column: an unlabelled list
    assert [s.label for s in list_samples("folder", root, "train", {"train_list": "lists/train.csv"})] == [None]
    (root / "lists" / "bad.csv").write_text("path,label\nimg/a.png,lab/a.png\n")
    with pytest.raises(LabelConversionError, match="the header must be 'image,label'"):
        list_samples("folder", root, "val", {"val_list": "lists/bad.csv"})
    with pytest.raises(FileNotFoundError, match=r"folder list not found: .*val.csv"):
        list_samples("folder", root, "val")
    (root / "val.csv").write_text("")
    with pytest.raises(LabelConversionError, match=r"val.csv: empty file"):
        list_samples("folder", root, "val")
    (root / "val.csv").write_text("image,label\n")
    with pytest.raises(LabelConversionError, match=r"val.csv: lists no frames"):
        list_samples("folder", root, "val")


def test_frames_sharing_a_name_are_refused(tmp_path):
    image = tmp_path / "a.png"
    image_io.write_rgb(image, noisy_image())
    samples = [Sample("same", image, tmp_path / "x.png"), Sample("same", image, tmp_path / "y.png")]
    with pytest.raises(LabelConversionError, match="frames share a name, so their labels would overwrite: 'same'"):
        convert_labels("folder", samples, tmp_path / "o", tmp_path / "o.csv", split="train", require_labels=False)


def test_unknown_dataset_is_named(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'kitti'; udaflow reads gta5, synthia, cityscapes, acdc"):
        list_samples("kitti", tmp_path, "val")


def test_source_datasets_take_no_options(tmp_path):
    with pytest.raises(ValueError, match=r"unknown gta5 option\(s\) \['city'\]; gta5 takes: none"):
        list_samples("gta5", tmp_path, "all", {"city": "Rome"})


IDD_LEVEL3_OFFICIAL = [  # evaluation/evaluate_mIoU.py class_names, in level-3 ID order
    "road",
    "drivable fallback",
    "sidewalk",
    "non-drivable fallback",
    "person",
    "rider",
    "motorcycle",
    "bicycle",
    "autorickshaw",
    "car",
    "truck",
    "bus",
    "vehicle fallback",
    "curb",
    "wall",
    "fence",
    "guard rail",
    "billboard",
    "traffic sign",
    "traffic light",
    "pole",
    "obs-str-bar-fallback",
    "building",
    "bridge",
    "vegetation",
    "sky",
]
# RobustNet datasets/mapillary.py gen_id_to_ignore: every other Mapillary ID is ignore.
MAPILLARY_ROBUSTNET = {
    13: 0,
    24: 0,
    41: 0,
    2: 1,
    15: 1,
    17: 2,
    6: 3,
    3: 4,
    45: 5,
    47: 5,
    48: 6,
    50: 7,
    30: 8,
    29: 9,
    27: 10,
    19: 11,
    20: 12,
    21: 12,
    22: 12,
    55: 13,
    61: 14,
    54: 15,
    58: 16,
    57: 17,
    52: 18,
}


def test_idd_level3_lut_maps_the_official_classes_by_name():
    lut = target_labels.idd_level3_to_train_id_lut()
    for level3_id, name in enumerate(IDD_LEVEL3_OFFICIAL):
        expected = TRAIN_CLASSES.index(name) if name in TRAIN_CLASSES else 255
        assert lut[level3_id] == expected, name
    assert lut[255] == 255 and (lut[26:255] < 0).all()
    assert [c.name for c in target_labels.IDD_LEVEL3_CLASSES[:26]] == IDD_LEVEL3_OFFICIAL


def test_mapillary_lut_is_robustnets_table():
    lut = target_labels.mapillary_to_train_id_lut()
    for mapillary_id in range(66):
        assert lut[mapillary_id] == MAPILLARY_ROBUSTNET.get(mapillary_id, 255), mapillary_id
    assert (lut[66:] < 0).all()
    assert [c.id for c in target_labels.MAPILLARY_V12_CLASSES] == list(range(66))


def test_train_id_identity_lut_refuses_everything_else():
    lut = target_labels.train_id_identity_lut()
    assert (lut[:19] == np.arange(19)).all() and lut[255] == 255 and (lut[19:255] < 0).all()


def test_job_passes_options_to_the_listing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the store of converted labels lives under the working directory
    options, made = make_tree("crosscity", tmp_path / "nthu", "val", [(noisy_image(), striped_label("crosscity"))])
    convert_labels_job.run(
        "crosscity",
        "val",
        tmp_path / "nthu",
        tmp_path / "labels",
        tmp_path / "val.csv",
        tmp_path / "report.json",
        options=options,
    )
    assert json.loads((tmp_path / "report.json").read_text())["converted"] == 1
    assert (tmp_path / "labels" / f"{made[0][0]}.png").is_file()


def test_fingerprint_covers_a_new_datasets_table_and_unlabelled_rows(tmp_path, monkeypatch):
    image = tmp_path / "a.png"
    image_io.write_rgb(image, noisy_image())
    unlabelled = [Sample("a", image, None)]
    before = converted_store.fingerprint("idd", "train", tmp_path, unlabelled, {})
    assert before != converted_store.fingerprint("idd", "train", tmp_path, [Sample("a", image, tmp_path / "a")], {})
    changed = convert_module.DATASET_FORMATS["idd"]._replace(lut=target_labels.train_id_identity_lut)
    monkeypatch.setitem(convert_module.DATASET_FORMATS, "idd", changed)
    assert converted_store.fingerprint("idd", "train", tmp_path, unlabelled, {}) != before
