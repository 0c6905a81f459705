"""`geollava eval` (= `python scripts/eval.py`): generate with checkpoints (or a base model) and score, task by task,
or score a predictions file from any system. Writes metrics.json, predictions.jsonl, per_sample.jsonl and
comparison.md.

    python scripts/eval.py --checkpoint runs/tiny --data data/synthetic/val.json --base
    python scripts/eval.py --checkpoint llava-hf/llava-1.5-7b-hf --family llava --data val.json   # zero-shot
    python scripts/eval.py --predictions results.json --data val.json                           # score only
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import re
import sys
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch

from ..geometry.box_formats import PIXELS_MAX, pixels_frame_size
from ..data.dataset import AnnotationDataset
from ..data.prompt import BOX_FORMATS, PromptSettings
from ..data.template import CHAT_TEMPLATES
from ..data.validate import DataError, load_records
from ..disk import disk_full
from ..distributed import exit_after_success
from ..families import FAMILIES, get_family
from .generate import generate_predictions, init_sharding, merge_shards
from ..models.checkpoint import CheckpointError
from .predictions import PredictionsError, load_predictions
from ..report import build_report, comparison_table
from ..locks import FolderLockedError, folder_lock
from ..runs import find_targets, inference_dtype, load_target, weights_fingerprint
from .scoring import image_sizes, score_by_task, take_record_fields
from ..tasks import DEFAULT_TASK, ScoreOptions, get_task

log = logging.getLogger("geollava.eval")


class EvalError(ValueError):
    pass


@dataclass
class EvalOptions:
    """What to evaluate and how: eval.py's command line, and what predict --data passes directly."""
    checkpoint: str | None = None
    predictions: str | None = None
    data: str | None = None
    media_root: str | None = None
    output_dir: str | None = None
    base: bool = False
    family: str | None = None
    batch_size: int = 16
    max_new_tokens: int | None = None  # None: each task's budget
    num_frames: int | None = None
    num_workers: int = 2
    no_meteor: bool = False
    tokenizer: str = "auto"
    sbert_model: str | None = None
    report: bool = False
    no_geollava_clean: bool = False
    box_format: str | None = None  # None: the checkpoint's (a zero-shot base: its family's own)
    chat_template: str | None = None  # None: the checkpoint's (raw: the question alone, GeoLLaVA's eval script)
    bits: int | None = None  # None: the base as in training; 4 / 8: loaded quantized (GeoLLaVA's eval: 4-bit NF4)
    max_pixels: int = PIXELS_MAX  # a predictions file's pixel boxes: the processor's max_pixels when it was made

    @property
    def scoring(self) -> ScoreOptions:
        return ScoreOptions(meteor=not self.no_meteor, tokenizer=self.tokenizer, sbert_model=self.sbert_model)


def parse_args(argv) -> EvalOptions:
    p = argparse.ArgumentParser(prog="geollava eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    args = p.parse_args(argv)
    if args.report and not args.data:
        p.error("--report needs --data ANNOTATIONS to show the frames")
    return EvalOptions(**{f.name: getattr(args, f.name) for f in fields(EvalOptions)})


def add_arguments(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="a checkpoint folder, a run folder (every checkpoint-* and the final "
                                             "model) or a base model (hub id or folder: zero-shot, needs --family)")
    source.add_argument("--predictions", help="score this predictions file (ours, or GeoLLaVA's results format)")
    p.add_argument("--data", help="annotations to caption (and their references); optional with --predictions")
    p.add_argument("--media-root", help="folder the media paths are relative to (default: the annotation's folder)")
    p.add_argument("--output-dir", help="default: <checkpoint>/eval, or eval/ beside the predictions file")
    p.add_argument("--base", action="store_true", help="also evaluate the base model with the same prompt")
    p.add_argument("--family", choices=sorted(FAMILIES), help="model family of a base model given by --checkpoint")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-new-tokens", type=int, help="the most new tokens an answer may have (default: its task's "
                                                         "budget, 256 for GeoChat's tasks as its evaluation scripts)")
    p.add_argument("--num-frames", type=int, help="default: what the checkpoint was trained with")
    p.add_argument("--num-workers", type=int, default=2, help="DataLoader workers decoding video")
    p.add_argument("--no-meteor", action="store_true", help="skip METEOR (saves ~6 s of JVM start)")
    p.add_argument("--tokenizer", choices=["auto", "ptb", "simple"], default="auto",
                   help="caption tokenizer: PTB (Java) as published tables, or the pure-Python stand-in")
    p.add_argument("--sbert-model", help="local sentence-transformers model folder for the SBERT cosine")
    p.add_argument("--report", action="store_true", help="also write report.html (needs --data, for the frames)")
    p.add_argument("--box-format", choices=BOX_FORMATS,
                   help="how the model writes boxes, and how a zero-shot model is asked for them (default: the "
                        "checkpoint's, geochat; a base model given with --family: its own — Qwen2.5-VL pixels, "
                        "Qwen3-VL norm1000, InternVL internvl, the LLaVA families norm1)")
    p.add_argument("--chat-template", choices=CHAT_TEMPLATES, help="ask as this template does instead of the "
                   "checkpoint's own: raw asks the question alone, as the annotation writes it (GeoLLaVA's "
                   "videollava_eval.py); the others as in training (docs/training.md)")
    p.add_argument("--bits", type=int, choices=(4, 8, 16), help="load the base model quantized (4: NF4, as "
                   "GeoLLaVA's eval script) or in 16 bits, whatever it was trained with (default: as trained)")
    p.add_argument("--max-pixels", type=int, default=PIXELS_MAX,
                   help="scoring a predictions file in the pixels box format: the max_pixels its model's processor "
                        f"resized images with (default {PIXELS_MAX}, Qwen2.5-VL's released processor)")
    p.add_argument("--no-geollava-clean", action="store_true",
                   help="score GeoLLaVA results files as written (default: the text after the first 'Answer:', "
                        "as GeoLLaVA's eval_metrics.py does)")


def main(argv: list[str] | None = None) -> dict:
    return run(parse_args(sys.argv[1:] if argv is None else argv))


def run(args: EvalOptions) -> dict:
    """Score a predictions file, or generate with every model of a checkpoint and score."""
    logging.basicConfig(format="[%(asctime)s %(name)s] %(message)s", datefmt="%H:%M:%S", level=logging.INFO)
    try:
        results = score_file(args) if args.predictions else evaluate_models(args)
    except (EvalError, CheckpointError, PredictionsError, DataError, FolderLockedError) as e:
        sys.exit(f"error: {e}")
    except OSError as e:
        full = disk_full(e, args.output_dir or args.checkpoint or args.predictions or ".")
        if full is None:
            raise
        sys.exit(f"error: {full}")
    exit_after_success()
    return results


def score_file(args) -> dict:
    rows = load_predictions(args.predictions, geollava_clean=not args.no_geollava_clean)
    sizes = {}
    if args.data:
        media_root = args.media_root or str(Path(args.data).parent)
        records = {r.id: r for r in load_records(args.data, media_root, check_media=False)}  # scoring reads no media
        rows = with_record_ids(rows, records)
        check_coverage(rows, records, args.data)
        for row in rows:
            take_record_fields(row, records[row["id"]])
        sizes = image_sizes(records.values(), media_root)
    elif any(row["source"] == "geochat" for row in rows):
        raise EvalError(f"{args.predictions} is a GeoChat answer file: its tasks and references are in the question "
                        "file; pass --data with its conversion (geollava data convert geochat-eval QUESTIONS --task ...)")
    no_refs = [row["id"] for row in rows if not row["references"]]
    if no_refs and args.data:
        raise EvalError(f"{len(no_refs)} records of {args.data} have no answer (first: {no_refs[:3]}): unlabeled "
                        "records give nothing to score against")
    if no_refs:
        raise EvalError(f"{len(no_refs)} predictions have no references (first: {no_refs[:3]}); pass --data "
                        "ANNOTATIONS to take them from the annotations")
    out = Path(args.output_dir or Path(args.predictions).parent / "eval")
    label = Path(args.predictions).stem
    cleaning = "geollava: text after the first 'Answer:'" if any(r["cleaned"] for r in rows) else None
    model_sizes = {i: pixels_frame_size(w, h, args.max_pixels) for i, (w, h) in sizes.items()} \
        if args.box_format == "pixels" else {}
    with folder_lock(out, "geollava eval"):
        metrics = score_rows(rows, args, out / label, label, {"predictions_file": str(args.predictions),
                                                              "prediction_cleaning": cleaning}, sizes,
                             model_sizes=model_sizes)
        write_summary(out, {label: metrics}, args)
    return {label: metrics}


def with_record_ids(rows: list[dict], records: dict) -> list[dict]:
    """Rows another harness logged under the benchmark's own ids, renamed to the records that keep that id as
    `metadata.source_id` (a converter's); rows already named by a record's id stay as they are."""
    by_source = {str(r.metadata["source_id"]): i for i, r in records.items() if "source_id" in r.metadata}
    return [row if row["id"] in records or row["id"] not in by_source else {**row, "id": by_source[row["id"]]}
            for row in rows]


HARNESSES = ("lmms-eval", "vlmevalkit")  # their logs hold one task (a benchmark) each


def check_coverage(rows: list[dict], records: dict, data: str) -> None:
    """Every prediction has a record and every record a prediction (a partial file would score a subset). Another
    harness logs each task apart: its log covers the records of the tasks it answered."""
    missing = [row["id"] for row in rows if row["id"] not in records]
    harness = next((row["source"] for row in rows if row.get("source") in HARNESSES), None)
    if missing and harness:
        raise EvalError(f"{len(missing)} of the {len(rows)} answers {harness} logged are of documents that {data} "
                        f"does not have (first ids: {missing[:3]}): is it the log of another task, or of another "
                        "export? Pass the annotations the task was exported (or converted) from")
    if missing:
        raise EvalError(f"{len(missing)} predictions have ids that {data} does not have "
                        f"(first: {missing[:3]}); score them against their own references without --data")
    predicted = {row["id"] for row in rows}
    if harness:
        answered = {records[i].task for i in predicted}
        records = {i: r for i, r in records.items() if r.task in answered}
    unanswered = [i for i in records if i not in predicted]
    if unanswered:
        raise EvalError(f"{len(unanswered)} records of {data} have no prediction (first: {unanswered[:3]}); "
                        "finish generating them (eval.py resumes) before scoring")


def evaluate_models(args, final_only: bool = False) -> dict:
    """Generate with every model of ``args.checkpoint`` (only its final model with ``final_only``) and score."""
    if not args.data:
        raise EvalError("--checkpoint needs --data ANNOTATIONS to caption")
    targets = find_targets(args.checkpoint, args.base, args.family)
    targets = targets[-1:] if final_only else targets
    out = Path(args.output_dir or (Path(args.checkpoint) / "eval" if Path(args.checkpoint).is_dir()
                                   else Path("runs/eval") / re.sub(r"[^\w.-]+", "_", args.checkpoint)))
    rank, world = init_sharding()
    with folder_lock(out, "geollava eval") if rank == 0 else contextlib.nullcontext():
        return _generate_and_score(args, targets, out, rank, world)


def _generate_and_score(args: EvalOptions, targets: list, out: Path, rank: int, world: int) -> dict:
    media_root = args.media_root or str(Path(args.data).parent)
    records = load_records(args.data, media_root, require_answer=False)  # unlabeled ones: predictions only
    by_id = {r.id: r for r in records}
    sizes = image_sizes(records, media_root)
    data_file = file_fingerprint(args.data)
    results = {}
    for target in targets:
        label = target.label
        log.info("evaluating %s (%s)", label, target.path)
        if args.bits:
            target = replace(target, loading={**target.loading, "bits": args.bits})
        if target.kind == "checkpoint" and not Path(target.path).is_dir():
            log.warning("skipping %s: deleted since the run was listed (the run training into it keeps "
                        "save_total_limit checkpoints)", target.path)
            continue
        model, tokenizer, image_processor = load_target(target)
        if args.chat_template:
            target.prompt.chat_template = args.chat_template
        if args.num_frames:
            target.prompt.num_frames = args.num_frames
        if args.box_format:
            target.prompt.box_format = args.box_format
        dataset = AnnotationDataset(records, media_root, get_family(target.family), model.config, tokenizer,
                                       image_processor, target.prompt, for_generation=True)
        folder = out / label
        folder.mkdir(parents=True, exist_ok=True)
        shard = folder / ("predictions.jsonl" if world == 1 else f"predictions.rank{rank}.jsonl")
        started = now()
        decoding = {"strategy": "greedy", "max_new_tokens": args.max_new_tokens or {
            task: get_task(task).max_new_tokens for task in sorted({r.task for r in records})}}
        attention = model.config._attn_implementation
        provenance = {"model weights": weights_fingerprint(target), "prompt settings": asdict(target.prompt),
                      "decoding": decoding, "data file": data_file, "media root": str(Path(media_root).resolve()),
                      "numerics": {"dtype": str(inference_dtype()), "attn_implementation": attention}}
        generate_predictions(model, tokenizer, dataset, shard, label, args.batch_size, args.max_new_tokens,
                             args.num_workers, rank, world, provenance)
        del model
        if world > 1:
            torch.distributed.barrier()
            if rank != 0:
                continue
            merge_shards(folder, world)
        rows = load_predictions(folder / "predictions.jsonl")
        for row in rows:
            take_record_fields(row, by_id[row["id"]])
        info = {"checkpoint": target.path, "kind": target.kind, "data": args.data, "generation_started": started,
                "decoding": {**decoding, "batch_size": args.batch_size, "processes": world},
                "prompt": asdict(target.prompt), "loading": {**target.loading, "dtype": str(inference_dtype()),
                                                             "attn_implementation": attention}}
        box_format = args.box_format or target.prompt.box_format
        info["box_format"] = box_format
        model_sizes = {i: dataset.family.model_frame(image_processor, dataset.model_config, h, w)
                       for i, (w, h) in sizes.items()} if box_format == "pixels" else {}
        results[label] = score_rows(rows, args, folder, label, info, sizes, box_format, model_sizes)
    if rank == 0:
        write_summary(out, results, args, train_log=Path(args.checkpoint) / "train_log.json")
    return results


def score_rows(rows: list[dict], args, folder: Path, label: str, info: dict,
               sizes: dict[str, tuple[int, int]] | None = None, box_format: str | None = None,
               model_sizes: dict | None = None) -> dict:
    """metrics.json (``scores``: the change-caption metrics over the change-caption records; ``tasks``: every
    task present) and per_sample.jsonl of one model. Rows without references (unlabeled records) are predicted,
    not scored, and counted."""
    labeled = [row for row in rows if row["references"]]
    unlabeled = len(rows) - len(labeled)
    if unlabeled:
        log.info("%s: %d of %d records have no answer (unlabeled): their predictions are in predictions.jsonl, "
                 "%s", label, unlabeled, len(rows), "the rest are scored" if labeled else "nothing to score")
    options = dataclasses.replace(args.scoring, box_format=box_format or args.box_format or "geochat")
    tasks, per_sample = score_by_task(labeled, sizes, options, model_sizes) if labeled else ({}, {})
    if DEFAULT_TASK.name in tasks and not args.sbert_model:
        log.info("SBERT cosine skipped: pass --sbert-model PATH (a local sentence-transformers model) to compute it")
    metrics = {"label": label, **info, "samples": len(labeled), "unlabeled": unlabeled,
               "scores": tasks.get(DEFAULT_TASK.name, {}), "tasks": tasks, "scored": now() if labeled else None}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1))
    with open(folder / "per_sample.jsonl", "w", encoding="utf-8") as f:
        for row in labeled:
            extra = {"metadata": row["metadata"]} if row.get("metadata") else {}
            f.write(json.dumps({"id": row["id"], "task": row["task"], "prediction": row["prediction"],
                                "references": row["references"], **extra, **per_sample[row["id"]]},
                               ensure_ascii=False) + "\n")
    return metrics


def write_summary(out: Path, results: dict, args, train_log: Path | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(results, indent=1))
    if not any(m["samples"] for m in results.values()):
        print(f"no record of {args.data} has an answer: predictions written, nothing scored "
              f"({', '.join(str(out / label / 'predictions.jsonl') for label in results)})")
        return
    table = comparison_table(results)
    (out / "comparison.md").write_text(table + "\n")
    print(table)
    print(f"\nmetrics: {out / 'metrics.json'}")
    if args.report:
        prompt = next(iter(results.values())).get("prompt") or {}
        settings = PromptSettings.from_dict(prompt)
        path = build_report([(label, out / label) for label in results], args.data, out / "report.html",
                            args.media_root, args.num_frames or prompt.get("num_frames", 4), train_log,
                            raster=settings.raster())
        print(f"report: {path}")


def file_fingerprint(path: str) -> dict:
    """An annotation file as predictions record it: where it is and a hash of its content (a hub id: its name)."""
    file = Path(path)
    if not file.is_file():
        return {"data": path}
    return {"data": str(file.resolve()), "sha256": hashlib.sha256(file.read_bytes()).hexdigest()}


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
