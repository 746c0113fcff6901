"""Geometry: a pinhole camera at the origin, x to the right, y up (metres above the ground), z forward.

Objects are placed in metres and projected, so their size in the image follows depth as in real street footage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

Point = tuple[float, float]


@dataclass(frozen=True)
class Billboard:
    """An upright plane facing the camera at one depth: local metres (right, up) -> pixels, for thin objects."""

    u: float
    v: float
    scale: float

    def points(self, local: Iterable[tuple[float, float]]) -> list[Point]:
        return [(self.u + x * self.scale, self.v - y * self.scale) for x, y in local]

    def box(self, x0: float, y0: float, x1: float, y1: float) -> list[Point]:
        return [
            (self.u + x0 * self.scale, self.v - y1 * self.scale),
            (self.u + x1 * self.scale, self.v - y0 * self.scale),
        ]

    def width(self, metres: float) -> int:
        """Line width in pixels, at least one so thin structures never vanish from labels."""
        return max(1, round(metres * self.scale))


@dataclass(frozen=True)
class Camera:
    focal: float  # pixels
    centre_x: float  # column of the vanishing point
    horizon: float  # row of the horizon
    height: float  # metres above the ground

    def project(self, x: float, y: float, z: float) -> Point:
        return self.centre_x + self.focal * x / z, self.horizon + self.focal * (self.height - y) / z

    def ground_quad(self, x0: float, x1: float, z0: float, z1: float) -> list[Point]:
        return [self.project(x, 0.0, z) for x, z in ((x0, z0), (x1, z0), (x1, z1), (x0, z1))]

    def side_quad(self, x: float, y0: float, y1: float, z0: float, z1: float) -> list[Point]:
        """A vertical plane running along the street (facade, fence, vehicle flank)."""
        return [self.project(x, y, z) for y, z in ((y0, z0), (y1, z0), (y1, z1), (y0, z1))]

    def top_quad(self, x0: float, x1: float, y: float, z0: float, z1: float) -> list[Point]:
        return [self.project(x, y, z) for x, z in ((x0, z0), (x1, z0), (x1, z1), (x0, z1))]

    def front_quad(self, x0: float, x1: float, y0: float, y1: float, z: float) -> list[Point]:
        return [self.project(x, y, z) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]

    def billboard(self, x: float, z: float) -> Billboard:
        u, v = self.project(x, 0.0, z)
        return Billboard(u, v, self.focal / z)
