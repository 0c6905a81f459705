"""The prompts GRPO samples from, as TRL's GRPOTrainer reads a dataset: one row per record, its prompt rendered
and tokenized exactly as SFT's evaluation prompts it (the dataset's generation items), its frames decoded and
preprocessed as in SFT, and the columns the rewards read (task, references, metadata, image sizes).

TRL wants a `datasets.Dataset` with conversational prompts and an "images" column: here a Dataset of row
indices whose transform builds each row when it is read (nothing is decoded ahead), an image is a FrameRef — one
frame of the row's dataset item — and processor.py hands TRL that item's own ids and pixels. TRL repeats each row
once per generation in a row, so the last item is kept rather than decoded again.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data.dataset import AnnotationDataset
from ..evaluation.scoring import image_sizes


@dataclass(eq=False)
class FrameRef:
    """Frame ``frame`` of a dataset item (its prompt ids and preprocessed pixels), as TRL's images column
    carries it: one per pixel row TRL slices (a frame through the image path), one per sample for a video."""
    item: dict
    frame: int

    def __deepcopy__(self, memo) -> FrameRef:  # TRL deep-copies its prompts: never clone the pixels with them
        return self

    def __reduce__(self):  # gathered across processes (TRL's logging): which frame of which record, not its pixels
        return FrameRef, ({"id": self.item.get("id")}, self.frame)


def as_trl_dataset(rows):
    """``rows`` (indexable) as the datasets.Dataset TRL takes, each row built when read."""
    import datasets

    table = datasets.Dataset.from_dict({"index": list(range(len(rows)))})
    table.set_transform(lambda batch: _columns([rows[i] for i in batch["index"]]))
    return table


def _columns(rows: list[dict]) -> dict[str, list]:
    return {key: [row[key] for row in rows] for key in rows[0]}


def frames_of(item: dict) -> int:
    """How many images TRL counts for a sample: its frames through the image path, 1 for a video."""
    if item["media"] == "video":
        return 1
    return len(item["grid"]) if "grid" in item else len(item["pixels"])


class PromptRows(torch.utils.data.Dataset):
    """Rows for TRL from a generation dataset (``for_generation=True``: prompts without answers)."""

    def __init__(self, dataset: AnnotationDataset):
        self.dataset = dataset
        self.records = {r.id: r for r in dataset.records}
        self.sizes = image_sizes([dataset.records[i] for i in dataset.keep], dataset.media_root)
        self._last: tuple[int, dict] | None = None

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict:
        if self._last is None or self._last[0] != i:
            self._last = (i, self.dataset.drawn(i))  # a record whose media fail is replaced, and said
        item = self._last[1]
        record = self.records[item["id"]]
        size = self.sizes.get(record.id)
        return {"prompt": [{"role": "user", "content": self.dataset.prompt_text(record)}],
                "images": [FrameRef(item, k) for k in range(frames_of(item))],
                "id": record.id, "task": record.task, "references": record.all_references(),
                "metadata": record.metadata, "size": size, "model_size": self.model_size(size),
                "bad_records": item.get("bad_records", [])}

    def model_size(self, size: tuple[int, int] | None) -> tuple[int, int] | None:
        """(width, height) the processor resizes the image to: what a model's pixel boxes refer to."""
        if size is None or self.dataset.settings.box_format != "pixels":
            return None
        d = self.dataset
        return d.family.model_frame(d.image_processor, d.model_config, size[1], size[0])
