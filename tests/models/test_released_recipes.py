"""Every shipped recipe at the released shape of the model it names: each configs/*.yaml (and each family of
lora.yaml / qlora.yaml) trains one step on a 1-layer model with the real widths, vocabulary, tokenizer, processor
and image geometry, then answers 2 samples in eval — with no sample skipped. What changes for the CPU is only
how it runs (no DeepSpeed, fp32, one sample a step, no workers), never what the model sees."""
from __future__ import annotations

import json
import logging

import pytest

from geollava.evaluation.evaluate import main as evaluate
from geollava.grpo.train import main as grpo
from geollava.models.released import (GEOCHAT, INTERNVL, LLAVA, NEXT_VIDEO, ONEVISION, QWEN2_5, QWEN3, RECIPES,
                                      VIDEO_LLAVA, build_released)
from geollava.models.released import CPU_RUN as CPU
from geollava.sft.train import main as train

from helpers import REPO_ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def released_folders(tmp_path_factory) -> dict:
    """Each reference checkpoint at 1 layer, built once for the session."""
    root = tmp_path_factory.mktemp("released")
    return {model_id: build_released(model_id, 1, root / model_id.replace("/", "--"))
            for model_id in (VIDEO_LLAVA, NEXT_VIDEO, LLAVA, GEOCHAT, QWEN2_5, QWEN3, ONEVISION, INTERNVL)}


@pytest.fixture(scope="module")
def change_set(tmp_path_factory):
    """2 training and 2 validation change videos of 8 frames at 96 px."""
    from geollava.synthetic.generate import generate_split

    out = tmp_path_factory.mktemp("released_change")
    generate_split(out, "train", 2, num_frames=8, size=96, seed=5, workers=1)
    generate_split(out, "val", 2, num_frames=8, size=96, seed=5, workers=1)
    return out


@pytest.fixture(scope="module")
def image_task_set(tmp_path_factory):
    """GeoChat's tasks on 2 training and 2 validation images."""
    from geollava.synthetic.tasks import generate_task_split

    out = tmp_path_factory.mktemp("released_tasks")
    generate_task_split(out, "train", 2, ["refer", "scene"], size=96, seed=5)
    generate_task_split(out, "val", 2, ["refer", "scene"], size=96, seed=5)
    return out


def no_sample_skipped(caplog) -> None:
    skipped = [r.getMessage() for r in caplog.records if "skipp" in r.getMessage()]
    assert not skipped, skipped


@pytest.mark.parametrize("config,model_id,family,data,extra", RECIPES,
                         ids=[f"{c[:-5]}-{f}{'-geochat' if m == GEOCHAT else ''}" for c, m, f, _, _ in RECIPES])
def test_the_recipe_trains_and_answers_at_the_released_shape(tmp_path, caplog, released_folders, change_set,
                                                             image_task_set, config, model_id, family, data, extra):
    caplog.set_level(logging.INFO)
    data_dir = change_set if data == "change" else image_task_set
    out = tmp_path / "run"
    result = train([str(REPO_ROOT / "configs" / config), "--family", family, "--model_name_or_path",
                    str(released_folders[model_id]), "--train_data", str(data_dir / "train.json"),
                    "--media_root", str(data_dir), "--output_dir", str(out), *CPU, "--per_device_train_batch_size", "1",
                    *extra])
    assert result == out
    no_sample_skipped(caplog)
    log = json.loads((out / "train_log.json").read_text())
    assert any("loss" in row for row in log)
    metrics = evaluate(["--checkpoint", str(out), "--data", str(data_dir / "val.json"), "--media-root",
                        str(data_dir), "--max-new-tokens", "3", "--no-meteor", "--tokenizer", "simple",
                        "--num-workers", "0"])
    assert metrics["final"]["samples"] == 2
    rows = (out / "eval" / "final" / "predictions.jsonl").read_text().splitlines()
    assert len(rows) == 2


def test_the_grpo_recipe_takes_a_step_at_the_released_shape(tmp_path, caplog, released_folders, image_task_set):
    """configs/grpo.yaml from the released Qwen2.5-VL base (a new LoRA): completions generated, one step."""
    caplog.set_level(logging.INFO)
    out = tmp_path / "grpo"
    result = grpo([str(REPO_ROOT / "configs" / "grpo.yaml"), "--init_from", str(released_folders[QWEN2_5]),
                   "--family", "qwen2_5_vl", "--train_data", str(image_task_set / "train.json"),
                   "--media_root", str(image_task_set), "--output_dir", str(out), "--num_generations", "2",
                   "--per_device_train_batch_size", "2", "--max_completion_length", "4", *CPU])
    assert result == out
    no_sample_skipped(caplog)
    assert (out / "adapter_model.safetensors").is_file()
