"""Finding and loading what a run saved — one module that eval, predict, the demo and merge share.

`--checkpoint PATH` may be a run folder (every checkpoint-* and the final model, in step order), one checkpoint
folder, a merged model folder, or a base model by hub id or folder (zero-shot, with a family). Each becomes a
Target: its label in tables, where it is, and how it is loaded and prompted.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .data.prompt import PromptSettings
from .families import FAMILIES, get_family
from .models.checkpoint import (CheckpointError, base_loading, load_checkpoint, load_prompt, read_run_config,
                                resolve_base)
from .models.load import load_model, load_processors

log = logging.getLogger(__name__)
WEIGHT_FILES = ("adapter_model.safetensors", "model.safetensors", "model.safetensors.index.json")


@dataclass
class Target:
    """One model to evaluate or ask: its table label, where it is, and how it is loaded and prompted."""
    label: str
    path: str
    kind: str  # "checkpoint" | "base"
    family: str
    prompt: PromptSettings
    loading: dict  # quantization of the base as in training: {"bits", "double_quant", "quant_type"}


def find_targets(path: str, include_base: bool = False, family: str | None = None) -> list[Target]:
    """Each model of ``path``, in step order: a run's checkpoints and final model (its base first with
    ``include_base``), one checkpoint, or a base model given by hub id or folder with ``family``."""
    folder = Path(path)
    if folder.is_dir() and (folder / "geollava_config.yaml").is_file():
        return _run_targets(folder, include_base)
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"--checkpoint {path} is a file; give a checkpoint folder, a run folder or a model")
    if not folder.exists() and ("/" not in path or path.startswith((".", "/"))):
        raise CheckpointError(f"checkpoint {path} does not exist")
    if family is None:
        raise CheckpointError(f"{path} is not a GeoLLaVA checkpoint (no geollava_config.yaml): using it as a base "
                              f"model needs --family {' | '.join(FAMILIES)}")
    prompt = PromptSettings(chat_template=get_family(family).chat_template)
    return [Target("base", path, "base", family, prompt, base_loading({}))]


def final_target(path: str, family: str | None = None) -> Target:
    """The model a single answer comes from: a run's final model (else its last checkpoint), a checkpoint, or a
    base model."""
    return find_targets(path, False, family)[-1]


def _run_targets(folder: Path, include_base: bool) -> list[Target]:
    config = read_run_config(folder)
    checkpoints = checkpoint_folders(folder)
    targets = [_checkpoint_target(c.name, c) for c in checkpoints]
    if has_weights(folder):
        if checkpoints and same_weights(checkpoints[-1], folder):
            log.info("%s holds the same weights as the final model: evaluated once, as 'final'", checkpoints[-1])
            targets.pop()
        targets.append(_checkpoint_target("final" if checkpoints else folder.name, folder))
    if not targets:
        raise CheckpointError(f"{folder} has no checkpoint-* folders and no saved model")
    if include_base:
        # loaded exactly as the adapter's base was (same bits and quantization), prompted as in training
        targets.insert(0, Target("base", resolve_base(folder, config["model_name_or_path"]), "base",
                                 config["family"], load_prompt(folder), base_loading(config)))
    return targets


def checkpoint_folders(run: Path) -> list[Path]:
    """The run's checkpoint-N folders, by step."""
    return sorted((p for p in run.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()),
                  key=lambda p: int(p.name.split("-")[-1]))


def _checkpoint_target(label: str, folder: Path) -> Target:
    config = read_run_config(folder)
    return Target(label, str(folder), "checkpoint", config["family"], load_prompt(folder), base_loading(config))


def has_weights(folder: Path) -> bool:
    return any((folder / name).is_file() for name in WEIGHT_FILES)


def same_weights(a: Path, b: Path) -> bool:
    name = WEIGHT_FILES[0]
    return (a / name).is_file() and (b / name).is_file() and (a / name).read_bytes() == (b / name).read_bytes()


def inference_dtype() -> torch.dtype:
    return torch.bfloat16 if torch.cuda.is_available() else torch.float32


def load_target(target: Target):
    """(model, tokenizer, image processor), ready for left-padded batched generation."""
    dtype = inference_dtype()
    device_map = {"": int(os.environ.get("LOCAL_RANK", "0"))} if torch.cuda.is_available() else None
    if target.kind == "checkpoint":
        model, tokenizer, image_processor, *_ = load_checkpoint(target.path, dtype, device_map)
    else:
        tokenizer, image_processor = load_processors(target.path)
        model = load_model(target.path, target.family, dtype, device_map=device_map, **target.loading).eval()
        model.config.use_cache = True
    tokenizer.padding_side = "left"
    return model, tokenizer, image_processor


@dataclass
class Loaded:
    """A target with its model loaded once (predict, the demo)."""
    target: Target
    model: object
    tokenizer: object
    image_processor: object

    @classmethod
    def of(cls, target: Target) -> Loaded:
        return cls(target, *load_target(target))
