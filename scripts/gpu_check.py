"""One prepared check of the GPU-only paths (run through gpu_check.sh): full-depth 7B models at their released shapes
(geollava model released: the released config, tokenizer, processor and chat template; random bf16 weights made on
the GPU, no download), trained a few steps each through GeoLLaVA's own training code, every run in a process of its
own, recording samples/s, tokens/s, model-FLOPs utilisation and peak GPU memory beside `geollava plan`'s estimate.

    bash scripts/gpu_check.sh                      # every shipped recipe as written (recipe-*), ~12 minutes
    bash scripts/gpu_check.sh --runs variants      # LLaVA-1.5 / Qwen2.5-VL, one change at a time, ~8 minutes
    bash scripts/gpu_check.sh --runs llava-lora,recipe-qwen2_5_vl-qwen2_5_vl --steps 3
    bash scripts/gpu_check.sh --dry-run            # any machine: the matrix, each run's plan and command

The recipes: each configs/*.yaml (each family of lora.yaml / qlora.yaml, GeoChat-7B through lora.yaml) on its
released model at full depth — the matrix tests/models/test_released_recipes.py runs at 1 layer on the CPU.
The variants: LLaVA-1.5-7B and Qwen2.5-VL-7B, LoRA r64 bf16 with logits at the labelled positions (the default),
and one change at a time: full logits, padding-free packing, activation checkpointing, Liger kernels, ZeRO-2,
ZeRO-3, QLoRA. MFU counts 6 x parameters x tokens (the usual convention; LoRA skips the frozen weights' gradients,
so the useful work is nearer 4 x). A model's weights are deleted once its last run is done (64 GB disks).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEAK_BF16_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0, "L40S": 362.0, "A10": 125.0}
MODELS = {"llava": "llava", "qwen": "qwen2_5_vl"}
VARIANTS = {  # one change at a time from LoRA r64, bf16, logits at labels, sdpa, no checkpointing, no DeepSpeed
    "lora": [], "full-logits": ["--logits_at_labels", "false"],
    "packed": ["--padding_free", "true", "--max_tokens_per_batch", "{budget}"],
    "checkpointed": ["--activation_checkpointing", "true"], "liger": ["--use_liger_kernel", "true"],
    "zero2": ["--deepspeed", "configs/deepspeed/zero2.json"], "zero3": ["--deepspeed", "configs/deepspeed/zero3.json"],
    "qlora": ["--bits", "4"],
}
RUNS = [f"llava-{v}" for v in VARIANTS] + ["qwen-lora", "qwen-full-logits", "qwen-packed", "qwen-zero2"]


RELEASED = {"llava": "llava-hf/llava-1.5-7b-hf", "qwen": "Qwen/Qwen2.5-VL-7B-Instruct"}


def build_configs(folder: Path) -> dict[str, Path]:
    """Both models at their released shapes, full depth (geollava model released): the released config.json,
    tokenizer, processor and chat template — what `plan` reads; materialise() adds random weights to train."""
    from geollava.models.released import build_released

    return {name: build_released(RELEASED[name], None, folder / name, weights=False) for name in MODELS}


def recipe_runs() -> dict[str, tuple]:
    """Every shipped recipe at its released shape (tests/models/test_released_recipes.py's matrix, there at 1
    layer on the CPU): name -> (config, released id, family, data, extra words)."""
    from geollava.models.released import RECIPES

    return {f"recipe-{config[:-5]}-{family}{'-geochat' if 'geochat' in model_id else ''}":
            (config, model_id, family, data, extra) for config, model_id, family, data, extra in RECIPES}


def recipe_argv(run: str, root: Path, data: Path, steps: int) -> list[str]:
    """A shipped config as written (its DeepSpeed stage, precision, batch, LoRA) on the released model at full
    depth and the synthetic data: only the data, the model folder and the step count change."""
    config, model_id, family, kind, extra = recipe_runs()[run]
    media = data.parent if kind == "change" else data.parent.parent / "tasks"
    return [str(REPO / "configs" / config), "--family", family, "--model_name_or_path",
            str(root / model_id.replace("/", "--")), "--train_data", str(media / "train.json"), "--media_root",
            str(media), "--output_dir", str(root / "runs" / run), "--max_steps", str(steps + 2),
            "--save_strategy", "no", "--report_to", "none", "--logging_steps", "1", *extra]


def run_argv(run: str, folders: dict[str, Path], data: Path, batch: int, steps: int) -> list[str]:
    if run.startswith("recipe-"):
        return recipe_argv(run, folders["llava"].parent / "released", data, steps)
    model, variant = run.split("-", 1)
    budget = str(batch * 1400)
    extra = [w.replace("{budget}", budget) for w in VARIANTS[variant]]
    return ["--family", MODELS[model], "--model_name_or_path", str(folders[model]), "--train_data", str(data),
            "--output_dir", str(folders[model].parent / "runs" / run), "--num_frames", "2", "--bf16", "true",
            "--per_device_train_batch_size", str(batch), "--max_steps", str(steps + 2), "--save_strategy", "no",
            "--report_to", "none", "--lora_r", "64", "--lora_alpha", "128", "--lora_dropout", "0.05",
            "--learning_rate", "1e-4", "--logging_steps", "1", "--dataloader_num_workers", "4",
            "--model_max_length", "4096", "--train_sampling_strategy", "random", *extra]


def planned_gib(argv: list[str], text_tokens: int, answer_tokens: int) -> float:
    """The planner's per-GPU estimate without its CUDA-overhead row (comparable with max_memory_allocated)."""
    from geollava.launch import load_config
    from geollava.plan import estimate

    config = load_config(argv, need_data=False)
    _, _, p = estimate(config, text_tokens=text_tokens, on_gpu=False, answer_tokens=answer_tokens)
    return p.total / 2**30


TRAIN = """
import json, sys, time, torch
from transformers import TrainerCallback
from geollava.launch import load_config
from geollava.sft.train import build_trainer
times = []
class Timer(TrainerCallback):
    def on_step_end(self, *a, **k):
        torch.cuda.synchronize()
        times.append(time.perf_counter())
trainer, _ = build_trainer(load_config(sys.argv[1:]))
trainer.add_callback(Timer())
parameters = sum(p.numel() for p in trainer.model.parameters())
trainer.train()
lengths = trainer.train_dataset.lengths
print("RESULT", json.dumps({"seconds_per_step": (times[-1] - times[1]) / (len(times) - 2),
                           "batch": trainer.args.per_device_train_batch_size,
                           "peak_gib": torch.cuda.max_memory_allocated() / 2**30, "parameters": parameters,
                           "tokens_per_sample": sum(lengths) / len(lengths)}))
"""


def train_run(argv: list[str]) -> dict:
    result = subprocess.run([sys.executable, "-c", TRAIN, *argv], capture_output=True, text=True, cwd=REPO,
                            timeout=900)
    line = next((l for l in result.stdout.splitlines() if l.startswith("RESULT")), None)
    if line is None:
        return {"error": (result.stderr or result.stdout)[-800:]}
    return json.loads(line.split(" ", 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="recipes", help="comma-separated run names, or recipes (every recipe-*) "
                                                          "or variants (every llava-* and qwen-*)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=4, help="timed steps of each run (after two warm-up steps)")
    parser.add_argument("--dry-run", action="store_true", help="print the matrix, plans and commands; run nothing")
    parser.add_argument("--json", default=os.environ.get("OUT") and str(Path(os.environ["OUT"]) / "gpu_check.json"))
    args = parser.parse_args()
    groups = {"recipes": list(recipe_runs()), "variants": RUNS}
    runs = [r for word in args.runs.split(",") for r in groups.get(word, [word])]
    every = RUNS + list(recipe_runs())
    unknown = [r for r in runs if r not in every]
    if unknown:
        raise SystemExit(f"gpu_check: unknown run(s) {', '.join(unknown)}; choose from {', '.join(every)}")
    with tempfile.TemporaryDirectory() as tmp:
        folders = build_configs(Path(tmp))
        released = prepare_recipes(Path(tmp) / "released", [r for r in runs if r.startswith("recipe-")])
        data = Path(tmp) / "data" / "train.json"
        text_tokens, answer_tokens = 96, 48
        plans = {run: planned_gib(run_argv(run, folders, data, args.batch, args.steps), text_tokens, answer_tokens)
                 for run in runs if "liger" not in run or not args.dry_run}
        if args.dry_run:
            print(f"gpu_check --dry-run: {len(runs)} runs of {args.steps} timed steps, micro-batch {args.batch} "
                  "(recipes: their own), 2 frames a sample; plan per GPU (no CUDA context)")
            for run in runs:
                planned = f"{plans[run]:6.1f} GiB" if run in plans else "  (Liger: planned on a GPU)"
                print(f"  {run:<34} {planned}   {describe(run, args.batch)}")
            return
        import torch

        from geollava.synthetic.generate import generate_split
        from geollava.synthetic.tasks import generate_task_split

        name = torch.cuda.get_device_name(0)
        peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
        generate_split(data.parent, "train", 64, num_frames=8, size=448, seed=0)
        generate_task_split(data.parent.parent / "tasks", "train", 16, ["refer", "scene"], size=448, seed=0)
        results = []
        for run in runs:
            if run.startswith("recipe-"):
                config, model_id, family, *_ = recipe_runs()[run]
                targets = [(released[model_id], family)]
            else:
                targets = [(folders[run.split("-", 1)[0]], MODELS[run.split("-", 1)[0]])]
            for folder, family in targets:
                if not (folder / "model.safetensors.index.json").is_file():
                    materialise(folder, family)
            row = {"run": run, "plan_gib": plans.get(run), **train_run(run_argv(run, folders, data, args.batch,
                                                                                args.steps))}
            later = runs[runs.index(run) + 1:]
            for folder, _ in targets:  # a 7B's weights are 15 GB: gone once no later run needs them
                if not any(folder == (released.get(recipe_runs()[r][1]) if r.startswith("recipe-") else
                                      folders[r.split("-", 1)[0]]) for r in later):
                    for weights in folder.glob("model*.safetensors*"):
                        weights.unlink()
            if "error" not in row:
                tokens = row["tokens_per_sample"] * row["batch"]
                row.update(samples_per_s=row["batch"] / row["seconds_per_step"],
                           tokens_per_s=tokens / row["seconds_per_step"],
                           mfu=6 * row["parameters"] * tokens / row["seconds_per_step"] / (peak * 1e12) if peak
                           else None)
            results.append(row)
            print(json.dumps(row))
        print(f"\n{name}: full-depth 7B models at their released shapes, 2 frames a sample (recipes: as written)")
        print("| run | samples/s | tokens/s | MFU (6N) | peak GPU memory (GiB) | geollava plan (GiB) |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in results:
            if "error" in r:
                print(f"| {r['run']} | failed: {r['error'].splitlines()[-1][:80]} | | | | |")
                continue
            mfu = f"{100 * r['mfu']:.1f} %" if r["mfu"] is not None else "n/a"
            plan = f"{r['plan_gib']:.1f}" if r["plan_gib"] is not None else "n/a"
            print(f"| {r['run']} | {r['samples_per_s']:.2f} | {r['tokens_per_s']:.0f} | {mfu} | {r['peak_gib']:.1f} | "
                  f"{plan} |")
        if args.json:
            Path(args.json).write_text(json.dumps({"device": name, "batch": args.batch, "results": results}, indent=1))


def prepare_recipes(root: Path, runs: list[str]) -> dict[str, Path]:
    """The released models the recipe runs train, at full depth without weights (materialise adds them)."""
    from geollava.models.released import build_released

    wanted = {recipe_runs()[run][1] for run in runs}
    return {model_id: build_released(model_id, None, root / model_id.replace("/", "--"), weights=False)
            for model_id in sorted(wanted)}


def describe(run: str, batch: int) -> str:
    if run.startswith("recipe-"):
        config, model_id, family, _, extra = recipe_runs()[run]
        return f"configs/{config} as written on {model_id} ({family}) {' '.join(extra)}".rstrip()
    model, variant = run.split("-", 1)
    changes = " ".join(VARIANTS[variant]).replace("{budget}", str(batch * 1400)) or "(the base run)"
    return f"{MODELS[model]}, LoRA r64 bf16, {changes}"


def materialise(folder: Path, family: str) -> None:
    """Random bf16 weights for a released-shape folder (config, tokenizer and processor already there), built on
    the GPU and saved beside them."""
    import torch
    from transformers import AutoConfig

    from geollava.families import get_family

    config = AutoConfig.from_pretrained(folder)
    with torch.device("cuda"):
        model = get_family(family).model_class(config).to(torch.bfloat16)
    model.save_pretrained(folder)
    del model
    torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
