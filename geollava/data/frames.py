"""Read N frames of a record's media as uint8 RGB arrays, with the timestamps of the frames chosen.

Videos go through decord, falling back to PyAV when decord is missing or fails on a file; frame lists and single
images through Pillow, or through rasterio (raster.py) when they are GeoTIFFs or folders of band files. Readers
are opened inside each call: a decord reader created before the DataLoader workers fork can deadlock them.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .limits import ReadLimits
from .raster import RasterError, RasterSettings, is_raster, raster_size, read_rasters, stretched
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


def load_frames(record: Record, media_root: str | Path, num_frames: int, pad: bool = False,
                raster: RasterSettings | None = None, limits: ReadLimits | None = None) -> Frames:
    """The frames a model sees for ``record``; a single image is one frame whatever ``num_frames`` says.
    A video is opened once: counted, sampled and decoded through the same reader. Raster frames are read
    together (one stretch for the sample) and may bring their dates when the record has none. Nothing larger
    than ``limits`` allows is decoded (limits.py)."""
    paths = [Path(media_root) / p for p in record.media]
    file_dates = None
    if record.media_kind == "video":
        video = read_video(paths[0], lambda total: sample_indices(total, num_frames, pad), limits)
        total, indices, images = video.total, video.indices, list(video.images)
    else:
        total = len(paths)
        indices = still_indices(record, num_frames, pad)
        images, file_dates = read_images([paths[i] for i in indices], raster, limits)
    timestamps = file_dates
    if record.timestamps is not None:
        if len(record.timestamps) != total:
            raise MediaError(f"{len(record.timestamps)} timestamps for {total} frames in {paths[0]}")
        timestamps = [record.timestamps[i] for i in indices]
    return Frames(images, indices, timestamps)


def still_indices(record: Record, num_frames: int, pad: bool = False) -> list[int]:
    """Which files of a frame list (or the one image) a sample shows."""
    return sample_indices(len(record.media), num_frames, pad) if record.media_kind == "frames" else [0]


def frame_sizes(record: Record, media_root: str | Path, num_frames: int, pad: bool = False,
                raster: RasterSettings | None = None, limits: ReadLimits | None = None) -> list[tuple[int, int]]:
    """(height, width) of each frame ``load_frames`` would return, from the files' headers (nothing decoded).
    Raster frames all take the first frame's grid (they must share it, or are resampled onto it), at the
    resolution the limits let them be read at."""
    paths = [Path(media_root) / p for p in record.media]
    if record.media_kind == "video":
        return [_video_size(paths[0])] * num_frames
    chosen = [paths[i] for i in still_indices(record, num_frames, pad)]
    if any(is_raster(p) for p in chosen):
        try:
            size = raster_size(chosen[0], (raster or RasterSettings()).bands, len(chosen), limits or ReadLimits())
            return [size] * len(chosen)
        except RasterError as e:
            raise MediaError(str(e)) from None
    return [_image_size(p) for p in chosen]


def _image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.height, image.width
    except (OSError, ValueError) as e:
        raise MediaError(f"cannot read image {path}: {e}") from None


def _video_size(path: Path) -> tuple[int, int]:
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            return stream.codec_context.height, stream.codec_context.width
    except (av.error.FFmpegError, OSError, IndexError) as e:
        raise MediaError(f"cannot read video {path}: {e}") from None


def read_images(paths: list[Path], raster: RasterSettings | None = None,
                limits: ReadLimits | None = None) -> tuple[list[np.ndarray], list | None]:
    """One sample's still frames, and their dates when raster files carry them (else None)."""
    limits = limits or ReadLimits()
    if not any(is_raster(p) for p in paths):
        problem = limits.problem([_image_size(p) for p in paths], f"image {paths[0]}" if len(paths) == 1 else
                                 f"the frames of {paths[0].parent}")
        if problem:
            raise MediaError(problem)
        images = [read_image(p, keep_depth=True) for p in paths]
        if any(image.dtype != np.uint8 for image in images):  # 16-bit PNGs: scaled by their range, as rasters are
            return stretched(images, (raster or RasterSettings()).stretch), None
        return images, None
    try:
        return read_rasters(paths, raster or RasterSettings(), limits)
    except RasterError as e:
        raise MediaError(str(e)) from None


def read_image(path: Path, keep_depth: bool = False) -> np.ndarray:
    """An image as H x W x 3 uint8; with ``keep_depth``, a 16-bit or float image (a 16-bit PNG) as its values, for
    the sample's stretch (Pillow's RGB conversion would clip most of it to white)."""
    try:
        with Image.open(path) as image:
            wide = image.mode.startswith("I") or image.mode == "F"
            return np.asarray(image if keep_depth and wide else image.convert("RGB"))
    except (OSError, ValueError) as e:
        raise MediaError(f"cannot read image {path}: {e}") from None


@dataclass
class Video:
    total: int  # frames in the file
    indices: list[int]  # the frames decoded
    images: np.ndarray  # N x H x W x 3 uint8


def read_video(path: Path, choose: Callable[[int], list[int]], limits: ReadLimits | None = None) -> Video:
    """Open ``path`` once, count its frames, decode the frames ``choose(total)`` picks (repeats allowed) — none
    when its frames, by the stream's header, are larger than ``limits`` allow."""
    if not Path(path).is_file():
        raise MediaError(f"video {path} does not exist")
    if limits is not None:
        try:
            size = _video_size(Path(path))
        except MediaError:  # no readable header: the decoder below says what is wrong
            size = None
        problem = size and limits.problem([size], f"video {path}")
        if problem:
            raise MediaError(problem)
    if decord is not None:
        try:
            reader = decord.VideoReader(str(path), num_threads=1)
        except Exception as e:  # decord raises its own DECORDError or RuntimeError on broken files
            log.debug("decord cannot open %s (%s); trying PyAV", path, e)
        else:
            indices = choose(len(reader))
            try:
                return Video(len(reader), indices, reader.get_batch(indices).asnumpy())
            except Exception as e:
                log.debug("decord cannot read %s (%s); trying PyAV", path, e)
    return read_video_pyav(path, choose)


def read_video_pyav(path: Path, choose: Callable[[int], list[int]]) -> Video:
    """The frame count from the container (or, where it has none, from its packets: demuxed, not decoded), then
    a sequential decode up to the last wanted frame: exact frame indices, whatever the timestamps say."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            total = stream.frames or _count_packets(container, stream)
            indices = choose(total)
            return Video(total, indices, _decode_at(container, indices, path))
    except (av.error.FFmpegError, OSError, ValueError, IndexError) as e:
        raise MediaError(f"cannot decode video {path}: {e}") from None


def _count_packets(container, stream) -> int:
    count = sum(1 for packet in container.demux(stream) if packet.size)
    container.seek(0)
    return count


def _decode_at(container, indices: list[int], path: Path) -> np.ndarray:
    wanted, last = set(indices), max(indices)
    found: dict[int, np.ndarray] = {}
    decoded = 0
    for i, frame in enumerate(container.decode(video=0)):
        decoded = i + 1
        if i in wanted:
            found[i] = frame.to_ndarray(format="rgb24")
        if i >= last:
            break
    missing = sorted(wanted - found.keys())
    if missing:
        raise MediaError(f"video {path} ended before frame {missing[0]} (it has {decoded} decodable frames)")
    return np.stack([found[i] for i in indices])
