"""Config parsing: every shipped config loads; mistakes are one clear error before any model is loaded."""
import subprocess
import sys

import pytest

from geollava.config import ConfigError, parse_config

from helpers import REPO_ROOT, write_json

SHIPPED = sorted((REPO_ROOT / "configs").glob("*.yaml"))


@pytest.fixture
def annotations(tmp_path):
    return write_json(tmp_path / "train.json", [])


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_config_parses(path, annotations):
    config = parse_config([str(path), "--train_data", str(annotations)])
    assert config.model.family in ("llava", "video_llava", "llava_next_video")
    assert path.read_text().startswith("#"), "each config starts with a comment showing how to launch it"
    assert "bash scripts/finetune_" in path.read_text().split("\n\n")[0]


def test_recipes_carry_geollava_values(annotations):
    for name, bits in (("lora.yaml", 16), ("qlora.yaml", 4)):
        c = parse_config([str(REPO_ROOT / "configs" / name), "--train_data", str(annotations)])
        assert (c.lora.lora_r, c.lora.lora_alpha, c.lora.lora_dropout, c.lora.bits) == (64, 128, 0.1, bits)
        assert c.train.learning_rate == 1e-4 and c.train.num_train_epochs == 1
        assert c.model.model_name_or_path == "LanguageBind/Video-LLaVA-7B-hf"
        assert c.train.deepspeed.endswith("zero3.json")


def test_command_line_overrides_yaml(annotations):
    c = parse_config([str(REPO_ROOT / "configs" / "tiny.yaml"), "--train_data", str(annotations),
                      "--learning_rate", "3e-5", "--lora_target_modules", "q_proj", "v_proj",
                      "--tiny_model.text_layers", "3", "--deepspeed", "null"])
    assert c.train.learning_rate == 3e-5 and c.lora.lora_target_modules == ["q_proj", "v_proj"]
    assert c.tiny_model.text_layers == 3 and c.tiny_model.text_hidden == 128 and c.train.deepspeed is None


@pytest.mark.parametrize("yaml_text,extra,message", [
    ("lora_alhpa: 8\n", [], "unknown key(s) lora_alhpa (did you mean lora_alpha?)"),
    ("tiny_model:\n  layers: 2\n", [], "unknown tiny_model key(s) layers"),
    ("lora_r: eight\n", [], "invalid value"),
    ("bits: 4\nlora_enable: false\n", [], "needs lora_enable: true"),
    ("deepspeed: configs/deepspeed/zero3.json\ndevice_map: auto\n", [], "cannot be combined with DeepSpeed ZeRO-3"),
    ("", ["--train_data", "/nowhere/train.json"], "train_data: /nowhere/train.json does not exist"),
    ("bits: 3\n", [], "bits must be 16, 8 or 4"),
    ("global_batch_size: 10\nper_device_train_batch_size: 4\n", [], "global batch 10 is not divisible"),
    ("model_name_or_path: some/model\n", [], "exactly one model source"),
])
def test_bad_configuration_is_one_clear_error(tmp_path, annotations, yaml_text, extra, message):
    path = tmp_path / "c.yaml"
    base = (REPO_ROOT / "configs" / "tiny.yaml").read_text()
    path.write_text(base + "\n" + yaml_text)
    with pytest.raises(ConfigError) as error:
        parse_config([str(path), "--train_data", str(annotations), *extra])
    assert message in str(error.value)


def test_missing_train_data_is_refused_before_loading(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text((REPO_ROOT / "configs" / "tiny.yaml").read_text().replace("train_data:", "# train_data:"))
    result = subprocess.run([sys.executable, "-m", "geollava.cli", "prepare", str(path),
                             "--output_dir", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "train_data is not set" in result.stderr
    assert not (tmp_path / "out").exists(), "nothing may be built for a config that cannot run"


def test_global_batch_from_the_environment(annotations, monkeypatch):
    monkeypatch.setenv("GLOBAL_BATCH", "32")
    c = parse_config([str(REPO_ROOT / "configs" / "tiny.yaml"), "--train_data", str(annotations)])
    assert c.train.gradient_accumulation_steps == 8  # 32 / (4 per device x 1 process)
