"""The config keys, by group: the model, the data, LoRA, training (transformers' TrainingArguments with our run
keys). config.py parses and checks them; a recipe's own keys are its own (grpo/arguments.py)."""
from __future__ import annotations

from dataclasses import dataclass, field

import transformers

from .families import FAMILIES


class ConfigError(ValueError):
    """A configuration that cannot run; raised before any model is loaded."""


@dataclass
class ModelArguments:
    family: str = field(default="llava", metadata={"help": f"one of {sorted(FAMILIES)}"})
    model_name_or_path: str | None = field(default=None, metadata={"help": "hub id or local HF model folder"})
    vision_tower: str | None = field(default=None, metadata={"help": "assemble: CLIP vision tower (hub id / folder)"})
    language_model: str | None = field(default=None, metadata={
        "help": "assemble: the LLM (Vicuna / Llama hub id or folder, or a .gguf file)"})
    pretrained_projector: str | None = field(default=None, metadata={"help": "assemble: LLaVA's mm_projector.bin"})
    image_size: int | None = field(default=None, metadata={"help": "assemble: vision input size, e.g. 504"})
    prepared_model_dir: str | None = field(default=None, metadata={
        "help": "where an assembled or tiny base model is saved (default: <output_dir>/base_model)"})
    min_pixels: int | None = field(default=None, metadata={
        "help": "Qwen families: smallest frame area in pixels after resizing (default: the image processor's)"})
    max_pixels: int | None = field(default=None, metadata={
        "help": "Qwen families: largest frame area in pixels after resizing; bounds the tokens per frame"})
    device_map: str | None = field(default=None, metadata={"help": "e.g. auto; never with ZeRO-3"})
    attn_implementation: str = field(default="sdpa", metadata={
        "help": "sdpa (PyTorch's fused attention) | flash_attention_2 (GPUs with flash-attn installed) | eager"})


@dataclass
class DataArguments:
    train_data: list[str] | None = field(default=None, metadata={
        "help": "training annotations (.json / .jsonl / .parquet / hub id); several files train as one mixture"})
    train_data_ratios: list[float] | None = field(default=None, metadata={
        "help": "per train_data file: times each sample is seen per epoch (0.5: a random half); default 1 each"})
    eval_data: str | None = field(default=None, metadata={"help": "optional evaluation annotations"})
    media_root: str | None = field(default=None, metadata={"help": "default: each annotation file's folder"})
    on_bad_record: str = field(default="error", metadata={"help": "error | skip"})
    deep_check: bool = field(default=False, metadata={"help": "decode all media before training"})
    pixel_cache: bool = field(default=False, metadata={
        "help": "decode and preprocess each sample once per run, into <output_dir>/pixel_cache (small sets)"})


@dataclass
class LoraArguments:
    lora_enable: bool = field(default=True, metadata={"help": "false = full fine-tuning of LLM and projector"})
    lora_r: int = 64
    lora_alpha: int = 128
    lora_dropout: float = 0.1
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        metadata={"help": "linear layer names, matched inside the language model (lora_target_scope)"})
    lora_target_scope: str = field(default="language_model", metadata={
        "help": "language_model: the names inside the LLM only | suffix: every module whose name ends so, as PEFT "
                "matches a plain list (GeoLLaVA's script: the vision towers' q/k/v_proj are wrapped too)"})
    init_lora_weights: str = field(default="default", metadata={
        "help": "default (PEFT's: Kaiming-uniform A, zero B) | gaussian (A from N(0, 1/r); GeoLLaVA's script)"})
    bits: int = field(default=16, metadata={"help": "16 | 8 | 4 (4 = QLoRA NF4)"})
    double_quant: bool = True
    quant_type: str = "nf4"
    tune_projector: bool = True
    tune_vision_tower: bool = False
    tune_embeddings: bool = field(default=False, metadata={"help": "also train embed_tokens and lm_head fully"})


@dataclass
class RunKeys:
    """Keys of ours that every trainer (SFT's and GRPO's) takes beside transformers' TrainingArguments."""
    output_dir: str = "runs/default"
    mm_projector_lr: float | None = field(default=None, metadata={"help": "projector learning rate"})
    global_batch_size: int | None = field(default=None, metadata={
        "help": "derive gradient_accumulation_steps = global / (per-device batch x processes); env GLOBAL_BATCH"})
    resume_from_checkpoint: str | None = field(default=None, metadata={"help": "auto | PATH"})
    report_to: None | str | list[str] = field(default="tensorboard", metadata={"help": "tensorboard | wandb | none"})
    logging_steps: float = 10
    remove_unused_columns: bool = False
    trust_remote_code: bool = field(default=False, metadata={"help": "run a model repository's own code"})


@dataclass
class TrainArguments(RunKeys, transformers.TrainingArguments):
    train_sampling_strategy: str = "group_by_length"
    padding_free: bool = field(default=False, metadata={
        "help": "pack a micro-batch's samples into one row without padding, attention kept within each sample"})
    max_tokens_per_batch: int | None = field(default=None, metadata={
        "help": "fill micro-batches to this many tokens (padded: longest x count; padding_free: the sum) "
                "instead of per_device_train_batch_size samples"})
    logits_at_labels: bool = field(default=True, metadata={
        "help": "apply the LM head only where the next token is labelled (false: at every position, as the "
                "model's own loss does; the same loss, more memory)"})
