"""The referring benchmarks' own protocols, each as its reference code computes it, answers that go wrong included
(refer.py reports them beside its own rotated-box scores).

VRSBench (lx709/VRSBench eval_fianl/compute_metrics.ipynb cell 5, eval_utils.computeIoU): the first four integers
of the answer on its 0-100 grid, IoU with +1 pixel; acc@0.5 / acc@0.7 (IoU >= t) and meanIoU over every row, an
answer without four integers (or a zero union) counting 0 there and left out of cumIoU = sum I / sum U; for unique,
non-unique and all expressions. A row whose `unique` flag is not a boolean is skipped, as the notebook skips it.

DIOR-RSVG, three protocols by name:
  rsvg_pytorch  the benchmark's own test loop (ZhanYang-nwpu/RSVG-pytorch main.py@85c3d9f8 Mytest_epoch,
                utils/utils.py@77f58105 bbox_iou): one box per expression (the answer's first), clamped to the
                image (x1, y1 >= 0, x2 <= width, y2 <= height), the ground truth as its 640-pixel letterbox leaves
                it (truncated to whole letterbox pixels), IoU without +1; Pr@0.5..0.9 with IoU > t (strict),
                meanIoU, cumIoU = sum I / sum U. An answer without a box (its model always gives one) counts IoU 0,
                I 0 and U the truth's area
  geobox_r1     GeoBox-R1's evaluation/evaluate_hbb.py (yuchenwu73/GeoBox-R1@ff1c9c42): the first box, not
                clamped, IoU >= t; acc@0.5, acc@0.7, mIoU against the exact box
  geoground     GeoGround's rows as GeoBox-R1 reproduces them (baselines/evaluate/common.py): the first box's
                corners sorted and clipped to [0, width - 1] x [0, height - 1], IoU >= t; acc@0.5, acc@0.7, mIoU
"""
from __future__ import annotations

import math
import re

import numpy as np

from ..geometry.box_formats import first_box_pixels, read_boxes
from ..geometry.boxes import GRID
from .answers import image_size_of

RSVG_SIZE = 640  # RSVG-pytorch's --size: the letterbox its test loop scores in


# -- VRSBench ----------------------------------------------------------------------------------------------------

def vrsbench_iou(prediction: str, reference: str) -> tuple[float, float, float] | None:
    """VRSBench's eval_utils.computeIoU on the first four integers of each text, with its +1 pixel convention on
    the 0-100 grid: (IoU, intersection, union); None where its compute_metrics.ipynb takes the row for invalid
    (fewer than four integers on either side, or a zero union: the exception it catches)."""
    truth, predicted = ([int(v) for v in re.findall(r"\d+", text)[:4]] for text in (reference, prediction))
    if len(predicted) < 4 or len(truth) < 4:
        return None
    (x1, y1, x2, y2), (x3, y3, x4, y4) = truth, predicted
    inter = max(0, min(x2, x4) - max(x1, x3) + 1) * max(0, min(y2, y4) - max(y1, y3) + 1)
    union = (x2 - x1 + 1) * (y2 - y1 + 1) + (x4 - x3 + 1) * (y4 - y3 + 1) - inter
    return (inter / union, float(inter), float(union)) if union else None


def vrsbench_scores(samples) -> dict:
    """VRSBench's referring table for unique, non-unique and all expressions (`metadata.unique`)."""
    flagged = [s for s in samples if s.metadata.get("unique") in (0, 1)]  # True, False, 0, 1: as the notebook
    out = {}
    for name, keep in (("unique", True), ("non_unique", False), ("all", None)):
        chosen = [s for s in flagged if keep is None or bool(s.metadata["unique"]) == keep]
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
    out["skipped_unflagged"] = len(samples) - len(flagged)
    out["reference"] = "lx709/VRSBench eval_fianl/compute_metrics.ipynb (cell 5), eval_fianl/eval_utils.py"
    return out


def on_the_grid(sample) -> str:
    """The answer as VRSBench's scorer reads it (the first four integers, on its 0-100 grid): a GeoChat-syntax
    answer as it is; another format's first box moved onto that grid, truncated as VRSBench truncated its own
    boxes onto it (prepare_eval_all.ipynb: int(x * 100))."""
    if sample.box_format == "geochat":
        return sample.prediction
    size = image_size_of(sample)
    boxes = read_boxes(sample.prediction, sample.box_format, size)
    if not boxes:
        return ""
    x1, y1, x2, y2 = boxes[0].bounds
    sides = (size.width, size.height, size.width, size.height)
    return "{" + "".join(f"<{math.floor(v * GRID / side)}>" for v, side in zip((x1, y1, x2, y2), sides)) + "}"


# -- DIOR-RSVG ---------------------------------------------------------------------------------------------------

def rsvg_truth(box: list[float], width: float, height: float) -> np.ndarray:
    """The ground truth as RSVG-pytorch's test loop scores it: letterboxed to 640 and stored in an integer array
    (data_loader.py: truncated), clamped to [0, 639] (main.py l.459), mapped back (l.470-471)."""
    ratio = RSVG_SIZE / max(width, height)
    dw = (RSVG_SIZE - round(width * ratio)) / 2
    dh = (RSVG_SIZE - round(height * ratio)) / 2
    shift = np.array([dw, dh, dw, dh])
    letterboxed = np.trunc(np.asarray(box, dtype=np.float64) * ratio + shift)
    return ((np.clip(letterboxed, 0, RSVG_SIZE - 1) - shift) / ratio).astype(np.float32)


def corner_iou(a, b, dtype=np.float32) -> tuple[float, float, float]:
    """RSVG-pytorch's bbox_iou (x1y1x2y2, no +1): (IoU, intersection, union), in its float32."""
    a, b = np.asarray(a, dtype), np.asarray(b, dtype)
    inter = max(min(a[2], b[2]) - max(a[0], b[0]), 0) * max(min(a[3], b[3]) - max(a[1], b[1]), 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / (union + dtype(1e-16))), float(inter), float(union)


def clipped_iou(a, b) -> float:
    """GeoBox-R1's IoU (evaluate_hbb.calculate_iou, common.iou): negative sides count 0, no +1."""
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = lambda r: max(0.0, r[2] - r[0]) * max(0.0, r[3] - r[1])  # noqa: E731
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def dior_rsvg_scores(samples) -> dict:
    """The DIOR-RSVG table of each protocol (the module's docstring says how each reads an answer)."""
    rows = []
    for s in samples:
        if s.metadata.get("box_pixels"):
            size = image_size_of(s)
            rows.append((first_box_pixels(s.prediction, s.box_format, size), s.metadata["box_pixels"], size.width,
                         size.height))
    return {"rsvg_pytorch": rsvg_pytorch(rows), "geobox_r1": geobox_r1(rows, clip=False),
            "geoground": geobox_r1(rows, clip=True), "no_box": sum(row[0] is None for row in rows)}


def rsvg_pytorch(rows) -> dict:
    ious, inters, unions = [], [], []
    for predicted, truth, width, height in rows:
        target = rsvg_truth(truth, width, height)
        target[2], target[3] = min(target[2], width), min(target[3], height)
        if predicted is None:
            iou, inter, union = 0.0, 0.0, float((target[2] - target[0]) * (target[3] - target[1]))
        else:
            x1, y1, x2, y2 = predicted
            iou, inter, union = corner_iou([max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)], target)
        ious.append(iou)
        inters.append(inter)
        unions.append(union)
    n = max(len(ious), 1)
    out = {f"Pr@{t}": sum(v > t for v in ious) / n for t in (0.5, 0.6, 0.7, 0.8, 0.9)}
    out.update(meanIoU=sum(ious) / n, cumIoU=sum(inters) / sum(unions) if sum(unions) else 0.0, samples=len(ious),
               reference="ZhanYang-nwpu/RSVG-pytorch main.py@85c3d9f8 (Mytest_epoch), utils/utils.py@77f58105 "
                         "(bbox_iou)")
    return out


def geobox_r1(rows, clip: bool) -> dict:
    ious = []
    for predicted, truth, width, height in rows:
        if predicted is None:
            ious.append(0.0)
            continue
        box = list(predicted)
        if clip:  # common.clip_hbb: corners ordered, then clipped to the image
            (x1, x2), (y1, y2) = sorted((box[0], box[2])), sorted((box[1], box[3]))
            box = [max(0.0, min(width - 1.0, x1)), max(0.0, min(height - 1.0, y1)),
                   max(0.0, min(width - 1.0, x2)), max(0.0, min(height - 1.0, y2))]
        ious.append(clipped_iou(box, [float(v) for v in truth]))
    n = max(len(ious), 1)
    reference = ("yuchenwu73/GeoBox-R1@ff1c9c42 baselines/evaluate/common.py (GeoGround's rows)" if clip else
                 "yuchenwu73/GeoBox-R1@ff1c9c42 evaluation/evaluate_hbb.py")
    return {"acc@0.5": sum(v >= 0.5 for v in ious) / n, "acc@0.7": sum(v >= 0.7 for v in ious) / n,
            "mIoU": sum(ious) / n, "samples": len(ious), "reference": reference}
