"""Procedural top-down "satellite" tiles: textured ground, roads, buildings with shadows, vegetation, water.

A Scene is plain data (what is where); ``render`` draws it, ``observe`` adds what a real sensor adds between
acquisitions (illumination, slight misregistration, thin clouds, noise), so that a change is never a trivial pixel
difference between two frames.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image, ImageDraw

MARGIN = 3  # rendered border around the visible tile, so misregistration shifts never wrap around

ROOF_COLOURS = [(0.78, 0.78, 0.80), (0.45, 0.45, 0.48), (0.62, 0.32, 0.26), (0.92, 0.90, 0.86), (0.55, 0.50, 0.40)]
GROUND_COLOURS = [(0.63, 0.56, 0.43), (0.50, 0.52, 0.36), (0.58, 0.53, 0.45)]
SOIL, ASPHALT, WATER, FOREST = (0.72, 0.62, 0.48), (0.33, 0.33, 0.35), (0.12, 0.25, 0.38), (0.14, 0.32, 0.14)


@dataclass(frozen=True)
class Style:
    """How busy a scene is and how much two acquisitions of it differ besides the change itself."""
    roads: tuple[int, int]  # [low, high) counts drawn with rng.integers
    buildings: tuple[int, int]
    vegetation: tuple[int, int]
    pond: float  # chance of an unchanging pond
    sensor: bool  # illumination, misregistration and thin clouds between acquisitions
    building_divisors: tuple[int, int] = (16, 9)  # building sides from size // first to size // second pixels
    road_divisor: int = 40  # road width: size // road_divisor pixels (at least 2)


STYLES = {
    "realistic": Style(roads=(1, 3), buildings=(3, 11), vegetation=(1, 4), pond=0.3, sensor=True),
    # few distractors, larger buildings and roads, no acquisition differences: the change is the only thing that
    # moves, and a building covers up to a tenth of a quadrant (the CPU quickstart)
    "simple": Style(roads=(0, 2), buildings=(0, 3), vegetation=(0, 2), pond=0.0, sensor=False,
                    building_divisors=(9, 6), road_divisor=20),
}


@dataclass(frozen=True)
class Box:
    x0: int
    y0: int
    x1: int
    y1: int

    def overlaps(self, other: "Box", gap: int = 2) -> bool:
        return not (self.x1 + gap <= other.x0 or other.x1 + gap <= self.x0 or
                    self.y1 + gap <= other.y0 or other.y1 + gap <= self.y0)


@dataclass
class Scene:
    size: int
    ground: np.ndarray  # (size + 2 * MARGIN)^2 x 3 float32 texture
    building_size: tuple[int, int]  # smallest and largest building side in pixels
    road_width: int
    roads: list[Box] = field(default_factory=list)  # axis-aligned strips
    buildings: list[tuple[Box, tuple]] = field(default_factory=list)  # footprint, roof colour
    vegetation: list[Box] = field(default_factory=list)  # ellipses inside these boxes
    water: list[Box] = field(default_factory=list)  # ellipses
    bare: list[Box] = field(default_factory=list)  # exposed soil (ellipses)
    lots: list[Box] = field(default_factory=list)  # cleared building lots (rectangles)

    def copy(self) -> "Scene":
        return replace(self, roads=list(self.roads), buildings=list(self.buildings),
                       vegetation=list(self.vegetation), water=list(self.water), bare=list(self.bare),
                       lots=list(self.lots))

    def occupied(self) -> list[Box]:
        return self.roads + [b for b, _ in self.buildings] + self.vegetation + self.water

    def is_free(self, box: Box) -> bool:
        return 0 <= box.x0 and 0 <= box.y0 and box.x1 <= self.size and box.y1 <= self.size and \
            not any(box.overlaps(other) for other in self.occupied())


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Values in [0, 1] varying over about ``size / cells`` pixels."""
    grid = (rng.random((cells, cells)) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(grid).resize((size, size), Image.BICUBIC), dtype=np.float32) / 255.0


def new_ground(rng: np.random.Generator, size: int) -> np.ndarray:
    full = size + 2 * MARGIN
    base = np.array(GROUND_COLOURS[rng.integers(len(GROUND_COLOURS))], dtype=np.float32)
    low = smooth_noise(rng, full, 6)[..., None] - 0.5
    high = rng.normal(0.0, 1.0, (full, full, 1)).astype(np.float32)
    return np.clip(base + 0.12 * low + 0.025 * high, 0, 1)


def render(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """The clean scene (with margin) as float32 RGB; ``rng`` only textures vegetation and water."""
    full = scene.size + 2 * MARGIN
    image = scene.ground.copy()
    texture = smooth_noise(rng, full, 24)[..., None]
    _paint(image, _mask(full, scene.bare, ellipse=True), np.array(SOIL) * (0.92 + 0.16 * texture))
    _paint(image, _mask(full, scene.lots), np.array(SOIL) * (0.92 + 0.16 * texture))
    _paint(image, _mask(full, scene.water, ellipse=True), np.array(WATER) * (0.9 + 0.2 * texture))
    _paint(image, _mask(full, scene.vegetation, ellipse=True), np.array(FOREST) * (0.7 + 0.6 * texture))
    _paint(image, _mask(full, scene.roads), np.array(ASPHALT))
    shadow = max(1, scene.size // 64)
    shadows = [Box(b.x0 + shadow, b.y0 + shadow, b.x1 + shadow, b.y1 + shadow) for b, _ in scene.buildings]
    _paint(image, _mask(full, shadows), image * 0.45)
    for box, roof in scene.buildings:
        _paint(image, _mask(full, [box]), np.array(roof))
    return image


def observe(clean: np.ndarray, size: int, rng: np.random.Generator, sensor: bool = True) -> np.ndarray:
    """One acquisition of a clean rendering: uint8 size x size x 3; ``sensor=False`` adds only pixel noise."""
    image = _sensor_effects(clean, size, rng) if sensor else clean[MARGIN:MARGIN + size, MARGIN:MARGIN + size]
    image = image + rng.normal(0, 0.015, image.shape)
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def _sensor_effects(clean: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """What differs between two acquisitions of an unchanged place: registration, illumination, thin clouds."""
    dx, dy = rng.integers(-1, 2, size=2)  # misregistration of up to a pixel
    image = clean[MARGIN + dy:MARGIN + dy + size, MARGIN + dx:MARGIN + dx + size]
    gain = rng.uniform(0.85, 1.15) * rng.uniform(0.96, 1.04, size=3)  # sun angle and atmosphere
    image = image * gain + rng.uniform(-0.04, 0.04)
    if rng.random() < 0.35:  # a thin cloud veil
        veil = np.clip(smooth_noise(rng, size, 4) * 1.6 - 0.6, 0, 1)[..., None] * rng.uniform(0.2, 0.45)
        image = image * (1 - veil) + 0.95 * veil
    return image


def _mask(full: int, boxes: list[Box], ellipse: bool = False) -> np.ndarray:
    mask = Image.new("L", (full, full), 0)
    draw = ImageDraw.Draw(mask)
    for b in boxes:
        shape = [b.x0 + MARGIN, b.y0 + MARGIN, b.x1 + MARGIN - 1, b.y1 + MARGIN - 1]
        (draw.ellipse if ellipse else draw.rectangle)(shape, fill=255)
    return np.asarray(mask, dtype=np.float32)[..., None] / 255.0


def _paint(image: np.ndarray, mask: np.ndarray, colour) -> None:
    image *= 1 - mask
    image += mask * colour
