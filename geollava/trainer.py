"""HF Trainer with the two things LLaVA-style training needs on top: a separate projector learning rate, and
length grouping from lengths the dataset computed without decoding any video. Plus a callback that makes every
checkpoint self-contained (image processor and resolved config beside the adapter and tokenizer)."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import Trainer, TrainerCallback
from transformers.trainer_pt_utils import LengthGroupedSampler

PROJECTOR = "multi_modal_projector"


class GeoTrainer(Trainer):
    def __init__(self, *args, mm_projector_lr: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.mm_projector_lr = mm_projector_lr

    def create_optimizer(self, model=None):
        if self.mm_projector_lr is None or self.optimizer is not None:
            return super().create_optimizer(model)
        model = self.model if model is None else model
        decay = set(self.get_decay_parameter_names(model))
        groups = []
        for in_projector, lr in ((False, self.args.learning_rate), (True, self.mm_projector_lr)):
            for decays in (True, False):
                params = [p for n, p in model.named_parameters()
                          if p.requires_grad and (PROJECTOR in n) == in_projector and (n in decay) == decays]
                if params:
                    groups.append({"params": params, "lr": lr,
                                   "weight_decay": self.args.weight_decay if decays else 0.0})
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
        self.optimizer = optimizer_cls(groups, **optimizer_kwargs)
        return self.optimizer

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
                self.model.save_pretrained(output_dir)
                if self.processing_class is not None:
                    self.processing_class.save_pretrained(output_dir)
                torch.save(self.args, Path(output_dir) / "training_args.bin")

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if self.args.train_sampling_strategy == "group_by_length" and hasattr(dataset, "lengths"):
            return LengthGroupedSampler(self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                        lengths=dataset.lengths)
        return super()._get_train_sampler(train_dataset)


class SaveExtras(TrainerCallback):
    """Write the image processor, the resolved config and the step log into every checkpoint folder."""

    def __init__(self, image_processor, resolved_config: dict):
        self.image_processor, self.resolved_config = image_processor, resolved_config

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            save_extras(Path(args.output_dir) / f"checkpoint-{state.global_step}", self.image_processor,
                        self.resolved_config, state.log_history)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero:
            write_log_history(Path(args.output_dir), state.log_history)


def save_extras(folder: Path, image_processor, resolved_config: dict, log_history: list) -> None:
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    image_processor.save_pretrained(folder)
    (folder / "geollava_config.yaml").write_text(yaml.safe_dump(resolved_config, sort_keys=False))
    write_log_history(folder, log_history)


def write_log_history(folder: Path, log_history: list) -> None:
    (folder / "train_log.json").write_text(json.dumps(log_history, indent=1))
