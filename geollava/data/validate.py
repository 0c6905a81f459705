"""Check every record of an annotation file; the same checks serve `geollava data check` and the training loader.

Fast checks (types, keys, turns, timestamps, placeholders, duplicate ids, media files exist) always run;
``deep`` also decodes every video and image, and compares frame counts with ``num_frames`` and the timestamps.
"""
from __future__ import annotations

import logging
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .annotations import AnnotationFileError, Annotations, RawLineError
from .frames import MediaError, read_images, read_video
from .limits import ReadLimits
from .raster import RasterSettings, is_raster
from .schema import Problem, Record, has_answer, parse_record

log = logging.getLogger(__name__)


class DataError(ValueError):
    """Annotation data that cannot be used as it is."""


@dataclass
class BadRecord:
    index: int
    id: str | None
    problems: list[Problem]

    @property
    def label(self) -> str:
        return f"record {self.index} (id {self.id!r})" if self.id else f"record {self.index} (no id)"


@dataclass
class CheckReport:
    path: Path
    total: int = 0
    good: list[int] = field(default_factory=list)  # positions of the good records in the file
    bad: list[BadRecord] = field(default_factory=list)
    unlabeled: int = 0  # good records with no answer: inference input, nothing to train or score on
    outside: list[str] = field(default_factory=list)  # ids of records whose media reach outside the media root

    def lines(self) -> list[str]:
        out = []
        for bad in self.bad:
            first, *rest = bad.problems
            out.append(f"{self.path}: {bad.label}: {first}")
            out += [f"    also: {p}" for p in rest]
        out.append(f"{self.path}: {self.total} records, {len(self.good)} ok, {len(self.bad)} bad")
        if self.outside:
            shown = ", ".join(self.outside[:5]) + (f" and {len(self.outside) - 5} more" if len(self.outside) > 5 else "")
            out.append(f"{self.path}: {len(self.outside)} of the ok records reach outside the media root (absolute "
                       f"paths or ../): {shown}; allowed, but check that they point where you mean")
        if self.unlabeled:
            out.append(f"{self.path}: {self.unlabeled} of the ok records are unlabeled (no answer): inference input "
                       "for `eval.py --checkpoint CK --data FILE` or `geollava predict --data FILE`; training and "
                       "scoring need answers")
        return out


def check_annotations(path: str | Path | Annotations, media_root: str | Path | None = None,
                      num_frames: int | None = None, deep: bool = False, require_answer: bool = True,
                      check_media: bool = True, raster: RasterSettings | None = None,
                      limits: ReadLimits | None = None) -> CheckReport:
    """Check every record; raises AnnotationFileError only when the file as a whole is unreadable."""
    annotations = path if isinstance(path, Annotations) else Annotations(path)
    if media_root is None and annotations.from_hub:
        raise AnnotationFileError(f"{annotations.path}: a hub dataset has no folder of its own; set media_root "
                                  "(--media-root) to the folder its image and video paths are relative to")
    root = Path(media_root) if media_root is not None else annotations.path.parent
    report = CheckReport(annotations.path, total=len(annotations))
    seen_ids: dict[str, int] = {}
    for index, raw in enumerate(annotations):
        problems = _check_one(raw, root, num_frames, deep, require_answer, check_media, raster, limits)
        record_id = _raw_id(raw)
        if record_id is not None and record_id in seen_ids:
            problems.append(Problem("duplicate_id", f"id also used by record {seen_ids[record_id]}",
                                    "give every record a unique id"))
        elif record_id is not None:
            seen_ids[record_id] = index
        if problems:
            report.bad.append(BadRecord(index, record_id, problems))
        else:
            report.good.append(index)
            report.unlabeled += not has_answer(raw)
            if _reaches_outside(raw, root):
                report.outside.append(record_id or f"record {index}")
    return report


def load_records(path: str | Path, media_root: str | Path | None = None, on_bad_record: str = "error",
                 num_frames: int | None = None, deep: bool = False, require_answer: bool = True,
                 check_media: bool = True, raster: RasterSettings | None = None,
                 limits: ReadLimits | None = None) -> Records:
    """Records for training or evaluation; bad ones stop the run (``error``) or are logged and counted (``skip``).
    ``check_media=False`` for scoring, which reads references and task fields only."""
    if on_bad_record not in ("error", "skip"):
        raise ValueError(f"on_bad_record must be 'error' or 'skip', got {on_bad_record!r}")
    annotations = Annotations(path)
    report = check_annotations(annotations, media_root, num_frames, deep, require_answer, check_media, raster, limits)
    if report.bad and on_bad_record == "error":
        shown = report.lines()[:20]
        raise DataError("\n".join(shown) + f"\nfix these records (`geollava data check {path}` lists them all), "
                        "or set on_bad_record: skip to train without them")
    for bad in report.bad:
        log.warning("skipping %s: %s", bad.label, bad.problems[0])
    if report.bad:
        log.warning("%s: skipped %d of %d records", path, len(report.bad), report.total)
    if not report.good:
        raise DataError(f"{path}: no usable records ({report.total} in the file, {len(report.bad)} bad)")
    return Records(annotations, report.good, require_answer)


class Records(Sequence):
    """The good records of an annotation file, parsed when indexed (the file's raw data is held only once)."""

    def __init__(self, annotations: Annotations, indices: list[int], require_answer: bool = True):
        self.annotations, self.indices, self.require_answer = annotations, indices, require_answer

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Record:
        return parse_record(self.annotations.raw(self.indices[i]), self.require_answer)[0]


def _check_one(raw, root: Path, num_frames, deep, require_answer, check_media=True, raster=None,
               limits=None) -> list[Problem]:
    if isinstance(raw, RawLineError):
        return [Problem("invalid_json", f"line {raw.line}, column {raw.column}: invalid JSON ({raw.reason})",
                        "fix the line so that it holds exactly one JSON object")]
    record, problems = parse_record(raw, require_answer)
    if record is None or not check_media:
        return problems
    return media_problems(record, root, num_frames, deep, raster, limits)


def not_a_media_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as a frame or video (None: it can be opened): missing, a loop of symbolic
    links, a named pipe or a device (reading would block or never end), or a folder that holds no band files."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "does not exist"
    except OSError as e:  # ELOOP: a symbolic link that points back at itself
        return f"cannot be reached ({e.strerror or e}: a loop of symbolic links?)"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return None if is_raster(path) else "is a folder, not an image or a video (a folder of band GeoTIFFs " \
                                             "names them B04.tif ...)"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO), not a file: reading it would wait for a writer"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a file"
    return "is not a regular file"


def media_problems(record: Record, root: Path, num_frames: int | None, deep: bool,
                   raster: RasterSettings | None = None, limits: ReadLimits | None = None) -> list[Problem]:
    missing = [(p, why) for p in record.media if (why := not_a_media_file(root / p))]
    if missing:
        path, why = missing[0]
        return [Problem("media_missing", f"media file {root / path} {why}"
                        + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
                        "check the path in the annotation and --media-root" if why == "does not exist" else
                        "point the annotation at the image or video file itself")]
    if not deep:
        return []
    if record.media_kind == "video":
        return _video_problems(record, root / record.media[0], num_frames, limits or ReadLimits())
    try:  # rasters together: their grids must match; nothing over the limits is decoded
        read_images([root / path for path in record.media], raster, limits)
    except MediaError as e:
        return [Problem("image_unreadable", str(e), "replace the file with a readable PNG / JPEG / GeoTIFF, "
                        "or see the message")]
    if record.media_kind == "frames" and num_frames and len(record.media) < num_frames:
        return [Problem("too_few_frames", f"{len(record.media)} frame images, fewer than the {num_frames} requested",
                        "add frames, lower num_frames, or set pad_frames: true")]
    return []


def _video_problems(record: Record, path: Path, num_frames: int | None, limits: ReadLimits) -> list[Problem]:
    try:
        # the container can index frames that do not decode: decode the first and the last
        total = read_video(path, lambda count: [0, count - 1] if count else [], limits).total
    except MediaError as e:
        return [Problem("video_unreadable", str(e), "re-encode the video (e.g. ffmpeg -i in.mp4 -c:v libx264 out.mp4)")]
    if total == 0:
        return [Problem("video_unreadable", f"video {path} has no decodable frames", "re-encode or replace it")]
    problems = []
    if num_frames and total < num_frames:
        problems.append(Problem("too_few_frames", f"video {path} has {total} frames, fewer than the {num_frames} "
                                "requested", "lower num_frames, or set pad_frames: true to repeat frames"))
    if record.timestamps is not None and len(record.timestamps) != total:
        problems.append(Problem("timestamp_count", f"{len(record.timestamps)} timestamps for the {total} frames "
                                f"of {path}", "give exactly one timestamp per video frame"))
    return problems


def _reaches_outside(raw: dict, root: Path) -> bool:
    """Whether a (valid) record names media by an absolute path or one that climbs out of the media root."""
    media = raw.get("video", raw.get("image"))
    paths = media if isinstance(media, list) else [media]
    inside = root.resolve()
    return any(Path(p).is_absolute() or not (inside / p).resolve().is_relative_to(inside) for p in paths)


def _raw_id(raw) -> str | None:
    if isinstance(raw, dict) and isinstance(raw.get("id"), (str, int)) and not isinstance(raw.get("id"), bool):
        return str(raw["id"]) or None
    return None
