"""llava — LLaVA-1.5 (CLIP ViT-L/14-336, the mlp2x_gelu projector, Vicuna), GeoChat, and any LLaVA assembled from
a CLIP tower, an LLM and LLaVA's projector. Each frame goes in as an image, with its date."""
from transformers import LlavaConfig, LlavaForConditionalGeneration

from .base import Family, clip_image_processor, clip_llama_config, llava_image_tokens

FAMILY = Family(
    name="llava", model_class=LlavaForConditionalGeneration, config_class=LlavaConfig,
    frames_as="images", media_token="<image>", media_token_id_attr="image_token_id",
    vision_towers=("model.vision_tower",), projectors=("model.multi_modal_projector",),
    language_model="model.language_model",
    frame_tokens=llava_image_tokens,  # frames go through the image path
    tiny_config=clip_llama_config, tiny_image_processor=clip_image_processor, assembles=True,
    released=("llava-hf/llava-1.5-7b-hf", "MBZUAI/geochat-7B"))
