"""One registry entry per model family: its HF classes, its prompt template, how frames become model inputs, and
which modules are the vision tower, the projector and the language model.

Nothing anywhere decides behaviour from a folder or hub name: the family is named in the config.
"""
from __future__ import annotations

from dataclasses import dataclass

from transformers import (
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaNextVideoConfig,
    LlavaNextVideoForConditionalGeneration,
    VideoLlavaConfig,
    VideoLlavaForConditionalGeneration,
)

@dataclass(frozen=True)
class Family:
    name: str
    model_class: type
    config_class: type
    frames_as: str  # "images": one <image> per frame (pixel_values); "video": one <video> (pixel_values_videos)
    media_token: str  # the placeholder the text carries for the frames
    media_token_id_attr: str  # config attribute holding that token's id
    vision_towers: tuple[str, ...]  # module paths of the (frozen) vision encoders
    projector: str  # module path of the projector, trained fully
    language_model: str  # module path of the LLM, where LoRA goes
    # a single image goes through the model's image path (one <image>, pixel_values) rather than as a still video;
    # LLaVA-NeXT-Video's image path wants LLaVA-NeXT's any-resolution tiles, which per-frame preprocessing lacks
    image_path: bool = True
    user: str = "USER:"  # Vicuna v1: "<system> USER: <question> ASSISTANT: <answer></s>USER: ..."
    assistant: str = "ASSISTANT:"

    def media_token_id(self, config) -> int:
        return getattr(config, self.media_token_id_attr)

    def tokens_per_image(self, config) -> int:
        """Placeholder tokens of one image through the image path (CLS dropped with the default strategy)."""
        vision = config.vision_config
        patches = (vision.image_size // vision.patch_size) ** 2
        return patches if config.vision_feature_select_strategy == "default" else patches + 1

    def tokens_per_frame(self, config) -> int:
        """How many placeholder tokens one frame becomes (what the model's feature count must match)."""
        if self.name == "llava":
            return self.tokens_per_image(config)  # LLaVA's frames go through its image path
        vision = config.vision_config
        if self.name == "video_llava":
            return (vision.image_size // vision.patch_size) ** 2 + 1  # Video-LLaVA keeps CLS for video frames
        side = (vision.image_size // vision.patch_size) // config.spatial_pool_stride
        return side * side  # LLaVA-NeXT-Video pools each frame's patch grid

    def tokens_per_placeholder(self, config, num_frames: int) -> int:
        """Tokens one media placeholder stands for: one frame's (<image>) or all frames' (<video>)."""
        per_frame = self.tokens_per_frame(config)
        return per_frame if self.frames_as == "images" else per_frame * num_frames

    def skip_quantization(self) -> list[str]:
        """Full module paths bitsandbytes must leave unquantized (transformers 5 ignores short names)."""
        return [*self.vision_towers, self.projector, "lm_head"]


FAMILIES = {
    "llava": Family(
        name="llava", model_class=LlavaForConditionalGeneration, config_class=LlavaConfig,
        frames_as="images", media_token="<image>", media_token_id_attr="image_token_id",
        vision_towers=("model.vision_tower",), projector="model.multi_modal_projector",
        language_model="model.language_model"),
    "video_llava": Family(
        name="video_llava", model_class=VideoLlavaForConditionalGeneration, config_class=VideoLlavaConfig,
        frames_as="video", media_token="<video>", media_token_id_attr="video_token_id",
        vision_towers=("model.video_tower", "model.image_tower"), projector="model.multi_modal_projector",
        language_model="model.language_model"),
    "llava_next_video": Family(
        name="llava_next_video", model_class=LlavaNextVideoForConditionalGeneration,
        config_class=LlavaNextVideoConfig, frames_as="video", media_token="<video>",
        media_token_id_attr="video_token_id", vision_towers=("model.vision_tower",),
        projector="model.multi_modal_projector", language_model="model.language_model", image_path=False),
}


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown model family {name!r}; choose one of {sorted(FAMILIES)}") from None


def _check_registry() -> None:
    for name, family in FAMILIES.items():
        assert family.name == name and family.frames_as in ("images", "video"), name
        assert family.media_token in ("<image>", "<video>") and family.vision_towers and family.projector, name


_check_registry()
