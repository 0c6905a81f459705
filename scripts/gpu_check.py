"""One prepared check of the GPU-only paths (run through gpu_check.sh): full-depth 7B models built from config
(random weights, bf16, no download), trained a few steps each through GeoLLaVA's own training code, every run in a
process of its own, recording samples/s, tokens/s, model-FLOPs utilisation and peak GPU memory beside
`geollava plan`'s estimate; then batched generation tokens/s, as evaluation generates.

    bash scripts/gpu_check.sh                      # the whole matrix, ~8 minutes on one H100 / H200
    bash scripts/gpu_check.sh --runs llava-lora,qwen-lora-packed --steps 3
    bash scripts/gpu_check.sh --dry-run            # any machine: the matrix, each run's plan and command

The matrix: LLaVA-1.5-7B (CLIP ViT-L/14-336, Vicuna-7B's 32 layers) and Qwen2.5-VL-7B (its ViT and 28 layers),
LoRA r64 bf16 with logits at the labelled positions (the default), and one change at a time: full logits,
padding-free packing, activation checkpointing, Liger kernels, ZeRO-2, ZeRO-3, QLoRA. MFU counts 6 x parameters
x tokens (the usual convention; LoRA skips the frozen weights' gradients, so the useful work is nearer 4 x).
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


def build_configs(folder: Path) -> dict[str, Path]:
    """Full-size configs of both models (config.json): what `plan` reads and the runs build from. Their media
    token ids are the tiny tokenizers' (materialise gives each folder one), where the real models have theirs."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, Qwen2_5_VLConfig

    from geollava.families.base import CHATML_TOKENS, SPECIAL_TOKENS

    qwen_ids = {t: i for i, t in enumerate(CHATML_TOKENS)}

    vision = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                              image_size=336, patch_size=14, projection_dim=768)
    text = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                       num_key_value_heads=32, vocab_size=32064, max_position_embeddings=4096)
    LlavaConfig(vision_config=vision, text_config=text, image_token_index=SPECIAL_TOKENS.index("<image>"),
                projector_hidden_act="gelu",
                vision_feature_layer=-2, vision_feature_select_strategy="default").save_pretrained(folder / "llava")
    Qwen2_5_VLConfig(  # Qwen2.5-VL-7B-Instruct's shapes
        vision_config=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                           fullatt_block_indexes=[7, 15, 23, 31]),
        text_config=dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                         num_key_value_heads=4, vocab_size=152064, rope_parameters={
                             "rope_type": "default", "mrope_section": [16, 24, 24], "rope_theta": 1000000.0}),
        image_token_id=qwen_ids["<|image_pad|>"], video_token_id=qwen_ids["<|video_pad|>"],
        vision_start_token_id=qwen_ids["<|vision_start|>"], vision_end_token_id=qwen_ids["<|vision_end|>"]
    ).save_pretrained(folder / "qwen")
    return {name: folder / name for name in MODELS}


def run_argv(run: str, folders: dict[str, Path], data: Path, batch: int, steps: int) -> list[str]:
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
    from geollava.config import parse_config
    from geollava.plan import estimate

    config = parse_config(argv, need_data=False)
    _, _, p = estimate(config, text_tokens=text_tokens, on_gpu=False, answer_tokens=answer_tokens)
    return p.total / 2**30


TRAIN = """
import json, sys, time, torch
from transformers import TrainerCallback
from geollava.config import parse_config
from geollava.train import build_trainer
times = []
class Timer(TrainerCallback):
    def on_step_end(self, *a, **k):
        torch.cuda.synchronize()
        times.append(time.perf_counter())
trainer, _ = build_trainer(parse_config(sys.argv[1:]))
trainer.add_callback(Timer())
parameters = sum(p.numel() for p in trainer.model.parameters())
trainer.train()
lengths = trainer.train_dataset.lengths
print("RESULT", json.dumps({"seconds_per_step": (times[-1] - times[1]) / (len(times) - 2),
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
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, of: {', '.join(RUNS)}")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=4, help="timed steps of each run (after two warm-up steps)")
    parser.add_argument("--dry-run", action="store_true", help="print the matrix, plans and commands; run nothing")
    parser.add_argument("--json", default=os.environ.get("OUT") and str(Path(os.environ["OUT"]) / "gpu_check.json"))
    args = parser.parse_args()
    runs = args.runs.split(",")
    unknown = [r for r in runs if r not in RUNS]
    if unknown:
        raise SystemExit(f"gpu_check: unknown run(s) {', '.join(unknown)}; choose from {', '.join(RUNS)}")
    with tempfile.TemporaryDirectory() as tmp:
        folders = build_configs(Path(tmp))
        data = Path(tmp) / "data" / "train.json"
        text_tokens, answer_tokens = 96, 48
        plans = {run: planned_gib(run_argv(run, folders, data, args.batch, args.steps), text_tokens, answer_tokens)
                 for run in runs if "liger" not in run or not args.dry_run}
        if args.dry_run:
            print(f"gpu_check --dry-run: {len(runs)} runs of {args.steps} timed steps, micro-batch {args.batch}, "
                  "2 frames a sample; plan per GPU (no CUDA context)")
            for run in runs:
                planned = f"{plans[run]:6.1f} GiB" if run in plans else "  (Liger: planned on a GPU)"
                model, variant = run.split("-", 1)
                changes = " ".join(VARIANTS[variant]).replace("{budget}", str(args.batch * 1400)) or "(the base run)"
                print(f"  {run:<20} {planned}   {MODELS[model]}, LoRA r64 bf16, {changes}")
            return
        import torch

        from geollava.synthetic.generate import generate_split

        name = torch.cuda.get_device_name(0)
        peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
        generate_split(data.parent, "train", 64, num_frames=2, size=448, seed=0)
        results = []
        for run in runs:
            for model, folder in folders.items():
                if run.startswith(model) and not (folder / "model.safetensors.index.json").is_file():
                    materialise(folder, MODELS[model])
            row = {"run": run, "plan_gib": plans.get(run), **train_run(run_argv(run, folders, data, args.batch,
                                                                                args.steps))}
            if "error" not in row:
                tokens = row["tokens_per_sample"] * args.batch
                row.update(samples_per_s=args.batch / row["seconds_per_step"],
                           tokens_per_s=tokens / row["seconds_per_step"],
                           mfu=6 * row["parameters"] * tokens / row["seconds_per_step"] / (peak * 1e12) if peak
                           else None)
            results.append(row)
            print(json.dumps(row))
        print(f"\n{name}: full-depth 7B models, micro-batch {args.batch}, 2 frames a sample, bf16")
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


def materialise(folder: Path, family: str) -> None:
    """Random bf16 weights for a config folder, built on the GPU and saved beside it, with a tiny tokenizer and
    the family's image processor at full size (what the training code loads)."""
    import torch
    from transformers import AutoConfig

    from geollava.families import TinySpec, get_family
    from geollava.models.tiny import train_chatml_tokenizer, train_tokenizer
    from geollava.synthetic.captions import tokenizer_corpus

    spec = get_family(family)
    config = AutoConfig.from_pretrained(folder)
    with torch.device("cuda"):
        model = spec.model_class(config).to(torch.bfloat16)
    model.save_pretrained(folder)
    del model
    torch.cuda.empty_cache()
    chatml = spec.chat_template == "model"
    (train_chatml_tokenizer(tokenizer_corpus(), 600, spec.tiny_chat_template) if chatml
     else train_tokenizer(tokenizer_corpus(), 600)).save_pretrained(folder)
    processor = spec.tiny_image_processor(TinySpec(image_size=336 if family == "llava" else 448,
                                                   patch_size=14))
    processor.save_pretrained(folder)


if __name__ == "__main__":
    main()
