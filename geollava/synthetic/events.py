"""Scenes before and after one change event in a chosen quadrant, plus unchanged clutter elsewhere."""
from __future__ import annotations

import numpy as np

from ..tasks.change_caption import EVENT_TYPES
from .scene import ROOF_COLOURS, STYLES, Box, Scene, Style, new_ground


def build_before_after(rng: np.random.Generator, size: int, event_type: str, quadrant: str | None,
                       count: int, style: Style = STYLES["realistic"]) -> tuple[Scene, Scene]:
    """The scene before the event and after it (the same object when nothing changes)."""
    low, high = style.building_divisors
    before = Scene(size, new_ground(rng, size), (max(3, size // low), max(4, size // high)),
                   max(2, size // style.road_divisor))
    _add_roads(rng, before, style)
    region = quadrant_box(quadrant, size) if quadrant else None
    change = _EVENTS[event_type]
    reserved = change.reserve(rng, before, region, count) if region else []
    _add_clutter(rng, before, reserved, style)
    after = before.copy()
    if region:
        change.apply(after, reserved)
    return before, after


def quadrant_box(quadrant: str, size: int) -> Box:
    row, col = quadrant.split("-")
    row, col = int(row == "south"), int(col == "east")
    half, inset = size // 2, max(2, size // 32)
    return Box(col * half + inset, row * half + inset, (col + 1) * half - inset, (row + 1) * half - inset)


def _place(rng, scene: Scene, region: Box, width: tuple[int, int], height: tuple[int, int],
           avoid: list[Box], tries: int = 60) -> Box | None:
    """A random free box of the given size range inside ``region``, or None when the region is full."""
    for _ in range(tries):
        w, h = rng.integers(*width, endpoint=True), rng.integers(*height, endpoint=True)
        if w > region.x1 - region.x0 or h > region.y1 - region.y0:
            continue
        x0 = rng.integers(region.x0, region.x1 - w + 1)
        y0 = rng.integers(region.y0, region.y1 - h + 1)
        box = Box(int(x0), int(y0), int(x0 + w), int(y0 + h))
        if scene.is_free(box) and not any(box.overlaps(a) for a in avoid):
            return box
    return None


def _roof(rng) -> tuple:
    return ROOF_COLOURS[rng.integers(len(ROOF_COLOURS))]


def _add_roads(rng, scene: Scene, style: Style) -> None:
    width = scene.road_width
    for _ in range(rng.integers(*style.roads)):
        at = int(rng.integers(scene.size // 8, scene.size - scene.size // 8))
        horizontal = rng.random() < 0.5
        box = Box(0, at, scene.size, at + width) if horizontal else Box(at, 0, at + width, scene.size)
        if not any(box.overlaps(r, gap=scene.size // 6) for r in scene.roads):
            scene.roads.append(box)


def _add_clutter(rng, scene: Scene, reserved: list[Box], style: Style) -> None:
    """Unchanging buildings, vegetation and maybe a pond anywhere, kept off the event's reserved ground."""
    whole = Box(0, 0, scene.size, scene.size)
    bw = scene.building_size
    for _ in range(rng.integers(*style.buildings)):
        box = _place(rng, scene, whole, bw, bw, reserved, tries=15)
        if box:
            scene.buildings.append((box, _roof(rng)))
    patch = (scene.size // 10, scene.size // 5)
    for _ in range(rng.integers(*style.vegetation)):
        box = _place(rng, scene, whole, patch, patch, reserved, tries=15)
        if box:
            scene.vegetation.append(box)
    if rng.random() < style.pond:
        box = _place(rng, scene, whole, patch, patch, reserved, tries=15)
        if box:
            scene.water.append(box)


class _Construction:
    @staticmethod
    def reserve(rng, scene, region, count):
        for _ in range(10):  # a bad first placement can leave no room for the last building: start again
            boxes = []
            while len(boxes) < count:
                box = _place(rng, scene, region, *[scene.building_size] * 2, boxes)
                if box is None:
                    break
                boxes.append(box)
            if len(boxes) == count:
                return boxes
            scene.roads = [r for r in scene.roads if not r.overlaps(region)]  # a road through the quadrant
        raise RuntimeError("no room for the new buildings")  # not seen in 10,000 samples of either style

    @staticmethod
    def apply(scene, reserved):
        # Roof colours for the new buildings come from their position so before/after stay a pure function.
        scene.buildings += [(b, ROOF_COLOURS[(b.x0 + b.y0) % len(ROOF_COLOURS)]) for b in reserved]


class _Demolition:
    @staticmethod
    def reserve(rng, scene, region, count):
        boxes = _Construction.reserve(rng, scene, region, count)
        scene.buildings += [(b, _roof(rng)) for b in boxes]
        return boxes

    @staticmethod
    def apply(scene, reserved):
        scene.buildings = [(b, roof) for b, roof in scene.buildings if b not in reserved]
        scene.lots += [Box(b.x0 - 1, b.y0 - 1, b.x1 + 1, b.y1 + 1) for b in reserved]


class _Road:
    @staticmethod
    def reserve(rng, scene, region, count):
        width = scene.road_width
        for _ in range(60):
            if rng.random() < 0.5:
                y = int(rng.integers(region.y0, region.y1 - width))
                box = Box(region.x0, y, region.x1, y + width)
            else:
                x = int(rng.integers(region.x0, region.x1 - width))
                box = Box(x, region.y0, x + width, region.y1)
            if scene.is_free(box):
                return [box]
        box = Box(region.x0, (region.y0 + region.y1) // 2, region.x1, (region.y0 + region.y1) // 2 + width)
        scene.roads = [r for r in scene.roads if not r.overlaps(box)]  # rare: make room by dropping a road
        return [box]

    @staticmethod
    def apply(scene, reserved):
        scene.roads += reserved


class _Deforestation:
    @staticmethod
    def reserve(rng, scene, region, count):
        side = (scene.size // 6, scene.size // 3)
        box = _place(rng, scene, region, side, side, []) or region
        scene.vegetation.append(box)
        return [box]

    @staticmethod
    def apply(scene, reserved):
        scene.vegetation = [v for v in scene.vegetation if v not in reserved]
        scene.bare += reserved


class _WaterChange:
    """Water grows from (or shrinks to) the inner box of the reserved outer box."""

    def __init__(self, grows: bool):
        self.grows = grows

    def reserve(self, rng, scene, region, count):
        side = (scene.size // 4, scene.size // 3)
        outer = _place(rng, scene, region, side, side, []) or region
        inner = _shrink(outer, 0.5)
        scene.water.append(inner if self.grows else outer)
        return [outer, inner]

    def apply(self, scene, reserved):
        outer, inner = reserved
        scene.water = [w for w in scene.water if w not in reserved] + [outer if self.grows else inner]
        if not self.grows:
            scene.bare.append(outer)  # the dried-out shore


def _shrink(box: Box, factor: float) -> Box:
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    hw, hh = (box.x1 - box.x0) * factor / 2, (box.y1 - box.y0) * factor / 2
    return Box(int(cx - hw), int(cy - hh), int(cx + hw), int(cy + hh))


class _Nothing:
    @staticmethod
    def reserve(rng, scene, region, count):
        return []

    @staticmethod
    def apply(scene, reserved):
        pass


_EVENTS = {
    "construction": _Construction, "demolition": _Demolition, "road": _Road, "deforestation": _Deforestation,
    "water_growth": _WaterChange(grows=True), "water_shrink": _WaterChange(grows=False), "none": _Nothing,
}
assert set(_EVENTS) == set(EVENT_TYPES), "every caption type needs a scene change"
