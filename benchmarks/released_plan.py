"""`geollava plan` at the released shapes of the shipped recipes:
  1. at full depth (config, tokenizer and processor of each release, no weights): the plan each shipped config
     gets on one 80 GB GPU, as a user sees it before launching;
  2. at 1 layer (the real widths, vocabulary, tokenizer and image geometry; random weights): the estimate against
     the peak memory of the 1-step CPU run (the recipes of tests/models/test_released_recipes.py: fp32, no
     DeepSpeed, one sample a step) — target within 25 %. Measured as benchmarks/plan_accuracy.py measures:
     malloc's bytes in use (mallinfo2, the CPU's max_memory_allocated) from before the model loads, sampled every
     millisecond, and resident memory beside it.

    python benchmarks/released_plan.py            # about 10 minutes on 2 cores
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

sys.path.insert(0, str(REPO / "benchmarks"))
from malloc_peak import peak_of  # noqa: E402
from geollava.models.released import CPU_RUN as CPU, RECIPES  # noqa: E402  (the recipes the tests run)

MEASURE = """
import sys, torch
sys.path.insert(0, "benchmarks")
from malloc_peak import Peak, libc, snapshot
from geollava.launch import load_config
from geollava.sft.train import build_trainer
torch.set_num_threads(2)
config = load_config({argv!r})
libc.malloc_trim(0)
before = snapshot()
trainer, _ = build_trainer(config)
for p in trainer.model.parameters():  # loaded weights may stay file-mapped, outside malloc: hold them as a GPU would
    p.data = p.data.clone()
with Peak(since=before) as peak:
    trainer.train()
print("PEAK_BYTES", peak.allocated, peak.resident)
"""


def argv_of(config: str, folder: Path, family: str, data: Path, out: Path, extra: list[str]) -> list[str]:
    return [str(REPO / "configs" / config), "--family", family, "--model_name_or_path", str(folder),
            "--train_data", str(data / "train.json"), "--media_root", str(data), "--output_dir", str(out),
            *CPU, "--per_device_train_batch_size", "1", "--save_strategy", "no", *extra]


def released(root: Path, model_id: str, layers: int | None) -> Path:
    """The release at ``layers`` (None: full depth, no weights), built once."""
    from geollava.models.released import build_released

    folder = root / model_id.replace("/", "--")
    return folder if folder.is_dir() else build_released(model_id, layers, folder, weights=layers is not None)


def full_depth(tmp: Path) -> None:
    from geollava.launch import load_config
    from geollava.plan import GiB, estimate

    empty = tmp / "empty.json"
    empty.write_text("[]")
    print("1. geollava plan at full depth, one 80 GB GPU, each shipped recipe as written (256 text tokens)")
    print("| config | model | parameters | per-GPU estimate (GiB) | fits 80 GB |")
    print("|---|---|---:|---:|---|")
    for config, model_id, family, _, extra in RECIPES:
        folder = released(tmp / "full", model_id, None)
        parsed = load_config([str(REPO / "configs" / config), "--family", family, "--model_name_or_path",
                               str(folder), "--train_data", str(empty), *extra])
        sizes, _, plan = estimate(parsed, gpus=1)
        print(f"| {config} | {model_id} | {sizes.total / 1e9:.2f} B | {plan.total / GiB:.1f} | "
              f"{'yes' if plan.total < 80 * GiB else 'no'} |")


def one_layer(tmp: Path) -> None:
    from geollava.launch import load_config
    from geollava.plan import estimate, measure_tokens
    from geollava.synthetic.generate import generate_split
    from geollava.synthetic.tasks import generate_task_split

    change, tasks = tmp / "change", tmp / "tasks"
    generate_split(change, "train", 2, num_frames=8, size=96, seed=5, workers=1)
    generate_task_split(tasks, "train", 2, ["refer", "scene"], size=96, seed=5)
    print("\n2. at 1 layer: plan vs the peak memory of the 1-step CPU run (fp32, batch 1)")
    print("| config | model | parameters | plan (MiB) | allocated (MiB) | difference | resident (MiB) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for config, model_id, family, data, extra in RECIPES:
        folder = released(tmp / "one", model_id, 1)
        argv = argv_of(config, folder, family, change if data == "change" else tasks, tmp / "run", extra)
        peak = peak_of(MEASURE.format(argv=argv), REPO)
        if isinstance(peak, str):
            print(f"| {config} | {model_id} | run failed: {peak!r} |")
            continue
        allocated, resident = peak
        parsed = load_config(argv)
        measured = measure_tokens(parsed)  # the text and answer tokens, as `geollava plan` measures the data
        sizes, _, plan = estimate(parsed, text_tokens=measured["text"][0], on_gpu=False,
                                  answer_tokens=measured["answers"][0])
        print(f"| {config} | {model_id} | {sizes.total / 1e6:.0f} M | {plan.total / 2**20:.0f} | "
              f"{allocated / 2**20:.0f} | {100 * (plan.total - allocated) / allocated:+.1f} % | "
              f"{resident / 2**20:.0f} |")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        full_depth(Path(tmp))
        one_layer(Path(tmp))


if __name__ == "__main__":
    main()
