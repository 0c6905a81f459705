"""Dynamic sampling (DAPO, Yu et al. 2025, §3.2; ms-swift's `--dynamic_sample`; TRL has none): a prompt group
whose completions all score the same has zero advantage and teaches nothing. With `dynamic_sampling: true` such a
group is dropped and a group of a new prompt generated in its place, up to `max_resample` rounds a generation.

Every rank decides alike: the groups are judged on the rewards TRL gathers from all ranks, the new prompts are
drawn from a generator seeded by (seed, global step, round) — the same on every rank, and again after a resume —
and every rank generates in every round (under ZeRO-3 a rank that skipped a generation would hang the others). A
new group takes the place of the dropped one in the batch (TRL lays global group g on rows g·n … g·n+n-1, each
rank holding a contiguous slice), so each rank replaces only its own rows and nothing moves between ranks. A new
group that has no spread either is left for the next round; what still has none after the last round stays, at
zero advantage, and is counted.
"""
from __future__ import annotations

import numpy as np
import torch
from trl.trainer.utils import split_pixel_values_by_grid, unsplit_pixel_values_by_grid

LEFT_PADDED = ("prompt_ids", "prompt_mask", "token_type_ids", "mm_token_type_ids")  # TRL pads prompts on the left
SPREAD = 1e-6  # rewards closer than this count as equal


def groups_without_spread(rewards_per_func: torch.Tensor, weights: torch.Tensor, group_size: int) -> torch.Tensor:
    """One flag per prompt group of the gathered (global) batch: its completions' weighted rewards all equal."""
    rewards = (rewards_per_func * weights.to(rewards_per_func.device).unsqueeze(0)).nansum(dim=1)
    grouped = rewards.view(-1, group_size)
    return (grouped.max(dim=1).values - grouped.min(dim=1).values) <= SPREAD


def local_rows(groups: torch.Tensor, group_size: int, rank: int, rows_per_rank: int) -> list[int]:
    """This rank's rows (0-based in its slice) that belong to the flagged global groups."""
    start = rank * rows_per_rank
    return [k for k in range(rows_per_rank) if groups[(start + k) // group_size]]


def fresh_prompts(dataset_size: int, groups: int, seed: int, step: int, attempt: int) -> list[int]:
    """A dataset index for each global group: the same on every rank, and after a resume."""
    generator = np.random.default_rng([seed, step, attempt])
    return generator.integers(0, dataset_size, size=groups).tolist()


def splice(batch: dict, fresh: dict, rows: list[int], pad_token_id: int) -> dict:
    """``batch`` with ``rows`` taken from ``fresh`` (the same layout): sequences padded to a common width first
    (prompts on the left, completions on the right), images per sample."""
    if not rows:
        return batch
    batch, fresh = split_pixel_values_by_grid(batch), split_pixel_values_by_grid(fresh)
    size = len(batch["advantages"])
    out = {}
    for key, value in batch.items():
        new = fresh.get(key)
        if isinstance(value, torch.Tensor) and value.dim() >= 1 and value.shape[0] == size:
            value, new = same_width(key, value, new, pad_token_id)
            value = value.clone()
            value[rows] = new[rows].to(value.dtype)
        elif isinstance(value, list) and len(value) == size:
            value = [new[k] if k in rows else item for k, item in enumerate(value)]
        out[key] = value
    return unsplit_pixel_values_by_grid(out)


def same_width(key: str, a: torch.Tensor, b: torch.Tensor, pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two per-row tensors padded to one width along dim 1: ids with the pad token, masks and log-probs with 0."""
    if a.dim() < 2 or a.shape[1] == b.shape[1]:
        return a, b
    width = max(a.shape[1], b.shape[1])
    fill = pad_token_id if key.endswith("_ids") and key != "token_type_ids" else 0
    left = key in LEFT_PADDED

    def pad(t: torch.Tensor) -> torch.Tensor:
        extra = t.new_full((t.shape[0], width - t.shape[1], *t.shape[2:]), fill)
        return torch.cat([extra, t] if left else [t, extra], dim=1)

    return pad(a), pad(b)
