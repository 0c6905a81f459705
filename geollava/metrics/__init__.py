"""Scoring captions: `score(references, predictions, ...)` returns the corpus scores for metrics.json and the
per-sample scores, with every metric computed exactly as its reference implementation does."""
from __future__ import annotations

from .coco import coco_scores
from .events import event_scores
from .paper import paper_scores


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
