"""`geollava data synth`: a synthetic change-captioning set in GeoLLaVA's annotation format.

Each sample is a short mp4 of T dated acquisitions of one procedurally drawn place; at most one change event
happens between two consecutive frames, and the caption is written from that event (type, count, quadrant, dates).
The events are stored in each record's metadata, so predictions can be scored on content, not only on wording.
Deterministic for a seed: sample i of a split depends only on (seed, split, i).
"""
from __future__ import annotations

import datetime as dt
import multiprocessing
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.annotations import write_annotations
from ..data.mp4 import write_mp4
from ..tasks.change_caption import COUNTED_TYPES, EVENT_TYPES, QUADRANTS
from .captions import PROMPTS, Event, describe
from .events import build_before_after
from .scene import STYLES, observe, render

SPLITS = {"train": 0, "val": 1, "test": 2}


@dataclass
class Change:
    """What a frames task's generator may ask about a synthetic change video (tasks/base.py: synthesize)."""
    event: dict  # Event.to_json(): type, count, quadrant, frame, date_before, date_after ("none": no change)
    dates: list[str]


def make_sample(seed: int, split: str, index: int, num_frames: int, size: int,
                style: str = "realistic", task=None) -> tuple[dict, list[np.ndarray]]:
    """One annotation record and its frames; ``style`` is a key of scene.STYLES. With ``task`` (a frames task's
    entry), its generator writes the question and answer about the change instead of a caption."""
    rng = np.random.default_rng([seed, SPLITS[split], index])
    event_type = EVENT_TYPES[rng.integers(len(EVENT_TYPES))]
    quadrant = None if event_type == "none" else QUADRANTS[rng.integers(len(QUADRANTS))]
    count = int(rng.integers(1, 4)) if event_type in COUNTED_TYPES else int(event_type != "none")
    dates = _dates(rng, num_frames)
    change_frame = int(rng.integers(1, num_frames))
    before, after = build_before_after(rng, size, event_type, quadrant, count, STYLES[style])
    texture_seed = int(rng.integers(2**32))  # the same texture before and after: only the event may change
    clean = [render(scene, np.random.default_rng(texture_seed)) for scene in (before, after)]
    changed = [int(t >= change_frame and event_type != "none") for t in range(num_frames)]
    frames = [observe(clean[c], size, rng, STYLES[style].sensor) for c in changed]
    if event_type == "none":
        event = Event("none", 0, None, 0, dates[0], dates[-1])
    else:
        event = Event(event_type, count, quadrant, change_frame, dates[change_frame - 1], dates[change_frame])
    record = {
        "id": f"synth_{split}_{index:05d}",
        "video": f"videos/{split}_{index:05d}.mp4",
        "timestamps": dates,
        "conversations": [
            {"from": "human", "value": PROMPTS[rng.integers(len(PROMPTS))]},
            {"from": "gpt", "value": describe(event, rng)},
        ],
        "metadata": {"events": [] if event_type == "none" else [event.to_json()],
                     "synthetic": {"seed": seed, "split": split, "index": index, "size": size, "style": style}},
    }
    if task is not None:
        question, answer, extra = task.synthesize(rng, Change(event.to_json(), dates))
        record["conversations"] = [{"from": "human", "value": f"<video>\n{question}"},
                                   {"from": "gpt", "value": answer}]
        record["metadata"].update({"task": task.name, **extra})
    return record, frames


MEDIA = ("mp4", "png", "geotiff")


def generate_split(out_dir: str | Path, split: str, count: int, num_frames: int = 8, size: int = 128,
                   seed: int = 0, workers: int | None = None, style: str = "realistic", media: str = "mp4") -> Path:
    """Write ``count`` samples under out_dir/videos and their annotations to out_dir/<split>.json. ``media``:
    mp4 videos, or frame lists of PNGs or of 4-band 12-bit GeoTIFFs (whose dates are in the files' date tags,
    not in the annotation — as rasters often arrive)."""
    if num_frames < 2:
        raise ValueError(f"a change needs at least 2 frames, got --frames {num_frames}")
    if size < 32 or size % 2:
        raise ValueError(f"--size must be an even number of pixels >= 32, got {size}")
    if style not in STYLES:
        raise ValueError(f"--style must be one of {', '.join(STYLES)}, got {style!r}")
    if media not in MEDIA:
        raise ValueError(f"--media must be one of {', '.join(MEDIA)}, got {media!r}")
    out_dir = Path(out_dir)
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    job = partial(write_sample, str(out_dir), seed, split, num_frames, size, style, media)
    workers = workers or os.cpu_count() or 1
    if workers == 1 or count < 8:
        records = [job(i) for i in range(count)]
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            records = list(pool.imap(job, range(count), chunksize=8))
    path = out_dir / f"{split}.json"
    write_annotations(path, records)
    return path


def write_sample(out_dir: str, seed: int, split: str, num_frames: int, size: int, style: str, media: str,
                 index: int, task=None) -> dict:
    record, frames = make_sample(seed, split, index, num_frames, size, style, task)
    if media == "mp4":
        write_mp4(Path(out_dir) / record["video"], frames)
        return record
    folder = Path(record["video"]).with_suffix("")
    (Path(out_dir) / folder).mkdir(parents=True, exist_ok=True)
    names = []
    for t, (frame, date) in enumerate(zip(frames, record["timestamps"])):
        name = folder / f"{t}_{date.replace('-', '')}.{'png' if media == 'png' else 'tif'}"
        if media == "png":
            Image.fromarray(frame).save(Path(out_dir) / name)
        else:
            write_geotiff(Path(out_dir) / name, frame, date, index)
        names.append(str(name))
    record["video"] = names
    if media == "geotiff":
        del record["timestamps"]  # read back from the files
    return record


def write_geotiff(path: Path, frame: np.ndarray, date: str, index: int) -> Path:
    """A frame as a 4-band (red, green, blue, a near-infrared stand-in) 12-bit GeoTIFF on a 10 m UTM grid, its
    acquisition date in the TIFF date tag."""
    import rasterio
    from rasterio.enums import ColorInterp
    from rasterio.transform import from_origin

    rgb = frame.astype(np.uint16) * 16
    nir = np.clip(rgb[..., 1] * 1.4, 0, 4095).astype(np.uint16)  # vegetation is bright in the near infrared
    bands = np.stack([rgb[..., 0], rgb[..., 1], rgb[..., 2], nir])
    origin = (400000.0 + 10_000 * (index % 50), 5000000.0 - 10_000 * (index // 50))
    with rasterio.open(path, "w", driver="GTiff", width=frame.shape[1], height=frame.shape[0], count=4,
                       dtype="uint16", crs="EPSG:32632", transform=from_origin(*origin, 10.0, 10.0)) as out:
        out.write(bands)
        out.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.undefined]
        out.update_tags(TIFFTAG_DATETIME=f"{date.replace('-', ':')} 10:30:00")
    return path


def _dates(rng: np.random.Generator, count: int) -> list[str]:
    """Acquisition dates from 2014 on, 1.5 to 10 months apart, strictly increasing."""
    day = dt.date(2014, 1, 1) + dt.timedelta(days=int(rng.integers(0, 5 * 365)))
    dates = [day]
    for _ in range(count - 1):
        dates.append(dates[-1] + dt.timedelta(days=int(rng.integers(45, 300))))
    return [d.isoformat() for d in dates]
