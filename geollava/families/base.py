"""What a model family is: its HF classes, its prompt template, how frames become model inputs and placeholder
tokens, which modules are the vision tower, the projector and the language model, and how its tiny random model
is built. Generic code asks these; nothing anywhere decides behaviour from a family's, folder's or hub name."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

# Special tokens of the tiny tokenizers, taking the first ids in this order (their configs refer to the ids).
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<image>", "<video>"]  # Llama / Vicuna style
# Qwen's ChatML specials (also LLaVA-OneVision's Qwen2 tokenizer, which adds <image> and <video>)
CHATML_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                 "<|image_pad|>", "<|video_pad|>", "<image>", "<video>", "<img>", "</img>", "<IMG_CONTEXT>"]


@dataclass
class TinySpec:
    """Sizes of a tiny model; every field can be set from the `tiny_model:` block of a config."""
    image_size: int = 32
    patch_size: int = 8
    vision_hidden: int = 64
    vision_layers: int = 2
    text_hidden: int = 128
    text_layers: int = 2
    heads: int = 4
    vocab_size: int = 600
    seed: int = 0
    # Spread of the vision tower's position embeddings at init; 0 keeps transformers' 0.02. A trained CLIP's patch
    # tokens carry their place strongly; at 0.02 a random one's are drowned by the patch content (~1), and a
    # random base must first learn *where* a patch is before it can say where a change happened.
    vision_position_std: float = 0.0


@dataclass(frozen=True)
class Family:
    name: str
    model_class: type
    config_class: type
    frames_as: str  # "images": one placeholder per frame (pixel_values); "video": one <video> (pixel_values_videos)
    media_token: str  # the placeholder token the text carries for the frames
    media_token_id_attr: str  # config attribute holding that token's id
    vision_towers: tuple[str, ...]  # module paths of the (frozen) vision encoders
    projectors: tuple[str, ...]  # module paths of the projector (Qwen: the merger, in the tower), trained fully
    language_model: str  # module path of the LLM, where LoRA goes
    frame_tokens: Callable  # (model config) -> placeholder tokens of one frame as the family's frames go in
    tiny_config: Callable  # (family, TinySpec, vocab size) -> the config of a tiny random model
    tiny_image_processor: Callable  # (TinySpec) -> the family's own preprocessing at the tiny size
    # a single image goes through the model's image path (one <image>, pixel_values) rather than as a still video;
    # LLaVA-NeXT-Video's image path wants LLaVA-NeXT's any-resolution tiles, which per-frame preprocessing lacks
    image_path: bool = True
    video_extra_tokens: int = 0  # tokens a video placeholder holds beyond its frames' (OneVision: one newline)
    user: str = "USER:"  # Vicuna v1: "<system> USER: <question> ASSISTANT: <answer></s>USER: ..."
    assistant: str = "ASSISTANT:"
    chat_template: str = "vicuna_v1"  # the prompt template a config gets unless it sets chat_template
    box_format: str = "norm1"  # how the model writes boxes zero-shot (LLaVA-1.5: [x1, y1, x2, y2] fractions)
    tiny_chat_template: str | None = None  # the chat template a tiny model's tokenizer gets (the real model's)
    media_wrap: tuple[str, str] = ("", "")  # text around each placeholder (Qwen: <|vision_start|> ... <|vision_end|>)
    expanded_wrap: tuple[str, str] = ("", "")  # tokens around each expanded placeholder (InternVL: <img> ... </img>)
    # "fixed": every frame makes the same number of tokens (from the vision config); "dynamic": the image
    # processor keeps each frame's aspect ratio and resolution within min_pixels..max_pixels (Qwen)
    visual_tokens: str = "fixed"
    assembles: bool = False  # can be assembled from a CLIP tower, an LLM and LLaVA's projector (models/assemble.py)
    # (model, packed batch, sample lengths, images per sample) -> position ids of a padding-free row, where a
    # sample's positions are more than 0, 1, 2, ... (Qwen's 3-D rotary positions); None: those of data/packing.py
    packed_positions: Callable | None = None
    # hub ids of the family's reference checkpoints, whose released shapes `geollava model released` builds
    released: tuple[str, ...] = ()

    # -- module paths ----------------------------------------------------------------------------------------
    @property
    def projector(self) -> str:
        return self.projectors[0]

    def is_projector(self, parameter: str) -> bool:
        """Whether a parameter (of the bare or the PEFT-wrapped model) belongs to a projector."""
        return _under(parameter, self.projectors)

    def is_vision(self, parameter: str) -> bool:
        return _under(parameter, self.vision_towers)

    def skip_quantization(self) -> list[str]:
        """Full module paths bitsandbytes must leave unquantized (transformers 5 ignores short names)."""
        return [*self.vision_towers, *self.projectors, "lm_head"]

    def packed_inputs(self, model, batch: dict) -> dict:
        """A padding-free batch as the model takes it: the per-sample bookkeeping dropped, and the positions this
        family computes per sample (``model``: the bare or PEFT-wrapped model)."""
        batch = dict(batch)
        lengths, images = batch.pop("segment_lengths"), batch.pop("segment_images", None)
        if self.packed_positions is not None:
            batch["position_ids"] = self.packed_positions(model, batch, lengths, images)
        return batch

    # -- how frames go in ------------------------------------------------------------------------------------
    @property
    def placeholder(self) -> str:
        """The text one placeholder is written as in a prompt."""
        return self.media_wrap[0] + self.media_token + self.media_wrap[1]

    def media_token_id(self, config) -> int:
        return getattr(config, self.media_token_id_attr)

    def input_kind(self, media_kind: str) -> str:
        """How a record's frames go in: "image" (pixel_values, a placeholder per frame) or "video" (one video)."""
        if self.frames_as == "images" or (media_kind == "image" and self.image_path):
            return "image"
        return "video"

    def through_image_path(self, media_kind: str) -> bool:
        """A single image through a video family's image path (Video-LLaVA's image tower and <image>)."""
        return media_kind == "image" and self.frames_as == "video" and self.image_path

    def frames_shown(self, media_kind: str, num_frames: int) -> int:
        """Frames the model sees: a single image stays one image where it goes in as an image, and becomes a
        still video of ``num_frames`` otherwise."""
        return 1 if media_kind == "image" and self.input_kind(media_kind) == "image" else num_frames

    def tokens_per_image(self, config) -> int:
        """Placeholder tokens of one image through the image path (a LLaVA one)."""
        return llava_image_tokens(config)

    def tokens_per_frame(self, config) -> int:
        """How many placeholder tokens one frame becomes (what the model's feature count must match)."""
        return self.frame_tokens(config)

    def tokens_per_placeholder(self, config, num_frames: int) -> int:
        """Tokens one media placeholder stands for: one frame's (<image>) or all frames' (<video>)."""
        per_frame = self.tokens_per_frame(config)
        return per_frame if self.frames_as == "images" else per_frame * num_frames + self.video_extra_tokens

    def placeholder_counts(self, config, image_processor, media_kind: str, shown: int,
                           frame_sizes: Callable[[], list[tuple[int, int]]]) -> tuple[int, int | list[int]]:
        """(placeholder token id, tokens per placeholder — or one count per frame where frames differ) for a
        record showing ``shown`` frames; ``frame_sizes()`` gives their (height, width), read only where the
        count depends on them."""
        if self.visual_tokens == "dynamic":
            return self.media_token_id(config), [self.dynamic_tokens(image_processor, h, w) for h, w in frame_sizes()]
        if self.through_image_path(media_kind):
            return config.image_token_id, self.tokens_per_image(config)
        return self.media_token_id(config), self.tokens_per_placeholder(config, shown)

    # -- dynamic resolution (Qwen) ---------------------------------------------------------------------------
    def frame_grid(self, image_processor, height: int, width: int) -> tuple[int, int, int]:
        """The (time, height, width) patch grid of one frame of ``height`` x ``width`` pixels, as the image
        processor resizes it (aspect ratio kept, sides multiples of patch x merge, area within its limits)."""
        factor = image_processor.patch_size * image_processor.merge_size
        size = image_processor.size
        h, w = smart_resize(height, width, factor=factor, min_pixels=size["shortest_edge"],
                            max_pixels=size["longest_edge"])
        return 1, h // image_processor.patch_size, w // image_processor.patch_size

    def dynamic_tokens(self, image_processor, height: int, width: int) -> int:
        """The placeholder tokens of one frame (its patch grid after the merge)."""
        t, h, w = self.frame_grid(image_processor, height, width)
        return t * h * w // image_processor.merge_size ** 2

    def model_frame(self, image_processor, config, height: int, width: int) -> tuple[int, int]:
        """(width, height) of a frame as the model's processor resizes it (what Qwen's pixel boxes refer to)."""
        if self.visual_tokens == "dynamic":
            _, grid_h, grid_w = self.frame_grid(image_processor, height, width)
            return grid_w * image_processor.patch_size, grid_h * image_processor.patch_size
        side = config.vision_config.image_size
        return side, side

    def frame_grids(self, image_processor, frame_sizes: Callable[[], list[tuple[int, int]]]
                    ) -> list[tuple[int, int, int]] | None:
        """image_grid_thw rows, one per frame, for a dynamic-resolution family (``frame_sizes()`` gives each
        frame's (height, width)); None for a fixed one."""
        if self.visual_tokens != "dynamic":
            return None
        return [self.frame_grid(image_processor, h, w) for h, w in frame_sizes()]

    # -- tiny random models ----------------------------------------------------------------------------------
    def build_tiny_config(self, spec: TinySpec, vocab_size: int | None = None):
        return self.tiny_config(self, spec, vocab_size or spec.vocab_size)


def side(value) -> int:
    """An image or patch size as one number: a square's side (InternVL writes [448, 448])."""
    return value[0] if isinstance(value, (list, tuple)) else value


def llava_image_tokens(config) -> int:
    """Placeholder tokens of one image through a LLaVA image path (CLS dropped with the default strategy)."""
    vision = config.vision_config
    patches = (vision.image_size // vision.patch_size) ** 2
    return patches if config.vision_feature_select_strategy == "default" else patches + 1


def _under(name: str, paths: tuple[str, ...]) -> bool:
    return any(f"{p}." in name for p in paths)


def text_sizes(spec: TinySpec, vocab_size: int) -> dict:
    """A tiny LLM's sizes, shared by every family's text config."""
    return dict(hidden_size=spec.text_hidden, intermediate_size=2 * spec.text_hidden,
                num_hidden_layers=spec.text_layers, num_attention_heads=spec.heads, num_key_value_heads=spec.heads,
                vocab_size=vocab_size, max_position_embeddings=4096)


def chatml_text(spec: TinySpec, vocab_size: int) -> dict:
    """A Qwen2-shaped tiny text config: no BOS, <|im_end|> ends a turn, <|endoftext|> pads."""
    ids = {t: i for i, t in enumerate(CHATML_TOKENS)}
    return dict(**text_sizes(spec, vocab_size), bos_token_id=None, eos_token_id=ids["<|im_end|>"],
                pad_token_id=ids["<|endoftext|>"])


def clip_llama_config(family: Family, spec: TinySpec, vocab_size: int):
    """A CLIP tower, the 2-layer GELU projector and a Llama LLM: the LLaVA-1.5-era families."""
    from transformers import CLIPVisionConfig, LlamaConfig

    ids = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    vision = CLIPVisionConfig(hidden_size=spec.vision_hidden, intermediate_size=2 * spec.vision_hidden,
                              num_hidden_layers=spec.vision_layers, num_attention_heads=spec.heads,
                              image_size=spec.image_size, patch_size=spec.patch_size, projection_dim=spec.vision_hidden)
    text = LlamaConfig(**text_sizes(spec, vocab_size), bos_token_id=ids["<s>"], eos_token_id=ids["</s>"],
                       pad_token_id=ids["<pad>"])
    config = family.config_class(vision_config=vision, text_config=text, image_token_index=ids["<image>"],
                                 projector_hidden_act="gelu", vision_feature_layer=-2,
                                 vision_feature_select_strategy="default",
                                 **({"video_token_index": ids["<video>"]} if family.frames_as == "video" else {}))
    config.pad_token_id = ids["<pad>"]
    return config


def clip_image_processor(spec: TinySpec):
    """CLIP preprocessing (resize the short side, centre crop, OpenAI mean / std) at the tiny size."""
    from transformers import CLIPImageProcessorPil

    size = spec.image_size
    return CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
