"""`geollava train | grpo` launches in Python (geollava/launch.py): the options and their environment variables,
the world size, the command each kind of launch runs, and a dry run that prints it — the launch scripts are thin
wrappers printing the same launch."""
from __future__ import annotations

import subprocess
import sys

import pytest

from geollava.config import ConfigError
from geollava.grpo.train import RECIPE as GRPO
from geollava.launch import WORKER, command_line, hostfile_slots, main, recipe_for, split_argv
from geollava.sft.train import RECIPE as SFT

from helpers import REPO_ROOT, cli

TINY = str(REPO_ROOT / "configs" / "tiny.yaml")


def test_launch_options_come_out_and_the_config_words_stay(monkeypatch):
    monkeypatch.delenv("NUM_GPUS", raising=False)
    options, rest = split_argv([TINY, "--nproc-per-node", "2", "--nnodes", "3", "--learning_rate", "1e-4",
                                "--dry-run"], "train")
    assert (options.nproc_per_node, options.nnodes, options.dry_run) == (2, 3, True)
    assert rest == [TINY, "--learning_rate", "1e-4"] and options.world == 6


def test_the_environment_variables_the_scripts_document_are_the_defaults(monkeypatch):
    for name, value in {"NUM_GPUS": "4", "NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "node0",
                        "MASTER_PORT": "2222", "KEEP_ZERO_STAGE": "1", "GPU_MEMORY_GIB": "40"}.items():
        monkeypatch.setenv(name, value)
    options, _ = split_argv([TINY], "train")
    assert (options.nproc_per_node, options.nnodes, options.node_rank, options.master_addr, options.master_port,
            options.keep_zero_stage, options.gpu_memory) == (4, 2, 1, "node0", 2222, True, 40.0)
    options, _ = split_argv([TINY, "--nnodes", "1"], "train")  # an option wins over its variable
    assert options.nnodes == 1


def test_a_script_s_default_config_is_used_only_when_none_is_given():
    _, rest = split_argv(["--default-config", "configs/lora.yaml", "--learning_rate", "1e-4"], "train")
    assert rest == ["configs/lora.yaml", "--learning_rate", "1e-4"]
    _, rest = split_argv(["--default-config", "configs/lora.yaml", TINY], "train")
    assert rest == [TINY]


def test_a_hostfile_s_slots_are_the_world_and_a_bad_line_is_named(tmp_path):
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("# two nodes\nnode-a slots=4\n\nnode-b slots=8  # the big one\n")
    assert hostfile_slots(hostfile) == 12
    hostfile.write_text("node-a slots=4\nnode-b\n")
    with pytest.raises(ConfigError, match=r"hostfile .*hostfile, line 2: 'node-b' is not 'HOST slots=N'"):
        hostfile_slots(hostfile)


def test_each_kind_of_launch_runs_its_launcher(tmp_path, monkeypatch):
    monkeypatch.delenv("NUM_GPUS", raising=False)
    one, _ = split_argv([TINY], "train")
    assert command_line(SFT, one, [TINY]) == [sys.executable, "-m", "geollava", "train", WORKER, TINY]
    nodes, _ = split_argv([TINY, "--nproc-per-node", "2", "--nnodes", "2", "--node-rank", "1", "--master-addr",
                           "node0"], "grpo")
    assert command_line(GRPO, nodes, [TINY]) == [
        "torchrun", "--nnodes", "2", "--node_rank", "1", "--nproc_per_node", "2", "--master_addr", "node0",
        "--master_port", "29500", "-m", "geollava", "grpo", WORKER, TINY]
    (tmp_path / "hosts").write_text("a slots=2\nb slots=2\n")
    over_ssh, _ = split_argv([TINY, "--hostfile", str(tmp_path / "hosts")], "train")
    assert over_ssh.world == 4
    assert command_line(SFT, over_ssh, [TINY])[:4] == ["deepspeed", "--hostfile", str(tmp_path / "hosts"),
                                                       "--master_addr"]
    assert command_line(SFT, over_ssh, [TINY])[-4:] == ["geollava", "train", WORKER, TINY]


def test_a_config_names_its_recipe_by_its_own_keys():
    assert recipe_for([TINY]) is SFT
    assert recipe_for([str(REPO_ROOT / "configs" / "tiny_grpo.yaml")]) is GRPO
    assert recipe_for(["--gpus", "2", TINY, "--init_from", "runs/tiny"]) is GRPO


def test_a_dry_run_checks_for_the_world_size_and_prints_the_launch(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NUM_GPUS", raising=False)
    argv = [TINY, "--output_dir", str(tmp_path / "run"), "--nproc-per-node", "2", "--global_batch_size", "16",
            "--dry-run"]
    assert main(argv, SFT) == 0
    out = capsys.readouterr().out
    assert "[launch] batch: 4 per device x 2 processes x 2 accumulation = 16 per optimizer step" in out
    assert f"torchrun --nnodes 1 --node_rank 0 --nproc_per_node 2 --master_addr 127.0.0.1 --master_port 29500 -m " \
           f"geollava train {WORKER} {TINY} --output_dir {tmp_path / 'run'} --global_batch_size 16" in out
    assert not (tmp_path / "run").exists()  # nothing built, nothing run
    assert main([TINY, "--nproc-per-node", "3", "--global_batch_size", "16", "--dry-run"], SFT) == 2
    assert "not divisible by per_device_train_batch_size 4 x 3 processes" in capsys.readouterr().err


def test_prepare_is_no_public_command_and_train_help_lists_the_launch_options():
    assert "prepare" not in cli("--help").stdout
    result = cli("train", "--help")
    assert result.returncode == 0 and "--nproc-per-node" in result.stdout and "--hostfile" in result.stdout
    assert "--learning_rate" in result.stdout  # the config keys follow


@pytest.mark.slow
def test_the_script_and_the_command_print_the_same_launch(tmp_path):
    words = ["configs/tiny.yaml", "--output_dir", str(tmp_path / "run"), "--dry-run"]
    script = subprocess.run(["bash", "scripts/finetune_lora.sh", *words], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=300)
    command = subprocess.run([sys.executable, "-m", "geollava", "train", *words], cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=300)
    assert script.returncode == command.returncode == 0, script.stderr + command.stderr
    assert script.stdout == command.stdout and "-m geollava train --worker configs/tiny.yaml" in script.stdout
    bogus = subprocess.run(["bash", "scripts/finetune_grpo.sh", "configs/tiny_grpo.yaml", "--rewards",
                            "{bogus_term: 1}", "--dry-run"], cwd=REPO_ROOT, capture_output=True, text=True,
                           timeout=300)
    assert bogus.returncode == 2 and "rewards: unknown term(s) bogus_term" in bogus.stderr
