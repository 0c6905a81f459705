"""Batch dataset items into model inputs: padded ids, labels and attention mask, and the pixel tensors: images
(LLaVA's frames, or single images through Video-LLaVA's image path) as `pixel_values`, videos as
`pixel_values_videos`, both in one batch when it mixes them (the model's placeholders say which is which);
for Qwen, `image_grid_thw` gives each frame's patch grid and `mm_token_type_ids` marks the image tokens (M-RoPE).

Every item carries frames (the schema has no text-only records), so no micro-batch lacks visual input — a batch
without it can hang ZeRO-3, whose ranks must all run the vision tower. Where images and videos take different
towers (Video-LLaVA), the training sampler gives every rank the same kind of media at the same step (trainer.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..families import Family
from .packing import pack
from .template import IGNORE_INDEX


@dataclass
class Collator:
    family: Family
    pad_token_id: int
    padding_side: str = "right"  # "left" for batched generation
    packed: bool = False  # padding_free: the samples in one row (data/packing.py)

    def __call__(self, items: list[dict]) -> dict:
        if any(item["pixels"] is None or len(item["pixels"]) == 0 for item in items):
            raise ValueError(f"a sample without frames reached the collator: {[i['id'] for i in items]}")
        if self.packed:
            batch = pack(items, self.media(items))
        else:
            batch = {
                "input_ids": self._pad([item["input_ids"] for item in items], self.pad_token_id),
                "attention_mask": self._pad([torch.ones_like(item["input_ids"]) for item in items], 0),
                **self.media(items),
            }
            if "labels" in items[0]:
                batch["labels"] = self._pad([item["labels"] for item in items], IGNORE_INDEX)
            if "grid" in items[0]:
                batch["mm_token_type_ids"] = self._pad([item["mm_token_type_ids"] for item in items], 0)
        bad = [record for item in items for record in item.get("bad_records", ())]
        if bad:  # records whose media failed to decode and were replaced: the trainer counts or stops on them
            batch["bad_records"] = bad
        return batch

    def media(self, items: list[dict]) -> dict:
        """The pixel inputs: images (and Qwen's grids) concatenated, videos stacked."""
        out = {}
        images = [item["pixels"] for item in items if item["media"] == "image"]
        videos = [item["pixels"] for item in items if item["media"] == "video"]
        if images:
            out["pixel_values"] = torch.cat(images)  # Qwen: every frame's patches, one after another
        if "grid" in items[0]:
            out["image_grid_thw"] = torch.cat([item["grid"] for item in items])
        if videos:
            out["pixel_values_videos"] = torch.stack(videos)
        return out

    def _pad(self, rows: list[torch.Tensor], value: int) -> torch.Tensor:
        width = max(len(r) for r in rows)
        out = torch.full((len(rows), width), value, dtype=rows[0].dtype)
        for i, row in enumerate(rows):
            if self.padding_side == "right":
                out[i, :len(row)] = row
            else:
                out[i, width - len(row):] = row
        return out
