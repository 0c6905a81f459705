"""Dataset items: a record's frames as pixel tensors, and its conversation as token ids with labels.

Frames are decoded inside ``__getitem__`` (so in the DataLoader workers, never before they fork), and
preprocessed frame by frame with the model's image processor (PIL backend; no torchvision needed).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from ..families import Family
from ..tasks import get_task
from ..geometry.box_formats import ImageSize
from .frames import Frames, MediaError, frame_sizes, load_frames, sample_indices
from .pixel_cache import PixelCache
from .raster import file_dates
from .prompt import PromptSettings
from .schema import Record
from .template import Encoded, conversation_turns, encode, render_text

log = logging.getLogger(__name__)


class _Fit(NamedTuple):
    """A sample's lengths, as the length limit needs them."""
    length: int  # tokens the model reads
    counted: int  # the length held against model_max_length
    media_end: int  # tokens up to the end of the media
    keep: int  # tokens a cut at the limit keeps


class AnnotationDataset(torch.utils.data.Dataset):
    """``for_generation=True`` yields the prompt only (up to 'ASSISTANT:'), for evaluation."""

    def __init__(self, records: Sequence[Record], media_root: str | Path, family: Family, model_config,
                 tokenizer, image_processor, settings: PromptSettings, for_generation: bool = False,
                 pixel_cache: PixelCache | None = None):
        if settings.chat_template is None:
            settings = replace(settings, chat_template=family.chat_template)
        self.records, self.media_root, self.family = records, Path(media_root), family
        self.tokenizer, self.image_processor, self.settings = tokenizer, image_processor, settings
        self.for_generation, self.pixel_cache = for_generation, pixel_cache
        self.raster, self.limits, self._file_dates = settings.raster(), settings.limits(), {}
        self.model_config, self.media_token_id = model_config, family.media_token_id(model_config)
        self.keep = list(range(len(records)))
        self._sizes: dict[str, list[tuple[int, int]]] = {}  # Qwen: record id -> frame sizes the processor sees
        limit, counts = settings.model_max_length, settings.max_length_counts
        fits = [_Fit(len(e.input_ids), e.counted_length(counts), e.media_end, e.limit_index(limit, counts))
                for e in (self._encode(records[i]) for i in self.keep)]  # the ids themselves are not kept
        self.lengths = [f.length for f in fits]  # what the model reads
        self._drop_too_long(fits)
        self.media = [family.input_kind(records[i].media_kind) for i in self.keep]  # the model input each feeds

    def __len__(self) -> int:
        return len(self.keep)

    def __getitem__(self, i: int) -> dict:
        """Sample ``i``; in training, a sample whose media cannot be decoded is replaced by the next one of the same
        kind of media that can (the same on every rank: ranks stay in step), and the item says which record failed
        and why (`bad_records`) for the trainer to count, or to stop on (on_bad_record: error)."""
        return self.item(i) if self.for_generation else self.drawn(i)

    def drawn(self, i: int) -> dict:
        """Sample ``i``, or the one that replaces it when its media cannot be decoded (see __getitem__)."""
        failed = []
        for k in range(len(self)):
            j = self._same_media(i, k)
            try:
                item = self.item(j)
            except MediaError as e:
                failed.append({"id": self.records[self.keep[j]].id, "problem": str(e)})
                continue
            return {**item, "bad_records": failed} if failed else item
        raise MediaError(f"no sample with {self.media[i]} media can be read ({failed[0]['problem']}, and every "
                         "other one likewise)")

    def _same_media(self, i: int, k: int) -> int:
        """The k-th sample from ``i`` on, counting only those of ``i``'s kind of media (k = 0: ``i`` itself)."""
        if k == 0:
            return i
        kind = self.media[i]
        ahead = [j for j in range(i + 1, i + len(self)) if self.media[j % len(self)] == kind]
        return ahead[(k - 1) % len(ahead)] % len(self) if ahead else i

    def item(self, i: int, pixels: torch.Tensor | None = None) -> dict:
        """Sample ``i``; ``pixels`` when the caller has already preprocessed its frames (predict)."""
        record = self.records[self.keep[i]]
        if pixels is None and self.pixel_cache is None:
            pixels = self.pixels(record)
        elif pixels is None:
            pixels = self.pixel_cache.get(self.keep[i], lambda: self.pixels(record))
        encoded = self._encode(record)
        ids, labels = encoded.input_ids, encoded.labels
        keep = encoded.limit_index(self.settings.model_max_length, self.settings.max_length_counts)
        if len(ids) > keep:  # only reachable with too_long: truncate_answer
            ids, labels = ids[:keep], labels[:keep]
        item = {"id": record.id, "input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "pixels": pixels,
                "media": self.media[i]}
        grid = self.family.frame_grids(self.image_processor, lambda: self.frame_sizes(record))
        if grid is not None:
            item["grid"] = self._checked_grid(record, torch.tensor(grid), pixels)
            item["mm_token_type_ids"] = (item["input_ids"] == self.media_token_id).long()  # 1: image, for M-RoPE
        return item

    def _checked_grid(self, record: Record, grid: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
        """Qwen's image_grid_thw rows, one per frame, from the frame sizes the placeholders were counted for."""
        if int(grid.prod(dim=1).sum()) != len(pixels):
            raise ValueError(f"{record.id}: its frames were preprocessed to {len(pixels)} patches, but their file "
                             f"headers give {int(grid.prod(dim=1).sum())}; was a file changed during the run?")
        return grid

    def frame_sizes(self, record: Record) -> list[tuple[int, int]]:
        """(height, width) of each frame the model sees, as the image processor gets it (read from the headers
        once per record; padded to square with image_aspect_ratio: pad)."""
        if record.id not in self._sizes:
            sizes = frame_sizes(record, self.media_root, self.num_frames(record), self.settings.pad_frames, self.raster,
                                self.limits)
            if self.settings.image_aspect_ratio == "pad":
                sizes = [(max(h, w), max(h, w)) for h, w in sizes]
            self._sizes[record.id] = sizes
        return self._sizes[record.id]

    def pixels(self, record: Record) -> torch.Tensor:
        """The record's frames, decoded and preprocessed."""
        return self.frames_to_pixels(record, self.frames(record).images)

    def frames(self, record: Record) -> Frames:
        """The record's frames as the model sees them, decoded (RGB arrays, with their dates)."""
        return load_frames(record, self.media_root, self.num_frames(record), self.settings.pad_frames, self.raster,
                           self.limits)

    def frames_to_pixels(self, record: Record, images: list[np.ndarray]) -> torch.Tensor:
        shown = self.shown_frames(record)
        if len(images) == 1 and shown > 1:
            images = images * shown  # a single image becomes a still video
        return self.to_pixels(images)

    def num_frames(self, record: Record) -> int:
        return 1 if record.media_kind == "image" else self.settings.num_frames

    def to_pixels(self, images: list[np.ndarray]) -> torch.Tensor:
        """N x 3 x S x S, normalised as the vision tower expects."""
        mean = tuple(int(255 * m) for m in self.image_processor.image_mean)
        pictures = [Image.fromarray(im) for im in images]
        if self.settings.blank_frames:
            pictures = [Image.new("RGB", p.size, mean) for p in pictures]
        if self.settings.image_aspect_ratio == "pad":
            pictures = [_pad_to_square(p, mean) for p in pictures]
        processed = self.image_processor(pictures, return_tensors="pt")
        pixels = processed.get("pixel_values", processed.get("pixel_values_images"))  # Video-LLaVA's names its own
        if pixels.dim() == 5:  # an any-resolution processor (LLaVA-OneVision's) tiles: keep the whole-frame view
            pixels = pixels[:, 0]
        return pixels

    def shown_frames(self, record: Record) -> int:
        """Frames the model sees: a single image stays one image where it goes in as an image, and becomes a
        still video otherwise."""
        return self.family.frames_shown(record.media_kind, self.settings.num_frames)

    def _dates(self, record: Record) -> list[str] | None:
        """The dates of the frames a sample shows, without decoding anything: the annotation's, else those
        raster files carry (date tags, product names)."""
        if not self.settings.dates_in_prompt:
            return None
        timestamps = record.timestamps
        if timestamps is None and record.media_kind != "video":
            if record.id not in self._file_dates:  # raster headers read once, not at every fetch
                self._file_dates[record.id] = file_dates([self.media_root / p for p in record.media])
            timestamps = self._file_dates[record.id]
        if timestamps is None:
            return None
        if record.media_kind == "image":
            return timestamps[:1] * self.shown_frames(record)
        indices = sample_indices(len(timestamps), self.settings.num_frames, self.settings.pad_frames)
        return [timestamps[i] for i in indices]

    def _turns(self, record: Record) -> list[tuple[str, str | None]]:
        own_boxes = self.for_generation and self.settings.box_format != "geochat" and record.media_kind == "image"
        return conversation_turns(record, self.family, self.shown_frames(record), self._dates(record),
                                  with_answers=not self.for_generation,
                                  as_image=self.family.through_image_path(record.media_kind),
                                  reword=(lambda question: self._reworded(record, question)) if own_boxes else None)

    def _reworded(self, record: Record, question: str) -> str:
        """A zero-shot model that writes boxes its own way is asked in its own convention (the task's form)."""
        height, width = self.frame_sizes(record)[0]
        model_w, model_h = self.family.model_frame(self.image_processor, self.model_config, height, width)
        size = ImageSize(width, height, model_w, model_h)
        return get_task(record.task).reword(question, self.settings.box_format, size)

    def prompt_text(self, record: Record) -> str:
        """The conversation as the model reads it, each media placeholder written once (not expanded)."""
        return render_text(self._turns(record), self.tokenizer, self.family, self.settings.system_prompt,
                           self.settings.chat_template)[0]

    def _encode(self, record: Record) -> Encoded:
        token, count = self.family.placeholder_counts(self.model_config, self.image_processor, record.media_kind,
                                                      self.shown_frames(record), lambda: self.frame_sizes(record))
        return encode(self._turns(record), self.tokenizer, self.family, token, count, self.settings.system_prompt,
                      self.settings.chat_template, self.settings.train_on_prompt and not self.for_generation)

    def _drop_too_long(self, fits: list[_Fit]) -> None:
        """Samples over model_max_length (counted as max_length_counts says) are skipped, or with too_long:
        truncate_answer cut there — unless the cut would fall inside the media, which are never cut."""
        limit, policy, counts = self.settings.model_max_length, self.settings.too_long, self.settings.max_length_counts
        counted = [f.counted for f in fits]
        too_long = [k for k, n in enumerate(counted) if n > limit]
        if not too_long or self.for_generation:
            return
        media_too_long = [k for k in too_long if fits[k].media_end > fits[k].keep]
        drop = set(too_long if policy == "skip" else media_too_long)
        what = "tokens" if counts == "all" else "text tokens (max_length_counts: text)"
        for k in sorted(drop):
            log.warning("skipping %s: %d %s > model_max_length %d", self.records[self.keep[k]].id, counted[k],
                        what, limit)
        if policy == "truncate_answer" and len(too_long) > len(drop):
            log.warning("truncating the answers of %d samples to model_max_length %d", len(too_long) - len(drop),
                        limit)
        if drop:
            log.warning("skipped %d of %d samples longer than model_max_length %d", len(drop), len(self.keep), limit)
        self.keep = [i for k, i in enumerate(self.keep) if k not in drop]
        self.lengths = [n for k, n in enumerate(self.lengths) if k not in drop]
        if not self.keep:
            raise ValueError(f"every sample is longer than model_max_length {limit} ({what}); raise it or use "
                             "fewer frames")


def _pad_to_square(picture: Image.Image, colour: tuple) -> Image.Image:
    width, height = picture.size
    if width == height:
        return picture
    side = max(width, height)
    square = Image.new("RGB", (side, side), colour)
    square.paste(picture, ((side - width) // 2, (side - height) // 2))
    return square
