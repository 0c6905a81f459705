"""The quickstart's fine-tuning with and without `pixel_cache` (each sample decoded and preprocessed once per run
instead of once per epoch), measured side by side in one run: the quickstart's config and data, the same steps.

    python benchmarks/pixel_cache.py [--steps 500] [--rounds 2]

Each round trains three runs: without the cache; with an empty cache, which it fills during the first epoch
(2,000 samples / batch 8 = 250 steps); and again with that cache full. It prints steps/s of each, the ratios, and
what they mean for the quickstart's 3,500 steps (14 epochs: one fills the cache, 13 read it).
"""
from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from geollava.launch import load_config
from geollava.sft.train import build_trainer

REPO = Path(__file__).resolve().parents[1]


def steps_per_second(data: Path, out: Path, steps: int, cache: str) -> float:
    argv = [str(REPO / "configs" / "quickstart.yaml"), "--train_data", str(data), "--output_dir", str(out),
            "--prepared_model_dir", str(out.parent / "base_model"), "--report_to", "none", "--max_steps", str(steps),
            "--save_strategy", "no", "--logging_steps", str(steps), "--disable_tqdm", "true",
            "--pixel_cache", str(cache != "none").lower()]
    if cache != "full":
        shutil.rmtree(out, ignore_errors=True)
    trainer, _ = build_trainer(load_config(argv))
    start = time.perf_counter()
    trainer.train()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        subprocess.run(["geollava", "data", "synth", "--out", str(data), "--train", "2000", "--val", "0", "--frames",
                        "2", "--size", "64", "--style", "simple", "--seed", "0"], check=True, capture_output=True)
        rates = {"none": [], "empty": [], "full": []}
        for _ in range(args.rounds):
            for cache in rates:  # interleaved, so drift of the machine's speed hits all alike
                rates[cache].append(steps_per_second(data / "train.json", Path(tmp) / "run", args.steps, cache))
    best = {k: max(v) for k, v in rates.items()}
    print(f"machine: {platform.processor() or platform.machine()}, {args.steps} steps of batch 8, best of "
          f"{args.rounds} rounds")
    for name, label in (("none", "decode every epoch"), ("empty", "cache, filled as it goes"), ("full", "cache full")):
        print(f"  {label:<25}: {best[name]:5.1f} steps/s  (rounds: {', '.join(f'{r:.1f}' for r in rates[name])})"
              f"  {best[name] / best['none']:.2f}x")
    before = 3500 / best["none"]
    after = args.steps / best["empty"] + (3500 - args.steps) / best["full"]
    print(f"  quickstart fine-tuning, 3,500 steps: ~{before / 60:.1f} min -> ~{after / 60:.1f} min "
          f"({before / after:.2f}x)")


if __name__ == "__main__":
    main()
