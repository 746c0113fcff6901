"""CBST/MLSL's .lst target lists (the 505-image Cityscapes train.lst) as udaflow file lists."""

import pandas as pd
import pytest

from pipeline_lib.selftrain.reference_lists import read_reference_list, select_listed

LINE = "leftImg8bit/train/{city}/{name}_leftImg8bit.png\tgtFine/train/{city}/{name}_gtFine_labelIds.png\n"


def _lst(path, *names):
    path.write_text("".join(LINE.format(city=name.split("_")[0], name=name) for name in names))
    return path


def _train_list(*names):
    return pd.DataFrame({"name": list(names), "image": [f"{n}.png" for n in names], "label": [""] * len(names)})


def test_listed_frames_are_taken_from_the_train_split_in_the_reference_order(tmp_path):
    path = _lst(tmp_path / "train.lst", "zurich_000010_000019", "aachen_000029_000019")
    names = read_reference_list(path)
    assert names == ["zurich_000010_000019", "aachen_000029_000019"]
    train = _train_list("aachen_000000_000019", "aachen_000029_000019", "zurich_000010_000019")
    selected = select_listed(train, names, path)
    assert list(selected["name"]) == names and list(selected["image"]) == [f"{n}.png" for n in names]


def test_a_frame_missing_from_the_dataset_is_an_error_not_a_smaller_set(tmp_path):
    path = _lst(tmp_path / "train.lst", "aachen_000029_000019", "bremen_000001_000019")
    with pytest.raises(ValueError, match=r"train.lst: 1 of 2 listed frames are not in .*: bremen_000001_000019"):
        select_listed(_train_list("aachen_000029_000019"), read_reference_list(path), path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("images/00001.png\tlabels/00001.png\n", r"line 1: 'images/00001.png' is not a Cityscapes"),
        (LINE.format(city="a", name="a_1_2") * 2, r"line 2: a_1_2 is listed twice"),
        ("\n", r"has no lines"),
    ],
)
def test_a_list_that_is_not_a_cityscapes_lst_is_refused_naming_the_line(tmp_path, text, message):
    path = tmp_path / "train.lst"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"train.lst.*{message}"):
        read_reference_list(path)
