"""TRL's GRPOTrainer turns prompts into model inputs through a processor: `apply_chat_template(...,
tokenize=True)` for generation and `processor(images=..., text=...)` for the log-probabilities. This one answers
both from the dataset items the rows carry (rows.FrameRef), so the ids are exactly SFT's generation prompt and
the pixels exactly its preprocessing — one rendering of the prompt, ours, never a second one.

TRL slices `pixel_values` per sample by image count; a video family's clips go to it under that name, one per
sample, and the trainer hands them to the model as `pixel_values_videos` (trainer.py).
"""
from __future__ import annotations

from transformers import ProcessorMixin

from ..data.collator import Collator
from ..families import Family


class SampleProcessor(ProcessorMixin):
    """A processor over our dataset items; it loads and saves nothing of its own but the tokenizer (the image
    processor is saved with every checkpoint beside it, as in SFT)."""

    def __init__(self, tokenizer, image_processor, family: Family):
        # not ProcessorMixin.__init__: it checks the classes of a processor's parts; TRL needs only the type
        self.tokenizer, self.image_processor, self.family = tokenizer, image_processor, family
        self.chat_template = None
        self.collate = Collator(family, tokenizer.pad_token_id, padding_side="left")

    def __repr__(self) -> str:
        return f"SampleProcessor(family={self.family.name})"

    def save_pretrained(self, save_directory, **kwargs):
        self.tokenizer.save_pretrained(save_directory)
        return []

    def apply_chat_template(self, conversation, tokenize: bool = False, **kwargs):
        """One prompt or a list of them, as TRL passes them: the prompt text (tokenize=False), or the items' ids
        (unpadded lists, TRL pads them) and pixels for generation."""
        batched = bool(conversation) and isinstance(conversation[0], list)
        conversations = conversation if batched else [conversation]
        if not tokenize:
            texts = [_text(c) for c in conversations]
            return texts if batched else texts[0]
        items = [_refs(c)[0].item for c in conversations]
        batch = self.collate.media(items)
        batch["input_ids"] = [item["input_ids"].tolist() for item in items]
        batch["attention_mask"] = [[1] * len(ids) for ids in batch["input_ids"]]
        if "mm_token_type_ids" in items[0]:
            batch["mm_token_type_ids"] = [item["mm_token_type_ids"].tolist() for item in items]
        return batch

    def __call__(self, images=None, text=None, padding=True, return_tensors="pt", **kwargs) -> dict:
        """The log-probability pass's inputs: left-padded ids and mask, and the pixels with a video family's
        clips under `pixel_values` (TRL slices that key per sample)."""
        items = [refs[0].item for refs in images]
        batch = {k: v for k, v in self.collate(items).items() if k not in ("labels", "bad_records")}
        if "pixel_values_videos" in batch:
            if "pixel_values" in batch:
                raise ValueError("a GRPO batch mixes images and videos; Video-LLaVA trains them in separate runs")
            batch["pixel_values"] = batch.pop("pixel_values_videos")
        return batch


def _refs(conversation: list[dict]) -> list:
    return [part["image"] for message in conversation if isinstance(message["content"], list)
            for part in message["content"] if part.get("type") == "image"]


def _text(conversation: list[dict]) -> str:
    """The rendered prompt the row carries (its media placeholders written once, not expanded)."""
    for message in conversation:
        content = message["content"]
        if isinstance(content, str):
            return content
        texts = [part["text"] for part in content if part.get("type") == "text"]
        if texts:
            return "".join(texts)
    return ""

