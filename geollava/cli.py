"""`geollava COMMAND ...` (or `python -m geollava COMMAND ...`): the one command surface, each command a thin layer
over the library function that does the work.

  geollava train CONFIG [--nproc-per-node N] [--nnodes M --node-rank R --master-addr A] [--hostfile F]
                 [--dry-run] [--key value ...]   fine-tune: one process, GPUs or nodes (scripts/finetune_lora.sh)
  geollava grpo CONFIG [the same]               reward fine-tuning after SFT (scripts/finetune_grpo.sh)
  geollava eval --checkpoint RUN --data FILE    generate and score (= python scripts/eval.py)
  geollava predict --checkpoint CK --frames A.tif B.tif [--task T] [--question Q] [--json] [--draw OUT.png]
  geollava demo --checkpoint CK [--host 127.0.0.1] [--port 7860]
  geollava plan CONFIG [--gpus N] [--gpu-memory GB] [--nodes N] [--json] [--key value ...]   will it fit?
  geollava report --model LABEL=EVAL_FOLDER ... --data FILE --out report.html
  geollava export lmms-eval|vlmevalkit DATA --out DIR [--box-format F]   tasks for other harnesses, our scorers
  geollava merge CHECKPOINT OUT                 merge a LoRA checkpoint into a full model folder
  geollava data check | synth | convert ...     annotations: check every record, make synthetic sets, convert
  geollava model convert-geochat SRC OUT        GeoChat / LLaVA-1.5 original checkpoint -> transformers LLaVA
  geollava model released ID --layers N --out DIR   a reference checkpoint's released shape, depth cut, random
  geollava baseline | learning-check ...        the quickstart's constant-caption baseline and verdict

Each command's own options: `geollava COMMAND --help`.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time

from .data.limits import ReadLimits, add_limit_arguments

# Commands whose module parses its own arguments (`--key value` config overrides, or a parser of its own):
# ("module" or "module:function" taking the words, help). Their words pass through untouched, --help included.
DELEGATED = {
    "train": ("geollava.launch:train", "fine-tune a model on a YAML config (+ --key value overrides)"),
    "grpo": ("geollava.launch:grpo", "reward fine-tuning (GRPO) after SFT, each task's score its reward"),
    "eval": ("geollava.evaluation.evaluate", "generate with checkpoints or a base model and score, or score a "
                                             "predictions file"),
    "predict": ("geollava.serving.predict", "ask a checkpoint about your own frames, GeoTIFFs or video"),
    "demo": ("geollava.serving.demo", "serve a browser demo of a checkpoint (Gradio, loopback by default)"),
    "plan": ("geollava.launch:plan", "estimate per-GPU memory of a training config before launching"),
    "report": ("geollava.report", "write the HTML report of evaluated models"),
    "baseline": ("geollava.evaluation.baseline", "the constant-caption baseline: the most frequent training answer"),
    "export": ("geollava.export.command", "the tasks of annotations as lmms-eval tasks or a VLMEvalKit dataset, "
                                          "scored there by this suite"),
    "learning-check": ("geollava.evaluation.learning_check", "the quickstart's verdict: did the model learn to see "
                                                             "change?"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.run(args) or 0


def _delegate(target: str, words: list[str]) -> int:
    """The module's main (or the named function) on the command's words; its exit code (a module returning its
    result means success)."""
    module, _, function = target.partition(":")
    result = getattr(importlib.import_module(module), function or "main")(words)
    return result if isinstance(result, int) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="geollava", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in DELEGATED.items():
        # prefix_chars="+": no option is this parser's own, so every word (and --help) reaches the module's parser
        p = commands.add_parser(name, help=help_text, prefix_chars="+", add_help=False)
        p.add_argument("words", nargs=argparse.REMAINDER)
        p.set_defaults(run=lambda args, module=module: _delegate(module, args.words))
    _add_merge(commands)
    data = commands.add_parser("data", help="check, generate and convert annotation data")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    _add_check(data_commands)
    _add_synth(data_commands)
    _add_convert(data_commands)
    _add_model(commands)
    return parser


def _add_merge(commands) -> None:
    p = commands.add_parser("merge", help="merge a LoRA checkpoint (or a run's final model) into a full HF model "
                                          "folder")
    p.add_argument("checkpoint", help="a checkpoint folder, or a run folder (its final model)")
    p.add_argument("out")
    p.set_defaults(run=_run_merge)


def _run_merge(args) -> int:
    from .models.checkpoint import CheckpointError, merge_checkpoint
    from .runs import final_target

    try:
        folder = final_target(args.checkpoint).path
        print(f"merged model written to {merge_checkpoint(folder, args.out)}")
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _add_model(commands) -> None:
    model = commands.add_parser("model", help="convert model checkpoints, build released shapes")
    model_commands = model.add_subparsers(dest="model_command", required=True)
    p = model_commands.add_parser("convert-geochat", help="a checkpoint of GeoChat's or LLaVA-1.5's own code (Llama "
                                                          "+ model.mm_projector) -> a transformers LLaVA folder")
    p.add_argument("src", help="the checkpoint folder (config.json with mm_vision_tower, weights, tokenizer)")
    p.add_argument("out", help="the folder to write")
    p.add_argument("--vision-tower", help="the CLIP tower (hub id or folder) instead of config.json's "
                                          "mm_vision_tower, e.g. a local copy of openai/clip-vit-large-patch14-336")
    p.add_argument("--image-size", type=int, help="input size in pixels (default: 504 for GeoChat, the tower's "
                                                   "own for LLaVA)")
    p.add_argument("--dtype", choices=("float16", "bfloat16", "float32"), default="float16")
    p.set_defaults(run=_run_convert_geochat)
    p = model_commands.add_parser("released", help="a family's reference checkpoint at its released shape (config, "
                                                   "tokenizer, processor, chat template) with its depth cut and "
                                                   "random weights: what a recipe meets, on a CPU")
    p.add_argument("id", nargs="?", help="the checkpoint's hub id (--list shows them)")
    p.add_argument("--layers", type=int, default=1, help="depth of the LLM and of each vision tower (default 1)")
    p.add_argument("--out", help="the folder to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--list", action="store_true", help="list the known checkpoints")
    p.set_defaults(run=_run_released)


def _run_released(args) -> int:
    from .models.released import ReleasedError, build_released, listing

    if args.list:
        print(listing())
        return 0
    if not args.id or not args.out:
        print("error: give a checkpoint id and --out DIR (geollava model released --list shows the ids)",
              file=sys.stderr)
        return 2
    try:
        out = build_released(args.id, args.layers, args.out, args.seed)
    except (ReleasedError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.id} at its released shape, {args.layers} layer(s), random weights: {out}")
    return 0


def _run_convert_geochat(args) -> int:
    from .models.convert_original import ConversionError, convert_original_llava

    try:
        out = convert_original_llava(args.src, args.out, args.vision_tower, args.image_size, args.dtype)
    except (ConversionError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"transformers LLaVA written to {out} (evaluate: geollava eval --checkpoint {out} --family llava ...)")
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
    add_limit_arguments(p, ReadLimits(), "with --deep: ")
    p.set_defaults(run=_run_check)


def _run_check(args) -> int:
    from .data.annotations import AnnotationFileError
    from .data.raster import RasterSettings
    from .data.validate import check_annotations

    try:
        raster = RasterSettings.parse(args.bands, args.stretch, args.align)
        report = check_annotations(args.annotations, args.media_root, args.num_frames, args.deep,
                                   require_answer=args.require_answers, raster=raster,
                                   limits=ReadLimits(args.max_frame_pixels, args.max_sample_pixels))
    except (AnnotationFileError, ValueError) as e:
        print(f"error: {e}")
        return 1
    print("\n".join(report.lines()))
    return 1 if report.bad else 0


def _add_convert(commands) -> None:
    from .convert import FORMATS
    from .tasks import benchmark_tasks

    p = commands.add_parser("convert", help="convert a public dataset into our annotations")
    p.add_argument("format", choices=list(FORMATS))
    p.add_argument("src", help="levir-cc, rsvqa, vrsbench, dior-rsvg: the dataset folder; fmow-pairs: the pair sheet "
                               "(.xlsx / .csv); fmow-sequences: the fMoW root; teochat / llava / geochat-instruct: "
                               "the JSON file; geochat-eval, rscc: the jsonl file; scene-folders: the class-per-folder "
                               "root; xlrs: lmms-eval's parquet folder or VLMEvalKit's jsonl / tsv; geobench-vlm: the "
                               "dataset root (Single/, Temporal/) or one qa.json")
    p.add_argument("--out", required=True, help="output folder for the annotation files (and fMoW videos)")
    p.add_argument("--images", help="fmow-pairs, teochat, llava, geochat-*, rsvqa, vrsbench: folder the image paths "
                                    "are relative to; rscc: the folder its tiles are under (found by name)")
    p.add_argument("--captions", help="fmow-pairs: GeoLLaVA annotations whose answers caption the pairs")
    p.add_argument("--as-frames", action="store_true", help="fmow-pairs: frame lists instead of mp4 videos")
    p.add_argument("--size", type=int, help="fmow-pairs: frame side of the videos (default: the first image's)")
    p.add_argument("--min-views", type=int, default=3, help="fmow-sequences: fewest views per site")
    p.add_argument("--min-gap-days", type=int, default=0, help="fmow-sequences: fewest days between kept views")
    p.add_argument("--one-record-per-reference", action="store_true",
                   help="levir-cc: a training record per reference sentence (default: the first, others kept)")
    p.add_argument("--task", choices=benchmark_tasks(), help="geochat-eval: the task of the file")
    p.add_argument("--split", default="test", help="rsvqa, dior-rsvg: the split to convert (default test)")
    p.add_argument("--resolution", choices=("lr", "hr"), default="lr", help="rsvqa: LR (Sentinel-2) or HR (USGS)")
    p.add_argument("--prompt", choices=("finetune", "zero-shot"), default="finetune",
                   help="rscc: ask its fine-tuning question (default), or the prompt its zero-shot baselines were "
                        "asked (inference/xbd_subset_baseline.py), to compare with its baseline table")
    p.set_defaults(run=_run_convert)


def _run_convert(args) -> int:
    from dataclasses import fields

    from .convert import ConvertOptions, convert

    start = time.perf_counter()
    options = ConvertOptions(**{f.name: getattr(args, f.name) for f in fields(ConvertOptions)})
    try:
        result = convert(args.format, args.src, args.out, options)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("\n".join(result.summary()))
    print(f"converted in {time.perf_counter() - start:.1f} s")
    return 0 if result.written else 1


def _sample_noun(tasks: list[str]) -> str:
    from .tasks import TASKS

    media = {TASKS[t].media for t in tasks if t in TASKS}
    return {frozenset({"image"}): "images", frozenset({"frames"}): "change videos"}.get(frozenset(media), "samples")


def _add_synth(commands) -> None:
    p = commands.add_parser("synth", help="generate a synthetic change-captioning set (mp4 + annotations), or "
                                          "task records (--tasks)")
    p.add_argument("--out", required=True, help="output folder: train.json, val.json and videos/ (images/)")
    p.add_argument("--train", type=int, required=True, help="number of training samples")
    p.add_argument("--val", type=int, required=True, help="number of validation samples")
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
    p.add_argument("--tasks", help="task records instead of change captions: a comma-separated list of tasks with a "
                                   "synthetic generator (taken in turn, one per sample); see geollava/tasks/")
    p.set_defaults(run=_run_synth)


def _run_synth(args) -> int:
    from .synthetic.generate import generate_split
    from .synthetic.tasks import generate_task_split

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    for split, count in (("train", args.train), ("val", args.val)):
        if count <= 0:
            continue
        start = time.perf_counter()
        try:
            if tasks:
                path = generate_task_split(args.out, split, count, tasks, args.size, args.seed, args.frames,
                                           args.style)
                what = f"{_sample_noun(tasks)} with {', '.join(tasks)} records at {args.size} px"
            else:
                path = generate_split(args.out, split, count, args.frames, args.size, args.seed, args.workers,
                                      args.style, args.media)
                kind = "videos" if args.media == "mp4" else f"{args.media} frame lists"
                what = f"{args.style} {kind} of {args.frames} frames at {args.size} px"
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"{path}: {count} {what} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
