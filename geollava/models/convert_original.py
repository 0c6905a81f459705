"""GeoChat's and LLaVA-1.5's own checkpoints (the original LLaVA code's layout) → a transformers
`LlavaForConditionalGeneration` folder that eval.py scores and training fine-tunes from (`family: llava`).

The original layout is a Llama (`model.embed_tokens`, `model.layers.*`, `model.norm`, `lm_head`) with
`model.mm_projector.0` / `.2` (mlp2x_gelu) and a config.json naming the vision tower (`mm_vision_tower`). Both
loaders rebuild that tower from its own weights at load time, so a tower saved inside the checkpoint is never
used — here neither. GeoChat then interpolates the tower's position embeddings to 504 px (24 x 24 → 36 x 36
patches, bicubic, align_corners=True, the CLS position kept) and feeds it 504 px images; LLaVA-1.5 keeps 336.

    geollava model convert-geochat MBZUAI/geochat-7B-folder runs/geochat-hf
    geollava model convert-geochat llava-v1.5-7b-folder runs/llava-1.5-hf --vision-tower clip-vit-large-336-folder
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import torch
from accelerate import init_empty_weights
from safetensors.torch import load_file
from transformers import (AddedToken, AutoImageProcessor, AutoTokenizer, CLIPVisionConfig, CLIPVisionModel, LlamaConfig,
                          LlavaConfig, LlavaForConditionalGeneration)

from ..data.template import in_vocabulary
from ..families import get_family

log = logging.getLogger(__name__)
GEOCHAT_IMAGE_SIZE = 504
IMAGE_TOKEN = "<image>"
_SELECT_STRATEGY = {"patch": "default", "cls_patch": "full"}


class ConversionError(ValueError):
    pass


def convert_original_llava(src: str | Path, out: str | Path, vision_tower: str | None = None,
                           image_size: int | None = None, dtype: str = "float16") -> Path:
    """Write the transformers LLaVA folder of the original-layout checkpoint ``src`` to ``out``; ``vision_tower``
    replaces config.json's `mm_vision_tower` (an offline folder); ``image_size`` defaults to 504 for GeoChat,
    the tower's own for LLaVA."""
    src, out = Path(src), Path(out)
    tower = CLIPVisionModel.from_pretrained(vision_tower or read_original_config(src)["mm_vision_tower"],
                                            torch_dtype=torch.float32)
    weights = read_weights(src)
    config, save_processors = converted_config(src, vision_tower, tower.config, image_size,
                                               weights["model.embed_tokens.weight"].shape[0])
    with init_empty_weights():
        model = LlavaForConditionalGeneration(config)
    state = mapped_state(weights, tower, config.vision_config.image_size, config.text_config.vocab_size, model)
    model.load_state_dict(state, strict=True, assign=True)
    model.to(getattr(torch, dtype))
    model.generation_config.pad_token_id = config.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    save_processors(out)
    return out


def converted_config(src: Path, vision_tower: str | Path | None = None, tower_config=None,
                     image_size: int | None = None, embedding_rows: int = 0):
    """The transformers LLaVA config of the original-layout checkpoint ``src`` and a function that writes its
    tokenizer (with <image>), image processor and converted_from.json into a folder: everything of the
    conversion but the weights. ``tower_config``: the CLIP tower's (else read from ``vision_tower``);
    ``embedding_rows``: the checkpoint's embedding rows, when it has more than its tokenizer."""
    original = read_original_config(src)
    tower = str(vision_tower or original["mm_vision_tower"])
    tower_config = tower_config or CLIPVisionConfig.from_pretrained(tower)
    image_size = image_size or (GEOCHAT_IMAGE_SIZE if original.get("model_type") == "geochat"
                                else tower_config.image_size)
    tokenizer = AutoTokenizer.from_pretrained(src, config=LlamaConfig())  # config.json's model type is not HF's
    image_token_id = add_image_token(tokenizer)
    vocab = max(len(tokenizer), embedding_rows)
    config = llava_config(original, tower_config, image_size, image_token_id, vocab, tokenizer)
    processor = AutoImageProcessor.from_pretrained(tower, backend="pil")
    processor.size, processor.crop_size = {"shortest_edge": image_size}, {"height": image_size, "width": image_size}

    def save_processors(out: Path) -> None:
        tokenizer.save_pretrained(out)
        processor.save_pretrained(out)
        (out / "converted_from.json").write_text(json.dumps({"source": str(src), "layout": original.get("model_type"),
                                                             "vision_tower": tower, "image_size": image_size},
                                                            indent=1))
    return config, save_processors


def read_original_config(src: Path) -> dict:
    path = src / "config.json"
    if not path.is_file():
        raise ConversionError(f"{src} has no config.json: give the folder of a GeoChat or LLaVA-1.5 checkpoint")
    config = json.loads(path.read_text())
    if "mm_vision_tower" not in config:
        raise ConversionError(f"{path} has no mm_vision_tower: not a checkpoint of GeoChat's / LLaVA's own code "
                              "(a transformers LLaVA folder needs no conversion: use it with --family llava)")
    if config.get("mm_projector_type", "linear") != "mlp2x_gelu":
        raise ConversionError(f"{path}: mm_projector_type {config.get('mm_projector_type', 'linear')!r}; "
                              "transformers' LLaVA projector is mlp2x_gelu (LLaVA-1.5, GeoChat)")
    if config.get("mm_use_im_start_end"):
        raise ConversionError(f"{path}: mm_use_im_start_end is set (LLaVA-1.0 style image start/end tokens); "
                              "transformers' LLaVA has no such tokens")
    return config


def read_weights(src: Path) -> dict[str, torch.Tensor]:
    """Every tensor of the checkpoint (safetensors or PyTorch .bin, sharded or not); vision weights dropped."""
    files = sorted(src.glob("*.safetensors")) or sorted(src.glob("pytorch_model*.bin"))
    if not files:
        raise ConversionError(f"{src} has no *.safetensors or pytorch_model*.bin weights")
    weights = {}
    for path in files:
        part = load_file(path) if path.suffix == ".safetensors" else torch.load(path, map_location="cpu",
                                                                                 weights_only=True)
        weights.update(part)
    tower = [k for k in weights if k.startswith("model.vision_tower.")]
    if tower:
        log.info("%s: %d vision tower tensors in the checkpoint are ignored (GeoChat and LLaVA reload the tower "
                 "from mm_vision_tower; so does this conversion)", src, len(tower))
    return {k: v for k, v in weights.items() if k not in tower}


def add_image_token(tokenizer) -> int:
    """The <image> placeholder transformers' LLaVA expects (the original code splices images in at id -200);
    the pad token is the unk token, as LLaVA v1 sets it."""
    if not in_vocabulary(tokenizer, IMAGE_TOKEN):
        tokenizer.add_tokens([AddedToken(IMAGE_TOKEN, special=True, normalized=False)], special_tokens=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.unk_token
    return tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)


def llava_config(original: dict, vision, image_size: int, image_token_id: int, vocab: int, tokenizer) -> LlavaConfig:
    text = {k: v for k, v in original.items() if not k.startswith(("mm_", "image_", "tune_", "freeze_"))
            and k not in ("architectures", "model_type", "_name_or_path", "transformers_version", "use_mm_proj")}
    text_config = LlamaConfig(**{**text, "vocab_size": vocab, "pad_token_id": tokenizer.pad_token_id})
    vision_config = vision.to_dict()
    vision_config["image_size"] = image_size
    feature = original.get("mm_vision_select_feature", "patch")
    if feature not in _SELECT_STRATEGY:
        raise ConversionError(f"mm_vision_select_feature {feature!r} is not one of {', '.join(_SELECT_STRATEGY)}")
    patches = (image_size // vision.patch_size) ** 2
    return LlavaConfig(vision_config=vision_config, text_config=text_config.to_dict(),
                       image_token_index=image_token_id, projector_hidden_act="gelu",
                       vision_feature_layer=original.get("mm_vision_select_layer", -2),
                       vision_feature_select_strategy=_SELECT_STRATEGY[feature],
                       image_seq_length=patches if feature == "patch" else patches + 1,
                       pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)


def mapped_state(weights: dict, tower, image_size: int, vocab: int, model) -> dict[str, torch.Tensor]:
    """The original tensors under the transformers model's names (module paths from the families registry)."""
    family = get_family("llava")
    llm, projector, vision = family.language_model, family.projector, family.vision_towers[0]
    state = {}
    for key, value in weights.items():
        if key.startswith("model.mm_projector."):
            layer, name = key[len("model.mm_projector."):].split(".", 1)
            state[f"{projector}.linear_{ {'0': 1, '2': 2}[layer]}.{name}"] = value
        elif key == "lm_head.weight":
            state["lm_head.weight"] = _grown(value, vocab)
        elif key.startswith("model."):
            name = key[len("model."):]
            state[f"{llm}.{name}"] = _grown(value, vocab) if name == "embed_tokens.weight" else value
        else:
            raise ConversionError(f"unexpected tensor {key!r} in the checkpoint: not the original LLaVA layout")
    tower_state = tower.state_dict()
    positions = next(k for k in tower_state if k.endswith("embeddings.position_embedding.weight"))
    tower_state[positions] = interpolate_positions(tower_state[positions], image_size, tower.config.patch_size)
    target = {k for k in model.state_dict() if k.startswith(f"{vision}.")}
    for key, value in tower_state.items():
        name = f"{vision}.{key}"
        if name not in target and key.startswith("vision_model."):  # a CLIPVisionModel that wraps vision_model
            name = f"{vision}.{key[len('vision_model.'):]}"
        if name in target:
            state[name] = value
    missing = sorted(set(model.state_dict()) - set(state))
    if missing:
        raise ConversionError(f"the checkpoint lacks {len(missing)} tensors of the model (first: {missing[:3]})")
    return state


def interpolate_positions(weight: torch.Tensor, image_size: int, patch_size: int) -> torch.Tensor:
    """CLIP's position embeddings [1 + n*n, d] resized to the patch grid of ``image_size`` as GeoChat does:
    the grid bicubic with align_corners=True, the CLS position as it is."""
    side = image_size // patch_size
    old = int(math.isqrt(weight.shape[0] - 1))
    if old * old != weight.shape[0] - 1:
        raise ConversionError(f"position embeddings of {weight.shape[0]} rows are not CLS + a square grid")
    if old == side:
        return weight
    grid = weight[1:].T.reshape(1, weight.shape[1], old, old)
    grid = torch.nn.functional.interpolate(grid, size=side, mode="bicubic", align_corners=True)
    return torch.cat([weight[:1], grid.reshape(weight.shape[1], side * side).T])


def _grown(weight: torch.Tensor, rows: int) -> torch.Tensor:
    """Embedding / head rows for the tokens added (<image>): the mean row, so no new token is ever likely."""
    if weight.shape[0] >= rows:
        return weight
    extra = weight.mean(dim=0, keepdim=True).expand(rows - weight.shape[0], -1)
    return torch.cat([weight, extra])
