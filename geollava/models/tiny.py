"""Tiny random models of any family, built from config with a locally trained tokenizer (no download).

The result is saved as an ordinary HF model folder (model, tokenizer, image processor), so tests and the CPU
quickstart go through exactly the `from_pretrained` path a 7B checkpoint takes.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from ..families import CHATML_TOKENS, SPECIAL_TOKENS, TinySpec, get_family
from ..families.base import clip_image_processor

CHATML_TEMPLATE = (  # Qwen2.5's rendering of text turns: its default system message unless the first turn is one
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
SPEC_FILE = "geollava_tiny_model.json"  # what a folder was built from, so a changed config is not silently ignored


def build_tiny_model(family_name: str, out_dir: str | Path, corpus: Iterable[str], spec: TinySpec | None = None) -> Path:
    """Build, save and return the folder of a tiny random model of ``family_name``; its tokenizer is trained on
    ``corpus`` (texts like those it will see)."""
    spec = spec or TinySpec()
    family = get_family(family_name)
    out_dir = Path(out_dir)
    chatml = family.chat_template == "model"
    tokenizer = train_chatml_tokenizer(corpus, spec.vocab_size, family.tiny_chat_template) if chatml else \
        train_tokenizer(corpus, spec.vocab_size)
    specials = CHATML_TOKENS if chatml else SPECIAL_TOKENS
    assert tokenizer.convert_tokens_to_ids(specials) == list(range(len(specials)))
    config = family.build_tiny_config(spec, len(tokenizer))
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
    family.tiny_image_processor(spec).save_pretrained(out_dir)
    (out_dir / SPEC_FILE).write_text(json.dumps(built_from(family_name, spec), indent=1))
    return out_dir


TOKENIZER_VERSION = 2  # 2: the tokenizer adds <s> itself, as Llama's does


def built_from(family_name: str, spec: TinySpec) -> dict:
    template = get_family(family_name).tiny_chat_template
    return {"family": family_name, **asdict(spec), "tokenizer_version": TOKENIZER_VERSION,
            **({"chat_template": hashlib.sha256(template.encode()).hexdigest()[:12]} if template else {})}


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
    (CHATML_TOKENS for the ChatML families) order."""
    return get_family(family_name).build_tiny_config(spec, vocab_size)


def image_processor(size: int):
    """CLIP preprocessing (resize the short side, centre crop, OpenAI mean / std) at ``size`` pixels."""
    return clip_image_processor(TinySpec(image_size=size))


def train_chatml_tokenizer(corpus: Iterable[str], vocab_size: int = 600,
                           chat_template: str | None = None) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer like Qwen's: no BOS, ChatML specials, a ChatML chat template (``chat_template``:
    a real model's, else Qwen2.5's text-only rendering)."""
    tokenizer = _byte_level_bpe(corpus, vocab_size, CHATML_TOKENS)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   chat_template=chat_template or CHATML_TEMPLATE,
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
