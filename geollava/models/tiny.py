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
from transformers import (
    CLIPImageProcessorPil,
    CLIPVisionConfig,
    LlamaConfig,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2VLImageProcessorPil,
    SiglipImageProcessorPil,
    SiglipVisionConfig,
)

from ..families import Family, get_family

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<image>", "<video>"]
# Qwen's ChatML specials (also LLaVA-OneVision's Qwen2 tokenizer, which adds <image> and <video>)
CHATML_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                 "<|image_pad|>", "<|video_pad|>", "<image>", "<video>"]
CHATML_TEMPLATE = (  # Qwen2.5's rendering of text turns: its default system message unless the first turn is one
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
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
    chatml = family.chat_template == "model"
    tokenizer = train_chatml_tokenizer(corpus, spec.vocab_size) if chatml else train_tokenizer(corpus, spec.vocab_size)
    specials = CHATML_TOKENS if chatml else SPECIAL_TOKENS
    assert tokenizer.convert_tokens_to_ids(specials) == list(range(len(specials)))
    config = tiny_config(family_name, spec, len(tokenizer))
    torch.manual_seed(spec.seed)
    model = family.model_class(config)
    if spec.vision_position_std:
        for path in family.vision_towers:
            position = model.get_submodule(f"{path}.embeddings.position_embedding")
            torch.nn.init.normal_(position.weight, std=spec.vision_position_std)
    for key in ("pad", "eos", "bos"):
        setattr(model.generation_config, f"{key}_token_id", getattr(config.text_config, f"{key}_token_id", None))
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    tiny_image_processor(family, spec).save_pretrained(out_dir)
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
    """The model config alone (no weights, no tokenizer): special tokens take the first ids, in SPECIAL_TOKENS
    (CHATML_TOKENS for the Qwen-based families) order."""
    family = get_family(family_name)
    vocab_size = vocab_size or spec.vocab_size
    if family.name in ("qwen2_5_vl", "qwen3_vl"):
        return _qwen_config(family, spec, vocab_size)
    if family.name == "llava_onevision":
        return _onevision_config(family, spec, vocab_size)
    ids = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    vision = CLIPVisionConfig(hidden_size=spec.vision_hidden, intermediate_size=2 * spec.vision_hidden,
                              num_hidden_layers=spec.vision_layers, num_attention_heads=spec.heads,
                              image_size=spec.image_size, patch_size=spec.patch_size, projection_dim=spec.vision_hidden)
    text = LlamaConfig(**_text_sizes(spec, vocab_size), bos_token_id=ids["<s>"], eos_token_id=ids["</s>"],
                       pad_token_id=ids["<pad>"])
    config = family.config_class(vision_config=vision, text_config=text, image_token_index=ids["<image>"],
                                 projector_hidden_act="gelu", vision_feature_layer=-2,
                                 vision_feature_select_strategy="default",
                                 **({"video_token_index": ids["<video>"]} if family.frames_as == "video" else {}))
    config.pad_token_id = ids["<pad>"]
    return config


def _text_sizes(spec: TinySpec, vocab_size: int) -> dict:
    """The LLM's sizes, shared by every family's text config."""
    return dict(hidden_size=spec.text_hidden, intermediate_size=2 * spec.text_hidden,
                num_hidden_layers=spec.text_layers, num_attention_heads=spec.heads, num_key_value_heads=spec.heads,
                vocab_size=vocab_size, max_position_embeddings=4096)


def _chatml_text(spec: TinySpec, vocab_size: int) -> dict:
    """A Qwen2-shaped text config: no BOS, <|im_end|> ends a turn, <|endoftext|> pads."""
    ids = {t: i for i, t in enumerate(CHATML_TOKENS)}
    return dict(**_text_sizes(spec, vocab_size), bos_token_id=None, eos_token_id=ids["<|im_end|>"],
                pad_token_id=ids["<|endoftext|>"])


def _qwen_config(family: Family, spec: TinySpec, vocab_size: int):
    """Qwen2.5-VL / Qwen3-VL: a windowed (2.5) or deepstack (3) ViT whose merger projects 2x2 patches to the
    LLM; M-RoPE sections split the head's rotary half in 1 : 1.5 : 1.5 as the real models do."""
    ids = {t: i for i, t in enumerate(CHATML_TOKENS)}
    half = spec.text_hidden // spec.heads // 2
    temporal = half // 4
    section = [temporal, (half - temporal) // 2, half - temporal - (half - temporal) // 2]
    vision = dict(depth=spec.vision_layers, hidden_size=spec.vision_hidden, intermediate_size=2 * spec.vision_hidden,
                  num_heads=spec.heads, patch_size=spec.patch_size, spatial_merge_size=2, temporal_patch_size=2,
                  out_hidden_size=spec.text_hidden)
    text = _chatml_text(spec, vocab_size)
    if family.name == "qwen2_5_vl":
        vision.update(window_size=spec.patch_size * 2 * 2, fullatt_block_indexes=[spec.vision_layers - 1])
        text["rope_parameters"] = {"rope_type": "default", "mrope_section": section, "rope_theta": 10000.0}
    else:
        side = spec.image_size // spec.patch_size
        vision.update(num_position_embeddings=side * side, deepstack_visual_indexes=[0])
        text.update(head_dim=spec.text_hidden // spec.heads,
                    rope_parameters={"rope_type": "default", "mrope_section": section, "mrope_interleaved": True,
                                     "rope_theta": 10000.0})
    config = family.config_class(vision_config=vision, text_config=text, image_token_id=ids["<|image_pad|>"],
                                 video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                                 vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=False)
    config.pad_token_id = ids["<|endoftext|>"]
    return config


def _onevision_config(family: Family, spec: TinySpec, vocab_size: int):
    """LLaVA-OneVision: a SigLIP tower (no CLS: every patch kept), the 2-layer GELU projector, a Qwen2 LLM."""
    ids = {t: i for i, t in enumerate(CHATML_TOKENS)}
    vision = SiglipVisionConfig(hidden_size=spec.vision_hidden, intermediate_size=2 * spec.vision_hidden,
                                num_hidden_layers=spec.vision_layers, num_attention_heads=spec.heads,
                                image_size=spec.image_size, patch_size=spec.patch_size)
    text = Qwen2Config(**_chatml_text(spec, vocab_size))
    config = family.config_class(vision_config=vision.to_dict(), text_config=text,
                                 image_token_index=ids["<image>"], video_token_index=ids["<video>"],
                                 projector_hidden_act="gelu", vision_feature_layer=-1,
                                 vision_feature_select_strategy="full",
                                 image_grid_pinpoints=[[spec.image_size, spec.image_size]], tie_word_embeddings=False)
    config.pad_token_id = ids["<|endoftext|>"]
    return config


def tiny_image_processor(family: Family, spec: TinySpec):
    """The family's own preprocessing at the tiny size: Qwen's dynamic resolution (min_pixels: one merged patch
    grid of image_size; max_pixels: 4x that), SigLIP's plain resize, CLIP's resize and crop."""
    if family.visual_tokens == "dynamic":
        area = spec.image_size ** 2
        return Qwen2VLImageProcessorPil(patch_size=spec.patch_size, merge_size=2, temporal_patch_size=2,
                                        size={"shortest_edge": area, "longest_edge": 4 * area})
    if family.name == "llava_onevision":
        return SiglipImageProcessorPil(size={"height": spec.image_size, "width": spec.image_size})
    return image_processor(spec.image_size)


def image_processor(size: int) -> CLIPImageProcessorPil:
    """CLIP preprocessing (resize the short side, centre crop, OpenAI mean / std) at ``size`` pixels."""
    return CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})


def train_chatml_tokenizer(corpus: Iterable[str], vocab_size: int = 600) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer like Qwen's: no BOS, ChatML specials, a ChatML chat template."""
    tokenizer = _byte_level_bpe(corpus, vocab_size, CHATML_TOKENS)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   chat_template=CHATML_TEMPLATE,
                                   extra_special_tokens={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"})


def train_tokenizer(corpus: Iterable[str], vocab_size: int = 600) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``corpus``; like Llama's, it starts every text with <s>."""
    tokenizer = _byte_level_bpe(corpus, vocab_size, SPECIAL_TOKENS, unk_token="<unk>")
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B",
                                                             special_tokens=[("<s>", SPECIAL_TOKENS.index("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>",
                                   eos_token="</s>", pad_token="<pad>",
                                   extra_special_tokens={"image_token": "<image>", "video_token": "<video>"})


def _byte_level_bpe(corpus: Iterable[str], vocab_size: int, specials: list[str], unk_token: str | None = None):
    """A byte-level BPE model trained on ``corpus``, ``specials`` taking the first ids in order."""
    tokenizer = Tokenizer(models.BPE(unk_token=unk_token))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    return tokenizer
