"""QLoRA on the CPU: 4-bit NF4 and 8-bit bases, what gets quantized, and the repacking trap (bitsandbytes repacks
4-bit weights for inference at the first no-grad forward on a CPU with AVX512-BF16, after which LoRA silently gets
zero gradients: train, evaluate, train again, and the LoRA weights must still move)."""
import bitsandbytes as bnb
import pytest
import torch

from geollava.launch import load_config
from geollava.families import FAMILIES
from geollava.sft.train import build_trainer

from helpers import tiny_argv


def qlora_trainer(tmp_path, synth_set, tiny_models, bits, family="llava"):
    argv = tiny_argv(tmp_path / f"q{bits}", synth_set, tiny_models[family], family, "--bits", bits,
                     "--max_steps", 2)
    trainer, _ = build_trainer(load_config(argv))
    return trainer


def lora_weights(model) -> dict:
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}


@pytest.mark.parametrize("family", ["llava", "qwen2_5_vl", "qwen3_vl", "llava_onevision"])
@pytest.mark.parametrize("bits,layer", [(4, bnb.nn.Linear4bit), (8, bnb.nn.Linear8bitLt)])
def test_only_the_language_model_is_quantized(tmp_path, synth_set, tiny_models, bits, layer, family):
    model = qlora_trainer(tmp_path, synth_set, tiny_models, bits, family).model
    quantized = [n for n, m in model.named_modules() if isinstance(m, layer)]
    assert quantized and all(".language_model." in n for n in quantized), quantized[:3]
    family = FAMILIES[family]
    for path in [*family.vision_towers, *family.projectors]:
        inner = model.get_submodule("base_model.model." + path)
        assert not any(isinstance(m, (bnb.nn.Linear4bit, bnb.nn.Linear8bitLt)) for m in inner.modules()), path
    assert type(model.get_submodule("base_model.model.lm_head")) is torch.nn.Linear
    if bits == 4:
        weight = model.get_submodule(quantized[0]).weight
        assert weight.quant_state.quant_type == "nf4" and weight.quant_state.nested  # double quantization


def lora_gradients(trainer, batch) -> dict:
    trainer.model.train()
    trainer.model.zero_grad()
    trainer.model(**batch).loss.backward()
    return {n: p.grad.clone() for n, p in trainer.model.named_parameters() if "lora_A" in n}


@pytest.mark.parametrize("bits", [4, 8])
def test_train_evaluate_train_keeps_learning(tmp_path, synth_set, tiny_models, bits):
    trainer = qlora_trainer(tmp_path, synth_set, tiny_models, bits)
    start = lora_weights(trainer.model)
    trainer.train()
    assert any(not torch.equal(start[n], p) for n, p in lora_weights(trainer.model).items() if "lora_B" in n)
    batch = trainer.data_collator([trainer.train_dataset[1], trainer.train_dataset[2]])
    before_eval = lora_gradients(trainer, batch)
    # an eval-mode, no-grad forward: what makes bitsandbytes repack 4-bit weights into an inference-only layout
    trainer.model.eval()
    with torch.no_grad():
        trainer.model(**trainer.data_collator([trainer.train_dataset[0]]))
    after_eval = lora_gradients(trainer, batch)
    # Measured without the fix: the first layers' LoRA gradients shrink ~1000x (not to exactly zero).
    for name, grad in before_eval.items():
        torch.testing.assert_close(after_eval[name], grad, rtol=1e-3, atol=1e-9, msg=name)
    trained = lora_weights(trainer.model)
    trainer.args.max_steps = 4
    trainer.train()
    still_moving = [n for n, p in lora_weights(trainer.model).items() if "lora_B" in n and not torch.equal(trained[n], p)]
    assert len(still_moving) == len([n for n in trained if "lora_B" in n]), "LoRA stopped learning after eval"
