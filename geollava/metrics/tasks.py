"""Scores of GeoChat's single-image tasks, per sample and per task.

    scene, vqa        GeoChat's rule (lower case, spaces and periods removed) on both sides, exact match;
                      scene: accuracy and per class (as the reference writes it); vqa: accuracy over all questions,
                      per question type, and `average` = the mean of the per-type accuracies (GeoChat's and RSVQA's
                      tables average that way)
    refer, grounding  every box of the prediction against every box of the reference: IoU of the rotated polygons,
                      matched one to one greedily by descending IoU; acc@0.5 = matched reference boxes / reference
                      boxes (object level); refer also per size group; single- and multi-object; predictions with
                      no parseable box counted
"""
from __future__ import annotations

from collections import defaultdict

from ..data.boxes import BoxError, iou, parse_boxes
from ..data.tasks import normalise_answer


def exact_match(prediction: str, reference: str) -> float:
    return float(normalise_answer(prediction) == normalise_answer(reference))


def match_boxes(predicted, reference, width: float = 100, height: float = 100, threshold: float = 0.5) -> int:
    """Reference boxes matched one to one (greedy, by descending IoU) by a predicted box with IoU >= threshold."""
    pairs = sorted(((iou(p, r, width, height), i, j) for i, p in enumerate(predicted) for j, r in enumerate(reference)),
                   reverse=True)
    used_p, used_r, matched = set(), set(), 0
    for value, i, j in pairs:
        if value < threshold:
            break
        if i not in used_p and j not in used_r:
            used_p.add(i)
            used_r.add(j)
            matched += 1
    return matched


def box_scores(prediction: str, reference: str, width: float = 100, height: float = 100) -> dict:
    """Per sample: reference boxes, matched ones, and whether the prediction had any parseable box."""
    truth = parse_boxes(reference)
    try:
        predicted = parse_boxes(prediction)
    except BoxError:
        predicted = []
    return {"boxes": len(truth), "matched": match_boxes(predicted, truth, width, height) if predicted else 0,
            "unparseable": float(not predicted)}


def score_task(task: str, samples: list[dict]) -> dict:
    """``samples``: {"prediction", "reference", "metadata", optional "size": (width, height)} of one task."""
    if task in ("scene", "vqa"):
        return _classification(task, samples)
    if task in ("refer", "grounding"):
        return _boxes(task, samples)
    raise ValueError(f"no scorer for task {task!r} here")


def _classification(task: str, samples: list[dict]) -> dict:
    key = "question_type" if task == "vqa" else None
    groups: dict[str, list[float]] = defaultdict(list)
    hits = []
    for s in samples:
        hit = exact_match(s["prediction"], s["reference"])
        hits.append(hit)
        groups[s["metadata"].get(key, "?") if key else s["reference"]].append(hit)
    per = {g: sum(v) / len(v) for g, v in sorted(groups.items())}
    out = {"samples": len(hits), "accuracy": sum(hits) / len(hits) if hits else 0.0,
           ("per_type" if task == "vqa" else "per_class"): per}
    if task == "vqa":
        out["average"] = sum(per.values()) / len(per) if per else 0.0
    return out


def _boxes(task: str, samples: list[dict]) -> dict:
    totals = {"boxes": 0, "matched": 0, "unparseable": 0.0}
    by_size: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_count: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s in samples:
        one = box_scores(s["prediction"], s["reference"], *s.get("size", (100, 100)))
        for k in totals:
            totals[k] += one[k]
        groups = [(by_count, "single" if one["boxes"] == 1 else "multi")]
        if task == "refer" and s["metadata"].get("size_group"):
            groups.append((by_size, s["metadata"]["size_group"]))
        for table, name in groups:
            table[name][0] += one["matched"]
            table[name][1] += one["boxes"]
    rate = lambda pair: pair[0] / pair[1] if pair[1] else 0.0  # noqa: E731
    out = {"samples": len(samples), "acc@0.5": rate((totals["matched"], totals["boxes"])),
           "objects": totals["boxes"], "no_box_predictions": int(totals["unparseable"]),
           "per_objects": {k: rate(v) for k, v in sorted(by_count.items())}}
    if by_size:
        out["per_size"] = {k: rate(v) for k, v in sorted(by_size.items())}
    return out
