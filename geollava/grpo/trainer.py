"""TRL's GRPOTrainer with what GeoLLaVA's runs have on top (trainer.RunParts): the projector's learning rate,
records whose media fail counted or stopped on, checkpoints marked complete last and holding only the trained
adapter (TRL's frozen KL reference, `ref/`, is rebuilt from init_from on resume), ZeRO-3 adapters gathered before
saving. And two things TRL does not do: dynamic sampling (dynamic_sampling.py), and a video family's clips, which
TRL carries as `pixel_values` (it slices that key per sample), reaching the model as `pixel_values_videos`."""
from __future__ import annotations

from trl import GRPOTrainer

from ..families import Family
from ..sft.trainer import RunParts
from .dynamic_sampling import fresh_prompts, groups_without_spread, local_rows, splice


class VideosByName:
    """The model, called with `pixel_values_videos` where TRL passes 5-D clips (samples x frames x C x H x W)
    as `pixel_values`."""

    def __init__(self, model):
        self.model = model

    def __call__(self, **inputs):
        pixels = inputs.get("pixel_values")
        if pixels is not None and pixels.dim() == 5:
            inputs["pixel_values_videos"] = inputs.pop("pixel_values")
        return self.model(**inputs)


class GeoGRPOTrainer(RunParts, GRPOTrainer):
    def __init__(self, *args, family: Family, mm_projector_lr: float | None = None, on_bad_record: str = "error",
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.setup_run_parts(family, mm_projector_lr, on_bad_record)

    def _generate_and_score_completions(self, inputs):
        batch = self._scored(inputs)
        if self.args.dynamic_sampling and self.model.training:
            batch = self._refilled(batch, len(inputs))
        return batch

    def _scored(self, inputs):
        bad = [record for row in inputs for record in row.pop("bad_records", ())]
        if bad:
            self.bad_records(bad)
        return super()._generate_and_score_completions(inputs)

    def _calculate_rewards(self, *args, **kwargs):
        self._gathered_rewards = super()._calculate_rewards(*args, **kwargs)  # every rank's, in global order
        return self._gathered_rewards

    def _refilled(self, batch: dict, rows_per_rank: int) -> dict:
        """Groups without reward spread replaced by groups of new prompts (dynamic_sampling.py), and logged."""
        n, rank = self.num_generations, self.accelerator.process_index
        start = rank * rows_per_rank  # this rank's first row in the global batch
        flat = groups_without_spread(self._gathered_rewards, self.reward_weights, n)
        before, dropped, rounds = flat.float().mean().item(), 0, 0
        while flat.any() and rounds < self.args.max_resample:
            rounds += 1
            picks = fresh_prompts(len(self.train_dataset), len(flat), self.args.seed, self.state.global_step, rounds)
            fresh = self._scored([self.train_dataset[picks[(start + k) // n]] for k in range(rows_per_rank)])
            taken = flat & ~groups_without_spread(self._gathered_rewards, self.reward_weights, n)
            batch = splice(batch, fresh, local_rows(taken, n, rank, rows_per_rank),
                           self.processing_class.tokenizer.pad_token_id)
            dropped, flat = dropped + int(taken.sum()), flat & ~taken
        loss_mask = batch["completion_mask"] * batch["tool_mask"] if "tool_mask" in batch else batch["completion_mask"]
        batch["num_items_in_batch"] = self.accelerator.gather(loss_mask.sum()).sum()  # as TRL counts it
        metrics = self._metrics["train"]
        metrics["dynamic_sampling/groups_without_spread_before"].append(before)
        metrics["dynamic_sampling/groups_replaced"].append(dropped)
        metrics["dynamic_sampling/resample_rounds"].append(rounds)
        metrics["dynamic_sampling/groups_without_spread"].append(flat.float().mean().item())
        return batch

    def _get_per_token_logps_and_entropies(self, model, *args, **kwargs):
        return super()._get_per_token_logps_and_entropies(VideosByName(model), *args, **kwargs)
