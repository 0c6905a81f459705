"""GRPO for every family, on single images and on dated frames: the log-probabilities TRL computes from the
processor's inputs (processor.py) equal the model's own, computed from the batch SFT's collator makes of the
same samples — so the pixels reach the model as in SFT (a video family's clips included) and the prompt is SFT's
generation prompt — and a GRPO step trains and saves a checkpoint evaluation loads."""
import pytest
import torch
from trl.data_utils import prepare_multimodal_messages

from geollava.launch import load_config
from geollava.data.collator import Collator
from geollava.families import FAMILIES
from geollava.grpo.train import build_grpo_trainer

pytestmark = pytest.mark.slow


def grpo_argv(tmp_path, data, model_dir, family, *extra):
    return ["--init_from", str(model_dir), "--family", family, "--train_data", str(data / "train.json"),
            "--output_dir", str(tmp_path / "run"), "--rewards", '{"task": 1.0, "format": 0.1}',
            "--num_generations", "2", "--per_device_train_batch_size", "4", "--max_completion_length", "4",
            "--max_steps", "1", "--save_steps", "100", "--logging_steps", "1", "--report_to", "none",
            "--dataloader_num_workers", "0", "--num_frames", "2", *map(str, extra)]


def model_log_probs(model, collator, items, completion: torch.Tensor) -> torch.Tensor:
    """log p(completion | prompt) per token, from the model's own logits on SFT's collated batch."""
    batch = collator(items)
    batch.pop("labels")
    ids = torch.cat([batch.pop("input_ids"), completion], dim=1)
    mask = torch.cat([batch.pop("attention_mask"), torch.ones_like(completion)], dim=1)
    if "mm_token_type_ids" in batch:
        batch["mm_token_type_ids"] = torch.cat([batch["mm_token_type_ids"], torch.zeros_like(completion)], dim=1)
    logits = model(input_ids=ids, attention_mask=mask, **batch).logits[:, -completion.size(1) - 1:-1]
    return torch.log_softmax(logits.float(), -1).gather(-1, completion[..., None])[..., 0]


@pytest.mark.parametrize("media", ["frames", "image"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_trl_log_probs_are_the_models_own_and_a_step_trains(tmp_path, synth_set, task_set, tiny_models, family,
                                                            media):
    data = synth_set if media == "frames" else task_set
    config = load_config(grpo_argv(tmp_path, data, tiny_models[family], family))
    trainer, _ = build_grpo_trainer(config)
    rows = [trainer.train_dataset[i] for i in range(2)]
    items = [row["images"][0].item for row in rows]
    processor = trainer.processing_class
    prompts = [prepare_multimodal_messages(row["prompt"], row["images"]) for row in rows]
    generation = processor.apply_chat_template(prompts, tokenize=True, return_dict=True)
    assert generation["input_ids"] == [item["input_ids"].tolist() for item in items]  # SFT's generation prompt
    inputs = processor(images=[row["images"] for row in rows], text=processor.apply_chat_template(prompts))
    forward = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
    completion = torch.tensor([[31, 32, 33], [34, 35, 36]])  # past every special token (the media ones too)
    ids = torch.cat([inputs["input_ids"], completion], dim=1)
    mask = torch.cat([inputs["attention_mask"], torch.ones_like(completion)], dim=1)
    if "mm_token_type_ids" in forward:  # TRL extends them over the completion
        forward["mm_token_type_ids"] = torch.cat([forward["mm_token_type_ids"], torch.zeros_like(completion)], 1)
    model = trainer.model
    model.eval()
    with torch.no_grad():
        trl, _, _ = trainer._get_per_token_logps_and_entropies(
            model, ids, mask, completion.size(1), num_images=[len(row["images"]) for row in rows], **forward)
        own = model_log_probs(model, Collator(trainer.family, processor.tokenizer.pad_token_id, "left"), items,
                              completion)
        blind = [dict(item, pixels=torch.zeros_like(item["pixels"])) for item in items]
        without_pixels = model_log_probs(model, Collator(trainer.family, processor.tokenizer.pad_token_id, "left"),
                                         blind, completion)
    assert torch.allclose(trl, own, atol=1e-5), (trl - own).abs().max()
    assert not torch.allclose(own, without_pixels, atol=1e-5)  # the pixels are seen: the check can fail
    model.train()
    trainer.train()
    log = trainer.state.log_history[0]
    assert {"rewards/task/mean", "rewards/format/mean", "rewards/task/zero_std_groups"} <= set(log)
