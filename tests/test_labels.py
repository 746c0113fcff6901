"""The label tables against the official cityscapesScripts / SYNTHIA tables (spec datasets_eval §1.3, §3.4)."""

import numpy as np
import pytest

from pipeline_lib.data import labels
from pipeline_lib.data.labels import (
    CLASSES_16,
    IGNORE_INDEX,
    output_names,
    output_to_train_id_lut,
    train_id_to_output_lut,
)

OFFICIAL_LABEL_TO_TRAIN = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11,
                           25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
OFFICIAL_SYNTHIA_TO_TRAIN = {3: 0, 4: 1, 2: 2, 21: 3, 5: 4, 7: 5, 15: 6, 9: 7, 6: 8, 16: 9, 1: 10, 10: 11, 17: 12,
                             8: 13, 18: 14, 19: 15, 20: 16, 12: 17, 11: 18}


def test_cityscapes_lut_matches_official_table():
    lut = labels.cityscapes_to_train_id_lut()
    for label_id in range(labels.MAX_CITYSCAPES_LABEL_ID + 1):
        assert lut[label_id] == OFFICIAL_LABEL_TO_TRAIN.get(label_id, 255), label_id
    assert (lut[labels.MAX_CITYSCAPES_LABEL_ID + 1 :] == -1).all()
    assert lut[34] == -1  # not a Cityscapes label ID: an error in gtFine, not ignore


def test_gta5_lut_adds_only_palette_index_34_as_ignore():
    gta5, cityscapes = labels.gta5_to_train_id_lut(), labels.cityscapes_to_train_id_lut()
    assert gta5[34] == 255 and (gta5[35:] == -1).all()
    assert (gta5[:34] == cityscapes[:34]).all()


def test_synthia_lut_matches_official_table():
    lut = labels.synthia_to_train_id_lut()
    for synthia_id in range(labels.MAX_SYNTHIA_ID + 1):
        assert lut[synthia_id] == OFFICIAL_SYNTHIA_TO_TRAIN.get(synthia_id, 255), synthia_id
    assert lut.shape == (65536,)
    assert (lut[labels.MAX_SYNTHIA_ID + 1 :] == -1).all()


def test_train_classes_and_palette():
    assert len(labels.TRAIN_CLASSES) == 19
    assert labels.TRAIN_CLASSES[0] == "road" and labels.TRAIN_CLASSES[18] == "bicycle"
    assert tuple(labels.PALETTE[10]) == (70, 130, 180)  # sky, not ProDA's (0,130,180) typo


def test_train_to_label_id_roundtrip():
    to_label = labels.train_id_to_label_id_lut()
    to_train = labels.cityscapes_to_train_id_lut()
    train_ids = np.arange(19)
    assert (to_train[to_label[train_ids]] == train_ids).all()
    assert to_label[255] == 0


def test_sixteen_and_thirteen_class_protocols():
    names16 = {labels.TRAIN_CLASSES[i] for i in labels.CLASSES_16}
    names13 = {labels.TRAIN_CLASSES[i] for i in labels.CLASSES_13}
    assert len(names16) == 16 and not names16 & {"terrain", "truck", "train"}
    assert len(names13) == 13 and not names13 & {"wall", "fence", "pole"}
    compact = labels.compact16_lut()
    assert compact[9] == compact[14] == compact[16] == 255
    assert sorted(compact[list(labels.CLASSES_16)]) == list(range(16))


def test_colorize_uses_palette_and_black_for_ignore():
    picture = labels.colorize(np.array([[0, 255]], dtype=np.uint8))
    assert tuple(picture[0, 0]) == (128, 64, 128) and tuple(picture[0, 1]) == (0, 0, 0)


def test_network_outputs_map_to_train_ids_and_back():
    """A compact16 network's output k is the k-th of the 16 shared classes; its loss sees train IDs
    through the inverse map, terrain/truck/train as ignore (issue 17)."""
    to_train = output_to_train_id_lut(16)
    to_outputs = train_id_to_output_lut(16)
    assert [int(to_train[k]) for k in range(16)] == list(CLASSES_16) and to_train[IGNORE_INDEX] == IGNORE_INDEX
    assert [int(to_outputs[to_train[k]]) for k in range(16)] == list(range(16))
    assert [int(to_outputs[t]) for t in (9, 14, 16, IGNORE_INDEX)] == [IGNORE_INDEX] * 4
    assert train_id_to_output_lut(19) is None and output_names(16)[9] == "sky" and len(output_names(19)) == 19
    with pytest.raises(ValueError, match="a network has 13 outputs; udaflow knows 19, 16"):
        output_names(13)
