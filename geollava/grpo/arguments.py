"""A GRPO config's training keys: TRL's GRPOConfig (one TrainingArguments, as SFT has one) with the keys of ours
that every trainer takes (config.RunKeys)."""
from __future__ import annotations

from dataclasses import dataclass

from trl import GRPOConfig

from ..arguments import RunKeys


@dataclass
class GRPOTrainArguments(RunKeys, GRPOConfig):
    gradient_checkpointing: bool | None = None  # activation_checkpointing turns it on, as in SFT (TRL: on)
    log_multimodal: bool = False  # TRL gathers every prompt's images to log them; ours are preprocessed tensors
