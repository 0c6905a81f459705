"""Load a base model (hub id or folder) with its tokenizer and image processor, optionally quantized; build the
tiny or assembled base folder first when the config asks for one."""
from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path

import torch
from transformers import AutoImageProcessor, AutoTokenizer, BitsAndBytesConfig
from transformers.integrations.deepspeed import set_hf_deepspeed_config, unset_hf_deepspeed_config

from .assemble import assemble_llava
from ..families import Family, get_family
from .tiny import build_tiny_model, check_built_from

log = logging.getLogger(__name__)


def prepare_base_model(config, tokenizer_corpus=None) -> str:
    """The folder or hub id to load. Tiny and assembled models are built once into ``prepared_model_dir``; a tiny
    model's tokenizer is trained on ``tokenizer_corpus`` (an iterable of texts)."""
    m = config.model
    if m.model_name_or_path:
        return m.model_name_or_path
    folder = Path(m.prepared_model_dir or Path(config.train.output_dir) / "base_model")
    if (folder / "config.json").is_file():
        if config.tiny_model is not None:
            check_built_from(folder, m.family, config.tiny_model)
        return str(folder)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise RuntimeError(f"{folder} is not built yet; the launcher builds it before starting several processes: "
                           "start the run with `geollava train CONFIG --nproc-per-node N` (or the launch scripts)")
    if config.tiny_model is None and not get_family(m.family).assembles:
        raise ValueError(f"assembling from parts builds a LLaVA-1.5 model (family: llava); family is {m.family!r}")
    with zero3_paused(config.train):  # build whole weights, not ZeRO-3 shards of them
        if config.tiny_model is not None:
            build_tiny_model(m.family, folder, tokenizer_corpus, config.tiny_model)
        else:
            assemble_llava(m.vision_tower, m.language_model, folder, m.pretrained_projector, m.image_size,
                           config.train.trust_remote_code)
    return str(folder)


@contextmanager
def zero3_paused(train_args):
    """TrainingArguments with a ZeRO-3 config make every model construction partition its weights."""
    hf_deepspeed_config = getattr(train_args, "hf_deepspeed_config", None)
    unset_hf_deepspeed_config()
    try:
        yield
    finally:
        if hf_deepspeed_config is not None:
            set_hf_deepspeed_config(hf_deepspeed_config)


def load_processors(path: str, trust_remote_code: bool = False, min_pixels: int | None = None,
                    max_pixels: int | None = None):
    """The tokenizer and the image processor (PIL backend); Qwen's frame-area limits set where given (the
    checkpoints then save them with the processor, so evaluation resizes as training did)."""
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    template = processor_chat_template(path)
    if template:  # the processor's template renders the media parts; a tokenizer's may be text-only (OneVision's)
        tokenizer.chat_template = template
    return tokenizer, load_image_processor(path, trust_remote_code, min_pixels, max_pixels)


def processor_chat_template(path: str) -> str | None:
    """The chat template a model folder's processor carries (chat_template.json, or in processor_config.json)."""
    folder = Path(path)
    for name, key in (("chat_template.json", "chat_template"), ("processor_config.json", "chat_template")):
        if (folder / name).is_file():
            template = json.loads((folder / name).read_text()).get(key)
            if isinstance(template, str) and template:
                return template
    return None


def load_image_processor(path: str, trust_remote_code: bool = False, min_pixels: int | None = None,
                         max_pixels: int | None = None):
    image_processor = AutoImageProcessor.from_pretrained(path, backend="pil", trust_remote_code=trust_remote_code)
    set_frame_area(image_processor, min_pixels, max_pixels)
    return image_processor


def set_frame_area(image_processor, min_pixels: int | None, max_pixels: int | None) -> None:
    """Qwen's dynamic resolution: a frame is resized (aspect kept) to an area within min_pixels..max_pixels."""
    if min_pixels or max_pixels:
        size = image_processor.size
        image_processor.size = {"shortest_edge": min_pixels or size["shortest_edge"],
                                "longest_edge": max_pixels or size["longest_edge"]}


def compute_dtype(train_args) -> torch.dtype:
    return torch.bfloat16 if train_args.bf16 else torch.float16 if train_args.fp16 else torch.float32


def quantization_config(family: Family, bits: int, dtype: torch.dtype, double_quant: bool = True,
                        quant_type: str = "nf4") -> BitsAndBytesConfig | None:
    """4-bit NF4 (QLoRA) or 8-bit; the vision tower, projector and lm_head stay in full precision."""
    if bits == 16:
        return None
    skip = family.skip_quantization()
    if bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
    # quant_storage = compute dtype lets ZeRO-3 partition the packed weights like every other tensor.
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=quant_type,
                              bnb_4bit_use_double_quant=double_quant, bnb_4bit_compute_dtype=dtype,
                              bnb_4bit_quant_storage=dtype, llm_int8_skip_modules=skip)


def load_model(path: str, family_name: str, dtype: torch.dtype = torch.float32, bits: int = 16,
               double_quant: bool = True, quant_type: str = "nf4", device_map=None, trust_remote_code: bool = False,
               attn_implementation: str = "sdpa"):
    family = get_family(family_name)
    quant = quantization_config(family, bits, dtype, double_quant, quant_type)
    if quant is not None and device_map is None and torch.cuda.is_available() and not _under_zero3():
        device_map = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    model = family.model_class.from_pretrained(path, dtype=dtype, quantization_config=quant, device_map=device_map,
                                               trust_remote_code=trust_remote_code,
                                               attn_implementation=attn_implementation)
    model.config.use_cache = False
    return model


def _under_zero3() -> bool:
    from transformers.integrations import is_deepspeed_zero3_enabled

    return is_deepspeed_zero3_enabled()
