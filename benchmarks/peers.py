"""Training speed side by side: this suite against TRL's SFTTrainer (padding-free off and on), LLaMA-Factory and
ms-swift, each LoRA fine-tuning the same tiny Qwen2.5-VL with a real vocabulary on the same images and texts.

The model: Qwen2.5-VL-7B-Instruct's released tokenizer, processor and chat template (152,064 tokens) on a 2-layer
text model of width 128 and a 2-block vision tower of width 64, random weights. The data: synthetic scene / VQA /
refer / region-caption records on 224 px images (64 visual tokens each), written in each system's own format.
The same for every system: LoRA rank 8, alpha 16, no dropout, on the language model's seven linear layers only
(vision tower and merger frozen); batch 4, one micro-step a step, learning rate 1e-4 constant, fp32, no
activation checkpointing, no data workers, `--threads` threads, `--steps` steps, seed 0. Each system keeps its own
template and label mask (docs in RESULTS.md say how they differ) and its own defaults otherwise.

Every run is a process of its own, measured from inside by peers_probe.py (step seconds, samples, real tokens,
loss at step 1, trainable parameters, peak resident memory); the systems run in interleaved rounds (A, B, C, D,
A, B, ...) and the ratios to this suite are taken within each round, then their median. LLaMA-Factory and ms-swift
pin transformers, peft and TRL versions of their own: each is installed by this script into its own environment
under --work (never by the test suite). A system that cannot run here is reported with its error.

    python benchmarks/peers.py [--rounds 3] [--steps 12] [--threads 2] [--systems geollava,trl,...]

The same script runs on a GPU machine (the device then is the GPU: each system's own placement).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
TORCH = ("torch==2.14.1", "torchvision==0.29.1")  # the CUDA wheels (the only torchvision wheels here) run on a CPU
# Every system runs on the same torch: this suite and TRL in an environment of this suite's requirements with the
# peers' torch (its CPU wheel has no torchvision to match here, which TRL's Qwen processor needs); LLaMA-Factory and
# ms-swift pin transformers, peft and TRL versions of their own. "geollava_cpu_wheel" is this suite as installed
# by scripts/_env.sh on a CPU machine (torch 2.13.0+cpu), for reference.
ENVS = {"suite": ("-r", str(REPO / "requirements.txt"), *TORCH),
        "llamafactory": ("llamafactory==0.9.5", *TORCH, "qwen-vl-utils==0.0.14"),
        "ms_swift": ("ms-swift==4.6.0", *TORCH, "qwen-vl-utils==0.0.14")}
PIXELS = 224 * 224  # min = max: every image 224 x 224 -> 16 x 16 patches -> 64 visual tokens
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
TASKS = ["scene", "vqa", "refer", "region_caption"]


# -- the shared model and data --------------------------------------------------------------------------------------
def build_model(folder: Path) -> Path:
    """Qwen2.5-VL-7B-Instruct's released tokenizer, processor and chat template on a tiny random model."""
    if (folder / "model.safetensors").is_file():
        return folder
    import torch
    from transformers import AutoConfig, Qwen2_5_VLForConditionalGeneration

    from geollava.models.released import get_released, write_files

    write_files(get_released("Qwen/Qwen2.5-VL-7B-Instruct"), folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_window_layers=2, rope_scaling={"type": "mrope", "mrope_section": [4, 6, 6]},
                  torch_dtype="float32")
    config["vision_config"].update(depth=2, hidden_size=64, intermediate_size=128, num_heads=4, out_hidden_size=128,
                                   fullatt_block_indexes=[1])
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(AutoConfig.from_pretrained(folder))
    model.save_pretrained(folder)
    processor = json.loads((folder / "preprocessor_config.json").read_text())
    processor.update(min_pixels=PIXELS, max_pixels=PIXELS)
    (folder / "preprocessor_config.json").write_text(json.dumps(processor, indent=1))
    return folder


def build_data(folder: Path, count: int) -> dict[str, Path]:
    """The same records in each system's format: {"geollava": train.json, "messages": the chat rows}."""
    from geollava.synthetic.tasks import generate_task_split

    annotations = folder / "train.json"
    if not annotations.is_file():
        generate_task_split(folder, "train", count, TASKS, size=224, seed=0)
    rows = []
    for record in json.loads(annotations.read_text()):
        question = record["conversations"][0]["value"].replace("<image>", "").strip()
        rows.append({"question": question, "answer": record["conversations"][1]["value"],
                     "image": str((folder / record["image"]).resolve())})
    formats = {"geollava": annotations}
    chat = [{"messages": [{"role": "user", "content": f"<image>{r['question']}"},
                          {"role": "assistant", "content": r["answer"]}], "images": [r["image"]]} for r in rows]
    (folder / "sharegpt.json").write_text(json.dumps(chat))  # LLaMA-Factory's sharegpt, ms-swift's messages
    (folder / "swift.jsonl").write_text("".join(json.dumps(r) + "\n" for r in chat))
    (folder / "dataset_info.json").write_text(json.dumps({"peers": {
        "file_name": "sharegpt.json", "formatting": "sharegpt", "columns": {"messages": "messages", "images": "images"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}}))
    trl = [{"messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": r["question"]}]},
                         {"role": "assistant", "content": [{"type": "text", "text": r["answer"]}]}],
            "images": [r["image"]]} for r in rows]
    (folder / "trl.json").write_text(json.dumps(trl))
    return formats


# -- each system's run, as the code its child process executes --------------------------------------------------------
def geollava_code(model: Path, data: Path, out: Path, steps: int, *extra: str) -> str:
    argv = [str(REPO / "configs" / "qwen2_5_vl.yaml"), "--model_name_or_path", str(model), "--deepspeed", "null",
            "--bf16", "false", "--activation_checkpointing", "false", "--gradient_accumulation_steps", "1",
            "--resume_from_checkpoint", "null", "--media_root", str(data),
            "--train_data", str(data / "train.json"), "--output_dir", str(out), "--num_frames", "1",
            "--min_pixels", str(PIXELS), "--max_pixels", str(PIXELS), "--lora_r", "8", "--lora_alpha", "16",
            "--lora_dropout", "0.0", "--tune_projector", "false",  # the YAML targets the seven LLM layers
            "--per_device_train_batch_size", "4", "--learning_rate", "1e-4", "--mm_projector_lr", "1e-4",
            "--max_steps", str(steps), "--lr_scheduler_type", "constant", "--warmup_steps", "0",
            "--logging_steps", "1", "--save_strategy", "no", "--report_to", "none", "--model_max_length", "1024",
            "--dataloader_num_workers", "0", "--chat_template", "model", "--dates_in_prompt", "false",
            "--train_sampling_strategy", "random", *extra]  # random batches, as the others draw them
    return f"from geollava.sft.train import main\nmain({argv!r})\n"


def trl_code(model: Path, data: Path, out: Path, steps: int, padding_free: bool = False) -> str:
    targets = r".*language_model.*\.(" + "|".join(LORA_TARGETS) + ")"
    return f'''
import json, torch
from datasets import Dataset, Image, Sequence
from peft import LoraConfig
from transformers import AutoModelForImageTextToText, AutoProcessor
from trl import SFTConfig, SFTTrainer
rows = json.load(open({str(data / "trl.json")!r}))
dataset = Dataset.from_list(rows).cast_column("images", Sequence(Image()))
processor = AutoProcessor.from_pretrained({str(model)!r}, min_pixels={PIXELS}, max_pixels={PIXELS})
model = AutoModelForImageTextToText.from_pretrained({str(model)!r}, dtype=torch.float32)
config = SFTConfig(output_dir={str(out)!r}, max_steps={steps}, per_device_train_batch_size=4, learning_rate=1e-4,
                   lr_scheduler_type="constant", logging_steps=1, save_strategy="no", report_to="none",
                   bf16=False, fp16=False, dataloader_num_workers=0, max_length=None, seed=0,
                   gradient_checkpointing=False, padding_free={padding_free!r})
lora = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules={targets!r})
SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=processor, peft_config=lora).train()
'''


def llamafactory_code(model: Path, data: Path, out: Path, steps: int) -> str:
    args = dict(stage="sft", do_train=True, model_name_or_path=str(model), finetuning_type="lora", lora_rank=8,
                lora_alpha=16, lora_dropout=0.0, lora_target="all", freeze_vision_tower=True,
                freeze_multi_modal_projector=True, dataset="peers", dataset_dir=str(data), template="qwen2_vl",
                cutoff_len=1024, overwrite_cache=True, preprocessing_num_workers=1, output_dir=str(out),
                logging_steps=1, save_strategy="no", per_device_train_batch_size=4, gradient_accumulation_steps=1,
                learning_rate=1e-4, max_steps=steps, lr_scheduler_type="constant", bf16=False, fp16=False,
                report_to="none", dataloader_num_workers=0, image_max_pixels=PIXELS, image_min_pixels=PIXELS,
                seed=0, overwrite_output_dir=True)
    return f"from llamafactory.train.tuner import run_exp\nrun_exp({args!r})\n"


def ms_swift_code(model: Path, data: Path, out: Path, steps: int) -> str:
    args = dict(model=str(model), model_type="qwen2_5_vl", template="qwen2_5_vl", tuner_type="lora", lora_rank=8, lora_alpha=16,
                lora_dropout=0.0, target_modules=["all-linear"], freeze_vit=True, freeze_aligner=True,
                dataset=[str(data / "swift.jsonl")], split_dataset_ratio=0.0, max_length=1024, output_dir=str(out),
                per_device_train_batch_size=4, gradient_accumulation_steps=1, learning_rate=1e-4, max_steps=steps,
                lr_scheduler_type="constant", warmup_ratio=0.0, torch_dtype="float32", logging_steps=1,
                save_strategy="no", report_to=["none"], dataloader_num_workers=0, gradient_checkpointing=False,
                seed=0, dataset_num_proc=1, load_from_cache_file=False)
    return ("import os\nos.environ.setdefault('MAX_PIXELS', '%d')\nos.environ.setdefault('MIN_PIXELS', '%d')\n"
            "from swift import sft_main, SftArguments\nsft_main(SftArguments(**%r))\n" % (PIXELS, PIXELS, args))


SYSTEMS = {
    "geollava": ("suite", geollava_code),
    "geollava_padding_free": ("suite", lambda *a: geollava_code(*a, "--padding_free", "true")),
    "geollava_cpu_wheel": ("ours", geollava_code),
    "trl": ("suite", trl_code),
    "trl_padding_free": ("suite", lambda *a: trl_code(*a, padding_free=True)),
    "llamafactory": ("llamafactory", llamafactory_code),
    "ms_swift": ("ms_swift", ms_swift_code),
}


# -- environments and runs ------------------------------------------------------------------------------------------
def python_of(env: str, work: Path) -> Path:
    """This suite's interpreter, or a peer's environment (installed here on first use)."""
    if env == "ours":
        return Path(sys.executable)
    folder = work / "envs" / env
    python, stamp = folder / "bin" / "python", folder / ".installed"
    if not stamp.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *ENVS[env]], check=True,
                       env={**os.environ, "DS_BUILD_OPS": "0"})
        if env == "suite":
            subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(REPO)], check=True)
        stamp.write_text("\n".join(ENVS[env]) + "\n")
    return python


def run(system: str, work: Path, model: Path, data: Path, steps: int, threads: int, round_: int) -> dict:
    """One process of ``system``: the probe's record, or {"error": the last lines it printed}."""
    env, code = SYSTEMS[system]
    out = work / "runs" / f"{system}_{round_}"
    record = out / "probe.json"
    record.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    try:
        python = python_of(env, work)
    except subprocess.CalledProcessError as e:
        return {"error": f"installing {' '.join(ENVS[env])} failed: {e}"}
    script = f"import sys\nsys.path.insert(0, {str(BENCH)!r})\nimport peers_probe\npeers_probe.install(" \
             f"{str(record)!r})\n" + code(model, data, out, steps)
    environ = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
               "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES":
               os.environ.get("CUDA_VISIBLE_DEVICES", ""), "PYTHONPATH": str(REPO)}
    done = subprocess.run([str(python), "-c", script], env=environ, capture_output=True, text=True, cwd=out)
    (out / "output.log").write_text(done.stdout + done.stderr)
    if done.returncode or not record.is_file():
        lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        return {"error": " | ".join(lines[-3:])[-600:] or f"exit {done.returncode}"}
    return json.loads(record.read_text())


def summary(record: dict) -> dict:
    """Median seconds a step over steps 3..N, and the rates they give."""
    steps = record["steps"][2:]
    seconds = statistics.median(s["seconds"] for s in steps)
    per_step = {k: statistics.median(s[k] for s in steps) for k in ("samples", "tokens", "labels")}
    return {"s/step": seconds, "samples/s": per_step["samples"] / seconds, "tokens/s": per_step["tokens"] / seconds,
            "tokens/step": per_step["tokens"], "label tokens/step": per_step["labels"],
            "peak MB": record["peak_rss_mb"], "loss@1": record["loss_at_1"], "trainable": record["trainable"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--records", type=int, default=96)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--work", default=str(BENCH / "_work" / "peers"))
    args = parser.parse_args()
    work = Path(args.work).resolve()
    model, data = build_model(work / "model"), work / "data"
    build_data(data, args.records)
    systems = args.systems.split(",")
    rounds = []
    for round_ in range(args.rounds):  # A, B, C, ... then again: drift on the machine falls on every system alike
        rounds.append({})
        for system in systems:
            record = run(system, work, model, data, args.steps, args.threads, round_)
            rounds[-1][system] = summary(record) if "error" not in record else record
            print(f"round {round_ + 1} {system}: {rounds[-1][system]}", flush=True)
    (work / "results.json").write_text(json.dumps(rounds, indent=1))
    print(table(rounds, systems))


def table(rounds: list[dict], systems: list[str]) -> str:
    lines = ["| system | s/step | samples/s | real tokens/s | peak RSS MB | loss at step 1 | trainable | "
             "tokens/s vs ours | peak RSS vs ours |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for system in systems:
        runs = [r[system] for r in rounds if "error" not in r[system]]
        if not runs:
            lines.append(f"| {system} | could not run: {rounds[0][system]['error']} |" + " |" * 7)
            continue
        med = {k: statistics.median(r[k] for r in runs) for k in ("s/step", "samples/s", "tokens/s", "peak MB")}
        ratios = [(r[system]["tokens/s"] / r["geollava"]["tokens/s"], r[system]["peak MB"] / r["geollava"]["peak MB"])
                  for r in rounds if "error" not in r[system] and "error" not in r.get("geollava", {"error": 1})]
        speed = f"{statistics.median(a for a, _ in ratios):.2f}x" if ratios else "-"
        memory = f"{statistics.median(b for _, b in ratios):.2f}x" if ratios else "-"
        lines.append(f"| {system} | {med['s/step']:.3f} | {med['samples/s']:.1f} | {med['tokens/s']:.0f} | "
                     f"{med['peak MB']:.0f} | {runs[0]['loss@1']} | {runs[0]['trainable']:,} | {speed} | {memory} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
