"""Score predictions task by task: each row (a prediction with its record's references, task and metadata) is
scored by its task's entry (geollava/tasks/), and every task of a mixed set on its own records."""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from ..tasks import Sample, ScoreOptions, get_task


def score_by_task(rows: list[dict], sizes: dict[str, tuple[int, int]] | None = None,
                  options: ScoreOptions | None = None, model_sizes: dict[str, tuple[int, int]] | None = None
                  ) -> tuple[dict, dict]:
    """Every task present in ``rows`` (id, prediction, references, task, metadata, events) scored on its own
    records: ({task: scores}, {id: per-sample scores}). ``sizes`` gives the (width, height) of images whose
    boxes are scored (a sample without one is scored on a square grid); ``model_sizes`` the size the model's
    processor resized each to (pixel boxes refer to it); ``options.box_format`` how the predictions write boxes."""
    by_task: dict[str, list[dict]] = {}
    for row in rows:
        by_task.setdefault(row["task"], []).append(row)
    tasks, per_sample, sizes, options = {}, {}, sizes or {}, options or ScoreOptions()
    for name, task_rows in by_task.items():
        samples = [sample_of(row, sizes.get(row["id"]), options.box_format, (model_sizes or {}).get(row["id"]))
                   for row in task_rows]
        tasks[name], scored = get_task(name).aggregate(samples, options)
        tasks[name].setdefault("reference", get_task(name).reference)
        per_sample.update({row["id"]: one for row, one in zip(task_rows, scored)})
    return tasks, per_sample


def sample_of(row: dict, size: tuple[int, int] | None = None, box_format: str = "geochat",
              model_size: tuple[int, int] | None = None) -> Sample:
    """A predictions row as its task scores it; the events of a predictions file without annotations count."""
    metadata = dict(row.get("metadata") or {})
    if row.get("events") is not None:
        metadata.setdefault("events", row["events"])
    return Sample(row["prediction"], row["references"], metadata, size, id=row["id"], box_format=box_format,
                  model_size=model_size)


def take_record_fields(row: dict, record) -> None:
    """The references, task and task fields of a prediction come from its annotation record."""
    row["references"] = record.all_references()
    row["events"] = record.metadata.get("events", row.get("events"))
    row["task"], row["metadata"] = record.task, record.metadata


def image_sizes(records, media_root: str | Path) -> dict[str, tuple[int, int]]:
    """(width, height) of each image whose task scores boxes, from its header, else from the record's
    `metadata.image_size` (a benchmark's annotation gives it: scoring without the images): boxes are drawn on a
    0-100 grid of the image, so a rotated box's shape depends on it."""
    sizes = {}
    for record in records:
        if record.media_kind == "image" and get_task(record.task).needs_image_size:
            try:
                with Image.open(Path(media_root) / record.media[0]) as picture:
                    sizes[record.id] = picture.size
            except OSError:
                declared = record.metadata.get("image_size")
                if declared:
                    sizes[record.id] = (int(declared[0]), int(declared[1]))
    return sizes
