"""One registry entry per model family: its HF classes, its prompt template, how frames become model inputs, and
which modules are the vision tower, the projector and the language model.

Nothing anywhere decides behaviour from a folder or hub name: the family is named in the config.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from transformers import (
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaNextVideoConfig,
    LlavaNextVideoForConditionalGeneration,
    LlavaOnevisionConfig,
    LlavaOnevisionForConditionalGeneration,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen3VLConfig,
    Qwen3VLForConditionalGeneration,
    VideoLlavaConfig,
    VideoLlavaForConditionalGeneration,
)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

@dataclass(frozen=True)
class Family:
    name: str
    model_class: type
    config_class: type
    frames_as: str  # "images": one <image> per frame (pixel_values); "video": one <video> (pixel_values_videos)
    media_token: str  # the placeholder token the text carries for the frames
    media_token_id_attr: str  # config attribute holding that token's id
    vision_towers: tuple[str, ...]  # module paths of the (frozen) vision encoders
    projectors: tuple[str, ...]  # module paths of the projector (Qwen: the merger, in the tower), trained fully
    language_model: str  # module path of the LLM, where LoRA goes
    # a single image goes through the model's image path (one <image>, pixel_values) rather than as a still video;
    # LLaVA-NeXT-Video's image path wants LLaVA-NeXT's any-resolution tiles, which per-frame preprocessing lacks
    image_path: bool = True
    user: str = "USER:"  # Vicuna v1: "<system> USER: <question> ASSISTANT: <answer></s>USER: ..."
    assistant: str = "ASSISTANT:"
    chat_template: str = "vicuna"  # the prompt template a config gets unless it sets chat_template
    media_wrap: tuple[str, str] = ("", "")  # text around each placeholder (Qwen: <|vision_start|> ... <|vision_end|>)
    # "fixed": every frame makes the same number of tokens (from the vision config); "dynamic": Qwen's image
    # processor keeps each frame's aspect ratio and resolution within min_pixels..max_pixels
    visual_tokens: str = "fixed"

    @property
    def projector(self) -> str:
        return self.projectors[0]

    @property
    def placeholder(self) -> str:
        """The text one placeholder is written as in a prompt."""
        return self.media_wrap[0] + self.media_token + self.media_wrap[1]

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
        side = vision.image_size // vision.patch_size
        if self.name == "llava_onevision":
            return math.ceil(side / 2) ** 2  # 2x2 bilinear pooling of each frame's patch grid
        side //= config.spatial_pool_stride
        return side * side  # LLaVA-NeXT-Video pools each frame's patch grid

    def tokens_per_placeholder(self, config, num_frames: int) -> int:
        """Tokens one media placeholder stands for: one frame's (<image>) or all frames' (<video>; LLaVA-OneVision
        adds one newline embedding after the frames)."""
        per_frame = self.tokens_per_frame(config)
        if self.frames_as == "images":
            return per_frame
        return per_frame * num_frames + (self.name == "llava_onevision")

    def frame_grid(self, image_processor, height: int, width: int) -> tuple[int, int, int]:
        """Qwen: the (time, height, width) patch grid of one frame of ``height`` x ``width`` pixels, as the image
        processor resizes it (aspect ratio kept, sides multiples of patch x merge, area within its size limits)."""
        factor = image_processor.patch_size * image_processor.merge_size
        size = image_processor.size
        h, w = smart_resize(height, width, factor=factor, min_pixels=size["shortest_edge"],
                            max_pixels=size["longest_edge"])
        return 1, h // image_processor.patch_size, w // image_processor.patch_size

    def dynamic_tokens(self, image_processor, height: int, width: int) -> int:
        """Qwen: the placeholder tokens of one frame (its patch grid after the 2x2 merge)."""
        t, h, w = self.frame_grid(image_processor, height, width)
        return t * h * w // image_processor.merge_size ** 2

    def skip_quantization(self) -> list[str]:
        """Full module paths bitsandbytes must leave unquantized (transformers 5 ignores short names)."""
        return [*self.vision_towers, *self.projectors, "lm_head"]


FAMILIES = {
    "llava": Family(
        name="llava", model_class=LlavaForConditionalGeneration, config_class=LlavaConfig,
        frames_as="images", media_token="<image>", media_token_id_attr="image_token_id",
        vision_towers=("model.vision_tower",), projectors=("model.multi_modal_projector",),
        language_model="model.language_model"),
    "video_llava": Family(
        name="video_llava", model_class=VideoLlavaForConditionalGeneration, config_class=VideoLlavaConfig,
        frames_as="video", media_token="<video>", media_token_id_attr="video_token_id",
        vision_towers=("model.video_tower", "model.image_tower"), projectors=("model.multi_modal_projector",),
        language_model="model.language_model"),
    "llava_next_video": Family(
        name="llava_next_video", model_class=LlavaNextVideoForConditionalGeneration,
        config_class=LlavaNextVideoConfig, frames_as="video", media_token="<video>",
        media_token_id_attr="video_token_id", vision_towers=("model.vision_tower",),
        projectors=("model.multi_modal_projector",), language_model="model.language_model", image_path=False),
    # Frames years apart go in as images, each with its date: Qwen's video input fuses pairs of consecutive frames
    # into one token set (temporal_patch_size 2), which would merge the before and after of a change.
    "qwen2_5_vl": Family(
        name="qwen2_5_vl", model_class=Qwen2_5_VLForConditionalGeneration, config_class=Qwen2_5_VLConfig,
        frames_as="images", media_token="<|image_pad|>", media_token_id_attr="image_token_id",
        vision_towers=("model.visual",), projectors=("model.visual.merger",), language_model="model.language_model",
        chat_template="model", media_wrap=("<|vision_start|>", "<|vision_end|>"), visual_tokens="dynamic"),
    "qwen3_vl": Family(
        name="qwen3_vl", model_class=Qwen3VLForConditionalGeneration, config_class=Qwen3VLConfig,
        frames_as="images", media_token="<|image_pad|>", media_token_id_attr="image_token_id",
        vision_towers=("model.visual",), projectors=("model.visual.merger", "model.visual.deepstack_merger_list"),
        language_model="model.language_model", chat_template="model",
        media_wrap=("<|vision_start|>", "<|vision_end|>"), visual_tokens="dynamic"),
    # Frames go in as one video: its image path tiles every frame at any resolution (1,485+ tokens a 384 px frame
    # with a single tile), its video path pools each frame to 196 tokens, and OneVision was trained on both.
    "llava_onevision": Family(
        name="llava_onevision", model_class=LlavaOnevisionForConditionalGeneration,
        config_class=LlavaOnevisionConfig, frames_as="video", media_token="<video>",
        media_token_id_attr="video_token_id", vision_towers=("model.vision_tower",),
        projectors=("model.multi_modal_projector",), language_model="model.language_model", image_path=False,
        chat_template="model"),
}


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown model family {name!r}; choose one of {sorted(FAMILIES)}") from None


def _check_registry() -> None:
    for name, family in FAMILIES.items():
        assert family.name == name and family.frames_as in ("images", "video"), name
        assert family.vision_towers and family.projectors and family.chat_template in ("vicuna", "model"), name
        assert family.visual_tokens in ("fixed", "dynamic"), name


_check_registry()
