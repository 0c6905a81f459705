"""Tiny random models of any family, built from config with a locally trained tokenizer (no download).

The result is saved as an ordinary HF model folder (model, tokenizer, image processor), so tests and the CPU
quickstart go through exactly the `from_pretrained` path a 7B checkpoint takes.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import CLIPImageProcessorPil, CLIPVisionConfig, LlamaConfig, PreTrainedTokenizerFast

from ..families import get_family

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


def build_tiny_model(family_name: str, out_dir: str | Path, corpus: Iterable[str], spec: TinySpec | None = None) -> Path:
    """Build, save and return the folder of a tiny random model of ``family_name``; its tokenizer is trained on
    ``corpus`` (texts like those it will see)."""
    spec = spec or TinySpec()
    family = get_family(family_name)
    out_dir = Path(out_dir)
    tokenizer = train_tokenizer(corpus, spec.vocab_size)
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


TOKENIZER_VERSION = 2  # 2: the tokenizer adds <s> itself, as Llama's does


def built_from(family_name: str, spec: TinySpec) -> dict:
    return {"family": family_name, **asdict(spec), "tokenizer_version": TOKENIZER_VERSION}


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


def train_tokenizer(corpus: Iterable[str], vocab_size: int = 600) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``corpus``; like Llama's, it starts every text with <s>."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B",
                                                             special_tokens=[("<s>", SPECIAL_TOKENS.index("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>",
                                   eos_token="</s>", pad_token="<pad>",
                                   extra_special_tokens={"image_token": "<image>", "video_token": "<video>"})
