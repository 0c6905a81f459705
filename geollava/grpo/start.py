"""Where reward fine-tuning starts (`init_from`): an SFT checkpoint or run folder — then the family, the prompt
settings (its geollava_prompt.json: GRPO prompts exactly as SFT did), the base model and its quantization come
from it, and its adapter goes on training — or a base model (hub id or folder), prompted and wrapped in LoRA as
the config says."""
from __future__ import annotations

import logging
from dataclasses import fields
from pathlib import Path

from ..arguments import ConfigError, LoraArguments
from ..models.checkpoint import (CONFIG_FILE, CheckpointError, check_adapter, checkpoint_folders, is_cut_save,
                                 read_run_config, resolve_base)
from ..runs import final_target

log = logging.getLogger(__name__)


def resolve_start(config) -> None:
    """Fill the model, prompt and LoRA keys from ``init_from``; a run folder's ``init_from`` becomes the checkpoint
    it names (its final model, else its last complete checkpoint)."""
    where, reward, model = config.source or "config", config.recipe_args, config.model
    if not reward.init_from:
        raise ConfigError(f"{where}: init_from is not set; give an SFT run or checkpoint folder (geollava train's "
                          "output_dir) or a base model (hub id or folder)")
    folder = Path(reward.init_from).expanduser()
    if is_cut_save(folder):
        raise ConfigError(f"{where}: init_from {folder} is a save that was cut short (incomplete); start from the "
                          f"run folder ({folder.parent}: its newest complete checkpoint) or another checkpoint-N")
    if not folder.exists() and _looks_local(reward.init_from):
        raise ConfigError(f"{where}: init_from {reward.init_from} does not exist; give the output_dir of `geollava "
                          "train` (or one of its checkpoint-N folders), or a hub id such as owner/name")
    if not (folder.is_dir() and ((folder / CONFIG_FILE).is_file() or checkpoint_folders(folder))):
        if model.model_name_or_path or config.tiny_model is not None or model.vision_tower:
            raise ConfigError(f"{where}: init_from {reward.init_from} is the model; remove model_name_or_path / "
                              "tiny_model / vision_tower")
        model.model_name_or_path = str(folder) if folder.exists() else reward.init_from
        return
    try:
        target = final_target(str(folder))
    except CheckpointError as e:
        raise ConfigError(f"{where}: init_from: {e}") from None
    checkpoint = Path(target.path)
    try:
        check_adapter(checkpoint)
    except CheckpointError as e:
        raise ConfigError(f"{where}: init_from: {e}") from None
    sft = read_run_config(checkpoint)
    is_adapter = (checkpoint / "adapter_config.json").is_file()
    base = resolve_base(checkpoint, sft["model_name_or_path"]) if is_adapter else str(checkpoint)
    given = model.model_name_or_path  # a GRPO run's saved config names the base it resolved: the same one
    if config.tiny_model is not None or model.vision_tower or (given and not _same_model(given, base)):
        raise ConfigError(f"{where}: init_from {folder} names the model and its base; remove model_name_or_path / "
                          "tiny_model / vision_tower")
    model.family = target.family
    model.model_name_or_path = base
    model.min_pixels = model.min_pixels or sft.get("min_pixels")  # set in this config: a choice of its own
    model.max_pixels = model.max_pixels or sft.get("max_pixels")
    config.prompt = target.prompt
    if is_adapter:  # the adapter trains on as it was made
        for f in fields(LoraArguments):
            if f.name in sft:
                setattr(config.lora, f.name, sft[f.name])
    elif config.lora.lora_enable:
        log.info("init_from %s is a full-weight model: GRPO wraps it in a new LoRA (r %d) as this config says "
                 "(lora_enable: false trains it whole)", checkpoint, config.lora.lora_r)
    reward.init_from = str(checkpoint)
    log.info("GRPO starts from %s (family %s, base %s), prompted as it was trained", checkpoint, model.family,
             model.model_name_or_path)


def start_adapter(config) -> Path | None:
    """The SFT adapter GRPO trains on (None: it starts from a base or full-weight model, LoRA as configured)."""
    folder = Path(config.recipe_args.init_from)
    return folder if (folder / "adapter_config.json").is_file() else None


def _looks_local(name: str) -> bool:
    """A path rather than a hub id (owner/name): absolute, relative, home, or under a folder that exists here."""
    first = Path(name).parts[0] if Path(name).parts else ""
    return name.startswith(("/", ".", "~")) or len(Path(name).parts) > 2 or Path(first).is_dir()


def _same_model(a: str, b: str) -> bool:
    return a == b or (Path(a).exists() and Path(b).exists() and Path(a).resolve() == Path(b).resolve())
