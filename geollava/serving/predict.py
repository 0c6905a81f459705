"""`geollava predict`: ask a checkpoint about your own frames — images, GeoTIFFs, folders of band files — or a
video, with the checkpoint's own prompt settings; or answer every record of an annotation file (`--data`, as
`scripts/eval.py` does: predictions.jsonl, resumable, scored when the records have answers).

    geollava predict --checkpoint runs/x/final --frames 2017.tif 2021.tif [--dates 2017-03-01 2021-06-09]
    geollava predict --checkpoint runs/x/final --frames scene.png --task refer --question "the largest building"
    geollava predict --checkpoint runs/x/final --video site.mp4 --json --draw answer.png
    geollava predict --checkpoint runs/x/final --data pairs_inference.json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

from PIL import Image

from ..geometry.boxes import BoxError, draw, parse_grounded
from ..data.collator import Collator
from ..data.dataset import AnnotationDataset
from ..data.frames import MediaError
from ..data.limits import add_limit_arguments
from ..data.schema import parse_record
from ..data.validate import DataError
from ..families import FAMILIES, get_family
from ..evaluation.generate import budget_of, generate_batch
from ..models.checkpoint import CheckpointError
from ..runs import Loaded, final_target
from ..tasks import DEFAULT_TASK, TASKS, get_task


class PredictError(ValueError):
    pass


def parse_args(argv):
    p = argparse.ArgumentParser(prog="geollava predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="a checkpoint or run folder, or a base model with --family")
    p.add_argument("--family", choices=sorted(FAMILIES), help="family of a base model given by --checkpoint")
    media = p.add_mutually_exclusive_group(required=True)
    media.add_argument("--frames", nargs="+", help="the frames in time order: images, GeoTIFFs, band folders")
    media.add_argument("--video", help="a video file instead of frames")
    media.add_argument("--data", help="an annotation file: predict every record (eval.py's predictions.jsonl)")
    p.add_argument("--dates", nargs="+", help="one date per frame (default: the dates the files carry, if any)")
    p.add_argument("--task", choices=list(TASKS), default=DEFAULT_TASK.name)
    p.add_argument("--question", help="default: the checkpoint's change question; refer: the phrase to find; "
                                      "region_caption: the box; scene: the question listing the classes")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the answer")
    p.add_argument("--draw", help="write the frames side by side with the predicted boxes to this image")
    p.add_argument("--bands", help="raster frames: bands shown (default: the checkpoint's setting)")
    p.add_argument("--stretch", help="raster frames: auto | LO,HI | none (default: the checkpoint's setting)")
    p.add_argument("--align", action="store_true", help="raster frames on different grids: resample onto the first")
    p.add_argument("--pad-frames", action="store_true", help="repeat frames when there are fewer than trained with")
    add_limit_arguments(p, None)
    p.add_argument("--max-new-tokens", type=int, help="the most new tokens of the answer (default: the task's budget)")
    p.add_argument("--output-dir", help="with --data: where predictions go (default: <checkpoint>/eval)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.data:
        return _predict_file(args)
    try:
        result, images = predict(args)
    except (PredictError, CheckpointError, MediaError, DataError, OSError, ValueError) as e:
        hint = " (here: --pad-frames)" if "pad_frames" in str(e) else ""
        print(f"error: {e}{hint}", file=sys.stderr)
        return 2
    if args.draw:
        result["drawing"] = str(draw_answer(images, result["answer"], Path(args.draw)))
    print(json.dumps(result, indent=1, ensure_ascii=False) if args.json else result["answer"])
    return 0


def _predict_file(args) -> int:
    """Every record of ``--data``, by the final model only, through eval's generation and scoring."""
    from ..evaluation.evaluate import EvalError, EvalOptions, evaluate_models

    options = EvalOptions(checkpoint=args.checkpoint, data=args.data, max_new_tokens=args.max_new_tokens,
                          family=args.family, output_dir=args.output_dir)
    logging.basicConfig(format="[%(asctime)s %(name)s] %(message)s", datefmt="%H:%M:%S", level=logging.INFO)
    try:
        evaluate_models(options, final_only=True)
    except (EvalError, CheckpointError, DataError, MediaError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def predict(args, loaded: Loaded | None = None) -> tuple[dict, list]:
    """The answer and what produced it, and the frames as the model saw them (RGB arrays). ``loaded``: a model
    already loaded (the demo loads once)."""
    target = loaded.target if loaded else final_target(args.checkpoint, args.family)
    settings = _settings(target.prompt, args)
    record = build_record(args, settings.question)  # a bad question or frame list stops before the model loads
    loaded = loaded or Loaded.of(target)
    model, tokenizer = loaded.model, loaded.tokenizer
    dataset = AnnotationDataset([record], Path("/"), get_family(target.family), model.config, tokenizer,
                                   loaded.image_processor, settings, for_generation=True)
    if len(dataset) == 0:
        raise PredictError("the question and frames are longer than the model's limit (model_max_length "
                           f"{settings.model_max_length})")
    frames = dataset.frames(record)  # decoded once: for the model, and for the dates and the drawing
    item = dataset.item(0, dataset.frames_to_pixels(record, frames.images))
    batch = Collator(dataset.family, tokenizer.pad_token_id, padding_side="left")([item])
    answer = generate_batch(model, tokenizer, batch, args.max_new_tokens or budget_of(record), model.device,
                            next(model.parameters()).dtype)[0]
    result = {"answer": answer, "boxes": boxes_of(answer), "task": record.task, "question": record.prompt,
              "prompt": dataset.prompt_text(record), "checkpoint": target.path, "media": record.media,
              "dates": frames.timestamps, "frames_shown": len(frames.images)}
    return result, frames.images


def _settings(prompt, args):
    changes = {"pad_frames": prompt.pad_frames or args.pad_frames, "align": prompt.align or args.align}
    if args.bands:
        changes["bands"] = args.bands
    for key in ("max_frame_pixels", "max_sample_pixels", "max_decode_pixels"):
        if getattr(args, key, None):
            changes[key] = getattr(args, key)
    if args.stretch:
        changes["stretch"] = args.stretch
    settings = dataclasses.replace(prompt, **changes)
    problems = settings.problems()
    if problems:
        raise PredictError("; ".join(problems))
    return settings


def build_record(args, default_question: str):
    """The one record to answer, checked like any annotation record."""
    task = get_task(args.task)
    paths = [Path(args.video)] if args.video else [Path(f) for f in args.frames]
    for path in paths:
        if not path.exists():
            raise PredictError(f"{path} does not exist")
    one_image = not args.video and len(paths) == 1
    if task.media == "frames" and one_image:
        singles = " | ".join(name for name, t in TASKS.items() if t.media != "frames")
        raise PredictError(f"the {task.name} task needs two or more frames (or a video); for one image pick a "
                           f"single-image task: --task {singles}")
    if task.media == "image" and not one_image:
        raise PredictError(f"the {task.name} task takes one image (--frames IMAGE), got "
                           f"{'a video' if args.video else f'{len(paths)} frames'}")
    question = task.question(args.question)
    if question is None and task.asks_checkpoint_question:
        question = default_question
    if question is None:
        raise PredictError(f"the {task.name} task needs --question: {task.question_help}")
    raw = {"id": "predict", "conversations": [{"from": "human", "value": question}],
           "metadata": {"task": task.name, **task.metadata_for(question)}}
    media = [str(p.resolve()) for p in paths]
    raw["image" if one_image else "video"] = media[0] if one_image or args.video else media
    if args.dates:
        raw["timestamps"] = args.dates
    record, problems = parse_record(raw, require_answer=False)
    if problems:
        raise PredictError("; ".join(str(p) for p in problems))
    return record


def boxes_of(answer: str) -> list[dict]:
    try:
        phrases = parse_grounded(answer)
    except BoxError:
        return []
    return [{"phrase": p.text, "box": [b.x1, b.y1, b.x2, b.y2, b.angle]} for p in phrases for b in p.boxes]


def draw_answer(images: list, answer: str, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    answer_picture(images, answer).save(out)
    return out


def answer_picture(images: list, answer: str, height: int = 256) -> Image.Image:
    """The frames side by side, each with the answer's boxes and phrases drawn."""
    try:
        phrases = parse_grounded(answer)
    except BoxError:
        phrases = []
    pictures = []
    for image in images:
        picture = Image.fromarray(image)
        picture = picture.resize((max(1, round(picture.width * height / picture.height)), height), Image.NEAREST)
        pictures.append(draw(picture, phrases) if phrases else picture)
    canvas = Image.new("RGB", (sum(p.width for p in pictures) + 4 * (len(pictures) - 1), height), (255, 255, 255))
    x = 0
    for picture in pictures:
        canvas.paste(picture, (x, 0))
        x += picture.width + 4
    return canvas
