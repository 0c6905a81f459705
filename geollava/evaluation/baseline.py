"""The constant-caption baseline: the most frequent training caption, predicted for every evaluation sample.
What a model scores without looking at anything; the quickstart's fine-tuned model must beat it.

    geollava baseline --train data/synthetic/train.json --data data/synthetic/val.json --out base.jsonl
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from ..data.validate import load_records
from .predictions import append, prediction_row


def most_frequent_caption(train: str | Path) -> tuple[str, int]:
    """(caption, how often); ties go to the caption seen first."""
    counts = Counter(record.answer for record in load_records(train))
    return counts.most_common(1)[0]


def write_baseline(train: str | Path, data: str | Path, out: str | Path) -> tuple[Path, str]:
    caption, _ = most_frequent_caption(train)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    append(out, [prediction_row(r, caption, "baseline") for r in load_records(data)])
    return out, caption


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="geollava baseline", description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    path, caption = write_baseline(args.train, args.data, args.out)
    print(f"constant caption {caption!r} -> {path}")
