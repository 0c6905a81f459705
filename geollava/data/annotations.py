"""Open annotations without copying them twice: a JSON list, JSONL (one record per line), a Parquet or Arrow
file, or a dataset on the Hugging Face hub (`owner/name`, or `owner/name:split`).

A JSON list is parsed once into raw dicts; JSONL keeps only the byte offset of each line and parses a record when
it is asked for, so a 100k-record file costs one small integer per record until it is read. Parquet, Arrow and
hub datasets go through `datasets.load_dataset`, which memory-maps them: a row becomes a dict when it is read.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

TABLE_SUFFIXES = {".parquet": "parquet", ".arrow": "arrow"}
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+(:[\w.-]+)?")


def is_hub_dataset_id(name: str) -> bool:
    """``owner/name`` or ``owner/name:split`` that is not a local path or an annotation file name."""
    suffix = Path(name.split(":")[0]).suffix
    return (bool(_HUB_ID.fullmatch(name)) and not Path(name).exists()
            and suffix not in (".json", ".jsonl", *TABLE_SUFFIXES))


class AnnotationFileError(ValueError):
    """The file as a whole cannot be read (not JSON, or not a list)."""


class RawLineError(ValueError):
    """One JSONL line is not valid JSON; carries the line and column for the report."""

    def __init__(self, path: Path, line: int, column: int, reason: str):
        super().__init__(f"{path}:{line}:{column}: invalid JSON ({reason})")
        self.line, self.column, self.reason = line, column, reason


class Annotations:
    """Random access to the raw records of one annotation file: ``len(a)``, ``a.raw(i)``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.from_hub = is_hub_dataset_id(str(path))
        if not self.from_hub and not self.path.is_file():
            raise AnnotationFileError(f"{self.path}: no such annotation file")
        if self.from_hub or self.path.suffix in TABLE_SUFFIXES:
            self._items, self._offsets = _load_table(str(path), self.from_hub), None
        elif self.path.suffix == ".jsonl":
            self._items, self._offsets = None, _line_offsets(self.path)
        else:
            self._items, self._offsets = _load_json_list(self.path), None

    def __len__(self) -> int:
        return len(self._items) if self._items is not None else len(self._offsets)

    def raw(self, index: int) -> object:
        """The record at ``index`` as parsed JSON; raises RawLineError for a broken JSONL line."""
        if self._items is not None:
            return self._row(self._items[index])
        offset, line_number = self._offsets[index]
        with open(self.path, "rb") as f:
            f.seek(offset)
            line = f.readline().decode("utf-8")
        try:
            return json.loads(line)
        except json.JSONDecodeError as e:
            raise RawLineError(self.path, line_number, e.colno, e.msg) from None

    def _row(self, item):
        """A table gives every row every column (and every metadata field any row has); what a record does not
        have is None there: drop it."""
        if not isinstance(item, dict) or isinstance(self._items, list):
            return item
        row = {k: v for k, v in item.items() if v is not None}
        if isinstance(row.get("metadata"), dict):
            row["metadata"] = {k: v for k, v in row["metadata"].items() if v is not None}
        return row

    def __iter__(self):
        """Sequential reading; for JSONL this streams the file once instead of seeking per record."""
        if self._items is not None:
            yield from map(self._row, self._items)
            return
        wanted = {line for _, line in self._offsets}
        with open(self.path, "rb") as f:
            for line_number, line in enumerate(f, start=1):
                if line_number not in wanted:
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    yield RawLineError(self.path, line_number, e.colno, e.msg)


def _load_table(name: str, from_hub: bool):
    """A `datasets.Dataset` (indexable, rows as dicts): a Parquet / Arrow file, or a hub dataset's split."""
    import datasets

    datasets.disable_progress_bars()
    try:
        if from_hub:
            repo, _, split = name.partition(":")
            return datasets.load_dataset(repo, split=split or "train")
        return datasets.load_dataset(TABLE_SUFFIXES[Path(name).suffix], data_files=name, split="train")
    except Exception as e:  # datasets raises many types (missing repo, schema, arrow errors): all mean "unreadable"
        raise AnnotationFileError(f"{name}: cannot be read as a {'hub dataset' if from_hub else 'table'} "
                                  f"({type(e).__name__}: {e})") from None


def _load_json_list(path: Path) -> list:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise AnnotationFileError(f"{path}:{e.lineno}:{e.colno}: invalid JSON ({e.msg}); "
                                  "fix the file, or write one record per line as .jsonl") from None
    except UnicodeDecodeError as e:
        raise AnnotationFileError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not isinstance(data, list):
        raise AnnotationFileError(f"{path}: top level is a JSON {type(data).__name__}, not a list; "
                                  "write the records as a JSON list [{...}, {...}] or as JSONL")
    return data


def _line_offsets(path: Path) -> list[tuple[int, int]]:
    """(byte offset, 1-based line number) of every non-blank line."""
    offsets, position = [], 0
    with open(path, "rb") as f:
        for line_number, line in enumerate(f, start=1):
            if line.strip():
                offsets.append((position, line_number))
            position += len(line)
    return offsets


def write_annotations(path: str | Path, records: list[dict]) -> None:
    """Write raw records as a JSON list (``.json``) or one per line (``.jsonl``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        if path.suffix == ".jsonl":
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            json.dump(records, f, ensure_ascii=False, indent=1)
            f.write("\n")
