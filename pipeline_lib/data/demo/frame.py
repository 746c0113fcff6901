"""One frame: a scene drawn from its own seeded generator, checked for its required classes and rendered.

Every dataset writer stores frames; seeding each one by ``(seed, stream, index)`` keeps a set byte-identical for
a seed, whatever else is generated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline_lib.data.demo.camera import Camera
from pipeline_lib.data.demo.canvas import Canvas
from pipeline_lib.data.demo.codes import Code
from pipeline_lib.data.demo.domains import Domain
from pipeline_lib.data.demo.render import render
from pipeline_lib.data.demo.scene import Scene
from pipeline_lib.data.demo.street import sample_street

# Stream IDs for the per-image generators; fixed forever so a seed always reproduces the same files.
_STREAM = {"gta5": 0, "synthia": 1, "cityscapes_train": 2, "cityscapes_val": 3, "acdc_train": 4, "acdc_val": 5}


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # H×W×3 uint8 RGB
    codes: np.ndarray  # H×W uint8 scene codes
    instances: np.ndarray  # H×W int32 instance numbers, 0 = none
    instance_codes: tuple[Code, ...]


# Classes a forced kind must leave visible; lights and signs are wanted in every frame.
REQUIRED_CODES: dict[str, tuple[Code, ...]] = {
    "train": (Code.TRAIN,),
    "truck": (Code.TRUCK,),
    "bus": (Code.BUS,),
    "motorcyclist": (Code.MOTORCYCLE, Code.RIDER),
    "cyclist": (Code.BICYCLE, Code.RIDER),
    "wall": (Code.WALL,),
    "fence": (Code.FENCE,),
    "terrain": (Code.TERRAIN,),
}
ALWAYS_REQUIRED = (Code.TRAFFIC_LIGHT, Code.TRAFFIC_SIGN)
MIN_VISIBLE_PIXELS = 4
MAX_ATTEMPTS = 12


def frame_rng(seed: int, stream: str, index: int, attempt: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAM[stream], index, attempt])


def draw_frame(
    domain: Domain, size: tuple[int, int], rng: np.random.Generator, forced: frozenset[str]
) -> tuple[Canvas, Camera]:
    width, height = size
    style = domain.scene
    cam = Camera(
        focal=width * rng.uniform(*style.focal),
        centre_x=width * rng.uniform(0.42, 0.58),
        horizon=height * rng.uniform(*style.horizon),
        height=rng.uniform(*style.camera_height),
    )
    canvas = Canvas(size)
    Scene(canvas, cam, sample_street(rng, style), domain, rng, forced).draw()
    return canvas, cam


def generate_frame(domain: Domain, size: tuple[int, int], seed: int, stream: str, index: int) -> Frame:
    """One street scene; ``index`` picks the rare kinds forced into it (SceneStyle.forced).

    Painter's-order occlusion can hide a forced object behind a nearer one, so a scene that does not show its
    required classes is redrawn from the next generator of a fixed sequence: still deterministic, and every
    class occurs in any set of at least ``len(forced)`` frames.
    """
    forced = domain.scene.forced[index % len(domain.scene.forced)]
    required = ALWAYS_REQUIRED + tuple(code for kind in sorted(forced) for code in REQUIRED_CODES[kind])
    for attempt in range(MAX_ATTEMPTS):
        rng = frame_rng(seed, stream, index, attempt)
        canvas, cam = draw_frame(domain, size, rng, forced)
        counts = np.bincount(np.asarray(canvas.label).ravel(), minlength=256)
        if all(counts[code] >= MIN_VISIBLE_PIXELS for code in required):
            break
    image = render(canvas, cam, domain.look, rng)
    return Frame(
        image, np.asarray(canvas.label).copy(), np.asarray(canvas.instance).copy(), tuple(canvas.instance_codes)
    )
