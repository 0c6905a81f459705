"""Several training sets as one: change videos and single-image tasks in the same run.

Each part keeps its own media root and settings; a part's ratio says how many times each of its samples is seen
per epoch — 2: twice, 0.5: a random half (drawn once, with the seed), 1: once. The mixture exposes what the
trainer's sampler needs: each sample's token length and media ("image" / "video").
"""
from __future__ import annotations

import numpy as np
import torch


class MixedDataset(torch.utils.data.Dataset):
    def __init__(self, parts: list, ratios: list[float], seed: int = 0):
        if len(parts) != len(ratios) or any(r <= 0 for r in ratios):
            raise ValueError(f"one positive ratio per training file: {len(parts)} files, ratios {ratios}")
        rng = np.random.default_rng(seed)
        self.parts, self.index = parts, []
        for p, (part, ratio) in enumerate(zip(parts, ratios)):
            whole, rest = divmod(round(len(part) * ratio), len(part))
            picks = list(range(len(part))) * whole + sorted(rng.choice(len(part), rest, replace=False).tolist())
            self.index += [(p, i) for i in picks]
        self.lengths = [parts[p].lengths[i] for p, i in self.index]
        self.media = [parts[p].media[i] for p, i in self.index]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict:
        part, j = self.index[i]
        return self.parts[part][j]
