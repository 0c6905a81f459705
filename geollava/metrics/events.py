"""The event score: does a caption name the right change — type, count and place? Computed where the references
carry their true events (the synthetic sets' `metadata.events`), because CIDEr alone can be raised by copying the
dates from the prompt without looking at a single pixel.

Per sample: `type` (the change type, "none" included), `count` (construction / demolition only), `quadrant` (any
change but "none"), and `score` = 1 when every field that applies is right.
"""
from __future__ import annotations

from ..synthetic.captions import COUNTED_TYPES, read_event


def event_scores(truths: dict[str, list[dict]], predictions: dict[str, str]) -> tuple[dict, dict[str, dict]]:
    per_sample = {}
    for i, prediction in predictions.items():
        truth = truths[i][0] if truths[i] else {"type": "none", "count": 0, "quadrant": None}
        said = read_event(prediction)
        scores = {"type": float(said["type"] == truth["type"])}
        if truth["type"] in COUNTED_TYPES:
            scores["count"] = float(said["count"] == truth["count"])
        if truth["type"] != "none":
            scores["quadrant"] = float(said["quadrant"] == truth["quadrant"])
        scores["score"] = float(all(scores.values()))
        per_sample[i] = scores
    corpus = {}
    for key in ("score", "type", "count", "quadrant"):
        values = [s[key] for s in per_sample.values() if key in s]
        corpus[key] = sum(values) / len(values) if values else None
    corpus["samples"] = len(per_sample)
    return corpus, per_sample
