"""How right is `geollava plan`? Three comparisons, printed as tables:
  1. its model-state part (parameters, gradients, optimizer states, ZeRO-3 gather buffer) against DeepSpeed's own
     estimators, for full fine-tuning of 7B- and 13B-shaped LLaVA under ZeRO-2 and ZeRO-3 — target within 10 %;
  2. its whole estimate against the peak memory of real CPU training runs of the tiny model at several sizes —
     target within 25 %. Measured, sampled every millisecond during training, minus the value before loading the
     model: the bytes malloc has handed out and not got back (glibc's mallinfo2: the CPU counterpart of
     torch.cuda.max_memory_allocated, which is what the plan estimates), and, for reference, resident memory;
  3. against the peak GPU memory measured by scripts/gpu_check.sh on an H200 (numbers in benchmarks/RESULTS.md).

    python benchmarks/plan_accuracy.py
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from malloc_peak import peak_of  # noqa: E402
GiB = 2**30

# Peak GPU memory (torch.cuda.max_memory_allocated) from scripts/gpu_check.sh on an NVIDIA H200, 2026-11-27.
GPU_MEASURED = {"lora": 7.3795, "qlora": 8.5471}


def parse(*argv):
    from geollava.launch import load_config

    empty = Path(tempfile.mkdtemp()) / "empty.json"
    empty.write_text("[]")
    return load_config([*map(str, argv), "--train_data", str(empty)])


def llava_folder(folder: Path, hidden: int, intermediate: int, layers: int, heads: int) -> Path:
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    vision = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                              image_size=336, patch_size=14, projection_dim=768)
    text = LlamaConfig(hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                       num_attention_heads=heads, num_key_value_heads=heads, vocab_size=32064)
    LlavaConfig(vision_config=vision, text_config=text, image_token_index=32000, projector_hidden_act="gelu",
                vision_feature_layer=-2).save_pretrained(folder)
    return folder


def against_deepspeed(tmp: Path) -> None:
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    from geollava.families import get_family
    from geollava.models.load import zero3_paused
    from geollava.plan import estimate, model_config

    print("1. model states per GPU, full fine-tuning, 8 GPUs: geollava plan vs DeepSpeed's estimators")
    print("| model | ZeRO | plan (GiB) | DeepSpeed (GiB) | difference |")
    print("|---|---:|---:|---:|---:|")
    for name, dims in (("LLaVA-7B-shaped", (4096, 11008, 32, 32)), ("LLaVA-13B-shaped", (5120, 13824, 40, 40))):
        folder = llava_folder(tmp / name, *dims)
        for stage in (2, 3):
            config = parse(REPO / "configs" / "lora.yaml", "--family", "llava", "--model_name_or_path", folder,
                           "--lora_enable", "false", "--deepspeed", REPO / f"configs/deepspeed/zero{stage}.json")
            sizes, _, p = estimate(config, gpus=8)
            states = sum(v for what, v in p.rows if what.startswith(("parameters", "gradients", "ZeRO-3")))
            with zero3_paused(config.train), torch.device("meta"):  # DeepSpeed counts from the model itself
                model = get_family("llava").model_class(model_config(config))
            total = sum(p.numel() for p in model.parameters())
            largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
            if stage == 2:
                reference = estimate_zero2_model_states_mem_needs(total, 8, 1, cpu_offload=False)[1]
            else:
                reference = estimate_zero3_model_states_mem_needs(total, largest, 8, 1, cpu_offload=False)[1]
            print(f"| {name} ({total / 1e9:.2f} B) | {stage} | {states / GiB:.2f} | {reference / GiB:.2f} | "
                  f"{100 * (states - reference) / reference:+.1f} % |")


MEASURE = """
import sys, torch
sys.argv = ["x"]
sys.path.insert(0, "benchmarks")
from malloc_peak import Peak, libc, snapshot
from geollava.launch import load_config
from geollava.models.load import prepare_base_model
from geollava.synthetic.captions import tokenizer_corpus
from geollava.sft.train import build_trainer
torch.set_num_threads(2)
config = load_config({argv!r})
prepare_base_model(config, tokenizer_corpus())  # build the tiny model's files first: building is not training
libc.malloc_trim(0)
before = snapshot()
trainer, _ = build_trainer(config)
for p in trainer.model.parameters():  # loaded weights may stay file-mapped, outside malloc: hold them as a GPU would
    p.data = p.data.clone()
libc.malloc_trim(0)  # hand back what loading freed, so the resident peak is the training's
with Peak(since=before) as peak:
    trainer.train()
print("PEAK_BYTES", peak.allocated, peak.resident)
"""


def against_cpu_runs(tmp: Path) -> None:
    from geollava.plan import estimate, measure_tokens
    from geollava.synthetic.generate import generate_split

    data = generate_split(tmp / "data", "train", 64, num_frames=4, size=64, seed=1)
    print("\n2. whole estimate vs peak memory of CPU training runs (fp32, LoRA r16, batch 8, 4 frames, logits at the "
          "labelled positions unless said): allocated =")
    print("   malloc's bytes in use (the CPU's max_memory_allocated); resident = RSS, which adds what the allocator")
    print("   keeps after frees")
    print("| tiny model | parameters | plan (MiB) | allocated (MiB) | difference | resident (MiB) | difference |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    variants = [(256, 4, False, ()), (512, 8, False, ()), (1024, 8, False, ()), (1024, 8, True, ()),
                (1024, 8, False, ("--logits_at_labels", "false")),
                (1024, 8, False, ("--padding_free", "true", "--max_tokens_per_batch", "1200"))]
    for hidden, layers, checkpointing, extra in variants:
        name = "_".join([str(hidden), str(layers), str(checkpointing), *extra]).replace("-", "")
        argv = [str(REPO / "configs/tiny.yaml"), "--train_data", str(data), "--output_dir", str(tmp / name),
                "--report_to", "none", "--max_steps", "3", "--save_strategy", "no", "--per_device_train_batch_size",
                "8", "--dataloader_num_workers", "0", "--tiny_model.text_hidden", str(hidden),
                "--tiny_model.text_layers", str(layers), "--tiny_model.heads", "8", "--model_max_length", "4096",
                "--activation_checkpointing", str(checkpointing).lower(), "--train_sampling_strategy", "random",
                *extra]
        peak = peak_of(MEASURE.format(argv=argv), REPO, timeout=900)
        if isinstance(peak, str):
            print(f"| {hidden} x {layers} | run failed: {peak} |")
            continue
        allocated, resident = peak
        config = parse(*argv[:1], *argv[3:])
        lengths = _text_tokens(config, data)
        answers, _ = measure_tokens(config)["answers"]  # as `geollava plan` measures them from the data
        sizes, _, p = estimate(config, text_tokens=lengths, on_gpu=False, answer_tokens=answers)
        label = f"{hidden} x {layers}" + (" (checkpointed)" if checkpointing else "") + \
            (f" ({' '.join(extra).replace('--', '')})" if extra else "")
        print(f"| {label} | {sizes.total / 1e6:.1f} M | {p.total / 2**20:.0f} | {allocated / 2**20:.0f} | "
              f"{100 * (p.total - allocated) / allocated:+.1f} % | {resident / 2**20:.0f} | "
              f"{100 * (p.total - resident) / resident:+.1f} % |")


def _text_tokens(config, data: Path) -> int:
    """The longest sample's text tokens, as the planner's --text-tokens would be set for this data."""
    from geollava.sft.train import build_trainer

    config.data.train_data = [str(data)]
    trainer, _ = build_trainer(config)
    per_frame = trainer.train_dataset.family.tokens_per_frame(trainer.model.config)
    return max(trainer.train_dataset.lengths) - config.prompt.num_frames * per_frame


def planned_gib(folder: Path, mode: str, batch: int, text_tokens: int) -> float:
    """The plan of the H200 run's configuration: the earlier gpu_check's own loop — one 336 px image, full logits
    (the model's own loss), no DeepSpeed, no checkpointing, bf16 — without the CUDA-overhead row."""
    from geollava.plan import estimate

    config = parse(REPO / "configs/lora.yaml", "--family", "llava", "--model_name_or_path", folder,
                   "--deepspeed", "null", "--bits", 4 if mode == "qlora" else 16, "--lora_r", 64,
                   "--lora_alpha", 128, "--lora_dropout", 0.05, "--num_frames", 1, "--per_device_train_batch_size",
                   batch, "--activation_checkpointing", "false", "--bf16", "true", "--logits_at_labels", "false")
    return estimate(config, text_tokens=text_tokens, on_gpu=False)[2].total / 2**30


def against_gpu(tmp: Path) -> None:
    folder = llava_folder(tmp / "gpu", 4096, 11008, 4, 32)
    print("\n3. vs peak GPU memory measured by scripts/gpu_check.sh (H200; allocated memory, so no CUDA context)")
    print("| mode | plan (GiB) | measured (GiB) | difference |")
    print("|---|---:|---:|---:|")
    for mode, measured in GPU_MEASURED.items():
        planned = planned_gib(folder, mode, batch=4, text_tokens=128)
        print(f"| {mode} | {planned:.2f} | {measured:.2f} | {100 * (planned - measured) / measured:+.1f} % |")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        against_deepspeed(tmp)
        against_cpu_runs(tmp)
        against_gpu(tmp)


if __name__ == "__main__":
    main()
