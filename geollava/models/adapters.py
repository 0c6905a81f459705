"""What trains: LoRA on the language model's linear layers only, the projector fully, the vision tower frozen
(unless the config says otherwise); or full fine-tuning of the LLM and projector."""
from __future__ import annotations

import logging
import re

import torch
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

from ..families import Family

log = logging.getLogger(__name__)


def lora_target_regex(family: Family, layer_names: list[str], scope: str = "language_model") -> str:
    """A full-match regex on module paths: the named linear layers inside the language model, nowhere else —
    or, with ``scope`` "suffix", wherever a module's name ends so, as PEFT matches a plain list of names (then
    [q_proj, v_proj] also wraps a CLIP tower's q_proj / v_proj: GeoLLaVA's recipe)."""
    names = "|".join(re.escape(n) for n in layer_names)
    if scope == "suffix":
        return rf"(.*\.)?({names})"
    return rf"(.*\.)?{re.escape(family.language_model)}\..*\.({names})"


def init_lora_weights(setting: str) -> bool | str:
    """PEFT's init_lora_weights for the config's name of it."""
    return True if setting == "default" else setting


def trainable_setup(model, family: Family, lora_args, gradient_checkpointing: bool = False):
    """Freeze and wrap ``model`` as the config says; returns the model to train (a PeftModel with LoRA)."""
    model.requires_grad_(False)
    quantized = getattr(model, "is_quantized", False) or getattr(model, "is_loaded_in_4bit", False)
    if quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    if not lora_args.lora_enable:
        _module(model, family.language_model).requires_grad_(True)
        model.lm_head.requires_grad_(True)
        if lora_args.tune_projector:
            for projector in family.projectors:
                _module(model, projector).requires_grad_(True)
        for tower in family.vision_towers if lora_args.tune_vision_tower else ():
            _module(model, tower).requires_grad_(True)
        return model
    modules_to_save = []
    if lora_args.tune_projector:
        modules_to_save += projector_names(model, family, inside_trained_tower=lora_args.tune_vision_tower)
    if lora_args.tune_embeddings:
        modules_to_save += ["embed_tokens", "lm_head"]
    if lora_args.tune_vision_tower:
        modules_to_save += [t.split(".")[-1] for t in family.vision_towers]
    config = LoraConfig(r=lora_args.lora_r, lora_alpha=lora_args.lora_alpha, lora_dropout=lora_args.lora_dropout,
                        target_modules=lora_target_regex(family, lora_args.lora_target_modules,
                                                         lora_args.lora_target_scope),
                        init_lora_weights=init_lora_weights(lora_args.init_lora_weights),
                        modules_to_save=modules_to_save or None, bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(model, config)
    disable_cpu_4bit_repacking(model)
    return model


def projector_names(model, family: Family, inside_trained_tower: bool = False) -> list[str]:
    """The projector modules as PEFT's modules_to_save names them (path suffixes). A module list (Qwen3-VL's
    deepstack mergers) is indexed, not called, so each of its members is saved on its own. A projector inside a
    tower that trains as a whole (Qwen's merger) is left to the tower's copy: PEFT cannot nest the two."""
    names = []
    for path in family.projectors:
        if inside_trained_tower and any(path.startswith(t + ".") for t in family.vision_towers):
            continue
        module = _module(model, path)
        if isinstance(module, torch.nn.ModuleList):
            names += [f"{path.split('.')[-1]}.{k}" for k in range(len(module))]
        else:
            names.append(path.split(".")[-1])
    return names


def cast_trainable(model, dtype: torch.dtype) -> None:
    """DeepSpeed keeps its own fp32 master copy and needs every trainable tensor in the compute dtype; PEFT makes
    LoRA weights fp32 while the projector copy stays bf16 (measured on an H200: ZeRO-3 then fails in `defragment`)."""
    for p in model.parameters():
        if p.requires_grad and p.dtype != dtype:
            p.data = p.data.to(dtype)


def disable_cpu_4bit_repacking(model) -> None:
    """bitsandbytes on a CPU with AVX512-BF16 repacks 4-bit weights into an inference-only layout at the first
    no-grad forward; LoRA then silently gets zero gradients (measured with bitsandbytes 0.50 on this CPU: train,
    evaluate, train again, and the LoRA weights no longer move). Keep the trainable layout."""
    try:
        import bitsandbytes as bnb
    except ImportError:
        return
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False


def trainable_summary(model, family: Family) -> str:
    groups: dict[str, int] = {}
    total = 0
    for name, p in model.named_parameters():
        numel = p.ds_numel if hasattr(p, "ds_numel") else p.numel()
        total += numel
        if p.requires_grad:
            key = "lora" if "lora_" in name else "projector" if family.is_projector(name) else \
                "vision" if family.is_vision(name) else "language model"
            groups[key] = groups.get(key, 0) + numel
    trainable = sum(groups.values())
    parts = ", ".join(f"{k} {v:,}" for k, v in sorted(groups.items()))
    return f"trainable parameters: {trainable:,} of {total:,} ({100 * trainable / max(total, 1):.2f}%): {parts}"



def _module(model, path: str) -> torch.nn.Module:
    return model.get_submodule(path)
