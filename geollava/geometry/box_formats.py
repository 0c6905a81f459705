"""Every model's own way of writing boxes, read into polygons in pixels of the image (and written, for questions
that name a box):

    geochat   {<x1><y1><x2><y2>|<θ>} on a 0-100 grid of the image, θ degrees counter-clockwise (GeoChat; boxes.py)
    pixels    [x1, y1, x2, y2] in pixels of the image as the model's processor resized it (Qwen2.5-VL; its
              answers: JSON {"bbox_2d": [...], "label": ...}, often in a ```json fence)
    norm1000  [x1, y1, x2, y2] on a 0-1000 grid of the image (Qwen3-VL, JSON as Qwen2.5-VL)
    internvl  <ref>phrase</ref><box>[[x1, y1, x2, y2]]</box> on a 0-1000 grid of the image (InternVL)
    norm1     [x1, y1, x2, y2] as fractions of the image's width and height (LLaVA-1.5's RefCOCO boxes)
    norm1_padded  [x1, y1, x2, y2] as fractions of the square LLaVA-1.5 pads the image to (expand2square: the
              image centred in a max(width, height) square): its Visual Genome region boxes

The three list formats are read from JSON (a `bbox_2d` or `bbox` in any object, or bare lists and lists of lists)
and, failing that, from every [a, b, c, d] of four numbers in the text.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from .boxes import GRID, Box, BoxError, parse_grounded, polygon

FORMATS = ("geochat", "pixels", "norm1000", "internvl", "norm1", "norm1_padded")
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)
_GEOCHAT = re.compile(r"\{\s*<(-?\d+(?:\.\d+)?)>\s*<(-?\d+(?:\.\d+)?)>\s*<(-?\d+(?:\.\d+)?)>\s*<(-?\d+(?:\.\d+)?)>")
_LIST = re.compile(r"\[\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\]")


@dataclass(frozen=True)
class ImageSize:
    """An image's size, and the size the model's processor resized it to (Qwen's pixel boxes refer to that)."""
    width: float
    height: float
    model_width: float | None = None
    model_height: float | None = None

    def scale(self, box_format: str) -> tuple[float, float]:
        """Pixels of the image per unit of ``box_format`` along x and y."""
        if box_format == "pixels":
            return self.width / (self.model_width or self.width), self.height / (self.model_height or self.height)
        if box_format == "norm1_padded":
            side = max(self.width, self.height)
            return side, side
        unit = {"norm1000": 1000.0, "internvl": 1000.0, "norm1": 1.0, "geochat": float(GRID)}[box_format]
        return self.width / unit, self.height / unit

    def offset(self, box_format: str) -> tuple[float, float]:
        """Pixels the format's origin lies left of and above the image's (LLaVA pastes it at the square's
        ((side - width) // 2, (side - height) // 2))."""
        if box_format != "norm1_padded":
            return 0.0, 0.0
        side = max(self.width, self.height)
        return (side - self.width) // 2, (side - self.height) // 2

    def to_pixels(self, box: tuple[float, ...], box_format: str) -> tuple[float, float, float, float]:
        """A box written in ``box_format`` → (x1, y1, x2, y2) in pixels of the image, corners as written."""
        (sx, sy), (ox, oy) = self.scale(box_format), self.offset(box_format)
        x1, y1, x2, y2 = box[:4]
        return x1 * sx - ox, y1 * sy - oy, x2 * sx - ox, y2 * sy - oy


def read_boxes(text: str, box_format: str, size: ImageSize) -> list:
    """Every box of an answer as a shapely polygon in pixels of the image; [] when none parses."""
    if box_format == "geochat":
        try:
            return [polygon(b, size.width, size.height) for p in parse_grounded(text) for b in p.boxes]
        except BoxError:
            return []
    from shapely.geometry import box as rectangle

    return [rectangle(min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
            for x1, y1, x2, y2 in (size.to_pixels(box, box_format) for box in _coordinates(text))]


def first_box_pixels(text: str, box_format: str, size: ImageSize) -> tuple[float, float, float, float] | None:
    """The answer's first box as written — corners in their order, past the image's edge if so, a rotated box's
    angle ignored — in pixels of the image; None without one. What benchmark scorers that read one axis-aligned
    box (and clamp or clip it themselves) are given."""
    if box_format == "geochat":
        found = _GEOCHAT.search(text)
        coordinates = tuple(float(v) for v in found.groups()) if found else None
    else:
        coordinates = next(iter(_coordinates(text)), None)
    return None if coordinates is None else size.to_pixels(coordinates, box_format)


def _coordinates(text: str) -> list[tuple[float, ...]]:
    for candidate in [*_FENCE.findall(text), text]:
        found = _from_json(candidate.strip())
        if found:
            return found
    return [tuple(float(v) for v in match) for match in _LIST.findall(text)]


def _from_json(text: str) -> list[tuple[float, ...]]:
    try:
        data = json.loads(text)
    except ValueError:
        return []
    found: list[tuple[float, ...]] = []
    _collect(data, found)
    return found


def _collect(data, found: list) -> None:
    if isinstance(data, dict):
        for key in ("bbox_2d", "bbox", "box"):
            if _is_box(data.get(key)):
                found.append(tuple(float(v) for v in data[key]))
                return
        for value in data.values():
            _collect(value, found)
    elif _is_box(data):
        found.append(tuple(float(v) for v in data))
    elif isinstance(data, list):
        for item in data:
            _collect(item, found)


def _is_box(value) -> bool:
    """Four finite numbers (JSON lets NaN, Infinity and 1e999 through, which no box can hold)."""
    return isinstance(value, list) and len(value) == 4 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)


def write_box(box: Box, box_format: str, size: ImageSize) -> str:
    """A 0-100 grid box (its axis-aligned extent) as ``box_format`` writes one: for a question naming a region."""
    if box_format == "geochat":
        return str(box)
    (sx, sy), (ox, oy) = size.scale(box_format), size.offset(box_format)
    px, py = size.width / GRID, size.height / GRID
    values = [(box.x1 * px + ox) / sx, (box.y1 * py + oy) / sy, (box.x2 * px + ox) / sx, (box.y2 * py + oy) / sy]
    if box_format in ("norm1", "norm1_padded"):
        return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"
    if box_format == "internvl":
        return "<box>[[" + ", ".join(str(round(v)) for v in values) + "]]</box>"
    return "[" + ", ".join(str(round(v)) for v in values) + "]"


PIXELS_MIN, PIXELS_MAX = 3136, 12845056  # Qwen2.5-VL-7B-Instruct's released preprocessor_config.json


def pixels_frame_size(width: int, height: int, max_pixels: int = PIXELS_MAX, min_pixels: int = PIXELS_MIN
                      ) -> tuple[int, int]:
    """(width, height) a Qwen2.5-VL processor resizes an image to (sides multiples of 28, pixels within
    min..max): what the pixels format's boxes refer to when no model is loaded to say (a predictions file)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    h, w = smart_resize(height, width, factor=28, min_pixels=min_pixels, max_pixels=max_pixels)
    return w, h
