"""Answers other harnesses logged, read as prediction rows: lmms-eval's `--log_samples` files
(<date>_samples_<task>.jsonl: one line a document, {"doc_id", "target", "filtered_resps", ...} and what the task's
process_results returned, one entry per metric; lmms-eval before 0.7 also kept "doc", its fields but the media)
and VLMEvalKit's prediction files (<model>_<dataset>.xlsx or .tsv: one row a question, with its `index`, the
model's `prediction`, and the record's `id` in a dataset `geollava export vlmevalkit` wrote). Each row's id is the
benchmark's own: the document's `id` or `index` where the log keeps the document, else the id its metric entries
carry (`id`: a task `geollava export lmms-eval` wrote; `question_id` / `index`: XLRS-Bench's) — which `--data`
matches with the record of that id, or the record whose `metadata.source_id` it is (the converters keep the
benchmark's own id there)."""
from __future__ import annotations

from pathlib import Path

ID_KEYS = ("id", "question_id", "index")  # where a logged metric entry names its document


class LogError(ValueError):
    """A logged file this suite cannot match with records (predictions.py reports it as a PredictionsError)."""


def is_lmms_eval_sample(item) -> bool:
    return isinstance(item, dict) and "doc_id" in item and "filtered_resps" in item


def lmms_eval_row(item: dict, path: Path, n: int) -> dict:
    """One logged document → {id, prediction}: its filtered response (the first, where it logged several)."""
    identity = logged_id(item)
    if identity is None:
        raise LogError(f"{path}: line {n + 1} (doc_id {item.get('doc_id')}): it names no document id (no doc "
                               "with an id or index, no metric entry with an id, question_id or index), so it "
                               "cannot be matched with a record; rescoring needs a task that logs one (the tasks "
                               "geollava export lmms-eval writes do, XLRS-Bench's do)")
    answer = item["filtered_resps"]
    while isinstance(answer, list):
        answer = answer[0] if answer else ""
    if not isinstance(answer, str):
        raise LogError(f"{path}: line {n + 1} (id {identity}): its filtered response is not text")
    return {"id": str(identity), "prediction": answer, "source": "lmms-eval"}


def logged_id(item: dict):
    """The benchmark's id of a logged document: from the document where the log keeps it, else from the entries
    its task's process_results logged."""
    doc = item.get("doc") or {}
    for key in ("id", "index"):
        if doc.get(key) is not None:
            return doc[key]
    for entry in item.values():
        if isinstance(entry, dict):
            for key in ID_KEYS:
                if entry.get(key) is not None:
                    return entry[key]
    return None


def vlmevalkit_rows(path: Path) -> list[dict]:
    """A VLMEvalKit prediction file's rows → {id, prediction} (its `index` and `prediction` columns)."""
    import pandas as pd

    frame = pd.read_excel(path) if path.suffix == ".xlsx" else pd.read_csv(path, sep="\t")
    missing = [c for c in ("index", "prediction") if c not in frame.columns]
    if missing:
        raise LogError(f"{path}: a VLMEvalKit prediction file has the columns index and prediction; this one "
                               f"lacks {', '.join(missing)} (it has {', '.join(map(str, frame.columns[:8]))})")
    ids = frame["id"] if "id" in frame.columns else frame["index"]  # `id`: a dataset geollava exported
    return [{"id": str(identity), "prediction": "" if pd.isna(answer) else str(answer), "source": "vlmevalkit"}
            for identity, answer in zip(ids, frame["prediction"])]
