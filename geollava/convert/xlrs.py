"""XLRS-Bench-lite (AI9Stars/XLRS-Bench; its multiple-choice VQA) → multiple_choice records, each question worded
as lmms-eval's xlrs-lite task words it (lmms_eval/tasks/xlrs/mcq_utils.py, xlrs_doc_to_text), its images written
out in order (a change question has several).

    DIR/*.parquet   lmms-eval's copy (HF initiacms/XLRS-Bench-lite, split train): index, image (a list of
                    {bytes, path}), question, multi-choice options (a list: "(A) text", ...), answer ("C", or several
                    letters), category ("Counting/Regional counting"), l2-category
    FILE.jsonl|tsv  VLMEvalKit's copy (HF initiacms/XLRS-Bench-lite_VLM): the same fields, image as base64 (one or
                    a list), multi-choice options as one string

Every record says `metadata.benchmark: xlrs`: it is scored as both harnesses score it (tasks/multiple_choice.py).
"""
from __future__ import annotations

import base64
import csv
import io
import json
import re
import sys
from pathlib import Path

from PIL import Image

from ..tasks.multiple_choice import options_in
from .common import Conversion

ONE = ("\nSelect the best answer for the multiple-choice question based on the image. Only respond with the letter "
       "corresponding to the correct answer (A, B, C, D).\nThe answer is:")
SEVERAL = ("\nSelect the best answer(s) for the multiple-choice question based on the image. There may be more than "
           "one correct option. Only respond with the letter(s) corresponding to the correct answer(s) (A, B, C, D), "
           "with multiple choices separated by spaces.The answer(s) is(are):")  # no space before "The": as written
SEVERAL_ANSWERS = "Land use classification/Overall Land use classification"


def xlrs_question(question: str, options: list[str], category: str) -> str:
    """lmms-eval's xlrs_doc_to_text: the question, "The choices are listed below:", the options, the instruction."""
    return (question + "The choices are listed below:\n" + "\n".join(options) + "\n"
            + (SEVERAL if category == SEVERAL_ANSWERS else ONE))


def rows(src: Path, conversion: Conversion):
    """(row label, row) of lmms-eval's parquet files, or of VLMEvalKit's jsonl / tsv file."""
    files = sorted(src.rglob("*.parquet")) if src.is_dir() else [src]
    for path in files:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            for n, row in enumerate(pq.read_table(path).to_pylist()):
                yield f"{path.name} row {n}", row
        elif path.suffix == ".tsv":
            csv.field_size_limit(sys.maxsize)
            with path.open(newline="", encoding="utf-8") as f:
                for n, row in enumerate(csv.DictReader(f, delimiter="\t"), start=2):
                    yield f"{path.name} line {n}", row
        else:
            for n, row in conversion.jsonl_rows(path):
                yield f"{path.name} line {n}", row


def image_bytes(value) -> list[bytes]:
    """A row's images as encoded bytes: HF's {bytes, path} dicts, or base64 strings (one, a list, or a JSON list)."""
    if isinstance(value, str) and value.startswith("["):
        value = json.loads(value)
    items = value if isinstance(value, list) else [value]
    return [item["bytes"] if isinstance(item, dict) else base64.b64decode(item) for item in items if item]


def option_lines(value) -> list[str]:
    """The options as lmms-eval shows them ("(A) text" lines): a list as given, or parsed from VLMEvalKit's string."""
    if isinstance(value, list):
        return [str(v).strip() for v in value]
    text = str(value or "").split("Select the best answer")[0]
    return [line.strip() for line in text.splitlines() if re.match(r"\s*\(?[A-Z][.)]", line)]


def convert_xlrs(src: Path, out_dir: Path) -> Conversion:
    conversion, records = Conversion(out_dir), []
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    for where, row in rows(src, conversion):
        lines = option_lines(row.get("multi-choice options"))
        texts = options_in("\n".join(lines))
        answer = re.sub(r"[^A-Z]", "", str(row.get("answer", "")).upper())
        if not texts:
            conversion.skip("no options", f"{where}: {str(row.get('multi-choice options'))[:60]!r}")
            continue
        try:
            pictures = image_bytes(row.get("image"))
        except (ValueError, KeyError, TypeError) as e:
            conversion.skip("unreadable image", f"{where}: {e}")
            continue
        if not pictures:
            conversion.skip("no image", where)
            continue
        index = str(row.get("index", where))
        paths = [write_image(out_dir / "images", f"xlrs_{index}_{k}", data) for k, data in enumerate(pictures)]
        if None in paths:
            conversion.skip("unreadable image", f"{where}: index {index}")
            continue
        category = str(row.get("category", ""))
        question = xlrs_question(str(row.get("question", "")), lines, category)
        media = {"image": conversion.relative(paths[0])} if len(paths) == 1 else \
            {"video": [conversion.relative(p) for p in paths]}
        records.append({"id": f"xlrs_{index}", **media, "conversations": [
            {"from": "human", "value": ("<image>\n" if len(paths) == 1 else "<video>\n") + question},
            {"from": "gpt", "value": answer}],
            "metadata": {"task": "multiple_choice", "benchmark": "xlrs", "source_id": index, "options": texts,
                         "category": category,
                         "l2_category": str(row.get("l2-category", ""))}})
    conversion.write("xlrs_lite.json", records)
    return conversion


def write_image(folder: Path, stem: str, data: bytes) -> Path | None:
    """The encoded image as it came (its own format), or None when it is no image."""
    try:
        kind = Image.open(io.BytesIO(data)).format
    except (OSError, ValueError):
        return None
    path = folder / f"{stem}.{'jpg' if kind == 'JPEG' else (kind or 'png').lower()}"
    path.write_bytes(data)
    return path

