"""Two "nodes" on one machine: two launches of the finetune script with NNODES=2, one process each, meeting over
loopback, train the tiny model and end with identical LoRA weights."""
import os
import subprocess

import pytest

import torch
from safetensors.torch import load_file

from helpers import REPO_ROOT, tiny_argv


def launch(node_rank, out, synth_set, tiny_models, port, dry_run=False):
    env = {**os.environ, "NNODES": "2", "NODE_RANK": str(node_rank), "NUM_GPUS": "1", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}
    argv = tiny_argv(out, synth_set, tiny_models["llava"], "llava", "--max_steps", 3, "--save_on_each_node", "true")
    return subprocess.Popen(["bash", "scripts/finetune_lora.sh", *argv] + (["--dry-run"] if dry_run else []),
                            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_two_nodes_over_loopback_end_with_identical_weights(tmp_path, synth_set, tiny_models):
    outs = [tmp_path / "node0", tmp_path / "node1"]
    nodes = [launch(rank, out, synth_set, tiny_models, 29561) for rank, out in enumerate(outs)]
    logs = [node.communicate(timeout=600)[0] for node in nodes]
    assert [n.returncode for n in nodes] == [0, 0], logs[0][-2000:] + logs[1][-2000:]
    assert "2 process(es) on 2 node(s)" in logs[0]
    assert "--nnodes 2 --node_rank 1 --nproc_per_node 1 --master_addr 127.0.0.1" in logs[1]
    log = (outs[0] / "train.log").read_text()
    assert "Total train batch size (w. parallel, distributed & accumulation) = 4" in log  # 2 per device x 2 nodes
    weights = [load_file(out / "adapter_model.safetensors") for out in outs]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert any(weights[0][k].abs().sum() > 0 for k in weights[0] if "lora_B" in k)  # and they trained


@pytest.mark.slow
def test_dry_run_prints_the_command_and_batch_arithmetic(tmp_path, synth_set, tiny_models):
    env = {**os.environ, "GLOBAL_BATCH": "16", "NNODES": "2", "NUM_GPUS": "2"}
    argv = tiny_argv(tmp_path / "x", synth_set, tiny_models["llava"])
    result = subprocess.run(["bash", "scripts/finetune_lora.sh", *argv, "--dry-run"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "batch: 2 per device x 4 processes x 2 accumulation = 16 per optimizer step" in result.stdout
    assert "torchrun --nnodes 2 --node_rank 0 --nproc_per_node 2" in result.stdout
    assert not (tmp_path / "x").exists()  # nothing ran, nothing was built
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("node-a slots=4\nnode-b slots=4\n")
    env = {**os.environ, "HOSTFILE": str(hostfile), "MASTER_ADDR": "node-a"}
    result = subprocess.run(["bash", "scripts/finetune_lora.sh", *argv, "--dry-run"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "8 process(es)" in result.stdout
    assert f"deepspeed --hostfile {hostfile} --master_addr node-a" in result.stdout
