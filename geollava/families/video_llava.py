"""video_llava — Video-LLaVA (LanguageBind towers, Vicuna): the frames as one video through its video tower; a
single image through its image tower."""
from transformers import VideoLlavaConfig, VideoLlavaForConditionalGeneration

from .base import Family, clip_image_processor, clip_llama_config


def frame_tokens(config) -> int:
    vision = config.vision_config
    return (vision.image_size // vision.patch_size) ** 2 + 1  # Video-LLaVA keeps CLS for video frames


FAMILY = Family(
    name="video_llava", model_class=VideoLlavaForConditionalGeneration, config_class=VideoLlavaConfig,
    frames_as="video", media_token="<video>", media_token_id_attr="video_token_id",
    vision_towers=("model.video_tower", "model.image_tower"), projectors=("model.multi_modal_projector",),
    language_model="model.language_model", frame_tokens=frame_tokens,
    tiny_config=clip_llama_config, tiny_image_processor=clip_image_processor,
    released=("LanguageBind/Video-LLaVA-7B-hf",))
