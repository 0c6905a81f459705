"""Answers other harnesses logged, read as prediction rows: lmms-eval's `--log_samples` files
(<date>_samples_<task>.jsonl: one line a document, {"doc_id", "doc": its fields but the media, "target",
"resps", "filtered_resps", ...}) and VLMEvalKit's prediction files (<model>_<dataset>.xlsx or .tsv: one row a
question, with its `index` and the model's `prediction`). Each row's id is the benchmark's own — the document's
`id`, else its `index` (XLRS-Bench, VLMEvalKit's) — which `--data` matches with the record of
that id, or the record whose `metadata.source_id` it is (the converters keep the benchmark's own id there)."""
from __future__ import annotations

from pathlib import Path


class LogError(ValueError):
    """A logged file this suite cannot match with records (predictions.py reports it as a PredictionsError)."""


def is_lmms_eval_sample(item) -> bool:
    return isinstance(item, dict) and "doc_id" in item and "filtered_resps" in item


def lmms_eval_row(item: dict, path: Path, n: int) -> dict:
    """One logged document → {id, prediction}: its filtered response (the first, where it logged several)."""
    doc = item.get("doc") or {}
    identity = doc.get("id", doc.get("index"))
    if identity is None:
        raise LogError(f"{path}: line {n + 1} (doc_id {item.get('doc_id')}): its doc has no id or index, so "
                               "it cannot be matched with a record; rescoring needs a task whose documents carry an "
                               "id or an index (XLRS-Bench's do)")
    answer = item["filtered_resps"]
    while isinstance(answer, list):
        answer = answer[0] if answer else ""
    if not isinstance(answer, str):
        raise LogError(f"{path}: line {n + 1} (id {identity}): its filtered response is not text")
    return {"id": str(identity), "prediction": answer, "source": "lmms-eval"}


def vlmevalkit_rows(path: Path) -> list[dict]:
    """A VLMEvalKit prediction file's rows → {id, prediction} (its `index` and `prediction` columns)."""
    import pandas as pd

    frame = pd.read_excel(path) if path.suffix == ".xlsx" else pd.read_csv(path, sep="\t")
    missing = [c for c in ("index", "prediction") if c not in frame.columns]
    if missing:
        raise LogError(f"{path}: a VLMEvalKit prediction file has the columns index and prediction; this one "
                               f"lacks {', '.join(missing)} (it has {', '.join(map(str, frame.columns[:8]))})")
    return [{"id": str(index), "prediction": "" if pd.isna(answer) else str(answer), "source": "vlmevalkit"}
            for index, answer in zip(frame["index"], frame["prediction"])]
