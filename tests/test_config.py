"""Config parsing: every shipped config loads; mistakes are one clear error before any model is loaded."""
import subprocess
import sys

import pytest

from geollava.config import ConfigError
from geollava.launch import load_config
from geollava.families import FAMILIES

from helpers import REPO_ROOT, write_json

SHIPPED = sorted((REPO_ROOT / "configs").glob("*.yaml"))


@pytest.fixture
def annotations(tmp_path):
    return write_json(tmp_path / "train.json", [])


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_config_parses(path, annotations):
    config = load_config([str(path), "--train_data", str(annotations)])
    assert config.model.family in FAMILIES
    assert path.read_text().startswith("#"), "each config starts with a comment showing how to launch it"
    assert "bash scripts/finetune_" in path.read_text().split("\n\n")[0]


def test_recipes_carry_geollava_values(annotations):
    for name, bits in (("lora.yaml", 16), ("qlora.yaml", 4)):
        c = load_config([str(REPO_ROOT / "configs" / name), "--train_data", str(annotations)])
        assert (c.lora.lora_r, c.lora.lora_alpha, c.lora.lora_dropout, c.lora.bits) == (64, 128, 0.1, bits)
        assert c.train.learning_rate == 1e-4 and c.train.num_train_epochs == 1
        assert c.model.model_name_or_path == "LanguageBind/Video-LLaVA-7B-hf"
        assert c.train.deepspeed.endswith("zero3.json")


def test_command_line_overrides_yaml(annotations):
    c = load_config([str(REPO_ROOT / "configs" / "tiny.yaml"), "--train_data", str(annotations),
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
    ("global_batch_size: 10\nper_device_train_batch_size: 4\n", [], "global batch 10 (GLOBAL_BATCH or global_batch_size) is not divisible"),
    ("model_name_or_path: some/model\n", [], "exactly one model source"),
    ("learning_rate: fast\n", [], "learning_rate: invalid value 'fast'"),
    ("bf16: maybe\n", [], "bf16: invalid value 'maybe'"),
    ("lr_scheduler_type: wobbly\n", [], "lr_scheduler_type: invalid value 'wobbly'"),
    ("num_frames: [1, 2]\n", [], "num_frames: invalid value [1, 2]: expected int (expected one value, not a list)"),
    ("too_long: cut\n", [], "too_long must be skip or truncate_answer"),
    ("attn_implementation: flash\n", [], "attn_implementation must be one of sdpa, flash_attention_2, eager"),
    ("attn_implementation: flash_attention_2\n", [], "flash_attention_2 needs a CUDA GPU and the flash-attn package"),
    ("use_liger_kernel: true\n", [], "use_liger_kernel needs a CUDA GPU and the liger-kernel package"),
    ("max_tokens_per_batch: 0\n", [], "max_tokens_per_batch: 0 cannot work"),
    ("", ["--lora_alhpa", "8"], "the command line: unknown option(s) --lora_alhpa (did you mean lora_alpha?)"),
    ("learning_rate: 1.0e-4\nlora_r: 8\nlearning_rate: 2.0e-4\n", [],
     "key 'learning_rate' is set twice (lines 2 and 4); keep one"),
    ("tiny_model: 5\n", [], "tiny_model must be a mapping of sizes"),
    ("tiny_model:\n  text_hidden: 130\n", [], "tiny_model.text_hidden 130 must be a multiple of 2 x heads (8"),
    ("tiny_model:\n  image_size: 30\n", [], "tiny_model.image_size 30 must be a multiple of patch_size 8"),
    ("lora_target_modules: 7\n", [], "lora_target_modules must list the names of linear layers"),
])
def test_bad_configuration_is_one_clear_error(tmp_path, annotations, yaml_text, extra, message):
    path = tmp_path / "c.yaml"
    path.write_text(f"extends: {REPO_ROOT / 'configs' / 'tiny.yaml'}\n" + yaml_text)
    with pytest.raises(ConfigError) as error:
        load_config([str(path), "--train_data", str(annotations), *extra])
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("content,message", [
    ("extends: [lora.yaml]\n".encode(), "extends must name one config file (extends: lora.yaml), got ['lora.yaml']"),
    ("lora_r: 8\n# r\xe9sum\xe9\n".encode("latin-1"), "not UTF-8 text (byte 13): save it as UTF-8"),
    ("lora_r: [8\n".encode(), "not valid YAML"),
])
def test_a_config_file_that_cannot_be_read_is_one_line(tmp_path, annotations, content, message):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as error:
        load_config([str(path), "--train_data", str(annotations)])
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.slow
def test_missing_train_data_is_refused_before_loading(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text((REPO_ROOT / "configs" / "tiny.yaml").read_text().replace("train_data:", "# train_data:"))
    result = subprocess.run([sys.executable, "-m", "geollava", "train", str(path),
                             "--output_dir", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "train_data is not set" in result.stderr
    assert not (tmp_path / "out").exists(), "nothing may be built for a config that cannot run"


def test_global_batch_from_the_environment(annotations, monkeypatch):
    monkeypatch.setenv("GLOBAL_BATCH", "32")
    c = load_config([str(REPO_ROOT / "configs" / "tiny.yaml"), "--train_data", str(annotations)])
    assert c.train.gradient_accumulation_steps == 8  # 32 / (4 per device x 1 process)


def test_yaml_values_are_typed_like_command_line_words(annotations):
    """YAML reads 1e-4 as a string and a bare number as an int: both must become the field's type."""
    path = annotations.parent / "typed.yaml"
    path.write_text("extends: " + str(REPO_ROOT / "configs" / "tiny.yaml") + "\nlearning_rate: 1e-4\n"
                    "lora_dropout: 0\nlora_target_modules: q_proj\nbf16: false\n")
    c = load_config([str(path), "--train_data", str(annotations)])
    assert c.train.learning_rate == 1e-4 and isinstance(c.train.learning_rate, float)
    assert c.lora.lora_dropout == 0.0 and c.lora.lora_target_modules == ["q_proj"] and c.train.bf16 is False
    assert c.tiny_model.text_hidden == 128, "extends: keeps the parent's tiny_model block"


def test_qlora_recipe_is_the_lora_recipe_with_a_quantized_base(annotations):
    parse = lambda name: load_config([str(REPO_ROOT / "configs" / name), "--train_data", str(annotations)])  # noqa
    lora, qlora = parse("lora.yaml").resolved(), parse("qlora.yaml").resolved()
    differ = {k for k in lora.keys() | qlora.keys() if lora.get(k) != qlora.get(k)}
    assert differ == {"bits", "output_dir"}, differ
    assert "extends: lora.yaml" in (REPO_ROOT / "configs" / "qlora.yaml").read_text()


def test_a_config_that_extends_itself_is_refused(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="extends itself"):
        load_config([str(tmp_path / "a.yaml")])


def test_machine_defaults_come_from_config_parsing(annotations, monkeypatch):
    from geollava.config import device_defaults
    from geollava.sft.train import RECIPE as SFT

    c = load_config([str(REPO_ROOT / "configs" / "tiny.yaml"), "--train_data", str(annotations)])
    assert c.train.use_cpu is True and c.train.ddp_backend is None  # this machine has no GPU
    yaml_path = annotations.parent / "gpu.yaml"
    yaml_path.write_text(f"extends: {REPO_ROOT / 'configs' / 'tiny.yaml'}\nuse_cpu: false\n")
    assert load_config([str(yaml_path), "--train_data", str(annotations)]).train.use_cpu is False  # YAML wins
    monkeypatch.setenv("WORLD_SIZE", "2")  # (a parse would now start a process group: the 2-process tests do)
    assert device_defaults(SFT) == {"use_cpu": True, "ddp_backend": "gloo"}


def test_prompt_settings_are_one_group_of_the_config(annotations):
    c = load_config([str(REPO_ROOT / "configs" / "tiny.yaml"), "--train_data", str(annotations),
                      "--num_frames", "2", "--image_aspect_ratio", "pad", "--model_max_length", "512"])
    assert (c.prompt.num_frames, c.prompt.image_aspect_ratio, c.prompt.model_max_length) == (2, "pad", 512)
    assert c.prompt.question and c.prompt.too_long == "skip"


def test_plan_needs_no_data(tmp_path):
    c = load_config([str(REPO_ROOT / "configs" / "tiny.yaml"), "--train_data", str(tmp_path / "later.json")],
                     need_data=False)
    assert c.data.train_data[0].endswith("later.json")


@pytest.mark.parametrize("override,key", [
    (["--learning_rate", "-1"], "learning_rate"), (["--lora_r", "0"], "lora_r"),
    (["--per_device_train_batch_size", "0"], "per_device_train_batch_size"), (["--lora_dropout", "1.5"], "lora_dropout"),
    (["--max_steps", "-5"], "max_steps"), (["--max_steps", "-1", "--num_train_epochs", "0"], "num_train_epochs"),
    (["--gradient_accumulation_steps", "0"], "gradient_accumulation_steps"), (["--mm_projector_lr", "0"], "mm_projector_lr"),
    (["--save_steps", "0"], "save_steps"), (["--lora_alpha", "-8"], "lora_alpha"),
])
def test_values_that_cannot_work_are_refused_naming_the_key(annotations, override, key):
    with pytest.raises(ConfigError) as error:
        load_config([str(REPO_ROOT / "configs" / "tiny.yaml"), "--train_data", str(annotations), *override])
    assert f": {key}: " in str(error.value) and "cannot work; it must be" in str(error.value)


def test_an_output_folder_that_cannot_be_written_is_refused_before_anything_loads(annotations, tmp_path):
    # /proc takes no new files, even from root (a chmod 555 folder would not stop root)
    with pytest.raises(ConfigError, match=r"output_dir: cannot write in /proc"):
        load_config([str(REPO_ROOT / "configs" / "tiny.yaml"), "--train_data", str(annotations), "--output_dir",
                      "/proc/geollava-run"])
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        load_config([str(REPO_ROOT / "configs" / "tiny.yaml"), "--train_data", str(annotations), "--output_dir",
                      str(tmp_path / "file" / "run")])


@pytest.mark.slow
def test_the_dry_run_refuses_values_that_cannot_work(tmp_path):
    result = subprocess.run(["bash", "scripts/finetune_lora.sh", "configs/tiny.yaml", "--lora_r", "0", "--dry-run"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "lora_r: 0 cannot work; it must be >= 1" in result.stderr


def test_sft_is_refused_another_box_format_than_its_answers():
    from geollava.config import ConfigError
    from geollava.launch import load_config

    with pytest.raises(ConfigError, match="box_format: pixels: SFT answers are trained as the annotations write"):
        load_config([str(REPO_ROOT / "configs" / "tiny.yaml"), "--box_format", "pixels"], need_data=False)


def test_the_old_template_name_vicuna_is_refused_naming_both_sentences():
    # it rendered GeoChat's evaluation sentence before format 2; mapping it silently would change the prompt
    with pytest.raises(ConfigError, match="write llava_v1 for exactly that, or vicuna_v1"):
        load_config([str(REPO_ROOT / "configs" / "tiny.yaml"), "--chat_template", "vicuna"], need_data=False)
