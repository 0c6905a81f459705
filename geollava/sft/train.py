"""Supervised fine-tuning of a vision-language model on the annotations of every task — the recipe, step by step,
as one process of the run runs it (launch.py starts the processes: `geollava train CONFIG`)."""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from pathlib import Path

import torch
import transformers

from ..arguments import TrainArguments
from ..config import Config, ConfigError, Recipe, check_model_files, config_help, parse_config
from ..data.annotations import is_hub_dataset_id
from ..data.collator import Collator
from ..data.dataset import AnnotationDataset
from ..data.mixture import MixedDataset
from ..data.pixel_cache import PixelCache, cache_folder
from ..data.validate import DataError, load_records
from ..disk import disk_full
from ..distributed import exit_after_success
from ..locks import FolderLockedError, folder_lock
from ..families import get_family
from ..models.adapters import cast_trainable, trainable_summary, trainable_setup
from ..models.checkpoint import checkpoint_folders, is_complete, mark_complete, mark_incomplete, step_of
from ..models.load import compute_dtype, load_model, load_processors, prepare_base_model
from ..synthetic.captions import tokenizer_corpus
from .trainer import BadRecordError, GeoTrainer, NonFiniteError, SaveExtras, save_extras

log = logging.getLogger("geollava.sft.train")


def main(argv: list[str] | None = None) -> Path | int:
    """One process of `geollava train CONFIG [--key value ...]`: the final model's folder; a config that cannot
    run is one `error:` line and exit code 2, before any model loads."""
    return run(sys.argv[1:] if argv is None else argv, RECIPE)


def run(argv: list[str], recipe: Recipe) -> Path | int:
    """Parse and check the config (and what else the recipe can know before any model loads), then train with
    the trainer the recipe builds, holding the output folder: what every recipe's process shares."""
    if {"-h", "--help"} & set(argv):
        print(config_help(recipe))
        return 0
    try:
        config = parse_config(argv, recipe)
        check_model_files(config)
        if recipe.check is not None:
            recipe.check(config, True)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    setup_logging(config.train)
    first_rank = int(os.environ.get("RANK", "0")) == 0
    try:
        lock = folder_lock(config.train.output_dir, f"geollava {recipe.command}") if first_rank else \
            contextlib.nullcontext()
        with lock:
            return _train(config, recipe.build)
    except (BadRecordError, FolderLockedError, DataError, NonFiniteError) as e:
        print(f"\nerror: {e}", file=sys.stderr)  # on a line of its own, after any progress bar
        return 2
    except (OSError, RuntimeError) as e:
        full = disk_full(e, config.train.output_dir)
        if full is None:
            raise
        print(f"\nerror: {full}", file=sys.stderr)
        return 2


def _train(config: Config, build) -> Path:
    trainer, extras = build(config)
    t = config.train
    if trainer.is_world_process_zero():  # the final model there is stale from now until this run saves its own
        Path(t.output_dir).mkdir(parents=True, exist_ok=True)
        mark_incomplete(Path(t.output_dir))
    trainer.train(resume_from_checkpoint=resume_checkpoint(t.resume_from_checkpoint, t.output_dir))
    trainer.save_model(t.output_dir)
    if trainer.is_world_process_zero():
        save_extras(Path(t.output_dir), extras, trainer.state.log_history)
        mark_complete(Path(t.output_dir), trainer.state.global_step)
        log.info("saved the final model to %s", t.output_dir)
    skipped = trainer.state.log_history[-1].get("skipped_records", 0) if trainer.state.log_history else 0
    if skipped:
        log.warning("skipped %d records whose media could not be decoded (on_bad_record: skip): %s%s", skipped,
                    ", ".join(list(trainer.skipped)[:10]), " ..." if len(trainer.skipped) > 10 else "")
    exit_after_success()
    return Path(t.output_dir)


def build_trainer(config: Config) -> tuple[GeoTrainer, SaveExtras]:
    """Base model → trainable setup → datasets → Trainer; returns the trainer and what every checkpoint gets
    beside the weights (image processor, prompt settings, resolved config)."""
    t = config.train
    if t.deepspeed:
        init_deepspeed_distributed()
    transformers.set_seed(t.seed)
    family = get_family(config.model.family)

    # every record is read and checked before any model loads: a bad file stops the run in seconds
    read = {path: data_records(config, path) for path in [*config.data.train_data, config.data.eval_data] if path}
    base = prepare_base_model(config, tokenizer_corpus())
    tokenizer, image_processor = load_processors(base, config.train.trust_remote_code, config.model.min_pixels,
                                                 config.model.max_pixels)
    model = load_model(base, family.name, compute_dtype(t), config.lora.bits, config.lora.double_quant,
                       config.lora.quant_type, config.model.device_map, config.train.trust_remote_code,
                       config.model.attn_implementation)
    if t.activation_checkpointing:
        model.enable_input_require_grads()
    model = trainable_setup(model, family, config.lora, bool(t.activation_checkpointing))
    if t.deepspeed:
        cast_trainable(model, compute_dtype(t))
    log.info(trainable_summary(model, family))

    resolved = resolved_for_checkpoints(config, base)
    log.info("resolved config:\n%s", "\n".join(f"  {k}: {v}" for k, v in resolved.items()))
    parts = [build_dataset(config, path, family, model.config, tokenizer, image_processor, read=read[path])
             for path in config.data.train_data]
    ratios = config.data.train_data_ratios
    train_dataset = parts[0] if len(parts) == 1 and ratios is None else \
        MixedDataset(parts, ratios or [1.0] * len(parts), t.data_seed or t.seed)
    if len(parts) > 1 or ratios is not None:
        log.info("training mixture: %d samples from %s", len(train_dataset),
                 ", ".join(f"{p} x {r}" for p, r in zip(config.data.train_data, ratios or [1.0] * len(parts))))
    eval_dataset = config.data.eval_data and build_dataset(config, config.data.eval_data, family, model.config,
                                                           tokenizer, image_processor,
                                                           read=read[config.data.eval_data])
    extras = SaveExtras(image_processor, config.prompt, resolved, base)
    trainer = GeoTrainer(model=model, args=t, train_dataset=train_dataset, eval_dataset=eval_dataset or None,
                         data_collator=Collator(family, tokenizer.pad_token_id, packed=t.padding_free),
                         processing_class=tokenizer,
                         callbacks=[extras], family=family, mm_projector_lr=t.mm_projector_lr,
                         on_bad_record=config.data.on_bad_record,
                         logits_at_labels=t.logits_at_labels and not t.use_liger_kernel)  # Liger fuses its own
    return trainer, extras


def data_records(config: Config, path: str) -> tuple[list, str | None]:
    """An annotation file's records, checked as the config says, and the folder its media paths start from."""
    d = config.data
    media_root = d.media_root or (None if is_hub_dataset_id(path) else str(Path(path).parent))
    frames = config.prompt.num_frames if d.deep_check else None
    records = load_records(path, media_root, d.on_bad_record, frames, d.deep_check, raster=config.prompt.raster(),
                           limits=config.prompt.limits())
    return records, media_root


def build_dataset(config: Config, path: str, family, model_config, tokenizer, image_processor,
                  for_generation: bool = False, read: tuple | None = None):
    """The dataset of one annotation file (``read``: its data_records, when already read)."""
    d = config.data
    records, media_root = read or data_records(config, path)
    cache = None
    if d.pixel_cache:
        cache = PixelCache(cache_folder(Path(config.train.output_dir) / "pixel_cache", path, Path(media_root),
                                        config.prompt, image_processor))
        log.info("pixel cache: %s", cache.folder)
    dataset = AnnotationDataset(records, media_root, family, model_config, tokenizer, image_processor,
                                   config.prompt, for_generation, pixel_cache=cache)
    log.info("%s: %d samples, %d to %d tokens", path, len(dataset), min(dataset.lengths), max(dataset.lengths))
    return dataset


def resolved_for_checkpoints(config: Config, base: str) -> dict:
    """The resolved config, with the model source replaced by the base it was loaded from (each checkpoint
    writes it relative to itself when it is inside the run), so evaluation and resuming find the same model."""
    resolved = config.resolved()
    resolved.pop("tiny_model", None)
    for key in ("vision_tower", "language_model", "pretrained_projector", "image_size"):
        resolved[key] = None
    resolved["model_name_or_path"] = base
    return resolved


def resume_checkpoint(setting: str | None, output_dir: str) -> str | None:
    """``auto``: the newest complete checkpoint of the run (an incomplete one, cut short while saving, is named
    and skipped); a path: that checkpoint, refused when incomplete."""
    if setting in (None, "", "no", "false"):
        return None
    if setting == "auto":
        folders = checkpoint_folders(Path(output_dir)) if Path(output_dir).is_dir() else []
        complete = [f for f in folders if is_complete(f)]
        newest = step_of(complete[-1]) if complete else -1
        for skipped in [f for f in folders if step_of(f) > newest]:
            log.warning("resume_from_checkpoint: auto skips %s: its save was cut short (incomplete)", skipped)
        last = str(complete[-1]) if complete else None
        log.info("resume_from_checkpoint: auto -> %s", last or "nothing to resume, starting fresh")
        return last
    if not Path(setting).is_dir():
        raise FileNotFoundError(f"resume_from_checkpoint: {setting} is not a checkpoint folder")
    if not is_complete(Path(setting)):
        raise FileNotFoundError(f"resume_from_checkpoint: {setting} is incomplete (its save was cut short); "
                                "resume from an earlier checkpoint, or use auto")
    return setting


def init_deepspeed_distributed() -> None:
    """DeepSpeed must own the process group before `from_pretrained` (ZeRO-3 partitions while loading). A plain
    `python` start gets single-process rendezvous variables instead of DeepSpeed's MPI discovery."""
    import deepspeed

    if "RANK" not in os.environ:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    deepspeed.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo")


def setup_logging(train_args) -> None:
    rank_zero = int(os.environ.get("RANK", "0")) == 0
    logging.basicConfig(format="[%(asctime)s %(name)s] %(message)s", datefmt="%H:%M:%S",
                        level=logging.INFO if rank_zero else logging.WARNING)
    transformers.utils.logging.set_verbosity_info() if rank_zero else transformers.utils.logging.set_verbosity_error()
    report_to = train_args.report_to if isinstance(train_args.report_to, list) else [train_args.report_to]
    if "wandb" in report_to and not os.environ.get("WANDB_API_KEY") and not sys.stdin.isatty():
        os.environ.setdefault("WANDB_MODE", "offline")  # never prompt for a login inside a batch job
        log.warning("report_to wandb without WANDB_API_KEY in a non-interactive job: logging offline")


def check_box_format(config: Config) -> None:
    if config.prompt.box_format != "geochat":
        raise ConfigError(f"{config.source or 'config'}: box_format: {config.prompt.box_format}: SFT answers are "
                          "trained as the annotations write them (GeoChat's syntax), so a model trained so answers in "
                          "it; train with box_format: geochat (a zero-shot base is asked in its own format by eval.py "
                          "--box-format, and GRPO can reward it there)")


RECIPE = Recipe("train", lambda: (TrainArguments,), validate=check_box_format, build=build_trainer, main=main)
