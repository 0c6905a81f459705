"""`geollava plan`: sizes from a config alone, DeepSpeed's accounting, and a verdict before launch."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

from geollava.launch import load_config
from geollava.plan import GiB, estimate

from helpers import REPO_ROOT, write_image, write_json


@pytest.fixture(scope="module")
def llava_7b(tmp_path_factory):
    """LLaVA-1.5-7B at its released shape, full depth (its config, tokenizer and processor), without weights."""
    from geollava.models.released import build_released

    return build_released("llava-hf/llava-1.5-7b-hf", None, tmp_path_factory.mktemp("llava7b") / "llava", weights=False)


def config_for(folder, tmp_path, *extra):
    data = write_json(tmp_path / "empty.json", [])
    return load_config([str(REPO_ROOT / "configs" / "lora.yaml"), "--family", "llava", "--model_name_or_path",
                         str(folder), "--train_data", str(data), "--num_frames", "1", *map(str, extra)])


def test_sizes_come_from_the_config_alone(llava_7b, tmp_path):
    sizes, _, _ = estimate(config_for(llava_7b, tmp_path))
    assert 7.0e9 < sizes.total < 7.1e9  # LLaVA-1.5-7B: 7.06 B
    assert 3.0e8 < sizes.vision < 3.1e8 and sizes.projector == 1024 * 4096 + 4096 + 4096 * 4096 + 4096
    assert len(sizes.lora_targets) == 32 * 7 and all(".language_model." in n for n in sizes.lora_targets)


@pytest.mark.parametrize("stage", [2, 3])
def test_model_states_agree_with_deepspeed_within_10_percent(llava_7b, tmp_path, stage):
    config = config_for(llava_7b, tmp_path, "--lora_enable", "false", "--deepspeed",
                        REPO_ROOT / f"configs/deepspeed/zero{stage}.json")
    sizes, _, p = estimate(config, gpus=8)
    states = sum(v for what, v in p.rows if what.startswith(("parameters", "gradients", "ZeRO-3")))
    if stage == 2:
        reference = estimate_zero2_model_states_mem_needs(sizes.total, 8, 1, cpu_offload=False)[1]
    else:
        reference = estimate_zero3_model_states_mem_needs(sizes.total, sizes.largest_layer, 8, 1,
                                                          cpu_offload=False)[1]
    assert abs(states - reference) / reference < 0.10


def test_levers_move_the_estimate_the_right_way(llava_7b, tmp_path):
    rows = lambda p: dict(p.rows)  # noqa: E731
    base = estimate(config_for(llava_7b, tmp_path, "--deepspeed", "null", "--activation_checkpointing", "false"))[2]
    qlora = estimate(config_for(llava_7b, tmp_path, "--deepspeed", "null", "--bits", 4,
                                "--activation_checkpointing", "false"))[2]
    checkpointed = estimate(config_for(llava_7b, tmp_path, "--deepspeed", "null"))[2]
    zero3 = estimate(config_for(llava_7b, tmp_path), gpus=4)[2]
    assert rows(qlora)["parameters (frozen + trainable)"] < 0.5 * rows(base)["parameters (frozen + trainable)"]
    assert checkpointed.total < 0.6 * base.total
    assert zero3.total < checkpointed.total
    assert base.total / GiB > 40  # a 7B LoRA without checkpointing, batch 4 x 832 tokens, is not for a 40 GiB card


@pytest.mark.slow
def test_plan_command_verdict_and_suggestion(llava_7b, tmp_path):
    data = write_json(tmp_path / "empty.json", [])
    command = [sys.executable, "-m", "geollava", "plan", str(REPO_ROOT / "configs" / "lora.yaml"), "--family",
               "llava", "--model_name_or_path", str(llava_7b), "--train_data", str(data), "--deepspeed", "null"]
    small = subprocess.run(command + ["--gpu-memory", "24"], capture_output=True, text=True, timeout=300)
    assert small.returncode == 1 and "DOES NOT FIT in 24 GiB" in small.stdout
    assert "suggested: per_device_train_batch_size" in small.stdout or "no per-device batch fits" in small.stdout
    big = subprocess.run(command + ["--gpu-memory", "141", "--gpus", "2"], capture_output=True, text=True, timeout=300)
    assert big.returncode == 0 and "fits in 141 GiB" in big.stdout and "2 GPU(s)" in big.stdout


def test_warns_when_visual_tokens_fill_the_context(llava_7b, tmp_path):
    config = config_for(llava_7b, tmp_path, "--num_frames", 8, "--model_max_length", 2048)
    _, _, p = estimate(config)
    assert any("every sample would be skipped" in note for note in p.notes)


def test_gpu_check_plans_each_run_of_its_matrix_as_that_run_trains(tmp_path):
    """scripts/gpu_check.sh prints the plan beside each measured peak: the config it plans must be the run's, on
    the full-depth 7B configs it builds."""
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    from gpu_check import RUNS, build_configs, run_argv

    folders = build_configs(tmp_path)
    data = tmp_path / "later.json"
    rows = {}
    for run in ("llava-lora", "llava-full-logits", "llava-zero3", "llava-qlora", "qwen-packed"):
        config = load_config(run_argv(run, folders, data, 4, 4), need_data=False)
        rows[run] = dict(estimate(config, text_tokens=96, on_gpu=False, answer_tokens=48)[2].rows)
    lora = rows["llava-lora"]
    assert "ZeRO-3 gather buffer (largest layer)" in rows["llava-zero3"] and "ZeRO-3 gather buffer (largest " \
        "layer)" not in lora
    assert rows["llava-qlora"]["parameters (frozen + trainable)"] < 0.5 * lora["parameters (frozen + trainable)"]
    assert "logits and loss (fp32, 192 labelled tokens)" in lora and "logits and loss (fp32, every position)" in \
        rows["llava-full-logits"]
    assert not any("CUDA" in what for what in lora)  # comparable with max_memory_allocated
    assert 6.9e9 < estimate(load_config(run_argv("llava-lora", folders, data, 4, 4), need_data=False))[0].total \
        < 7.2e9  # full depth
    assert len(RUNS) >= 12


@pytest.mark.slow
def test_gpu_check_dry_run_runs_on_the_cpu():
    result = subprocess.run(["bash", "scripts/gpu_check.sh", "--dry-run", "--runs", "recipes,variants"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "llava-packed" in result.stdout and "qwen-zero2" in result.stdout and " GiB" in result.stdout
    for recipe in ("recipe-geollava_paper-video_llava", "recipe-lora-llava-geochat", "recipe-qwen3_vl-qwen3_vl"):
        assert recipe in result.stdout  # every shipped recipe at its released shape, full depth


def qwen2_5_vl_7b():
    from transformers import Qwen2_5_VLConfig

    return Qwen2_5_VLConfig(
        vision_config=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                           fullatt_block_indexes=[7, 15, 23, 31]),
        text_config=dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                         num_key_value_heads=4, vocab_size=152064,
                         rope_parameters={"rope_type": "default", "mrope_section": [16, 24, 24], "rope_theta": 1e6}),
        tie_word_embeddings=False)


def qwen3_vl_8b():
    from transformers import Qwen3VLConfig

    return Qwen3VLConfig(
        vision_config=dict(depth=27, hidden_size=1152, intermediate_size=4304, num_heads=16, out_hidden_size=4096,
                           patch_size=16, num_position_embeddings=2304, deepstack_visual_indexes=[8, 16, 24]),
        text_config=dict(hidden_size=4096, intermediate_size=12288, num_hidden_layers=36, num_attention_heads=32,
                         num_key_value_heads=8, head_dim=128, vocab_size=151936,
                         rope_parameters={"rope_type": "default", "mrope_section": [24, 20, 20],
                                          "mrope_interleaved": True, "rope_theta": 5e6}),
        tie_word_embeddings=False)


def llava_onevision_7b():
    from transformers import LlavaOnevisionConfig, Qwen2Config, SiglipVisionConfig

    vision = SiglipVisionConfig(hidden_size=1152, intermediate_size=4304, num_hidden_layers=26, num_attention_heads=16,
                                image_size=384, patch_size=14)
    text = Qwen2Config(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                       num_key_value_heads=4, vocab_size=152128)
    return LlavaOnevisionConfig(vision_config=vision.to_dict(), text_config=text, image_token_index=151646,
                                video_token_index=151647, vision_feature_layer=-1,
                                vision_feature_select_strategy="full", tie_word_embeddings=False)


# family -> (7B-shaped config, published parameter count in billions, tokens per 448 x 448 frame)
SHAPES = {"qwen2_5_vl": (qwen2_5_vl_7b, 8.29, 256), "qwen3_vl": (qwen3_vl_8b, 8.77, 196),
          "llava_onevision": (llava_onevision_7b, 8.03, 196)}


@pytest.mark.parametrize("family", sorted(SHAPES))
def test_plan_answers_for_each_new_family_at_7b(family, tmp_path):
    """Sizes within 1 % of the published counts; Qwen's visual tokens from the frame's size and max_pixels."""
    import numpy as np
    from PIL import Image

    build, billions, per_frame = SHAPES[family]
    folder = tmp_path / family
    build().save_pretrained(folder)
    Image.fromarray(np.zeros((448, 448, 3), np.uint8)).save(tmp_path / "f.png")
    data = write_json(tmp_path / "train.json", [{"id": "a", "video": ["f.png", "f.png"], "conversations": [
        {"from": "human", "value": "<video>\nWhat changed?"}, {"from": "gpt", "value": "Nothing."}]}])
    config = lambda *extra: load_config([str(REPO_ROOT / "configs" / "lora.yaml"), "--family", family,  # noqa
                                          "--model_name_or_path", str(folder), "--train_data", str(data),
                                          "--media_root", str(tmp_path), "--num_frames", "2", *map(str, extra)])
    sizes, tokens, p = estimate(config())
    assert abs(sizes.total / 1e9 - billions) < 0.01 * billions, sizes.total
    assert sizes.projector > 0 and sizes.vision > 0 and len(sizes.lora_targets) == 7 * sizes.layers
    assert tokens == per_frame  # Qwen2.5: 448 / 28 = 16² merged; Qwen3: 448 / 32 = 14²; OneVision: 27² pooled to 14²
    if family != "llava_onevision":
        assert any("448 x 448 px frames (record a of" in note for note in p.notes)
        assert estimate(config("--max_pixels", 224 * 224))[1] < per_frame / 3


def test_a_model_folder_without_a_tokenizer_falls_back_to_256_text_tokens(llava_7b, tmp_path, capsys):
    """config.json alone and an existing train_data: transformers cannot build a tokenizer there (it would try to
    convert a slow one); the planner says so in one line and plans with 256 text tokens."""
    import shutil

    from geollava.launch import plan

    config_only = tmp_path / "config_only"
    config_only.mkdir()
    shutil.copy(llava_7b / "config.json", config_only / "config.json")
    write_image(tmp_path / "a.png")
    data = write_json(tmp_path / "train.json", [{"id": "a", "image": "a.png", "conversations": [
        {"from": "human", "value": "<image>\nWhat is here?"}, {"from": "gpt", "value": "A harbour."}]}])
    argv = [str(REPO_ROOT / "configs" / "lora.yaml"), "--family", "llava", "--model_name_or_path",
            str(config_only), "--train_data", str(data), "--deepspeed", "null", "--gpu-memory", "141"]
    assert plan(argv) == 0
    out = capsys.readouterr().out
    line = out.splitlines()[0]
    assert line.startswith("text tokens per sample: 256 (default;") and "has no tokenizer that loads" in line
    assert "Traceback" not in out
    assert plan(argv + ["--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["fits"] is True and answer["text_tokens"] == 256 and answer["total_gib"] > 10
    assert answer["rows_gib"]["parameters (frozen + trainable)"] > 12  # 7 B in 16 bit


def test_a_grpo_config_plans_generation_the_kl_reference_and_no_full_logits(llava_7b, tmp_path):
    """configs/grpo.yaml on a 7B base: the local generation batch's KV cache (per-device batch x steps per
    generation sequences of visual + text + completion tokens), the KL reference a frozen copy of the adapter when
    beta > 0, log-probabilities from TRL's fused head instead of full logits; generating and training take
    turns, so the total counts the larger phase."""
    data = write_json(tmp_path / "empty.json", [])
    argv = [str(REPO_ROOT / "configs" / "grpo.yaml"), "--init_from", str(llava_7b), "--family", "llava",
            "--train_data", str(data), "--deepspeed", "null", "--num_frames", "1"]
    config = load_config(argv, need_data=False)
    assert config.recipe.command == "grpo" and config.model.model_name_or_path == str(llava_7b)
    sizes, per_frame, p = estimate(config, text_tokens=100)
    rows = dict(p.rows)
    sequence = 576 + 100 + 256
    generated = 8 * 4  # per_device_train_batch_size x steps_per_generation (= gradient_accumulation_steps)
    assert p.sequence == sequence
    assert rows[f"generation KV cache ({generated} sequences x {sequence} tokens)"] == \
        2 * 32 * 4096 * sequence * generated * 2
    assert "logits and loss (fp32)" not in rows and "KL reference (beta > 0)" not in rows
    assert rows["log-probabilities (fused LM head tiles)"] == 8 * 256 * 32064 * (2 + 4)
    training = sum(v for k, v in rows.items() if k.startswith(("activations", "log-probabilities")))
    assert p.total == pytest.approx(sum(rows.values()) - min(training, rows[next(k for k in rows
                                                                                 if k.startswith("generation"))]))
    with_kl = dict(estimate(load_config([*argv, "--beta", "0.04"], need_data=False), text_tokens=100)[2].rows)
    lora = sum(64 * (i + o) for i, o in sizes.lora_targets.values())
    assert with_kl["KL reference (beta > 0)"] == lora * 4  # PEFT keeps the copied adapter in fp32


def test_the_cheapest_deepspeed_stage_that_fits_is_recommended(llava_7b, tmp_path):
    """LoRA on a 7B base that fits whole in 80 GiB: ZeRO-2 (no parameter gathered) over the config's ZeRO-3; on
    16 GiB GPUs it does not fit whole, and ZeRO-3 is the cheapest stage that does."""
    from geollava.plan import recommend_deepspeed

    config = config_for(llava_7b, tmp_path, "--deepspeed", REPO_ROOT / "configs/deepspeed/zero3.json")
    sizes, per_frame, _ = estimate(config, gpus=8)
    stage, why = recommend_deepspeed(config, sizes, per_frame, 8, 1, 256, 80.0)
    assert Path(stage).name == "zero2.json" and "no parameter is gathered" in why
    stage, why = recommend_deepspeed(config, sizes, per_frame, 8, 1, 256, 16.0)
    assert Path(stage).name == "zero3.json" and "ZeRO-3 is the cheapest stage that fits" in why


@pytest.mark.slow
def test_the_launcher_takes_the_cheaper_stage_and_says_why(llava_7b, tmp_path):
    argv = ["configs/lora.yaml", "--family", "llava", "--model_name_or_path", llava_7b, "--train_data",
            tmp_path / "later.json", "--output_dir", tmp_path / "run", "--dry-run"]
    env = {**os.environ, "GPU_MEMORY_GIB": "80", "NUM_GPUS": "8"}
    result = subprocess.run(["bash", "scripts/finetune_lora.sh", *map(str, argv)], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "[launch] deepspeed configs/deepspeed/zero2.json instead of the config's: ZeRO-2" in result.stdout
    assert "--deepspeed configs/deepspeed/zero2.json" in result.stdout.splitlines()[-1]
    kept = subprocess.run(["bash", "scripts/finetune_lora.sh", *map(str, argv)], cwd=REPO_ROOT,
                          env={**env, "KEEP_ZERO_STAGE": "1"}, capture_output=True, text=True, timeout=600)
    assert "instead of the config's" not in kept.stdout and "zero2" not in kept.stdout.splitlines()[-1]
    saved = tmp_path / "run" / "checkpoint-10"  # a run saved under ZeRO-3 resumes under ZeRO-3, whatever the plan
    saved.mkdir(parents=True)
    (saved / "geollava_config.yaml").write_text("deepspeed: configs/deepspeed/zero3.json\n")
    (saved / "geollava_complete.json").write_text('{"step": 10}\n')
    resumed = subprocess.run(["bash", "scripts/finetune_lora.sh", *map(str, argv)], cwd=REPO_ROOT, env=env,
                             capture_output=True, text=True, timeout=600)
    assert "has checkpoints: deepspeed configs/deepspeed/zero3.json, as they were saved" in resumed.stdout
    assert resumed.stdout.splitlines()[-1].endswith("--deepspeed configs/deepspeed/zero3.json")


def test_a_token_budget_is_planned_full_whatever_the_batch_size(llava_7b, tmp_path):
    # token-budget micro-batches fill to the budget and ignore per_device_train_batch_size
    activations = lambda p: next(what for what, _ in p.rows if what.startswith("activations"))  # noqa: E731
    small = estimate(config_for(llava_7b, tmp_path, "--per_device_train_batch_size", 1,
                                "--max_tokens_per_batch", 16000))[2]
    assert "x 16000 tokens" in activations(small)
    eager = lambda *extra: dict(estimate(config_for(llava_7b, tmp_path, "--attn_implementation", "eager",  # noqa: E731
                                                    "--max_tokens_per_batch", 16000, *extra))[2].rows)
    padded, packed = eager()["attention probabilities (eager)"], eager("--padding_free", "true")[
        "attention probabilities (eager)"]
    assert packed > 10 * padded  # one packed row of 16,000 tokens: its scores are 16,000 squared
