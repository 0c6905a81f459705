"""One short check of the GPU-only paths on a machine with torch and no internet (run through gpu_check.sh).

Builds a 7B-shaped LLaVA-1.5 from config — the full CLIP ViT-L/14-336 tower and Vicuna-7B's layer shapes, with
fewer LLM layers — saves it, and trains a few steps through GeoLLaVA's own loading and LoRA code:
  lora    bf16 base, LoRA r64 on the LLM, projector trained
  qlora   4-bit NF4 base (bitsandbytes CUDA kernels), same adapters
  zero3   bf16 LoRA under DeepSpeed ZeRO-3 on one GPU, through GeoTrainer, then the adapter is saved and checked
For each: samples/s, tokens/s, peak GPU memory next to `geollava plan`'s estimate, and model-FLOPs utilisation (6 x parameters x tokens, the usual
convention; LoRA skips the frozen weights' gradients, so the useful work is nearer 4 x).
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
PEAK_BF16_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0, "L40S": 362.0, "A10": 125.0}


def build_7b_shaped(folder: Path, text_layers: int) -> int:
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    vision = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                              image_size=336, patch_size=14, projection_dim=768)
    text = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=text_layers,
                       num_attention_heads=32, num_key_value_heads=32, vocab_size=32064, max_position_embeddings=4096)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=32000,
                         projector_hidden_act="gelu", vision_feature_layer=-2, vision_feature_select_strategy="default")
    with torch.device("cuda"):
        model = LlavaForConditionalGeneration(config).to(torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(folder)
    del model
    torch.cuda.empty_cache()
    return params


def synthetic_batch(batch: int, text_tokens: int, device="cuda") -> dict:
    image_tokens = 576  # (336 / 14)^2 patches of one frame
    ids = torch.randint(3, 32000, (batch, 1 + image_tokens + text_tokens))
    ids[:, 1:1 + image_tokens] = 32000
    labels = ids.clone()
    labels[:, :1 + image_tokens + text_tokens // 2] = -100
    return {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device),
            "labels": labels.to(device),
            "pixel_values": torch.randn(batch, 3, 336, 336, dtype=torch.bfloat16, device=device)}


def plan_config(folder: Path, mode: str, batch: int):
    """The training config a mode's run amounts to, for `geollava plan` (reads only the folder's config.json)."""
    from geollava.config import parse_config

    empty = folder.parent / "no_data.json"
    empty.write_text("[]")
    argv = [REPO / "configs/lora.yaml", "--family", "llava", "--model_name_or_path", folder, "--train_data", empty,
            "--deepspeed", "null", "--bits", 4 if mode == "qlora" else 16, "--lora_r", 64, "--lora_alpha", 128,
            "--lora_dropout", 0.05, "--num_frames", 1, "--per_device_train_batch_size", batch,
            "--activation_checkpointing", "false", "--bf16", "true"]
    config = parse_config([str(a) for a in argv])
    if mode == "zero3":  # set after parsing: a ZeRO-3 TrainingArguments would switch this process into ZeRO-3 mode
        config.train.deepspeed = str(REPO / "configs/deepspeed/zero3.json")
    return config


def planned_gib(folder: Path, mode: str, batch: int, text_tokens: int) -> float:
    """The planner's per-GPU estimate without its CUDA-overhead row (comparable with max_memory_allocated)."""
    from geollava.plan import estimate

    _, _, p = estimate(plan_config(folder, mode, batch), text_tokens=text_tokens, on_gpu=False)
    return p.total / 2**30


def lora_args():
    from geollava.config import LoraArguments

    return LoraArguments(lora_r=64, lora_alpha=128, lora_dropout=0.05)


def plain_steps(folder: Path, bits: int, batch: dict, steps: int, checkpointing: bool) -> float:
    """Seconds per optimizer step after two warm-up steps."""
    from geollava.models.adapters import trainable_setup
    from geollava.families import get_family
    from geollava.models.load import load_model

    model = load_model(str(folder), "llava", torch.bfloat16, bits=bits, device_map={"": 0})
    if checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    model = trainable_setup(model, get_family("llava"), lora_args(), checkpointing)
    quantized = sum(1 for m in model.modules() if type(m).__name__ == "Linear4bit")
    print(f"  {quantized} Linear4bit layers" if bits == 4 else "  no quantized layers")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()
    for step in range(steps + 2):
        if step == 2:
            torch.cuda.synchronize()
            start = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    print(f"  loss {loss.item():.3f}")
    del model, optimizer
    return (time.perf_counter() - start) / steps


def zero3_steps(folder: Path, batch: dict, steps: int, out: Path, **extra_args) -> float:
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    from geollava.config import TrainArguments
    from geollava.models.adapters import cast_trainable, trainable_setup
    from geollava.families import get_family
    from geollava.models.load import load_model
    from geollava.train import init_deepspeed_distributed
    from geollava.trainer import GeoTrainer

    init_deepspeed_distributed()
    zero3 = json.loads((Path(__file__).resolve().parents[1] / "configs/deepspeed/zero3.json").read_text())
    settings = dict(output_dir=str(out), per_device_train_batch_size=len(batch["input_ids"]), max_steps=steps + 2,
                    bf16=True, deepspeed=zero3, report_to="none", save_strategy="no", logging_steps=1,
                    train_sampling_strategy="random", learning_rate=1e-4)
    args = TrainArguments(**{**settings, **extra_args})
    model = load_model(str(folder), "llava", torch.bfloat16)  # partitioned while loading (ZeRO-3 is active)
    model = trainable_setup(model, get_family("llava"), lora_args())
    cast_trainable(model, torch.bfloat16 if args.bf16 else torch.float32)
    rows = [{k: v[i].cpu() for k, v in batch.items()} for i in range(len(batch["input_ids"]))]
    times = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *a, **k):
            torch.cuda.synchronize()
            times.append(time.perf_counter())

    def collate(items):
        return {k: torch.stack([item[k] for item in items]) for k in items[0]}

    trainer = GeoTrainer(model=model, args=args, train_dataset=rows * (steps + 2), data_collator=collate,
                         callbacks=[Timer()])
    trainer.train()
    torch.cuda.synchronize()
    times.append(time.perf_counter())
    trainer.save_model(str(out / "adapter"))
    saved = load_file(out / "adapter" / "adapter_model.safetensors")
    empty = [k for k, t in saved.items() if t.numel() == 0]
    print(f"  saved adapter: {len(saved)} tensors, {len(empty)} empty (must be 0)")
    if empty:
        raise SystemExit("ZeRO-3 adapter saved without gathering")
    return (times[-1] - times[2]) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text-layers", type=int, default=4, help="LLM layers (Vicuna-7B has 32)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--text-tokens", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--modes", default="lora,qlora,zero3")
    parser.add_argument("--json", default=os.environ.get("OUT") and str(Path(os.environ["OUT"]) / "gpu_check.json"))
    args = parser.parse_args()
    import bitsandbytes
    import deepspeed
    import peft
    import transformers

    name = torch.cuda.get_device_name(0)
    peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    print(f"{name}; torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, "
          f"bitsandbytes {bitsandbytes.__version__}, deepspeed {deepspeed.__version__}")
    tokens = 1 + 576 + args.text_tokens
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "llava-7b-shaped"
        params = build_7b_shaped(folder, args.text_layers)
        print(f"built a 7B-shaped LLaVA with {args.text_layers} LLM layers: {params / 1e9:.2f} B parameters")
        batch = synthetic_batch(args.batch, args.text_tokens)
        modes = args.modes.split(",")
        plans = {mode: planned_gib(folder, mode, args.batch, args.text_tokens) for mode in modes}
        for mode in modes:
            print(f"{mode}:")
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            if mode == "zero3":
                seconds = zero3_steps(folder, batch, args.steps, Path(tmp) / "zero3")
            else:
                seconds = plain_steps(folder, 4 if mode == "qlora" else 16, batch, args.steps, checkpointing=False)
            flops = 6 * params * tokens * args.batch / seconds
            row = {"mode": mode, "samples_per_s": args.batch / seconds, "tokens_per_s": tokens * args.batch / seconds,
                   "peak_gib": torch.cuda.max_memory_allocated() / 2**30, "plan_gib": plans[mode],
                   "mfu": flops / (peak * 1e12) if peak else None}
            results.append(row)
            print(f"  {row['samples_per_s']:.2f} samples/s, {row['tokens_per_s']:.0f} tokens/s, "
                  f"peak {row['peak_gib']:.2f} GiB (plan {row['plan_gib']:.2f})" + (f", MFU {100 * row['mfu']:.1f} %" if peak else ""))
    print(f"\n{name}, 7B-shaped LLaVA-1.5 with {args.text_layers} LLM layers ({params / 1e9:.2f} B parameters), "
          f"batch {args.batch} x {tokens} tokens, bf16")
    print("| mode | samples/s | tokens/s | peak GPU memory (GiB) | geollava plan (GiB) | MFU (6N) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        mfu = f"{100 * r['mfu']:.1f} %" if r["mfu"] is not None else "n/a"
        print(f"| {r['mode']} | {r['samples_per_s']:.2f} | {r['tokens_per_s']:.0f} | {r['peak_gib']:.2f} | "
              f"{r['plan_gib']:.2f} | {mfu} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": name, "params": params, "tokens_per_sample": tokens,
                                               "batch": args.batch, "text_layers": args.text_layers,
                                               "results": results}, indent=1))


if __name__ == "__main__":
    main()
