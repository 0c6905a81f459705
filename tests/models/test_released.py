"""`geollava model released`: each family's reference checkpoint from its published files — the released config
(only the depth cut), tokenizer, processor and chat template — and the visual tokens a frame makes at the released
geometry. No weights are built here (see test_released_recipes.py for the runs)."""
from __future__ import annotations

import gzip
import hashlib
import json

import pytest
from transformers import AutoImageProcessor

from geollava.cli import main as cli
from geollava.families import FAMILIES
from geollava.models.released import (ReleasedError, blob, build_released, cut_depth, geochat_config, get_released,
                                      released_models, write_files)

RELEASED = sorted(released_models())
GEOCHAT = "MBZUAI/geochat-7B"


def released_config(model_id, tmp_path):
    """(config, image processor) of a released checkpoint, from its files alone."""
    entry = get_released(model_id)
    files = write_files(entry, tmp_path / "files")
    if entry.manifest["build"] == "convert-geochat":
        config, _ = geochat_config(entry, files, tmp_path / "tower")
        from geollava.models.convert_original import converted_config  # noqa: F401  (the processor it writes)

        processor = AutoImageProcessor.from_pretrained(tmp_path / "tower", backend="pil")
        processor.size, processor.crop_size = {"shortest_edge": 504}, {"height": 504, "width": 504}
        return config, processor
    return entry.family.config_class.from_pretrained(files), AutoImageProcessor.from_pretrained(files, backend="pil")


def test_every_family_has_a_released_checkpoint_and_the_list_names_them(capsys):
    assert {released_models()[i].family.name for i in RELEASED} == set(FAMILIES)
    assert len(RELEASED) == 8
    assert cli(["model", "released", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(model_id in listed for model_id in RELEASED)


@pytest.mark.parametrize("model_id", RELEASED)
def test_each_file_is_stored_as_its_sha256_says_with_its_source(model_id):
    entry = get_released(model_id)
    assert entry.manifest["licence"]
    for name, source in entry.files.items():
        data = gzip.decompress(blob(source["sha256"]).read_bytes())
        assert hashlib.sha256(data).hexdigest() == source["sha256"] and len(data) == source["bytes"], name
        assert source.get("commit") and source.get("repo") and source.get("path"), name
    assert "config.json" in entry.files


def test_an_unknown_id_is_one_line_naming_the_known_ones(tmp_path, capsys):
    assert cli(["model", "released", "llava-hf/llava-2-70b", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "llava-hf/llava-1.5-7b-hf" in err and "Qwen/Qwen3-VL-8B-Instruct" in err
    with pytest.raises(ReleasedError, match="at least 1"):
        build_released(RELEASED[0], 0, tmp_path / "y")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("model_id", RELEASED)
def test_the_cut_keeps_every_width_vocabulary_and_token_id(model_id, tmp_path):
    """Only the depth (and the per-layer lists and layer indexes that follow it) differ from the release."""
    config, _ = released_config(model_id, tmp_path)
    before = config.to_dict()
    cut = cut_depth(config, 1)
    after = config.to_dict()
    changed = {f"{part}.{k}" for part in ("text_config", "vision_config") for k in before.get(part) or {}
               if before[part][k] != after[part][k]}
    assert changed == set(cut) | {k for k in changed if k.endswith(".layer_types")}
    assert all(v[1] == 1 or isinstance(v[1], list) for v in cut.values())
    assert {k: v for k, v in before.items() if not k.endswith("_config")} == \
        {k: v for k, v in after.items() if not k.endswith("_config")}


# visual tokens per frame at the released geometry: (frame height, width) -> tokens
VISUAL_TOKENS = {
    "llava-hf/llava-1.5-7b-hf": ((336, 336), 576),  # (336 / 14)^2, CLS dropped
    GEOCHAT: ((504, 504), 1296),  # (504 / 14)^2 after the position interpolation
    "LanguageBind/Video-LLaVA-7B-hf": ((224, 224), 257),  # (224 / 14)^2 + CLS, kept for video frames
    "llava-hf/LLaVA-NeXT-Video-7B-hf": ((336, 336), 144),  # 24 x 24 patches pooled 2 x 2
    "llava-hf/llava-onevision-qwen2-7b-ov-hf": ((384, 384), 196),  # 27 x 27 pooled to 14 x 14 (+1 newline a video)
    "Qwen/Qwen2.5-VL-7B-Instruct": ((448, 672), 448 * 672 // 28 ** 2),  # one per 28 x 28 px
    "Qwen/Qwen3-VL-8B-Instruct": ((512, 768), 512 * 768 // 32 ** 2),  # one per 32 x 32 px
    "OpenGVLab/InternVL3-8B-hf": ((448, 448), 256),  # (448 / 14)^2 pixel-shuffled 0.5 x 0.5: image_seq_length
}


@pytest.mark.parametrize("model_id", RELEASED)
def test_a_frame_makes_the_released_visual_tokens(model_id, tmp_path):
    config, processor = released_config(model_id, tmp_path)
    family = get_released(model_id).family
    (height, width), tokens = VISUAL_TOKENS[model_id]
    if family.visual_tokens == "dynamic":
        assert family.dynamic_tokens(processor, height, width) == tokens
    else:
        assert family.tokens_per_frame(config) == tokens
        side = config.vision_config.image_size
        assert (side[0] if isinstance(side, list) else side) == height
    if family.frames_as == "video":
        assert family.tokens_per_placeholder(config, 2) == 2 * tokens + family.video_extra_tokens


@pytest.mark.parametrize("case,message", [
    ("no tokenizer", "has no tokenizer"), ("no processor", "has no image processor"),
    ("other family", "holds a 'llava' model, but family qwen2_5_vl loads 'qwen2_5_vl' models; set family: llava"),
    ("original layout", "convert it first (geollava model convert-geochat)")])
def test_a_folder_that_cannot_be_the_model_is_one_line_before_any_model_loads(tmp_path, case, message):
    """The released LLaVA-1.5 folder (no weights), broken as a user might: the checks `geollava train`, `geollava
    grpo` and the launchers (--dry-run too) run first name it; the planner needs only the config."""
    from geollava.config import ConfigError, check_model_files
    from geollava.launch import load_config
    from helpers import REPO_ROOT, write_json

    folder = build_released("llava-hf/llava-1.5-7b-hf", 1, tmp_path / "llava", weights=False)
    family = "llava"
    if case == "no tokenizer":
        for name in ("tokenizer.json", "tokenizer.model"):
            (folder / name).unlink()
    elif case == "no processor":
        for name in ("preprocessor_config.json", "processor_config.json"):
            (folder / name).unlink()
    elif case == "other family":
        family = "qwen2_5_vl"
    else:
        write_files(get_released(GEOCHAT), folder)  # GeoChat's own config.json: model_type geochat
    data = write_json(tmp_path / "train.json", [])
    with pytest.raises(ConfigError) as error:
        check_model_files(load_config([str(REPO_ROOT / "configs" / "lora.yaml"), "--family", family,
                                        "--model_name_or_path", str(folder), "--train_data", str(data),
                                        "--output_dir", str(tmp_path / "run")]))
    assert message in str(error.value) and "\n" not in str(error.value)
