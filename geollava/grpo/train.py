"""Reward fine-tuning, step by step (`geollava grpo CONFIG`, what scripts/finetune_grpo.sh runs in every process):
the config and its rewards checked against the data → the starting model (the SFT adapter trains on) → prompt
rows prompted as SFT prompted → TRL's GRPOTrainer with the task entries' rewards. Launching, locking, resuming,
saving and logging are `geollava train`'s (train.py)."""
from __future__ import annotations

import logging
import sys
from collections import Counter

import transformers

from ..config import Config, ConfigError, Recipe
from ..data.template import end_of_turn
from ..families import get_family
from ..models.adapters import cast_trainable, trainable_setup, trainable_summary
from ..models.load import compute_dtype, load_model, load_processors
from ..tasks import get_task
from ..sft.train import build_dataset, data_records, init_deepspeed_distributed, resolved_for_checkpoints, run
from ..sft.trainer import SaveExtras
from .processor import SampleProcessor
from .rewards import check_rewards, parse_rewards, reward_functions
from .rows import PromptRows, as_trl_dataset
from .start import resolve_start, start_adapter

log = logging.getLogger("geollava.grpo")


def main(argv: list[str] | None = None):
    """`geollava grpo CONFIG [--key value ...]`: the final model's folder, or exit code 2 with one `error:` line
    (a bad config or reward, before any model loads)."""
    return run(sys.argv[1:] if argv is None else argv, RECIPE)


def check_before_loading(config: Config, data: bool = True) -> dict[str, float]:
    """What can be known from the config and the annotations alone: the reward terms against the data's tasks,
    the options this suite does not run, media a family cannot batch together. {term: weight}. ``data`` False
    (a dry run before the data exists): the terms and weights alone."""
    if getattr(config.recipe_args, "checked", False):
        return config.recipe_args.rewards
    where, t = config.source or "config", config.train
    if t.use_vllm:
        raise ConfigError(f"{where}: use_vllm: GRPO's vLLM generation is not wired to this suite's prompts and "
                          "pixels (vLLM would re-process the images itself); generate with transformers (the default)")
    for key in ("use_transformers_continuous_batching", "use_transformers_paged"):
        if getattr(t, key, False):
            raise ConfigError(f"{where}: {key}: TRL's batched generation there takes prompt ids only, and would "
                              "drop the frames; remove it (generation then uses model.generate with the pixels)")
    if t.reward_weights is not None:
        raise ConfigError(f"{where}: reward_weights: the weights come from `rewards` (e.g. rewards: task=1,format=0.1)"
                          "; remove reward_weights")
    if config.data.train_data_ratios or config.data.eval_data:
        key = "train_data_ratios" if config.data.train_data_ratios else "eval_data"
        raise ConfigError(f"{where}: {key} is not used by GRPO (its prompts are every record of train_data, once "
                          "per epoch; evaluate checkpoints with scripts/eval.py); remove it")
    if not data:
        return check_rewards(parse_rewards(config.recipe_args.rewards, where), None, where)
    tasks, kinds, metadata = Counter(), set(), {}
    family = get_family(config.model.family)
    for path in config.data.train_data:
        records, _ = data_records(config, path)
        tasks.update(r.task for r in records)
        kinds.update(family.input_kind(r.media_kind) for r in records)
        for r in records:
            metadata.setdefault(r.task, []).append(r.metadata)
    if len(kinds) > 1:
        raise ConfigError(f"{where}: train_data mixes single images and frames, which {family.name} feeds through "
                          "two different towers; GRPO batches cannot mix them: train them in separate runs")
    weights = check_rewards(parse_rewards(config.recipe_args.rewards, where), dict(tasks), where)
    for task, records_metadata in metadata.items():
        for term in weights:
            problem = get_task(task).reward_problem(term, records_metadata)
            if problem:
                raise ConfigError(f"{where}: rewards: {problem}")
    config.recipe_args.rewards, config.recipe_args.checked = weights, True
    return weights


def build_grpo_trainer(config: Config):
    from peft import PeftModel, prepare_model_for_kbit_training

    from .trainer import GeoGRPOTrainer

    t = config.train
    weights = check_before_loading(config)
    if t.deepspeed:
        init_deepspeed_distributed()
    transformers.set_seed(t.seed)
    family, base, adapter = get_family(config.model.family), config.model.model_name_or_path, start_adapter(config)
    tokenizer, image_processor = load_processors(str(adapter or base), t.trust_remote_code, config.model.min_pixels,
                                                 config.model.max_pixels)
    model = load_model(base, family.name, compute_dtype(t), config.lora.bits, config.lora.double_quant,
                       config.lora.quant_type, config.model.device_map, t.trust_remote_code,
                       config.model.attn_implementation)
    if t.activation_checkpointing:
        model.enable_input_require_grads()
    if adapter is None:
        model = trainable_setup(model, family, config.lora, bool(t.activation_checkpointing))
    else:
        if config.lora.bits < 16:
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=bool(t.activation_checkpointing))
        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
    if t.deepspeed:
        cast_trainable(model, compute_dtype(t))
    log.info(trainable_summary(model, family))
    stops = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(end_of_turn(tokenizer))]
    model.generation_config.eos_token_id = list(dict.fromkeys(stops))  # completions end where SFT answers end

    resolved = resolved_for_checkpoints(config, base)
    resolved.pop("generation_batch_size", None)  # TRL derives it from steps_per_generation, and refuses both
    log.info("resolved config:\n%s", "\n".join(f"  {k}: {v}" for k, v in resolved.items()))
    datasets = [build_dataset(config, path, family, model.config, tokenizer, image_processor, for_generation=True)
                for path in config.data.train_data]
    rows = as_trl_dataset(PromptRows(datasets[0]) if len(datasets) == 1 else _concatenated(datasets))
    corpus = [d.records[i].all_references() for d in datasets for i in d.keep  # the references CIDEr scores against
              if "cider" in get_task(d.records[i].task).rewards]
    functions, t.reward_weights = reward_functions(weights, config.prompt.box_format, corpus)
    extras = SaveExtras(image_processor, config.prompt, resolved, base)
    trainer = GeoGRPOTrainer(model=model, reward_funcs=functions, args=t, train_dataset=rows,
                             processing_class=SampleProcessor(tokenizer, image_processor, family),
                             callbacks=[extras], family=family, mm_projector_lr=t.mm_projector_lr,
                             on_bad_record=config.data.on_bad_record)
    return trainer, extras


def _concatenated(datasets):
    import torch

    return torch.utils.data.ConcatDataset([PromptRows(d) for d in datasets])


def grpo_arguments() -> tuple:
    from .arguments import GRPOTrainArguments, RewardArguments  # TRL is imported only for GRPO

    return RewardArguments, GRPOTrainArguments


def check_generation_batch(config: Config) -> None:
    """GRPO generates one optimizer step's completions at once, whole groups."""
    t = config.train
    t.steps_per_generation, t.generation_batch_size = t.gradient_accumulation_steps, t.global_batch_size
    if t.global_batch_size % t.num_generations:
        raise ConfigError(f"{config.source or 'config'}: global batch {t.global_batch_size} completions is not "
                          f"divisible by num_generations {t.num_generations}: every prompt's completions must be in "
                          "one batch; set GLOBAL_BATCH (or global_batch_size) to a multiple of it")


RECIPE = Recipe("grpo", grpo_arguments, keys=frozenset({"init_from", "rewards"}),
                cpu_defaults={"bf16": False},  # TRL's GRPO defaults to bf16; a CPU run trains in fp32
                generates=True,
                validate=resolve_start, batched=check_generation_batch, check=check_before_loading,
                build=build_grpo_trainer, main=main)
