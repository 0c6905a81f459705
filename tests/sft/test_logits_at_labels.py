"""Logits only where the loss is: the LM head applied to the positions whose next token is labelled gives the
model's own loss (its full-logit forward, shifted by itself) and the same gradients, for every family, with and
without LoRA and on a 4-bit base; under ZeRO-3 the first steps log the same losses either way."""
import json
import os
import subprocess

import pytest
import torch

from geollava.launch import load_config
from geollava.data.collator import Collator
from geollava.data.dataset import AnnotationDataset
from geollava.data.prompt import PromptSettings
from geollava.data.validate import load_records
from geollava.families import FAMILIES, get_family
from geollava.models.adapters import trainable_setup
from geollava.models.load import load_model, load_processors
from geollava.sft.trainer import labelled_positions_only

from helpers import REPO_ROOT, tiny_argv


def batch_for(folder, family, data, count=3):
    tokenizer, processor = load_processors(str(folder))
    model = load_model(str(folder), family)
    settings = PromptSettings(num_frames=2)
    records = load_records(data / "train.json")
    dataset = AnnotationDataset(records, data, get_family(family), model.config, tokenizer, processor, settings)
    batch = Collator(get_family(family), tokenizer.pad_token_id)([dataset[k] for k in range(count)])
    batch.pop("bad_records", None)
    return model, batch


def loss_and_grads(model, batch):
    model.zero_grad()
    loss = model(**batch).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_the_loss_and_gradients_are_the_models_own(synth_set, tiny_models, family):
    model, batch = batch_for(tiny_models[family], family, synth_set)
    model.train()
    own, own_grads = loss_and_grads(model, batch)
    ours, our_grads = loss_and_grads(model, labelled_positions_only(batch))
    assert abs(own.item() - ours.item()) < 1e-6
    assert own_grads.keys() == our_grads.keys() and own_grads
    assert all(torch.allclose(own_grads[n], our_grads[n], atol=1e-6) for n in own_grads)
    lora = trainable_setup(model, get_family(family), load_config(tiny_argv("/tmp/x", synth_set, tiny_models[family],
                                                                               family), need_data=False).lora)
    own, own_grads = loss_and_grads(lora, batch)
    ours, our_grads = loss_and_grads(lora, labelled_positions_only(batch))
    assert abs(own.item() - ours.item()) < 1e-6
    assert any("lora_B" in n for n in own_grads)
    assert all(torch.allclose(own_grads[n], our_grads[n], atol=1e-6) for n in own_grads)


def test_on_a_4_bit_base(synth_set, tiny_models):
    folder = tiny_models["llava"]
    tokenizer, processor = load_processors(str(folder))
    _, batch = batch_for(folder, "llava", synth_set)
    config = load_config(tiny_argv("/tmp/x", synth_set, folder, "llava", "--bits", 4), need_data=False)
    model = load_model(str(folder), "llava", bits=4)
    qlora = trainable_setup(model, get_family("llava"), config.lora)
    own, _ = loss_and_grads(qlora, batch)
    ours, _ = loss_and_grads(qlora, labelled_positions_only(batch))
    assert abs(own.item() - ours.item()) < 1e-6


@pytest.mark.slow
def test_zero3_on_two_processes_logs_the_same_losses(tmp_path, synth_set, tiny_models):
    losses = {}
    for at_labels in ("true", "false"):
        out = tmp_path / at_labels
        argv = tiny_argv(out, synth_set, tiny_models["llava"], "llava", "--deepspeed",
                         REPO_ROOT / "configs/deepspeed/zero3.json", "--logits_at_labels", at_labels,
                         "--max_steps", 2, "--gradient_accumulation_steps", 2)
        result = subprocess.run(["bash", "scripts/finetune_lora.sh", *map(str, argv)], cwd=REPO_ROOT,
                                capture_output=True, text=True, timeout=900,
                                env={**os.environ, "NUM_GPUS": "2", "OMP_NUM_THREADS": "1"})
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        losses[at_labels] = [e["loss"] for e in json.loads((out / "train_log.json").read_text()) if "loss" in e]
    assert losses["true"] == pytest.approx(losses["false"], abs=1e-5) and len(losses["true"]) == 2
