"""`geollava <group> <command>`: the command-line entry point.

  geollava data check ANNOTATIONS [--media-root DIR] [--num-frames N] [--deep] [--require-answers]
  geollava data synth --out DIR --train N --val M [--frames T] [--size S] [--seed K]
  geollava data convert FORMAT SRC --out DIR [--images ROOT] [--captions FILE] ...
  geollava prepare CONFIG [--key value ...]    validate a training config and build its base model if needed
  geollava merge CHECKPOINT OUT                 merge a LoRA checkpoint into a full model folder
  geollava model convert-geochat SRC OUT        GeoChat / LLaVA-1.5 original checkpoint -> transformers LLaVA
  geollava predict --checkpoint CK --frames A.tif B.tif [--task T] [--question Q] [--json] [--draw OUT.png]
  geollava demo --checkpoint CK [--host 127.0.0.1] [--port 7860]
  geollava plan CONFIG [--gpus N] [--gpu-memory GB] [--nodes N] [--key value ...]   will it fit?
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["plan"]:  # its options mix with the config's --key value overrides: plan.main sorts them
        from .plan import main as plan_main

        return plan_main(argv[1:])
    if argv[:1] == ["predict"]:  # predict and demo have parsers (and --help) of their own
        from .predict import main as predict_main

        return predict_main(argv[1:])
    if argv[:1] == ["demo"]:
        from .demo import main as demo_main

        return demo_main(argv[1:])
    parser = argparse.ArgumentParser(prog="geollava", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    groups = parser.add_subparsers(dest="group", required=True)
    data = groups.add_parser("data", help="check, generate and convert annotation data")
    commands = data.add_subparsers(dest="command", required=True)
    _add_check(commands)
    _add_synth(commands)
    _add_convert(commands)
    prepare = groups.add_parser("prepare", help="validate a training config, build a tiny / assembled base model if "
                                                "it asks for one, print the output folder (used by the launch scripts)")
    prepare.add_argument("--world-size", type=int, default=1, help="processes the run will have (all nodes)")
    prepare.add_argument("--validate-only", action="store_true",
                         help="do not build the base model; the data files need not exist yet (--dry-run)")
    prepare.add_argument("config_and_overrides", nargs=argparse.REMAINDER)
    prepare.set_defaults(run=_run_prepare)
    groups.add_parser("plan", help="estimate per-GPU memory of a training config before launching")
    groups.add_parser("predict", help="ask a checkpoint about your own frames, GeoTIFFs or video (--help)")
    groups.add_parser("demo", help="serve a browser demo of a checkpoint (Gradio, loopback by default)")
    merge = groups.add_parser("merge", help="merge a LoRA checkpoint into a full HF model folder")
    merge.add_argument("checkpoint")
    merge.add_argument("out")
    merge.set_defaults(run=_run_merge)
    _add_model(groups)
    args = parser.parse_args(argv)
    return args.run(args)


def _run_prepare(args) -> int:
    from .config import ConfigError, apply_global_batch, parse_config
    from .models.load import prepare_base_model
    from .synthetic.captions import tokenizer_corpus

    world = args.world_size
    try:
        config = parse_config(args.config_and_overrides, need_data=not args.validate_only)
        apply_global_batch(config, world)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    base = "(not built: --validate-only)" if args.validate_only else prepare_base_model(config, tokenizer_corpus())
    t = config.train
    print(f"base model: {base}", file=sys.stderr)
    print(f"batch: {t.per_device_train_batch_size} per device x {world} processes x "
          f"{t.gradient_accumulation_steps} accumulation = "
          f"{t.per_device_train_batch_size * world * t.gradient_accumulation_steps} per optimizer step",
          file=sys.stderr)
    print(t.output_dir)
    return 0


def _add_model(groups) -> None:
    model = groups.add_parser("model", help="convert model checkpoints")
    commands = model.add_subparsers(dest="command", required=True)
    p = commands.add_parser("convert-geochat", help="a checkpoint of GeoChat's or LLaVA-1.5's own code (Llama + "
                                                    "model.mm_projector) -> a transformers LLaVA folder")
    p.add_argument("src", help="the checkpoint folder (config.json with mm_vision_tower, weights, tokenizer)")
    p.add_argument("out", help="the folder to write")
    p.add_argument("--vision-tower", help="the CLIP tower (hub id or folder) instead of config.json's "
                                          "mm_vision_tower, e.g. a local copy of openai/clip-vit-large-patch14-336")
    p.add_argument("--image-size", type=int, help="input size in pixels (default: 504 for GeoChat, the tower's "
                                                   "own for LLaVA)")
    p.add_argument("--dtype", choices=("float16", "bfloat16", "float32"), default="float16")
    p.set_defaults(run=_run_convert_geochat)


def _run_convert_geochat(args) -> int:
    from .models.convert_original import ConversionError, convert_original_llava

    try:
        out = convert_original_llava(args.src, args.out, args.vision_tower, args.image_size, args.dtype)
    except (ConversionError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"transformers LLaVA written to {out} (evaluate: scripts/eval.py --checkpoint {out} --family llava ...)")
    return 0


def _run_merge(args) -> int:
    from .models.checkpoint import CheckpointError, merge_checkpoint

    try:
        print(f"merged model written to {merge_checkpoint(args.checkpoint, args.out)}")
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _add_check(commands) -> None:
    p = commands.add_parser("check", help="check every record of an annotation file; exit 1 if any is bad")
    p.add_argument("annotations", help="a .json list or a .jsonl file")
    p.add_argument("--media-root", default=None, help="folder the media paths are relative to "
                                                      "(default: the annotation file's folder)")
    p.add_argument("--num-frames", type=int, default=None, help="frames each sample must provide (with --deep)")
    p.add_argument("--deep", action="store_true", help="also decode every video and image (slower)")
    p.add_argument("--require-answers", action="store_true",
                   help="a record without a gpt answer is bad (training sets); by default it is counted as unlabeled")
    p.add_argument("--bands", help="raster frames (with --deep): bands shown, e.g. 4,3,2 or B04,B03,B02")
    p.add_argument("--stretch", default="auto", help="raster frames (with --deep): auto | LO,HI | none")
    p.add_argument("--align", action="store_true", help="raster frames (with --deep): resample onto one grid")
    p.set_defaults(run=_run_check)


def _run_check(args) -> int:
    from .data.annotations import AnnotationFileError
    from .data.raster import RasterSettings
    from .data.validate import check_annotations

    try:
        raster = RasterSettings.parse(args.bands, args.stretch, args.align)
        report = check_annotations(args.annotations, args.media_root, args.num_frames, args.deep,
                                   require_answer=args.require_answers, raster=raster)
    except (AnnotationFileError, ValueError) as e:
        print(f"error: {e}")
        return 1
    print("\n".join(report.lines()))
    return 1 if report.bad else 0


def _add_convert(commands) -> None:
    from .data.convert import FORMATS
    from .tasks import benchmark_tasks

    p = commands.add_parser("convert", help="convert a public dataset into our annotations")
    p.add_argument("format", choices=FORMATS)
    p.add_argument("src", help="levir-cc, rsvqa: the dataset folder; fmow-pairs: the pair sheet (.xlsx / .csv); "
                               "fmow-sequences: the fMoW root; teochat / llava / geochat-instruct: the JSON file; "
                               "geochat-eval: the jsonl file; scene-folders: the class-per-folder root")
    p.add_argument("--out", required=True, help="output folder for the annotation files (and fMoW videos)")
    p.add_argument("--images", help="fmow-pairs, teochat, llava, geochat-*, rsvqa: folder the image paths are "
                                    "relative to")
    p.add_argument("--captions", help="fmow-pairs: GeoLLaVA annotations whose answers caption the pairs")
    p.add_argument("--as-frames", action="store_true", help="fmow-pairs: frame lists instead of mp4 videos")
    p.add_argument("--size", type=int, help="fmow-pairs: frame side of the videos (default: the first image's)")
    p.add_argument("--min-views", type=int, default=3, help="fmow-sequences: fewest views per site")
    p.add_argument("--min-gap-days", type=int, default=0, help="fmow-sequences: fewest days between kept views")
    p.add_argument("--one-record-per-reference", action="store_true",
                   help="levir-cc: a training record per reference sentence (default: the first, others kept)")
    p.add_argument("--task", choices=benchmark_tasks(),
                   help="geochat-eval: the task of the file")
    p.add_argument("--split", default="test", help="rsvqa: the split to convert (default test)")
    p.add_argument("--resolution", choices=("lr", "hr"), default="lr", help="rsvqa: LR (Sentinel-2) or HR (USGS)")
    p.set_defaults(run=_run_convert)


def _run_convert(args) -> int:
    from .data.convert import convert

    start = time.perf_counter()
    try:
        result = convert(args.format, args.src, args.out, args.images, args.captions, args.as_frames, args.size,
                         args.min_views, args.min_gap_days, args.one_record_per_reference, args.task, args.split,
                         args.resolution)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("\n".join(result.summary()))
    print(f"converted in {time.perf_counter() - start:.1f} s")
    return 0 if result.written else 1


def _add_synth(commands) -> None:
    p = commands.add_parser("synth", help="generate a synthetic change-captioning set (mp4 + annotations)")
    p.add_argument("--out", required=True, help="output folder: train.json, val.json and videos/")
    p.add_argument("--train", type=int, required=True, help="number of training videos")
    p.add_argument("--val", type=int, required=True, help="number of validation videos")
    p.add_argument("--frames", type=int, default=8, help="frames per video (default 8)")
    p.add_argument("--size", type=int, default=128, help="frame side in pixels, even (default 128)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same set")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--style", choices=("realistic", "simple"), default="realistic",
                   help="realistic (default): busy scenes, illumination, clouds and misregistration between frames; "
                        "simple: few distractors and only pixel noise (the CPU quickstart)")
    p.add_argument("--media", choices=("mp4", "png", "geotiff"), default="mp4",
                   help="change samples as mp4 videos (default), PNG frame lists, or frame lists of 4-band 12-bit "
                        "GeoTIFFs with their dates in the files")
    p.add_argument("--tasks", help="single-image task records instead of change videos: a comma-separated list of "
                                   "scene, vqa, refer, grounding, region_caption (taken in turn, one per image)")
    p.set_defaults(run=_run_synth)


def _run_synth(args) -> int:
    from .synthetic.generate import generate_split
    from .synthetic.tasks import generate_task_split

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    for split, count in (("train", args.train), ("val", args.val)):
        if count <= 0:
            continue
        start = time.perf_counter()
        if tasks:
            path = generate_task_split(args.out, split, count, tasks, args.size, args.seed)
            what = f"images with {', '.join(tasks)} records at {args.size} px"
        else:
            path = generate_split(args.out, split, count, args.frames, args.size, args.seed, args.workers, args.style,
                                  args.media)
            kind = "videos" if args.media == "mp4" else f"{args.media} frame lists"
            what = f"{args.style} {kind} of {args.frames} frames at {args.size} px"
        print(f"{path}: {count} {what} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
