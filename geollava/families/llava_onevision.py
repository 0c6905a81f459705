"""llava_onevision — LLaVA-OneVision (SigLIP, Qwen2, ChatML): the frames as one video, each frame pooled to a
quarter of its patches, one newline embedding after the frames; a single image is a still video.

Frames go in as a video: its image path tiles every frame at any resolution (1,485+ tokens a 384 px frame with a
single tile), its video path pools each frame to 196 tokens, and OneVision was trained on both."""
import math

from transformers import (LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration, Qwen2Config,
                          SiglipImageProcessorPil, SiglipVisionConfig)

from .base import CHATML_TOKENS, Family, TinySpec, chatml_text
from .templates import ONEVISION


def frame_tokens(config) -> int:
    side = config.vision_config.image_size // config.vision_config.patch_size
    return math.ceil(side / 2) ** 2  # 2x2 bilinear pooling of each frame's patch grid


def tiny_config(family: Family, spec: TinySpec, vocab_size: int):
    """A SigLIP tower (no CLS: every patch kept), the 2-layer GELU projector, a Qwen2 LLM."""
    ids = {t: i for i, t in enumerate(CHATML_TOKENS)}
    vision = SiglipVisionConfig(hidden_size=spec.vision_hidden, intermediate_size=2 * spec.vision_hidden,
                                num_hidden_layers=spec.vision_layers, num_attention_heads=spec.heads,
                                image_size=spec.image_size, patch_size=spec.patch_size)
    text = Qwen2Config(**chatml_text(spec, vocab_size))
    config = family.config_class(vision_config=vision.to_dict(), text_config=text,
                                 image_token_index=ids["<image>"], video_token_index=ids["<video>"],
                                 projector_hidden_act="gelu", vision_feature_layer=-1,
                                 vision_feature_select_strategy="full",
                                 image_grid_pinpoints=[[spec.image_size, spec.image_size]], tie_word_embeddings=False)
    config.pad_token_id = ids["<|endoftext|>"]
    return config


def tiny_processor(spec: TinySpec):
    """SigLIP's plain resize at the tiny size."""
    return SiglipImageProcessorPil(size={"height": spec.image_size, "width": spec.image_size})


FAMILY = Family(
    name="llava_onevision", model_class=LlavaOnevisionForConditionalGeneration, config_class=LlavaOnevisionConfig,
    frames_as="video", media_token="<video>", media_token_id_attr="video_token_id",
    vision_towers=("model.vision_tower",), projectors=("model.multi_modal_projector",),
    language_model="model.language_model", frame_tokens=frame_tokens, image_path=False, video_extra_tokens=1,
    chat_template="model", tiny_config=tiny_config, tiny_image_processor=tiny_processor,
    tiny_chat_template=ONEVISION,
    released=("llava-hf/llava-onevision-qwen2-7b-ov-hf",))
