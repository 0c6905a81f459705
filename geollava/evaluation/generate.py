"""Batched greedy generation with the training prompt, streamed to a predictions file that a killed run resumes.

Left padding with an attention mask makes a batch produce the same text as one-by-one generation; samples are
batched by prompt length so little is padded.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..data.collator import Collator
from ..data.dataset import AnnotationDataset
from ..data.template import end_of_turn
from .predictions import (append, drop_partial_last_line, prediction_row, provenance_path, read_done_ids,
                          start_or_resume)
from ..tasks import get_task

log = logging.getLogger(__name__)
MODEL_INPUTS = ("input_ids", "attention_mask", "pixel_values", "pixel_values_videos", "image_grid_thw",
                "mm_token_type_ids")


def generate_predictions(model, tokenizer, dataset: AnnotationDataset, out_path: Path, label: str,
                         batch_size: int = 16, max_new_tokens: int | None = None, num_workers: int = 2,
                         rank: int = 0, world_size: int = 1, provenance: dict | None = None) -> Path:
    """Generate for every record of ``dataset`` (this rank's share) not yet in ``out_path``, each up to
    ``max_new_tokens`` (None: its task's budget). With ``provenance`` (what makes the predictions), a file made
    by anything else is set aside instead of resumed."""
    if provenance is not None:
        start_or_resume(out_path, provenance)
    drop_partial_last_line(out_path)
    done = read_done_ids(out_path)
    todo = [k for k in range(len(dataset)) if k % world_size == rank and dataset.records[k].id not in done]
    if done:
        log.info("%s: %d predictions already there, %d to go", out_path, len(done), len(todo))
    todo.sort(key=lambda k: dataset.lengths[k])
    collator = Collator(dataset.family, tokenizer.pad_token_id, padding_side="left")
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, todo), batch_size=batch_size,
                                         collate_fn=collator, num_workers=num_workers)
    device, dtype = model.device, next(model.parameters()).dtype
    batches = [todo[i:i + batch_size] for i in range(0, len(todo), batch_size)]
    with tqdm(total=len(todo), desc=f"generate {label}", unit="sample", disable=rank != 0) as progress:
        for indices, batch in zip(batches, loader):
            budgets = [max_new_tokens or budget_of(dataset.records[k]) for k in indices]
            texts = generate_batch(model, tokenizer, batch, budgets, device, dtype)
            append(out_path, [prediction_row(dataset.records[k], text, label) for k, text in zip(indices, texts)])
            progress.update(len(indices))
    return out_path


def budget_of(record) -> int:
    """A record's decoding budget: its task's (GeoChat's evaluation scripts generate up to 256 new tokens)."""
    return get_task(record.task).max_new_tokens


@torch.no_grad()
def generate_batch(model, tokenizer, batch: dict, max_new_tokens: int | list[int], device, dtype) -> list[str]:
    """Greedy answers; ``max_new_tokens`` one budget, or one per sample: the batch runs to the largest and each
    answer is cut to its own, which greedy decoding makes the same as generating it alone with its budget."""
    budgets = max_new_tokens if isinstance(max_new_tokens, list) else [max_new_tokens] * len(batch["input_ids"])
    inputs = {k: v.to(device) for k, v in batch.items() if k in MODEL_INPUTS}
    for key in ("pixel_values", "pixel_values_videos"):
        if key in inputs:
            inputs[key] = inputs[key].to(dtype)
    stops = list(dict.fromkeys([tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(end_of_turn(tokenizer))]))
    output = model.generate(**inputs, max_new_tokens=max(budgets), do_sample=False, num_beams=1,
                            pad_token_id=tokenizer.pad_token_id, eos_token_id=stops)
    new_tokens = output[:, inputs["input_ids"].shape[1]:]
    return [tokenizer.decode(row[:budget], skip_special_tokens=True).strip() for row, budget in zip(new_tokens, budgets)]


def init_sharding() -> tuple[int, int]:
    """(rank, world size): under torchrun each rank generates a shard of the records; rank 0 merges them."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return torch.distributed.get_rank(), world


def merge_shards(folder: Path, world: int) -> None:
    """The ranks' predictions.rank<N>.jsonl files as one predictions.jsonl, each id once."""
    seen, lines = set(), []
    for rank in range(world):
        shard = folder / f"predictions.rank{rank}.jsonl"
        for line in shard.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["id"] not in seen:
                seen.add(row["id"])
                lines.append(line)
    (folder / "predictions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shard = provenance_path(folder / "predictions.rank0.jsonl")
    if shard.is_file():  # every rank generated with the same model, prompt and data
        provenance_path(folder / "predictions.jsonl").write_text(shard.read_text())
