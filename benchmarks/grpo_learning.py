"""Does reward fine-tuning (GRPO) after SFT help the tiny model on GeoChat's referring and scene tasks, compared with
continuing SFT for the same wall time? On synthetic refer + scene images (`geollava data synth --tasks`):

  1. SFT: benchmarks/task_learning.py's recipe (configs/quickstart.yaml's model, 16 px patches, batch 8), with a
     constant learning rate so that it can be continued, saving its checkpoint after --sft-steps;
  2. (a) GRPO from that checkpoint for --grpo-steps (configs/tiny_grpo.yaml's keys: rewards task + 0.1 format,
     i.e. box IoU for refer, exact match for scene), timed;
     (b) the SFT run resumed from the same checkpoint for as many more steps as fit in GRPO's wall time;
  3. both, the SFT checkpoint, a blind control (SFT with every image blanked) and constant answers (the centre
     box; the most frequent class), scored on held-out images: refer acc@0.5 and mean IoU, scene accuracy; the
     GRPO reward curves from its train_log.json.

    python benchmarks/grpo_learning.py [--train 3000] [--val 200] [--sft-steps 3000] [--grpo-steps 300]

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
TASKS = ["refer", "scene"]


def sft(data: Path, out: Path, steps: int, patch: int, *extra) -> float:
    """Seconds of an SFT run of ``steps`` (resumed when ``extra`` says so), saving its last step; a finished run
    of a previous invocation is reused."""
    if (out / "geollava_complete.json").is_file():
        return runtime(out)
    start = time.perf_counter()
    train(quickstart_argv(data, out, steps, "--tiny_model.patch_size", str(patch), "--num_frames", "1",
                          "--save_steps", str(steps), "--lr_scheduler_type", "constant_with_warmup", *extra))
    return time.perf_counter() - start


def runtime(run: Path) -> float:
    """The trainer's own seconds of training (no model loading): the Trainer's train_runtime."""
    return next(e["train_runtime"] for e in json.loads((run / "train_log.json").read_text()) if "train_runtime" in e)


def scores(predictions: dict[str, str], data: Path) -> dict[str, float]:
    records = [r for r in load_records(data / "val.json") if r.task in TASKS]
    out = {}
    for task in TASKS:
        summary, _ = get_task(task).aggregate([Sample(predictions[r.id], [r.answer], r.metadata, (64, 64))
                                               for r in records if r.task == task], ScoreOptions())
        out.update({"refer acc@0.5": summary["acc@0.5"], "refer meanIoU": summary["meanIoU"]} if task == "refer"
                   else {"scene accuracy": summary["accuracy"]})
    return out


def reward_curve(run: Path, every: int = 50) -> str:
    log = [e for e in json.loads((run / "train_log.json").read_text()) if "reward" in e]
    rows = [log[i:i + every] for i in range(0, len(log), every)]
    return "; ".join(f"steps {chunk[0]['step']}-{chunk[-1]['step']}: task {mean(chunk, 'rewards/task/mean'):.3f}, "
                     f"format {mean(chunk, 'rewards/format/mean'):.3f}, no signal "
                     f"{mean(chunk, 'frac_reward_zero_std'):.2f}" for chunk in rows)


def mean(entries: list[dict], key: str) -> float:
    return sum(e[key] for e in entries) / len(entries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--val", type=int, default=200)
    parser.add_argument("--sft-steps", type=int, default=3000)
    parser.add_argument("--grpo-steps", type=int, default=300)
    parser.add_argument("--patch", type=int, default=16)
    parser.add_argument("--learning-rate", default="1e-4", help="GRPO's")
    parser.add_argument("--temperature", default="1.0")
    parser.add_argument("--work", default=str(REPO / "benchmarks" / "_work" / "grpo_learning"))
    args = parser.parse_args()
    work = Path(args.work)
    data = task_data(work, TASKS, args.train, args.val)
    s = args.sft_steps
    seconds = {"SFT": sft(data, work / "sft", s, args.patch)}
    seconds["blind control"] = sft(data, work / "blind", s, args.patch, "--blank_frames", "true")
    start = time.perf_counter()
    run = work / f"grpo_lr{args.learning_rate}_t{args.temperature}"
    grpo([str(REPO / "configs" / "tiny_grpo.yaml"), "--init_from", str(work / "sft"), "--train_data",
          str(data / "train.json"), "--output_dir", str(run), "--max_steps", str(args.grpo_steps),
          "--save_strategy", "no", "--report_to", "none", "--per_device_train_batch_size", "16",
          "--learning_rate", args.learning_rate, "--temperature", args.temperature, "--logging_steps", "1",
          "--disable_tqdm", "true"])
    seconds["GRPO"] = time.perf_counter() - start
    sft_rate, grpo_rate = s / runtime(work / "sft"), args.grpo_steps / runtime(run)
    more = max(1, round(runtime(run) * sft_rate))  # the same training time, loading aside
    continued = work / f"sft_continued_{s + more}"
    seconds["SFT continued"] = sft(data, continued, s + more, args.patch, "--resume_from_checkpoint",
                                   str(work / "sft" / f"checkpoint-{s}"))
    results = {"constant answer": scores(constant_answers(data), data)}
    for name, folder in (("SFT", work / "sft"), ("blind control", work / "blind"),
                         (f"SFT continued (+{more} steps)", continued),
                         (f"GRPO (+{args.grpo_steps} steps, lr {args.learning_rate}, T {args.temperature})", run)):
        results[name] = scores(predict(folder, data), data)
    (run / "scores.json").write_text(json.dumps({"results": results, "seconds": seconds}, indent=1))
    print(f"{args.train} training images ({', '.join(TASKS)}), {args.val} held out; SFT {s} steps of batch 8 "
          f"({sft_rate:.1f} steps/s), GRPO {args.grpo_steps} steps of 4 prompts x 4 completions "
          f"({grpo_rate:.2f} steps/s); wall seconds with loading: "
          + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    print("| model | refer acc@0.5 | refer mean IoU | scene accuracy |")
    print("|---|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['refer acc@0.5']:.3f} | {r['refer meanIoU']:.3f} | {r['scene accuracy']:.3f} |")
    print("GRPO rewards (means over 50-step spans):", reward_curve(run))


if __name__ == "__main__":
    main()
