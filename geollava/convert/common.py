"""What every converter shares: paths written relative to the output folder (so the annotations work with the
default media root and the media stays where it is), per-record validation before writing, and a summary of
what was skipped and why."""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..data.annotations import write_annotations
from ..data.prompt import CHANGE_QUESTION
from ..data.schema import parse_record
from ..data.validate import check_annotations, media_problems

CHANGE_PROMPT = "<video>\n" + CHANGE_QUESTION


@dataclass
class Conversion:
    out_dir: Path
    skipped: Counter = field(default_factory=Counter)  # reason -> rows
    examples: dict = field(default_factory=dict)  # reason -> first row that had it
    written: dict = field(default_factory=dict)  # file name -> records

    def skip(self, reason: str, row: str) -> None:
        self.skipped[reason] += 1
        self.examples.setdefault(reason, row)

    def jsonl_rows(self, src: Path):
        """(line number, object) of each line of a JSON-lines file; a line that is not JSON is counted and skipped,
        blank lines are passed over."""
        for n, line in enumerate(src.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as e:
                self.skip("invalid JSON line", f"line {n}: {e.msg}")

    def relative(self, path: Path) -> str:
        """``path`` as the annotation writes it: relative to the output folder (the default media root)."""
        return os.path.relpath(Path(path).resolve(), self.out_dir.resolve())

    def keep_valid(self, records: list[dict], require_answer: bool = True) -> list[dict]:
        """Only records that `geollava data check` accepts; the rest are counted with their problem."""
        kept, seen = [], set()
        for raw in records:
            record, problems = parse_record(raw, require_answer)
            problems = problems or media_problems(record, self.out_dir, None, deep=False)
            if problems:
                self.skip(problems[0].code, f"{raw.get('id')}: {problems[0].message}")
            elif raw.get("id") in seen:  # e.g. a source with several rows for one pair: the first is kept
                self.skip("duplicate id", f"{raw.get('id')}: a record with this id was written already")
            else:
                seen.add(raw.get("id"))
                kept.append(raw)
        return kept

    def write(self, name: str, records: list[dict], require_answer: bool = True) -> Path | None:
        records = self.keep_valid(records, require_answer)
        if not records:
            return None
        path = self.out_dir / name
        write_annotations(path, records)
        report = check_annotations(path, self.out_dir, require_answer=require_answer)
        if report.bad:  # keep_valid ran the same checks: this is a bug of the converter, not of the source
            raise RuntimeError(f"{path}: the converter wrote records data check refuses: {report.lines()[:5]}")
        self.written[name] = len(records)
        return path

    def summary(self) -> list[str]:
        lines = [f"{self.out_dir / name}: {count} records" for name, count in self.written.items()]
        for reason, count in self.skipped.most_common():
            lines.append(f"skipped {count} row(s): {reason} (e.g. {self.examples[reason]})")
        if not self.written:
            lines.append("nothing written: every row was skipped")
        return lines
