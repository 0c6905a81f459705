"""SFT → GRPO → evaluation through the shell scripts, as a user runs them: on one process and under ZeRO-3 on two
CPU processes; GRPO checkpoints load everywhere an SFT checkpoint does, hold one adapter (TRL's KL reference is
not kept), resume, and plot their rewards in the report; and a reward the tiny model can learn rises in 40 steps."""
import json
import os
import subprocess
import sys

import pytest

from geollava.launch import load_config
from geollava.models.checkpoint import is_complete
from geollava.synthetic.tasks import generate_task_split

from helpers import REPO_ROOT, cli

pytestmark = pytest.mark.slow


def script(name, *argv, env=None, timeout=900):
    result = subprocess.run(["bash", f"scripts/{name}", *map(str, argv)], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory, task_set):
    out = tmp_path_factory.mktemp("sft") / "run"
    script("finetune_lora.sh", "configs/tiny.yaml", "--train_data", task_set / "train.json", "--num_frames", 1,
           "--output_dir", out, "--max_steps", 4, "--save_steps", 100, "--report_to", "none")
    return out


def grpo_argv(sft_run, task_set, out, *extra):
    return ["configs/tiny_grpo.yaml", "--init_from", sft_run, "--train_data", task_set / "train.json",
            "--output_dir", out, "--report_to", "none", *extra]


def test_sft_then_grpo_then_eval_predict_merge_and_report(tmp_path, sft_run, task_set):
    out = tmp_path / "grpo"
    result = script("finetune_grpo.sh", *grpo_argv(sft_run, task_set, out, "--max_steps", 4, "--save_steps", 2,
                                                     "--beta", 0.1))
    assert "-m geollava grpo --worker configs/tiny_grpo.yaml" in result.stdout
    assert "rewards/task/mean" in (out / "train.log").read_text()
    for folder in (out / "checkpoint-2", out / "checkpoint-4", out):
        assert is_complete(folder)
        assert not (folder / "ref").exists()  # the KL reference (beta > 0) is not a second adapter
        assert (folder / "geollava_prompt.json").read_text() == (sft_run / "geollava_prompt.json").read_text()
    config = (out / "geollava_config.yaml").read_text()
    assert "init_from:" in config and "rewards:" in config and "family: llava" in config
    again = load_config([str(out / "geollava_config.yaml")], need_data=False)  # the saved config parses again
    assert again.recipe_args.init_from == str(sft_run) and again.model.model_name_or_path
    log = json.loads((out / "train_log.json").read_text())
    assert {"rewards/task/mean", "rewards/format/mean", "rewards/format/zero_std_groups", "kl"} <= set(log[0])

    resumed = script("finetune_grpo.sh", *grpo_argv(sft_run, task_set, out, "--max_steps", 6, "--save_steps", 2,
                                                      "--beta", 0.1, "--resume_from_checkpoint", "auto"))
    assert f"resume_from_checkpoint: auto -> {out / 'checkpoint-4'}" in resumed.stdout + resumed.stderr
    assert [e["step"] for e in json.loads((out / "train_log.json").read_text()) if "reward" in e][-2:] == [5, 6]

    evaluation = subprocess.run([sys.executable, "scripts/eval.py", "--checkpoint", str(out), "--data",
                                 str(task_set / "val.json"), "--no-meteor", "--tokenizer", "simple",
                                 "--max-new-tokens", "8"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert evaluation.returncode == 0, evaluation.stderr[-3000:]
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    assert set(metrics) == {"checkpoint-2", "checkpoint-4", "final"}  # checkpoint-6 is the final model
    image = next((task_set / "images").glob("*.png"))
    answer = cli("predict", "--checkpoint", out, "--frames", image, "--task", "refer", "--question", "the lake",
                 "--json", "--max-new-tokens", "4")
    assert answer.returncode == 0, answer.stderr
    assert cli("merge", out / "checkpoint-2", tmp_path / "merged").returncode == 0
    report = cli("report", "--model", f"grpo={out / 'eval' / 'final'}", "--data", task_set / "val.json",
                 "--train-log", out / "train_log.json", "--out", tmp_path / "report.html")
    assert report.returncode == 0, report.stderr
    assert 'alt="GRPO rewards"' in (tmp_path / "report.html").read_text()


def test_grpo_under_zero3_on_two_cpu_processes_with_dynamic_sampling_resumes(tmp_path, sft_run, task_set):
    """Two ZeRO-3 processes with dynamic sampling: every rank generates in every resampling round (a rank that
    did not would hang the others), the rounds are logged, and the run resumes from its checkpoint."""
    out = tmp_path / "grpo"
    zero3 = ("--deepspeed", "configs/deepspeed/zero3.json", "--dynamic_sampling", "true", "--max_resample", 2,
             "--save_steps", 2)
    result = script("finetune_grpo.sh", *grpo_argv(sft_run, task_set, out, "--max_steps", 2, *zero3),
                    env={"NUM_GPUS": "2"})
    assert "2 process(es)" in result.stdout
    assert is_complete(out) and is_complete(out / "checkpoint-2")
    from safetensors.torch import load_file

    weights = load_file(out / "adapter_model.safetensors")
    assert weights and all(t.numel() > 0 for t in weights.values())  # gathered, not rank-local shards
    resumed = script("finetune_grpo.sh", *grpo_argv(sft_run, task_set, out, "--max_steps", 3, *zero3,
                                                      "--resume_from_checkpoint", "auto"), env={"NUM_GPUS": "2"})
    assert f"resume_from_checkpoint: auto -> {out / 'checkpoint-2'}" in resumed.stdout + resumed.stderr
    steps = [e for e in json.loads((out / "train_log.json").read_text()) if "reward" in e]
    assert [e["step"] for e in steps][-1] == 3
    for entry in steps:
        rounds, left = entry["dynamic_sampling/resample_rounds"], entry["dynamic_sampling/groups_without_spread"]
        assert 0 <= rounds <= 2 and 0 <= left <= entry["dynamic_sampling/groups_without_spread_before"]
        assert rounds == 2 or left == 0  # it stops early only when every group has spread


def test_a_learnable_reward_rises_in_40_steps(tmp_path):
    """After a short SFT on five scene classes, GRPO on the lake images only, rewarded by exact match: the
    policy learns to say lake — the mean reward of the last 10 steps well above the first 10's."""
    data = tmp_path / "scene"
    generate_task_split(data, "train", 200, ["scene"], size=64, seed=0)
    records = json.loads((data / "train.json").read_text())
    (data / "lake.json").write_text(json.dumps([r for r in records if r["conversations"][1]["value"] == "lake"]))
    sft = tmp_path / "sft"
    script("finetune_lora.sh", "configs/quickstart.yaml", "--train_data", data / "train.json", "--num_frames", 1,
           "--output_dir", sft, "--max_steps", 300, "--save_strategy", "no", "--report_to", "none",
           "--pixel_cache", "false", "--dataloader_num_workers", 0, "--warmup_steps", 5)
    out = tmp_path / "grpo"
    script("finetune_grpo.sh", "configs/tiny_grpo.yaml", "--init_from", sft, "--train_data", data / "lake.json",
           "--output_dir", out, "--rewards", '{"exact_match": 1.0}', "--max_steps", 40, "--save_strategy", "no",
           "--per_device_train_batch_size", 16, "--learning_rate", 1e-3, "--max_completion_length", 6,
           "--temperature", 0.7, "--report_to", "none")
    rewards = [e["rewards/exact_match/mean"] for e in json.loads((out / "train_log.json").read_text())
               if "rewards/exact_match/mean" in e]
    assert len(rewards) == 40
    first, last = sum(rewards[:10]) / 10, sum(rewards[-10:]) / 10
    assert last > first + 0.2 and last > 0.7, rewards


def test_init_from_a_cut_save_is_refused_and_a_damaged_adapter_named(tmp_path, task_set, tiny_models):
    """init_from a checkpoint cut short while saving (no config yet) was taken as a base model; a truncated
    adapter gave a safetensors traceback after the model loaded; a run folder whose final save was cut falls back
    to its newest complete checkpoint. All decided before any model loads."""
    import shutil

    from geollava.config import ConfigError
    from geollava.launch import load_config
    from geollava.models.checkpoint import COMPLETE, mark_incomplete
    from geollava.sft.train import main as train
    from helpers import REPO_ROOT, tiny_argv

    run = train(tiny_argv(tmp_path / "sft", task_set, tiny_models["llava"], "llava", "--max_steps", 4,
                          "--save_steps", 2, "--num_frames", 1))
    grpo = lambda init: load_config([str(REPO_ROOT / "configs" / "tiny_grpo.yaml"), "--init_from", str(init),  # noqa
                                      "--train_data", str(task_set / "train.json"), "--output_dir",
                                      str(tmp_path / "grpo")])
    mark_incomplete(run)  # the final save cut short
    assert grpo(run).recipe_args.init_from == str(run / "checkpoint-4")
    cut = run / "checkpoint-4"
    mark_incomplete(cut)
    (cut / "geollava_config.yaml").unlink()  # cut before its config was written
    with pytest.raises(ConfigError, match="checkpoint-4 is a save that was cut short"):
        grpo(cut)
    assert grpo(run).recipe_args.init_from == str(run / "checkpoint-2")
    shutil.copytree(run / "checkpoint-2", tmp_path / "copy")
    adapter = tmp_path / "copy" / "adapter_model.safetensors"
    adapter.write_bytes(adapter.read_bytes()[:-100])
    assert (tmp_path / "copy" / COMPLETE).is_file()
    with pytest.raises(ConfigError, match="adapter_model.safetensors cannot be read .* the file is damaged"):
        grpo(tmp_path / "copy")
