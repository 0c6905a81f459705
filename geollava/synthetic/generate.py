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
from functools import partial
from pathlib import Path

import numpy as np

from ..data.annotations import write_annotations
from ..data.mp4 import write_mp4
from .captions import COUNTED_TYPES, EVENT_TYPES, PROMPTS, QUADRANTS, Event, describe
from .events import build_before_after
from .scene import STYLES, observe, render

SPLITS = {"train": 0, "val": 1, "test": 2}


def make_sample(seed: int, split: str, index: int, num_frames: int, size: int,
                style: str = "realistic") -> tuple[dict, list[np.ndarray]]:
    """One annotation record and its frames; ``style`` is a key of scene.STYLES."""
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
    return record, frames


def generate_split(out_dir: str | Path, split: str, count: int, num_frames: int = 8, size: int = 128,
                   seed: int = 0, workers: int | None = None, style: str = "realistic") -> Path:
    """Write ``count`` videos under out_dir/videos and their annotations to out_dir/<split>.json."""
    if num_frames < 2:
        raise ValueError(f"a change needs at least 2 frames, got --frames {num_frames}")
    if size < 32 or size % 2:
        raise ValueError(f"--size must be an even number of pixels >= 32, got {size}")
    if style not in STYLES:
        raise ValueError(f"--style must be one of {', '.join(STYLES)}, got {style!r}")
    out_dir = Path(out_dir)
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    job = partial(_write_sample, str(out_dir), seed, split, num_frames, size, style)
    workers = workers or os.cpu_count() or 1
    if workers == 1 or count < 8:
        records = [job(i) for i in range(count)]
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            records = list(pool.imap(job, range(count), chunksize=8))
    path = out_dir / f"{split}.json"
    write_annotations(path, records)
    return path


def _write_sample(out_dir: str, seed: int, split: str, num_frames: int, size: int, style: str, index: int) -> dict:
    record, frames = make_sample(seed, split, index, num_frames, size, style)
    write_mp4(Path(out_dir) / record["video"], frames)
    return record


def _dates(rng: np.random.Generator, count: int) -> list[str]:
    """Acquisition dates from 2014 on, 1.5 to 10 months apart, strictly increasing."""
    day = dt.date(2014, 1, 1) + dt.timedelta(days=int(rng.integers(0, 5 * 365)))
    dates = [day]
    for _ in range(count - 1):
        dates.append(dates[-1] + dt.timedelta(days=int(rng.integers(45, 300))))
    return [d.isoformat() for d in dates]
