"""Domain styles: what each domain's streets contain and how they look.

This is where the domain shift lives: GTA5, SYNTHIA and Cityscapes differ in camera rig and class frequencies
(SceneStyle) and in appearance (Look), the way the real datasets do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline_lib.data.demo.canvas import Colour
from pipeline_lib.data.demo.codes import Code


@dataclass(frozen=True)
class SceneStyle:
    """Camera rig and content statistics of a domain; counts are Poisson means per image."""

    camera_height: tuple[float, float]
    focal: tuple[float, float]  # × image width
    horizon: tuple[float, float]  # × image height
    cars: float
    trucks: float
    buses: float
    persons: float
    riders: float
    parked_two_wheelers: float
    trees: float
    poles: float
    clutter: float
    terrain: float  # probability that a setback between sidewalk and facade is grass
    fence: float  # probabilities per image
    wall: float
    train: float
    parking: float
    guard_rail: float
    road_work: float
    open_side: float  # probability that a side of the street is a park instead of facades
    ego_vehicle: bool
    # Rare kinds forced into image i by rotation (i % len), so every class occurs in any set of >= len images.
    forced: tuple[frozenset[str], ...]


@dataclass(frozen=True)
class Look:
    """How a domain renders pixels: the appearance half of the domain shift."""

    saturation: float  # gain on each class colour's distance from its grey value
    tint: tuple[float, float, float]  # RGB offset of every class colour
    class_shift: tuple[tuple[Code, tuple[float, float, float]], ...]  # extra per-class RGB offsets
    colour_jitter: float  # per-object colour noise (std, 0..255)
    brightness: tuple[float, float]
    contrast: tuple[float, float]
    gamma: tuple[float, float]
    noise: float  # per-pixel sensor noise (std, 0..255)
    blotches: float  # low-frequency multiplicative noise: dirt, uneven light
    blur: float  # Gaussian blur sigma in pixels (optics); 0 keeps rendered edges hard
    haze: float  # blend towards the sky colour near the horizon
    sun_shadows: float  # probability of a hard building shadow across the street
    facade_stripes: float  # amplitude of vertical stripes on buildings
    fence_mesh: int  # period in pixels of the fence lattice
    window_rows: float  # storey height in metres; window grids differ between renderers


@dataclass(frozen=True)
class Domain:
    name: str
    scene: SceneStyle
    look: Look


# Appearance colours shared by all domains before each domain's colour transform (not the label colours).
BASE_COLOURS: dict[Code, tuple[float, float, float]] = {
    Code.UNLABELED: (40, 40, 40),
    Code.EGO_VEHICLE: (28, 30, 36),
    Code.STATIC: (96, 90, 84),
    Code.ROAD: (92, 88, 96),
    Code.SIDEWALK: (150, 138, 134),
    Code.PARKING: (118, 108, 112),
    Code.RAIL_TRACK: (104, 92, 80),
    Code.BUILDING: (124, 114, 104),
    Code.WALL: (132, 124, 112),
    Code.FENCE: (120, 114, 102),
    Code.GUARD_RAIL: (158, 158, 164),
    Code.POLE: (112, 112, 118),
    Code.TRAFFIC_LIGHT: (44, 44, 40),
    Code.TRAFFIC_SIGN: (206, 196, 72),
    Code.VEGETATION: (72, 108, 46),
    Code.TERRAIN: (122, 138, 72),
    Code.SKY: (138, 176, 222),
    Code.PERSON: (84, 66, 76),
    Code.RIDER: (88, 64, 72),
    Code.CAR: (60, 70, 120),
    Code.TRUCK: (150, 150, 156),
    Code.BUS: (176, 74, 52),
    Code.TRAIN: (196, 188, 170),
    Code.MOTORCYCLE: (52, 52, 62),
    Code.BICYCLE: (96, 40, 44),
    Code.LANE_MARKING: (214, 214, 206),
    Code.ROAD_WORK: (176, 110, 52),
}
# Shared paints and clothes: vehicles and people are told apart by shape and context, not colour.
VEHICLE_PAINTS = np.array(
    [
        (190, 190, 196),
        (232, 232, 228),
        (34, 36, 42),
        (60, 70, 120),
        (150, 40, 38),
        (52, 84, 60),
        (206, 176, 70),
        (176, 74, 52),
    ],
    dtype=np.float64,
)
CLOTHES = np.array(
    [(38, 40, 52), (84, 66, 76), (150, 40, 46), (60, 80, 130), (190, 186, 176), (96, 90, 60), (30, 30, 30)],
    dtype=np.float64,
)
SKIN = np.array((198, 156, 128), dtype=np.float64)
TYRE = np.array((26, 26, 28), dtype=np.float64)
GLASS = np.array((44, 58, 74), dtype=np.float64)
TRUNK = np.array((86, 66, 48), dtype=np.float64)

_SOURCE_FORCED = (
    frozenset({"train"}),
    frozenset({"truck", "motorcyclist"}),
    frozenset({"bus", "cyclist"}),
    frozenset({"wall", "fence", "terrain"}),
)

GTA5 = Domain(
    "gta5",
    SceneStyle(
        camera_height=(1.3, 1.9),
        focal=(0.6, 0.9),
        horizon=(0.4, 0.52),
        cars=7.0,
        trucks=0.8,
        buses=0.4,
        persons=2.0,
        riders=0.4,
        parked_two_wheelers=0.3,
        trees=3.0,
        poles=5.0,
        clutter=1.0,
        terrain=0.4,
        fence=0.4,
        wall=0.35,
        train=0.05,
        parking=0.2,
        guard_rail=0.15,
        road_work=0.0,
        open_side=0.2,
        ego_vehicle=False,
        forced=_SOURCE_FORCED,
    ),
    Look(
        saturation=1.15,
        tint=(5, 2, -5),
        class_shift=((Code.ROAD, (-4, -4, -2)), (Code.VEGETATION, (0, 8, -6))),
        colour_jitter=14,
        brightness=(0.95, 1.08),
        contrast=(1.0, 1.15),
        gamma=(0.9, 1.0),
        noise=1.5,
        blotches=0.03,
        blur=0.0,
        haze=0.3,
        sun_shadows=0.7,
        facade_stripes=0.0,
        fence_mesh=4,
        window_rows=3.2,
    ),
)
SYNTHIA = Domain(
    "synthia",
    SceneStyle(
        camera_height=(1.5, 7.0),
        focal=(0.6, 0.9),
        horizon=(0.28, 0.5),
        cars=3.0,
        trucks=0.0,
        buses=0.4,
        persons=9.0,
        riders=0.8,
        parked_two_wheelers=0.6,
        trees=3.0,
        poles=6.0,
        clutter=1.0,
        terrain=0.0,
        fence=0.4,
        wall=0.4,
        train=0.0,
        parking=0.3,
        guard_rail=0.0,
        road_work=0.4,
        open_side=0.1,
        ego_vehicle=False,
        forced=(frozenset({"bus"}), frozenset({"motorcyclist"}), frozenset({"cyclist"}), frozenset({"wall", "fence"})),
    ),
    Look(
        saturation=1.08,
        tint=(-2, 0, 6),
        class_shift=((Code.SIDEWALK, (8, 4, 8)),),
        colour_jitter=12,
        brightness=(0.98, 1.12),
        contrast=(1.0, 1.12),
        gamma=(0.9, 1.0),
        noise=0.5,
        blotches=0.0,
        blur=0.0,
        haze=0.05,
        sun_shadows=0.3,
        facade_stripes=0.0,
        fence_mesh=3,
        window_rows=2.8,
    ),
)
CITYSCAPES = Domain(
    "cityscapes",
    SceneStyle(
        camera_height=(1.15, 1.3),
        focal=(0.95, 1.05),
        horizon=(0.40, 0.46),
        cars=4.0,
        trucks=0.3,
        buses=0.2,
        persons=6.0,
        riders=1.0,
        parked_two_wheelers=1.0,
        trees=6.0,
        poles=6.0,
        clutter=1.5,
        terrain=0.6,
        fence=0.5,
        wall=0.4,
        train=0.05,
        parking=0.4,
        guard_rail=0.15,
        road_work=0.0,
        open_side=0.25,
        ego_vehicle=True,
        forced=_SOURCE_FORCED,
    ),
    Look(
        saturation=1.0,
        tint=(-4, 0, 4),
        class_shift=(
            (Code.ROAD, (8, 6, 4)),
            (Code.SIDEWALK, (-6, -4, -4)),
            (Code.VEGETATION, (-8, -6, -2)),
            (Code.SKY, (8, 6, -2)),
        ),
        colour_jitter=10,
        brightness=(0.9, 1.04),
        contrast=(0.95, 1.08),
        gamma=(1.0, 1.06),
        noise=2.5,
        blotches=0.04,
        blur=0.4,
        haze=0.15,
        sun_shadows=0.1,
        facade_stripes=0.07,
        fence_mesh=4,
        window_rows=3.6,
    ),
)


def domain_palette(look: Look) -> dict[Code, Colour]:
    """The domain's class colours: one consistent transform of BASE_COLOURS plus a few per-class offsets."""
    shifts = dict(look.class_shift)
    palette = {}
    for code, base in BASE_COLOURS.items():
        colour = np.array(base, dtype=np.float64)
        grey = colour.mean()
        colour = grey + (colour - grey) * look.saturation + np.array(look.tint) + np.array(shifts.get(code, (0, 0, 0)))
        palette[code] = np.clip(colour, 0, 255)
    return palette

#: ACDC's night condition: Cityscapes-like streets (Swiss cities, a car-mounted camera) under street lights:
#: dark, low-contrast, bluish, noisy and soft, the appearance shift of the adverse-condition targets.
ACDC_NIGHT = Domain(
    "acdc_night",
    CITYSCAPES.scene,
    Look(
        saturation=0.55,
        tint=(-6, -2, 12),
        class_shift=((Code.SKY, (-40, -40, -20)),),
        colour_jitter=8,
        brightness=(0.35, 0.5),
        contrast=(0.7, 0.85),
        gamma=(1.2, 1.45),
        noise=6.0,
        blotches=0.2,
        blur=0.8,
        haze=0.0,
        sun_shadows=0.0,
        facade_stripes=0.03,
        fence_mesh=4,
        window_rows=3.6,
    ),
)
