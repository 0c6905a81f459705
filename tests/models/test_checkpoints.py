"""Checkpoints: what each save holds, reloading, resuming, merging, and ZeRO-3 on two CPU processes."""
import os
import subprocess

import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from geollava.config import parse_config
from geollava.models.checkpoint import load_checkpoint
from geollava.train import build_trainer, main

from helpers import REPO_ROOT, tiny_argv


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def run(argv, stop_at=None, resume=None):
    trainer, _ = build_trainer(parse_config(argv))
    if stop_at:
        trainer.add_callback(StopAt(stop_at))
    trainer.train(resume_from_checkpoint=resume)
    return {e["step"]: e["loss"] for e in trainer.state.log_history if "loss" in e}


def test_every_checkpoint_is_self_contained_and_reloads_exactly(tmp_path, synth_set, tiny_models):
    out = main(tiny_argv(tmp_path / "run", synth_set, tiny_models["llava"], "llava", "--max_steps", 4,
                         "--save_steps", 2))
    for folder in (out / "checkpoint-2", out / "checkpoint-4", out):
        names = {p.name for p in folder.iterdir()}
        assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "preprocessor_config.json",
                "geollava_config.yaml", "train_log.json"} <= names, folder
        saved = load_file(folder / "adapter_model.safetensors")
        assert any("multi_modal_projector" in k for k in saved) and any("lora_B" in k for k in saved)
        model, tokenizer, processor, config, prompt = load_checkpoint(folder)
        assert config["model_name_or_path"] == str(tiny_models["llava"]) and config["family"] == "llava"
        state = model.state_dict()
        for key, tensor in saved.items():
            loaded_key = key.replace(".lora_A.weight", ".lora_A.default.weight") \
                            .replace(".lora_B.weight", ".lora_B.default.weight") \
                            .replace("multi_modal_projector.", "multi_modal_projector.modules_to_save.default.")
            assert torch.equal(state[loaded_key], tensor), key
    first, last = load_file(out / "checkpoint-2" / "adapter_model.safetensors"), \
        load_file(out / "checkpoint-4" / "adapter_model.safetensors")
    assert any(not torch.equal(first[k], last[k]) for k in first)


def test_resumed_run_matches_an_uninterrupted_one(tmp_path, synth_set, tiny_models):
    common = ("--max_steps", 6, "--save_steps", 3, "--seed", 1)
    straight = run(tiny_argv(tmp_path / "a", synth_set, tiny_models["llava"], "llava", *common))
    interrupted = tiny_argv(tmp_path / "b", synth_set, tiny_models["llava"], "llava", *common)
    run(interrupted, stop_at=3)
    resumed = run(interrupted + ["--resume_from_checkpoint", "auto"],
                  resume=str(tmp_path / "b" / "checkpoint-3"))
    assert sorted(resumed) == [1, 2, 3, 4, 5, 6]  # steps 1-3 come back with the checkpoint's trainer state
    for step in (4, 5, 6):  # tolerance: 1e-4 relative (float32 on the CPU; the same data order)
        assert abs(resumed[step] - straight[step]) <= 1e-4 * abs(straight[step]), (step, resumed, straight)


def test_merged_model_gives_the_same_logits(tmp_path, synth_set, tiny_models):
    out = main(tiny_argv(tmp_path / "run", synth_set, tiny_models["llava"], "llava", "--max_steps", 2))
    merged = tmp_path / "merged"
    result = subprocess.run(["bash", "scripts/merge_lora.sh", str(out), str(merged)], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    adapted, *_ = load_checkpoint(out)
    full, *_ = load_checkpoint(merged)
    trainer, _ = build_trainer(parse_config(tiny_argv(tmp_path / "x", synth_set, tiny_models["llava"])))
    batch = trainer.data_collator([trainer.train_dataset[0], trainer.train_dataset[1]])
    batch.pop("labels")
    with torch.no_grad():
        torch.testing.assert_close(full(**batch).logits, adapted(**batch).logits, rtol=1e-4, atol=1e-5)
    assert not (merged / "adapter_config.json").exists()


def test_merge_refuses_a_quantized_base(tmp_path, synth_set, tiny_models):
    out = main(tiny_argv(tmp_path / "run", synth_set, tiny_models["llava"], "llava", "--max_steps", 1,
                         "--bits", 4))
    result = subprocess.run(["bash", "scripts/merge_lora.sh", str(out), str(tmp_path / "merged")], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "4-bit quantized base" in result.stderr


def test_zero3_on_two_cpu_processes_through_the_launch_script(tmp_path, synth_set, tiny_models):
    env = {**os.environ, "NUM_GPUS": "2", "GLOBAL_BATCH": "8", "MASTER_PORT": "29533",
           "TORCH_EXTENSIONS_DIR": str(REPO_ROOT / ".venv" / "torch_extensions")}
    out = tmp_path / "z3"
    argv = tiny_argv(out, synth_set, tiny_models["llava"], "llava", "--max_steps", 2, "--save_steps", 2,
                     "--deepspeed", "configs/deepspeed/zero3.json", "--bf16", "true")
    # bf16, as on a GPU: DeepSpeed then needs every trainable tensor in bf16 (PEFT makes LoRA fp32)
    result = subprocess.run(["bash", "scripts/finetune_lora.sh", *argv], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = (out / "train.log").read_text()
    assert "torchrun --nnodes 1 --node_rank 0 --nproc_per_node 2" in result.stdout
    assert "Gradient Accumulation steps = 2" in log  # GLOBAL_BATCH 8 = 2 per device x 2 processes x 2
    for folder in (out / "checkpoint-2", out):
        tensors = load_file(folder / "adapter_model.safetensors")
        empty = [k for k, t in tensors.items() if t.numel() == 0]
        assert tensors and not empty, f"{folder}: ZeRO-3 shards saved ungathered: {empty[:3]}"
    assert (out / "checkpoint-2" / "global_step2").is_dir()  # DeepSpeed's own state, for resuming
