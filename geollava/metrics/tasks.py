"""Scores of GeoChat's single-image tasks: `score_task(task, samples)` gives the task's entry of metrics.json
and one score dict per sample.

    scene, vqa            GeoChat's rule (lower case, spaces and periods removed) on both sides, exact match;
                          scene: accuracy and per class (as the reference writes it) — a GeoChat-Bench record
                          is matched, as GeoChat's scorer does, against its image's folder (the part of
                          question_id before "/", lower-cased: `metadata.ground_truth_folder`); vqa: accuracy over all
                          questions, per question type, and `average` = the mean of the per-type accuracies
                          (GeoChat's and RSVQA's tables average that way)
    refer, grounding      every box of the prediction against every box of the reference: IoU of the rotated
                          polygons, matched one to one greedily by descending IoU; acc@0.5 = matched reference
                          boxes / reference boxes (object level); refer also per size group; single- and
                          multi-object; predictions with no parseable box counted
    region_caption        rouge1 / rougeL (rouge_score F-measure with stemming, averaged per sample), METEOR and
    conversation          CIDEr (pycocoevalcap over the task's samples, as for captions)
    grounded_description  the text scores on the text with its boxes taken out, and the box scores
"""
from __future__ import annotations

from collections import defaultdict

from rouge_score import rouge_scorer

from ..data.boxes import BoxError, iou, parse_boxes, strip_boxes
from ..data.tasks import normalise_answer
from .coco import coco_scores

CLASSIFICATION, BOXES = ("scene", "vqa"), ("refer", "grounding", "grounded_description")
TEXT = ("region_caption", "conversation", "grounded_description")
_ROUGE = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)


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


def score_task(task: str, samples: list[dict], meteor: bool = True, tokenizer: str = "auto") -> tuple[dict, list]:
    """``samples``: {"prediction", "reference", "metadata", optional "size": (width, height)} of one task.
    Returns (the task's scores, one dict of scores per sample in the same order)."""
    if task not in CLASSIFICATION + BOXES + TEXT:
        raise ValueError(f"no scorer for task {task!r}")
    summary, per_sample = {"samples": len(samples)}, [{} for _ in samples]
    if task in CLASSIFICATION:
        summary.update(_classification(task, samples, per_sample))
    if task in BOXES:
        summary.update(_boxes(task, samples, per_sample))
    if task in TEXT:
        summary.update(_text(task, samples, per_sample, meteor, tokenizer))
    return summary, per_sample


def _classification(task: str, samples: list[dict], per_sample: list[dict]) -> dict:
    groups: dict[str, list[float]] = defaultdict(list)
    for s, out in zip(samples, per_sample):
        folder = s["metadata"].get("ground_truth_folder") if task == "scene" else None
        out["correct"] = (float(normalise_answer(s["prediction"]) == folder.lower()) if folder
                          else exact_match(s["prediction"], s["reference"]))
        group = s["metadata"].get("question_type", "?") if task == "vqa" else s["reference"]
        groups[group].append(out["correct"])
    per = {g: sum(v) / len(v) for g, v in sorted(groups.items())}
    hits = [out["correct"] for out in per_sample]
    summary = {"accuracy": sum(hits) / len(hits) if hits else 0.0, ("per_type" if task == "vqa" else "per_class"): per}
    if task == "vqa":
        summary["average"] = sum(per.values()) / len(per) if per else 0.0
    return summary


def _boxes(task: str, samples: list[dict], per_sample: list[dict]) -> dict:
    totals = {"boxes": 0, "matched": 0, "unparseable": 0.0}
    by_size: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_count: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s, out in zip(samples, per_sample):
        one = box_scores(s["prediction"], s["reference"], *s.get("size", (100, 100)))
        out.update({"acc@0.5": one["matched"] / one["boxes"] if one["boxes"] else 0.0, "boxes": one["boxes"],
                    "matched": one["matched"], "no_box": one["unparseable"]})
        for k in totals:
            totals[k] += one[k]
        groups = [(by_count, "single" if one["boxes"] == 1 else "multi")]
        if task == "refer" and s["metadata"].get("size_group"):
            groups.append((by_size, s["metadata"]["size_group"]))
        for table, name in groups:
            table[name][0] += one["matched"]
            table[name][1] += one["boxes"]
    rate = lambda pair: pair[0] / pair[1] if pair[1] else 0.0  # noqa: E731
    summary = {"acc@0.5": rate((totals["matched"], totals["boxes"])), "objects": totals["boxes"],
               "no_box_predictions": int(totals["unparseable"]),
               "per_objects": {k: rate(v) for k, v in sorted(by_count.items())}}
    if by_size:
        summary["per_size"] = {k: rate(v) for k, v in sorted(by_size.items())}
    return summary


def _text(task: str, samples: list[dict], per_sample: list[dict], meteor: bool, tokenizer: str) -> dict:
    words = strip_boxes if task == "grounded_description" else (lambda text: text)
    predictions = {str(k): words(s["prediction"]) for k, s in enumerate(samples)}
    references = {str(k): [words(s["reference"])] for k, s in enumerate(samples)}
    for k, out in enumerate(per_sample):
        rouge = _ROUGE.score(references[str(k)][0], predictions[str(k)])
        out.update({"rouge1": rouge["rouge1"].fmeasure, "rougeL": rouge["rougeL"].fmeasure})
    corpus, coco = coco_scores(references, predictions, meteor, tokenizer)
    for k, out in enumerate(per_sample):
        out.update({name: coco[str(k)][name] for name in ("METEOR", "CIDEr") if name in coco[str(k)]})
    summary = {name: sum(out[name] for out in per_sample) / len(per_sample) for name in ("rouge1", "rougeL")}
    summary.update({name: corpus[name] for name in ("METEOR", "CIDEr") if name in corpus})
    summary["tokenizer"] = corpus["tokenizer"]
    return summary
