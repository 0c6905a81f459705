"""Padding efficiency (real tokens / processed tokens) with and without length grouping, and the share of step time
spent waiting for data with 2 DataLoader workers — on the tiny model and synthetic data, measured in one run.

    python benchmarks/train_step.py [--steps 40]
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from geollava.launch import load_config
from geollava.synthetic.generate import generate_split
from geollava.sft.train import build_trainer

REPO = Path(__file__).resolve().parents[1]


def mixed_length_set(folder: Path, count: int) -> Path:
    """Synthetic videos whose conversations have 1 to 4 question/answer turns, like instruction data."""
    path = generate_split(folder, "train", count, num_frames=4, size=64, seed=7)
    records = json.loads(path.read_text())
    rng = np.random.default_rng(0)
    for record in records:
        caption = record["conversations"][1]["value"]
        for _ in range(rng.integers(0, 4)):
            record["conversations"] += [{"from": "human", "value": "Describe it again in more detail, please."},
                                        {"from": "gpt", "value": caption + " " + caption}]
    path.write_text(json.dumps(records))
    return path


def trainer_for(data: Path, out: Path, *extra):
    argv = [str(REPO / "configs" / "tiny.yaml"), "--train_data", str(data), "--output_dir", str(out),
            "--report_to", "none", "--per_device_train_batch_size", "8", "--num_frames", "4", *extra]
    trainer, _ = build_trainer(load_config(argv))
    return trainer


def padding_efficiency(trainer) -> float:
    lengths = trainer.train_dataset.lengths
    batch = trainer.args.per_device_train_batch_size
    order = list(iter(trainer._get_train_sampler()))
    real = processed = 0
    for start in range(0, len(order), batch):
        chunk = [lengths[i] for i in order[start:start + batch]]
        real += sum(chunk)
        processed += max(chunk) * len(chunk)
    return real / processed


def data_wait_share(trainer, steps: int) -> tuple[float, float]:
    """(share of wall time blocked on the DataLoader, seconds per step) over ``steps`` optimizer steps."""
    loader = trainer.get_train_dataloader()
    model = trainer.model
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    batches = iter(loader)
    next(batches)  # workers started and warm
    waited, start = 0.0, time.perf_counter()
    for _ in range(steps):
        t0 = time.perf_counter()
        batch = next(batches)
        waited += time.perf_counter() - t0
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    total = time.perf_counter() - start
    return waited / total, total / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the main process computes on one core; the two workers share the rest
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = mixed_length_set(tmp / "data", args.samples)
        random = trainer_for(data, tmp / "r", "--train_sampling_strategy", "random")
        grouped = trainer_for(data, tmp / "g", "--train_sampling_strategy", "group_by_length",
                              "--prepared_model_dir", str(tmp / "r" / "base_model"))
        lengths = random.train_dataset.lengths
        print(f"{len(lengths)} samples, {min(lengths)} to {max(lengths)} tokens, batch 8")
        print("| sampling | padding efficiency (real / processed tokens) |")
        print("|---|---:|")
        print(f"| random | {padding_efficiency(random):.3f} |")
        print(f"| group_by_length | {padding_efficiency(grouped):.3f} |")
        print()
        print("| DataLoader workers | data wait share of step time | s / step |")
        print("|---:|---:|---:|")
        for workers in (0, 2):
            trainer = trainer_for(data, tmp / f"w{workers}", "--dataloader_num_workers", str(workers),
                                  "--prepared_model_dir", str(tmp / "r" / "base_model"))
            share, per_step = data_wait_share(trainer, args.steps)
            print(f"| {workers} | {100 * share:.1f} % | {per_step:.3f} |")


if __name__ == "__main__":
    main()
