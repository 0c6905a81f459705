"""`geollava export lmms-eval|vlmevalkit DATA --out DIR`: the tasks of an annotation file where other harnesses
evaluate models, scored there by this suite's scorers (docs/evaluation.md, "Other harnesses").

    geollava export lmms-eval data/val.json --out exported/lmms --box-format pixels
    geollava export vlmevalkit data/val.json --out exported/vlmeval --box-format pixels
"""
from __future__ import annotations

import argparse
import sys

from ..geometry.box_formats import FORMATS, PIXELS_MAX, PIXELS_MIN
from .documents import ExportError, ExportSettings


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="geollava export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("harness", choices=("lmms-eval", "vlmevalkit"))
    p.add_argument("data", help="the annotation file (every record labeled: the harness's answers are scored)")
    p.add_argument("--out", required=True, help="the folder to write")
    p.add_argument("--box-format", choices=FORMATS, default="geochat",
                   help="the target model's box convention: how box questions are worded and answers read "
                        "(pixels: Qwen2.5-VL, norm1000: Qwen3-VL, internvl: InternVL3, norm1: LLaVA-1.5; "
                        "default geochat, what this suite's fine-tuned models write)")
    p.add_argument("--num-frames", type=int, default=8, help="frames taken from a video or a longer frame list "
                                                              "(default 8, as geollava eval)")
    p.add_argument("--max-pixels", type=int, default=PIXELS_MAX,
                   help="--box-format pixels: the max_pixels the target's processor runs with (its boxes refer to "
                        "the resized image; default the released Qwen2.5-VL's; lmms-eval's qwen2_5_vl: 1605632)")
    p.add_argument("--min-pixels", type=int, default=PIXELS_MIN,
                   help="--box-format pixels: its min_pixels likewise (lmms-eval's qwen2_5_vl: 200704)")
    p.add_argument("--media-root", help="folder the media paths are relative to (default: the data's folder)")
    p.add_argument("--name", help="the task names' prefix (default geollava_<data file stem>)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    settings = ExportSettings(args.box_format, args.num_frames, args.max_pixels, args.min_pixels, args.media_root)
    try:
        if args.harness == "lmms-eval":
            from .lmms_eval import export_lmms_eval
            names = export_lmms_eval(args.data, args.out, settings, args.name)
            print(f"{len(names)} lmms-eval task(s) in {args.out}: {', '.join(names)}\n"
                  f"run: lmms-eval --include_path {args.out} --tasks {','.join(names)} --model ... --log_samples")
        else:
            from .vlmevalkit import export_vlmevalkit
            names = export_vlmevalkit(args.data, args.out, settings, args.name)
            print(f"{len(names)} VLMEvalKit dataset(s) in {args.out}: {', '.join(names)} (see {args.out}/README.md)")
    except (ExportError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
