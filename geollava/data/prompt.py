"""Everything that decides what the model sees — frames, dates, system prompt, aspect ratio, blank frames, length
limit and too-long policy, the default question, how raster frames become RGB — as one object.

Training fills it from the config (its fields are config keys), writes it into every checkpoint as
`geollava_prompt.json`, and evaluation, merging and prediction read it back from there: a checkpoint is always
prompted exactly as it was trained. A zero-shot base model gets these defaults, and metrics.json names them.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..geometry.box_formats import FORMATS
from .limits import DEFAULT_FRAME_PIXELS, DEFAULT_SAMPLE_PIXELS, ReadLimits
from .raster import RasterSettings
from .template import CHAT_TEMPLATES

PROMPT_FILE = "geollava_prompt.json"
CHANGE_QUESTION = "What changed in this area between the images?"
FORMAT_VERSION = 2  # 2: chat_template names the LLaVA template exactly (vicuna_v1 / llava_v1)
BOX_FORMATS = FORMATS


@dataclass
class PromptSettings:
    num_frames: int = field(default=8, metadata={"help": "frames sampled from each video or frame list"})
    pad_frames: bool = field(default=False, metadata={"help": "repeat frames of media shorter than num_frames"})
    dates_in_prompt: bool = field(default=True, metadata={"help": "write 'Frame 1 (2016-03-02) ...' in the prompt"})
    chat_template: str | None = field(default=None, metadata={
        "help": "vicuna_v1 (LLaVA-1.5's and GeoChat's training template) | llava_v1 (the same with GeoChat's "
                "evaluation sentence) | geollava (GeoLLaVA's 'USER: q\\n ASSISTANT: Answer: a') | raw (the question "
                "alone; eval.py only) | model (the model's own chat template, e.g. ChatML); unset: the family's "
                "own (vicuna_v1 for the LLaVA-1.5-era families, model for Qwen and OneVision)"})
    system_prompt: str | None = field(default=None, metadata={
        "help": "text before the first turn; unset: the template's own (Vicuna's sentence, or the chat template's)"})
    image_aspect_ratio: str = field(default="resize", metadata={"help": "resize | pad (pad to square first)"})
    blank_frames: bool = field(default=False, metadata={"help": "control run: the model sees mean-colour frames"})
    model_max_length: int = field(default=2048, metadata={"help": "the length limit of a sample, counted as "
                                                                  "max_length_counts says"})
    max_length_counts: str = field(default="all", metadata={
        "help": "all: every token the model reads, visual tokens included (what must fit the model) | text: text "
                "tokens, each media placeholder counted once, before it is expanded into visual tokens (how "
                "GeoLLaVA's script counts its MAX_LENGTH 350 under transformers 4.45)"})
    train_on_prompt: bool = field(default=False, metadata={
        "help": "label every token, prompt and media placeholders too (GeoLLaVA's recipe); default: the answers"})
    box_format: str = field(default="geochat", metadata={
        "help": "how the model is asked for boxes and how its answers are read: geochat ({<x1><y1><x2><y2>|<angle>} "
                "on a 0-100 grid; what SFT trains) | pixels (Qwen2.5-VL: the processor's resized image) | norm1000 "
                "(Qwen3-VL: 0-1000) | norm1 (LLaVA-1.5: fractions); the others for a zero-shot base, and GRPO from one"})
    too_long: str = field(default="skip", metadata={"help": "skip | truncate_answer, for samples over the limit"})
    question: str = field(default=CHANGE_QUESTION, metadata={"help": "what is asked when a sample brings no question"})
    bands: str | None = field(default=None, metadata={
        "help": "raster frames: bands shown as R,G,B: numbers (4,3,2) or, for band folders, names (B04,B03,B02)"})
    stretch: str = field(default="auto", metadata={
        "help": "raster frames: auto (8-bit as is, else 2-98 percent), LO,HI percentiles over the sample, or none"})
    align: bool = field(default=False, metadata={
        "help": "raster frames on different grids are resampled onto the first frame's (else an error)"})
    max_frame_pixels: int = field(default=DEFAULT_FRAME_PIXELS, metadata={
        "help": "largest frame decoded (pixels); larger images are refused before decoding, larger rasters read at "
                "a reduced resolution"})
    max_sample_pixels: int = field(default=DEFAULT_SAMPLE_PIXELS, metadata={
        "help": "largest sample decoded (pixels of all its frames together), likewise"})
    max_decode_pixels: int | None = field(default=None, metadata={
        "help": "largest raster without overviews read at all, in source pixels (a reduced read decodes all of "
                "them); null: no limit"})

    def raster(self) -> RasterSettings:
        return RasterSettings.parse(self.bands, self.stretch, self.align)

    def limits(self) -> ReadLimits:
        return ReadLimits(self.max_frame_pixels, self.max_sample_pixels, self.max_decode_pixels)

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / PROMPT_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**asdict(self), "format_version": FORMAT_VERSION}, indent=1) + "\n")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> PromptSettings:
        path = Path(folder) / PROMPT_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{folder} has no {PROMPT_FILE}: it was not saved by this version of GeoLLaVA "
                                    "(re-save it by training, or evaluate the base model with --family)")
        return cls.from_dict(json.loads(path.read_text()))

    @classmethod
    def from_dict(cls, values: dict) -> PromptSettings:
        """From saved settings (geollava_prompt.json, metrics.json's "prompt"); keys of other versions ignored.
        Settings saved before format 2 wrote "vicuna" for the template they rendered with the "curious human"
        sentence: they are read as llava_v1, so such a checkpoint is still prompted exactly as it was trained."""
        known = {f.name for f in fields(cls)}
        settings = {k: v for k, v in values.items() if k in known}
        if settings.get("chat_template") == "vicuna" and "format_version" not in values:
            settings["chat_template"] = "llava_v1" if settings.get("system_prompt") is None else "vicuna_v1"
        return cls(**settings)

    def problems(self) -> list[str]:
        """What makes these settings impossible, each with the key to change."""
        out = []
        if self.num_frames < 1:
            out.append(f"num_frames must be at least 1, got {self.num_frames}")
        if self.chat_template == "vicuna":  # earlier versions' name, for the sentence llava_v1 now names
            out.append("chat_template: vicuna is the name earlier versions gave the Vicuna template with GeoChat's "
                       "evaluation sentence ('a curious human'); write llava_v1 for exactly that, or vicuna_v1 for "
                       "LLaVA-1.5's training sentence ('a curious user', the default)")
        elif self.chat_template is not None and self.chat_template not in CHAT_TEMPLATES:
            out.append(f"chat_template must be one of {', '.join(CHAT_TEMPLATES)}, got {self.chat_template!r}")
        if self.box_format not in BOX_FORMATS:
            out.append(f"box_format must be one of {', '.join(BOX_FORMATS)}, got {self.box_format!r}")
        if self.image_aspect_ratio not in ("resize", "pad"):
            out.append(f"image_aspect_ratio must be resize or pad, got {self.image_aspect_ratio!r}")
        if self.too_long not in ("skip", "truncate_answer"):
            out.append(f"too_long must be skip or truncate_answer, got {self.too_long!r}")
        if self.max_length_counts not in ("all", "text"):
            out.append(f"max_length_counts must be all or text, got {self.max_length_counts!r}")
        if self.model_max_length < 1:
            out.append(f"model_max_length must be positive, got {self.model_max_length}")
        if self.max_frame_pixels < 1 or self.max_sample_pixels < self.max_frame_pixels:
            out.append(f"max_frame_pixels ({self.max_frame_pixels}) must be at least 1, and max_sample_pixels "
                       f"({self.max_sample_pixels}) at least max_frame_pixels")
        try:
            self.raster()
        except ValueError as e:
            out.append(str(e))
        return out
