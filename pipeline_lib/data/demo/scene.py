"""The street and its objects: one scene drawn onto a Canvas.

Content follows the domain's SceneStyle and colours its Look; objects are queued by depth and drawn far to near,
so nearer ones occlude farther ones in labels and image alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from pipeline_lib.data.demo.camera import Billboard, Camera
from pipeline_lib.data.demo.canvas import Canvas, Colour, draw_box, visible_flank_x
from pipeline_lib.data.demo.codes import Code
from pipeline_lib.data.demo.domains import CLOTHES, GLASS, SKIN, TRUNK, TYRE, VEHICLE_PAINTS, Domain, domain_palette
from pipeline_lib.data.demo.street import Street


class Scene:
    """Draws one street scene; depth-sorted objects are queued and drawn far to near at the end."""

    def __init__(
        self,
        canvas: Canvas,
        cam: Camera,
        street: Street,
        domain: Domain,
        rng: np.random.Generator,
        forced: frozenset[str],
    ) -> None:
        self.canvas, self.cam, self.street, self.rng = canvas, cam, street, rng
        self.style, self.look, self.forced = domain.scene, domain.look, forced
        self.palette = domain_palette(domain.look)
        self.queue: list[tuple[float, Callable[[], None]]] = []
        self.lane_use: list[tuple[int, float, float]] = []  # (lane, z0, z1) taken by vehicles

    def colour(self, code: Code) -> Colour:
        """The domain colour of a class with per-object jitter."""
        return self.palette[code] + self.rng.normal(0, self.look.colour_jitter, 3)

    def paint_colour(self, paints: np.ndarray) -> Colour:
        """A shared paint/clothes colour, moved by the domain's transform like every class colour."""
        base = paints[self.rng.integers(len(paints))]
        grey = base.mean()
        colour = grey + (base - grey) * self.look.saturation + np.array(self.look.tint)
        return colour + self.rng.normal(0, self.look.colour_jitter, 3)

    def defer(self, depth: float, draw: Callable[..., None], *args: object) -> None:
        """Queue an object; queued objects are drawn far to near so nearer ones occlude."""
        self.queue.append((depth, partial(draw, *args)))

    def count(self, mean: float, kind: str) -> int:
        return max(int(self.rng.poisson(mean)), int(kind in self.forced))

    def happens(self, probability: float, kind: str) -> bool:
        return kind in self.forced or bool(self.rng.random() < probability)

    def draw(self) -> None:
        self.draw_sky_and_ground()
        self.draw_far_end()
        for side in (-1, 1):
            self.draw_side(side)
        self.draw_long_structures()
        self.place_vehicles()
        self.place_two_wheelers()
        self.place_people()
        self.place_street_furniture()
        for _, draw in sorted(self.queue, key=lambda item: -item[0]):
            draw()
        if self.style.ego_vehicle:
            self.draw_ego_vehicle()

    # -- ground -------------------------------------------------------------------------------------------------

    def draw_sky_and_ground(self) -> None:
        c, cam, s = self.canvas, self.cam, self.street
        width, height = c.label.size
        c.polygon([(0, 0), (width, 0), (width, height), (0, height)], Code.SKY, self.palette[Code.SKY])
        ground = Code.TERRAIN if self.style.terrain > 0 else Code.SIDEWALK
        c.polygon([(0, cam.horizon), (width, cam.horizon), (width, height), (0, height)], ground, self.colour(ground))
        for side, outer, kerb in ((-1, s.facade_left, s.sidewalk_left), (1, s.facade_right, s.sidewalk_right)):
            self.draw_setback(side, outer, kerb)
        c.polygon(
            cam.ground_quad(s.sidewalk_left, s.road_left, 0.5, s.far_z), Code.SIDEWALK, self.colour(Code.SIDEWALK)
        )
        c.polygon(
            cam.ground_quad(s.road_right, s.sidewalk_right, 0.5, s.far_z), Code.SIDEWALK, self.colour(Code.SIDEWALK)
        )
        c.polygon(cam.ground_quad(s.road_left, s.road_right, 0.5, s.far_z), Code.ROAD, self.colour(Code.ROAD))
        if self.happens(self.style.parking, "parking"):
            z0 = self.rng.uniform(4, 30)
            x = s.road_left if self.rng.random() < 0.5 else s.road_right - 2.3
            c.polygon(
                cam.ground_quad(x, x + 2.3, z0, z0 + self.rng.uniform(8, 25)), Code.PARKING, self.colour(Code.PARKING)
            )
        for _ in range(self.count(self.style.road_work, "road work")):
            x, z0 = self.rng.uniform(s.road_left, s.road_right - 2), self.rng.uniform(6, 40)
            c.polygon(
                cam.ground_quad(x, x + self.rng.uniform(1, 3), z0, z0 + self.rng.uniform(2, 6)),
                Code.ROAD_WORK,
                self.colour(Code.ROAD_WORK),
            )
        self.draw_lane_markings()
        if self.rng.random() < self.look.sun_shadows:
            # A hard shadow cast by one row of facades across part of the street (sunny renderers).
            side_x = s.facade_left if self.rng.random() < 0.5 else s.facade_right
            reach = self.rng.uniform(0.3, 0.8) * (s.facade_right - s.facade_left)
            inner = side_x + reach if side_x < 0 else side_x - reach
            c.cast_shadow(cam.ground_quad(min(side_x, inner), max(side_x, inner), 0.5, s.far_z))

    def draw_setback(self, side: int, outer: float, kerb: float) -> None:
        """The strip between sidewalk and facade: grass, or paving when there is no setback."""
        if abs(outer - kerb) < 0.1 and not self.street_side_open(side):
            return
        lo, hi = sorted((outer if not self.street_side_open(side) else side * 200.0, kerb))
        code = Code.TERRAIN if self.happens(self.style.terrain, "terrain") else Code.SIDEWALK
        self.canvas.polygon(self.cam.ground_quad(lo, hi, 0.5, self.street.far_z), code, self.colour(code))

    def street_side_open(self, side: int) -> bool:
        return self.street.open_left if side < 0 else self.street.open_right

    def draw_lane_markings(self) -> None:
        s, cam = self.street, self.cam
        colour = self.palette[Code.LANE_MARKING]
        offset = self.rng.uniform(0, 9)
        for lane in range(1, s.lanes):
            x = s.road_left + lane * s.lane_width
            for z0 in np.arange(1.0 + offset, s.far_z, 9.0):
                self.canvas.polygon(cam.ground_quad(x - 0.08, x + 0.08, z0, z0 + 3.0), Code.LANE_MARKING, colour)
        for x in (s.road_left + 0.2, s.road_right - 0.35):
            self.canvas.polygon(cam.ground_quad(x, x + 0.15, 0.5, s.far_z), Code.LANE_MARKING, colour)
        if self.rng.random() < 0.3:  # zebra crossing
            z0 = self.rng.uniform(8, 30)
            for x in np.arange(s.road_left + 0.3, s.road_right - 0.3, 1.0):
                self.canvas.polygon(cam.ground_quad(x, x + 0.5, z0, z0 + 3.0), Code.LANE_MARKING, colour)

    # -- buildings and long structures --------------------------------------------------------------------------

    def draw_far_end(self) -> None:
        """Buildings closing the street; between them and the facades the sky shows."""
        s, z = self.street, self.street.far_z
        x = s.facade_left - 30
        while x < s.facade_right + 30:
            width = self.rng.uniform(8, 25)
            top = self.rng.uniform(6, 30)
            colour = self.colour(Code.BUILDING)
            if self.rng.random() < 0.25:
                self.draw_tree_line(x, x + width, z, top * 0.5)
            else:
                self.canvas.polygon(self.cam.front_quad(x, x + width, 0, top, z), Code.BUILDING, colour)
            x += width

    def draw_tree_line(self, x0: float, x1: float, z: float, top: float) -> None:
        xs = np.linspace(x0, x1, 9)
        tops = top * self.rng.uniform(0.6, 1.2, size=9)
        outline = [self.cam.project(x0, 0, z)] + [self.cam.project(x, y, z) for x, y in zip(xs, tops, strict=True)]
        self.canvas.polygon(outline + [self.cam.project(x1, 0, z)], Code.VEGETATION, self.colour(Code.VEGETATION))

    def draw_side(self, side: int) -> None:
        s = self.street
        x = s.facade_left if side < 0 else s.facade_right
        if self.street_side_open(side):
            for _ in range(3):
                z = self.rng.uniform(15, s.far_z)
                self.draw_tree_line(x - 30 if side < 0 else x, x if side < 0 else x + 30, z, self.rng.uniform(5, 12))
            return
        z = 1.0
        while z < s.far_z:
            z1 = min(z + self.rng.uniform(8, 25), s.far_z)
            self.draw_facade(x, z, z1, self.rng.uniform(7, 28))
            z = z1

    def draw_facade(self, x: float, z0: float, z1: float, height: float) -> None:
        cam = self.cam
        self.canvas.polygon(cam.side_quad(x, 0, height, z0, z1), Code.BUILDING, self.colour(Code.BUILDING))
        glass = GLASS * self.rng.uniform(0.7, 1.3)
        storey = self.look.window_rows
        for y in np.arange(storey * 0.7, height - 1.2, storey):
            for z in np.arange(z0 + 0.8, z1 - 1.4, 2.6):
                if cam.focal * abs(x) / z**2 < 0.5:  # a window narrower than half a pixel: skip the polygon
                    break
                self.canvas.paint(cam.side_quad(x, y, y + storey * 0.45, z, z + 1.2), glass)

    def draw_long_structures(self) -> None:
        """Walls, fences and guard rails along the street; they stand behind everything on the sidewalk."""
        s, cam = self.street, self.cam
        sides = [(-1, s.sidewalk_left), (1, s.sidewalk_right)]
        self.rng.shuffle(sides)
        if self.happens(self.style.wall, "wall"):
            side, x = sides[0]
            z0, height = self.rng.uniform(3, 20), self.rng.uniform(1.2, 3.0)
            z1 = z0 + self.rng.uniform(8, 30)
            colour = self.colour(Code.WALL)
            self.canvas.polygon(cam.side_quad(x, 0, height, z0, z1), Code.WALL, colour)
            if height < cam.height:
                self.canvas.polygon(cam.top_quad(x, x + side * 0.3, height, z0, z1), Code.WALL, colour * 1.1)
        if self.happens(self.style.fence, "fence"):
            side, x = sides[1]
            z0 = self.rng.uniform(3, 20)
            self.canvas.polygon(
                cam.side_quad(x, 0, self.rng.uniform(1.0, 2.0), z0, z0 + self.rng.uniform(8, 30)),
                Code.FENCE,
                self.colour(Code.FENCE),
            )
        if self.rng.random() < self.style.guard_rail:
            x = s.road_left if self.rng.random() < 0.5 else s.road_right
            z0 = self.rng.uniform(3, 15)
            self.canvas.polygon(
                cam.side_quad(x, 0.35, 0.8, z0, z0 + self.rng.uniform(10, 40)),
                Code.GUARD_RAIL,
                self.colour(Code.GUARD_RAIL),
            )

    # -- vehicles -----------------------------------------------------------------------------------------------

    def free_lane_slot(self, length: float, z_range: tuple[float, float], lanes: Sequence[int]) -> tuple[int, float]:
        """A lane and a depth where a vehicle of this length overlaps no other; tries a few random places."""
        lane, z = int(self.rng.choice(lanes)), self.rng.uniform(*z_range)
        for _ in range(8):
            if all(other != lane or z + length + 1 < z0 or z > z1 + 1 for other, z0, z1 in self.lane_use):
                break
            lane, z = int(self.rng.choice(lanes)), self.rng.uniform(*z_range)
        self.lane_use.append((lane, z, z + length))
        return lane, z

    def place_vehicles(self) -> None:
        s, lanes = self.street, list(range(self.street.lanes))
        near = (9.0, 22.0)  # forced rare vehicles stand close so they are never hidden
        if self.happens(self.style.train, "train"):
            lane = lanes[0] if self.rng.random() < 0.5 else lanes[-1]
            lane, z = self.free_lane_slot(35.0, near if "train" in self.forced else (8, 40), [lane])
            self.draw_rail_track(s.lane_centre(lane), z)
            self.defer(z, self.draw_train, s.lane_centre(lane), z)
        for kind, mean, length, draw in (
            ("truck", self.style.trucks, 7.6, self.draw_truck),
            ("bus", self.style.buses, 12.0, self.draw_bus),
        ):
            for i in range(self.count(mean, kind)):
                z_range = near if kind in self.forced and i == 0 else (8, s.far_z * 0.8)
                lane, z = self.free_lane_slot(length, z_range, lanes)
                x = s.lane_centre(lane) + self.rng.normal(0, 0.15)
                self.defer(z, draw, x, z)
        for _ in range(self.count(self.style.cars, "car")):
            lane, z = self.free_lane_slot(4.4, (5, s.far_z * 0.85), lanes)
            x = s.lane_centre(lane) + self.rng.normal(0, 0.2)
            self.defer(z, self.draw_car, x, z)

    def draw_rail_track(self, x: float, z0: float) -> None:
        cam, c = self.cam, self.canvas
        c.polygon(
            cam.ground_quad(x - 1.4, x + 1.4, z0 - 6, self.street.far_z), Code.RAIL_TRACK, self.colour(Code.RAIL_TRACK)
        )
        for rail in (x - 0.75, x + 0.7):
            c.paint(cam.ground_quad(rail, rail + 0.07, z0 - 6, self.street.far_z), self.palette[Code.GUARD_RAIL])

    def draw_wheels(self, x0: float, x1: float, z: float, radius: float, code: Code, instance: int) -> None:
        for wx in (x0 + 0.05, x1 - 0.35):
            draw_box(self.canvas, self.cam, wx, wx + 0.3, 0, 2 * radius, z, z + 0.5, code, TYRE, instance)

    def draw_car(self, x: float, z: float) -> None:
        c, cam = self.canvas, self.cam
        instance = c.new_instance(Code.CAR)
        colour = self.paint_colour(VEHICLE_PAINTS)
        x0, x1 = x - 0.9, x + 0.9
        self.draw_wheels(x0, x1, z + 0.4, 0.32, Code.CAR, instance)
        draw_box(c, cam, x0, x1, 0.3, 1.0, z, z + 4.3, Code.CAR, colour, instance)
        draw_box(c, cam, x0 + 0.15, x1 - 0.15, 1.0, 1.45, z + 1.0, z + 3.2, Code.CAR, colour, instance)
        c.paint(cam.front_quad(x0 + 0.3, x1 - 0.3, 1.05, 1.4, z + 1.0), GLASS)
        for lx in (x0 + 0.05, x1 - 0.35):
            c.paint(cam.front_quad(lx, lx + 0.3, 0.75, 0.9, z), np.array((190.0, 30, 30)))

    def draw_truck(self, x: float, z: float) -> None:
        c, cam = self.canvas, self.cam
        instance = c.new_instance(Code.TRUCK)
        x0, x1 = x - 1.2, x + 1.2
        draw_box(
            c,
            cam,
            x0 + 0.05,
            x1 - 0.05,
            0.45,
            2.9,
            z + 5.6,
            z + 7.6,
            Code.TRUCK,
            self.paint_colour(VEHICLE_PAINTS),
            instance,
        )
        self.draw_wheels(x0, x1, z + 0.8, 0.5, Code.TRUCK, instance)
        cargo = self.paint_colour(VEHICLE_PAINTS)
        draw_box(c, cam, x0, x1, 1.0, 3.4, z, z + 5.5, Code.TRUCK, cargo, instance)
        c.paint(cam.front_quad(x - 0.04, x + 0.04, 1.1, 3.3, z), cargo * 0.6)
        c.paint(cam.front_quad(x0, x1, 0.8, 1.0, z), TYRE)

    def draw_bus(self, x: float, z: float) -> None:
        c, cam = self.canvas, self.cam
        instance = c.new_instance(Code.BUS)
        x0, x1 = x - 1.25, x + 1.25
        self.draw_wheels(x0, x1, z + 1.5, 0.5, Code.BUS, instance)
        draw_box(c, cam, x0, x1, 0.3, 3.1, z, z + 12.0, Code.BUS, self.paint_colour(VEHICLE_PAINTS), instance)
        flank = visible_flank_x(x0, x1)
        if flank is not None:
            c.paint(cam.side_quad(flank, 1.4, 2.5, z + 0.8, z + 11.4), GLASS)
        c.paint(cam.front_quad(x0 + 0.2, x1 - 0.2, 1.6, 2.7, z), GLASS)

    def draw_train(self, x: float, z: float) -> None:
        c, cam = self.canvas, self.cam
        instance = c.new_instance(Code.TRAIN)
        x0, x1 = x - 1.3, x + 1.3
        draw_box(c, cam, x0, x1, 0.4, 3.5, z, z + 35.0, Code.TRAIN, self.colour(Code.TRAIN), instance)
        flank = visible_flank_x(x0, x1)
        if flank is not None:
            for start in np.arange(z + 1.0, z + 34.0, 2.2):
                c.paint(cam.side_quad(flank, 1.5, 2.6, start, start + 1.6), GLASS)
        c.paint(cam.front_quad(x0 + 0.3, x1 - 0.3, 1.7, 2.8, z), GLASS)
        c.line(
            [cam.project(x, 3.5, z + 8), cam.project(x + 0.4, 4.3, z + 9)],
            Code.TRAIN,
            self.palette[Code.POLE],
            1,
            instance,
        )

    # -- two-wheelers and people ----------------------------------------------------------------------------------

    def place_two_wheelers(self) -> None:
        s = self.street
        kinds = ("motorcyclist", "cyclist")
        for i in range(self.count(self.style.riders, "rider") + sum(k in self.forced for k in kinds)):
            forced = [k for k in kinds if k in self.forced]
            kind = forced[i] if i < len(forced) else kinds[int(self.rng.integers(2))]
            z = self.rng.uniform(7, 16) if i < len(forced) else self.rng.uniform(5, 45)
            x = s.road_left + 0.5 if self.rng.random() < 0.5 else s.road_right - 0.5
            side_view = i >= len(forced) and self.rng.random() < 0.3
            if side_view:
                x = self.rng.uniform(s.road_left + 1, s.road_right - 1)
            self.defer(z, self.draw_rider, x, z, kind == "motorcyclist", side_view)
        for _ in range(self.count(self.style.parked_two_wheelers, "parked")):
            side = -1 if self.rng.random() < 0.5 else 1
            kerb = s.road_left if side < 0 else s.road_right
            x = kerb + side * self.rng.uniform(0.6, 1.5)
            z = self.rng.uniform(5, 30)
            motor = bool(self.rng.random() < 0.4)
            self.defer(z, self.draw_parked, x, z, motor)

    def draw_parked(self, x: float, z: float, motor: bool) -> None:
        code = Code.MOTORCYCLE if motor else Code.BICYCLE
        board = self.cam.billboard(x, z)
        direction = 1 if self.rng.random() < 0.5 else -1
        self.draw_two_wheeler_side(board, direction, code, self.canvas.new_instance(code))

    def draw_two_wheeler_side(self, board: Billboard, direction: int, code: Code, instance: int) -> None:
        c, d = self.canvas, direction
        colour = self.colour(code)
        if code == Code.MOTORCYCLE:
            for wx in (-0.7, 0.7):
                c.ellipse(board.box(wx - 0.32, 0, wx + 0.32, 0.64), code, TYRE, instance)
            c.polygon(
                board.points([(-0.6 * d, 0.4), (0.5 * d, 0.4), (0.65 * d, 0.85), (0.2 * d, 0.95), (-0.55 * d, 0.88)]),
                code,
                colour,
                instance,
            )
            return
        for wx in (-0.55, 0.55):
            c.ring(board.box(wx - 0.34, 0, wx + 0.34, 0.68), code, colour, board.width(0.06), instance)
        frame = [
            (-0.55 * d, 0.34),
            (-0.15 * d, 0.85),
            (0.0, 0.3),
            (-0.55 * d, 0.34),
            (0.0, 0.3),
            (0.45 * d, 0.85),
            (0.55 * d, 0.34),
            (0.45 * d, 0.85),
            (0.35 * d, 1.0),
            (-0.15 * d, 0.85),
        ]
        c.line(board.points(frame), code, colour, board.width(0.05), instance)

    def draw_rider(self, x: float, z: float, motor: bool, side_view: bool) -> None:
        c = self.canvas
        board = self.cam.billboard(x, z)
        code = Code.MOTORCYCLE if motor else Code.BICYCLE
        vehicle = c.new_instance(code)
        rider = c.new_instance(Code.RIDER)
        clothes, skin = self.paint_colour(CLOTHES), SKIN + self.rng.normal(0, 12, 3)
        if side_view:
            d = 1 if self.rng.random() < 0.5 else -1
            self.draw_two_wheeler_side(board, d, code, vehicle)
            limb = board.width(0.13)
            c.line(
                board.points([(-0.15 * d, 0.95), (0.2 * d, 0.95), (0.05 * d, 0.35)]),
                Code.RIDER,
                clothes * 0.7,
                limb,
                rider,
            )
            c.polygon(
                board.points([(-0.3 * d, 0.9), (0.0, 0.9), (0.15 * d, 1.5), (-0.1 * d, 1.55)]),
                Code.RIDER,
                clothes,
                rider,
            )
            c.line(board.points([(0.05 * d, 1.45), (0.4 * d, 1.0)]), Code.RIDER, clothes, limb, rider)
            c.ellipse(board.box(0.0 * d - 0.11, 1.55, 0.0 * d + 0.11, 1.8), Code.RIDER, skin, rider)
            return
        # Seen from behind: a wheel and the rear of the machine under a seated, slightly leaning figure.
        half = 0.22 if motor else 0.04
        c.polygon(board.points([(-half, 0), (half, 0), (half, 0.7), (-half, 0.7)]), code, TYRE, vehicle)
        if motor:
            c.polygon(
                board.points([(-0.3, 0.45), (0.3, 0.45), (0.25, 0.95), (-0.25, 0.95)]), code, self.colour(code), vehicle
            )
        c.line(board.points([(-0.35, 1.05), (0.35, 1.05)]), code, self.colour(code), board.width(0.05), vehicle)
        c.polygon(
            board.points([(-0.25, 0.35), (-0.12, 0.35), (-0.1, 0.95), (-0.24, 0.95)]), Code.RIDER, clothes * 0.7, rider
        )
        c.polygon(
            board.points([(0.12, 0.35), (0.25, 0.35), (0.24, 0.95), (0.1, 0.95)]), Code.RIDER, clothes * 0.7, rider
        )
        c.polygon(board.points([(-0.22, 0.9), (0.22, 0.9), (0.24, 1.5), (-0.24, 1.5)]), Code.RIDER, clothes, rider)
        c.ellipse(board.box(-0.12, 1.48, 0.12, 1.74), Code.RIDER, skin, rider)

    def place_people(self) -> None:
        s = self.street
        for _ in range(self.count(self.style.persons, "person")):
            if self.rng.random() < 0.15:  # crossing the road
                x = self.rng.uniform(s.road_left, s.road_right)
            elif self.rng.random() < 0.5:
                x = self.rng.uniform(s.sidewalk_left + 0.3, s.road_left - 0.3)
            else:
                x = self.rng.uniform(s.road_right + 0.3, s.sidewalk_right - 0.3)
            z = self.rng.uniform(3.5, 45)
            self.defer(z, self.draw_person, x, z)

    def draw_person(self, x: float, z: float) -> None:
        c = self.canvas
        board = self.cam.billboard(x, z)
        instance = c.new_instance(Code.PERSON)
        h = self.rng.uniform(1.55, 1.95)
        hip, shoulder, stride = 0.5 * h, 0.82 * h, self.rng.uniform(-0.12, 0.12)
        top, trousers = self.paint_colour(CLOTHES), self.paint_colour(CLOTHES) * 0.8
        c.polygon(
            board.points([(-0.12 + stride, 0), (-0.01 + stride, 0), (0.0, hip), (-0.16, hip)]),
            Code.PERSON,
            trousers,
            instance,
        )
        c.polygon(
            board.points([(0.01 - stride, 0), (0.12 - stride, 0), (0.16, hip), (0.0, hip)]),
            Code.PERSON,
            trousers,
            instance,
        )
        c.polygon(
            board.points([(-0.2, hip - 0.05), (0.2, hip - 0.05), (0.23, shoulder), (-0.23, shoulder)]),
            Code.PERSON,
            top,
            instance,
        )
        for sign in (-1, 1):
            c.polygon(
                board.points(
                    [
                        (sign * 0.19, shoulder),
                        (sign * 0.27, shoulder - 0.04),
                        (sign * 0.3, hip + 0.02),
                        (sign * 0.23, hip + 0.02),
                    ]
                ),
                Code.PERSON,
                top * 0.9,
                instance,
            )
        c.ellipse(board.box(-0.11, shoulder, 0.11, h), Code.PERSON, SKIN + self.rng.normal(0, 15, 3), instance)

    # -- poles, lights, signs, trees, clutter ---------------------------------------------------------------------

    def place_street_furniture(self) -> None:
        s = self.street
        n_poles = max(self.count(self.style.poles, "pole"), 2)
        for i in range(n_poles):
            side = -1 if self.rng.random() < 0.5 else 1
            x = (s.road_left - 0.5) if side < 0 else (s.road_right + 0.5)
            # The first two poles carry a light and a sign at a readable distance, so both classes always occur.
            z = self.rng.uniform(8, 25) if i < 2 else self.rng.uniform(4, s.far_z * 0.9)
            light = i == 0 or (i > 1 and self.rng.random() < 0.35)
            sign = i == 1 or (i > 1 and self.rng.random() < 0.45)
            self.defer(z, self.draw_pole, x, z, -side, light, sign)
        for _ in range(self.count(self.style.trees, "tree")):
            side = -1 if self.rng.random() < 0.5 else 1
            x = (
                self.rng.uniform(s.sidewalk_left, s.road_left - 1.0)
                if side < 0
                else self.rng.uniform(s.road_right + 1.0, s.sidewalk_right)
            )
            z = self.rng.uniform(4, s.far_z * 0.9)
            self.defer(z, self.draw_tree, x, z)
        for _ in range(self.count(self.style.clutter, "clutter")):
            x = self.rng.choice(
                [
                    self.rng.uniform(s.sidewalk_left, s.road_left - 0.5),
                    self.rng.uniform(s.road_right + 0.5, s.sidewalk_right),
                ]
            )
            z = self.rng.uniform(4, 35)
            self.defer(z, self.draw_clutter, x, z)

    def draw_pole(self, x: float, z: float, towards_road: int, light: bool, sign: bool) -> None:
        c = self.canvas
        board = self.cam.billboard(x, z)
        height = self.rng.uniform(4.5, 7.0) if light else self.rng.uniform(2.8, 4.0)
        pole = self.colour(Code.POLE)
        c.polygon(board.points([(-0.07, 0), (0.07, 0), (0.07, height), (-0.07, height)]), Code.POLE, pole)
        if light:
            arm = self.rng.uniform(0.0, 3.0) * towards_road
            if abs(arm) > 0.3:
                c.line(board.points([(0, height - 0.2), (arm, height - 0.2)]), Code.POLE, pole, board.width(0.1))
            top = height - 0.2 if abs(arm) > 0.3 else height + 0.9
            box = [(arm - 0.18, top - 0.95), (arm + 0.18, top)]
            c.polygon(
                board.points([box[0], (box[1][0], box[0][1]), box[1], (box[0][0], box[1][1])]),
                Code.TRAFFIC_LIGHT,
                self.colour(Code.TRAFFIC_LIGHT),
            )
            lit = int(self.rng.integers(3))
            for k, lamp in enumerate(((230, 40, 30), (240, 170, 30), (40, 220, 90))):
                y = top - 0.18 - 0.3 * k
                colour = np.array(lamp, dtype=np.float64) * (1.0 if k == lit else 0.3)
                c.paint_ellipse(board.box(arm - 0.1, y - 0.1, arm + 0.1, y + 0.1), colour)
        if sign:
            self.draw_sign(board, self.rng.uniform(2.1, 2.6))

    def draw_sign(self, board: Billboard, y: float) -> None:
        c, shape = self.canvas, int(self.rng.integers(3))
        colour = self.colour(Code.TRAFFIC_SIGN) * self.rng.uniform(0.8, 1.1)
        if shape == 0:  # round prohibition sign: red ring, light face
            c.ellipse(board.box(-0.32, y, 0.32, y + 0.64), Code.TRAFFIC_SIGN, np.array((200.0, 40, 40)))
            c.paint_ellipse(board.box(-0.22, y + 0.1, 0.22, y + 0.54), colour * 1.1)
        elif shape == 1:  # warning triangle
            c.polygon(board.points([(-0.35, y), (0.35, y), (0.0, y + 0.62)]), Code.TRAFFIC_SIGN, colour)
        else:  # rectangular information sign
            c.polygon(
                board.points([(-0.3, y), (0.3, y), (0.3, y + 0.55), (-0.3, y + 0.55)]),
                Code.TRAFFIC_SIGN,
                np.array((50.0, 90, 170)) + self.rng.normal(0, 10, 3),
            )
            c.paint(board.points([(-0.2, y + 0.15), (0.2, y + 0.15), (0.2, y + 0.4), (-0.2, y + 0.4)]), colour)

    def draw_tree(self, x: float, z: float) -> None:
        c = self.canvas
        board = self.cam.billboard(x, z)
        trunk = self.rng.uniform(1.8, 3.2)
        c.polygon(
            board.points([(-0.12, 0), (0.12, 0), (0.1, trunk + 0.5), (-0.1, trunk + 0.5)]), Code.VEGETATION, TRUNK
        )
        radius = self.rng.uniform(1.2, 2.4)
        for _ in range(int(self.rng.integers(3, 6))):
            cx, cy = self.rng.normal(0, radius * 0.4), trunk + radius + self.rng.normal(0, radius * 0.3)
            r = radius * self.rng.uniform(0.6, 1.0)
            c.ellipse(board.box(cx - r, cy - r, cx + r, cy + r), Code.VEGETATION, self.colour(Code.VEGETATION))

    def draw_clutter(self, x: float, z: float) -> None:
        """Bins and boxes: Cityscapes 'static', a void class that evaluation ignores."""
        board = self.cam.billboard(x, z)
        w, h = self.rng.uniform(0.3, 0.8), self.rng.uniform(0.5, 1.2)
        self.canvas.polygon(
            board.points([(-w / 2, 0), (w / 2, 0), (w / 2, h), (-w / 2, h)]), Code.STATIC, self.colour(Code.STATIC)
        )

    def draw_ego_vehicle(self) -> None:
        """The hood of the recording car at the bottom of every Cityscapes frame (label 'ego vehicle')."""
        width, height = self.canvas.label.size
        top = height * self.rng.uniform(0.9, 0.93)
        box = [(-0.2 * width, top), (1.2 * width, top + 2 * (1.15 * height - top))]
        self.canvas.ellipse(box, Code.EGO_VEHICLE, self.palette[Code.EGO_VEHICLE])
        self.canvas.paint_ellipse([(0.3 * width, top + 2), (0.7 * width, top + 5)], self.palette[Code.SKY] * 0.5)
