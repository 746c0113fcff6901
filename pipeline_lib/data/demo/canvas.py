"""Drawing: labels, instances and colours are painted together, far to near (painter's algorithm).

Painting the three layers in one call keeps them in step, so a label never disagrees with the pixels it describes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from pipeline_lib.data.demo.camera import Camera, Point
from pipeline_lib.data.demo.codes import Code

Colour = np.ndarray  # float RGB in 0..255


def _rgb(colour: Colour) -> tuple[int, int, int]:
    r, g, b = np.clip(np.rint(colour), 0, 255).astype(int)
    return int(r), int(g), int(b)


class Canvas:
    """One scene being drawn: scene codes, instance numbers and flat colours, always in step."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.label = Image.new("L", size, int(Code.UNLABELED))
        self.instance = Image.new("I", size, 0)
        self.rgb = Image.new("RGB", size)
        self.shadow = Image.new("L", size, 0)
        self._label = ImageDraw.Draw(self.label)
        self._instance = ImageDraw.Draw(self.instance)
        self._rgb = ImageDraw.Draw(self.rgb)
        self._shadow = ImageDraw.Draw(self.shadow)
        self.instance_codes: list[Code] = []  # instance number n (1-based) has code instance_codes[n - 1]

    def new_instance(self, code: Code) -> int:
        self.instance_codes.append(code)
        return len(self.instance_codes)

    def polygon(self, points: Sequence[Point], code: Code, colour: Colour, instance: int = 0) -> None:
        self._label.polygon(points, fill=int(code))
        self._instance.polygon(points, fill=instance)
        self._rgb.polygon(points, fill=_rgb(colour))

    def ellipse(self, box: Sequence[Point], code: Code, colour: Colour, instance: int = 0) -> None:
        self._label.ellipse(box, fill=int(code))
        self._instance.ellipse(box, fill=instance)
        self._rgb.ellipse(box, fill=_rgb(colour))

    def line(self, points: Sequence[Point], code: Code, colour: Colour, width: int, instance: int = 0) -> None:
        self._label.line(points, fill=int(code), width=width)
        self._instance.line(points, fill=instance, width=width)
        self._rgb.line(points, fill=_rgb(colour), width=width)

    def ring(self, box: Sequence[Point], code: Code, colour: Colour, width: int, instance: int = 0) -> None:
        self._label.ellipse(box, outline=int(code), width=width)
        self._instance.ellipse(box, outline=instance, width=width)
        self._rgb.ellipse(box, outline=_rgb(colour), width=width)

    def paint(self, points: Sequence[Point], colour: Colour) -> None:
        """Surface detail (windows, lamps) that changes appearance but not the label underneath."""
        self._rgb.polygon(points, fill=_rgb(colour))

    def paint_ellipse(self, box: Sequence[Point], colour: Colour) -> None:
        self._rgb.ellipse(box, fill=_rgb(colour))

    def cast_shadow(self, points: Sequence[Point]) -> None:
        """Mark ground that a facade shades; render() darkens it."""
        self._shadow.polygon(points, fill=255)


def draw_box(
    canvas: Canvas,
    cam: Camera,
    x0: float,
    x1: float,
    y0: float,
    y1: float,
    z0: float,
    z1: float,
    code: Code,
    colour: Colour,
    instance: int = 0,
) -> None:
    """An axis-aligned box seen from behind: the flank facing the camera, the top if below eye level, the back."""
    if x1 < 0:
        canvas.polygon(cam.side_quad(x1, y0, y1, z0, z1), code, colour * 0.78, instance)
    elif x0 > 0:
        canvas.polygon(cam.side_quad(x0, y0, y1, z0, z1), code, colour * 0.78, instance)
    if y1 < cam.height:
        canvas.polygon(cam.top_quad(x0, x1, y1, z0, z1), code, colour * 1.12, instance)
    canvas.polygon(cam.front_quad(x0, x1, y0, y1, z0), code, colour, instance)


def visible_flank_x(x0: float, x1: float) -> float | None:
    """x of the vehicle side the camera sees, or None when it is straight ahead."""
    return x1 if x1 < 0 else x0 if x0 > 0 else None
