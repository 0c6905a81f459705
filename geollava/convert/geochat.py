"""GeoChat's files → our annotations, each record's task recorded in `metadata.task`.

geochat-instruct   GeoChat_Instruct.json: LLaVA-style records (`image`, multi-turn `conversations`) with task tags
                   in the questions and boxes in the answers; the task of each record is read from them:
                   [refer] → refer, [grounding] → grounding, [identify] → region_caption, boxes in an answer
                   → grounded_description, anything else → conversation.
geochat-eval       GeoChat's evaluation jsonl files, one row per question, for one `--task`: the id is its
                   question_id, the image its image / image_id; the question, answer and task fields come from
                   the task entry's `geochat_bench` (geollava/tasks/), which words the prompt as GeoChat's eval
                   scripts do.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..tasks import benchmark_tasks, get_task, infer_instruct_task
from .common import Conversion

IMAGE_SUFFIXES = ("", ".png", ".jpg", ".tif")  # GeoChat's bench names images by id; its eval adds .png


def instruct_task(conversations: list[dict]) -> str:
    questions = [t.get("value", "") for t in conversations if t.get("from") == "human"]
    answers = [t.get("value", "") for t in conversations if t.get("from") == "gpt"]
    return infer_instruct_task(questions, answers)


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
    if task not in benchmark_tasks():
        raise ValueError(f"geochat-eval needs --task, one of {', '.join(benchmark_tasks())}")
    conversion = Conversion(out_dir)
    records = []
    for n, row in conversion.jsonl_rows(src):
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
    question, answer, fields = get_task(task).geochat_bench(row)
    metadata = {"task": task, "source": "GeoChat-Bench",
                **{k: row[k] for k in ("dataset", "obj_ids", "type", "category") if k in row}, **fields}
    return {"id": str(row["question_id"]), "image": conversion.relative(image),
            "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": answer}],
            "metadata": metadata}


def _find_image(images: Path, name: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        path = images / f"{name}{suffix}"
        if path.is_file():
            return path
    return None
