"""The InternVL family: a sample's ids and pixels are what transformers' own InternVLProcessor makes of the same
frames (its chat template, each <IMG_CONTEXT> expanded to <img> + one tile's tokens + </img>, one tile a frame),
the model takes them, and a step trains LoRA and the projector only."""
import tempfile

import numpy as np
import torch
from PIL import Image
from transformers import AutoTokenizer, InternVLProcessor

from geollava.families import FAMILIES, TinySpec
from geollava.families.templates import INTERNVL
from geollava.geometry.box_formats import ImageSize, read_boxes, write_box
from geollava.geometry.boxes import Box
from geollava.launch import load_config
from geollava.sft.train import build_trainer

from helpers import tiny_argv, write_json

FAMILY = FAMILIES["internvl"]


class ImagesOnly(InternVLProcessor):
    """InternVLProcessor without its video processor (which needs torchvision, absent here): images are unchanged."""

    def check_argument_for_proper_class(self, name, arg):
        return None if arg is None else super().check_argument_for_proper_class(name, arg)


def frame_set(root):
    rng = np.random.default_rng(1)
    names = [f"f{k}.png" for k in range(2)]
    for name in names:
        Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(root / name)
    write_json(root / "train.json", [{"id": "a", "video": names, "conversations": [
        {"from": "human", "value": "<video>\nWhat changed?"}, {"from": "gpt", "value": "Two new buildings."}]}])
    return root, [Image.open(root / n).convert("RGB") for n in names]


def test_a_sample_is_what_internvl_s_processor_makes_of_it(tmp_path, tiny_models):
    root, frames = frame_set(tmp_path)
    config = load_config(tiny_argv(tmp_path / "run", root, tiny_models["internvl"], "internvl", "--num_frames", 2,
                                   "--dates_in_prompt", "false"))
    trainer, _ = build_trainer(config)
    item = trainer.train_dataset[0]
    with tempfile.TemporaryDirectory() as folder:
        trainer.processing_class.save_pretrained(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder, extra_special_tokens={
            "start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>",
            "video_token": "<video>"})
    per_tile = FAMILY.tokens_per_frame(trainer.model.config)
    processor = ImagesOnly(image_processor=FAMILY.tiny_image_processor(TinySpec()), tokenizer=tokenizer,
                           video_processor=None, image_seq_length=per_tile, chat_template=INTERNVL)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "image"},
                                             {"type": "text", "text": "What changed?"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "Two new buildings."}]}]
    text = processor.apply_chat_template(messages, tokenize=False)
    reference = processor(text=text, images=frames, images_kwargs={"crop_to_patches": False}, return_tensors="pt")
    assert item["input_ids"].tolist() == reference["input_ids"][0].tolist()
    assert torch.allclose(item["pixels"], reference["pixel_values"], atol=1e-6)
    assert per_tile == 4 and "<img>" + "<IMG_CONTEXT>" * 4 + "</img>" in tokenizer.decode(item["input_ids"])


def test_a_step_trains_lora_and_the_projector_only(tmp_path, tiny_models):
    root, _ = frame_set(tmp_path)
    trainer, _ = build_trainer(load_config(tiny_argv(tmp_path / "run", root, tiny_models["internvl"], "internvl",
                                                     "--num_frames", 2)))
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    moved = {n for n, p in trainer.model.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert moved and all("lora_" in n or FAMILY.is_projector(n) for n in moved)
    assert any(FAMILY.is_projector(n) for n in moved) and not any(FAMILY.is_vision(n) for n in moved)


def test_internvl_boxes_are_on_its_0_to_1000_grid():
    """evaluate_grounding.py: the numbers of [[x1, y1, x2, y2]] / 1000 x the image's width and height."""
    size = ImageSize(400, 200)
    (box,) = read_boxes("<ref>the lake</ref><box>[[100, 250, 500, 750]]</box>", "internvl", size)
    assert box.bounds == (40, 50, 200, 150)
    assert write_box(Box(10, 25, 50, 75), "internvl", size) == "<box>[[100, 250, 500, 750]]</box>"
