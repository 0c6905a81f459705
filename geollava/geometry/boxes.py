"""GeoChat's box syntax: read and write it, turn a box into its polygon in pixels, intersect rotated boxes, draw.

    {<x1><y1><x2><y2>|<θ>}    x and y on a 0-100 grid of the image's width and height, θ an integer angle in
                              degrees (counter-clockwise on the image, as cv2.getRotationMatrix2D takes it; the
                              `|<θ>` part may be absent: θ = 0), the box rotated about its centre
    {...}<delim>{...}  {...}{...}    several boxes
    <p>white car</p> {<...>}        a phrase followed by its boxes

Malformed boxes are errors that quote the box, never a silently different box (GeoChat's own demo parser drops
the last number of every box it reads).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

GRID = 100
MAX_ANGLE = 360  # degrees either way; beyond it an angle is a typo (and a 300-digit one overflows the geometry)
DELIM = "<delim>"
_BOX = re.compile(r"\{<(-?\d+)><(-?\d+)><(-?\d+)><(-?\d+)>(?:\|<(-?\d+)>)?\}")
_PIECES = re.compile(r"<p>(.*?)</p>|\{[^{}]*\}?")


class BoxError(ValueError):
    """A box string that does not parse; the message quotes it and says what is wrong."""


@dataclass(frozen=True)
class Box:
    x1: int
    y1: int
    x2: int
    y2: int
    angle: int = 0  # degrees, counter-clockwise on the image

    def __str__(self) -> str:
        return f"{{<{self.x1}><{self.y1}><{self.x2}><{self.y2}>|<{self.angle}>}}"


@dataclass
class Phrase:
    text: str | None  # None: boxes that no <p>phrase</p> introduced
    boxes: list[Box] = field(default_factory=list)


def parse_box(text: str) -> Box:
    """Exactly one box, e.g. ``{<16><55><24><63>|<11>}``."""
    match = _BOX.fullmatch(text.strip())
    if not match:
        numbers = re.findall(r"-?\d+", text)
        reason = (f"it has {len(numbers)} numbers; a box is <x1><y1><x2><y2> with an optional |<angle>"
                  if text.strip().startswith("{") and text.strip().endswith("}") else "it is not closed by }"
                  if text.strip().startswith("{") else "a box starts with {")
        raise BoxError(f"box {text.strip()!r} does not parse: {reason}")
    x1, y1, x2, y2 = (int(v) for v in match.groups()[:4])
    angle = int(match.group(5) or 0)
    if not all(0 <= v <= GRID for v in (x1, y1, x2, y2)):
        raise BoxError(f"box {_short(text)}: coordinates must lie on the 0-{GRID} grid")
    if x2 < x1 or y2 < y1:
        raise BoxError(f"box {text.strip()!r}: x2 and y2 must not be smaller than x1 and y1")
    if not -MAX_ANGLE <= angle <= MAX_ANGLE:
        raise BoxError(f"box {_short(text)}: the angle must lie between -{MAX_ANGLE} and {MAX_ANGLE} degrees")
    return Box(x1, y1, x2, y2, angle)


def _short(text: str) -> str:
    text = text.strip()
    return repr(text) if len(text) <= 60 else repr(text[:40] + "..." + text[-12:])


def parse_grounded(text: str) -> list[Phrase]:
    """Every <p>phrase</p> with the boxes that follow it, in order; boxes before any phrase come first with
    ``text=None``. A phrase with no box keeps an empty list. Raises BoxError on the first malformed box."""
    phrases: list[Phrase] = []
    for piece in _PIECES.finditer(text):
        if piece.group(1) is not None:
            phrases.append(Phrase(piece.group(1).strip()))
            continue
        if not phrases:
            phrases.append(Phrase(None))
        phrases[-1].boxes.append(parse_box(piece.group(0)))
    return phrases


def parse_boxes(text: str) -> list[Box]:
    """Every box of ``text``, phrases or not."""
    return [box for phrase in parse_grounded(text) for box in phrase.boxes]


def has_box(text: str) -> bool:
    return "{" in text


def strip_boxes(text: str) -> str:
    """The words of a grounded text: boxes, ``<delim>`` and the ``<p>`` tags taken out."""
    words = re.sub(r"\{[^{}]*\}?|</?p>|" + DELIM, " ", text)
    return " ".join(words.split())


def format_boxes(boxes: list[Box]) -> str:
    return DELIM.join(str(box) for box in boxes)


def format_grounded(phrases: list[Phrase]) -> str:
    return " ".join((f"<p>{p.text}</p> " if p.text is not None else "") + format_boxes(p.boxes) for p in phrases)


def polygon(box: Box, width: float = GRID, height: float = GRID):
    """The box in pixels of a ``width`` x ``height`` image, rotated about its centre (a shapely Polygon)."""
    from shapely.affinity import rotate
    from shapely.geometry import box as rectangle

    sx, sy = width / GRID, height / GRID
    shape = rectangle(box.x1 * sx, box.y1 * sy, box.x2 * sx, box.y2 * sy)
    # shapely turns counter-clockwise with y up; the image's y points down, so the image's counter-clockwise is -θ
    return rotate(shape, -box.angle, origin="center") if box.angle else shape


def iou(a: Box, b: Box, width: float = GRID, height: float = GRID) -> float:
    """Intersection over union of the two rotated boxes (0 for two degenerate boxes)."""
    pa, pb = polygon(a, width, height), polygon(b, width, height)
    union = pa.union(pb).area
    return pa.intersection(pb).area / union if union else 0.0


def draw(image, phrases: list[Phrase], colour: tuple[int, int, int] = (255, 64, 64), width: int = 2):
    """A copy of the PIL ``image`` with every box outlined in ``colour`` and its phrase written beside it."""
    from PIL import ImageDraw

    out = image.convert("RGB").copy()
    pen = ImageDraw.Draw(out)
    for phrase in phrases:
        for box in phrase.boxes:
            corners = list(polygon(box, *out.size).exterior.coords)
            pen.line(corners, fill=colour, width=width)
            if phrase.text:
                x, y = min(c[0] for c in corners), min(c[1] for c in corners)
                pen.text((x + 2, max(0, y - 11)), phrase.text, fill=colour)
    return out
