"""Does a tiny random LLaVA learn GeoChat's single-image tasks on the CPU? Fine-tunes it on synthetic refer + scene
+ VQA images (`geollava data synth --tasks`), fine-tunes a blind control the same way with every image blanked, and
scores both on held-out images against constant answers (the centre box; the most frequent class / answer):
refer acc@0.5, scene accuracy, VQA accuracy.

    python benchmarks/task_learning.py [--train 3000] [--val 300] [--steps 3000] [--patch 16]

The model is configs/quickstart.yaml's with 16 px patches (16 visual tokens per 64 px image: a box needs a finer
grid than the quickstart's four quadrant patches). Numbers go to benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from geollava.data.dataset import AnnotationDataset
from geollava.data.validate import load_records
from geollava.runs import find_targets, load_target
from geollava.families import get_family
from geollava.evaluation.generate import generate_predictions
from geollava.tasks import Sample, ScoreOptions, get_task
from geollava.evaluation.predictions import load_predictions
from geollava.synthetic.tasks import generate_task_split
from geollava.sft.train import main as train

REPO = Path(__file__).resolve().parents[1]
TASKS = ["refer", "scene", "vqa"]
CENTRE = "{<25><25><75><75>|<0>}"
HEADLINE = {"refer": "acc@0.5", "scene": "accuracy", "vqa": "accuracy"}


def quickstart_argv(data: Path, out: Path, steps: int, *extra) -> list[str]:
    """configs/quickstart.yaml's model trained on data/train.json into ``out`` for ``steps`` steps, logging little
    (its base model built once beside ``out``); ``extra`` keys after."""
    return [str(REPO / "configs" / "quickstart.yaml"), "--train_data", str(data / "train.json"), "--output_dir",
            str(out), "--prepared_model_dir", str(out.parent / "base_model"), "--max_steps", str(steps),
            "--report_to", "none", "--logging_steps", "250", "--disable_tqdm", "true", *extra]


def task_data(work: Path, tasks: list[str], train_count: int, val_count: int) -> Path:
    """``work``/data: synthetic 64 px task images of ``tasks`` (train.json, val.json), made once."""
    data = work / "data"
    if not (data / "val.json").is_file():
        generate_task_split(data, "train", train_count, tasks, size=64, seed=0)
        generate_task_split(data, "val", val_count, tasks, size=64, seed=0)
    return data


def fine_tune(data: Path, out: Path, steps: int, patch: int, *extra) -> Path:
    if (out / "adapter_model.safetensors").is_file():
        return out
    return train(quickstart_argv(data, out, steps, "--tiny_model.patch_size", str(patch), "--num_frames", "1",
                                 "--save_strategy", "no", *extra))


def predict(run: Path, data: Path, max_new_tokens: int = 24) -> dict[str, str]:
    """The run's final model's greedy answers to the held-out records (data/val.json), by id."""
    target = find_targets(str(run), False, None)[-1]
    model, tokenizer, processor = load_target(target)
    dataset = AnnotationDataset(load_records(data / "val.json"), data, get_family(target.family), model.config,
                                   tokenizer, processor, target.prompt, for_generation=True)
    out = run / "val_predictions.jsonl"
    generate_predictions(model, tokenizer, dataset, out, run.name, batch_size=16, max_new_tokens=max_new_tokens,
                         num_workers=0)
    return {row["id"]: row["prediction"] for row in load_predictions(out)}


def constant_answers(data: Path) -> dict[str, str]:
    """The centre box for every refer question, the most frequent training answer of its task for the others."""
    train = load_records(data / "train.json")
    common = {task: Counter(r.answer for r in train if r.task == task).most_common(1)[0][0]
              for task in {r.task for r in train} - {"refer"}}
    return {r.id: CENTRE if r.task == "refer" else common[r.task] for r in load_records(data / "val.json")}


def scores(predictions: dict[str, str], data: Path) -> dict[str, dict]:
    records = load_records(data / "val.json")
    return {task: get_task(task).aggregate([Sample(predictions[r.id], [r.answer], r.metadata)
                                            for r in records if r.task == task], ScoreOptions())[0]
            for task in TASKS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--val", type=int, default=300)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--patch", type=int, default=16)
    parser.add_argument("--work", default=str(REPO / "benchmarks" / "_work" / "task_learning"))
    parser.add_argument("--no-blind", action="store_true", help="skip the blind control (a variant's quick look)")
    args = parser.parse_args()
    work = Path(args.work)
    data = task_data(work, TASKS, args.train, args.val)
    results, timings = {"constant answer": scores(constant_answers(data), data)}, {}
    runs = [("fine-tuned", ())] + ([] if args.no_blind else [("blind control", ("--blank_frames", "true"))])
    for name, extra in runs:
        start = time.perf_counter()
        run = fine_tune(data, work / name.replace(" ", "_"), args.steps, args.patch, *extra)
        timings[name] = time.perf_counter() - start
        results[name] = scores(predict(run, data), data)
    (work / "scores.json").write_text(json.dumps(results, indent=1))
    print(f"{args.train} training images ({', '.join(TASKS)} in turn), {args.val} held out, {args.steps} steps of "
          f"batch 8, patch {args.patch}; fine-tuning time: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    print("| model | refer acc@0.5 | scene accuracy | VQA accuracy | VQA per type |")
    print("|---|---:|---:|---:|---|")
    for name, by_task in results.items():
        per_type = ", ".join(f"{t} {v:.2f}" for t, v in by_task["vqa"]["per_type"].items())
        print(f"| {name} | " + " | ".join(f"{by_task[t][HEADLINE[t]]:.3f}" for t in TASKS) + f" | {per_type} |")


if __name__ == "__main__":
    main()
