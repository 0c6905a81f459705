"""Where a training step spends memory and time, measured side by side on the CPU (each variant a fresh process):

  1. logits at the labelled positions vs at every position: peak allocated memory and step time of LoRA steps on
     a tiny Qwen2.5-VL whose vocabulary is Qwen's real 152,064 tokens, 8 frames a sample, micro-batch 4 — the
     shape where the 7B plan's largest avoidable row is the logits;
  2. padded vs padding-free micro-batches on a mixture of 8-frame change videos and single task images (a tiny
     LLaVA): real (non-pad) tokens per second over one epoch and the peak memory — padded batches of 8 grouped by
     length, padded batches filled to a token budget, and packed rows filled to the same budget.

    python benchmarks/logits_and_packing.py [--steps 6]

Peak allocated memory is malloc's bytes in use (mallinfo2, sampled every millisecond during training, minus the
value before training) — the CPU's counterpart of torch.cuda.max_memory_allocated, as benchmarks/plan_accuracy.py
measures it. Numbers go to benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QWEN_VOCAB = 152064

RUN = """
import json, sys, torch
sys.path.insert(0, "benchmarks")
from malloc_peak import Peak, libc
from geollava.launch import load_config
from geollava.sft.train import build_trainer
torch.set_num_threads(2)
trainer, _ = build_trainer(load_config({argv!r}))
for p in trainer.model.parameters():  # weights into process memory, as they would sit on a GPU
    p.data = p.data.clone()
libc.malloc_trim(0)
dataset = trainer.train_dataset
with Peak() as peak:
    trainer.train()
log = trainer.state.log_history
print("RESULT", json.dumps({{"peak": peak.allocated, "runtime": log[-1]["train_runtime"],
                             "steps": trainer.state.global_step, "real_tokens": sum(dataset.lengths)}}))
"""


def run(argv: list[str]) -> dict:
    result = subprocess.run([sys.executable, "-c", RUN.format(argv=[str(a) for a in argv])], capture_output=True,
                            text=True, cwd=REPO, timeout=3600)
    line = next((l for l in result.stdout.splitlines() if l.startswith("RESULT")), None)
    if line is None:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(line.split(" ", 1)[1])


def qwen_with_real_vocabulary(folder: Path) -> Path:
    """configs' tiny Qwen2.5-VL with its embeddings and head resized to Qwen's 152,064 tokens."""
    from geollava.families import TinySpec
    from geollava.models.tiny import build_tiny_model
    from geollava.synthetic.captions import tokenizer_corpus
    from transformers import Qwen2_5_VLForConditionalGeneration

    if (folder / "config.json").is_file():
        return folder
    build_tiny_model("qwen2_5_vl", folder, tokenizer_corpus(), TinySpec())
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(folder)
    model.resize_token_embeddings(QWEN_VOCAB)
    model.save_pretrained(folder)
    return folder


def logits(work: Path, steps: int) -> None:
    from geollava.synthetic.generate import generate_split

    data = generate_split(work / "videos", "train", 32, num_frames=8, size=64, seed=0)
    model = qwen_with_real_vocabulary(work / "qwen_152k")
    print(f"\n1. logits at labels vs every position: tiny Qwen2.5-VL, vocabulary {QWEN_VOCAB:,}, 8 frames of 64 px "
          f"(16 visual tokens each), micro-batch 4, LoRA r16, fp32, {steps} steps")
    print("| LM head applied | peak allocated (MiB) | s / step | vs every position |")
    print("|---|---:|---:|---:|")
    measured = {}
    for label, flag in (("every position", "false"), ("labelled positions only", "true")):
        measured[label] = run(["--family", "qwen2_5_vl", "--model_name_or_path", model, "--train_data", data,
                               "--num_frames", 8, "--output_dir", work / f"logits_{flag}",
                               "--per_device_train_batch_size", 4, "--max_steps", steps, "--save_strategy", "no",
                               "--report_to", "none", "--lora_r", 16, "--lora_alpha", 32, "--lora_dropout", 0,
                               "--dataloader_num_workers", 0, "--logits_at_labels", flag,
                               "--train_sampling_strategy", "random", "--logging_steps", 1])
    full = measured["every position"]
    for label, m in measured.items():
        print(f"| {label} | {m['peak'] / 2**20:.0f} | {m['runtime'] / m['steps']:.2f} | "
              f"{m['peak'] / full['peak']:.2f}x memory, {m['runtime'] / full['runtime']:.2f}x time |")


def packing(work: Path) -> None:
    from geollava.synthetic.generate import generate_split
    from geollava.synthetic.tasks import generate_task_split

    videos = generate_split(work / "mix_videos", "train", 48, num_frames=8, size=64, seed=1)
    images = generate_task_split(work / "mix_images", "train", 144, ["scene", "vqa", "refer"], size=64, seed=1)
    budget = 1536
    print(f"\n2. padded vs padding-free on a mixture: 48 change videos (8 frames) + 144 task images, tiny LLaVA "
          f"(16 visual tokens a frame), one epoch; padded: batches of 8 grouped by length; packed: rows filled to "
          f"{budget} tokens")
    print("| micro-batches | steps | real tokens / s | peak allocated (MiB) | vs padded |")
    print("|---|---:|---:|---:|---:|")
    common = [REPO / "configs/tiny.yaml", "--train_data", videos, images, "--num_frames", 8, "--max_steps", -1,
              "--num_train_epochs", 1, "--save_strategy", "no", "--report_to", "none", "--dataloader_num_workers", 0,
              "--prepared_model_dir", work / "llava_tiny", "--logging_steps", 1000]
    padded = run([*common, "--output_dir", work / "padded", "--per_device_train_batch_size", 8])
    budgeted = run([*common, "--output_dir", work / "budgeted", "--max_tokens_per_batch", budget])
    packed = run([*common, "--output_dir", work / "packed", "--padding_free", "true", "--max_tokens_per_batch",
                  budget])
    for label, m in (("padded, 8 a batch", padded), (f"padded, {budget} tokens a batch", budgeted),
                     (f"packed, {budget} tokens a row", packed)):
        rate = m["real_tokens"] / m["runtime"]
        print(f"| {label} | {m['steps']} | {rate:.0f} | {m['peak'] / 2**20:.0f} | "
              f"{rate / (padded['real_tokens'] / padded['runtime']):.2f}x tokens/s, "
              f"{m['peak'] / padded['peak']:.2f}x memory |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--work", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        logits(work, args.steps)
        packing(work)


if __name__ == "__main__":
    main()
