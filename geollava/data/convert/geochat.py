"""GeoChat's files → our annotations, each record's task recorded in `metadata.task`.

geochat-instruct   GeoChat_Instruct.json: LLaVA-style records (`image`, multi-turn `conversations`) with task tags
                   in the questions and boxes in the answers; the task of each record is read from them:
                   [refer] → refer, [grounding] → grounding, [identify] → region_caption, boxes in an answer
                   → grounded_description, anything else → conversation.
geochat-eval       GeoChat's evaluation jsonl files, one row per question, for one `--task`:
                   scene           {question_id, image, text, ground_truth}: the prompt is `text` as given, the
                                   classes are read from it ("...classes: A, B, C. Answer ..."); the folder
                                   part of question_id is kept (`ground_truth_folder`): GeoChat scores
                                   against it
                   vqa             {question_id, image, text, ground_truth, type | category}
                   refer, grounding {question_id, image_id, question, ground_truth, type, size_group, ...}: the
                                   prompt as GeoChat's eval builds it ("[refer] Give me the location of <p> q </p>",
                                   "[grounding]q"); a row of type "ref" in a grounding file is a refer record;
                                   ground_truth is a box string or a list of [x1, y1, x2, y2(, angle)]
                   region_caption  {question_id, image_id, question (the box), ground_truth (the name)}: the prompt
                                   "[identify] What is the object present at {box}"
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..boxes import Box, format_boxes, has_box
from .common import Conversion

EVAL_TASKS = ("scene", "vqa", "refer", "grounding", "region_caption")
IMAGE_SUFFIXES = ("", ".png", ".jpg", ".tif")  # GeoChat's bench names images by id; its eval adds .png


def instruct_task(conversations: list[dict]) -> str:
    questions = " ".join(t.get("value", "") for t in conversations if t.get("from") == "human")
    answers = " ".join(t.get("value", "") for t in conversations if t.get("from") == "gpt")
    for tag, task in (("[refer]", "refer"), ("[grounding]", "grounding"), ("[identify]", "region_caption")):
        if tag in questions:
            return task
    return "grounded_description" if has_box(answers) else "conversation"


def convert_geochat_instruct(src: Path, out_dir: Path, images: Path) -> Conversion:
    conversion = Conversion(out_dir)
    data = json.loads(src.read_text())
    if not isinstance(data, list):
        raise ValueError(f"{src}: expected GeoChat_Instruct's JSON list of records")
    records, seen = [], set()
    for n, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("image"), str):
            conversion.skip("no 'image'", f"record {n}")
            continue
        record_id = str(item.get("id", f"geochat_{n}"))
        if record_id in seen:  # GeoChat_Instruct reuses an image's id for its several tasks
            record_id = f"{record_id}_{n}"
        image = _find_image(images, item["image"])
        if image is None:
            conversion.skip("missing image", f"record {n} ({record_id}): {images / item['image']}")
            continue
        seen.add(record_id)
        conversations = item.get("conversations") or []
        records.append({"id": record_id, "image": conversion.relative(image), "conversations": conversations,
                        "metadata": {"task": instruct_task(conversations), "source": "GeoChat_Instruct"}})
    conversion.write("geochat_instruct.json", records)
    return conversion


def convert_geochat_eval(src: Path, out_dir: Path, images: Path, task: str | None) -> Conversion:
    if task not in EVAL_TASKS:
        raise ValueError(f"geochat-eval needs --task, one of {', '.join(EVAL_TASKS)}")
    conversion = Conversion(out_dir)
    records = []
    for n, line in enumerate(src.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            conversion.skip("invalid JSON line", f"line {n}: {e.msg}")
            continue
        record = _eval_record(row, task, images, conversion, n)
        if record is not None:
            records.append(record)
    conversion.write(f"{src.stem}.json", records)
    return conversion


def _eval_record(row: dict, task: str, images: Path, conversion: Conversion, n: int) -> dict | None:
    if "question_id" not in row or "ground_truth" not in row:
        conversion.skip("no question_id or ground_truth", f"line {n}")
        return None
    name = row.get("image", row.get("image_id"))
    image = _find_image(images, str(name)) if name is not None else None
    if image is None:
        conversion.skip("missing image", f"line {n} ({row['question_id']}): {images / str(name)}")
        return None
    metadata = {"task": task, "source": "GeoChat-Bench",
                **{k: row[k] for k in ("dataset", "obj_ids", "type", "category") if k in row}}
    if task == "scene":
        question, answer = row.get("text", ""), str(row["ground_truth"])
        metadata["classes"] = classes_in_prompt(question)
        if "/" in str(row["question_id"]):  # what GeoChat's scene scorer compares with, instead of ground_truth
            metadata["ground_truth_folder"] = str(row["question_id"]).split("/")[0]
    elif task == "vqa":
        question, answer = row.get("text", ""), str(row["ground_truth"])
        if row.get("type") or row.get("category"):
            metadata["question_type"] = str(row.get("type") or row.get("category"))
    elif task == "region_caption":
        question = f"[identify] What is the object present at {row.get('question', '')}"
        answer = str(row["ground_truth"])
    else:
        refer = task == "refer" or row.get("type") == "ref"
        metadata["task"] = "refer" if refer else "grounding"
        question = (f"[refer] Give me the location of <p> {row.get('question', '')} </p>" if refer
                    else f"[grounding]{row.get('question', '')}")
        answer = boxes_text(row["ground_truth"])
        if row.get("size_group") is not None:
            metadata["size_group"] = row["size_group"]
    return {"id": str(row["question_id"]), "image": conversion.relative(image),
            "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": answer}],
            "metadata": metadata}


def classes_in_prompt(text: str) -> list[str]:
    """The class list of a scene prompt: "... classes: A, B, C. Answer ..." → [A, B, C]."""
    match = re.search(r"classes\W*:?\s*(.+?)\.(\s|$)", text, flags=re.S)
    return [c.strip() for c in match.group(1).split(",") if c.strip()] if match else []


def boxes_text(value) -> str:
    """A ground truth as our box string: kept as given when it is one, built from [x1, y1, x2, y2(, angle)]
    lists otherwise (anything else is kept, and `data check` reports it)."""
    if isinstance(value, str):
        return value
    items = value if isinstance(value, list) and value and isinstance(value[0], list) else [value]
    try:
        return format_boxes([Box(*(int(round(float(v))) for v in item)) for item in items])
    except (TypeError, ValueError):
        return str(value)


def _find_image(images: Path, name: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        path = images / f"{name}{suffix}"
        if path.is_file():
            return path
    return None
