"""Label tables of the extra target datasets and their look-up tables into the 19 Cityscapes train IDs.

Every LUT follows ``labels.lut_from_pairs``: a value of the release's table maps to a train ID or to 255
(ignore), any other value to ``NOT_IN_TABLE``, which conversion refuses naming the file. Sources:

- ACDC, Dark Zurich, BDD100K and ``folder`` lists already hold train IDs (0-18, 255 = ignore).
- IDD: the level-3 IDs of the IDD toolkit (``AutoNUE/public-code``, ``helpers/anue_labels.py``; the class
  order of ``evaluation/evaluate_mIoU.py``: 26 classes 0-25, 255 = void).
- Mapillary Vistas v1.2: the 66 class IDs of the release's ``config.json`` (0-65, 65 = unlabeled), mapped as
  RobustNet does (``shachoi/RobustNet``, ``datasets/mapillary.py``, ``gen_id_to_ignore``), the table the
  domain-generalisation benchmarks since RobustNet/ISW evaluate with.
- NTHU Cross-City: Cityscapes label IDs of the 13 evaluated classes (see ``crosscity_to_train_id_lut``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pipeline_lib.data.labels import (
    CITYSCAPES_LABELS,
    CLASSES_13,
    IGNORE_INDEX,
    MAX_CITYSCAPES_LABEL_ID,
    NOT_IN_TABLE,
    TRAIN_CLASSES,
    lut_from_pairs,
)


class TargetClass(NamedTuple):
    name: str
    id: int  # the value in the release's label PNGs
    train_id: int  # Cityscapes train ID, 255 = ignore


def train_id_identity_lut() -> np.ndarray:
    """Labels already in train IDs: 0-18 and 255 stay, every other value is refused."""
    return lut_from_pairs({**{i: i for i in range(len(TRAIN_CLASSES))}, IGNORE_INDEX: IGNORE_INDEX}, -1, 256)


# IDD level 3 merges several level-4 classes; what the merge decides here:
# - 'person' (4) also holds IDD's 'animal'; IDD's evaluation names the merged class person, so it is.
# - 'non-drivable fallback' (3) holds rail track and the rough ground Cityscapes calls terrain: no
#   terrain at level 3, so ignore. 'vehicle fallback' (12) holds caravan, trailer, train and odd
#   vehicles: no train at level 3, so ignore. 'drivable fallback' (1) holds parking: ignore, as in Cityscapes.
# - The toolkit's README lists traffic light as 18 and sign as 19 in one place; its label table and
#   evaluation class order (which produce and score the PNGs) say sign 18, light 19, as used here.
IDD_LEVEL3_CLASSES: tuple[TargetClass, ...] = (
    TargetClass("road", 0, 0),
    TargetClass("drivable fallback", 1, 255),
    TargetClass("sidewalk", 2, 1),
    TargetClass("non-drivable fallback", 3, 255),
    TargetClass("person", 4, 11),
    TargetClass("rider", 5, 12),
    TargetClass("motorcycle", 6, 17),
    TargetClass("bicycle", 7, 18),
    TargetClass("autorickshaw", 8, 255),
    TargetClass("car", 9, 13),
    TargetClass("truck", 10, 14),
    TargetClass("bus", 11, 15),
    TargetClass("vehicle fallback", 12, 255),
    TargetClass("curb", 13, 255),
    TargetClass("wall", 14, 3),
    TargetClass("fence", 15, 4),
    TargetClass("guard rail", 16, 255),
    TargetClass("billboard", 17, 255),
    TargetClass("traffic sign", 18, 7),
    TargetClass("traffic light", 19, 6),
    TargetClass("pole", 20, 5),
    TargetClass("obs-str-bar-fallback", 21, 255),
    TargetClass("building", 22, 2),
    TargetClass("bridge", 23, 255),
    TargetClass("vegetation", 24, 8),
    TargetClass("sky", 25, 10),
    TargetClass("void", 255, 255),  # 'unlabeled', 'ego vehicle', 'out of roi', ... and the background
)
MAX_IDD_LEVEL3_ID = 25


def idd_level3_to_train_id_lut() -> np.ndarray:
    """LUT over IDD ``*_gtFine_labellevel3Ids.png`` values (0-25, 255); 26-254 are refused."""
    return lut_from_pairs({c.id: c.train_id for c in IDD_LEVEL3_CLASSES}, MAX_IDD_LEVEL3_ID, 256)


MAPILLARY_V12_CLASSES: tuple[TargetClass, ...] = (
    TargetClass("animal--bird", 0, 255),
    TargetClass("animal--ground-animal", 1, 255),
    TargetClass("construction--barrier--curb", 2, 1),
    TargetClass("construction--barrier--fence", 3, 4),
    TargetClass("construction--barrier--guard-rail", 4, 255),
    TargetClass("construction--barrier--other-barrier", 5, 255),
    TargetClass("construction--barrier--wall", 6, 3),
    TargetClass("construction--flat--bike-lane", 7, 255),
    TargetClass("construction--flat--crosswalk-plain", 8, 255),
    TargetClass("construction--flat--curb-cut", 9, 255),
    TargetClass("construction--flat--parking", 10, 255),
    TargetClass("construction--flat--pedestrian-area", 11, 255),
    TargetClass("construction--flat--rail-track", 12, 255),
    TargetClass("construction--flat--road", 13, 0),
    TargetClass("construction--flat--service-lane", 14, 255),
    TargetClass("construction--flat--sidewalk", 15, 1),
    TargetClass("construction--structure--bridge", 16, 255),
    TargetClass("construction--structure--building", 17, 2),
    TargetClass("construction--structure--tunnel", 18, 255),
    TargetClass("human--person", 19, 11),
    TargetClass("human--rider--bicyclist", 20, 12),
    TargetClass("human--rider--motorcyclist", 21, 12),
    TargetClass("human--rider--other-rider", 22, 12),
    TargetClass("marking--crosswalk-zebra", 23, 255),
    TargetClass("marking--general", 24, 0),
    TargetClass("nature--mountain", 25, 255),
    TargetClass("nature--sand", 26, 255),
    TargetClass("nature--sky", 27, 10),
    TargetClass("nature--snow", 28, 255),
    TargetClass("nature--terrain", 29, 9),
    TargetClass("nature--vegetation", 30, 8),
    TargetClass("nature--water", 31, 255),
    TargetClass("object--banner", 32, 255),
    TargetClass("object--bench", 33, 255),
    TargetClass("object--bike-rack", 34, 255),
    TargetClass("object--billboard", 35, 255),
    TargetClass("object--catch-basin", 36, 255),
    TargetClass("object--cctv-camera", 37, 255),
    TargetClass("object--fire-hydrant", 38, 255),
    TargetClass("object--junction-box", 39, 255),
    TargetClass("object--mailbox", 40, 255),
    TargetClass("object--manhole", 41, 0),
    TargetClass("object--phone-booth", 42, 255),
    TargetClass("object--pothole", 43, 255),
    TargetClass("object--street-light", 44, 255),
    TargetClass("object--support--pole", 45, 5),
    TargetClass("object--support--traffic-sign-frame", 46, 255),
    TargetClass("object--support--utility-pole", 47, 5),
    TargetClass("object--traffic-light", 48, 6),
    TargetClass("object--traffic-sign--back", 49, 255),
    TargetClass("object--traffic-sign--front", 50, 7),
    TargetClass("object--trash-can", 51, 255),
    TargetClass("object--vehicle--bicycle", 52, 18),
    TargetClass("object--vehicle--boat", 53, 255),
    TargetClass("object--vehicle--bus", 54, 15),
    TargetClass("object--vehicle--car", 55, 13),
    TargetClass("object--vehicle--caravan", 56, 255),
    TargetClass("object--vehicle--motorcycle", 57, 17),
    TargetClass("object--vehicle--on-rails", 58, 16),
    TargetClass("object--vehicle--other-vehicle", 59, 255),
    TargetClass("object--vehicle--trailer", 60, 255),
    TargetClass("object--vehicle--truck", 61, 14),
    TargetClass("object--vehicle--wheeled-slow", 62, 255),
    TargetClass("void--car-mount", 63, 255),
    TargetClass("void--ego-vehicle", 64, 255),
    TargetClass("void--unlabeled", 65, 255),
)
MAX_MAPILLARY_V12_ID = 65


def mapillary_to_train_id_lut() -> np.ndarray:
    """LUT over Mapillary Vistas v1.2 label indices (0-65); 66-255 are refused (v2.0's 124-class labels
    would mostly pass this check with the wrong meaning: only the v1.2 labels may be given)."""
    return lut_from_pairs({c.id: c.train_id for c in MAPILLARY_V12_CLASSES}, MAX_MAPILLARY_V12_ID, 256)


def crosscity_to_train_id_lut() -> np.ndarray:
    """LUT over NTHU Cross-City ``*_eval.png`` values, read as Cityscapes *label* IDs.

    The public loaders that evaluate on Cross-City (``ZJULearning/MaxSquareLoss`` and its descendants such
    as ``leolyj/SAN-SAW``: ``datasets/crosscity_Dataset.py``) map these files with the Cityscapes label-ID
    -> train-ID table (7 road, 8 sidewalk, 11 building, 19 traffic light, ...), so that is what is assumed.
    Only the 13 evaluated classes may occur: wall, fence, pole, terrain, truck and train (label IDs 12, 13,
    17, 22, 27, 31) are refused, as are IDs above 33 other than 255. Cityscapes void IDs and 255 are ignore.
    Were a copy to hold train IDs instead, its cars (train ID 13 = label ID 13, fence) would be refused,
    so the wrong reading fails loudly rather than scoring garbage.
    """
    pairs = {lab.id: lab.train_id for lab in CITYSCAPES_LABELS if lab.id >= 0}
    pairs = {
        label_id: NOT_IN_TABLE if train_id != IGNORE_INDEX and train_id not in CLASSES_13 else train_id
        for label_id, train_id in pairs.items()
    }
    return lut_from_pairs({**pairs, IGNORE_INDEX: IGNORE_INDEX}, MAX_CITYSCAPES_LABEL_ID, 256)
