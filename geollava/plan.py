"""`geollava plan CONFIG`: will this training config fit the GPUs, before anything is launched?

Sizes come from the model's config alone (a hub config.json, a local folder, the parts of an assembly, or a tiny
spec): the model is instantiated on PyTorch's meta device, so a 13B plan needs no weights. Per GPU it counts:
  parameters     frozen ones at their precision (4-bit NF4 ≈ 0.52 B, 8-bit 1 B, bf16 2 B, fp32 4 B), trainable
                 ones in 16 bit; ZeRO-3 divides all of them by the number of GPUs
  gradients and optimizer states of the trainables, with DeepSpeed's accounting (ZeRO-2: 2 B + 18 B / GPUs;
                 ZeRO-3: 18 B / GPUs + 4 B x the largest layer; offload moves them to the CPU); without
                 DeepSpeed torch's AdamW keeps a gradient and two states in each weight's dtype (LoRA: fp32)
  activations    tokens (text + visual) x micro-batch x layers x what a Llama layer saves for backward (5 h + 4 i
                 values per token, the two norms' fp32 inputs and outputs, the LoRA intermediates, and the adapted
                 layers' inputs with LoRA dropout), or with activation checkpointing one input per layer plus one
                 layer recomputed;
                 the logits in fp32 for the loss; the vision tower only when it trains
  overhead       the CUDA context and allocator slack (1.5 GiB per GPU; 0 on the CPU)
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .data.schema import GPT
from .families import get_family
from .families.base import side
from .models.adapters import lora_target_regex

GiB = 2**30
CUDA_OVERHEAD = 1.5 * GiB
DEFAULT_TEXT_TOKENS = 256
DEFAULT_ANSWER_TOKENS = 64  # labelled tokens per sample when train_data cannot be read to measure them
LINEAR_TYPES = (torch.nn.Linear,)


@dataclass
class ModelSizes:
    total: int
    vision: int
    projector: int
    language_model: int  # decoder layers and norms, not the embeddings
    embeddings: int  # embed_tokens + lm_head
    largest_layer: int  # the largest single parameter tensor group a ZeRO-3 gather brings in
    lora_targets: dict[str, tuple[int, int]] = field(default_factory=dict)  # module path -> (in, out)
    hidden: int = 0
    intermediate: int = 0
    layers: int = 0
    vocab: int = 0
    vision_hidden: int = 0
    vision_layers: int = 0
    patches: int = 0  # per frame, with CLS
    kv_dim: int = 0  # key / value width per layer (KV heads x head size): the generation cache per token
    heads: int = 0


def model_config(config):
    """The HF config of the model a training config trains, without loading any weights."""
    from transformers import AutoConfig

    m = config.model
    family = get_family(m.family)
    if config.tiny_model is not None:
        return family.build_tiny_config(config.tiny_model)
    if m.model_name_or_path:
        return AutoConfig.from_pretrained(m.model_name_or_path, trust_remote_code=config.train.trust_remote_code)
    vision = AutoConfig.from_pretrained(m.vision_tower)
    vision = getattr(vision, "vision_config", vision)
    if m.image_size:
        vision.image_size = m.image_size
    text = AutoConfig.from_pretrained(m.language_model, trust_remote_code=config.train.trust_remote_code)
    return family.config_class(vision_config=vision, text_config=text, image_token_index=32000,
                               projector_hidden_act="gelu", vision_feature_layer=-2)


def measure_model(family, hf_config, lora_targets: list[str], train_args=None,
                  scope: str = "language_model") -> ModelSizes:
    """Parameter counts by part, from a model built on the meta device (no memory, no weights)."""
    from .models.load import zero3_paused

    with zero3_paused(train_args), torch.device("meta"):
        model = family.model_class(hf_config)
    parts = {"vision": 0, "projector": 0, "language_model": 0, "embeddings": 0}
    largest = 0
    for name, module in model.named_modules():
        own = sum(p.numel() for p in module.parameters(recurse=False))
        largest = max(largest, own)
    for name, p in model.named_parameters():
        if any(name.startswith(t + ".") for t in family.projectors):  # before the tower: Qwen's merger is in it
            parts["projector"] += p.numel()
        elif any(name.startswith(t + ".") for t in family.vision_towers):
            parts["vision"] += p.numel()
        elif "embed_tokens" in name or name.startswith("lm_head"):
            parts["embeddings"] += p.numel()
        else:
            parts["language_model"] += p.numel()
    wrapped = re.compile(lora_target_regex(family, lora_targets, scope))
    targets = {name: (m.in_features, m.out_features) for name, m in model.named_modules()
               if isinstance(m, LINEAR_TYPES) and wrapped.fullmatch(name)}
    text, vision = hf_config.text_config, hf_config.vision_config
    patches = (side(vision.image_size) // side(vision.patch_size)) ** 2 + 1 if hasattr(vision, "image_size") else 0
    # (Qwen: counted later, per frame)
    return ModelSizes(total=sum(parts.values()), largest_layer=largest, lora_targets=targets, **parts,
                      hidden=text.hidden_size, intermediate=text.intermediate_size, layers=text.num_hidden_layers,
                      vocab=text.vocab_size, vision_hidden=vision.hidden_size,
                      vision_layers=getattr(vision, "num_hidden_layers", None) or vision.depth, patches=patches,
                      kv_dim=_kv_dim(text), heads=text.num_attention_heads)


def _kv_dim(text) -> int:
    heads = text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    return (getattr(text, "num_key_value_heads", None) or heads) * head_dim


@dataclass
class Plan:
    rows: list[tuple[str, float]]  # (what, bytes per GPU)
    total: float
    sequence: int
    micro_batch: int
    world: int
    notes: list[str]


def _saved_per_token(sizes: ModelSizes, lora, act_bytes: int) -> float:
    """Bytes one Llama decoder layer keeps per token for backward, counted from what autograd saves with frozen
    base weights: each RMSNorm an fp32 input (its upcast copy in 16 bit) and its output; attention's q and k after
    RoPE, v, the output and its re-laid-out copy for o_proj (5 h); the MLP's gate, up, activation and product
    (4 i); each LoRA layer its rank-r intermediate, and with LoRA dropout its dropped-out input.
    Checked against CPU training runs by benchmarks/plan_accuracy.py.
    """
    h, i, layers = sizes.hidden, sizes.intermediate, max(1, sizes.layers)
    values = 5 * h + 4 * i
    if lora.lora_enable:
        values += lora.lora_r * len(sizes.lora_targets) / layers
        if lora.lora_dropout > 0:
            values += sum(n_in for n_in, _ in sizes.lora_targets.values()) / layers
    norms = 2 * h * (4 + act_bytes)
    return values * act_bytes + norms


def plan(config, sizes: ModelSizes, tokens_per_frame: int, gpus: int = 1, nodes: int = 1, text_tokens: int = 256,
         micro_batch: int | None = None, on_gpu: bool = True, answer_tokens: int = DEFAULT_ANSWER_TOKENS,
         deepspeed: str | None = None) -> Plan:
    """The per-GPU estimate; ``deepspeed``: another DeepSpeed config than the run's (the stage recommendation)."""
    lora, t, d = config.lora, config.train, config.prompt
    world = gpus * nodes
    stage, offload = _zero(deepspeed or t.deepspeed)
    b = micro_batch or t.per_device_train_batch_size
    compute = 4 if not (t.bf16 or t.fp16) else 2
    quant_bytes = {4: 0.5 + (1 / 64 + 4 / (64 * 256) if lora.double_quant else 4 / 64), 8: 1 + 4 / 64}
    # trainable parameter counts
    lora_params = sum(lora.lora_r * (i + o) for i, o in sizes.lora_targets.values()) if lora.lora_enable else 0
    full = 0
    if lora.tune_projector:
        full += sizes.projector
    if lora.tune_embeddings or not lora.lora_enable:
        full += sizes.embeddings
    if lora.tune_vision_tower:
        full += sizes.vision
    if not lora.lora_enable:
        full += sizes.language_model
    trainable = lora_params + full
    quantized = sizes.language_model if lora.bits < 16 else 0  # the LLM's linear layers, to first order
    frozen = sizes.total - full - quantized
    lora_bytes = compute if stage else 4  # PEFT keeps LoRA in fp32; under DeepSpeed it is cast to the compute dtype
    # prepare_model_for_kbit_training upcasts every weight it does not quantize to fp32 (measured on an H200)
    frozen_bytes = 4 if lora.bits < 16 else compute
    full_bytes = 4 if lora.bits < 16 and not stage else compute
    param_bytes = (frozen * frozen_bytes + full * full_bytes + quantized * quant_bytes.get(lora.bits, compute)
                   + lora_params * lora_bytes)
    rows = [("parameters (frozen + trainable)", param_bytes / (world if stage == 3 else 1))]
    if stage == 0:  # torch AdamW: gradients and two states in each weight's own dtype
        rows.append(("gradients + optimizer states", lora_params * 3 * lora_bytes + full * 3 * full_bytes))
    elif stage == 2:  # DeepSpeed's accounting: 16-bit grads + fp32 grads, master weights, momentum, variance
        rows.append(("gradients + optimizer states (ZeRO-2)", 0 if offload else trainable * 18 / world))
    else:  # DeepSpeed's ZeRO-3 estimate counts 18 bytes per parameter in all, the 16-bit weights included
        rows.append(("gradients + optimizer states (ZeRO-3)", 0 if offload else trainable * 16 / world))
        rows.append(("ZeRO-3 gather buffer (largest layer)", 4 * sizes.largest_layer))
    grpo = config.recipe is not None and config.recipe.generates
    if grpo and t.beta > 0:  # TRL's KL reference: a frozen copy of the adapter, or of the whole model
        rows.append(("KL reference (beta > 0)", lora_params * lora_bytes if lora.lora_enable
                     else sizes.total * compute / (world if stage == 3 else 1)))
    visual = d.num_frames * tokens_per_frame
    completion = t.max_completion_length if grpo else 0
    placeholders = d.num_frames if get_family(config.model.family).frames_as == "images" else 1
    cap = d.model_max_length + (visual - placeholders if d.max_length_counts == "text" else 0)  # all tokens
    sequence = min(cap + completion, visual + text_tokens + completion)
    tokens = b * sequence
    budget = getattr(t, "max_tokens_per_batch", None)
    if budget:  # a micro-batch filled to the token budget whatever the batch size (a longer sample goes alone)
        tokens = max(budget, sequence)
        b = max(1, tokens // sequence)
    # prepare_model_for_kbit_training leaves the residual stream in fp32 (fp32 norms and embeddings)
    act_bytes = 4 if not (t.bf16 or t.fp16) or (lora.bits < 16 and not stage) else 2
    per_token = _saved_per_token(sizes, lora, act_bytes)
    per_layer = per_token * tokens
    if t.activation_checkpointing:
        activations = sizes.layers * sizes.hidden * tokens * act_bytes + per_layer
    else:
        activations = sizes.layers * per_layer
    rows.append((f"activations ({sizes.layers} layers x {tokens} tokens"
                 + (", checkpointed)" if t.activation_checkpointing else ")"), activations))
    if config.model.attn_implementation == "eager":  # eager keeps each layer's attention probabilities
        rows_of, length = (1, tokens) if getattr(t, "padding_free", False) else (b, sequence)  # packed: one row
        rows.append(("attention probabilities (eager)", (1 if t.activation_checkpointing else sizes.layers)
                     * sizes.heads * rows_of * length ** 2 * act_bytes * 2))
    if grpo:  # TRL's fused LM head: log-probabilities of the completion tokens, 32k tokens at a time
        scored = min(b * completion, 32768)
        rows.append(("log-probabilities (fused LM head tiles)", scored * sizes.vocab * (act_bytes + 4)))
        generated = b * t.steps_per_generation  # the local generation batch, generated at once
        rows.append((f"generation KV cache ({generated} sequences x {sequence} tokens)",
                     2 * sizes.layers * sizes.kv_dim * sequence * generated * act_bytes))
    elif t.use_liger_kernel:  # Liger's fused linear cross-entropy: the head in chunks, no full logits
        rows.append(("logits (Liger fused cross-entropy chunks)", min(tokens, 4096) * sizes.vocab * (act_bytes + 4)))
    elif getattr(t, "logits_at_labels", False):  # the head only where the next token is labelled
        labelled = b * min(answer_tokens, sequence)
        rows.append((f"logits and loss (fp32, {labelled} labelled tokens)", labelled * sizes.vocab * (act_bytes + 8)))
    else:
        rows.append(("logits and loss (fp32, every position)", tokens * sizes.vocab * (act_bytes + 4 + 4)))
    if lora.tune_vision_tower:
        frames = b * d.num_frames
        rows.append(("vision tower activations", sizes.vision_layers * frames * sizes.patches *
                     6 * sizes.vision_hidden * 4 * act_bytes))
    if on_gpu:
        rows.append(("CUDA context and allocator slack", CUDA_OVERHEAD))
    notes = [] if visual < cap else [
        f"WARNING: {visual} visual tokens alone reach model_max_length {d.model_max_length}: every sample would be "
        "skipped; raise model_max_length or use fewer frames"]
    notes += [f"trainable: LoRA {lora_params:,}, fully trained {full:,} (of {sizes.total:,} parameters)",
             f"sequence: {visual} visual tokens ({d.num_frames} frames x {tokens_per_frame}) + up to {text_tokens} "
             f"text tokens{f' + {completion} completion tokens' if grpo else ''}, capped at model_max_length "
             f"{d.model_max_length}{' text tokens' if d.max_length_counts == 'text' else ''}"
             f"{' + the completion' if grpo else ''} = {sequence}",
             f"DeepSpeed: {'ZeRO-' + str(stage) if stage else 'none'}{' with offload' if offload else ''}; "
             f"{world} process(es)"]
    total = sum(v for _, v in rows)
    if grpo:  # generating and training take turns: only the larger of the two phases counts
        training = sum(v for what, v in rows if what.startswith(("activations", "log-probabilities")))
        generating = next(v for what, v in rows if what.startswith("generation KV cache"))
        total -= min(training, generating)
        notes.append(f"GRPO: {t.num_generations} completions per prompt of up to {completion} tokens; generation "
                     f"({generating / GiB:.2f} GiB of KV cache) and training ({training / GiB:.2f} GiB of "
                     "activations and log-probabilities) take turns, the total counts the larger")
    return Plan(rows, total, sequence, b, world, notes)


def estimate(config, gpus: int = 1, nodes: int = 1, text_tokens: int = 256, micro_batch: int | None = None,
             on_gpu: bool = True, answer_tokens: int = DEFAULT_ANSWER_TOKENS) -> tuple[ModelSizes, int, Plan]:
    """(model sizes, visual tokens per frame, plan) for a parsed training config, from the model's config alone;
    ``answer_tokens``: labelled tokens per sample (the logits are made there only)."""
    family = get_family(config.model.family)
    hf_config = model_config(config)
    sizes = measure_model(family, hf_config, config.lora.lora_target_modules, config.train,
                          config.lora.lora_target_scope)
    if family.visual_tokens == "fixed":
        per_frame, how = family.tokens_per_frame(hf_config), None
    else:
        processor = frame_processor(config, hf_config)
        (height, width), where = planned_frame_size(config, processor)
        per_frame = family.dynamic_tokens(processor, height, width)
        sizes.patches = per_frame * processor.merge_size ** 2
        size = processor.size
        how = (f"visual tokens per frame: {per_frame} for {height} x {width} px frames ({where}), resized within "
               f"min_pixels {size['shortest_edge']:,} .. max_pixels {size['longest_edge']:,}")
    p = plan(config, sizes, per_frame, gpus, nodes, text_tokens, micro_batch, on_gpu, answer_tokens)
    if how:
        p.notes.append(how)
    return sizes, per_frame, p


def frame_processor(config, hf_config):
    """Qwen's image processor as training would use it: the model folder's (or the tiny model's), else the
    class defaults for the tower's patch and merge sizes; the config's min_pixels / max_pixels applied."""
    from transformers import Qwen2VLImageProcessorPil

    from .models.load import load_image_processor, set_frame_area

    m = config.model
    if config.tiny_model is not None:
        processor = get_family(m.family).tiny_image_processor(config.tiny_model)
    elif m.model_name_or_path and (Path(m.model_name_or_path) / "preprocessor_config.json").is_file():
        processor = load_image_processor(m.model_name_or_path, config.train.trust_remote_code)
    else:
        v = hf_config.vision_config
        processor = Qwen2VLImageProcessorPil(patch_size=v.patch_size, merge_size=v.spatial_merge_size,
                                             temporal_patch_size=v.temporal_patch_size)
    set_frame_area(processor, m.min_pixels, m.max_pixels)
    return processor


def planned_frame_size(config, processor) -> tuple[tuple[int, int], str]:
    """((height, width), where from): the first training record's first frame when it can be read, else the
    largest square frame max_pixels allows."""
    from .data.frames import MediaError, frame_sizes
    from .data.validate import DataError, load_records

    paths = [p for p in config.data.train_data or [] if Path(p).is_file()]
    if paths:
        try:
            record = next(iter(load_records(paths[0], config.data.media_root, on_bad_record="skip")))
            root = config.data.media_root or Path(paths[0]).parent
            return frame_sizes(record, root, 1, raster=config.prompt.raster())[0], f"record {record.id} of {paths[0]}"
        except (DataError, MediaError, StopIteration, OSError):
            pass
    side = math.isqrt(processor.size["longest_edge"])
    return (side, side), "no training frames to measure: the largest square max_pixels allows"


# what is measured from train_data: (the text of a record, template tokens added, default, the option that sets it)
MEASURED = {"text": (lambda r: " ".join(turn.text for turn in r.conversations), 32, DEFAULT_TEXT_TOKENS,
                     "--text-tokens"),
            "answers": (lambda r: " ".join(turn.text for turn in r.conversations if turn.role == GPT), 4,
                        DEFAULT_ANSWER_TOKENS, "--answer-tokens")}


def measure_tokens(config, text: int | None = None, answers: int | None = None, sample: int = 1000
                   ) -> dict[str, tuple[int, str]]:
    """{"text": text tokens per sample (prompt and answers), "answers": labelled tokens per sample (the answers
    and their end tokens)}, each with where the number comes from: as given, else the longest of the first
    records of train_data — by the model's own tokenizer when it is a local folder, else a conservative 1 token
    per 3 characters — else the default. The records and the tokenizer are read once for both."""
    out = {name: (value, MEASURED[name][3]) for name, value in (("text", text), ("answers", answers))
           if value is not None}
    wanted = [name for name in MEASURED if name not in out]
    return {**out, **_measure(config, wanted, sample)} if wanted else out


def _measure(config, wanted: list[str], sample: int) -> dict[str, tuple[int, str]]:
    """The longest text of each ``wanted`` kind in train_data's first records, in tokens, plus its template."""
    def defaults(why) -> dict[str, tuple[int, str]]:  # why(option): the reason, naming the option to set
        return {name: (MEASURED[name][2], why(MEASURED[name][3])) for name in wanted}

    paths = [p for p in config.data.train_data or [] if Path(p).is_file()]
    if not paths:
        return defaults(lambda option: f"default; train_data {config.data.train_data} is not there yet, set {option} "
                        "to change it")
    from itertools import islice

    from .data.annotations import AnnotationFileError
    from .data.validate import DataError, load_records

    try:
        records = [r for p in paths for r in islice(load_records(p, on_bad_record="skip"), sample)]
    except (AnnotationFileError, DataError) as e:
        problem = str(e).splitlines()[0]
        return defaults(lambda option: f"default; train_data cannot be measured ({problem})")
    path = ", ".join(paths)
    texts = {name: [MEASURED[name][0](r) for r in records] for name in wanted}
    name = config.model.model_name_or_path or config.model.language_model
    if not (name and Path(name).is_dir()):
        return {k: (max(len(t) for t in texts[k]) // 3 + MEASURED[k][1],
                    f"longest of {len(records)} records of {path}, ~3 characters a token") for k in wanted}
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError, TypeError, ImportError) as e:  # e.g. a folder with config.json alone
        problem = str(e).splitlines()[0][:80]
        return defaults(lambda option: f"default; {name} has no tokenizer that loads ({problem}), set {option} to "
                        "change it")
    return {k: (max(len(tokenizer(t).input_ids) for t in texts[k]) + MEASURED[k][1],
                f"longest of {len(records)} records of {path} by the model's tokenizer, + {MEASURED[k][1]} for the "
                "template") for k in wanted}


def fits(p: Plan, gpu_memory: float) -> bool:
    """Whether the estimate fits ``gpu_memory`` GiB per GPU, keeping 10 % headroom."""
    return p.total <= 0.9 * gpu_memory * GiB


def suggest_batch(config, sizes, tokens_per_frame, gpus, nodes, text_tokens, gpu_memory: float,
                  answer_tokens: int = DEFAULT_ANSWER_TOKENS) -> tuple[int, int] | None:
    """The largest per-device batch that fits (with 10 % headroom) and the accumulation keeping the global batch."""
    t = config.train
    world = gpus * nodes
    global_batch = t.global_batch_size or t.per_device_train_batch_size * t.gradient_accumulation_steps * world
    for b in range(min(global_batch // world, 64), 0, -1):
        if (global_batch // world) % b:
            continue
        if fits(plan(config, sizes, tokens_per_frame, gpus, nodes, text_tokens, b, answer_tokens=answer_tokens),
                gpu_memory):
            return b, global_batch // (b * world)
    return None


STAGES = ("zero2.json", "zero3.json", "zero3_offload.json")  # cheapest first: ZeRO-2 gathers no parameters


def recommend_deepspeed(config, sizes, tokens_per_frame, gpus, nodes, text_tokens, gpu_memory: float,
                        answer_tokens: int = DEFAULT_ANSWER_TOKENS) -> tuple[str | None, str]:
    """(the cheapest of the DeepSpeed configs beside the run's that fits, why); (None, why) for a run without
    DeepSpeed, or when none fits. ZeRO-2 shards gradients and optimizer states but keeps every parameter whole on
    every GPU: no parameter is gathered at any step, which ZeRO-3 does for every layer twice a step."""
    if not config.train.deepspeed:
        return None, "the config uses no DeepSpeed"
    folder = Path(config.train.deepspeed).parent
    for name in STAGES:
        candidate = str(folder / name)
        if not Path(candidate).is_file():
            continue
        p = plan(config, sizes, tokens_per_frame, gpus, nodes, text_tokens, answer_tokens=answer_tokens,
                 deepspeed=candidate)
        if fits(p, gpu_memory):
            stage, offload = _zero(candidate)
            why = (f"ZeRO-{stage}{' with offload' if offload else ''} is the cheapest stage that fits: "
                   f"{p.total / GiB:.1f} of {gpu_memory:.0f} GiB per GPU")
            if stage == 2:
                why += " (the whole model fits on every GPU, so no parameter is gathered)"
            return candidate, why
    return None, "no DeepSpeed stage fits; see the suggestion above"


def _zero(deepspeed_config) -> tuple[int, bool]:
    if not deepspeed_config:
        return 0, False
    ds = json.loads(Path(deepspeed_config).read_text()) if isinstance(deepspeed_config, str) else deepspeed_config
    zero = ds.get("zero_optimization", {})
    offload = zero.get("offload_optimizer", {}).get("device") == "cpu"
    return int(zero.get("stage", 0)), offload


def format_plan(p: Plan, gpu_memory: float | None) -> str:
    lines = [f"  {what:<48} {value / GiB:8.2f} GiB" for what, value in p.rows]
    lines.append(f"  {'total per GPU':<48} {p.total / GiB:8.2f} GiB")
    lines += [f"  {n}" for n in p.notes]
    if gpu_memory:
        verdict = "fits" if fits(p, gpu_memory) else "DOES NOT FIT"
        lines.append(f"  {verdict} in {gpu_memory:.0f} GiB per GPU (keeping 10 % headroom)")
    return "\n".join(lines)


@dataclass
class Assessment:
    """A config's plan on GPUs of one size: what `geollava plan` prints and the launcher acts on."""
    config: object
    plan: Plan
    sizes: ModelSizes
    gpu_memory: float
    text: tuple[int, str]  # text tokens per sample, and where the number comes from
    answers: tuple[int, str]  # labelled tokens per sample, and where from
    suggestion: tuple[int, int] | None  # (per-device batch, accumulation) that fits with the same global batch
    stage: tuple[str | None, str]  # (a cheaper DeepSpeed config that fits, why)

    @property
    def fits(self) -> bool:
        return fits(self.plan, self.gpu_memory)

    @property
    def change_deepspeed(self) -> str | None:
        """The recommended DeepSpeed config when it is not the config's own."""
        recommended, current = self.stage[0], self.config.train.deepspeed
        same = recommended and current and Path(recommended).resolve() == Path(current).resolve()
        return recommended if recommended and not same else None

    def as_json(self) -> dict:
        p, config = self.plan, self.config
        return {"config": config.source, "family": config.model.family, "parameters": self.sizes.total,
                "world": p.world, "deepspeed": config.train.deepspeed, "micro_batch": p.micro_batch,
                "sequence": p.sequence, "text_tokens": self.text[0], "text_tokens_from": self.text[1],
                "answer_tokens": self.answers[0], "answer_tokens_from": self.answers[1],
                "rows_gib": {what: value / GiB for what, value in p.rows}, "total_gib": p.total / GiB,
                "gpu_memory_gib": self.gpu_memory, "fits": self.fits,
                "suggested": {"per_device_train_batch_size": self.suggestion[0],
                              "gradient_accumulation_steps": self.suggestion[1]} if self.suggestion else None,
                "recommended_deepspeed": self.stage[0], "recommended_because": self.stage[1],
                "change_deepspeed": bool(self.change_deepspeed), "notes": p.notes}

    def summary_lines(self) -> list[str]:
        """The plan in a few lines, as the launcher prints it before a GPU run."""
        p = self.plan
        lines = [f"{p.total / GiB:.1f} GiB per GPU of {self.gpu_memory:.0f}: "
                 f"{'fits' if self.fits else 'DOES NOT FIT'} (micro-batch {p.micro_batch} x {p.sequence} tokens)"]
        lines += [f"  {what}: {value / GiB:.2f} GiB" for what, value in p.rows]
        if self.suggestion:
            lines.append(f"suggested: per_device_train_batch_size {self.suggestion[0]}, "
                         f"gradient_accumulation_steps {self.suggestion[1]}")
        return lines


def assess(config, gpus: int, nodes: int, gpu_memory: float, text_tokens: int | None = None,
           answer_tokens: int | None = None) -> Assessment:
    """The plan of ``config`` on ``gpus`` x ``nodes`` GPUs of ``gpu_memory`` GiB; raises OSError when the model's
    config cannot be read."""
    measured = measure_tokens(config, text_tokens, answer_tokens)
    text, answers = measured["text"], measured["answers"]
    sizes, per_frame, p = estimate(config, gpus, nodes, text[0], answer_tokens=answers[0])
    args = (config, sizes, per_frame, gpus, nodes, text[0], gpu_memory, answers[0])
    return Assessment(config, p, sizes, gpu_memory, text, answers, suggest_batch(*args), recommend_deepspeed(*args))


def main(argv: list[str], recipe) -> int:
    """Exit code 0: it fits; 1: it does not fit; 2: the config or the model's config cannot be read. ``recipe``:
    the recipe the config is for (config.Recipe; `geollava plan` finds it: launch.plan)."""
    from .config import ConfigError, parse_config

    parser = argparse.ArgumentParser(prog="geollava plan", description=__doc__.splitlines()[0],
                                     epilog="Every other --key value overrides the config, as in training.")
    parser.add_argument("--gpus", type=int, default=1, help="GPUs per node")
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--gpu-memory", type=float, default=80.0, help="GiB per GPU (default 80)")
    parser.add_argument("--text-tokens", type=int, help="text tokens per sample, prompt and answer (default: the "
                                                         "longest of train_data's first 1,000 records when the file "
                                                         f"exists, else {DEFAULT_TEXT_TOKENS})")
    parser.add_argument("--answer-tokens", type=int, help="labelled tokens per sample, where the logits are made "
                                                           "(default: the longest answers of train_data's first "
                                                           f"1,000 records when the file exists, else "
                                                           f"{DEFAULT_ANSWER_TOKENS})")
    parser.add_argument("--json", action="store_true", help="print one JSON object (rows in GiB, total, fits, "
                                                            "suggested batch, recommended DeepSpeed stage) instead "
                                                            "of the table")
    args, rest = parser.parse_known_args(argv)
    try:
        config = parse_config(rest, recipe, need_data=False)
        a = assess(config, args.gpus, args.nodes, args.gpu_memory, args.text_tokens, args.answer_tokens)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # transformers' word for "no such folder, and the hub cannot be reached"
        print(f"error: {unreadable_model(config, e)}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(a.as_json()))
        return 0 if a.fits else 1
    p = a.plan
    print(f"text tokens per sample: {a.text[0]} ({a.text[1]})")
    print(f"labelled tokens per sample: {a.answers[0]} ({a.answers[1]})")
    print(f"plan for {config.source or 'the config'}: {config.model.family}, {a.sizes.total / 1e9:.2f} B parameters, "
          f"{p.world} GPU(s), micro-batch {p.micro_batch} x {p.sequence} tokens")
    print(format_plan(p, args.gpu_memory))
    if a.suggestion:
        print(f"  suggested: per_device_train_batch_size {a.suggestion[0]}, gradient_accumulation_steps "
              f"{a.suggestion[1]} (same global batch)")
    else:
        print("  no per-device batch fits: enable activation_checkpointing, ZeRO-3, offload, QLoRA or more GPUs")
    if a.change_deepspeed:
        print(f"  recommended: deepspeed {a.stage[0]}: {a.stage[1]}")
    return 0 if a.fits else 1


def unreadable_model(config, error: OSError) -> str:
    name = config.model.model_name_or_path or config.model.language_model
    return (f"cannot read the model config of {name}: it is not a local folder and the hub did not answer "
            f"({str(error).splitlines()[0]}); point model_name_or_path at a local model folder, or run where the "
            "hub is reachable (only config.json is read, no weights)")
