"""The street's lateral layout, sampled once per scene before anything is placed on it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline_lib.data.demo.domains import SceneStyle


@dataclass(frozen=True)
class Street:
    """Lateral layout in metres (negative = left of the camera) and how far the street runs."""

    lanes: int
    lane_width: float
    road_left: float
    road_right: float
    sidewalk_left: float  # outer edges
    sidewalk_right: float
    facade_left: float
    facade_right: float
    far_z: float
    open_left: bool
    open_right: bool

    def lane_centre(self, lane: int) -> float:
        return self.road_left + (lane + 0.5) * self.lane_width


def sample_street(rng: np.random.Generator, scene: SceneStyle) -> Street:
    lanes = int(rng.integers(2, 5))
    lane_width = rng.uniform(2.9, 3.6)
    road_left = -(int(rng.integers(0, lanes)) + rng.uniform(0.35, 0.65)) * lane_width
    road_right = road_left + lanes * lane_width
    sidewalk_left = road_left - rng.uniform(2.0, 4.5)
    sidewalk_right = road_right + rng.uniform(2.0, 4.5)
    setback = rng.uniform(1.5, 5.0, size=2) * (rng.random(2) < 0.6)
    return Street(
        lanes,
        lane_width,
        road_left,
        road_right,
        sidewalk_left,
        sidewalk_right,
        sidewalk_left - setback[0],
        sidewalk_right + setback[1],
        rng.uniform(50, 110),
        bool(rng.random() < scene.open_side),
        bool(rng.random() < scene.open_side),
    )
