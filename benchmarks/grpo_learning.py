"""Does reward fine-tuning (GRPO) after SFT help the tiny model, compared with continuing SFT for the same wall
time — and does dynamic sampling (dropping prompt groups whose completions all score alike) make it earn its cost?
On synthetic refer, scene, change_vqa (4-frame videos; its count questions reported apart) and multiple-choice
records (`geollava data synth --tasks`):

  1. SFT: benchmarks/task_learning.py's recipe (configs/quickstart.yaml's model, 16 px patches, batch 8), with a
     constant learning rate so that it can be continued, saving its checkpoint after --sft-steps;
  2. from that checkpoint, for --grpo-steps each (configs/tiny_grpo.yaml's keys: rewards task + 0.1 format — box
     IoU for refer, exact match for the others), timed: (a) GRPO, (b) GRPO with dynamic_sampling (max_resample 3);
     (c) the SFT run resumed from the same checkpoint for as many more steps as fit in (b)'s training time;
  3. all, the SFT checkpoint and constant answers (the centre box; each task's most frequent answer), scored on
     held-out records; the GRPO runs' reward and reward-spread curves from their train_log.json.

    python benchmarks/grpo_learning.py [--train 3000] [--val 400] [--sft-steps 3000] [--grpo-steps 300]

Numbers go to benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


from task_learning import constant_answers, predict, quickstart_argv, task_data

from geollava.grpo.train import main as grpo
from geollava.tasks import Sample, ScoreOptions, get_task
from geollava.data.validate import load_records
from geollava.sft.train import main as train

REPO = Path(__file__).resolve().parents[1]
TASKS = ["refer", "scene", "change_vqa", "multiple_choice"]
FRAMES = "4"  # change_vqa's videos: 4 frames; a single image stays one


def sft(data: Path, out: Path, steps: int, patch: int, *extra) -> float:
    """Seconds of an SFT run of ``steps`` (resumed when ``extra`` says so), saving its last step; a finished run
    of a previous invocation is reused."""
    if (out / "geollava_complete.json").is_file():
        return runtime(out)
    start = time.perf_counter()
    train(quickstart_argv(data, out, steps, "--tiny_model.patch_size", str(patch), "--num_frames", FRAMES,
                          "--save_steps", str(steps), "--lr_scheduler_type", "constant_with_warmup", *extra))
    return time.perf_counter() - start


def runtime(run: Path) -> float:
    """The trainer's own seconds of training (no model loading): the Trainer's train_runtime."""
    return next(e["train_runtime"] for e in json.loads((run / "train_log.json").read_text()) if "train_runtime" in e)


COLUMNS = ["refer acc@0.5", "refer meanIoU", "scene accuracy", "change_vqa accuracy", "change_vqa count",
           "multiple_choice accuracy"]


def scores(predictions: dict[str, str], data: Path) -> dict[str, float]:
    records = [r for r in load_records(data / "val.json") if r.task in TASKS]
    out = {}
    for task in TASKS:
        summary, _ = get_task(task).aggregate([Sample(predictions[r.id], [r.answer], r.metadata, (64, 64))
                                               for r in records if r.task == task], ScoreOptions())
        if task == "refer":
            out.update({"refer acc@0.5": summary["acc@0.5"], "refer meanIoU": summary["meanIoU"]})
        else:
            out[f"{task} accuracy"] = summary["accuracy"]
        if task == "change_vqa":
            out["change_vqa count"] = summary["per_type"]["count"]
    return out


def reward_curve(run: Path, every: int = 100) -> str:
    log = [e for e in json.loads((run / "train_log.json").read_text()) if "reward" in e]
    rows = [log[i:i + every] for i in range(0, len(log), every)]
    return "; ".join(f"steps {chunk[0]['step']}-{chunk[-1]['step']}: task {mean(chunk, 'rewards/task/mean'):.3f}, "
                     f"format {mean(chunk, 'rewards/format/mean'):.3f}, groups without spread "
                     + (f"{mean(chunk, 'dynamic_sampling/groups_without_spread_before'):.2f} before refill, "
                        f"{mean(chunk, 'dynamic_sampling/groups_without_spread'):.2f} after "
                        f"({mean(chunk, 'dynamic_sampling/resample_rounds'):.2f} rounds a step)"
                        if "dynamic_sampling/groups_without_spread" in chunk[0]
                        else f"{mean(chunk, 'frac_reward_zero_std'):.2f}") for chunk in rows)


def mean(entries: list[dict], key: str) -> float:
    return sum(e[key] for e in entries) / len(entries)


def grpo_run(data: Path, work: Path, name: str, args, *extra) -> tuple[Path, float]:
    """A GRPO run from the SFT checkpoint; its folder and wall seconds (reused when already complete)."""
    run = work / name
    if (run / "geollava_complete.json").is_file():
        return run, runtime(run)
    start = time.perf_counter()
    grpo([str(REPO / "configs" / "tiny_grpo.yaml"), "--init_from", str(work / "sft"), "--train_data",
          str(data / "train.json"), "--output_dir", str(run), "--max_steps", str(args.grpo_steps),
          "--save_strategy", "no", "--report_to", "none", "--per_device_train_batch_size", "16",
          "--learning_rate", args.learning_rate, "--temperature", args.temperature, "--logging_steps", "1",
          "--num_frames", FRAMES, "--disable_tqdm", "true", *extra])
    return run, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--val", type=int, default=400)
    parser.add_argument("--sft-steps", type=int, default=3000)
    parser.add_argument("--grpo-steps", type=int, default=300)
    parser.add_argument("--patch", type=int, default=16)
    parser.add_argument("--learning-rate", default="1e-4", help="GRPO's")
    parser.add_argument("--temperature", default="1.0")
    parser.add_argument("--work", default=str(REPO / "benchmarks" / "_work" / "grpo_learning_4tasks"))
    args = parser.parse_args()
    work = Path(args.work)
    data = task_data(work, TASKS, args.train, args.val)
    s = args.sft_steps
    seconds = {"SFT": sft(data, work / "sft", s, args.patch)}
    tag = f"lr{args.learning_rate}_t{args.temperature}"
    plain, seconds["GRPO"] = grpo_run(data, work, f"grpo_{tag}", args)
    dynamic, seconds["GRPO, dynamic sampling"] = grpo_run(data, work, f"grpo_dynamic_{tag}", args,
                                                          "--dynamic_sampling", "true", "--max_resample", "3")
    sft_rate = s / runtime(work / "sft")
    more = max(1, round(runtime(dynamic) * sft_rate))  # the same training time, loading aside
    continued = work / f"sft_continued_{s + more}"
    seconds["SFT continued"] = sft(data, continued, s + more, args.patch, "--resume_from_checkpoint",
                                   str(work / "sft" / f"checkpoint-{s}"))
    results = {"constant answer": scores(constant_answers(data), data)}
    for name, folder in (("SFT", work / "sft"), (f"SFT continued (+{more} steps)", continued),
                         (f"GRPO (+{args.grpo_steps} steps, {runtime(plain):.0f} s)", plain),
                         (f"GRPO, dynamic sampling (+{args.grpo_steps} steps, {runtime(dynamic):.0f} s)", dynamic)):
        results[name] = scores(predict(folder, data), data)
    (work / f"scores_{tag}.json").write_text(json.dumps({"results": results, "seconds": seconds}, indent=1))
    print(f"{args.train} training records ({', '.join(TASKS)}), {args.val} held out; SFT {s} steps of batch 8 "
          f"({sft_rate:.1f} steps/s), GRPO {args.grpo_steps} steps of 4 prompts x 4 completions "
          f"({args.grpo_steps / runtime(plain):.2f} steps/s; with dynamic sampling "
          f"{args.grpo_steps / runtime(dynamic):.2f}); wall seconds with loading: "
          + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    print("| model | " + " | ".join(COLUMNS) + " |")
    print("|---|" + "---:|" * len(COLUMNS))
    for name, r in results.items():
        print(f"| {name} | " + " | ".join(f"{r[c]:.3f}" for c in COLUMNS) + " |")
    for name, run in (("GRPO", plain), ("GRPO, dynamic sampling", dynamic)):
        print(f"{name} rewards (means over 100-step spans):", reward_curve(run))


if __name__ == "__main__":
    main()
