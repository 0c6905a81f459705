"""Finding and loading what a run saved — one module that eval, predict, the demo and merge share.

`--checkpoint PATH` may be a run folder (every checkpoint-* and the final model, in step order), one checkpoint
folder, a merged model folder, or a base model by hub id or folder (zero-shot, with a family). Each becomes a
Target: its label in tables, where it is, and how it is loaded and prompted.
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .data.prompt import PromptSettings
from .families import FAMILIES, get_family
from .models.checkpoint import (CONFIG_FILE, WEIGHT_FILES, CheckpointError, base_loading, checkpoint_folders,
                                is_complete, is_cut_save, load_checkpoint, load_prompt, read_run_config,
                                resolve_base)
from .models.load import load_model, load_processors

log = logging.getLogger(__name__)


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
    ``include_base``), one checkpoint, or a base model given by hub id or folder with ``family``. Checkpoints cut
    short while saving are skipped, and named."""
    folder = Path(path)
    if is_cut_save(folder):
        raise CheckpointError(f"{folder} is a save that was cut short (incomplete); use the run folder (its newest "
                              "complete checkpoint) or another checkpoint-N")
    if folder.is_dir() and ((folder / CONFIG_FILE).is_file() or checkpoint_folders(folder)):
        return _run_targets(folder, include_base)
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"--checkpoint {path} is a file; give a checkpoint folder, a run folder or a model")
    if not folder.exists() and ("/" not in path or path.startswith((".", "/"))):
        raise CheckpointError(f"checkpoint {path} does not exist")
    if family is None:
        raise CheckpointError(f"{path} is not a GeoLLaVA checkpoint (no {CONFIG_FILE}): using it as a base "
                              f"model needs --family {' | '.join(FAMILIES)}")
    prompt = PromptSettings(chat_template=get_family(family).chat_template, box_format=get_family(family).box_format)
    return [Target("base", path, "base", family, prompt, base_loading({}))]


def final_target(path: str, family: str | None = None) -> Target:
    """The model a single answer comes from: a run's final model (else its last checkpoint), a checkpoint, or a
    base model."""
    return find_targets(path, False, family)[-1]


def _run_targets(folder: Path, include_base: bool) -> list[Target]:
    """A run folder, or one checkpoint-N folder (then the folder itself is the only model)."""
    checkpoints = checkpoint_folders(folder)
    complete = [c for c in checkpoints if is_complete(c)]
    for skipped in sorted(set(checkpoints) - set(complete)):
        log.warning("skipping %s: its save was cut short (incomplete)", skipped)
    targets = [_checkpoint_target(c.name, c) for c in complete]
    if has_weights(folder) and is_complete(folder):
        if complete and same_weights(complete[-1], folder):
            log.info("%s holds the same weights as the final model: evaluated once, as 'final'", complete[-1])
            targets.pop()
        targets.append(_checkpoint_target("final" if checkpoints else folder.name, folder))
    elif has_weights(folder) or (folder / CONFIG_FILE).is_file():
        log.warning("skipping %s itself: its save was cut short (incomplete)", folder)
    if not targets:
        interrupted = " (every save in it was cut short: the run was interrupted while saving)" if checkpoints or \
            has_weights(folder) else ""
        raise CheckpointError(f"{folder} has no complete checkpoint-* folder and no saved model{interrupted}; "
                              "resume the run with resume_from_checkpoint: auto")
    if include_base:
        # loaded exactly as the adapter's base was (same bits and quantization), prompted as in training
        source = folder if (folder / CONFIG_FILE).is_file() else complete[-1]
        config = read_run_config(source)
        targets.insert(0, Target("base", resolve_base(source, config["model_name_or_path"]), "base",
                                 config["family"], load_prompt(source), base_loading(config)))
    return targets


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
        model, tokenizer, image_processor, *_ = load_checkpoint(target.path, dtype, device_map, target.loading)
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


def weights_fingerprint(target: Target) -> dict:
    """What identifies the weights a target generates with: a content hash of an adapter (small) and of each
    config, and the size and modification time of full-weight files (gigabytes: not hashed); a hub id as named."""
    folder = Path(target.path)
    if not folder.is_dir():
        return {"model": target.path}
    files = {}
    for path in sorted(folder.iterdir()):
        if path.name == "adapter_model.safetensors" or path.suffix in (".json", ".yaml") and path.name != "train_log.json":
            files[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.suffix == ".safetensors" or path.name.endswith(".bin"):
            stat = path.stat()
            files[path.name] = f"{stat.st_size} bytes, modified {stat.st_mtime_ns}"
    return {"model": str(folder.resolve()), "files": files, "family": target.family, "loading": target.loading}
