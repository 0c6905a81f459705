"""Padding-free micro-batches: the samples of a micro-batch in one row, no padding anywhere.

`pack(items)` concatenates the samples' ids and labels into one row with position ids that restart at every
sample; with no attention mask and no cache, transformers' SDPA / eager attention finds the samples from those
position ids and lets no token attend across a boundary (FlashAttention-2 builds its varlen lengths from them).
Each sample's first label is ignored: no sample's last position learns to predict the next sample's first token.
The pixels go in as in a padded batch (placeholders are filled in row order, which is the samples' order). Qwen's
3-D rotary positions are computed per sample by the family entry (families/qwen.py), which needs the model.

`TokenBudgetBatches` fills micro-batches to a token budget (`max_tokens_per_batch`) rather than a sample count,
so a mixture of single images (hundreds of tokens) and 8-frame videos (thousands) costs about the same memory at
every step.
"""
from __future__ import annotations

import torch

from .template import IGNORE_INDEX


def pack(items: list[dict], pixels: dict) -> dict:
    """One row from ``items`` (dataset items with input_ids, labels), with ``pixels`` (the collated media)."""
    lengths = [len(item["input_ids"]) for item in items]
    labels = []
    for item in items:
        own = item["labels"].clone()
        own[0] = IGNORE_INDEX
        labels.append(own)
    batch = {"input_ids": torch.cat([item["input_ids"] for item in items])[None],
             "labels": torch.cat(labels)[None],
             "position_ids": torch.cat([torch.arange(n) for n in lengths])[None],
             "use_cache": False, "segment_lengths": lengths, **pixels}
    if "mm_token_type_ids" in items[0]:
        batch["mm_token_type_ids"] = torch.cat([item["mm_token_type_ids"] for item in items])[None]
        batch["segment_images"] = [len(item["grid"]) for item in items]
    return batch


class TokenBudgetBatches(torch.utils.data.Sampler):
    """Micro-batches filled while their tokens stay within ``budget`` (padded: the longest sample x the count;
    packed: the sum); a sample longer than the budget goes alone. ``media``: each sample's input kind — every
    micro-batch then holds one kind, in blocks of ``block`` micro-batches (all ranks' micro-batches of one optimizer
    step; a kind's last block filled up by repeating its batches), so every rank runs the same tower at every step
    (Video-LLaVA).

    The micro-batches are composed once, from the sampler's first-epoch order: the Trainer counts an epoch's steps
    once, so every epoch must have as many batches. Each epoch draws them (or their blocks) in an order that is a
    function of (seed, epoch): a resumed run draws the batches an uninterrupted one would."""

    def __init__(self, sampler, lengths: list[int], budget: int, packed: bool, media: list[str] | None = None,
                 block: int = 1, seed: int = 0):
        self.sampler, self.lengths, self.budget, self.packed = sampler, lengths, budget, packed
        self.media, self.block, self.seed, self.epoch = media, block, seed, 0
        self._units: list[list[list[int]]] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        return iter(self._batches())

    def __len__(self) -> int:
        return sum(len(unit) for unit in self._composed())

    def _cost(self, batch: list[int]) -> int:
        tokens = [self.lengths[i] for i in batch]
        return sum(tokens) if self.packed else max(tokens) * len(tokens)

    def _composed(self) -> list[list[list[int]]]:
        """The units drawn in turn: a block of one kind's micro-batches, or (one kind only) one micro-batch."""
        if self._units is None:
            if hasattr(self.sampler, "set_epoch"):
                self.sampler.set_epoch(0)
            by_kind: dict = {}
            for i in self.sampler:
                batches = by_kind.setdefault(self.media[i] if self.media else None, [[]])
                if batches[-1] and self._cost(batches[-1] + [i]) > self.budget:
                    batches.append([])
                batches[-1].append(i)
            if self.media is None:
                self._units = [[batch] for batch in by_kind.get(None, [])]
            else:
                self._units = []
                for batches in by_kind.values():
                    batches = batches + [batches[k % len(batches)] for k in range(-len(batches) % self.block)]
                    self._units += [batches[k:k + self.block] for k in range(0, len(batches), self.block)]
        return self._units

    def _batches(self) -> list[list[int]]:
        units = self._composed()
        order = torch.randperm(len(units), generator=torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch))
        return [batch for u in order.tolist() for batch in units[u]]
