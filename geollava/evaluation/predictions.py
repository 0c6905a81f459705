"""Predictions files: ours (`predictions.jsonl`: id, prediction, references, checkpoint), appended as generation
goes so a killed run resumes where it stopped; GeoLLaVA's results files (id, video, true, generated) in every
shape its scripts write them — a JSON array, one object per line, an array left open by an interrupted run,
objects back to back without commas; and GeoChat's answer files ({question_id, answer, ...}).

GeoLLaVA's scorer (eval_metrics.py) keeps the text after the first "Answer:" of each prediction; its files are
cleaned the same way here (``geollava_clean``), so that our GeoLLaVA metrics equal what its scorer gives.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path

from ..tasks import DEFAULT_TASK, TASKS
from .external import LogError, is_lmms_eval_sample, lmms_eval_row, vlmevalkit_rows

ANSWER_PREFIX = "Answer:"
log = logging.getLogger(__name__)


class PredictionsError(ValueError):
    pass


def read_done_ids(path: Path) -> set[str]:
    """Ids already generated; a line cut short by a kill is ignored (and regenerated)."""
    if not path.is_file():
        return set()
    done = set()
    for line in read_text(path).splitlines():
        try:
            done.add(json.loads(line)["id"])
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return done


def append(path: Path, rows: list[dict]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()


def drop_partial_last_line(path: Path) -> None:
    """A kill mid-write leaves half a line; cut it so the next append starts on a fresh line."""
    if path.is_file():
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            path.write_bytes(data[:data.rfind(b"\n") + 1])


def prediction_row(record, text: str, label: str) -> dict:
    """One line of predictions.jsonl for ``record``."""
    row = {"id": record.id, "prediction": text, "references": record.all_references(), "checkpoint": label,
           "task": record.task}
    if "events" in record.metadata:
        row["events"] = record.metadata["events"]
    if record.metadata:  # what the task's scorer reads (question type, size group, classes, events)
        row["metadata"] = record.metadata
    return row


def load_predictions(path: str | Path, geollava_clean: bool = True) -> list[dict]:
    """Rows with id, prediction and (when the file has them) references, from our JSONL, GeoLLaVA's results files
    or GeoChat's answer files. A GeoLLaVA row's prediction is cleaned as GeoLLaVA's scorer does unless
    ``geollava_clean`` is False; each row says whether it was (``cleaned``)."""
    path = Path(path)
    if not path.is_file():
        raise PredictionsError(f"predictions file {path} does not exist")
    try:
        raw = vlmevalkit_rows(path) if path.suffix in (".xlsx", ".tsv") else read_objects(read_text(path), path)
        raw = [lmms_eval_row(item, path, n) if is_lmms_eval_sample(item) else item for n, item in enumerate(raw)]
    except LogError as e:
        raise PredictionsError(str(e)) from None
    rows, seen = [], set()
    for n, item in enumerate(raw):
        row = _normalise(item, path, n, geollava_clean)
        if row["id"] in seen:
            raise PredictionsError(f"{path}: record {n}: id {row['id']!r} appears twice (two runs wrote into one "
                                   "folder, as versions before the folder lock could): re-run `geollava eval "
                                   "--checkpoint ...` into that folder — it keeps this file aside and generates "
                                   "afresh — or keep one line per id in the file")
        seen.add(row["id"])
        rows.append(row)
    if not rows:
        raise PredictionsError(f"{path}: no predictions")
    return rows


def read_text(path: Path) -> str:
    """The file as text: UTF-8, a byte-order mark dropped; another encoding is one error naming the byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise PredictionsError(f"{path}: line {line} (byte {e.start}) is not UTF-8 "
                               f"({e.reason}); a predictions file is UTF-8 JSON: re-save it as UTF-8 (or regenerate "
                               "it with geollava eval)") from None


def read_objects(text: str, path: Path) -> list:
    """The JSON objects of ``text`` in order, whatever holds them together: an array (closed or left open by a
    killed run), one per line, or back to back. A last object cut short by a kill is dropped, and said."""
    decoder, objects, position = json.JSONDecoder(), [], 0
    while True:
        while position < len(text) and text[position] in " \t\r\n,[]":
            position += 1
        if position == len(text):
            return objects
        try:
            item, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as e:
            on_last_line = "\n" not in text[position:].strip()
            if not on_last_line and _any_object_after(decoder, text, position + 1):
                line = text.count("\n", 0, e.pos) + 1
                raise PredictionsError(f"{path}: invalid JSON at line {line}, character {e.pos} ({e.msg}); fix "
                                       "that line, or regenerate the file with geollava eval") from None
            log.warning("%s: its last record is cut short (a run killed while writing it): dropped, %d read",
                        path, len(objects))
            return objects
        objects += item if isinstance(item, list) else [item]


def _any_object_after(decoder, text: str, start: int) -> bool:
    """Whether a whole JSON object still starts somewhere after ``start`` (then the text is broken, not cut)."""
    position = text.find("{", start)
    while position != -1:
        try:
            decoder.raw_decode(text, position)
            return True
        except json.JSONDecodeError:
            position = text.find("{", position + 1)
    return False


def geollava_cleaned(text: str) -> str:
    """What GeoLLaVA's eval_metrics.py scores: the text after the first "Answer:", when there is one."""
    return text.split(ANSWER_PREFIX, 1)[1].strip() if ANSWER_PREFIX in text else text


def _normalise(item, path: Path, n: int, geollava_clean: bool = True) -> dict:
    if not isinstance(item, dict):
        raise PredictionsError(f"{path}: record {n} is not an object")
    geochat = "question_id" in item and "answer" in item and "prediction" not in item
    if geochat:  # GeoChat's answer files: their tasks and references come from the question file (--data)
        item = {**item, "id": item["question_id"], "prediction": item["answer"]}
    record_id = item.get("id", item.get("video"))
    if not isinstance(record_id, (str, int)) or str(record_id) == "":
        raise PredictionsError(f"{path}: record {n} has no id (nor a video name to use as one)")
    prediction = item.get("prediction", item.get("generated"))
    if not isinstance(prediction, str):
        raise PredictionsError(f"{path}: record {n} (id {record_id!r}) has no prediction text: expected "
                               "'prediction' (ours) or 'generated' (GeoLLaVA's results format) as a string")
    references = item.get("references", item.get("true"))
    if isinstance(references, str):
        references = [references]
    if references is not None and not (isinstance(references, list) and all(isinstance(r, str) for r in references)):
        raise PredictionsError(f"{path}: record {n} (id {record_id!r}): references must be a string or a list of strings")
    task, metadata = item.get("task", DEFAULT_TASK.name), item.get("metadata") or {}
    if task not in TASKS:
        raise PredictionsError(f"{path}: record {n} (id {record_id!r}): task {task!r} is not one of "
                               f"{', '.join(sorted(TASKS))}")
    if not isinstance(metadata, dict):
        raise PredictionsError(f"{path}: record {n} (id {record_id!r}): metadata must be an object "
                               f"({{\"key\": value}}), got {type(metadata).__name__}")
    cleaned = geollava_clean and "generated" in item and "prediction" not in item
    return {"id": str(record_id), "prediction": geollava_cleaned(prediction) if cleaned else prediction,
            "references": references, "events": item.get("events"), "checkpoint": item.get("checkpoint"),
            "task": task, "metadata": metadata, "cleaned": cleaned,
            "source": item.get("source") or ("geochat" if geochat else "geollava" if "generated" in item else "ours")}


def provenance_path(predictions: Path) -> Path:
    """The file beside a predictions file that says what made it."""
    return predictions.with_name(predictions.stem + ".provenance.json")


def start_or_resume(path: Path, provenance: dict) -> None:
    """Resume ``path`` only when what made it — model weights, prompt settings, decoding, data — is what is asked
    now; else set it aside (named by the time) and start afresh, saying so in one line. A file of an older version
    (no provenance) is set aside too: it may even hold duplicate ids from two runs into one folder."""
    record = provenance_path(path)
    if path.is_file() and path.stat().st_size:
        old = _read_provenance(record)
        if old == provenance:
            return
        differs = ", ".join(k for k in provenance if (old or {}).get(k) != provenance[k]) if old else \
            "not recorded (an older version wrote it)"
        stamp = dt.datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y%m%d-%H%M%S")
        aside, n = path.with_name(f"{path.stem}.stale-{stamp}.jsonl"), 1
        while aside.exists():  # never over another file set aside in the same second
            aside, n = path.with_name(f"{path.stem}.stale-{stamp}-{n}.jsonl"), n + 1
        path.rename(aside)
        if record.is_file():
            record.rename(provenance_path(aside))
        log.warning("%s was made by another model, prompt, decoding or data (%s): kept as %s, generating afresh",
                    path, differs, aside.name)
    partial = record.with_name(record.name + ".partial")  # a kill mid-write leaves the old record, or none
    partial.write_text(json.dumps(provenance, indent=1) + "\n")
    os.replace(partial, record)


def _read_provenance(record: Path) -> dict | None:
    """What a provenance file says; None when there is none or it cannot be read (an older version's file)."""
    try:
        return json.loads(record.read_text())
    except (OSError, ValueError):
        return None
