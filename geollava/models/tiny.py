"""Tiny random models of any family, built from config with a locally trained tokenizer (no download).

The result is saved as an ordinary HF model folder (model, tokenizer, image processor), so tests and the CPU
quickstart go through exactly the `from_pretrained` path a 7B checkpoint takes.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import CLIPImageProcessorPil, CLIPVisionConfig, LlamaConfig, PreTrainedTokenizerFast

from ..synthetic.captions import EVENT_TYPES, PROMPTS, QUADRANTS, Event, describe
from .families import VICUNA_SYSTEM, get_family

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<image>", "<video>"]
SPEC_FILE = "geollava_tiny_model.json"  # what a folder was built from, so a changed config is not silently ignored


@dataclass
class TinySpec:
    """Sizes of a tiny model; every field can be set from the `tiny_model:` block of a config."""
    image_size: int = 32
    patch_size: int = 8
    vision_hidden: int = 64
    vision_layers: int = 2
    text_hidden: int = 128
    text_layers: int = 2
    heads: int = 4
    vocab_size: int = 600
    seed: int = 0
    # Spread of the vision tower's position embeddings at init; 0 keeps transformers' 0.02. A trained CLIP's patch
    # tokens carry their place strongly; at 0.02 a random one's are drowned by the patch content (~1), and a
    # random base must first learn *where* a patch is before it can say where a change happened.
    vision_position_std: float = 0.0


def build_tiny_model(family_name: str, out_dir: str | Path, spec: TinySpec | None = None) -> Path:
    """Build, save and return the folder of a tiny random model of ``family_name``."""
    spec = spec or TinySpec()
    family = get_family(family_name)
    out_dir = Path(out_dir)
    tokenizer = train_tokenizer(spec.vocab_size)
    assert tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS) == list(range(len(SPECIAL_TOKENS)))
    config = tiny_config(family_name, spec, len(tokenizer))
    torch.manual_seed(spec.seed)
    model = family.model_class(config)
    if spec.vision_position_std:
        for path in family.vision_towers:
            position = model.get_submodule(f"{path}.embeddings.position_embedding")
            torch.nn.init.normal_(position.weight, std=spec.vision_position_std)
    for key in ("pad", "eos", "bos"):
        setattr(model.generation_config, f"{key}_token_id", getattr(config.text_config, f"{key}_token_id"))
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    image_processor(spec.image_size).save_pretrained(out_dir)
    (out_dir / SPEC_FILE).write_text(json.dumps(built_from(family_name, spec), indent=1))
    return out_dir


def built_from(family_name: str, spec: TinySpec) -> dict:
    return {"family": family_name, **asdict(spec)}


def check_built_from(folder: Path, family_name: str, spec: TinySpec) -> None:
    """Refuse a prebuilt tiny model whose family or sizes differ from the config's ``tiny_model`` block."""
    fix = "Delete the folder to rebuild it, or set prepared_model_dir to another folder."
    if not (folder / SPEC_FILE).is_file():
        raise ValueError(f"{folder} has no {SPEC_FILE}: it was not built by this version of GeoLLaVA. {fix}")
    saved = json.loads((folder / SPEC_FILE).read_text())
    wanted = built_from(family_name, spec)
    differ = [f"{k}: built {saved.get(k, '?')}, config {v}" for k, v in wanted.items() if saved.get(k) != v]
    if differ:
        raise ValueError(f"{folder} holds a tiny model built from other settings ({'; '.join(differ)}). {fix}")


def tiny_config(family_name: str, spec: TinySpec, vocab_size: int | None = None):
    """The model config alone (no weights, no tokenizer): special tokens take the first ids, in SPECIAL_TOKENS order."""
    family = get_family(family_name)
    ids = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    vision = CLIPVisionConfig(hidden_size=spec.vision_hidden, intermediate_size=2 * spec.vision_hidden,
                              num_hidden_layers=spec.vision_layers, num_attention_heads=spec.heads,
                              image_size=spec.image_size, patch_size=spec.patch_size, projection_dim=spec.vision_hidden)
    text = LlamaConfig(hidden_size=spec.text_hidden, intermediate_size=2 * spec.text_hidden,
                       num_hidden_layers=spec.text_layers, num_attention_heads=spec.heads,
                       num_key_value_heads=spec.heads, vocab_size=vocab_size or spec.vocab_size,
                       max_position_embeddings=4096, bos_token_id=ids["<s>"], eos_token_id=ids["</s>"],
                       pad_token_id=ids["<pad>"])
    config = family.config_class(vision_config=vision, text_config=text, image_token_index=ids["<image>"],
                                 projector_hidden_act="gelu", vision_feature_layer=-2,
                                 vision_feature_select_strategy="default",
                                 **({"video_token_index": ids["<video>"]} if family.frames_as == "video" else {}))
    config.pad_token_id = ids["<pad>"]
    return config


def image_processor(size: int) -> CLIPImageProcessorPil:
    """CLIP preprocessing (resize the short side, centre crop, OpenAI mean / std) at ``size`` pixels."""
    return CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})


def train_tokenizer(vocab_size: int = 600) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on the words our prompts and synthetic captions use."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(_corpus(), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>",
                                   eos_token="</s>", pad_token="<pad>",
                                   extra_special_tokens={"image_token": "<image>", "video_token": "<video>"})


def _corpus():
    rng = np.random.default_rng(0)
    yield VICUNA_SYSTEM
    yield from PROMPTS
    for year in range(2010, 2031):
        yield " ".join(f"Frame {i} ({year}-{m:02d}-{d:02d})" for i, (m, d) in enumerate([(1, 9), (5, 17), (12, 28)]))
    for _ in range(3000):
        event_type = EVENT_TYPES[rng.integers(len(EVENT_TYPES))]
        quadrant = None if event_type == "none" else QUADRANTS[rng.integers(4)]
        count = 0 if quadrant is None else int(rng.integers(1, 4))
        date = f"20{rng.integers(14, 25)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}"
        yield "USER: " + describe(Event(event_type, count, quadrant, 1, date, date), rng) + " ASSISTANT:"
