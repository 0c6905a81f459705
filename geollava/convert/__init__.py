"""`geollava data convert FORMAT SRC --out DIR`: public datasets → annotations `geollava data check` accepts.
Every converter refers to the original media in place (re-encoding only fMoW pairs into mp4s), skips and counts
bad rows with their reason, and writes only records that pass the same checks as `data check`."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .chat import convert_chat
from .common import Conversion
from .dior_rsvg import convert_dior_rsvg
from .fmow import convert_fmow_pairs, convert_fmow_sequences
from .geobench_vlm import convert_geobench_vlm
from .geochat import convert_geochat_eval, convert_geochat_instruct
from .levir_cc import convert_levir_cc
from .rscc import convert_rscc
from .rsvqa import convert_rsvqa
from .scene_folders import convert_scene_folders
from .vrsbench import convert_vrsbench
from .xlrs import convert_xlrs

@dataclass
class ConvertOptions:
    """Every converter's options (`geollava data convert FORMAT --help` says which format reads which)."""
    images: str | None = None
    captions: str | None = None
    as_frames: bool = False
    size: int | None = None
    min_views: int = 3
    min_gap_days: int = 0
    one_record_per_reference: bool = False
    task: str | None = None
    split: str = "test"
    resolution: str = "lr"
    prompt: str = "finetune"


def _images(src: Path, options: ConvertOptions) -> Path:
    """The folder image paths are relative to: --images, else the source folder (or the file's folder)."""
    return Path(options.images) if options.images else (src if src.is_dir() else src.parent)


FORMATS: dict[str, Callable[[Path, Path, ConvertOptions], Conversion]] = {
    "levir-cc": lambda src, out, o: convert_levir_cc(src, out, o.one_record_per_reference),
    "fmow-pairs": lambda src, out, o: convert_fmow_pairs(src, out, _images(src, o),
                                                         Path(o.captions) if o.captions else None, o.as_frames,
                                                         o.size),
    "fmow-sequences": lambda src, out, o: convert_fmow_sequences(src, out, o.min_views, o.min_gap_days),
    "teochat": lambda src, out, o: convert_chat(src, out, _images(src, o), "video", "teochat"),
    "llava": lambda src, out, o: convert_chat(src, out, _images(src, o), "image", "llava"),
    "geochat-instruct": lambda src, out, o: convert_geochat_instruct(src, out, _images(src, o)),
    "geochat-eval": lambda src, out, o: convert_geochat_eval(src, out, _images(src, o), o.task),
    "scene-folders": lambda src, out, o: convert_scene_folders(src, out),
    "rsvqa": lambda src, out, o: convert_rsvqa(src, out, o.split, o.resolution,
                                               Path(o.images) if o.images else None),
    "vrsbench": lambda src, out, o: convert_vrsbench(src, out, Path(o.images) if o.images else None),
    "dior-rsvg": lambda src, out, o: convert_dior_rsvg(src, out, o.split),
    "rscc": lambda src, out, o: convert_rscc(src, out, Path(o.images) if o.images else None, o.prompt),
    "xlrs": lambda src, out, o: convert_xlrs(src, out),
    "geobench-vlm": lambda src, out, o: convert_geobench_vlm(src, out),
}


def convert(fmt: str, src: str | Path, out_dir: str | Path, options: ConvertOptions | None = None) -> Conversion:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    src, out_dir = Path(src), Path(out_dir)
    if not src.exists():
        raise FileNotFoundError(f"{src} does not exist")
    out_dir.mkdir(parents=True, exist_ok=True)
    return FORMATS[fmt](src, out_dir, options or ConvertOptions())
