"""Does a tiny random LLaVA learn to answer questions about change (the change_vqa task) on the CPU? Fine-tunes the
quickstart's model on synthetic before/after videos asked yes/no, count, place and type questions about their true
change event (`geollava data synth --tasks change_vqa`), fine-tunes a blind control the same way with every frame
blanked, and scores both on held-out videos against the most frequent training answer of each question type.

    python benchmarks/change_vqa_learning.py [--train 3000] [--val 400] [--steps 3000]

Numbers go to benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from task_learning import predict, quickstart_argv

from geollava.data.validate import load_records
from geollava.synthetic.tasks import generate_task_split
from geollava.tasks import Sample, ScoreOptions, get_task
from geollava.sft.train import main as train

REPO = Path(__file__).resolve().parents[1]
TASK = get_task("change_vqa")


def fine_tune(data: Path, out: Path, steps: int, *extra) -> Path:
    if (out / "adapter_model.safetensors").is_file():
        return out
    return train(quickstart_argv(data, out, steps, "--save_strategy", "no", *extra))


def most_frequent_answers(data: Path) -> dict[str, str]:
    """Each held-out question answered with the most frequent training answer of its question type."""
    answers: dict[str, Counter] = {}
    for r in load_records(data / "train.json"):
        answers.setdefault(r.metadata["question_type"], Counter())[r.answer] += 1
    common = {kind: counter.most_common(1)[0][0] for kind, counter in answers.items()}
    return {r.id: common[r.metadata["question_type"]] for r in load_records(data / "val.json")}


def scores(predictions: dict[str, str], data: Path) -> dict:
    samples = [Sample(predictions[r.id], [r.answer], r.metadata) for r in load_records(data / "val.json")]
    return TASK.aggregate(samples, ScoreOptions())[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--val", type=int, default=400)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--work", default=str(REPO / "benchmarks" / "_work" / "change_vqa_learning"))
    args = parser.parse_args()
    work = Path(args.work)
    data = work / "data"
    if not (data / "val.json").is_file():
        for split, count in (("train", args.train), ("val", args.val)):
            generate_task_split(data, split, count, [TASK.name], size=64, seed=0, frames=2, style="simple")
    results, timings = {"most frequent answer": scores(most_frequent_answers(data), data)}, {}
    for name, extra in (("fine-tuned", ()), ("blind control", ("--blank_frames", "true"))):
        start = time.perf_counter()
        run = fine_tune(data, work / name.replace(" ", "_"), args.steps, *extra)
        timings[name] = time.perf_counter() - start
        results[name] = scores(predict(run, data, max_new_tokens=12), data)
    (work / "scores.json").write_text(json.dumps(results, indent=1))
    types = sorted(results["fine-tuned"]["per_type"])
    print(f"{args.train} training videos (2 frames, 64 px, simple scenes), {args.val} held out, {args.steps} steps of "
          "batch 8; fine-tuning time: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    print("| model | accuracy | mean of types | " + " | ".join(types) + " |")
    print("|---|---:|---:|" + "---:|" * len(types))
    for name, s in results.items():
        print(f"| {name} | {s['accuracy']:.3f} | {s['average']:.3f} | "
              + " | ".join(f"{s['per_type'].get(t, 0):.3f}" for t in types) + " |")


if __name__ == "__main__":
    main()
