"""Where reward fine-tuning starts (`init_from`): an SFT checkpoint or run folder — then the family, the prompt
settings (its geollava_prompt.json: GRPO prompts exactly as SFT did), the base model and its quantization come
from it, and its adapter goes on training — or a base model (hub id or folder), prompted and wrapped in LoRA as
the config says."""
from __future__ import annotations

import logging
from dataclasses import fields
from pathlib import Path

from ..arguments import ConfigError, LoraArguments
from ..models.checkpoint import CONFIG_FILE, CheckpointError, checkpoint_folders, read_run_config, resolve_base
from ..runs import final_target

log = logging.getLogger(__name__)


def resolve_start(config) -> None:
    """Fill the model, prompt and LoRA keys from ``init_from``; a run folder's ``init_from`` becomes the checkpoint
    it names (its final model, else its last complete checkpoint)."""
    where, reward, model = config.source or "config", config.reward, config.model
    if not reward.init_from:
        raise ConfigError(f"{where}: init_from is not set; give an SFT run or checkpoint folder (geollava train's "
                          "output_dir) or a base model (hub id or folder)")
    folder = Path(reward.init_from)
    if not (folder.is_dir() and ((folder / CONFIG_FILE).is_file() or checkpoint_folders(folder))):
        if model.model_name_or_path or config.tiny_model is not None or model.vision_tower:
            raise ConfigError(f"{where}: init_from {reward.init_from} is the model; remove model_name_or_path / "
                              "tiny_model / vision_tower")
        model.model_name_or_path = reward.init_from
        return
    if model.model_name_or_path or config.tiny_model is not None or model.vision_tower:
        raise ConfigError(f"{where}: init_from {folder} names the model and its base; remove model_name_or_path / "
                          "tiny_model / vision_tower")
    try:
        target = final_target(str(folder))
    except CheckpointError as e:
        raise ConfigError(f"{where}: init_from: {e}") from None
    checkpoint = Path(target.path)
    sft = read_run_config(checkpoint)
    is_adapter = (checkpoint / "adapter_config.json").is_file()
    model.family = target.family
    model.model_name_or_path = resolve_base(checkpoint, sft["model_name_or_path"]) if is_adapter else str(checkpoint)
    model.min_pixels, model.max_pixels = sft.get("min_pixels"), sft.get("max_pixels")
    config.prompt = target.prompt
    if is_adapter:  # the adapter trains on as it was made
        for f in fields(LoraArguments):
            if f.name in sft:
                setattr(config.lora, f.name, sft[f.name])
    reward.init_from = str(checkpoint)
    log.info("GRPO starts from %s (family %s, base %s), prompted as it was trained", checkpoint, model.family,
             model.model_name_or_path)


def start_adapter(config) -> Path | None:
    """The SFT adapter GRPO trains on (None: it starts from a base or full-weight model, LoRA as configured)."""
    folder = Path(config.reward.init_from)
    return folder if (folder / "adapter_config.json").is_file() else None
