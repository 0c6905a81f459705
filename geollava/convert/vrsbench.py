"""VRSBench's evaluation split (HF xiang709/VRSBench) → one annotation file per task, images referred to in place.

    DIR/VRSBench_EVAL_Cap.json        [{"image_id", "question", "ground_truth", "question_id", "type": "caption"}]
    DIR/VRSBench_EVAL_vqa.json        [{"image_id", "question", "ground_truth", "question_id", "type"}]
    DIR/VRSBench_EVAL_referring.json  [{"image_id", "question", "ground_truth": "{<x1><y1><x2><y2>}",
                                        "question_id", "unique" | "is_unique", "size_group", "obj_cls", ...}]
    DIR/Images_val/<image_id>

Boxes are already on a 0-100 grid. VQA types are grouped as VRSBench's table groups them ("image" and "rural or
urban" into "scene type"); referring keeps the unique / non-unique flag and the size group (empty: medium, as
VRSBench's scorer reads it). Each record says `metadata.benchmark: vrsbench`, so it is also scored by VRSBench's
own protocol (tasks/refer.py, tasks/vqa.py). A record whose image is missing is skipped and counted.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..tasks.image_caption import TASK as CAPTION
from ..tasks.refer import TASK as REFER
from ..tasks.vqa import SUFFIX as VQA_SUFFIX, TASK as VQA
from .common import Conversion

FILES = {"caption": "VRSBench_EVAL_Cap.json", "vqa": "VRSBench_EVAL_vqa.json", "referring": "VRSBench_EVAL_referring.json"}
TASKS = {"caption": CAPTION, "vqa": VQA, "referring": REFER}
SCENE_TYPES = {"image": "scene type", "rural or urban": "scene type"}


def convert_vrsbench(src: Path, out_dir: Path, images: Path | None = None) -> Conversion:
    images = images or src / "Images_val"
    present = [kind for kind, name in FILES.items() if (src / name).is_file()]
    if not present:
        raise FileNotFoundError(f"{src} holds none of {', '.join(FILES.values())}: give VRSBench's folder")
    conversion = Conversion(out_dir)
    for kind in present:
        try:
            rows = json.loads((src / FILES[kind]).read_text())
        except ValueError as e:
            raise ValueError(f"{src / FILES[kind]}: not a JSON file ({e}); VRSBench's files are JSON lists") from None
        records = [r for n, row in enumerate(rows) if (r := _record(kind, row, n, images, conversion)) is not None]
        conversion.write(f"vrsbench_{kind}.json", records)
    return conversion


def _record(kind: str, row: dict, n: int, images: Path, conversion: Conversion) -> dict | None:
    image = images / str(row.get("image_id", ""))
    if not image.is_file():
        conversion.skip("missing image", f"{FILES[kind]} row {n}: {image}")
        return None
    task = TASKS[kind]
    metadata = {"benchmark": "vrsbench", "question_id": row.get("question_id"), "task": task.name}
    question, answer = str(row.get("question", "")), str(row.get("ground_truth", ""))
    if task is VQA:
        metadata["question_type"] = SCENE_TYPES.get(row.get("type"), row.get("type") or "unknown")
        question = f"{question}\n{VQA_SUFFIX}"
    elif task is REFER:
        unique = row.get("is_unique", row.get("unique"))
        if unique in (0, 1):  # True, False, 0, 1; its scorer skips a row flagged otherwise, and so does ours
            metadata["unique"] = bool(unique)
        metadata.update(size_group=row.get("size_group") or "medium", object_class=row.get("obj_cls"))
        question = REFER.question(question)
    return {"id": f"vrsbench_{kind}_{row.get('question_id', n)}", "image": conversion.relative(image),
            "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": answer}],
            "metadata": metadata}
