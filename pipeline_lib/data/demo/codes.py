"""Scene codes: what a drawn pixel shows, and how each dataset encodes it.

Scenes are drawn once in one code space (Cityscapes label IDs plus two SYNTHIA-only classes), so the same
drawing can be written as a GTA5, SYNTHIA or Cityscapes frame; the lookup tables here translate it.
"""

from __future__ import annotations

import enum

import numpy as np

from pipeline_lib.data.labels import CITYSCAPES_LABELS, SYNTHIA_CLASSES


class Code(enum.IntEnum):
    """What a scene pixel shows: Cityscapes label IDs, plus two SYNTHIA-only classes that Cityscapes calls road."""

    UNLABELED = 0
    EGO_VEHICLE = 1
    OUT_OF_ROI = 3
    STATIC = 4
    ROAD = 7
    SIDEWALK = 8
    PARKING = 9
    RAIL_TRACK = 10
    BUILDING = 11
    WALL = 12
    FENCE = 13
    GUARD_RAIL = 14
    POLE = 17
    TRAFFIC_LIGHT = 19
    TRAFFIC_SIGN = 20
    VEGETATION = 21
    TERRAIN = 22
    SKY = 23
    PERSON = 24
    RIDER = 25
    CAR = 26
    TRUCK = 27
    BUS = 28
    TRAIN = 31
    MOTORCYCLE = 32
    BICYCLE = 33
    LANE_MARKING = 40
    ROAD_WORK = 41


GROUND_CODES = (
    Code.ROAD,
    Code.SIDEWALK,
    Code.PARKING,
    Code.RAIL_TRACK,
    Code.TERRAIN,
    Code.LANE_MARKING,
    Code.ROAD_WORK,
)


def cityscapes_label_lut() -> np.ndarray:
    """Scene code -> Cityscapes/GTA5 label ID. Lane markings are road there; road works are static clutter."""
    lut = np.arange(256, dtype=np.uint8)
    lut[Code.LANE_MARKING] = Code.ROAD
    lut[Code.ROAD_WORK] = Code.STATIC
    return lut


def synthia_label_lut() -> np.ndarray:
    """Scene code -> SYNTHIA class ID, matched by class name; Cityscapes-only void classes become SYNTHIA void."""
    synthia_ids = {c.name: c.id for c in SYNTHIA_CLASSES}
    aliases = {"person": "pedestrian", "parking": "parking-slot"}
    lut = np.zeros(256, dtype=np.uint16)
    for label in CITYSCAPES_LABELS:
        if label.id >= 0:
            lut[label.id] = synthia_ids.get(aliases.get(label.name, label.name), 0)
    lut[Code.LANE_MARKING] = synthia_ids["lanemarking"]
    lut[Code.ROAD_WORK] = synthia_ids["road-work"]
    return lut


def cityscapes_palette() -> np.ndarray:
    """Palette of GTA5 label PNGs: index = Cityscapes label ID, colour = its official colour."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for label in CITYSCAPES_LABELS:
        if label.id >= 0:
            palette[label.id] = label.color
    return palette[: max(label.id for label in CITYSCAPES_LABELS) + 1]
