"""Training on mixtures: change videos and single-image tasks in one run, each family taking images its own way,
and a sampler that never lets ZeRO-3 ranks run different towers at the same step."""
import os
import subprocess

import pytest
import torch

from geollava.launch import load_config
from geollava.families import FAMILIES
from geollava.sft.trainer import EpochLengthGroupedSampler
from geollava.sft.train import build_trainer

from helpers import REPO_ROOT, tiny_argv


def mixed_trainer(tmp_path, synth_set, task_set, tiny_models, family, *extra):
    argv = tiny_argv(tmp_path / "run", synth_set, tiny_models[family], family, *extra)
    argv[argv.index("--train_data") + 1:argv.index("--train_data") + 2] = [str(synth_set / "train.json"),
                                                                          str(task_set / "train.json")]
    trainer, _ = build_trainer(load_config(argv))
    return trainer


def test_a_mixture_weights_each_file_by_its_ratio(tmp_path, synth_set, task_set, tiny_models):
    trainer = mixed_trainer(tmp_path, synth_set, task_set, tiny_models, "llava", "--train_data_ratios", 0.5, 2)
    dataset = trainer.train_dataset
    assert len(dataset) == 8 + 40  # half of the 16 videos, every one of the 20 task images twice
    ids = [dataset[i]["id"] for i in range(len(dataset))]
    assert len({i for i in ids if i.startswith("synth_train")}) == 8
    tasks = [i for i in ids if not i.startswith("synth_train")]
    assert len(tasks) == 40 and all(tasks.count(i) == 2 for i in tasks)
    assert set(dataset.media) == {"image"}  # LLaVA: frames and single images alike are images
    with pytest.raises(Exception, match="one positive number per train_data file"):
        mixed_trainer(tmp_path / "bad", synth_set, task_set, tiny_models, "llava", "--train_data_ratios", 1)


@pytest.mark.parametrize("family", ["llava", "video_llava", "llava_next_video"])
def test_single_images_take_the_familys_image_path(tmp_path, synth_set, task_set, tiny_models, family):
    trainer = mixed_trainer(tmp_path, synth_set, task_set, tiny_models, family)
    dataset, config = trainer.train_dataset, trainer.model.config
    video = next(i for i in range(len(dataset)) if dataset[i]["id"].startswith("synth_train"))
    image = next(i for i in range(len(dataset)) if dataset[i]["id"].startswith("synth_refer"))
    item = dataset[image]
    spec = FAMILIES[family]
    if family == "llava_next_video":  # no image path for per-frame preprocessing: a still video of 4 frames
        assert item["media"] == "video" and item["pixels"].shape[0] == 4
        assert (item["input_ids"] == config.video_token_id).sum() == spec.tokens_per_placeholder(config, 4)
    else:
        assert item["media"] == "image" and item["pixels"].shape[0] == 1
        assert (item["input_ids"] == config.image_token_id).sum() == spec.tokens_per_image(config)
        assert "[refer]" in trainer.processing_class.decode(item["input_ids"])
    batch = trainer.data_collator([dataset[video], item])
    keys = {"llava": {"pixel_values"}, "video_llava": {"pixel_values", "pixel_values_videos"},
            "llava_next_video": {"pixel_values_videos"}}[family]
    assert keys == {k for k in batch if k.startswith("pixel_values")}
    trainer.model.train()
    loss = trainer.model(**batch).loss  # placeholders and features agree, for both kinds in one batch
    loss.backward()
    assert torch.isfinite(loss)


def test_the_sampler_gives_every_rank_the_same_media_at_each_step():
    media = ["image"] * 13 + ["video"] * 7
    sampler = EpochLengthGroupedSampler(2, list(range(5, 25)), seed=3, media=media, step_size=4)
    order = list(sampler)
    assert len(order) == len(sampler) == 16 + 8  # each kind filled up to whole steps
    assert all(len({media[i] for i in order[k:k + 4]}) == 1 for k in range(0, len(order), 4))
    assert {media[order[k]] for k in range(0, len(order), 4)} == {"image", "video"}
    assert list(sampler) == order, "a function of (seed, epoch)"
    sampler.set_epoch(1)
    assert list(sampler) != order
    plain = EpochLengthGroupedSampler(2, list(range(5, 25)), seed=3)
    assert sorted(plain) == list(range(20))


@pytest.mark.slow
def test_mixed_images_and_videos_train_under_zero3_on_two_processes(tmp_path, synth_set, task_set, tiny_models):
    """Video-LLaVA: videos go through the video tower, images through the image tower; with a mixture, a rank
    whose micro-batch skipped a tower while the other ran it would hang ZeRO-3. It must finish, promptly."""
    env = {**os.environ, "NUM_GPUS": "2", "MASTER_PORT": "29547",
           "TORCH_EXTENSIONS_DIR": str(REPO_ROOT / ".venv" / "torch_extensions")}
    argv = tiny_argv(tmp_path / "z3", synth_set, tiny_models["video_llava"], "video_llava", "--max_steps", 6,
                     "--deepspeed", "configs/deepspeed/zero3.json", "--per_device_train_batch_size", 2)
    argv[argv.index("--train_data") + 1:argv.index("--train_data") + 2] = [str(synth_set / "train.json"),
                                                                          str(task_set / "train.json")]
    result = subprocess.run(["bash", "scripts/finetune_lora.sh", *argv], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = (tmp_path / "z3" / "train.log").read_text()
    assert "training mixture: 36 samples" in log and "'train_runtime'" in log


@pytest.mark.slow
def test_geochat_instruct_tasks_and_change_videos_train_together_through_the_launch_script(tmp_path, synth_set,
                                                                                           task_set, tiny_models):
    from helpers import cli, write_image, write_json

    write_image(tmp_path / "images" / "P0001.png", 90)
    src = write_json(tmp_path / "GeoChat_Instruct.json", [
        {"id": "P0001", "image": "P0001.png", "conversations": [
            {"from": "human", "value": "<image>\n[refer] where is <p>silver plane</p> ?"},
            {"from": "gpt", "value": "{<16><55><24><63>|<11>}"}]},
        {"id": "P0001", "image": "P0001.png", "conversations": [
            {"from": "human", "value": "<image>\nDescribe the image."}, {"from": "gpt", "value": "An airport."},
            {"from": "human", "value": "How many planes?"}, {"from": "gpt", "value": "One."}]}])
    assert cli("data", "convert", "geochat-instruct", src, "--out", tmp_path / "geochat", "--images",
               tmp_path / "images").returncode == 0
    argv = tiny_argv(tmp_path / "run", synth_set, tiny_models["llava"], "llava", "--max_steps", 4)
    at = argv.index("--train_data") + 1
    argv[at:at + 1] = [str(synth_set / "train.json"), str(tmp_path / "geochat" / "geochat_instruct.json"),
                       str(task_set / "train.json")]
    result = subprocess.run(["bash", "scripts/finetune_lora.sh", *argv, "--train_data_ratios", "1", "4", "1"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = (tmp_path / "run" / "train.log").read_text()
    assert "training mixture: 44 samples" in log  # 16 videos + 2 GeoChat records x 4 + 20 task images
    assert (tmp_path / "run" / "adapter_model.safetensors").is_file()
