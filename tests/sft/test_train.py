"""Training the tiny model of each family: what moves, what stays, what is masked, where LoRA goes."""
import json

import pytest
import torch

from geollava.launch import load_config
from geollava.data.schema import parse_record
from geollava.data.template import IGNORE_INDEX
from geollava.families import FAMILIES
from geollava.sft.train import build_trainer

from helpers import labelled_runs, tiny_argv, write_json


def trainer_for(tmp_path, synth_set, tiny_models, family="llava", *extra):
    config = load_config(tiny_argv(tmp_path / "run", synth_set, tiny_models[family], family, *extra))
    trainer, _ = build_trainer(config)
    return trainer


def snapshot(model) -> dict:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def moved(before: dict, model) -> set:
    return {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_lora_steps_move_lora_and_projector_only(tmp_path, synth_set, tiny_models, family):
    trainer = trainer_for(tmp_path, synth_set, tiny_models, family)
    before = snapshot(trainer.model)
    trainer.train()
    changed = moved(before, trainer.model)
    spec = FAMILIES[family]
    lora = {n for n in before if "lora_" in n}
    projector = {n for n in before if any(f"{p}." in n for p in spec.projectors) and "modules_to_save" in n}
    assert lora and projector
    assert {n for n in lora if "lora_B" in n} <= changed, "every LoRA B matrix must have moved"
    assert projector <= changed, "the projector must train"
    if family == "qwen3_vl":  # the deepstack mergers are projectors too
        assert any("deepstack_merger_list" in n for n in projector)
    frozen = set(before) - lora - projector
    assert not (changed & frozen), f"frozen weights moved: {sorted(changed & frozen)[:5]}"
    tower = {n for n in frozen if any(f"{t}." in n for t in spec.vision_towers)}
    assert tower and any("language_model" in n and "base_layer" in n for n in frozen)
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    assert len(losses) == 3 and all(l == l for l in losses)  # logged every step, no NaN


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_lora_goes_to_the_language_model_only(tmp_path, synth_set, tiny_models, family):
    model = trainer_for(tmp_path, synth_set, tiny_models, family).model
    with_lora = [n for n, m in model.named_modules() if hasattr(m, "lora_A")]
    assert with_lora and all(".language_model." in n for n in with_lora), with_lora
    assert not any(f"{t}." in n for n in with_lora for t in FAMILIES[family].vision_towers)
    # every targeted linear layer of the LLM got LoRA (2 layers x 7 projections)
    assert len(with_lora) == 2 * 7


def test_labels_are_exactly_the_answers_plus_eos(tmp_path, synth_set, tiny_models):
    trainer = trainer_for(tmp_path, synth_set, tiny_models, "llava")
    dataset, tokenizer = trainer.train_dataset, trainer.processing_class
    record, _ = parse_record({
        "id": "multi", "video": "videos/train_00000.mp4",
        "conversations": [{"from": "human", "value": "<video>\nWhat changed?"},
                          {"from": "gpt", "value": "Two buildings were built."},
                          {"from": "human", "value": "Where?"},
                          {"from": "gpt", "value": "In the north-east quadrant."}]})
    encoded = dataset._encode(record)
    ids, labels = encoded.input_ids, encoded.labels
    runs = labelled_runs(ids, labels, IGNORE_INDEX)
    assert [tokenizer.decode(r) for r in runs] == [" Two buildings were built.</s>", " In the north-east quadrant.</s>"]
    text = tokenizer.decode(ids)
    assert text.count("USER:") == 2 and text.count("ASSISTANT:") == 2 and "Where?" in text
    image_id = trainer.model.config.image_token_id
    assert ids.count(image_id) == 4 * FAMILIES["llava"].tokens_per_frame(trainer.model.config)
    assert all(labels[i] == IGNORE_INDEX for i, t in enumerate(ids) if t == image_id)


def test_dates_go_into_the_prompt_and_can_be_switched_off(tmp_path, synth_set, tiny_models):
    for family in ("llava", "video_llava"):
        trainer = trainer_for(tmp_path / family, synth_set, tiny_models, family)
        item = trainer.train_dataset[0]
        record = trainer.train_dataset.records[0]
        text = trainer.processing_class.decode(item["input_ids"])
        assert f"Frame 1 ({record.timestamps[0]})" in text and f"Frame 4 ({record.timestamps[-1]})" in text
    trainer = trainer_for(tmp_path / "nodates", synth_set, tiny_models, "llava", "--dates_in_prompt", "false")
    assert "Frame 1" not in trainer.processing_class.decode(trainer.train_dataset[0]["input_ids"])


def test_collator_batches_have_frames_and_lengths_are_exposed(tmp_path, synth_set, tiny_models):
    for family, key, shape in (("llava", "pixel_values", (8, 3, 32, 32)),
                               ("llava_next_video", "pixel_values_videos", (2, 4, 3, 32, 32))):
        trainer = trainer_for(tmp_path / family, synth_set, tiny_models, family)
        dataset = trainer.train_dataset
        batch = trainer.data_collator([dataset[0], dataset[1]])
        assert tuple(batch[key].shape) == shape
        assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape
        assert len(dataset.lengths) == len(dataset) and dataset.lengths[0] == len(dataset[0]["input_ids"])
        sampler = trainer._get_train_sampler()
        assert type(sampler).__name__ == "EpochLengthGroupedSampler"


def test_too_long_samples_are_skipped_or_cut_in_the_answer(tmp_path, synth_set, tiny_models, caplog):
    full = trainer_for(tmp_path / "full", synth_set, tiny_models).train_dataset
    limit = min(full.lengths) - 3  # every sample is over by a few answer tokens
    with pytest.raises(ValueError, match="every sample is longer"):
        trainer_for(tmp_path / "skip", synth_set, tiny_models, "llava", "--model_max_length", limit)
    assert f"skipped {len(full)} of {len(full)} samples longer than model_max_length {limit}" in caplog.text
    cut = trainer_for(tmp_path / "cut", synth_set, tiny_models, "llava", "--model_max_length", limit,
                      "--too_long", "truncate_answer").train_dataset
    item = cut[0]
    assert len(item["input_ids"]) == limit
    image_id = FAMILIES["llava"].media_token_id(cut.model_config)
    assert (item["input_ids"] == image_id).sum() == (full[0]["input_ids"] == image_id).sum()
    # a limit inside the media tokens drops the sample even with truncate_answer
    with pytest.raises(ValueError, match="every sample is longer"):
        trainer_for(tmp_path / "media", synth_set, tiny_models, "llava", "--model_max_length", 20,
                    "--too_long", "truncate_answer")


def test_a_prebuilt_tiny_model_must_match_the_config(tmp_path, synth_set, tiny_models):
    """A changed tiny_model block must not silently train the old folder's model."""
    from geollava.models.load import prepare_base_model
    from geollava.synthetic.captions import tokenizer_corpus

    argv = tiny_argv(tmp_path, synth_set, tiny_models["llava"])
    assert prepare_base_model(load_config(argv), tokenizer_corpus()) == str(tiny_models["llava"])
    changed = load_config([*argv, "--tiny_model.text_layers", "3"])
    with pytest.raises(ValueError, match=r"text_layers: built 2, config 3.*Delete the folder"):
        prepare_base_model(changed, tokenizer_corpus())


def test_position_init_spreads_the_vision_position_embeddings(tmp_path):
    from geollava.families import TinySpec
    from geollava.models.tiny import build_tiny_model
    from geollava.synthetic.captions import tokenizer_corpus
    from transformers import LlavaForConditionalGeneration

    folder = build_tiny_model("llava", tmp_path / "m", tokenizer_corpus(), TinySpec(vision_position_std=1.0))
    model = LlavaForConditionalGeneration.from_pretrained(folder)
    spread = model.model.vision_tower.embeddings.position_embedding.weight.std().item()
    assert 0.8 < spread < 1.2


def test_the_blind_control_shows_the_model_constant_pixels(tmp_path, synth_set, tiny_models):
    seeing = trainer_for(tmp_path / "see", synth_set, tiny_models).train_dataset
    blind = trainer_for(tmp_path / "blind", synth_set, tiny_models, "llava", "--blank_frames", "true").train_dataset
    pixels = [blind[i]["pixels"] for i in range(3)]
    assert all(torch.equal(p, pixels[0]) for p in pixels), "every frame of every sample is the same picture"
    per_channel = pixels[0].flatten(2)
    assert torch.all(per_channel.std(dim=2) == 0) and per_channel.abs().max() < 0.02  # the mean colour, normalised
    assert seeing[0]["pixels"].flatten(2).std(dim=2).min() > 0.05  # the real frames do vary
    assert torch.equal(seeing[0]["input_ids"], blind[0]["input_ids"]), "only the pixels differ"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_mm_projector_lr_puts_the_projector_in_its_own_optimizer_group(tmp_path, synth_set, tiny_models, family):
    trainer = trainer_for(tmp_path, synth_set, tiny_models, family, "--learning_rate", "1e-4",
                          "--mm_projector_lr", "7e-6")
    optimizer = trainer.create_optimizer()
    names = {id(p): n for n, p in trainer.model.named_parameters()}
    by_lr: dict[float, set[str]] = {}
    for group in optimizer.param_groups:
        by_lr.setdefault(group["lr"], set()).update(names[id(p)] for p in group["params"])
    assert set(by_lr) == {1e-4, 7e-6}
    # every projector module of the family, and nothing else (Qwen's merger sits inside its vision tower)
    projectors = FAMILIES[family].projectors
    assert by_lr[7e-6] and all(any(f"{p}." in n for p in projectors) for n in by_lr[7e-6])
    assert all(any(f"{p}." in n for n in by_lr[7e-6]) for p in projectors)
    assert all("lora_" in n for n in by_lr[1e-4])
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert by_lr[7e-6] | by_lr[1e-4] == trainable


@pytest.mark.parametrize("flag,part", [("--tune_vision_tower", "vision_tower"), ("--tune_embeddings", "embed_tokens")])
def test_tune_flags_train_exactly_those_parameters(tmp_path, synth_set, tiny_models, flag, part):
    trainer = trainer_for(tmp_path, synth_set, tiny_models, "llava", flag, "true")
    before = snapshot(trainer.model)
    trainer.train()
    changed = moved(before, trainer.model)
    extra = {"vision_tower": ("vision_tower",), "embed_tokens": ("embed_tokens", "lm_head")}[part]
    expected = {n for n in before if "lora_" in n or ("modules_to_save" in n and (
        "multi_modal_projector" in n or any(e in n for e in extra)))}
    assert {n for n in changed if any(e in n for e in extra)}, f"{flag} moved nothing of {extra}"
    assert changed <= expected, sorted(changed - expected)[:5]
    assert {n for n in expected if "modules_to_save" in n and any(e in n for e in extra)
            and n.endswith("weight")} & changed


def test_pad_frames_repeats_frames_of_short_media(tmp_path, synth_set, tiny_models):
    with pytest.raises(Exception, match="fewer than the 10 requested"):
        trainer_for(tmp_path / "strict", synth_set, tiny_models, "llava", "--num_frames", 10,
                    "--deep_check", "true")
    padded = trainer_for(tmp_path / "pad", synth_set, tiny_models, "llava", "--num_frames", 10,
                         "--pad_frames", "true").train_dataset
    item = padded[0]
    assert item["pixels"].shape[0] == 10  # 8 frames in the video, 10 shown: two repeated
    image_id = FAMILIES["llava"].media_token_id(padded.model_config)
    assert int((item["input_ids"] == image_id).sum()) == 10 * FAMILIES["llava"].tokens_per_frame(padded.model_config)
    record = padded.records[0]
    text = padded.tokenizer.decode(item["input_ids"])
    assert f"Frame 10 ({record.timestamps[-1]})" in text


def test_the_pixel_cache_gives_the_same_items_and_decodes_each_sample_once(tmp_path, synth_set, tiny_models,
                                                                          monkeypatch):
    import geollava.data.dataset as dataset_module

    plain = trainer_for(tmp_path / "plain", synth_set, tiny_models).train_dataset
    cached = trainer_for(tmp_path / "cached", synth_set, tiny_models, "llava", "--pixel_cache", "true").train_dataset
    expected = [plain[i]["pixels"] for i in range(len(plain))]
    decoded = []
    real = dataset_module.load_frames
    monkeypatch.setattr(dataset_module, "load_frames", lambda record, *a, **k: decoded.append(record.id) or
                        real(record, *a, **k))
    for epoch in range(2):
        for i in range(len(cached)):
            assert torch.equal(cached[i]["pixels"], expected[i]), (epoch, i)
    assert sorted(decoded) == sorted(r.id for r in cached.records), "each sample decoded once in two epochs"
    folder = cached.pixel_cache.folder
    assert folder.parent == tmp_path / "cached" / "run" / "pixel_cache" and len(list(folder.glob("*.npy"))) == 16
    other = trainer_for(tmp_path / "cached", synth_set, tiny_models, "llava", "--pixel_cache", "true",
                        "--blank_frames", "true").train_dataset
    assert other.pixel_cache.folder != folder, "other frame settings never read these pixels"


def test_a_record_whose_media_is_missing_stops_the_run_in_one_error_before_any_model_loads(
        tmp_path, synth_set, tiny_models, monkeypatch, capsys):
    import geollava.sft.train as train_module

    records = json.loads((synth_set / "train.json").read_text())
    records[1]["video"] = "videos/nowhere.mp4"
    data = write_json(tmp_path / "train.json", records)
    monkeypatch.setattr(train_module, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    argv = tiny_argv(tmp_path / "run", synth_set, tiny_models["llava"])
    argv[argv.index("--train_data") + 1] = str(data)
    assert train_module.main([*argv, "--media_root", str(synth_set)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"id '{records[1]['id']}'" in err and "nowhere.mp4" in err
    assert "on_bad_record: skip" in err


def test_a_step_that_leaves_weights_not_finite_stops_the_run_and_nothing_of_it_is_complete(
        tmp_path, synth_set, tiny_models, capsys):
    """An inf learning rate is refused by the config check; a step that still blows the weights up (a huge
    finite rate) stops the run at that step with one line, and no checkpoint or final model holding it is
    marked complete, while the checkpoint before it stays complete."""
    from safetensors.torch import load_file

    from geollava.config import ConfigError
    from geollava.models.checkpoint import is_complete
    from geollava.sft.train import main

    argv = tiny_argv(tmp_path / "run", synth_set, tiny_models["llava"], "llava", "--save_steps", 1)
    with pytest.raises(ConfigError, match="learning_rate: inf cannot work"):
        load_config([*argv, "--learning_rate", "inf"])
    assert main([*argv, "--learning_rate", "1e38", "--max_grad_norm", "0", "--warmup_steps", "0"]) == 2
    err = capsys.readouterr().err
    assert "trained weights are not finite" in err and "Traceback" not in err
    run = tmp_path / "run"
    assert not is_complete(run)
    marked = [c for c in run.glob("checkpoint-*") if is_complete(c)]
    assert all(torch.isfinite(t).all() for c in marked
               for t in load_file(c / "adapter_model.safetensors").values())
