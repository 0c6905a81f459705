"""Checkpoints: what each save holds, reloading, resuming, merging, and ZeRO-3 on two CPU processes."""
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from geollava.launch import load_config
from geollava.families import FAMILIES
from geollava.models.checkpoint import load_checkpoint
from geollava.sft.train import build_trainer, main

from helpers import REPO_ROOT, tiny_argv



class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def run(argv, stop_at=None, resume=None):
    trainer, _ = build_trainer(load_config(argv))
    if stop_at:
        trainer.add_callback(StopAt(stop_at))
    trainer.train(resume_from_checkpoint=resume)
    return {e["step"]: e["loss"] for e in trainer.state.log_history if "loss" in e}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_checkpoint_is_self_contained_and_reloads_exactly(tmp_path, synth_set, tiny_models, family):
    out = main(tiny_argv(tmp_path / "run", synth_set, tiny_models[family], family, "--max_steps", 4,
                         "--save_steps", 2))
    projector = FAMILIES[family].projector.replace("model.", "", 1) + "."
    for folder in (out / "checkpoint-2", out / "checkpoint-4", out):
        names = {p.name for p in folder.iterdir()}
        assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "preprocessor_config.json",
                "geollava_config.yaml", "train_log.json"} <= names, folder
        saved = load_file(folder / "adapter_model.safetensors")
        assert any(projector in k for k in saved) and any("lora_B" in k for k in saved)
        model, tokenizer, processor, config, prompt = load_checkpoint(folder)
        assert config["model_name_or_path"] == str(tiny_models[family]) and config["family"] == family
        assert prompt.chat_template == FAMILIES[family].chat_template
        state = model.state_dict()
        for key, tensor in saved.items():
            loaded_key = re.sub(r"\.(multi_modal_projector|merger|deepstack_merger_list\.\d+)\.",
                                r".\1.modules_to_save.default.", key)
            loaded_key = loaded_key.replace(".lora_A.weight", ".lora_A.default.weight") \
                                   .replace(".lora_B.weight", ".lora_B.default.weight")
            assert torch.equal(state[loaded_key], tensor), key
    first, last = load_file(out / "checkpoint-2" / "adapter_model.safetensors"), \
        load_file(out / "checkpoint-4" / "adapter_model.safetensors")
    assert any(not torch.equal(first[k], last[k]) for k in first)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_resumed_run_matches_an_uninterrupted_one(tmp_path, synth_set, tiny_models, family):
    common = ("--max_steps", 6, "--save_steps", 3, "--seed", 1)
    straight = run(tiny_argv(tmp_path / "a", synth_set, tiny_models[family], family, *common))
    interrupted = tiny_argv(tmp_path / "b", synth_set, tiny_models[family], family, *common)
    run(interrupted, stop_at=3)
    resumed = run(interrupted + ["--resume_from_checkpoint", "auto"],
                  resume=str(tmp_path / "b" / "checkpoint-3"))
    assert sorted(resumed) == [1, 2, 3, 4, 5, 6]  # steps 1-3 come back with the checkpoint's trainer state
    for step in (4, 5, 6):  # tolerance: 1e-4 relative (float32 on the CPU; the same data order)
        assert abs(resumed[step] - straight[step]) <= 1e-4 * abs(straight[step]), (step, resumed, straight)


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_merged_model_gives_the_same_logits(tmp_path, synth_set, tiny_models, family):
    out = main(tiny_argv(tmp_path / "run", synth_set, tiny_models[family], family, "--max_steps", 2))
    merged = tmp_path / "merged"
    result = subprocess.run(["bash", "scripts/merge_lora.sh", str(out), str(merged)], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    adapted, *_ = load_checkpoint(out)
    full, *_ = load_checkpoint(merged)
    trainer, _ = build_trainer(load_config(tiny_argv(tmp_path / "x", synth_set, tiny_models[family], family)))
    batch = trainer.data_collator([trainer.train_dataset[0], trainer.train_dataset[1]])
    batch.pop("labels")
    with torch.no_grad():
        torch.testing.assert_close(full(**batch).logits, adapted(**batch).logits, rtol=1e-4, atol=1e-5)
    assert not (merged / "adapter_config.json").exists()


@pytest.mark.slow
def test_merge_refuses_a_quantized_base(tmp_path, synth_set, tiny_models):
    out = main(tiny_argv(tmp_path / "run", synth_set, tiny_models["llava"], "llava", "--max_steps", 1,
                         "--bits", 4))
    result = subprocess.run(["bash", "scripts/merge_lora.sh", str(out), str(tmp_path / "merged")], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "4-bit quantized base" in result.stderr


@pytest.mark.slow
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


KILL_AFTER_SAVE = """
import dataclasses, os, signal, sys
from transformers import TrainerCallback
import geollava.sft.train as train

class KillAfterSave(TrainerCallback):  # SIGKILL the moment checkpoint-{step} is complete: no clean shutdown
    def on_save(self, args, state, control, **kwargs):
        if state.global_step == {step}:
            os.kill(os.getpid(), signal.SIGKILL)

real = train.build_trainer
def build_trainer(config):
    trainer, extras = real(config)
    trainer.add_callback(KillAfterSave())
    return trainer, extras
train.run(sys.argv[1:], dataclasses.replace(train.RECIPE, build=build_trainer))
"""


KILL_MID_SAVE = """
import os, signal, sys
import transformers
import geollava.sft.train as train

real = transformers.Trainer._save_optimizer_and_scheduler
def save_optimizer_and_scheduler(self, output_dir):  # the adapter of checkpoint-{step} is written, the rest not yet
    if self.state.global_step == {step}:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, output_dir)
transformers.Trainer._save_optimizer_and_scheduler = save_optimizer_and_scheduler
train.main(sys.argv[1:])
"""


KILL_BEFORE_MARKED = """
import os, signal, sys
import transformers
import geollava.sft.train as train

real = transformers.Trainer._save_checkpoint
def save_checkpoint(self, model, trial):  # checkpoint-{step} written whole (trainer state too), not yet marked:
    real(self, model, trial)              # where transformers rotated, before the marker
    if self.state.global_step == {step}:
        os.kill(os.getpid(), signal.SIGKILL)
transformers.Trainer._save_checkpoint = save_checkpoint
train.main(sys.argv[1:])
"""


def losses(folder) -> dict[int, float]:
    import json

    return {e["step"]: e["loss"] for e in json.loads((folder / "train_log.json").read_text()) if "loss" in e}


def straight_and_killed(tmp_path, synth_set, tiny_models, common, kill_script: str, step: int):
    """An uninterrupted run (its folder), and the same run with `auto` resume SIGKILLed by ``kill_script`` at
    ``step`` (its argv, to resume it)."""
    straight = main(tiny_argv(tmp_path / "straight", synth_set, tiny_models["llava"], "llava", *common))
    argv = tiny_argv(tmp_path / "killed", synth_set, tiny_models["llava"], "llava", *common,
                     "--resume_from_checkpoint", "auto")
    killed = subprocess.run([sys.executable, "-c", kill_script.replace("{step}", str(step)), *argv], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    return straight, argv


@pytest.mark.slow
@pytest.mark.parametrize("batching", [("--train_sampling_strategy", "group_by_length"),
                                      ("--train_sampling_strategy", "random"),
                                      ("--padding_free", "true", "--max_tokens_per_batch", 700)],
                         ids=["group_by_length", "random", "packed_token_budget"])
def test_a_run_killed_in_its_second_epoch_resumes_exactly(tmp_path, synth_set, tiny_models, batching):
    """16 samples, batch 4 (or ~4 samples of ~170 tokens packed into 700): 4 or 5 steps an epoch; killed with
    SIGKILL just after checkpoint-6 (epoch 2), resumed with resume_from_checkpoint: auto, the losses of steps 7-12
    and the final weights equal an uninterrupted run's."""
    common = ("--max_steps", 12, "--per_device_train_batch_size", 4, "--save_steps", 6, "--seed", 1, *batching)
    straight, argv = straight_and_killed(tmp_path, synth_set, tiny_models, common, KILL_AFTER_SAVE, 6)
    assert (tmp_path / "killed" / "checkpoint-6").is_dir() and not (tmp_path / "killed" / "checkpoint-12").exists()
    resumed = main(argv)
    expected, got = losses(straight), losses(resumed)
    assert sorted(got) == list(range(1, 13))
    assert [got[s] for s in range(7, 13)] == [expected[s] for s in range(7, 13)]
    a, b = load_file(straight / "adapter_model.safetensors"), load_file(resumed / "adapter_model.safetensors")
    assert max((a[k] - b[k]).abs().max().item() for k in a) == 0.0


@pytest.mark.slow
def test_a_run_killed_while_saving_resumes_from_its_last_complete_checkpoint(tmp_path, synth_set, tiny_models):
    """SIGKILL while checkpoint-4 is being written (its adapter there, nothing else): eval.py skips it and names
    it, `auto` resumes from checkpoint-2, and the run's losses from step 3 on equal an uninterrupted run's."""
    common = ("--max_steps", 6, "--save_steps", 2, "--seed", 3)
    straight, argv = straight_and_killed(tmp_path, synth_set, tiny_models, common, KILL_MID_SAVE, 4)
    half = tmp_path / "killed" / "checkpoint-4"
    assert (half / "adapter_model.safetensors").is_file() and not (half / "trainer_state.json").exists()

    scored = subprocess.run([sys.executable, "scripts/eval.py", "--checkpoint", str(tmp_path / "killed"), "--data",
                             str(synth_set / "val.json"), "--max-new-tokens", "4", "--num-workers", "0",
                             "--no-meteor", "--tokenizer", "simple"], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=600)
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert "| checkpoint-2 |" in scored.stdout and "checkpoint-4" not in scored.stdout.split("metrics:")[0]
    assert f"skipping {half}: its save was cut short" in scored.stderr

    resumed = subprocess.run([sys.executable, "-m", "geollava", "train", *map(str, argv)], cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"auto skips {half}" in resumed.stderr and "auto -> " + str(tmp_path / "killed" / "checkpoint-2") \
        in resumed.stderr
    expected, got = losses(straight), losses(tmp_path / "killed")
    assert sorted(got) == list(range(1, 7))
    for step in range(3, 7):
        assert abs(got[step] - expected[step]) <= 1e-4 * abs(expected[step]), (step, got, expected)


@pytest.mark.slow
def test_a_moved_run_folder_evaluates_resumes_and_merges(tmp_path, synth_set):
    """The base model built inside the run (base_model/) is named relative to each checkpoint, so the run folder
    can move: evaluated from another working directory, resumed and merged at its new place."""
    from geollava.models.checkpoint import merge_checkpoint, read_run_config

    argv = lambda out, *extra: [str(REPO_ROOT / "configs" / "tiny.yaml"), "--train_data",  # noqa: E731
                                str(synth_set / "train.json"), "--output_dir", str(out), "--report_to", "none",
                                "--per_device_train_batch_size", "2", "--logging_steps", "1", *map(str, extra)]
    first = main(argv(tmp_path / "old" / "run", "--max_steps", 4, "--save_steps", 2))
    assert read_run_config(first / "checkpoint-2")["model_name_or_path"] == "../base_model"
    assert read_run_config(first)["model_name_or_path"] == "base_model"
    moved = tmp_path / "elsewhere" / "run"
    moved.parent.mkdir()
    shutil.move(str(first), str(moved))
    shutil.rmtree(tmp_path / "old")

    other_cwd = tmp_path / "cwd"
    other_cwd.mkdir()
    result = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "eval.py"), "--checkpoint", str(moved),
                             "--data", str(synth_set / "val.json"), "--base", "--max-new-tokens", "4",
                             "--num-workers", "0", "--no-meteor", "--tokenizer", "simple"],
                            cwd=other_cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| base |" in result.stdout and "| checkpoint-2 |" in result.stdout and "| final |" in result.stdout

    resumed = main(argv(moved, "--max_steps", 6, "--save_steps", 2, "--resume_from_checkpoint", "auto"))
    assert sorted(losses(resumed)) == [1, 2, 3, 4, 5, 6] and (moved / "checkpoint-6").is_dir()
    merged = merge_checkpoint(moved / "checkpoint-6", tmp_path / "merged")
    assert (merged / "model.safetensors").is_file() and (merged / "geollava_prompt.json").is_file()


@pytest.mark.slow
def test_zero3_resume_continues_the_loss(tmp_path, synth_set, tiny_models):
    """Two CPU processes under ZeRO-3: a run resumed from checkpoint-2 logs the losses the first run logged."""
    env = {**os.environ, "NUM_GPUS": "2", "MASTER_PORT": "29541",
           "TORCH_EXTENSIONS_DIR": str(REPO_ROOT / ".venv" / "torch_extensions")}
    out = tmp_path / "z3"
    argv = tiny_argv(out, synth_set, tiny_models["llava"], "llava", "--max_steps", 4, "--save_steps", 2,
                     "--deepspeed", "configs/deepspeed/zero3.json", "--resume_from_checkpoint", "auto", "--seed", 2)
    launch = lambda: subprocess.run(["bash", "scripts/finetune_lora.sh", *argv], cwd=REPO_ROOT, env=env,  # noqa
                                    capture_output=True, text=True, timeout=600)
    first = launch()
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    expected = losses(out)
    shutil.rmtree(out / "checkpoint-4")
    (out / "adapter_model.safetensors").unlink()
    second = launch()
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "resume_from_checkpoint: auto -> " in (out / "train.log").read_text()
    got = losses(out)
    for step in (3, 4):
        assert abs(got[step] - expected[step]) <= 1e-4 * abs(expected[step]), (step, got, expected)


@pytest.mark.slow
@pytest.mark.parametrize("limit", [1, 2])
def test_a_kill_in_the_rotation_window_leaves_a_complete_checkpoint_to_resume(tmp_path, synth_set, tiny_models,
                                                                               limit):
    """save_total_limit 1 or 2, SIGKILL after checkpoint-4 is written but before it is marked complete (where
    transformers deleted the older checkpoints): checkpoint-2 is still there and complete, `auto` resumes from it,
    the losses equal an uninterrupted run's, and the run ends with at most `limit` checkpoints, all complete."""
    from geollava.models.checkpoint import checkpoint_folders, is_complete

    common = ("--max_steps", 6, "--save_steps", 2, "--seed", 3, "--save_total_limit", limit)
    straight, argv = straight_and_killed(tmp_path, synth_set, tiny_models, common, KILL_BEFORE_MARKED, 4)
    run = tmp_path / "killed"
    assert is_complete(run / "checkpoint-2") and not is_complete(run / "checkpoint-4")
    main(argv)
    expected, got = losses(straight), losses(run)
    assert sorted(got) == list(range(1, 7))
    for step in range(3, 7):
        assert abs(got[step] - expected[step]) <= 1e-4 * abs(expected[step]), (step, got, expected)
    left = checkpoint_folders(run)
    assert len(left) <= limit and all(is_complete(f) for f in left) and left[-1].name == "checkpoint-6"


@pytest.mark.slow
def test_a_full_disk_is_said_naming_the_folder_and_the_run_resumes_exactly(tmp_path, synth_set, tiny_models,
                                                                           monkeypatch, capsys):
    """The disk fills while checkpoint-4 is written (simulated ENOSPC where torch writes the optimizer state):
    one line naming the full disk and the folder, not torch's inline_container error; checkpoint-2 stays complete
    and the run resumes from it to the losses of an uninterrupted run."""
    import errno

    import transformers

    from geollava.models.checkpoint import is_complete

    common = ("--max_steps", 6, "--save_steps", 2, "--seed", 3)
    straight = main(tiny_argv(tmp_path / "straight", synth_set, tiny_models["llava"], "llava", *common))
    argv = tiny_argv(tmp_path / "full", synth_set, tiny_models["llava"], "llava", *common,
                     "--resume_from_checkpoint", "auto")
    real = transformers.Trainer._save_optimizer_and_scheduler

    def no_space(self, output_dir):
        if self.state.global_step == 4:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file "
                               "data/0: file write failed") from OSError(errno.ENOSPC, "No space left on device")
        return real(self, output_dir)

    monkeypatch.setattr(transformers.Trainer, "_save_optimizer_and_scheduler", no_space)
    monkeypatch.setattr("geollava.disk.LOW_SPACE", 2**62)  # this disk is not full: say it is
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"the disk holding {tmp_path / 'full'} is full" in err and "Traceback" not in err
    assert is_complete(tmp_path / "full" / "checkpoint-2") and not is_complete(tmp_path / "full" / "checkpoint-4")
    monkeypatch.setattr(transformers.Trainer, "_save_optimizer_and_scheduler", real)
    main(argv)
    expected, got = losses(straight), losses(tmp_path / "full")
    for step in range(3, 7):
        assert abs(got[step] - expected[step]) <= 1e-4 * abs(expected[step]), (step, got, expected)


def test_rotation_leaves_a_checkpoint_being_read_and_deletes_it_at_a_later_save(tmp_path):
    """An evaluation loading checkpoint-2 of a run still training (save_total_limit 1) had it deleted under it
    ("Can't find 'adapter_config.json'"): a checkpoint being read is held, rotation skips it and deletes it at
    the next save; eval skips a checkpoint deleted since it listed the run, naming it."""
    from geollava.locks import reading
    from geollava.models.checkpoint import mark_complete, rotate

    run = tmp_path / "run"
    for step in (2, 4):
        (run / f"checkpoint-{step}").mkdir(parents=True)
        mark_complete(run / f"checkpoint-{step}", step)
    with reading(run / "checkpoint-2"):
        assert rotate(run, 1) == []
        assert (run / "checkpoint-2").is_dir()
    (run / "checkpoint-6").mkdir()
    mark_complete(run / "checkpoint-6", 6)
    assert rotate(run, 1) == [run / "checkpoint-2", run / "checkpoint-4"]
    assert [p.name for p in run.iterdir()] == ["checkpoint-6"]


def test_eval_skips_a_checkpoint_deleted_since_it_listed_the_run(tmp_path, synth_set, tiny_run, caplog,
                                                                  monkeypatch):
    import shutil

    import geollava.evaluation.evaluate as evaluate_module
    from geollava.runs import find_targets

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    listed = find_targets(str(run))
    shutil.rmtree(run / "checkpoint-2")  # the training run's rotation, after eval listed the run
    monkeypatch.setattr(evaluate_module, "find_targets", lambda *a, **k: listed)
    results = evaluate_module.main(["--checkpoint", str(run), "--data", str(synth_set / "val.json"),
                                    "--max-new-tokens", "2", "--num-workers", "0", "--no-meteor", "--tokenizer",
                                    "simple"])
    assert "checkpoint-2" not in results and "final" in results
    assert f"skipping {run / 'checkpoint-2'}: deleted since the run was listed" in caplog.text
