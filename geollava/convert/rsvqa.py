"""RSVQA (LR: Sentinel-2, HR: USGS aerial) → VQA records, active questions only.

    DIR/{LR|USGS}_split_<split>_questions.json  {"questions": [{"id", "img_id", "type", "question", "answers_ids",
                                                                "active"}]}
    DIR/{LR|USGS}_split_<split>_answers.json    {"answers": [{"id", "question_id", "answer", "active"}]}
    images: --images (default DIR/Images_LR for lr, DIR/Data for hr), `<img_id>.tif`
The prompt is the question with GeoChat's suffix; `type` becomes metadata.question_type (`comp` → comparison).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..tasks.vqa import SUFFIX as VQA_SUFFIX, TASK as VQA
from .common import Conversion

PREFIX = {"lr": "LR", "hr": "USGS"}
IMAGES = {"lr": "Images_LR", "hr": "Data"}
TYPES = {"comp": "comparison"}


def convert_rsvqa(src: Path, out_dir: Path, split: str, resolution: str, images: Path | None) -> Conversion:
    if resolution not in PREFIX:
        raise ValueError(f"--resolution must be lr or hr, got {resolution!r}")
    questions = _load(src / f"{PREFIX[resolution]}_split_{split}_questions.json", "questions")
    answers = {a["id"]: a for a in _load(src / f"{PREFIX[resolution]}_split_{split}_answers.json", "answers")
               if isinstance(a, dict) and "id" in a}
    images = images or src / IMAGES[resolution]
    conversion = Conversion(out_dir)
    records = []
    for q in questions:
        if not q.get("active", True):
            continue  # RSVQA's inactive questions are not part of the benchmark
        answer = next((answers[i]["answer"] for i in q.get("answers_ids", [])
                       if i in answers and answers[i].get("active", True)), None)
        if answer is None:
            conversion.skip("no active answer", f"question {q.get('id')}")
            continue
        image = images / f"{q['img_id']}.tif"
        if not image.is_file():
            conversion.skip("missing image", f"question {q.get('id')}: {image}")
            continue
        qtype = TYPES.get(q.get("type"), q.get("type"))
        records.append({"id": f"rsvqa_{resolution}_{q['id']}", "image": conversion.relative(image),
                        "conversations": [{"from": "human", "value": f"{q['question']}\n{VQA_SUFFIX}"},
                                          {"from": "gpt", "value": str(answer)}],
                        "metadata": {"task": VQA.name, "question_type": qtype, "source": f"RSVQA-{resolution.upper()}",
                                     "img_id": q["img_id"]}})
    conversion.write(f"rsvqa_{resolution}_{split}.json", records)
    return conversion


def _load(path: Path, key: str) -> list:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: DIR must hold RSVQA's *_split_<split>_{key}.json files")
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise ValueError(f"{path}: expected {{\"{key}\": [...]}}")
    return data[key]
