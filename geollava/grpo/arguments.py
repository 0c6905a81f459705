"""A GRPO config's own keys: where it starts and its rewards (RewardArguments), and its training keys: TRL's
GRPOConfig (one TrainingArguments, as SFT has one) with the keys of ours that every trainer takes (config.RunKeys)."""
from __future__ import annotations

from dataclasses import dataclass, field

from trl import GRPOConfig

from ..arguments import RunKeys


@dataclass
class GRPOTrainArguments(RunKeys, GRPOConfig):
    gradient_checkpointing: bool | None = None  # activation_checkpointing turns it on, as in SFT (TRL: on)
    log_multimodal: bool = False  # TRL gathers every prompt's images to log them; ours are preprocessed tensors
    dynamic_sampling: bool = field(default=False, metadata={
        "help": "DAPO's dynamic sampling: a prompt group whose completions all score the same (no advantage, "
                "nothing learnt) is replaced by a group of a new prompt, up to max_resample rounds a generation"})
    max_resample: int = field(default=3, metadata={
        "help": "dynamic_sampling: most rounds of new prompts a generation (each round generates a whole batch)"})


@dataclass
class RewardArguments:
    """Reward fine-tuning (geollava grpo): where it starts and what it maximises."""
    init_from: str | None = field(default=None, metadata={
        "help": "the model GRPO starts from: an SFT checkpoint or run folder (its family, prompt settings and "
                "adapter), or a base model (hub id or folder)"})
    rewards: dict | str | None = field(default=None, metadata={
        "help": "reward terms and their weights, e.g. {task: 1.0, format: 0.1} (geollava/grpo/rewards.py lists "
                "the terms; each task says which fit it)"})
