"""refer — "[refer] Give me the location of <p> the plane </p>" → the phrase's box(es) (GeoChat-Bench's referring
file, GeoChat_Instruct, VRSBench, DIOR-RSVG); optional `metadata.size_group` (small, medium, large) groups the
scores.

Scored on rotated boxes (answers.BoxTask): acc@0.5 and acc@0.7 object level, Pr@0.5..0.9, meanIoU and cumIoU (the
DIOR-RSVG table's, against its exact pixel boxes), per size group, single- and multi-object, and the predictions
with no parseable box counted; the per-sample reward is the mean matched IoU. VRSBench records are also scored by
VRSBench's own protocol (`vrsbench`): the first four integers of the answer on its 0-100 grid, IoU with +1 pixel,
acc@0.5 / acc@0.7 / meanIoU / cumIoU for unique, non-unique and all referring expressions (a model answering in
another box format: its first box moved onto that grid).
"""
from __future__ import annotations

import re

from ..geometry.box_formats import read_boxes
from ..geometry.boxes import GRID, Box, format_boxes
from .answers import BoxTask, boxes_text, image_size_of

SIZE_GROUPS = ("small", "medium", "large")


class Refer(BoxTask):
    name = "refer"
    inherits = ("metadata_for", "question", "reward", "card_boxes")
    summary = "\"[refer] ... <p>phrase</p>\" → the phrase's box(es); optional `metadata.size_group`"
    order = 30
    tag = "[refer]"
    question_form = "[refer] Give me the location of <p> {} </p>"
    question_help = "the phrase to locate, e.g. 'the largest building'"
    columns = [("acc@0.5", "acc@0.5"), ("acc@0.7", "acc@0.7"), ("meanIoU", "meanIoU"), ("cumIoU", "cumIoU"),
               ("per_size.*", "size "), ("per_objects.*", "objects: "), ("no_box_predictions", "no box"),
               ("vrsbench.all.acc@0.5", "VRSBench acc@0.5"), ("vrsbench.all.acc@0.7", "VRSBench acc@0.7")]
    example = {"question": "[refer] Give me the location of <p> the largest building </p>",
               "answer": "{<10><20><40><60>|<0>}", "metadata": {"size_group": "large"},
               "wrong": "{<60><60><90><90>|<0>}"}

    # how a model of each box format is asked to locate a phrase (Qwen's cookbooks; LLaVA-1.5's referring data)
    forms = {"pixels": "Locate {}, output its bbox coordinates using JSON format.",
             "norm1000": "Locate {}, output its bbox coordinates using JSON format.",
             "norm1": "Please provide the bounding box coordinate of the region this sentence describes: {}"}

    def reword(self, question: str, box_format: str, size) -> str:
        phrase = re.search(r"<p>(.*?)</p>", question, flags=re.S)
        if box_format == "geochat" or phrase is None:
            return question
        return self.forms[box_format].format(phrase.group(1).strip())

    def problems(self, metadata, questions, answers):
        problems = super().problems(metadata, questions, answers)
        if metadata.get("size_group") not in (None, *SIZE_GROUPS):
            problems.append(("wrong_size_group", f"metadata.size_group {metadata['size_group']!r} is not one of "
                             f"{', '.join(SIZE_GROUPS)}", "use small, medium or large, or drop the key"))
        return problems

    def aggregate(self, samples, options):
        summary, per_sample = super().aggregate(samples, options)
        vrsbench = [s for s in samples if s.metadata.get("benchmark") == "vrsbench"]
        if vrsbench:
            summary["vrsbench"] = vrsbench_scores(vrsbench)
        return summary, per_sample

    def box_groups(self, sample, scores):
        groups = super().box_groups(sample, scores)
        if sample.metadata.get("size_group"):
            groups.append(("per_size", sample.metadata["size_group"]))
        return groups

    def synthesize(self, rng, scene):
        candidates = [t for t in scene.things if t.kind != "road"] or scene.things
        if not candidates:
            return self.question("the road"), format_boxes([Box(0, 0, GRID, GRID)]), {}
        kind = candidates[rng.integers(len(candidates))].kind
        target = max((t for t in scene.things if t.kind == kind), key=lambda t: t.area)
        phrase = "the largest " + scene.names[kind].split(" ", 1)[1]
        size_group = "small" if target.area < 0.01 else "medium" if target.area < 0.05 else "large"
        return self.question(phrase), format_boxes([target.box]), {"size_group": size_group}

    def geochat_bench(self, row: dict) -> tuple[str, str, dict]:
        """GeoChat-Bench's referring rows {question_id, image_id, question, ground_truth, size_group, ...}; the
        prompt as GeoChat's eval builds it."""
        metadata = {"size_group": row["size_group"]} if row.get("size_group") is not None else {}
        return self.question_form.format(row.get("question", "")), boxes_text(row["ground_truth"]), metadata


def vrsbench_iou(prediction: str, reference: str) -> tuple[float, float, float] | None:
    """VRSBench's eval_utils.computeIoU on the first four integers of each text, with its +1 pixel convention on
    the 0-100 grid: (IoU, intersection, union); None where its compute_metrics.ipynb takes the row for invalid
    (an answer with fewer than four integers, or a zero union: the exception it catches)."""
    truth, predicted = ([int(v) for v in re.findall(r"\d+", text)[:4]] for text in (reference, prediction))
    if len(predicted) < 4:
        return None
    (x1, y1, x2, y2), (x3, y3, x4, y4) = truth, predicted
    inter = max(0, min(x2, x4) - max(x1, x3) + 1) * max(0, min(y2, y4) - max(y1, y3) + 1)
    union = (x2 - x1 + 1) * (y2 - y1 + 1) + (x4 - x3 + 1) * (y4 - y3 + 1) - inter
    return (inter / union, float(inter), float(union)) if union else None


def vrsbench_scores(samples) -> dict:
    """VRSBench's referring table (eval_fianl/compute_metrics.ipynb, cell 5): acc@0.5, acc@0.7 and meanIoU over
    every item, an invalid answer counting 0; cumIoU = Σ intersection / Σ union over the valid items only; for
    unique, non-unique and all expressions (`metadata.unique`)."""
    out = {}
    for name, keep in (("unique", True), ("non_unique", False), ("all", None)):
        chosen = [s for s in samples if keep is None or bool(s.metadata.get("unique")) == keep]
        if not chosen:
            continue
        measured = [vrsbench_iou(on_the_grid(s), s.reference) for s in chosen]
        ious = [m[0] if m else 0.0 for m in measured]
        valid = [m for m in measured if m]
        union = sum(m[2] for m in valid)
        out[name] = {"samples": len(chosen), "invalid": len(chosen) - len(valid),
                     "acc@0.5": sum(v >= 0.5 for v in ious) / len(ious),
                     "acc@0.7": sum(v >= 0.7 for v in ious) / len(ious), "meanIoU": sum(ious) / len(ious),
                     "cumIoU": sum(m[1] for m in valid) / union if union else 0.0}
    return out


def on_the_grid(sample) -> str:
    """The answer as VRSBench's scorer reads it (the first four integers, on its 0-100 grid): a GeoChat-syntax
    answer as it is; another format's first box moved onto that grid."""
    if sample.box_format == "geochat":
        return sample.prediction
    size = image_size_of(sample)
    boxes = read_boxes(sample.prediction, sample.box_format, size)
    if not boxes:
        return ""
    x1, y1, x2, y2 = boxes[0].bounds
    sides = (size.width, size.height, size.width, size.height)
    return "{" + "".join(f"<{round(v * GRID / side)}>" for v, side in zip((x1, y1, x2, y2), sides)) + "}"


TASK = Refer()
