"""internvl — InternVL3 as transformers ships it (InternViT, pixel-shuffle MLP projector, Qwen2.5, ChatML): every
frame an image of its own, one 448 px tile of 256 tokens, each expanded as `<img>` + tokens + `</img>`.

Its processor tiles a single image into 1-12 tiles of 448 px and a thumbnail; its image processor alone (and its
video path, one tile per frame) does not, and neither does this suite: every frame is one tile, so change frames
and a single image cost the same 256 tokens each. Boxes are InternVL's grounding convention, `<ref>phrase</ref>
<box>[[x1, y1, x2, y2]]</box>` on a 0-1000 grid (OpenGVLab/InternVL internvl_chat/eval/refcoco/
evaluate_grounding.py: the numbers / 1000 x width, height): box format `internvl`."""
from transformers import (GotOcr2ImageProcessorPil, InternVLConfig, InternVLForConditionalGeneration, Qwen2Config,
                          InternVLVisionConfig)

from .base import CHATML_TOKENS, Family, TinySpec, chatml_text, side
from .templates import INTERNVL


def frame_tokens(config) -> int:
    """One tile's tokens: its patch grid after the pixel shuffle (downsample_ratio 0.5: a quarter)."""
    vision = config.vision_config
    return int((side(vision.image_size) // side(vision.patch_size)) ** 2 * config.downsample_ratio ** 2)


def tiny_config(family: Family, spec: TinySpec, vocab_size: int):
    """An InternViT tower, the pixel-shuffle projector, a Qwen2 LLM; <IMG_CONTEXT> the image token."""
    ids = {t: i for i, t in enumerate(CHATML_TOKENS)}
    vision = InternVLVisionConfig(hidden_size=spec.vision_hidden, intermediate_size=2 * spec.vision_hidden,
                                  num_hidden_layers=spec.vision_layers, num_attention_heads=spec.heads,
                                  image_size=[spec.image_size] * 2, patch_size=[spec.patch_size] * 2)
    text = Qwen2Config(**chatml_text(spec, vocab_size))
    config = family.config_class(vision_config=vision.to_dict(), text_config=text.to_dict(),
                                 image_token_id=ids["<IMG_CONTEXT>"], downsample_ratio=0.5,
                                 image_seq_length=(spec.image_size // spec.patch_size) ** 2 // 4,
                                 tie_word_embeddings=False)
    config.pad_token_id = ids["<|endoftext|>"]
    return config


def tiny_processor(spec: TinySpec):
    """GotOcr2's resize to one square tile, no tiling, ImageNet mean / std (the released preprocessor's)."""
    return GotOcr2ImageProcessorPil(size={"height": spec.image_size, "width": spec.image_size},
                                    crop_to_patches=False, image_mean=[0.485, 0.456, 0.406],
                                    image_std=[0.229, 0.224, 0.225])


FAMILY = Family(
    name="internvl", model_class=InternVLForConditionalGeneration, config_class=InternVLConfig,
    frames_as="images", media_token="<IMG_CONTEXT>", media_token_id_attr="image_token_id",
    vision_towers=("model.vision_tower",), projectors=("model.multi_modal_projector",),
    language_model="model.language_model", frame_tokens=frame_tokens, chat_template="model", box_format="internvl",
    tiny_config=tiny_config, tiny_image_processor=tiny_processor, tiny_chat_template=INTERNVL,
    expanded_wrap=("<img>", "</img>"), released=("OpenGVLab/InternVL3-8B-hf",))
