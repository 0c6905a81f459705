"""`geollava model convert-geochat`: a checkpoint in GeoChat's / LLaVA-1.5's own layout, written here with small
shapes and the same key names, becomes a transformers LLaVA whose logits equal the original model's — computed
here the way GeoChat's code computes them (its tower interpolated to 504 px, patch features of layer -2, the MLP
projector, the image spliced in where the prompt has it)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from transformers import (AutoTokenizer, CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel, LlamaConfig,
                          LlamaForCausalLM, LlavaForConditionalGeneration)

from geollava.models.convert_original import interpolate_positions

from helpers import cli, vicuna_tokenizer_folder

TEXTS = ["A chat between a curious human and an artificial intelligence assistant.", "USER: ASSISTANT:",
         "Classify the image within one of the given classes: harbor, river, forest.", "a tennis court"] * 20


def write_clip_tower(folder, image_size=336):
    """A tiny CLIP vision tower at CLIP-336's geometry (14 px patches, a 24 x 24 grid), as a hub folder."""
    torch.manual_seed(0)
    config = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2,
                              image_size=image_size, patch_size=14, projection_dim=32)
    tower = CLIPVisionModel(config)
    torch.nn.init.normal_(tower.get_input_embeddings().weight, std=0.5)  # a patch embedding that tells pixels apart
    for module in tower.modules():
        if isinstance(module, torch.nn.Embedding):
            torch.nn.init.normal_(module.weight, std=1.0)  # positions that matter, so interpolation is tested
    tower.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
                       ).save_pretrained(folder)
    return folder


def write_original_checkpoint(folder, tower, model_type: str):
    """A Llama with `model.mm_projector.{0,2}` and a config naming its tower, as GeoChat / LLaVA save them."""
    tokenizer_folder = vicuna_tokenizer_folder(folder, TEXTS)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    torch.manual_seed(1)
    llama = LlamaForCausalLM(LlamaConfig(hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=4, vocab_size=len(tokenizer),
                                         max_position_embeddings=4096, bos_token_id=1, eos_token_id=2))
    state = {k: v.contiguous() for k, v in llama.state_dict().items()}
    projector = torch.nn.Sequential(torch.nn.Linear(32, 48), torch.nn.GELU(), torch.nn.Linear(48, 48))
    state.update({f"model.mm_projector.{k}": v for k, v in projector.state_dict().items()})
    state["model.vision_tower.vision_tower.vision_model.post_layernorm.weight"] = torch.zeros(32)  # ignored, as there
    save_file(state, folder / "model.safetensors")
    config = {**llama.config.to_dict(), "model_type": model_type, "architectures": ["GeoChatLlamaForCausalLM"],
              "mm_vision_tower": str(tower), "mm_projector_type": "mlp2x_gelu", "mm_hidden_size": 32,
              "mm_vision_select_layer": -2, "mm_vision_select_feature": "patch", "mm_use_im_start_end": False,
              "mm_use_im_patch_token": False, "image_aspect_ratio": "pad", "tune_mm_mlp_adapter": False}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def geochat_tower(tower_folder, image_size):
    """CLIPVisionTower.clip_interpolate_embeddings of GeoChat, step by step."""
    tower = CLIPVisionModel.from_pretrained(tower_folder)
    embeddings = tower.vision_model.embeddings if hasattr(tower, "vision_model") else tower.embeddings
    pos = embeddings.position_embedding.weight.data.unsqueeze(0)
    _, seq, dim = pos.shape
    old, new = int(math.sqrt(seq - 1)), image_size // 14
    grid = pos[:, 1:, :].permute(0, 2, 1).reshape(1, dim, old, old)
    grid = torch.nn.functional.interpolate(grid, size=new, mode="bicubic", align_corners=True)
    grid = grid.reshape(1, dim, new * new).permute(0, 2, 1)
    weight = torch.cat([pos[:, :1, :], grid], dim=1)[0]
    embeddings.position_embedding = torch.nn.Embedding(new * new + 1, dim)
    embeddings.position_embedding.weight.data.copy_(weight)
    embeddings.image_size, embeddings.num_patches, embeddings.num_positions = image_size, new * new, new * new + 1
    embeddings.register_buffer("position_ids", torch.arange(new * new + 1).expand((1, -1)), persistent=False)
    tower.config.image_size = image_size
    return tower


@torch.no_grad()
def original_logits(checkpoint, tower_folder, image_size, pixels, before, after):
    """The original model's forward: patch features of layer -2 through mm_projector, spliced between the
    prompt's text embeddings where its <image> stood (GeoChat's prepare_inputs_labels_for_multimodal)."""
    config = json.loads((checkpoint / "config.json").read_text())
    state = load_file(checkpoint / "model.safetensors")
    llama = LlamaForCausalLM(LlamaConfig(**{k: v for k, v in config.items() if not k.startswith("mm_")}))
    llama.load_state_dict({k: v for k, v in state.items() if not k.startswith(("model.mm_", "model.vision"))})
    projector = torch.nn.Sequential(torch.nn.Linear(32, 48), torch.nn.GELU(), torch.nn.Linear(48, 48))
    projector.load_state_dict({k[len("model.mm_projector."):]: v for k, v in state.items() if "mm_projector" in k})
    tower = geochat_tower(tower_folder, image_size) if image_size != 336 else CLIPVisionModel.from_pretrained(tower_folder)
    features = tower(pixels, output_hidden_states=True).hidden_states[-2][:, 1:]
    image = projector(features)
    embed = llama.get_input_embeddings()
    inputs = torch.cat([embed(torch.tensor([before])), image, embed(torch.tensor([after]))], dim=1)
    return llama(inputs_embeds=inputs).logits


def test_positions_interpolate_as_geochat_does(tmp_path):
    tower = write_clip_tower(tmp_path / "clip")
    weight = CLIPVisionModel.from_pretrained(tower).state_dict()
    weight = next(v for k, v in weight.items() if k.endswith("position_embedding.weight"))
    ours = interpolate_positions(weight, 504, 14)
    theirs = geochat_tower(tower, 504)
    theirs = next(v for k, v in theirs.state_dict().items() if k.endswith("position_embedding.weight"))
    assert ours.shape == (1 + 36 * 36, 32) and torch.equal(ours, theirs)
    assert torch.equal(ours[0], weight[0])  # the CLS position is kept as it is
    # align_corners=True: the grid's corners land on the old corners
    assert torch.allclose(ours[1], weight[1]) and torch.allclose(ours[-1], weight[-1])


@pytest.mark.parametrize("model_type,image_size", [("geochat", 504), ("llava", 336)])
def test_converted_logits_equal_the_original_layouts(tmp_path, model_type, image_size):
    tower = write_clip_tower(tmp_path / "clip")
    checkpoint = write_original_checkpoint(tmp_path / model_type, tower, model_type)
    out = tmp_path / f"{model_type}-hf"
    result = cli("model", "convert-geochat", checkpoint, out, "--dtype", "float32")
    assert result.returncode == 0, result.stderr
    model = LlavaForConditionalGeneration.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    processor = CLIPImageProcessor.from_pretrained(out)
    assert model.config.vision_config.image_size == image_size
    assert model.config.image_seq_length == (image_size // 14) ** 2
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8))
    # GeoChat's eval preprocesses with the 336 tower's processor told 504: the converted one does so by itself
    theirs = CLIPImageProcessor.from_pretrained(tower).preprocess(
        [image], crop_size={"height": image_size, "width": image_size}, size={"shortest_edge": image_size},
        return_tensors="pt")["pixel_values"]
    pixels = processor([image], return_tensors="pt")["pixel_values"]
    assert torch.equal(pixels, theirs)

    before = tokenizer("A chat between a curious human. USER: ").input_ids
    after = tokenizer("\nClassify the image. ASSISTANT:", add_special_tokens=False).input_ids
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    assert image_id == model.config.image_token_index == len(tokenizer) - 1
    ids = torch.tensor([before + [image_id] * model.config.image_seq_length + after])
    with torch.no_grad():
        converted = model(input_ids=ids, pixel_values=pixels).logits
    expected = original_logits(checkpoint, tower, image_size, theirs, before, after)
    vocab = expected.shape[-1]
    assert converted.shape[1] == expected.shape[1] and converted.shape[-1] == vocab + 1  # + the <image> token
    torch.testing.assert_close(converted[..., :vocab], expected, rtol=1e-4, atol=1e-4)


def test_a_transformers_llava_folder_is_told_it_needs_no_conversion(tmp_path, tiny_models):
    result = cli("model", "convert-geochat", tiny_models["llava"], tmp_path / "out")
    assert result.returncode == 2 and "needs no conversion" in result.stderr


@pytest.mark.slow
def test_a_converted_geochat_is_scored_by_eval_and_fine_tuned(tmp_path, task_set):
    import yaml

    from geollava.evaluation.evaluate import main as eval_main
    from geollava.sft.train import main as train_main

    from helpers import REPO_ROOT

    checkpoint = write_original_checkpoint(tmp_path / "geochat", write_clip_tower(tmp_path / "clip"), "geochat")
    out = tmp_path / "geochat-hf"
    assert cli("model", "convert-geochat", checkpoint, out, "--dtype", "float32").returncode == 0
    scored = eval_main(["--checkpoint", str(out), "--family", "llava", "--data", str(task_set / "val.json"),
                        "--output-dir", str(tmp_path / "eval"), "--max-new-tokens", "6", "--num-workers", "0",
                        "--no-meteor"])["base"]
    assert set(scored["tasks"]) == {"scene", "vqa", "refer", "grounding", "region_caption"}
    config = yaml.safe_load((REPO_ROOT / "configs" / "tiny.yaml").read_text())
    del config["tiny_model"]
    config.update(model_name_or_path=str(out), train_data=str(task_set / "train.json"), output_dir=str(tmp_path / "ft"),
                  max_steps=2, per_device_train_batch_size=2, save_steps=100, report_to="none", num_frames=1)
    (tmp_path / "ft.yaml").write_text(yaml.safe_dump(config))
    run = train_main([str(tmp_path / "ft.yaml")])
    assert (run / "adapter_model.safetensors").is_file()
    assert json.loads((run / "train_log.json").read_text())[-1]["step"] == 2
