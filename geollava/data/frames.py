"""Read N frames of a record's media as uint8 RGB arrays, with the timestamps of the frames chosen.

Videos go through decord, falling back to PyAV when decord is missing or fails on a file; frame lists and single
images through Pillow. Readers are opened inside each call (never kept across a DataLoader fork: DESIGN.md §3.8).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .schema import Record

log = logging.getLogger(__name__)

try:  # decord's last release is 0.6.0 and has no wheels for some platforms: PyAV covers those.
    import decord
except ImportError:  # pragma: no cover - depends on the platform
    decord = None


class MediaError(ValueError):
    """Media that cannot be read, or has fewer frames than asked for."""


@dataclass
class Frames:
    images: list[np.ndarray]  # each H x W x 3, uint8, RGB
    indices: list[int]  # which frames of the source were taken
    timestamps: list[str] | None  # the timestamps of those frames, when the record has them


def sample_indices(total: int, num_frames: int, pad: bool = False) -> list[int]:
    """``num_frames`` indices spread uniformly over ``total`` frames, always including the first and the last.

    Fewer frames than asked for is an error unless ``pad``: then frames repeat, still spread uniformly.
    """
    if total < 1:
        raise MediaError("the media has no frames")
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    if total < num_frames and not pad:
        raise MediaError(f"has {total} frames, fewer than the {num_frames} requested "
                         "(set pad_frames: true to repeat frames, or lower num_frames)")
    if num_frames == 1:
        return [total - 1] if total > 1 else [0]
    return np.linspace(0, total - 1, num_frames).round().astype(int).tolist()


def load_frames(record: Record, media_root: str | Path, num_frames: int, pad: bool = False) -> Frames:
    """The frames a model sees for ``record``; a single image is one frame whatever ``num_frames`` says."""
    paths = [Path(media_root) / p for p in record.media]
    if record.media_kind == "video":
        total = count_video_frames(paths[0])
        indices = sample_indices(total, num_frames, pad)
        images = list(read_video_frames(paths[0], indices))
    elif record.media_kind == "frames":
        total = len(paths)
        indices = sample_indices(total, num_frames, pad)
        images = [read_image(paths[i]) for i in indices]
    else:
        total, indices, images = 1, [0], [read_image(paths[0])]
    timestamps = None
    if record.timestamps is not None:
        if len(record.timestamps) != total:
            raise MediaError(f"{len(record.timestamps)} timestamps for {total} frames in {paths[0]}")
        timestamps = [record.timestamps[i] for i in indices]
    return Frames(images, indices, timestamps)


def read_image(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as e:
        raise MediaError(f"cannot read image {path}: {e}") from None


def count_video_frames(path: Path) -> int:
    if not Path(path).is_file():
        raise MediaError(f"video {path} does not exist")
    if decord is not None:
        try:
            return len(decord.VideoReader(str(path), num_threads=1))
        except Exception as e:  # decord raises its own DECORDError or RuntimeError on broken files
            log.debug("decord cannot open %s (%s); trying PyAV", path, e)
    return _pyav_count(path)


def read_video_frames(path: Path, indices: list[int]) -> np.ndarray:
    """Frames at ``indices`` (repeats allowed) as an N x H x W x 3 uint8 array."""
    if decord is not None:
        try:
            reader = decord.VideoReader(str(path), num_threads=1)
            return reader.get_batch(indices).asnumpy()
        except Exception as e:
            log.debug("decord cannot read %s (%s); trying PyAV", path, e)
    return read_video_frames_pyav(path, indices)


def read_video_frames_pyav(path: Path, indices: list[int]) -> np.ndarray:
    """Decode sequentially up to the last wanted frame: exact frame indices, whatever the container says."""
    import av

    wanted, last = set(indices), max(indices)
    found: dict[int, np.ndarray] = {}
    decoded = 0
    try:
        with av.open(str(path)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                decoded = i + 1
                if i in wanted:
                    found[i] = frame.to_ndarray(format="rgb24")
                if i >= last:
                    break
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise MediaError(f"cannot decode video {path}: {e}") from None
    missing = sorted(wanted - found.keys())
    if missing:
        raise MediaError(f"video {path} ended before frame {missing[0]} (it has {decoded} decodable frames)")
    return np.stack([found[i] for i in indices])


def _pyav_count(path: Path) -> int:
    import av

    try:
        with av.open(str(path)) as container:
            return sum(1 for _ in container.decode(video=0))
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise MediaError(f"cannot decode video {path}: {e}") from None
