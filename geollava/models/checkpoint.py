"""Load what training saved — a checkpoint folder, or a run's final folder — back into a model; and merge LoRA
into a full model folder.

A checkpoint holds the adapter (LoRA + projector) or full weights, the tokenizer, the image processor, the prompt
settings (`geollava_prompt.json`) and `geollava_config.yaml`, whose `model_name_or_path` names the base model the
adapter belongs to: relative to the checkpoint's own folder when the base lies inside the run (so a run folder can
be moved or copied elsewhere with its `base_model/`), an absolute path for another local folder, or a hub id.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import torch
import yaml

from ..data.prompt import PROMPT_FILE, PromptSettings
from ..families import get_family
from ..locks import reading, unless_read
from .load import load_model, load_processors

log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    pass


COMPLETE = "geollava_complete.json"  # written last: a folder without it was cut short while saving


def mark_incomplete(folder: Path) -> None:
    """A folder about to be (re)written: not complete, even by the files an earlier save left there, until
    mark_complete replaces the sentinel this leaves."""
    (folder / COMPLETE).unlink(missing_ok=True)
    (folder / f".{COMPLETE}.partial").write_text("{}\n")


def mark_complete(folder: Path, step: int) -> None:
    """The last file of every save: from here on the folder is a checkpoint (written atomically)."""
    partial = folder / f".{COMPLETE}.partial"
    partial.write_text(json.dumps({"step": step}) + "\n")
    os.replace(partial, folder / COMPLETE)


def rotate(run: Path, limit: int | None, keep: str | None = None) -> list[Path]:
    """save_total_limit, applied only once the newest save is complete: the complete checkpoints beyond the newest
    ``limit`` are deleted (never ``keep``, the best model's), and incomplete ones older than the newest complete
    one. A kill at any moment of a save so leaves the previous complete checkpoint. Returns what was deleted."""
    if not limit or limit <= 0:
        return []
    folders = checkpoint_folders(Path(run))
    complete = [f for f in folders if is_complete(f)]
    if not complete:
        return []
    newest = step_of(complete[-1])
    kept = Path(keep).resolve() if keep else None
    doomed = [f for f in complete[:-limit] if f.resolve() != kept]
    doomed += [f for f in folders if step_of(f) < newest and f not in complete]
    deleted = []
    for folder in doomed:
        with unless_read(folder) as free:
            if not free:
                log.info("save_total_limit %d: %s is being read (an evaluation?): deleted at a later save", limit,
                         folder)
                continue
            log.info("save_total_limit %d: deleting %s", limit, folder)
            shutil.rmtree(folder, ignore_errors=True)
            deleted.append(folder)
    return deleted


def is_cut_save(folder: Path) -> bool:
    """A checkpoint or model folder a save began and never finished: its sentinel is there, or an adapter without
    its config (a run folder is not: it falls back to its newest complete checkpoint)."""
    folder = Path(folder)
    if (folder / COMPLETE).is_file() or checkpoint_folders(folder):  # a run folder falls back to its checkpoints
        return False
    return any(folder.glob(f".{COMPLETE}*")) or ((folder / "adapter_config.json").is_file()
                                                  and not (folder / CONFIG_FILE).is_file())


def check_adapter(folder: Path) -> None:
    """The adapter's weights file is whole (its header and every tensor it lists are in the file): read before
    any model loads, so a damaged file is one line, not a traceback after minutes of loading."""
    from safetensors import safe_open

    path = Path(folder) / "adapter_model.safetensors"
    if not path.is_file():
        return
    try:
        with safe_open(str(path), framework="pt") as f:
            f.keys()
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types for a damaged file
        raise CheckpointError(f"{path} cannot be read ({e}): the file is damaged (cut short by a full disk or a "
                              "copy?); use another checkpoint of the run, or copy this one again") from None


def checkpoint_folders(run: Path) -> list[Path]:
    """The run's checkpoint-N folders, by step (complete or not)."""
    return sorted((p for p in Path(run).glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()),
                  key=step_of)


def saved_deepspeed(run: Path) -> str | None:
    """The DeepSpeed config the run's newest complete checkpoint was saved under ("none" without one), or None when
    the run has no complete checkpoint: DeepSpeed resumes a checkpoint only under the stage that wrote it."""
    done = [c for c in checkpoint_folders(run) if is_complete(c)]
    return (read_run_config(done[-1]).get("deepspeed") or "none") if done else None


def step_of(checkpoint: Path) -> int:
    return int(checkpoint.name.split("-")[-1])


def is_complete(folder: Path) -> bool:
    """Whether a save finished: its marker is there — or, for a folder saved before markers existed, every file a
    save writes is (weights, prompt settings, config; a checkpoint-N also a readable trainer_state.json)."""
    folder = Path(folder)
    if (folder / COMPLETE).is_file():
        return True
    if any(folder.glob(f".{COMPLETE}*")) or not all((folder / n).is_file() for n in (PROMPT_FILE, CONFIG_FILE)):
        return False
    if not any((folder / n).is_file() for n in WEIGHT_FILES):
        return False
    if folder.name.startswith("checkpoint-"):
        try:
            json.loads((folder / "trainer_state.json").read_text())
        except (OSError, ValueError):
            return False
    return True


CONFIG_FILE = "geollava_config.yaml"
WEIGHT_FILES = ("adapter_model.safetensors", "model.safetensors", "model.safetensors.index.json")


def read_run_config(folder: str | Path) -> dict:
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{folder} has no geollava_config.yaml: not a GeoLLaVA checkpoint or run folder")
    return yaml.safe_load(path.read_text())


def base_reference(base: str, folder: Path, run_dir: Path) -> str:
    """How ``folder``'s config names the base model: relative to ``folder`` when the base is inside the run
    folder, absolute for any other local folder, unchanged for a hub id."""
    if not Path(base).is_dir():
        return base
    base_path, run_path = Path(base).resolve(), run_dir.resolve()
    if base_path == run_path or run_path in base_path.parents:
        return os.path.relpath(base_path, folder.resolve())
    return str(base_path)


def resolve_base(folder: Path, name: str) -> str:
    """The base model a checkpoint names, found from wherever the checkpoint now is."""
    if not Path(name).is_absolute() and (folder / name).is_dir():
        return str(folder / name)
    return name  # an absolute path, a path from the working directory (older checkpoints), or a hub id


def base_loading(config: dict) -> dict:
    """How the adapter's base was loaded in training (quantization included): the base is loaded the same way."""
    return {"bits": config.get("bits", 16), "double_quant": config.get("double_quant", True),
            "quant_type": config.get("quant_type", "nf4")}


def load_prompt(folder: Path) -> PromptSettings:
    try:
        return PromptSettings.load(folder)
    except FileNotFoundError as e:
        raise CheckpointError(str(e)) from None


def load_checkpoint(folder: str | Path, dtype: torch.dtype = torch.float32, device_map=None,
                    loading: dict | None = None):
    """(model, tokenizer, image_processor, run config, prompt settings) for a checkpoint; the adapter stays
    unmerged. ``loading``: how the base is quantized (default: as in training)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint {folder} does not exist (a run still training deletes its older "
                              "checkpoints under save_total_limit)")
    try:
        with reading(folder):  # the run's rotation leaves it alone meanwhile
            return _load_checkpoint(folder, dtype, device_map, loading)
    except FileNotFoundError as e:
        if folder.is_dir():
            raise
        raise CheckpointError(f"{folder} was deleted while it was read ({e.filename}): the run training into it "
                              "deleted it under save_total_limit; evaluate a newer checkpoint") from None


def _load_checkpoint(folder: Path, dtype, device_map, loading):
    if not is_complete(folder):
        raise CheckpointError(f"{folder} is incomplete: its save was cut short (no {COMPLETE}); use an earlier "
                              "checkpoint of the run, or resume the run (resume_from_checkpoint: auto)")
    config = read_run_config(folder)
    prompt = load_prompt(folder)
    family = get_family(config["family"])
    tokenizer, image_processor = load_processors(str(folder))
    is_adapter = (folder / "adapter_config.json").is_file()
    base = resolve_base(folder, config["model_name_or_path"]) if is_adapter else str(folder)
    if is_adapter and not _reachable(base):
        raise CheckpointError(f"{folder} is a LoRA adapter for base model {base}, which is neither a local folder "
                              "nor reachable on the hub; restore it or edit model_name_or_path in "
                              f"{folder / 'geollava_config.yaml'}")
    if is_adapter:
        check_adapter(folder)
    model = load_model(base, family.name, dtype, device_map=device_map, **(loading or base_loading(config)))
    if is_adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(folder))
    model.eval()
    model.config.use_cache = True
    return model, tokenizer, image_processor, config, prompt


def merge_checkpoint(folder: str | Path, out_dir: str | Path) -> Path:
    """Base + LoRA merged into one HF model folder (model, tokenizer, image processor, config)."""
    config = read_run_config(folder)
    if config.get("bits", 16) != 16:
        raise CheckpointError(f"{folder} was trained on a {config['bits']}-bit quantized base; merging LoRA into "
                              "quantized weights loses precision. Load the base in 16 bits and merge there, or use "
                              "the adapter as it is")
    if not (Path(folder) / "adapter_config.json").is_file():
        raise CheckpointError(f"{folder} holds full weights, not a LoRA adapter: nothing to merge")
    model, tokenizer, image_processor, config, prompt = load_checkpoint(folder)
    merged = model.merge_and_unload()
    out_dir = Path(out_dir)
    merged.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    image_processor.save_pretrained(out_dir)
    prompt.save(out_dir)
    merged_config = {**config, "model_name_or_path": ".", "lora_enable": False}
    (out_dir / "geollava_config.yaml").write_text(yaml.safe_dump(merged_config, sort_keys=False))
    return out_dir


def _reachable(name: str) -> bool:
    if Path(name).is_dir():
        return True
    from huggingface_hub import model_info, try_to_load_from_cache

    try:
        if isinstance(try_to_load_from_cache(name, "config.json"), str):
            return True  # in the local hub cache: loads offline
        model_info(name)
        return True
    except Exception:  # not a repo id, offline, unknown repository, no permission: all mean "cannot load it"
        return False
