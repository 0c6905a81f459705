"""Shared fixtures: real files on disk, written by the tests themselves."""
from __future__ import annotations

from pathlib import Path

import pytest

from geollava.data.mp4 import write_mp4
from geollava.synthetic.generate import generate_split
from helpers import index_frame, tiny_argv

IMAGE_TASKS = ["scene", "vqa", "refer", "grounding", "region_caption"]  # the synthetic single-image tasks


@pytest.fixture(autouse=True)
def no_deepspeed_config_left_behind():
    """TrainingArguments with a ZeRO-3 config set a process-wide config that makes every later model load
    partition its weights (and ask MPI for a process group): a test that made one must not hand it on."""
    yield
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    unset_hf_deepspeed_config()


@pytest.fixture(scope="session")
def index_video(tmp_path_factory) -> Path:
    """A 24-frame mp4 whose frame i has brightness 4 + 8 i."""
    path = tmp_path_factory.mktemp("video") / "index.mp4"
    write_mp4(path, [index_frame(i) for i in range(24)])
    return path


@pytest.fixture(scope="session")
def synth_set(tmp_path_factory) -> Path:
    """A small synthetic set: 16 train and 6 val videos of 8 frames at 64 px."""
    out = tmp_path_factory.mktemp("synth")
    generate_split(out, "train", 16, num_frames=8, size=64, seed=3, workers=1)
    generate_split(out, "val", 6, num_frames=8, size=64, seed=3, workers=1)
    return out


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict:
    """One tiny random model folder per family (built from config, saved like any HF model)."""
    from geollava.families import FAMILIES
    from geollava.models.tiny import build_tiny_model
    from geollava.synthetic.captions import tokenizer_corpus

    root = tmp_path_factory.mktemp("tiny_models")
    return {name: build_tiny_model(name, root / name, tokenizer_corpus()) for name in FAMILIES}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, synth_set, tiny_models) -> Path:
    """A short LoRA run of the tiny LLaVA: checkpoint-2, checkpoint-4 and the final model."""
    from geollava.sft.train import main

    out = tmp_path_factory.mktemp("tiny_run") / "run"
    return main(tiny_argv(out, synth_set, tiny_models["llava"], "llava", "--max_steps", 4, "--save_steps", 2))


@pytest.fixture(scope="session")
def task_set(tmp_path_factory) -> Path:
    """Synthetic single-image task records: 20 train and 5 val images at 64 px, every task in turn."""
    from geollava.synthetic.tasks import generate_task_split

    out = tmp_path_factory.mktemp("tasks")
    generate_task_split(out, "train", 20, IMAGE_TASKS, size=64, seed=2)
    generate_task_split(out, "val", 5, IMAGE_TASKS, size=64, seed=2)
    return out
