"""The Qwen2.5-VL, Qwen3-VL and LLaVA-OneVision families: frames of any size through Qwen's dynamic resolution,
batched generation, and training under ZeRO-3 on two CPU processes then eval.py, through the launch script."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from geollava.config import ConfigError
from geollava.launch import load_config
from geollava.data.dataset import AnnotationDataset
from geollava.data.prompt import PromptSettings
from geollava.data.validate import load_records
from geollava.families import FAMILIES
from geollava.evaluation.generate import generate_predictions
from geollava.models.load import load_model, load_processors
from geollava.evaluation.predictions import load_predictions
from geollava.sft.train import build_trainer

from helpers import REPO_ROOT, tiny_argv, write_json

QWEN = ["qwen2_5_vl", "qwen3_vl"]
NEW = [*QWEN, "llava_onevision"]
SIZES = [(64, 64), (64, 128), (96, 48), (40, 40)]  # height x width of each record's two frames


@pytest.fixture(scope="module")
def sized_set(tmp_path_factory):
    """Four frame-pair records, each at its own size (PNG frames with dates)."""
    root = tmp_path_factory.mktemp("sized")
    rng = np.random.default_rng(0)
    records = []
    for k, (h, w) in enumerate(SIZES):
        names = [f"r{k}_{f}.png" for f in range(2)]
        for name in names:
            Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / name)
        records.append({"id": f"r{k}", "video": names, "timestamp": ["2016-01-01", "2019-06-30"],
                        "conversations": [{"from": "human", "value": "<video>\nWhat changed?"},
                                          {"from": "gpt", "value": f"{k + 1} new buildings."}]})
    write_json(root / "train.json", records)
    return root


def trainer_for(tmp_path, data, tiny_models, family, *extra):
    config = load_config(tiny_argv(tmp_path / "run", data, tiny_models[family], family, "--num_frames", 2, *extra))
    return build_trainer(config)[0]


@pytest.mark.parametrize("family", QWEN)
def test_each_frame_gets_the_tokens_of_its_own_size(tmp_path, sized_set, tiny_models, family):
    """Tiny processor: min_pixels 32², max_pixels 64², patch 8, merge 2 (16 px per token side)."""
    trainer = trainer_for(tmp_path, sized_set, tiny_models, family)
    dataset, spec = trainer.train_dataset, FAMILIES[family]
    image_id = spec.media_token_id(trainer.model.config)
    # 64x64 stays; 64x128 shrinks to 32x80 and 96x48 to 80x32 (area <= 64²); 40x40 rounds to 32x32 (sides of 16)
    grids = {"r0": [1, 8, 8], "r1": [1, 4, 10], "r2": [1, 10, 4], "r3": [1, 4, 4]}
    for i in range(len(dataset)):
        item = dataset[i]
        t, h, w = grids[item["id"]]
        assert int((item["input_ids"] == image_id).sum()) == 2 * (t * h * w // 4), item["id"]
        assert item["grid"].tolist() == [grids[item["id"]]] * 2
        assert dataset.lengths[i] == len(item["input_ids"])
        assert item["mm_token_type_ids"].sum() == (item["input_ids"] == image_id).sum()
    batch = trainer.data_collator([dataset[i] for i in range(len(dataset))])
    assert batch["image_grid_thw"].shape == (8, 3)
    assert len(batch["pixel_values"]) == int(batch["image_grid_thw"].prod(dim=1).sum())
    loss = trainer.model(**batch).loss  # the model's own check: image features == image tokens
    assert torch.isfinite(loss)
    text = trainer.processing_class.decode(dataset[0]["input_ids"])
    assert "Frame 1 (2016-01-01): <|vision_start|><|image_pad|>" in text
    # each model's own template: Qwen2.5-VL's writes "You are a helpful assistant." when given none, Qwen3-VL's none
    assert text.startswith("<|im_start|>system") == (family == "qwen2_5_vl")


def test_max_pixels_bounds_the_tokens_and_is_saved_with_the_checkpoint(tmp_path, sized_set, tiny_models):
    trainer = trainer_for(tmp_path, sized_set, tiny_models, "qwen2_5_vl", "--max_pixels", 32 * 32)
    image_id = trainer.model.config.image_token_id
    assert int((trainer.train_dataset[0]["input_ids"] == image_id).sum()) == 2 * 4  # 64x64 -> 32x32: 2 x 2
    trainer.save_model(tmp_path / "saved")
    trainer.train_dataset.image_processor.save_pretrained(tmp_path / "saved")
    _, processor = load_processors(str(tmp_path / "saved"))
    assert processor.size["longest_edge"] == 32 * 32
    with pytest.raises(ConfigError, match="min_pixels / max_pixels set the resolution of Qwen"):
        load_config(tiny_argv(tmp_path / "x", sized_set, tiny_models["llava"], "llava", "--max_pixels", 1024))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_batched_generation_equals_one_by_one(tmp_path, sized_set, synth_set, tiny_models, family):
    """Left padding with an attention mask (M-RoPE positions included) gives each sample its one-by-one text;
    frames of different sizes where the family's tokens depend on them."""
    dynamic = FAMILIES[family].visual_tokens == "dynamic"
    data = sized_set if dynamic else synth_set
    folder = str(tiny_models[family])
    model = load_model(folder, family)
    tokenizer, processor = load_processors(folder)
    records = load_records(data / ("train.json" if dynamic else "val.json"))
    dataset = AnnotationDataset(records, data, FAMILIES[family], model.config, tokenizer, processor,
                                   PromptSettings(num_frames=2 if dynamic else 4), for_generation=True)
    batched = generate_predictions(model, tokenizer, dataset, tmp_path / "b.jsonl", "base", batch_size=4,
                                   max_new_tokens=10, num_workers=0)
    single = generate_predictions(model, tokenizer, dataset, tmp_path / "s.jsonl", "base", batch_size=1,
                                  max_new_tokens=10, num_workers=0)
    by_id = lambda p: {r["id"]: r["prediction"] for r in load_predictions(p)}  # noqa: E731
    assert by_id(batched) == by_id(single) and len(by_id(single)) == len(records)
    assert len(set(by_id(single).values())) > 1  # a random model says varied things
    assert len(set(dataset.lengths)) > 1  # prompts of different lengths were padded together


@pytest.mark.slow
@pytest.mark.parametrize("family", NEW)
def test_zero3_on_two_processes_then_eval_py(tmp_path, synth_set, tiny_models, family):
    """`bash scripts/finetune_lora.sh configs/tiny.yaml` with only the family changed, under ZeRO-3 on two CPU
    processes; the checkpoint holds LoRA and the projector, gathered; eval.py generates and scores it."""
    port = {"qwen2_5_vl": "29551", "qwen3_vl": "29552", "llava_onevision": "29553"}[family]
    env = {**os.environ, "NUM_GPUS": "2", "MASTER_PORT": port,
           "TORCH_EXTENSIONS_DIR": str(REPO_ROOT / ".venv" / "torch_extensions")}
    out = tmp_path / "z3"
    argv = tiny_argv(out, synth_set, tiny_models[family], family, "--max_steps", 2, "--save_steps", 2,
                     "--deepspeed", "configs/deepspeed/zero3.json")
    result = subprocess.run(["bash", "scripts/finetune_lora.sh", *argv], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    tensors = load_file(out / "adapter_model.safetensors")
    assert tensors and not [k for k, t in tensors.items() if t.numel() == 0]
    projector = FAMILIES[family].projector.split(".")[-1]
    assert any(f"{projector}." in k for k in tensors) and any("lora_B" in k for k in tensors)
    scored = subprocess.run([sys.executable, "scripts/eval.py", "--checkpoint", str(out), "--data",
                             str(synth_set / "val.json"), "--output-dir", str(tmp_path / "eval"), "--max-new-tokens",
                             "6", "--num-workers", "0", "--no-meteor"], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=600)
    assert scored.returncode == 0, scored.stderr[-3000:]
    rows = load_predictions(tmp_path / "eval" / "final" / "predictions.jsonl")
    assert len(rows) == 6 and "| final | 6 |" in scored.stdout


def test_training_the_qwen_tower_trains_its_merger_with_it(tmp_path, synth_set, tiny_models):
    """tune_vision_tower: the whole ViT is one saved copy, the merger inside it included (PEFT cannot nest it)."""
    model = build_trainer(load_config(tiny_argv(tmp_path / "run", synth_set, tiny_models["qwen3_vl"], "qwen3_vl",
                                                 "--tune_vision_tower", "true")))[0].model
    visual = {n: p.requires_grad for n, p in model.named_parameters() if ".visual." in n}
    trained = [n for n, grad in visual.items() if grad]
    assert trained and all("modules_to_save" in n for n in trained)
    assert any(".merger." in n for n in trained) and any(".deepstack_merger_list." in n for n in trained)
    assert any(".blocks." in n for n in trained)
