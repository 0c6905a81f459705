"""`geollava data synth --tasks T1,T2,...`: one task record per sample, the tasks taken in turn, each question and
answer written by its task entry's generator (geollava/tasks/) from what the generator drew.

A single-image task gets an image drawn for one land-cover class (its scene label, which decides what
dominates), with objects whose every box is known: buildings (some turned by up to 40 degrees), storage tanks,
water, tree patches and roads, drawn with the change videos' scene code. A frames task gets a change video (as
`data synth` draws them) and is asked about its change event.

Deterministic for a seed: sample i of a split depends only on (seed, split, i).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..data.annotations import write_annotations
from ..geometry.boxes import GRID, Box
from ..tasks import TASKS, Task, get_task
from ..tasks.scene import SYNTHETIC_CLASSES
from .scene import ROOF_COLOURS, Box as PixelBox, Scene, new_ground, observe, render

SPLITS = {"train": 10, "val": 11, "test": 12}  # seed streams of their own, apart from the change videos'
NAMES = {"building": "a building", "tank": "a storage tank", "water": "a water body", "trees": "a patch of trees",
         "road": "a road"}
PLURALS = {"building": "buildings", "tank": "storage tanks", "water": "water bodies", "trees": "patches of trees",
           "road": "roads"}


@dataclass(frozen=True)
class Thing:
    kind: str  # building, tank, water, trees, road
    box: Box  # on the 0-100 grid, before rotation
    area: float  # fraction of the image


@dataclass
class Picture:
    """What a task generator may ask about a drawn image: its class and its objects, and their names."""
    label: str
    things: list[Thing]
    names: dict = field(default_factory=lambda: dict(NAMES))
    plurals: dict = field(default_factory=lambda: dict(PLURALS))


def synthetic_tasks() -> list[str]:
    return [name for name, task in TASKS.items() if task.synthetic]


def make_task_sample(seed: int, split: str, index: int, size: int, task: str) -> tuple[dict, np.ndarray]:
    rng = np.random.default_rng([seed, SPLITS[split], index])
    label = SYNTHETIC_CLASSES[rng.integers(len(SYNTHETIC_CLASSES))]
    image, things = draw_scene(rng, size, label)
    question, answer, extra = get_task(task).synthesize(rng, Picture(label, things))
    record = {"id": f"synth_{task}_{split}_{index:05d}", "image": f"images/{split}_{index:05d}.png",
              "conversations": [{"from": "human", "value": f"<image>\n{question}"},
                                {"from": "gpt", "value": answer}],
              "metadata": {"task": task, **extra, "scene": label,
                           "objects": [{"kind": t.kind, "box": str(t.box)} for t in things],
                           "synthetic": {"seed": seed, "split": split, "index": index, "size": size}}}
    return record, image


def generate_task_split(out_dir: str | Path, split: str, count: int, tasks: list[str], size: int = 64,
                        seed: int = 0, frames: int = 8, style: str = "realistic") -> Path:
    """Write ``count`` samples (images under out_dir/images, change videos under out_dir/videos, each with
    ``frames`` frames) and their records to out_dir/<split>.json."""
    known = synthetic_tasks()
    unknown = [t for t in tasks if t not in known]
    if unknown or not tasks:
        raise ValueError(f"--tasks takes a comma-separated list of {', '.join(known)}; got {unknown or tasks}")
    if size < 32 or size % 2:
        raise ValueError(f"--size must be an even number of pixels >= 32, got {size}")
    out_dir = Path(out_dir)
    records = []
    for index in range(count):
        task = get_task(tasks[index % len(tasks)])
        if task.media == "frames":
            records.append(_change_sample(out_dir, seed, split, index, size, frames, style, task))
            continue
        record, image = make_task_sample(seed, split, index, size, task.name)
        (out_dir / "images").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(out_dir / record["image"])
        records.append(record)
    path = out_dir / f"{split}.json"
    write_annotations(path, records)
    return path


def _change_sample(out_dir: Path, seed: int, split: str, index: int, size: int, frames: int, style: str,
                   task: Task) -> dict:
    from .generate import write_sample

    record = write_sample(str(out_dir), seed, split, frames, size, style, "mp4", index, task)
    record["id"] = f"synth_{task.name}_{split}_{index:05d}"
    return record


def draw_scene(rng: np.random.Generator, size: int, label: str) -> tuple[np.ndarray, list[Thing]]:
    """An image dominated by ``label`` and the objects in it, each with its grid box."""
    scene = Scene(size, new_ground(rng, size), (size // 9, size // 5), max(2, size // 20))
    counts = {"residential": (4, 0, 0, 0), "industrial": (1, 4, 0, 0), "forest": (0, 0, 0, 3), "lake": (0, 0, 1, 1),
              "farmland": (1, 0, 0, 1)}[label]
    things: list[Thing] = []
    if label != "forest" and rng.random() < 0.7:
        _road(rng, scene, things)
    big = {"lake": (size // 2, size // 4 * 3), "forest": (size // 3, size // 2)}.get(label, (size // 6, size // 4))
    for _ in range(counts[2]):
        _blob(rng, scene, things, "water", scene.water, (size // 2, size // 4 * 3) if label == "lake" else big)
    for _ in range(counts[3]):
        _blob(rng, scene, things, "trees", scene.vegetation, big if label == "forest" else (size // 8, size // 5))
    picture = render(scene, rng)
    turned = [_building(rng, scene, things) for _ in range(counts[0] + int(rng.integers(0, 2)))]
    tanks = [_tank(rng, scene, things) for _ in range(counts[1] + int(label == "industrial") * int(rng.integers(0, 2)))]
    image = observe(picture, size, rng, sensor=False)
    _overlay(image, [t for t in turned if t], [t for t in tanks if t], size)
    return image, things


def _free(rng, scene: Scene, w: int, h: int, tries: int = 80) -> PixelBox | None:
    for _ in range(tries):
        x0, y0 = int(rng.integers(1, max(2, scene.size - w - 1))), int(rng.integers(1, max(2, scene.size - h - 1)))
        box = PixelBox(x0, y0, x0 + w, y0 + h)
        if scene.is_free(box):
            return box
    return None


def _grid(box: PixelBox, size: int, angle: int = 0) -> Box:
    scale = GRID / size
    return Box(round(box.x0 * scale), round(box.y0 * scale), round(box.x1 * scale), round(box.y1 * scale), angle)


def _road(rng, scene: Scene, things: list[Thing]) -> None:
    at, width = int(rng.integers(scene.size // 5, scene.size * 4 // 5)), scene.road_width
    box = PixelBox(0, at, scene.size, at + width) if rng.random() < 0.5 else PixelBox(at, 0, at + width, scene.size)
    scene.roads.append(box)
    things.append(Thing("road", _grid(box, scene.size), width / scene.size))


def _blob(rng, scene: Scene, things: list[Thing], kind: str, layer: list, sides: tuple[int, int]) -> None:
    w, h = (int(rng.integers(sides[0], sides[1] + 1)) for _ in range(2))
    box = _free(rng, scene, w, h)
    if box is not None:
        layer.append(box)
        things.append(Thing(kind, _grid(box, scene.size), np.pi / 4 * w * h / scene.size ** 2))


def _building(rng, scene: Scene, things: list[Thing]):
    low, high = scene.building_size
    w, h = int(rng.integers(low, high + 1)), int(rng.integers(low, high + 1))
    box = _free(rng, scene, int(1.3 * max(w, h)) + 2, int(1.3 * max(w, h)) + 2)  # room for any rotation
    if box is None:
        return None
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    footprint = PixelBox(round(cx - w / 2), round(cy - h / 2), round(cx - w / 2) + w, round(cy - h / 2) + h)
    angle = int(rng.integers(-40, 41)) if rng.random() < 0.5 else 0
    scene.buildings.append((box, None))  # taken: placed after rendering, so only the overlay draws it
    things.append(Thing("building", _grid(footprint, scene.size, angle), w * h / scene.size ** 2))
    return footprint, angle, ROOF_COLOURS[rng.integers(len(ROOF_COLOURS))]


def _tank(rng, scene: Scene, things: list[Thing]):
    side = int(rng.integers(max(4, scene.size // 12), max(5, scene.size // 7) + 1))
    box = _free(rng, scene, side, side)
    if box is None:
        return None
    scene.buildings.append((box, None))
    things.append(Thing("tank", _grid(box, scene.size), np.pi / 4 * side * side / scene.size ** 2))
    return box


def _overlay(image: np.ndarray, buildings: list, tanks: list, size: int) -> None:
    """Rotated roofs with shadows and round tanks, drawn on the observed image."""
    picture = Image.fromarray(image)
    pen = ImageDraw.Draw(picture)
    for footprint, angle, roof in buildings:
        corners = _corners(footprint, angle)
        pen.polygon([(x + 1, y + 1) for x, y in corners], fill=(40, 40, 40))
        pen.polygon(corners, fill=tuple(int(255 * c) for c in roof))
    for box in tanks:
        pen.ellipse([box.x0 + 1, box.y0 + 1, box.x1, box.y1], fill=(50, 50, 50))
        pen.ellipse([box.x0, box.y0, box.x1 - 1, box.y1 - 1], fill=(235, 235, 228), outline=(150, 150, 150))
    image[...] = np.asarray(picture)


def _corners(box: PixelBox, angle: int) -> list[tuple[float, float]]:
    """The footprint's corners turned counter-clockwise on the image by ``angle`` degrees (as boxes.polygon)."""
    cx, cy, a = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2, np.radians(angle)
    corners = [(box.x0, box.y0), (box.x1, box.y0), (box.x1, box.y1), (box.x0, box.y1)]
    return [(cx + (x - cx) * np.cos(a) + (y - cy) * np.sin(a), cy - (x - cx) * np.sin(a) + (y - cy) * np.cos(a))
            for x, y in corners]
