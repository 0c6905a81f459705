"""`geollava data convert FORMAT SRC --out DIR`: public datasets → annotations `geollava data check` accepts.
Every converter refers to the original media in place (re-encoding only fMoW pairs into mp4s), skips and counts
bad rows with their reason, and writes only records that pass the same checks as `data check`."""
from __future__ import annotations

from pathlib import Path

from .chat import convert_chat
from .common import Conversion
from .fmow import convert_fmow_pairs, convert_fmow_sequences
from .geochat import convert_geochat_eval, convert_geochat_instruct
from .levir_cc import convert_levir_cc
from .rsvqa import convert_rsvqa
from .scene_folders import convert_scene_folders

FORMATS = ("levir-cc", "fmow-pairs", "fmow-sequences", "teochat", "llava", "geochat-instruct", "geochat-eval",
           "scene-folders", "rsvqa")


def convert(fmt: str, src: str | Path, out_dir: str | Path, images: str | Path | None = None,
            captions: str | Path | None = None, as_frames: bool = False, size: int | None = None,
            min_views: int = 3, min_gap_days: int = 0, one_record_per_reference: bool = False,
            task: str | None = None, split: str = "test", resolution: str = "lr") -> Conversion:
    src, out_dir = Path(src), Path(out_dir)
    if not src.exists():
        raise FileNotFoundError(f"{src} does not exist")
    out_dir.mkdir(parents=True, exist_ok=True)
    given_images = Path(images) if images else None
    images = given_images or (src if src.is_dir() else src.parent)
    if fmt == "levir-cc":
        return convert_levir_cc(src, out_dir, one_record_per_reference)
    if fmt == "fmow-pairs":
        return convert_fmow_pairs(src, out_dir, images, Path(captions) if captions else None, as_frames, size)
    if fmt == "fmow-sequences":
        return convert_fmow_sequences(src, out_dir, min_views, min_gap_days)
    if fmt == "teochat":
        return convert_chat(src, out_dir, images, "video", "teochat")
    if fmt == "llava":
        return convert_chat(src, out_dir, images, "image", "llava")
    if fmt == "geochat-instruct":
        return convert_geochat_instruct(src, out_dir, images)
    if fmt == "geochat-eval":
        return convert_geochat_eval(src, out_dir, images, task)
    if fmt == "scene-folders":
        return convert_scene_folders(src, out_dir)
    if fmt == "rsvqa":
        return convert_rsvqa(src, out_dir, split, resolution, given_images)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
