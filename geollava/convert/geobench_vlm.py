"""GEOBench-VLM (The-AI-Alliance/GEO-Bench-VLM; HF aialliance/GEOBench-VLM) → multiple_choice records, each
question worded as its inference scripts word it (llava1pt5_cls_single.py: the instruction, cls_description, the
question, "Options: " and the lettered options), images referred to in place.

    ROOT/Single/qa.json     [{"question_id", "task", "image_path": "Single/images/...", "prompts": [5 wordings],
                              "options": "A. Fire B. Tsunami ...", "options_list": [...], "ground_truth",
                              "ground_truth_option": "B", "cls_description"}, ...]
    ROOT/Temporal/qa.json   the same, image_path a list of frames: its scripts show the first and the last
                            ("pre" and "post"), and so do these records

A question is asked with its first wording (the published per-task accuracies match it best; its five wordings
are `metadata.prompts`). `metadata.category` is the task (as released: "Marine Debirs Counting" keeps its
spelling), so the headline — the mean of the per-task accuracies — is the category mean. Ref-Det, Ref-Seg and
Captioning have no published scoring code or file layout, and are not converted (said when found).
"""
from __future__ import annotations

import json
from pathlib import Path

from .common import Conversion

INSTRUCTION = ("For the given the Multiple Choice Question Answer below, analyze the question and answer strictly from "
               "one of the options below. Strictly answer the choice only. No additional text. Provide only the letter "
               "(A., B., C., D. or E.) corresponding to the correct answer for the multiple-choice question given.")
NOT_CONVERTED = ("Ref-Det", "Ref-Seg", "Captioning")


def geobench_question(prompt: str, options: str, cls_description: str) -> str:
    return f"{INSTRUCTION} {cls_description}\n{prompt}\nOptions: {options}"


def convert_geobench_vlm(src: Path, out_dir: Path) -> Conversion:
    conversion = Conversion(out_dir)
    files = [src] if src.is_file() else [src / part / "qa.json" for part in ("Single", "Temporal")]
    root = src.parent.parent if src.is_file() else src
    for part in NOT_CONVERTED:
        if (root / part).exists():
            conversion.skip(f"{part} not converted", f"{root / part}: GEOBench-VLM publishes no scoring code for it")
    found = [f for f in files if f.is_file()]
    if not found:
        raise FileNotFoundError(f"{src}: no Single/qa.json or Temporal/qa.json (give the dataset's root folder or "
                                "one qa.json)")
    for path in found:
        records = [r for r in (record(conversion, root, path, n, row) for n, row in
                               enumerate(json.loads(path.read_text(encoding="utf-8")))) if r]
        conversion.write(f"geobench_vlm_{path.parent.name.lower()}.json", records)
    return conversion


def record(conversion: Conversion, root: Path, path: Path, n: int, row: dict) -> dict | None:
    where = f"{path.parent.name}/qa.json item {n}"
    frames = row.get("image_path")
    frames = [frames] if isinstance(frames, str) else list(frames or [])
    if len(frames) > 2:
        frames = [frames[0], frames[-1]]  # its temporal scripts show the first and the last
    missing = [f for f in frames if not (root / f).is_file()]
    if not frames or missing:
        conversion.skip("missing image", f"{where}: {missing[0] if missing else 'no image_path'}")
        return None
    prompts, options = row.get("prompts") or [], row.get("options_list") or []
    if not prompts or not options:
        conversion.skip("no prompts or options", where)
        return None
    question = geobench_question(prompts[0], str(row.get("options", "")), str(row.get("cls_description") or ""))
    media = {"image": conversion.relative(root / frames[0])} if len(frames) == 1 else \
        {"video": [conversion.relative(root / f) for f in frames]}
    return {"id": f"geobench_{row.get('question_id', n)}", **media, "conversations": [
        {"from": "human", "value": ("<image>\n" if len(frames) == 1 else "<video>\n") + question},
        {"from": "gpt", "value": str(row.get("ground_truth_option", ""))}],
        "metadata": {"task": "multiple_choice", "benchmark": "geobench_vlm",
                     "source_id": str(row.get("question_id", n)), "options": [str(o) for o in options],
                     "category": str(row.get("task", "")), "prompts": prompts,
                     "ground_truth": str(row.get("ground_truth", ""))}}
