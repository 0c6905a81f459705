"""HF Trainer with what LLaVA-style training needs on top: a separate projector learning rate; length grouping
from lengths the dataset computed without decoding any video — in an order that is a function of (seed, epoch),
so a resumed run sees the batches an uninterrupted one would; records whose media fail to decode counted or
stopped on. Plus a callback that makes every checkpoint self-contained (image processor, prompt settings and
resolved config beside the adapter and tokenizer) and marks it complete last."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import torch
import yaml
from transformers import Trainer, TrainerCallback
from transformers.trainer_pt_utils import get_length_grouped_indices

from ..data.packing import TokenBudgetBatches
from ..data.prompt import PromptSettings
from ..data.template import IGNORE_INDEX
from ..data.validate import DataError
from ..families import Family
from ..models.checkpoint import base_reference, mark_complete, mark_incomplete, rotate

log = logging.getLogger(__name__)


class BadRecordError(DataError):
    """A record whose media cannot be decoded was drawn, and on_bad_record is error."""


class NonFiniteError(RuntimeError):
    """A training step left trained weights that are not finite (an inf or nan loss or gradient)."""


class FiniteGuard(TrainerCallback):
    """After every optimizer step, the trained weights must be finite, else the run stops there: the step is never
    saved, so no checkpoint holding it is marked complete. The same verdict on every rank (one all-reduce)."""

    def on_optimizer_step(self, args, state, control, model=None, **kwargs):
        bad = next((n for n, p in model.named_parameters()
                    if p.requires_grad and p.numel() and not torch.isfinite(p.detach()).all()), None)
        flag = torch.tensor(float(bad is not None), device=args.device)
        if args.world_size > 1 and torch.distributed.is_initialized():
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        if flag.item():
            raise NonFiniteError(f"step {state.global_step + 1}: trained weights are not finite after the optimizer "
                                 f"step ({bad or 'on another rank'}): an inf or nan loss or gradient. Lower "
                                 "learning_rate or check the data; the checkpoints saved before are complete and "
                                 "resume as they are")


class RunParts:
    """What GeoLLaVA's trainers add to a transformers Trainer (SFT's GeoTrainer, GRPO's GeoGRPOTrainer): the
    projector's own learning rate (``family`` says which parameters are the projector); records whose media
    cannot be decoded when drawn counted (`skipped_records` in every log entry) or stopped on; a checkpoint folder
    marked incomplete while it is (re)written; ZeRO-3 adapters gathered before they are saved.

    ``on_bad_record``: "skip" — the sample was replaced by another (the dataset did that), and is logged by id and
    counted; "error" — the run stops with one line naming the record, the file and the fix."""

    def setup_run_parts(self, family: Family, mm_projector_lr: float | None, on_bad_record: str) -> None:
        self.family, self.mm_projector_lr, self.on_bad_record = family, mm_projector_lr, on_bad_record
        self.skipped: dict[str, str] = {}  # id -> why, of the records this process skipped (each counted once)
        self._skipped_before: int | None = None  # counted by the run before a resume
        self.add_callback(FiniteGuard())

    def bad_records(self, bad: list[dict]) -> None:
        if self.on_bad_record == "error":
            first = bad[0]
            raise BadRecordError(f"record {first['id']!r}: {first['problem']}; fix or replace the file, or set "
                                 "on_bad_record: skip to train without such records (each is logged and counted)")
        for record in bad:
            if record["id"] not in self.skipped:
                log.warning("skipping record %s, replaced by another sample: %s", record["id"], record["problem"])
            self.skipped[record["id"]] = record["problem"]

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Every log entry counts the records skipped so far (each once per process, summed over the ranks, which
        all log at the same steps)."""
        if self._skipped_before is None:
            self._skipped_before = max((e.get("skipped_records", 0) for e in self.state.log_history), default=0)
        count = torch.tensor(float(len(self.skipped)))
        if self.args.world_size > 1 and torch.distributed.is_initialized():
            count = count.to(self.args.device)
            torch.distributed.all_reduce(count)
        logs["skipped_records"] = self._skipped_before + int(count.item())
        super().log(logs, start_time)

    def create_optimizer(self, model=None):
        if self.mm_projector_lr is None or self.optimizer is not None:
            return super().create_optimizer(model)
        model = self.model if model is None else model
        decay = set(self.get_decay_parameter_names(model))
        groups = []
        for in_projector, lr in ((False, self.args.learning_rate), (True, self.mm_projector_lr)):
            for decays in (True, False):
                params = [p for n, p in model.named_parameters()
                          if p.requires_grad and self.family.is_projector(n) == in_projector
                          and (n in decay) == decays]
                if params:
                    groups.append({"params": params, "lr": lr,
                                   "weight_decay": self.args.weight_decay if decays else 0.0})
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
        self.optimizer = optimizer_cls(groups, **optimizer_kwargs)
        return self.optimizer

    def _save_checkpoint(self, model, trial):
        """A folder being (re)written is not complete until SaveExtras marks it again, last; and no older checkpoint
        is deleted before that (transformers rotates at the end of this method: SaveExtras does, after marking)."""
        if self.args.should_save:
            folder = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
            if folder.is_dir():
                mark_incomplete(folder)
        limit, self.args.save_total_limit = self.args.save_total_limit, None
        try:
            return super()._save_checkpoint(model, trial)
        finally:
            self.args.save_total_limit = limit

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        """The trained adapter only: an adapter the trainer added beside it (GRPO's frozen KL reference, `ref/`)
        is rebuilt from the run's starting point when needed, and would make a second adapter of the checkpoint."""
        super()._save(output_dir, state_dict)
        folder = Path(output_dir or self.args.output_dir)
        for name in getattr(self.model, "peft_config", {}):
            if name != "default" and (folder / name / "adapter_config.json").is_file():
                shutil.rmtree(folder / name)

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Under ZeRO-3 each rank holds a shard of every adapter tensor; gather the trainable ones before PEFT
        writes them. (Measured here: the Trainer's own path wrote 0-element LoRA tensors for the final model.)"""
        if not (self.is_deepspeed_enabled and self.accelerator.state.deepspeed_plugin.zero_stage == 3
                and hasattr(self.model, "peft_config")):
            return super().save_model(output_dir, _internal_call)
        import deepspeed

        output_dir = output_dir or self.args.output_dir
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        with deepspeed.zero.GatheredParameters(trainable, modifier_rank=None):
            if self.args.should_save:
                self.model.save_pretrained(output_dir, selected_adapters=["default"])
                if self.processing_class is not None:
                    self.processing_class.save_pretrained(output_dir)
                torch.save(self.args, Path(output_dir) / "training_args.bin")


class GeoTrainer(RunParts, Trainer):
    """The supervised fine-tuning trainer: RunParts; logits only where the loss is (``logits_at_labels``); and
    length grouping from lengths the dataset computed without decoding any video, in an order that is a
    function of (seed, epoch)."""

    def __init__(self, *args, family: Family, mm_projector_lr: float | None = None, on_bad_record: str = "error",
                 logits_at_labels: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.setup_run_parts(family, mm_projector_lr, on_bad_record)
        self.logits_at_labels = logits_at_labels
        self.epoch_samplers: list = []  # ours, told each epoch directly: accelerate's wrappers may not pass it on
        self.add_callback(EpochToSamplers(self))

    def compute_loss(self, model, inputs, *args, **kwargs):
        bad = inputs.pop("bad_records", None)
        if bad:
            self.bad_records(bad)
        if "segment_lengths" in inputs:  # padding_free
            inputs = self.family.packed_inputs(self.accelerator.unwrap_model(model), inputs)
        if self.logits_at_labels and "labels" in inputs:
            inputs = labelled_positions_only(inputs)
        return super().compute_loss(model, inputs, *args, **kwargs)

    def get_train_dataloader(self):
        """With ``max_tokens_per_batch``: micro-batches filled to a token budget (data/packing.py), in the
        (seed, epoch) order; otherwise the Trainer's, with the sampler below."""
        budget = self.args.max_tokens_per_batch
        if not budget:
            return super().get_train_dataloader()
        dataset = self.train_dataset
        mixed = len(set(getattr(dataset, "media", []))) > 1
        order = EpochLengthGroupedSampler(self.args.per_device_train_batch_size, dataset.lengths,
                                          self.args.data_seed or self.args.seed,
                                          group_by_length=self.args.train_sampling_strategy == "group_by_length")
        batches = TokenBudgetBatches(order, dataset.lengths, budget, self.args.padding_free,
                                     dataset.media if mixed else None,
                                     self.args.gradient_accumulation_steps * self.args.world_size,
                                     self.args.data_seed or self.args.seed)
        self.epoch_samplers.append(batches)
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches, collate_fn=self.data_collator,
                                             num_workers=self.args.dataloader_num_workers,
                                             pin_memory=self.args.dataloader_pin_memory)
        return self.accelerator.prepare(loader)

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        grouped = self.args.train_sampling_strategy == "group_by_length" and hasattr(dataset, "lengths")
        mixed = len(set(getattr(dataset, "media", []))) > 1
        if not (grouped or mixed):
            return super()._get_train_sampler(train_dataset)
        step = self.args.train_batch_size * self.args.gradient_accumulation_steps
        sampler = EpochLengthGroupedSampler(step, dataset.lengths, self.args.data_seed or self.args.seed,
                                            dataset.media if mixed else None, step * self.args.world_size, grouped)
        self.epoch_samplers.append(sampler)
        return sampler


class EpochToSamplers(TrainerCallback):
    """Sets the epoch on the trainer's own samplers at the start of every epoch. The Trainer sets it through the
    data loader, which on several processes after a mid-epoch resume wraps the sampler twice (accelerate's shard,
    then its skip) and does not reach it: the resumed epoch would draw epoch 0's order."""

    def __init__(self, trainer: GeoTrainer):
        self.trainer = trainer

    def on_epoch_begin(self, args, state, control, **kwargs):
        for sampler in self.trainer.epoch_samplers:
            sampler.set_epoch(int(state.epoch or 0))  # a resumed run's state.epoch is e.g. 1.375: epoch 1


def labelled_positions_only(inputs: dict) -> dict:
    """The model's head applied only to the positions whose next token is labelled (the answers), not to every
    position of a sequence that is mostly visual tokens: the targets shifted as the model's own loss shifts them,
    `logits_to_keep` the positions that have one. The loss is the model's own (its loss function, over the same
    targets); only the full-vocabulary logits of unlabelled positions are never made."""
    targets = torch.nn.functional.pad(inputs["labels"], (0, 1), value=IGNORE_INDEX)[:, 1:]
    keep = targets != IGNORE_INDEX
    return {**inputs, "labels": targets[keep], "shift_labels": targets[keep], "logits_to_keep": keep}


class EpochLengthGroupedSampler(torch.utils.data.Sampler):
    """transformers' length grouping (batches of similar length, the longest first), shuffled by a generator seeded
    with (seed, epoch) rather than the global RNG: a run resumed in epoch 2 draws epoch 2's order again.
    The Trainer (through accelerate) calls ``set_epoch`` at the start of every epoch.

    With ``media`` ("image" / "video" per sample, Video-LLaVA's two towers), the order is made of blocks of one
    optimizer step across all ranks (``step_size`` samples), each block of one kind: under ZeRO-3 every rank must
    run the same towers at the same step, or the ranks wait on each other forever. A kind's last block is filled
    up with its first samples again."""

    def __init__(self, batch_size: int, lengths: list[int], seed: int, media: list[str] | None = None,
                 step_size: int = 1, group_by_length: bool = True):
        self.batch_size, self.lengths, self.seed, self.epoch = batch_size, lengths, seed, 0
        self.media, self.step_size, self.group_by_length = media, step_size, group_by_length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if self.media is None:
            return len(self.lengths)
        counts = [self.media.count(kind) for kind in sorted(set(self.media))]
        return sum(-(-n // self.step_size) * self.step_size for n in counts)

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        if self.media is None:
            return iter(self._order(list(range(len(self.lengths))), generator))
        blocks = []
        for kind in sorted(set(self.media)):
            order = self._order([i for i, m in enumerate(self.media) if m == kind], generator)
            order += [order[i % len(order)] for i in range(-len(order) % self.step_size)]
            blocks += [order[i:i + self.step_size] for i in range(0, len(order), self.step_size)]
        return iter([i for b in torch.randperm(len(blocks), generator=generator).tolist() for i in blocks[b]])

    def _order(self, indices: list[int], generator) -> list[int]:
        if not self.group_by_length:
            return [indices[i] for i in torch.randperm(len(indices), generator=generator).tolist()]
        grouped = get_length_grouped_indices([self.lengths[i] for i in indices], self.batch_size, generator=generator)
        return [indices[i] for i in grouped]


class SaveExtras(TrainerCallback):
    """Write the image processor, the prompt settings, the resolved config and the step log into every
    checkpoint folder."""

    def __init__(self, image_processor, prompt: PromptSettings, resolved_config: dict, base: str):
        self.image_processor, self.prompt, self.resolved_config, self.base = (image_processor, prompt,
                                                                              resolved_config, base)

    def on_save(self, args, state, control, **kwargs):
        """Every process that saves (each node's first with save_on_each_node) completes its copy, then rotates."""
        if args.should_save:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            save_extras(folder, self, state.log_history)
            mark_complete(folder, state.global_step)
            rotate(Path(args.output_dir), args.save_total_limit, state.best_model_checkpoint)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero:
            write_log_history(Path(args.output_dir), state.log_history)


def save_extras(folder: Path, extras: SaveExtras, log_history: list) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    extras.image_processor.save_pretrained(folder)
    extras.prompt.save(folder)
    run_dir = Path(extras.resolved_config["output_dir"])
    config = {**extras.resolved_config, "model_name_or_path": base_reference(extras.base, folder, run_dir)}
    (folder / "geollava_config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    write_log_history(folder, log_history)


def write_log_history(folder: Path, log_history: list) -> None:
    (folder / "train_log.json").write_text(json.dumps(log_history, indent=1))
