"""Predictions files: ours (`predictions.jsonl`: id, prediction, references, checkpoint), appended as generation
goes so a killed run resumes where it stopped, and GeoLLaVA's results format (id, video, true, generated)."""
from __future__ import annotations

import json
from pathlib import Path


class PredictionsError(ValueError):
    pass


def read_done_ids(path: Path) -> set[str]:
    """Ids already generated; a line cut short by a kill is ignored (and regenerated)."""
    if not path.is_file():
        return set()
    done = set()
    for line in path.read_text(encoding="utf-8").splitlines():
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
    row = {"id": record.id, "prediction": text, "references": record.all_references(), "checkpoint": label}
    if "events" in record.metadata:
        row["events"] = record.metadata["events"]
    return row


def load_predictions(path: str | Path) -> list[dict]:
    """Rows with id, prediction and (when the file has them) references, from our JSONL or GeoLLaVA's format."""
    path = Path(path)
    if not path.is_file():
        raise PredictionsError(f"predictions file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text) if text.lstrip().startswith("[") else \
            [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as e:
        raise PredictionsError(f"{path}: invalid JSON ({e})") from None
    rows, seen = [], set()
    for n, item in enumerate(raw):
        row = _normalise(item, path, n)
        if row["id"] in seen:
            raise PredictionsError(f"{path}: record {n}: id {row['id']!r} appears twice")
        seen.add(row["id"])
        rows.append(row)
    if not rows:
        raise PredictionsError(f"{path}: no predictions")
    return rows


def _normalise(item, path: Path, n: int) -> dict:
    if not isinstance(item, dict):
        raise PredictionsError(f"{path}: record {n} is not an object")
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
    return {"id": str(record_id), "prediction": prediction, "references": references,
            "events": item.get("events"), "checkpoint": item.get("checkpoint")}
