"""Label tables of Cityscapes, GTA5 and SYNTHIA and the look-up tables between them.

The tables are the official ones (cityscapesScripts ``helpers/labels.py`` and the SYNTHIA README), as
digested in ``shared/spec/datasets_eval.md`` §1.2, §1.3 and §3.4. GTA5 label PNGs hold Cityscapes
label IDs, so GTA5 and Cityscapes share one table.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

IGNORE_INDEX = 255


class CityscapesLabel(NamedTuple):
    name: str
    id: int
    train_id: int
    category: str
    ignore_in_eval: bool
    color: tuple[int, int, int]


CITYSCAPES_LABELS: tuple[CityscapesLabel, ...] = (
    CityscapesLabel("unlabeled", 0, 255, "void", True, (0, 0, 0)),
    CityscapesLabel("ego vehicle", 1, 255, "void", True, (0, 0, 0)),
    CityscapesLabel("rectification border", 2, 255, "void", True, (0, 0, 0)),
    CityscapesLabel("out of roi", 3, 255, "void", True, (0, 0, 0)),
    CityscapesLabel("static", 4, 255, "void", True, (0, 0, 0)),
    CityscapesLabel("dynamic", 5, 255, "void", True, (111, 74, 0)),
    CityscapesLabel("ground", 6, 255, "void", True, (81, 0, 81)),
    CityscapesLabel("road", 7, 0, "flat", False, (128, 64, 128)),
    CityscapesLabel("sidewalk", 8, 1, "flat", False, (244, 35, 232)),
    CityscapesLabel("parking", 9, 255, "flat", True, (250, 170, 160)),
    CityscapesLabel("rail track", 10, 255, "flat", True, (230, 150, 140)),
    CityscapesLabel("building", 11, 2, "construction", False, (70, 70, 70)),
    CityscapesLabel("wall", 12, 3, "construction", False, (102, 102, 156)),
    CityscapesLabel("fence", 13, 4, "construction", False, (190, 153, 153)),
    CityscapesLabel("guard rail", 14, 255, "construction", True, (180, 165, 180)),
    CityscapesLabel("bridge", 15, 255, "construction", True, (150, 100, 100)),
    CityscapesLabel("tunnel", 16, 255, "construction", True, (150, 120, 90)),
    CityscapesLabel("pole", 17, 5, "object", False, (153, 153, 153)),
    CityscapesLabel("polegroup", 18, 255, "object", True, (153, 153, 153)),
    CityscapesLabel("traffic light", 19, 6, "object", False, (250, 170, 30)),
    CityscapesLabel("traffic sign", 20, 7, "object", False, (220, 220, 0)),
    CityscapesLabel("vegetation", 21, 8, "nature", False, (107, 142, 35)),
    CityscapesLabel("terrain", 22, 9, "nature", False, (152, 251, 152)),
    CityscapesLabel("sky", 23, 10, "sky", False, (70, 130, 180)),
    CityscapesLabel("person", 24, 11, "human", False, (220, 20, 60)),
    CityscapesLabel("rider", 25, 12, "human", False, (255, 0, 0)),
    CityscapesLabel("car", 26, 13, "vehicle", False, (0, 0, 142)),
    CityscapesLabel("truck", 27, 14, "vehicle", False, (0, 0, 70)),
    CityscapesLabel("bus", 28, 15, "vehicle", False, (0, 60, 100)),
    CityscapesLabel("caravan", 29, 255, "vehicle", True, (0, 0, 90)),
    CityscapesLabel("trailer", 30, 255, "vehicle", True, (0, 0, 110)),
    CityscapesLabel("train", 31, 16, "vehicle", False, (0, 80, 100)),
    CityscapesLabel("motorcycle", 32, 17, "vehicle", False, (0, 0, 230)),
    CityscapesLabel("bicycle", 33, 18, "vehicle", False, (119, 11, 32)),
)

# The highest label ID of the official Cityscapes table (cityscapesScripts: 0..33, plus -1 which is
# never drawn): anything above in a gtFine labelIds PNG is an error naming the file.
MAX_CITYSCAPES_LABEL_ID = 33
# GTA5's palette PNGs also use index 34 (ProDA lists it as void): ignore there, and only there.
MAX_GTA5_LABEL_ID = 34

TRAIN_CLASSES: tuple[str, ...] = tuple(
    label.name for label in sorted(CITYSCAPES_LABELS, key=lambda lab: lab.train_id) if label.train_id != 255
)
NUM_CLASSES = len(TRAIN_CLASSES)

#: Standard Cityscapes colours of the 19 train classes (index = train ID).
PALETTE = np.array(
    [label.color for label in sorted(CITYSCAPES_LABELS, key=lambda lab: lab.train_id) if label.train_id != 255],
    dtype=np.uint8,
)

#: Train IDs of the classes in the SYNTHIA 16-class protocol (19 minus terrain, truck, train).
CLASSES_16: tuple[int, ...] = tuple(
    i for i, name in enumerate(TRAIN_CLASSES) if name not in {"terrain", "truck", "train"}
)
#: Train IDs of the 13-class protocol (mIoU*): the 16 minus wall, fence, pole.
CLASSES_13: tuple[int, ...] = tuple(i for i in CLASSES_16 if TRAIN_CLASSES[i] not in {"wall", "fence", "pole"})


class SynthiaClass(NamedTuple):
    name: str
    id: int
    train_id: int
    color: tuple[int, int, int]


SYNTHIA_CLASSES: tuple[SynthiaClass, ...] = (
    SynthiaClass("void", 0, 255, (0, 0, 0)),
    SynthiaClass("sky", 1, 10, (70, 130, 180)),
    SynthiaClass("building", 2, 2, (70, 70, 70)),
    SynthiaClass("road", 3, 0, (128, 64, 128)),
    SynthiaClass("sidewalk", 4, 1, (244, 35, 232)),
    SynthiaClass("fence", 5, 4, (64, 64, 128)),
    SynthiaClass("vegetation", 6, 8, (107, 142, 35)),
    SynthiaClass("pole", 7, 5, (153, 153, 153)),
    SynthiaClass("car", 8, 13, (0, 0, 142)),
    SynthiaClass("traffic sign", 9, 7, (220, 220, 0)),
    SynthiaClass("pedestrian", 10, 11, (220, 20, 60)),
    SynthiaClass("bicycle", 11, 18, (119, 11, 32)),
    SynthiaClass("motorcycle", 12, 17, (0, 0, 230)),
    SynthiaClass("parking-slot", 13, 255, (250, 170, 160)),
    SynthiaClass("road-work", 14, 255, (128, 64, 64)),
    SynthiaClass("traffic light", 15, 6, (250, 170, 30)),
    SynthiaClass("terrain", 16, 9, (152, 251, 152)),
    SynthiaClass("rider", 17, 12, (255, 0, 0)),
    SynthiaClass("truck", 18, 14, (0, 0, 70)),
    SynthiaClass("bus", 19, 15, (0, 60, 100)),
    SynthiaClass("train", 20, 16, (0, 80, 100)),
    SynthiaClass("wall", 21, 3, (102, 102, 156)),
    SynthiaClass("lanemarking", 22, 255, (102, 102, 156)),
)
MAX_SYNTHIA_ID = 22

# Sentinel in a LUT for a value outside the dataset's table; never a valid train ID.
NOT_IN_TABLE = -1


def lut_from_pairs(pairs: dict[int, int], max_valid: int, size: int) -> np.ndarray:
    """LUT over ``size`` raw values: ``pairs`` map to train IDs, the rest of ``0..max_valid`` to ignore and
    everything above to ``NOT_IN_TABLE``, which conversion refuses naming the file."""
    lut = np.full(size, NOT_IN_TABLE, dtype=np.int16)
    lut[: max_valid + 1] = IGNORE_INDEX
    for src, dst in pairs.items():
        lut[src] = dst
    return lut


def cityscapes_to_train_id_lut() -> np.ndarray:
    """LUT over 8-bit Cityscapes label IDs; -1 marks a value outside the official table (34 included)."""
    return lut_from_pairs(
        {lab.id: lab.train_id for lab in CITYSCAPES_LABELS if lab.id >= 0}, MAX_CITYSCAPES_LABEL_ID, 256
    )


def gta5_to_train_id_lut() -> np.ndarray:
    """LUT over GTA5's palette indices: the Cityscapes table plus index 34 as ignore."""
    return lut_from_pairs({lab.id: lab.train_id for lab in CITYSCAPES_LABELS if lab.id >= 0}, MAX_GTA5_LABEL_ID, 256)


def synthia_to_train_id_lut() -> np.ndarray:
    """LUT over 16-bit SYNTHIA class IDs into Cityscapes train IDs (the 16 shared classes; the rest 255).

    Terrain, truck and train map to their train IDs for completeness; they never occur in
    SYNTHIA-RAND-CITYSCAPES, which is why the SYNTHIA protocol scores 16 classes.
    """
    return lut_from_pairs({c.id: c.train_id for c in SYNTHIA_CLASSES}, MAX_SYNTHIA_ID, 65536)


def train_id_to_label_id_lut() -> np.ndarray:
    """Train ID -> Cityscapes label ID, for the official evaluator's PNGs (255 -> 0, unlabeled)."""
    lut = np.zeros(256, dtype=np.uint8)
    for lab in CITYSCAPES_LABELS:
        if 0 <= lab.train_id < 255:
            lut[lab.train_id] = lab.id
    return lut


def compact16_lut() -> np.ndarray:
    """19-class train IDs -> compact 16-way IDs (CBST/ProDA/DADA): terrain, truck, train become ignore."""
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for compact, train_id in enumerate(CLASSES_16):
        lut[train_id] = compact
    return lut


#: Output counts of the networks udaflow trains: 19 Cityscapes classes, or SYNTHIA's compact 16
#: (CBST, ProDA/CPSL: terrain, truck and train have no output; ``datasets_eval.md`` §3.4-§3.5).
OUTPUT_CLASSES: tuple[int, ...] = (19, 16)


def output_train_ids(num_classes: int) -> tuple[int, ...]:
    """The train ID each of a network's ``num_classes`` outputs stands for."""
    if num_classes == len(TRAIN_CLASSES):
        return tuple(range(len(TRAIN_CLASSES)))
    if num_classes == len(CLASSES_16):
        return CLASSES_16
    raise ValueError(f"a network has {num_classes} outputs; udaflow knows {', '.join(map(str, OUTPUT_CLASSES))}")


def output_names(num_classes: int) -> list[str]:
    """Class names of a network's outputs, in output order."""
    return [TRAIN_CLASSES[i] for i in output_train_ids(num_classes)]


def train_id_to_output_lut(num_classes: int) -> np.ndarray | None:
    """Train-ID labels -> the output indices a ``num_classes`` network's loss compares with (None for 19:
    the identity); train IDs without an output (compact16: terrain, truck, train) become ignore."""
    output_train_ids(num_classes)  # an unknown count is an error naming it
    return None if num_classes == len(TRAIN_CLASSES) else compact16_lut()


def output_to_train_id_lut(num_classes: int) -> np.ndarray:
    """A network's output indices (and 255 = ignore) -> train IDs, as uint8 over 0..255."""
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for output, train_id in enumerate(output_train_ids(num_classes)):
        lut[output] = train_id
    return lut


def colorize(train_ids: np.ndarray) -> np.ndarray:
    """RGB picture of a train-ID map in the Cityscapes palette; ignore pixels are black."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[:NUM_CLASSES] = PALETTE
    return palette[train_ids]
