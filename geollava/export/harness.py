"""What another harness calls to ask and score an exported task (lmms-eval's utils.py hooks, VLMEvalKit's
dataset class): the frames and question of a document (documents.py), and its answers scored by this suite's
task entries exactly as `geollava eval --predictions` scores them — same references, metadata, image sizes and
box convention — so a harness's number is ours."""
from __future__ import annotations

import json
import math

from PIL import Image

from ..evaluation.scoring import score_by_task
from ..tasks import ScoreOptions

_SCORED: dict[tuple, dict] = {}  # a harness asks for each metric of one set of answers: they are scored once


def doc_to_visual(doc: dict) -> list[Image.Image]:
    """The frames, in order, as RGB images."""
    return [Image.open(path).convert("RGB") for path in doc["frames"]]


def doc_to_text(doc: dict, prompt_kwargs: dict | None = None) -> str:
    """The question, between a harness's pre_prompt and post_prompt when its config gives them."""
    prompt_kwargs = prompt_kwargs or {}
    return f"{prompt_kwargs.get('pre_prompt', '')}{doc['question']}{prompt_kwargs.get('post_prompt', '')}"


def answer_row(doc: dict, prediction: str) -> dict:
    """One answer with what scoring needs of its document."""
    return {"id": doc["id"], "task": doc["task"], "prediction": prediction.strip(),
            "references": json.loads(doc["references_json"]), "metadata": json.loads(doc["metadata_json"]),
            "image_size": doc.get("image_size"), "model_size": doc.get("model_size"),
            "box_format": doc["box_format"]}


def score_rows(rows: list[dict], meteor: bool = True) -> dict:
    """This suite's metrics of the answers (one task's): its entry of metrics.json."""
    key = (meteor,) + tuple((row["id"], row["prediction"]) for row in rows)
    if key not in _SCORED:
        sizes = {row["id"]: tuple(row["image_size"]) for row in rows if row.get("image_size")}
        model_sizes = {row["id"]: tuple(row["model_size"]) for row in rows if row.get("model_size")}
        formats = {row["box_format"] for row in rows}
        if len(formats) != 1:
            raise ValueError(f"the answers mix box formats {sorted(formats)}: export each model's documents apart")
        options = ScoreOptions(meteor=meteor, box_format=formats.pop())
        tasks, _ = score_by_task(rows, sizes, options, model_sizes)
        (_SCORED[key],) = tasks.values()
    return _SCORED[key]


def metric(scores: dict, dotted: str) -> float:
    """A metric of metrics.json by its dotted name (coco.CIDEr, acc@0.5: keys may hold dots themselves); NaN
    where these answers have none."""
    for key, value in scores.items():
        if dotted == key:
            return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
        if isinstance(value, dict) and dotted.startswith(f"{key}."):
            found = metric(value, dotted[len(key) + 1:])
            if not math.isnan(found):
                return found
    return math.nan


def numeric_metrics(scores: dict, prefix: str = "") -> list[str]:
    """The dotted names of every number in a task's metrics (counts and strings left out)."""
    names = []
    for key, value in scores.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            names += numeric_metrics(value, name + ".")
        elif isinstance(value, float) and key not in ("n",):
            names.append(name)
    return names
