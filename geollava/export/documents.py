"""Records as another harness's documents: one flat dict each, with what the harness needs to ask the question
and what this suite needs to score the answer.

    id, task          the record's id and task
    question          its first question as a model is asked it — placeholders out, the frames' dates written
                      out, and boxes asked in the target model's convention (``box_format``) — the text our own
                      evaluation puts after the media
    frames            the image files the model sees, in order: the record's own JPEG / PNG files, else the
                      frames this suite decodes (videos, GeoTIFFs) written as PNGs beside the documents
    answer            the first reference (what a harness shows as the target)
    references_json, metadata_json   the references and task fields, as JSON text (a table column of mixed
                      dicts would not keep one type across records)
    image_size, model_size   (width, height) of the image and of the model's resized image, for box tasks
    box_format        how the answers write boxes

Scoring a harness's answers with these documents is scoring them as `geollava eval` does: the same references,
metadata, sizes and box convention (geollava/export/harness.py).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..data.frames import MediaError, load_frames, sample_indices, still_indices
from ..data.prompt import PromptSettings
from ..data.template import PLACEHOLDERS
from ..data.validate import DataError, load_records
from ..geometry.box_formats import FORMATS, PIXELS_MAX, PIXELS_MIN, ImageSize, pixels_frame_size
from ..tasks import get_task

AS_FILES = (".jpg", ".jpeg", ".png")  # frames a harness opens as they are; anything else is decoded here


class ExportError(ValueError):
    """Data that cannot be exported, with the file, the record and the fix."""


@dataclass
class ExportSettings:
    box_format: str = "geochat"  # the target model's box convention (geometry/box_formats.py)
    num_frames: int = 8  # frames taken from a video or a longer frame list, as `geollava eval --num-frames`
    max_pixels: int = PIXELS_MAX  # the pixels convention: the target processor's max_pixels and min_pixels
    min_pixels: int = PIXELS_MIN
    media_root: str | None = None

    def problems(self) -> list[str]:
        out = []
        if self.box_format not in FORMATS:
            out.append(f"--box-format must be one of {', '.join(FORMATS)}, got {self.box_format!r}")
        if self.num_frames < 1:
            out.append(f"--num-frames must be at least 1, got {self.num_frames}")
        return out


def export_documents(data: str | Path, out: Path, settings: ExportSettings) -> dict[str, list[dict]]:
    """{task: documents} of every record of ``data``; decoded frames written under ``out``/frames. Bad records,
    unlabeled ones (nothing to score) and undecodable media stop the export, each named."""
    if settings.problems():
        raise ExportError("; ".join(settings.problems()))
    media_root = Path(settings.media_root or Path(data).parent)
    try:
        records = load_records(data, media_root, num_frames=settings.num_frames)
    except DataError as e:
        raise ExportError(f"{data}: {e}\nevery exported record needs its media and a reference answer (the "
                          "harness's answers are scored against it)") from None
    by_task: dict[str, list[dict]] = {}
    for record in records:
        try:
            by_task.setdefault(record.task, []).append(document(record, media_root, out, settings))
        except (MediaError, OSError) as e:
            raise ExportError(f"{data}: record {record.id}: its media cannot be read ({e}); fix or drop the "
                              "record, or export fewer frames (--num-frames)") from None
    return by_task


def document(record, media_root: Path, out: Path, settings: ExportSettings) -> dict:
    frames = frame_files(record, media_root, out, settings.num_frames)
    size = image_size(frames[0]) if record.media_kind == "image" else None
    model_size = pixels_frame_size(*size, settings.max_pixels, settings.min_pixels) \
        if size and settings.box_format == "pixels" else None
    references = record.all_references()
    return {"id": record.id, "task": record.task, "question": question_text(record, size, model_size, settings),
            "frames": [str(f) for f in frames], "answer": references[0], "references_json": json.dumps(references),
            "metadata_json": json.dumps(record.metadata, sort_keys=True), "image_size": list(size) if size else None,
            "model_size": list(model_size) if model_size else None, "box_format": settings.box_format}


def question_text(record, size, model_size, settings: ExportSettings) -> str:
    """The first question without media placeholders; in the target's box convention where our evaluation
    rewords it (an image record asked by a model that writes boxes its own way); the frames' dates first."""
    question = PLACEHOLDERS.sub(" ", record.prompt).strip() or PromptSettings().question
    if settings.box_format != "geochat" and record.media_kind == "image":
        model_w, model_h = model_size or size
        question = get_task(record.task).reword(question, settings.box_format, ImageSize(*size, model_w, model_h))
    if record.timestamps and record.media_kind != "image":
        shown = frame_indices(record, settings.num_frames)
        dates = ", ".join(f"Frame {k + 1} ({record.timestamps[i]})" for k, i in enumerate(shown))
        question = f"Frame dates: {dates}\n{question}"
    return question


def frame_indices(record, num_frames: int) -> list[int]:
    if record.media_kind == "video":
        return sample_indices(len(record.timestamps), num_frames)
    return still_indices(record, num_frames)


def frame_files(record, media_root: Path, out: Path, num_frames: int) -> list[Path]:
    """The record's own image files where a harness can open them as they are, else decoded PNGs."""
    paths = [media_root / record.media[i] for i in still_indices(record, num_frames)] \
        if record.media_kind != "video" else []
    if paths and all(p.suffix.lower() in AS_FILES for p in paths):
        return [p.resolve() for p in paths]
    frames = load_frames(record, media_root, num_frames)
    folder = (out / "frames" / safe_name(record.id)).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for k, pixels in enumerate(frames.images):
        written.append(folder / f"{k:03d}.png")
        Image.fromarray(pixels).save(written[-1])
    return written


def image_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as picture:
        return picture.size


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
