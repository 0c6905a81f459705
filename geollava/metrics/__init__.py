"""Scoring: `score(references, predictions, ...)` gives the change-caption scores (corpus and per sample), with
every metric computed exactly as its reference implementation does; `score_by_task(rows)` scores each task of a
mixed set on its own records (change captions here, GeoChat's tasks in tasks.py)."""
from __future__ import annotations

from .coco import coco_scores
from .events import event_scores
from .paper import paper_scores
from .tasks import BOXES as BOX_TASKS, score_task


def score(references: dict[str, list[str]], predictions: dict[str, str], events: dict[str, list] | None = None,
          meteor: bool = True, tokenizer: str = "auto", sbert_model: str | None = None) -> tuple[dict, dict]:
    """``events`` maps ids to their true change events (synthetic sets); the event score is added when given."""
    missing = [i for i in predictions if not references.get(i)]
    if missing:
        raise ValueError(f"{len(missing)} predictions have no reference caption (first: {missing[:3]})")
    corpus, per_sample = coco_scores(references, predictions, meteor, tokenizer)
    corpus = {"coco": corpus}
    corpus["geollava"], paper = paper_scores(references, predictions, sbert_model)
    for i, values in paper.items():
        per_sample[i].update({f"geollava_{k}": v for k, v in values.items()})
    if events is not None:
        corpus["events"], per_event = event_scores(events, predictions)
        for i, values in per_event.items():
            per_sample[i].update({f"event_{k}": v for k, v in values.items()})
    corpus["samples"] = len(predictions)
    corpus["empty_predictions"] = sum(1 for p in predictions.values() if not p.strip())
    return corpus, per_sample


def score_by_task(rows: list[dict], sizes: dict[str, tuple[int, int]] | None = None, meteor: bool = True,
                  tokenizer: str = "auto", sbert_model: str | None = None) -> tuple[dict, dict]:
    """Every task present in ``rows`` (id, prediction, references, task, metadata, events) scored on its own
    records: ({task: scores}, {id: per-sample scores}). ``sizes`` gives the image size of box samples; a box
    sample without one is scored on a square grid."""
    by_task: dict[str, list[dict]] = {}
    for row in rows:
        by_task.setdefault(row.get("task") or "change_caption", []).append(row)
    tasks, per_sample, sizes = {}, {}, sizes or {}
    for task, task_rows in by_task.items():
        if task == "change_caption":
            events = {r["id"]: r["events"] for r in task_rows}
            tasks[task], scored = score({r["id"]: r["references"] for r in task_rows},
                                        {r["id"]: r["prediction"] for r in task_rows},
                                        events if all(e is not None for e in events.values()) else None,
                                        meteor, tokenizer, sbert_model)
            per_sample.update(scored)
            continue
        samples = [{"prediction": r["prediction"], "reference": r["references"][0], "metadata": r.get("metadata") or {},
                    **({"size": sizes[r["id"]]} if r["id"] in sizes else {})} for r in task_rows]
        tasks[task], scored = score_task(task, samples, meteor, tokenizer)
        if task in BOX_TASKS:
            tasks[task]["grid"] = "image size" if all("size" in s for s in samples) else \
                f"square 100 x 100 for {sum('size' not in s for s in samples)} samples without their image"
        per_sample.update({r["id"]: one for r, one in zip(task_rows, scored)})
    return tasks, per_sample
