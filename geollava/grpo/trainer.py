"""TRL's GRPOTrainer with what GeoLLaVA's runs have on top (trainer.RunParts): the projector's learning rate,
records whose media fail counted or stopped on, checkpoints marked complete last and holding only the trained
adapter (TRL's frozen KL reference, `ref/`, is rebuilt from init_from on resume), ZeRO-3 adapters gathered before
saving. And one thing TRL does not do: a video family's clips, which TRL carries as `pixel_values` (it slices
that key per sample), reach the model as `pixel_values_videos`."""
from __future__ import annotations

from trl import GRPOTrainer

from ..families import Family
from ..sft.trainer import RunParts


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
        bad = [record for row in inputs for record in row.pop("bad_records", ())]
        if bad:
            self.bad_records(bad)
        return super()._generate_and_score_completions(inputs)

    def _get_per_token_logps_and_entropies(self, model, *args, **kwargs):
        return super()._get_per_token_logps_and_entropies(VideosByName(model), *args, **kwargs)
