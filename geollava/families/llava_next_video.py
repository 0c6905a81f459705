"""llava_next_video — LLaVA-NeXT-Video (CLIP, Vicuna): the frames as one video, each frame's patch grid pooled.
A single image becomes a still video: its image path wants LLaVA-NeXT's any-resolution tiles, which per-frame
preprocessing lacks."""
from transformers import LlavaNextVideoConfig, LlavaNextVideoForConditionalGeneration

from .base import Family, clip_image_processor, clip_llama_config


def frame_tokens(config) -> int:
    side = config.vision_config.image_size // config.vision_config.patch_size // config.spatial_pool_stride
    return side * side


FAMILY = Family(
    name="llava_next_video", model_class=LlavaNextVideoForConditionalGeneration, config_class=LlavaNextVideoConfig,
    frames_as="video", media_token="<video>", media_token_id_attr="video_token_id",
    vision_towers=("model.vision_tower",), projectors=("model.multi_modal_projector",),
    language_model="model.language_model", frame_tokens=frame_tokens, image_path=False,
    tiny_config=clip_llama_config, tiny_image_processor=clip_image_processor,
    released=("llava-hf/LLaVA-NeXT-Video-7B-hf",))
