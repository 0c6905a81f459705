"""qwen2_5_vl, qwen3_vl — Qwen2.5-VL and Qwen3-VL: each frame goes in as an image with its date, at its own
resolution (dynamic: one token per 28² px for 2.5, 32² px for 3, within min_pixels..max_pixels), ChatML.

Frames years apart go in as images: Qwen's video input fuses pairs of consecutive frames into one token set
(temporal_patch_size 2), which would merge the before and after of a change."""
from transformers import (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLImageProcessorPil,
                          Qwen3VLConfig, Qwen3VLForConditionalGeneration)

from .base import CHATML_TOKENS, Family, TinySpec, chatml_text
from .templates import QWEN2_VL, QWEN3_VL


def dynamic(config) -> int:
    raise ValueError("Qwen's tokens per frame depend on each frame's size: ask Family.dynamic_tokens")


def tiny_processor(spec: TinySpec):
    """Qwen's dynamic resolution at the tiny size: min_pixels one merged patch grid of image_size, max 4x that."""
    area = spec.image_size ** 2
    return Qwen2VLImageProcessorPil(patch_size=spec.patch_size, merge_size=2, temporal_patch_size=2,
                                    size={"shortest_edge": area, "longest_edge": 4 * area})


def _tiny_config(family: Family, spec: TinySpec, vocab_size: int, vision_extra: dict, text_extra: dict):
    """A tiny ViT whose merger projects 2x2 patches to the LLM; M-RoPE sections split the head's rotary half in
    1 : 1.5 : 1.5 as the real models do."""
    ids = {t: i for i, t in enumerate(CHATML_TOKENS)}
    half = spec.text_hidden // spec.heads // 2
    temporal = half // 4
    section = [temporal, (half - temporal) // 2, half - temporal - (half - temporal) // 2]
    vision = dict(depth=spec.vision_layers, hidden_size=spec.vision_hidden, intermediate_size=2 * spec.vision_hidden,
                  num_heads=spec.heads, patch_size=spec.patch_size, spatial_merge_size=2, temporal_patch_size=2,
                  out_hidden_size=spec.text_hidden, **vision_extra)
    text = chatml_text(spec, vocab_size)
    text.update(text_extra)
    text["rope_parameters"] = {"rope_type": "default", "mrope_section": section, "rope_theta": 10000.0,
                               **text.get("rope_parameters", {})}
    config = family.config_class(vision_config=vision, text_config=text, image_token_id=ids["<|image_pad|>"],
                                 video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                                 vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=False)
    config.pad_token_id = ids["<|endoftext|>"]
    return config


def qwen2_5_tiny(family: Family, spec: TinySpec, vocab_size: int):
    """A windowed ViT with one full-attention block."""
    return _tiny_config(family, spec, vocab_size, dict(window_size=spec.patch_size * 2 * 2,
                                                       fullatt_block_indexes=[spec.vision_layers - 1]), {})


def qwen3_tiny(family: Family, spec: TinySpec, vocab_size: int):
    """A deepstack ViT (one layer's features also go to the LLM) with learned position embeddings."""
    side = spec.image_size // spec.patch_size
    return _tiny_config(family, spec, vocab_size,
                        dict(num_position_embeddings=side * side, deepstack_visual_indexes=[0]),
                        dict(head_dim=spec.text_hidden // spec.heads, rope_parameters={"mrope_interleaved": True}))


def mrope_positions(model, batch: dict, lengths: list[int], images: list[int]):
    """Each sample's M-RoPE positions from the model's own get_rope_index, as if the sample were alone, under a
    text row that restarts at every sample (transformers finds the samples from it): (4, 1, total length)."""
    import torch

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    ids, kinds, grids = batch["input_ids"][0], batch["mm_token_type_ids"][0], batch["image_grid_thw"]
    rows, start, first = [], 0, 0
    for n, k in zip(lengths, images):
        spatial, _ = inner.model.get_rope_index(ids[None, start:start + n], kinds[None, start:start + n],
                                                image_grid_thw=grids[first:first + k])
        rows.append(torch.cat([torch.arange(n, device=ids.device)[None, None], spatial.to(ids.device)], 0))
        start, first = start + n, first + k
    return torch.cat(rows, -1)


_COMMON = dict(frames_as="images", media_token="<|image_pad|>", media_token_id_attr="image_token_id",
               vision_towers=("model.visual",), language_model="model.language_model", frame_tokens=dynamic,
               tiny_image_processor=tiny_processor, chat_template="model",
               media_wrap=("<|vision_start|>", "<|vision_end|>"), visual_tokens="dynamic",
               packed_positions=mrope_positions)

FAMILIES = [
    Family(name="qwen2_5_vl", model_class=Qwen2_5_VLForConditionalGeneration, config_class=Qwen2_5_VLConfig,
           projectors=("model.visual.merger",), tiny_config=qwen2_5_tiny, box_format="pixels",
           tiny_chat_template=QWEN2_VL, released=("Qwen/Qwen2.5-VL-7B-Instruct",), **_COMMON),
    Family(name="qwen3_vl", model_class=Qwen3VLForConditionalGeneration, config_class=Qwen3VLConfig,
           projectors=("model.visual.merger", "model.visual.deepstack_merger_list"), tiny_config=qwen3_tiny,
           box_format="norm1000", tiny_chat_template=QWEN3_VL, released=("Qwen/Qwen3-VL-8B-Instruct",), **_COMMON),
]
