"""Does a tiny random LLaVA learn the multiple_choice task on the CPU? Fine-tunes configs/quickstart.yaml's model
on synthetic multiple-choice images (`geollava data synth --tasks multiple_choice`: the dominant land-cover class
among four options, or how many buildings in four ranges), a blind control the same way with every image blanked,
and scores both on held-out images against the most frequent training letter: accuracy overall and per category
(scene, counting), read as VLMEvalKit reads an answer.

    python benchmarks/multiple_choice_learning.py [--train 1500] [--val 200] [--steps 1500] [--patch 16]

Numbers go to benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from geollava.data.validate import load_records
from geollava.tasks import Sample, ScoreOptions, get_task
from task_learning import fine_tune, predict, task_data

REPO = Path(__file__).resolve().parents[1]


def accuracy(predictions: dict[str, str], data: Path) -> dict:
    records = load_records(data / "val.json")
    summary, _ = get_task("multiple_choice").aggregate(
        [Sample(predictions[r.id], [r.answer], r.metadata) for r in records], ScoreOptions())
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=1500)
    parser.add_argument("--val", type=int, default=200)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--patch", type=int, default=16)
    parser.add_argument("--work", default=str(REPO / "benchmarks" / "_work" / "multiple_choice_learning"))
    args = parser.parse_args()
    work = Path(args.work)
    data = task_data(work, ["multiple_choice"], args.train, args.val)
    letter = Counter(r.answer for r in load_records(data / "train.json")).most_common(1)[0][0]
    results = {f"most frequent letter ({letter})": accuracy(
        {r.id: letter for r in load_records(data / "val.json")}, data)}
    timings = {}
    for name, extra in [("fine-tuned", ()), ("blind control", ("--blank_frames", "true"))]:
        start = time.perf_counter()
        run = fine_tune(data, work / name.replace(" ", "_"), args.steps, args.patch, *extra)
        timings[name] = time.perf_counter() - start
        results[name] = accuracy(predict(run, data, max_new_tokens=8), data)
    (work / "scores.json").write_text(json.dumps(results, indent=1))
    print(f"{args.train} training images, {args.val} held out, {args.steps} steps of batch 8, patch {args.patch}; "
          "fine-tuning time: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    print("| model | accuracy | scene | counting | unparsed |")
    print("|---|---:|---:|---:|---:|")
    for name, s in results.items():
        per = s["per_category"]
        print(f"| {name} | {s['accuracy']:.3f} | {per.get('scene', 0):.3f} | {per.get('counting', 0):.3f} | "
              f"{s['unparsed']} |")


if __name__ == "__main__":
    main()
