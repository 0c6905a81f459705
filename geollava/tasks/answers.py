"""The three kinds of answer a task can take, each read and scored one way; the task entries build on them.

    ShortAnswerTask   a class or a word / number: GeoChat's rule (lower case, spaces and periods removed) on both
                      sides, exact match; accuracy, and per question type with the mean of the types
    BoxTask           boxes in GeoChat's syntax: every predicted box against every reference box, IoU of the
                      rotated polygons in pixels of the image, matched one to one greedily by descending IoU;
                      acc@0.5 = matched reference boxes / reference boxes (object level); per sample (the reward)
                      over max(reference, predicted) boxes; cumIoU = sum over samples of the area predicted and
                      reference boxes share / the area they cover together
    TextTask          free text: rouge1 / rougeL (rouge_score F with stemming, per sample), METEOR and CIDEr
                      (pycocoevalcap over the task's samples, as for captions)
"""
from __future__ import annotations

from collections import defaultdict

from ..geometry.box_formats import ImageSize, read_boxes
from ..geometry.boxes import GRID, BoxError, parse_boxes
from .base import Answer, Sample, ScoreOptions, Task, box_problems, grouped_accuracy, normalise_answer

THRESHOLD = 0.5
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)  # DIOR-RSVG's Pr@0.5 .. Pr@0.9


class ShortAnswerTask(Task):
    reward_key = "correct"
    rewards = {"exact_match": "correct"}
    max_new_tokens = 256  # GeoChat's evaluation scripts generate up to 256 new tokens for every task
    columns = [("accuracy", "accuracy"), ("average", "average of types"), ("per_type.*", "")]
    group_key = "question_type"

    def parse(self, text: str) -> Answer:
        label = normalise_answer(text.strip())
        return Answer(text.strip(), label=label, parsed=bool(label))

    def truth(self, sample: Sample) -> str:
        """The normalised answer the prediction must equal."""
        return normalise_answer(sample.reference)

    def score(self, sample: Sample) -> dict:
        return {"correct": float(self.parse(sample.prediction).label == self.truth(sample))}

    def aggregate(self, samples: list[Sample], options: ScoreOptions) -> tuple[dict, list[dict]]:
        per_sample = [self.score(s) for s in samples]
        hits = [out["correct"] for out in per_sample]
        summary = {"samples": len(samples), "accuracy": sum(hits) / len(hits) if hits else 0.0}
        if self.group_key:
            summary.update(grouped_accuracy(samples, per_sample, self.group_key))
        return summary, per_sample


def match_polygons(predicted: list, reference: list) -> list[tuple[float, float, float]]:
    """(IoU, intersection, union) per reference polygon, of the predicted polygon matched to it one to one
    (greedy, highest IoU first); (0, 0, its area) where none is left."""
    measured = {(i, j): _overlap(p, r) for i, p in enumerate(predicted) for j, r in enumerate(reference)}
    pairs = sorted(((m[0], i, j) for (i, j), m in measured.items()), reverse=True)
    used_p, best = set(), [(0.0, 0.0, r.area) for r in reference]
    for value, i, j in pairs:
        if value <= 0:
            break
        if i not in used_p and not best[j][0]:
            used_p.add(i)
            best[j] = measured[(i, j)]
    return best


def _overlap(a, b) -> tuple[float, float, float]:
    intersection, union = a.intersection(b).area, a.union(b).area
    return (intersection / union if union else 0.0), intersection, union


def image_size_of(sample: Sample) -> ImageSize:
    width, height = sample.size or (GRID, GRID)
    return ImageSize(width, height, *(sample.model_size or (None, None)))


class BoxTask(Task):
    reward_key = "iou"
    rewards = {"box_iou": "iou", "box_acc50": "acc@0.5"}  # matched IoU per reference box; its 0/1 at 0.5
    max_new_tokens = 256
    needs_image_size = True
    box_fix = "write boxes as {<x1><y1><x2><y2>|<angle>}"

    def problems(self, metadata, questions, answers):
        return [p for a in answers for p in box_problems(a, f"the {self.name} answer", self.box_fix)]

    def parse(self, text: str) -> Answer:
        try:
            boxes = parse_boxes(text)
        except BoxError:
            return Answer(text.strip(), parsed=False)
        return Answer(text.strip(), boxes=boxes, parsed=bool(boxes))

    def score(self, sample: Sample) -> dict:
        """Every box of the prediction (in its model's format) against the reference's, in pixels of the image
        (a record's exact pixel box, `metadata.box_pixels` [x1, y1, x2, y2], where a benchmark gives one)."""
        from shapely.ops import unary_union

        size = image_size_of(sample)
        truth = self.truth_polygons(sample, size)
        predicted = read_boxes(sample.prediction, sample.box_format, size)
        matches = match_polygons(predicted, truth)
        ious = [m[0] for m in matches]
        matched = sum(v >= THRESHOLD for v in ious)
        # per sample (the reward), a box too many costs as much as one too few: listing boxes must not pay
        count = max(len(truth), len(predicted))
        covered, true = unary_union(predicted), unary_union(truth)  # overlapping boxes count their area once
        return {"acc@0.5": matched / count if count else 0.0, "iou": sum(ious) / count if count else 0.0,
                "boxes": len(truth), "predicted": len(predicted), "matched": matched, "no_box": float(not predicted),
                "ious": ious, "intersection": covered.intersection(true).area if truth else 0.0,
                "union": covered.union(true).area if truth else 0.0}

    def well_formed(self, sample: Sample) -> bool:
        """At least one box in the model's own format (the one the sample says)."""
        return bool(read_boxes(sample.prediction, sample.box_format, image_size_of(sample)))

    def truth_polygons(self, sample: Sample, size: ImageSize) -> list:
        exact = sample.metadata.get("box_pixels")
        if exact:
            from shapely.geometry import box as rectangle

            return [rectangle(*exact)]
        return read_boxes(sample.reference, "geochat", size)

    def aggregate(self, samples: list[Sample], options: ScoreOptions) -> tuple[dict, list[dict]]:
        per_sample = [self.score(s) for s in samples]
        rate = lambda pair: pair[0] / pair[1] if pair[1] else 0.0  # noqa: E731
        groups: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        for s, out in zip(samples, per_sample):
            for table, name in self.box_groups(s, out):
                groups[table][name][0] += out["matched"]
                groups[table][name][1] += out["boxes"]
        boxes, matched = sum(o["boxes"] for o in per_sample), sum(o["matched"] for o in per_sample)
        predicted = sum(o["predicted"] for o in per_sample)
        ious = [v for o in per_sample for v in o.pop("ious")]
        summary = {"samples": len(samples), "acc@0.5": rate((matched, boxes)),
                   "acc@0.7": rate((sum(v >= 0.7 for v in ious), boxes)), "objects": boxes,
                   "no_box_predictions": int(sum(o["no_box"] for o in per_sample)),
                   "precision_at": {f"{t:.1f}": rate((sum(v >= t for v in ious), boxes)) for t in THRESHOLDS},
                   "meanIoU": sum(ious) / boxes if boxes else 0.0, "predicted_boxes": predicted,
                   "box_precision@0.5": rate((matched, predicted)),
                   "cumIoU": rate((sum(o["intersection"] for o in per_sample), sum(o["union"] for o in per_sample)))}
        summary.update({table: {k: rate(v) for k, v in sorted(names.items())} for table, names in groups.items()})
        summary["grid"] = "image size" if all(s.size for s in samples) else \
            f"square 100 x 100 for {sum(not s.size for s in samples)} samples without their image"
        return summary, per_sample

    def box_groups(self, sample: Sample, scores: dict) -> list[tuple[str, str]]:
        """(summary table, group) pairs a sample's boxes count in: single- or multi-object."""
        return [("per_objects", "single" if scores["boxes"] == 1 else "multi")]


class TextTask(Task):
    reward_key = "rougeL"
    rewards = {"rougeL": "rougeL"}
    max_new_tokens = 256
    columns = [("rouge1", "ROUGE-1"), ("rougeL", "ROUGE-L"), ("METEOR", "METEOR"), ("CIDEr", "CIDEr")]

    def words(self, text: str) -> str:
        """The text the text scores read."""
        return text

    def score(self, sample: Sample) -> dict:
        rouge = _rouge().score(self.words(sample.reference), self.words(sample.prediction))
        return {"rouge1": rouge["rouge1"].fmeasure, "rougeL": rouge["rougeL"].fmeasure}

    def aggregate(self, samples: list[Sample], options: ScoreOptions) -> tuple[dict, list[dict]]:
        return text_scores(self, samples, [self.score(s) for s in samples], options)


def text_scores(task: TextTask, samples: list[Sample], per_sample: list[dict],
                options: ScoreOptions) -> tuple[dict, list[dict]]:
    """rouge1 / rougeL means and corpus METEOR / CIDEr added to ``per_sample`` (which holds the ROUGE scores)."""
    from ..metrics.coco import coco_scores

    predictions = {str(k): task.words(s.prediction) for k, s in enumerate(samples)}
    references = {str(k): [task.words(s.reference)] for k, s in enumerate(samples)}
    corpus, coco = coco_scores(references, predictions, options.meteor, options.tokenizer)
    for k, out in enumerate(per_sample):
        out.update({name: coco[str(k)][name] for name in ("METEOR", "CIDEr") if name in coco[str(k)]})
    summary = {"samples": len(samples)}
    summary.update({name: sum(out[name] for out in per_sample) / len(per_sample) for name in ("rouge1", "rougeL")})
    summary.update({name: corpus[name] for name in ("METEOR", "CIDEr") if name in corpus})
    summary["tokenizer"] = corpus["tokenizer"]
    return summary, per_sample


_ROUGE = None


def _rouge():
    """rouge_score's scorer, built once at first use (importing it costs ~0.3 s that `data check` need not pay)."""
    global _ROUGE
    if _ROUGE is None:
        from rouge_score import rouge_scorer

        _ROUGE = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    return _ROUGE


def boxes_text(value) -> str:
    """A benchmark's ground truth as a box string: kept as given when it is one, built from [x1, y1, x2, y2(,
    angle)] lists otherwise (anything else is kept, and `data check` reports it)."""
    from ..geometry.boxes import Box, format_boxes

    if isinstance(value, str):
        return value
    items = value if isinstance(value, list) and value and isinstance(value[0], list) else [value]
    try:
        return format_boxes([Box(*(int(round(float(v))) for v in item)) for item in items])
    except (TypeError, ValueError):
        return str(value)
