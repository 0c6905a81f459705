"""The seed's recipe: LLaVA-1.5 assembled from a CLIP tower, a LLaMA LLM and LLaVA's projector file."""
import numpy as np
import pytest
import torch
from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM

from geollava.launch import load_config
from geollava.data.dataset import AnnotationDataset
from geollava.data.prompt import PromptSettings
from geollava.models.assemble import assemble_llava, load_projector
from geollava.families import get_family
from geollava.models.load import load_model, load_processors
from geollava.models.tiny import image_processor, train_tokenizer
from geollava.synthetic.captions import tokenizer_corpus
from geollava.sft.train import build_trainer

from helpers import tiny_argv


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("parts")
    torch.manual_seed(0)
    vision = CLIPVisionModel(CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                              num_attention_heads=4, image_size=32, patch_size=8))
    vision.save_pretrained(root / "clip")
    image_processor(32).save_pretrained(root / "clip")
    tokenizer = train_tokenizer(tokenizer_corpus())
    llm = LlamaForCausalLM(LlamaConfig(hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                                       num_attention_heads=4, vocab_size=len(tokenizer)))
    llm.save_pretrained(root / "vicuna")
    tokenizer.save_pretrained(root / "vicuna")
    projector = {"model.mm_projector.0.weight": torch.randn(128, 64), "model.mm_projector.0.bias": torch.randn(128),
                 "model.mm_projector.2.weight": torch.randn(128, 128), "model.mm_projector.2.bias": torch.randn(128)}
    torch.save(projector, root / "mm_projector.bin")
    return root, vision, llm, projector


def test_assembled_model_holds_every_part(tmp_path, parts):
    root, vision, llm, projector = parts
    out = assemble_llava(str(root / "clip"), str(root / "vicuna"), tmp_path / "llava", str(root / "mm_projector.bin"))
    model = load_model(str(out), "llava")
    assert model.config.vision_feature_layer == -2
    for name, tensor in vision.state_dict().items():
        assert torch.equal(model.model.vision_tower.state_dict()[name], tensor), name
    for name, tensor in llm.model.state_dict().items():
        assert torch.equal(model.model.language_model.state_dict()[name], tensor), name
    assert torch.equal(model.model.multi_modal_projector.linear_1.weight, projector["model.mm_projector.0.weight"])
    assert torch.equal(model.model.multi_modal_projector.linear_2.bias, projector["model.mm_projector.2.bias"])
    assert isinstance(model.model.multi_modal_projector.act, torch.nn.GELU) or "GELU" in type(
        model.model.multi_modal_projector.act).__name__


def test_geochat_resolution_is_persisted(tmp_path, parts):
    root, vision, *_ = parts
    out = assemble_llava(str(root / "clip"), str(root / "vicuna"), tmp_path / "llava504", image_size=48)
    model = load_model(str(out), "llava")  # reloads at the new size
    assert model.config.vision_config.image_size == 48
    positions = model.model.vision_tower.embeddings.position_embedding.weight
    assert positions.shape == (6 * 6 + 1, 64)
    assert torch.equal(positions[0], vision.embeddings.position_embedding.weight[0])  # CLS kept
    _, processor = load_processors(str(out))
    assert processor.crop_size == {"height": 48, "width": 48}
    family = get_family("llava")
    tokens = family.tokens_per_frame(model.config)
    assert tokens == 36
    ids = torch.tensor([[1] + [model.config.image_token_id] * tokens + [7, 8]])
    with torch.no_grad():
        assert model(input_ids=ids, pixel_values=torch.randn(1, 3, 48, 48)).logits.shape[1] == ids.shape[1]


def test_projector_file_must_be_llava_format(tmp_path):
    torch.save({"mm_projector.weight": torch.zeros(2, 2)}, tmp_path / "bad.bin")
    with pytest.raises(ValueError, match="not a LLaVA mlp2x_gelu projector file"):
        load_projector(tmp_path / "bad.bin")


def test_training_from_parts_and_padding_to_square(tmp_path, parts, synth_set):
    root, *_ = parts
    argv = tiny_argv(tmp_path / "run", synth_set, tmp_path / "assembled", "llava", "--max_steps", 1)
    config_path = tmp_path / "parts.yaml"
    config_path.write_text(open(argv[0]).read().split("tiny_model:")[0])  # the tiny config without its model block
    argv[0] = str(config_path)
    config = load_config(argv + ["--vision_tower", str(root / "clip"), "--language_model", str(root / "vicuna"),
                                  "--pretrained_projector", str(root / "mm_projector.bin"),
                                  "--image_aspect_ratio", "pad"])
    trainer, extras = build_trainer(config)
    assert (tmp_path / "assembled" / "config.json").is_file() and extras.resolved_config["vision_tower"] is None
    trainer.train()
    dataset: AnnotationDataset = trainer.train_dataset
    wide = np.full((16, 32, 3), 200, dtype=np.uint8)
    pixels = dataset.to_pixels([wide])[0]
    assert pixels.shape == (3, 32, 32)
    assert pixels[:, 0, :].abs().max() < 0.02  # the padded band is the mean colour: ~0 after normalising
    assert pixels[:, 16, :].mean() > 1.0  # the picture itself
    resize = AnnotationDataset(dataset.records, dataset.media_root, dataset.family, dataset.model_config,
                                  dataset.tokenizer, extras.image_processor, PromptSettings(num_frames=4))
    assert resize.to_pixels([wide])[0][:, 0, :].mean() > 1.0  # no padding: resized and cropped
