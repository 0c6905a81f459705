"""configs/geollava_paper.yaml against GeoLLaVA's videollava_finetune.py (HosamGen/GeoLLaVA 8bb4a60), at the
released Video-LLaVA-7B shape (1 layer): what its PEFT call wraps, how its MAX_LENGTH counts, its optimizer."""
from __future__ import annotations

import re

import pytest
import torch

from geollava.launch import load_config
from geollava.data.dataset import AnnotationDataset
from geollava.data.schema import parse_record
from geollava.families import get_family
from geollava.models.adapters import init_lora_weights, lora_target_regex
from geollava.models.load import load_processors
from geollava.models.released import build_released
from geollava.plan import measure_model

from helpers import REPO_ROOT, write_json

VIDEO_LLAVA = "LanguageBind/Video-LLaVA-7B-hf"


@pytest.fixture(scope="module")
def video_llava(tmp_path_factory):
    """Video-LLaVA-7B's config (1 layer), tokenizer and processor; no weights."""
    return build_released(VIDEO_LLAVA, 1, tmp_path_factory.mktemp("vl") / "video-llava", weights=False)


def paper_config(folder, tmp_path, *extra):
    data = write_json(tmp_path / "empty.json", [])
    return load_config([str(REPO_ROOT / "configs" / "geollava_paper.yaml"), "--model_name_or_path", str(folder),
                         "--train_data", str(data), "--output_dir", str(tmp_path / "run"), *map(str, extra)])


# Under the script's transformers 4.45 each tower was a CLIPVisionModel, every module path in it holding
# 'vision_model'; transformers 5 names them model.video_tower.* / model.image_tower.* directly.
TOWER_PATHS_THEN = ("vision_model", "video_tower.", "image_tower.")


def find_all_linear_names(model) -> list[str]:
    """videollava_finetune.py lines 389-402: the last name part of every nn.Linear whose path names neither
    'multi_modal_projector' nor 'vision_model' (a tower), lm_head removed."""
    names = set()
    for name, module in model.named_modules():
        if any(k in name for k in ("multi_modal_projector", *TOWER_PATHS_THEN)):
            continue
        if isinstance(module, torch.nn.Linear):
            parts = name.split(".")
            names.add(parts[0] if len(parts) == 1 else parts[-1])
    names.discard("lm_head")
    return sorted(names)


def peft_wraps(model, target_modules: list[str]) -> set[str]:
    """PEFT's check_target_module_exists for a list: a module is wrapped when its name is a target or ends with
    '.' + a target (peft/tuners/tuners_utils.py), whatever tower it is in."""
    return {name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)
            and any(name == t or name.endswith("." + t) for t in target_modules)}


def test_lora_wraps_what_geollavas_peft_call_wraps_the_towers_qkv_included(video_llava, tmp_path):
    config = paper_config(video_llava, tmp_path)
    family = get_family("video_llava")
    from transformers import AutoConfig

    with torch.device("meta"):
        model = family.model_class(AutoConfig.from_pretrained(video_llava))
    targets = find_all_linear_names(model)
    assert set(targets) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert sorted(config.lora.lora_target_modules) == targets
    reference = peft_wraps(model, targets)
    ours = {name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)
            and re.fullmatch(lora_target_regex(family, config.lora.lora_target_modules,
                                               config.lora.lora_target_scope), name)}
    assert ours == reference
    towers = sorted(n for n in ours if "tower" in n)
    assert towers and {n.rsplit(".", 1)[-1] for n in towers} == {"q_proj", "k_proj", "v_proj"}
    assert {n.split(".")[1] for n in towers} == {"video_tower", "image_tower"}
    sizes = measure_model(family, AutoConfig.from_pretrained(video_llava), config.lora.lora_target_modules, None,
                          config.lora.lora_target_scope)  # the planner counts the same modules
    assert set(sizes.lora_targets) == reference
    default = paper_config(video_llava, tmp_path, "--lora_target_scope", "language_model")
    scoped = {n for n in reference if re.fullmatch(lora_target_regex(family, default.lora.lora_target_modules), n)}
    assert scoped == {n for n in reference if ".language_model." in n}


def test_the_optimizer_and_init_are_the_scripts(video_llava, tmp_path):
    """torch.optim.AdamW(self.parameters(), lr=1e-4): weight decay 0.01 (torch's default), betas (0.9, 0.999),
    eps 1e-8; LoraConfig(init_lora_weights="gaussian"); no scheduler (Lightning is given none)."""
    config = paper_config(video_llava, tmp_path)
    adamw = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-4).defaults
    t = config.train
    assert (t.weight_decay, (t.adam_beta1, t.adam_beta2), t.adam_epsilon, t.learning_rate) == \
        (adamw["weight_decay"], adamw["betas"], adamw["eps"], adamw["lr"])
    assert init_lora_weights(config.lora.init_lora_weights) == "gaussian"
    assert (t.lr_scheduler_type, t.warmup_steps, t.max_grad_norm) == ("constant", 0, 1.0)


def record(words: int) -> dict:
    question = "<video>\nWhat are the differences between the two images?"
    answer = " ".join(["buildings"] * words)
    return {"id": f"r{words}", "video": "a.mp4", "conversations": [{"from": "human", "value": question},
                                                                    {"from": "gpt", "value": answer}]}


def test_two_frame_samples_are_kept_at_257_tokens_a_frame_and_cut_at_350_text_tokens(video_llava, tmp_path):
    """The script counts MAX_LENGTH 350 on the text with <video> as one token (transformers 4.45 expanded
    nothing): a 2-frame sample of ~300 text tokens is kept whole with its 2 x 257 visual tokens, a longer one is
    cut at 350 text tokens; counted on all tokens (max_length_counts: all), both would be dropped."""
    config = paper_config(video_llava, tmp_path)
    tokenizer, processor = load_processors(str(video_llava))
    from transformers import AutoConfig

    model_config = AutoConfig.from_pretrained(video_llava)
    records = [parse_record(record(words))[0] for words in (250, 600)]
    dataset = AnnotationDataset(records, tmp_path, get_family("video_llava"), model_config, tokenizer, processor,
                                   config.prompt)
    video = model_config.video_token_id
    short, long = (dataset._encode(r) for r in records)
    assert short.visual_tokens == 2 * 257 and short.placeholders == 1
    assert short.counted_length("text") <= 350 < long.counted_length("text")
    assert dataset.lengths == [len(short.input_ids), len(long.input_ids)]  # neither skipped
    assert long.limit_index(350, "text") == 350 + 2 * 257 - 1
    assert short.input_ids.count(video) == 514
    with pytest.raises(ValueError, match="every sample is longer than model_max_length 350"):
        AnnotationDataset(records, tmp_path, get_family("video_llava"), model_config, tokenizer, processor,
                             paper_config(video_llava, tmp_path, "--max_length_counts", "all").prompt)
