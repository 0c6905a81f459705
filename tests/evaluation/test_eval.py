"""scripts/eval.py on checkpoints, run folders, base models and predictions files; generation that resumes and
gives the same text batched as one by one."""
import dataclasses
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
import yaml

import geollava.evaluation.generate as generate_module
from geollava.data.dataset import AnnotationDataset
from geollava.data.prompt import PromptSettings
from geollava.data.validate import load_records
from geollava.runs import find_targets, load_target
from geollava.families import get_family
from geollava.evaluation.generate import generate_predictions
from geollava.metrics.coco import java_available
from geollava.evaluation.predictions import load_predictions

from helpers import REPO_ROOT, write_json


def eval_py(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, "scripts/eval.py", *map(str, args)], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)


def dataset_for(path, kind, synth_set):
    target = find_targets(str(path), False, "llava")[-1]
    assert target.kind == kind
    model, tokenizer, processor = load_target(target)
    records = load_records(synth_set / "val.json")
    dataset = AnnotationDataset(records, synth_set, get_family("llava"), model.config, tokenizer, processor,
                                   PromptSettings(num_frames=4, system_prompt="sys"), for_generation=True)
    return model, tokenizer, dataset


@pytest.mark.parametrize("kind", ["base", "checkpoint"])
def test_batched_generation_equals_one_by_one(tmp_path, synth_set, tiny_models, tiny_run, kind):
    path = tiny_models["llava"] if kind == "base" else tiny_run
    model, tokenizer, dataset = dataset_for(path, kind, synth_set)
    batched = generate_predictions(model, tokenizer, dataset, tmp_path / "b.jsonl", kind, batch_size=6,
                                   max_new_tokens=12, num_workers=0)
    single = generate_predictions(model, tokenizer, dataset, tmp_path / "s.jsonl", kind, batch_size=1,
                                  max_new_tokens=12, num_workers=0)
    by_id = lambda p: {r["id"]: r["prediction"] for r in load_predictions(p)}  # noqa: E731
    assert by_id(batched) == by_id(single) and len(by_id(single)) == 6
    assert len(set(by_id(single).values())) > 1 or kind == "checkpoint"  # a random model says varied things
    assert len(set(dataset.lengths)) > 1  # prompts of different lengths were padded together


def test_killed_generation_resumes_without_redoing_finished_ids(tmp_path, synth_set, tiny_models, monkeypatch):
    model, tokenizer, dataset = dataset_for(tiny_models["llava"], "base", synth_set)
    full = generate_predictions(model, tokenizer, dataset, tmp_path / "full.jsonl", "m", batch_size=2,
                                max_new_tokens=8, num_workers=0)
    lines = full.read_text().splitlines()
    killed = tmp_path / "killed.jsonl"
    killed.write_text("\n".join(lines[:3]) + "\n" + lines[3][:25])  # three done, the fourth cut mid-write
    generated = []
    real = generate_module.generate_batch
    monkeypatch.setattr(generate_module, "generate_batch",
                        lambda model, tok, batch, *a: generated.append(len(batch["input_ids"])) or real(model, tok, batch, *a))
    generate_predictions(model, tokenizer, dataset, killed, "m", batch_size=2, max_new_tokens=8, num_workers=0)
    assert sum(generated) == 3  # only the three unfinished samples
    resumed = {r["id"]: r["prediction"] for r in load_predictions(killed)}
    assert resumed == {r["id"]: r["prediction"] for r in load_predictions(full)}


@pytest.mark.slow
def test_run_folder_with_base_gives_one_table(tmp_path, synth_set, tiny_run):
    out = tmp_path / "eval"
    result = eval_py("--checkpoint", tiny_run, "--data", synth_set / "val.json", "--base", "--output-dir", out,
                     "--max-new-tokens", 8, "--batch-size", 4, "--num-workers", 0, "--no-meteor")
    assert result.returncode == 0, result.stderr[-3000:]
    labels = ["base", "checkpoint-2", "final"]  # checkpoint-4 holds the final weights: evaluated once
    table = (out / "comparison.md").read_text().splitlines()
    assert [line.split("|")[1].strip() for line in table[2:]] == labels
    assert "CIDEr" in table[0] and "GeoLLaVA rouge1" in table[0] and "event score" in table[0]
    assert "| final | 6 |" in result.stdout  # the table is printed too
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics) == labels
    final = metrics["final"]
    assert final["scores"]["coco"]["tokenizer"] == ("ptb" if java_available() else "simple")
    assert final["decoding"]["strategy"] == "greedy"
    assert final["samples"] == 6 and final["prompt"]["num_frames"] == 4 and final["checkpoint"] == str(tiny_run)
    for label in labels:
        rows = [json.loads(l) for l in (out / label / "per_sample.jsonl").read_text().splitlines()]
        assert len(rows) == 6 and {"CIDEr", "geollava_rougeL", "event_score"} <= set(rows[0])
        assert all(r["checkpoint"] == label for r in load_predictions(out / label / "predictions.jsonl"))


@pytest.mark.slow
def test_single_checkpoint_and_base_model(tmp_path, synth_set, tiny_run, tiny_models):
    result = eval_py("--checkpoint", tiny_run / "checkpoint-2", "--data", synth_set / "val.json", "--output-dir",
                     tmp_path / "c", "--max-new-tokens", 4, "--num-workers", 0, "--no-meteor")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "c" / "metrics.json").read_text())
    assert list(metrics) == ["checkpoint-2"]
    assert metrics["checkpoint-2"]["loading"]["attn_implementation"] == "sdpa"  # how the model was loaded
    result = eval_py("--checkpoint", tiny_models["llava"], "--family", "llava", "--data", synth_set / "val.json",
                     "--output-dir", tmp_path / "b", "--max-new-tokens", 4, "--num-workers", 0, "--no-meteor")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / "b" / "metrics.json").read_text())["base"]["kind"] == "base"


@pytest.mark.slow
def test_score_only_on_geollava_results_format(tmp_path, synth_set):
    records = load_records(synth_set / "val.json")
    results = [{"id": r.id, "video": r.media[0], "true": r.answer, "generated": r.answer if k % 2 else ""}
               for k, r in enumerate(records)]
    path = write_json(tmp_path / "results.json", results)
    result = eval_py("--predictions", path, "--no-meteor")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())["results"]
    assert metrics["scores"]["empty_predictions"] == 3 and metrics["samples"] == 6
    assert metrics["scores"]["geollava"]["rouge1"] == pytest.approx(0.5)  # half perfect, half empty
    assert "events" not in metrics["scores"]  # GeoLLaVA's file carries no events...
    with_data = eval_py("--predictions", path, "--data", synth_set / "val.json", "--output-dir", tmp_path / "d",
                        "--no-meteor")
    assert with_data.returncode == 0, with_data.stderr[-2000:]
    scores = json.loads((tmp_path / "d" / "metrics.json").read_text())["results"]["scores"]
    assert scores["events"]["score"] <= 0.5 + 1e-9  # ...the annotations do: only the perfect half can be right


@pytest.mark.parametrize("case,message", [
    ("missing checkpoint", "checkpoint ./nowhere does not exist"),
    ("unreachable base", "neither a local folder nor reachable"),
    ("prediction without id", "has no id"),
    ("prediction without text", "has no prediction text"),
    ("ids not in data", "have ids that"),
    ("base without family", "needs --family"),
])
def test_bad_input_is_a_clear_error(tmp_path, synth_set, tiny_run, tiny_models, case, message):
    val = synth_set / "val.json"
    if case == "missing checkpoint":
        args = ["--checkpoint", "./nowhere", "--data", val]
    elif case == "unreachable base":
        copy = tmp_path / "ckpt"
        shutil.copytree(tiny_run / "checkpoint-2", copy)
        config = yaml.safe_load((copy / "geollava_config.yaml").read_text())
        (copy / "geollava_config.yaml").write_text(yaml.safe_dump({**config, "model_name_or_path": "/gone/base"}))
        args = ["--checkpoint", copy, "--data", val]
    elif case == "prediction without id":
        args = ["--predictions", write_json(tmp_path / "p.json", [{"generated": "x", "true": "y"}])]
    elif case == "prediction without text":
        args = ["--predictions", write_json(tmp_path / "p.json", [{"id": "a", "true": "y"}])]
    elif case == "ids not in data":
        args = ["--predictions", write_json(tmp_path / "p.json", [{"id": "zz", "generated": "x"}]), "--data", val]
    else:
        args = ["--checkpoint", tiny_models["llava"], "--data", val]
    from geollava.evaluation.evaluate import main as evaluate

    with pytest.raises(SystemExit) as stopped:
        evaluate([*map(str, args), "--output-dir", str(tmp_path / "out"), "--no-meteor"])
    assert str(stopped.value.code).startswith("error: ") and message in str(stopped.value.code)


def test_unlabeled_records_are_predicted_and_not_scored(tmp_path, synth_set, tiny_run, capsys):
    from geollava.evaluation.evaluate import main as evaluate

    records = json.loads((synth_set / "val.json").read_text())
    for r in records[:4]:
        r["conversations"] = r["conversations"][:1]  # as `data convert fmow-pairs` without --captions writes them
    data = write_json(synth_set / "partly_unlabeled.json", records)
    args = ["--checkpoint", str(tiny_run / "checkpoint-2"), "--data", str(data), "--max-new-tokens", "4",
            "--num-workers", "0", "--no-meteor"]
    partly = evaluate([*args, "--output-dir", str(tmp_path / "partly")])["checkpoint-2"]
    assert partly["samples"] == 2 and partly["unlabeled"] == 4 and partly["scores"]["samples"] == 2
    assert len(load_predictions(tmp_path / "partly" / "checkpoint-2" / "predictions.jsonl")) == 6
    for r in records[4:]:
        r["conversations"] = r["conversations"][:1]
    write_json(data, records)
    none = evaluate([*args, "--output-dir", str(tmp_path / "none")])["checkpoint-2"]
    assert none["samples"] == 0 and none["unlabeled"] == 6 and none["scored"] is None
    assert len(load_predictions(tmp_path / "none" / "checkpoint-2" / "predictions.jsonl")) == 6
    assert "nothing scored" in capsys.readouterr().out
    data.unlink()


@pytest.mark.slow
def test_bad_input_ends_the_script_with_one_line_and_exit_code_1(tmp_path, synth_set):
    result = eval_py("--checkpoint", "./nowhere", "--data", synth_set / "val.json", "--output-dir", tmp_path)
    assert result.returncode == 1 and result.stderr.strip() == "error: checkpoint ./nowhere does not exist"


@pytest.mark.slow
def test_sharded_generation_with_torchrun(tmp_path, synth_set, tiny_run):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29541",
               "scripts/eval.py", "--checkpoint", str(tiny_run / "checkpoint-4"), "--data", str(synth_set / "val.json"),
               "--output-dir", str(tmp_path / "sharded"), "--max-new-tokens", "6", "--num-workers", "0",
               "--no-meteor"]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    single = eval_py("--checkpoint", tiny_run / "checkpoint-4", "--data", synth_set / "val.json", "--output-dir",
                     tmp_path / "single", "--max-new-tokens", 6, "--num-workers", 0, "--no-meteor")
    assert single.returncode == 0
    folder = tmp_path / "sharded" / "checkpoint-4"
    assert (folder / "predictions.rank0.jsonl").is_file() and (folder / "predictions.rank1.jsonl").is_file()
    sharded = {r["id"]: r["prediction"] for r in load_predictions(folder / "predictions.jsonl")}
    alone = {r["id"]: r["prediction"] for r in load_predictions(tmp_path / "single" / "checkpoint-4" / "predictions.jsonl")}
    assert sharded == alone and len(sharded) == 6


def test_base_of_a_qlora_run_is_loaded_in_4_bit_like_the_adapters_base(tmp_path, synth_set, tiny_models):
    """--base compares like with like: the base is quantized exactly as the adapter was trained on it."""
    import bitsandbytes as bnb

    from geollava.evaluation.evaluate import main as evaluate
    from geollava.sft.train import main as train
    from helpers import tiny_argv

    run = train(tiny_argv(tmp_path / "q", synth_set, tiny_models["llava"], "llava", "--max_steps", 1, "--bits", 4,
                          "--quant_type", "fp4", "--double_quant", "false"))
    base, final = find_targets(str(run), True, None)
    assert base.kind == "base" and base.loading == {"bits": 4, "double_quant": False, "quant_type": "fp4"}
    model, *_ = load_target(base)
    quantized = [n for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert quantized and all(".language_model." in n for n in quantized)
    assert {m.weight.quant_type for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)} == {"fp4"}
    results = evaluate(["--checkpoint", str(run), "--data", str(synth_set / "val.json"), "--base",
                        "--max-new-tokens", "3", "--num-workers", "0", "--no-meteor", "--tokenizer", "simple"])
    assert set(results) == {"base", "final"}, set(results)
    for label in ("base", "final"):
        assert results[label]["loading"] == {"bits": 4, "double_quant": False, "quant_type": "fp4",
                                             "dtype": "torch.float32", "attn_implementation": "sdpa"}
        assert results[label]["prompt"]["num_frames"] == 4 and results[label]["prompt"]["question"]


def test_geollava_results_files_in_every_shape_and_geochat_answer_files():
    from pathlib import Path

    from geollava.evaluation.predictions import PredictionsError, read_objects

    rows = [{"id": "a", "video": "a.mp4", "true": "x", "generated": "USER: ... Answer: A road was built."},
            {"id": "b", "video": "b.mp4", "true": "y", "generated": "Nothing changed."}]
    texts = {"array": json.dumps(rows), "one per line": "\n".join(map(json.dumps, rows)),
             "array left open": "[" + ",\n".join(map(json.dumps, rows)) + ",\n" + json.dumps(rows[0])[:30],
             "back to back": "".join(map(json.dumps, rows))}
    for shape, text in texts.items():
        assert [o["id"] for o in read_objects(text, Path(shape))] == ["a", "b"], shape
    with pytest.raises(PredictionsError, match="invalid JSON"):
        read_objects(json.dumps(rows[0])[:30] + "\n" + json.dumps(rows[1]), Path("broken"))


def test_score_only_cleans_geollava_predictions_as_its_scorer_does(tmp_path, synth_set):
    from geollava.evaluation.evaluate import main as evaluate
    from geollava.evaluation.predictions import load_predictions

    records = load_records(synth_set / "val.json")
    results = [{"id": r.id, "video": r.media[0], "true": r.answer,
                "generated": f"USER: <video> Describe. ASSISTANT: Answer: {r.answer}"} for r in records]
    path = tmp_path / "results.json"
    path.write_text("\n".join(json.dumps(r) for r in results))  # GeoLLaVA's base-model shape: no brackets
    cleaned = evaluate(["--predictions", str(path), "--no-meteor", "--tokenizer", "simple",
                        "--output-dir", str(tmp_path / "c")])["results"]
    raw = evaluate(["--predictions", str(path), "--no-meteor", "--tokenizer", "simple", "--no-geollava-clean",
                    "--output-dir", str(tmp_path / "r")])["results"]
    assert cleaned["prediction_cleaning"] and raw["prediction_cleaning"] is None
    assert cleaned["scores"]["geollava"]["rouge1"] == pytest.approx(1.0)  # the text after "Answer:" is the truth
    assert raw["scores"]["geollava"]["rouge1"] < 0.9
    assert [r["prediction"] for r in load_predictions(path)] == [r.answer for r in records]
    geochat = tmp_path / "answers.jsonl"
    geochat.write_text("\n".join(json.dumps({"question_id": r.id, "answer": r.answer, "image_id": "x"})
                                 for r in records))
    scored = evaluate(["--predictions", str(geochat), "--data", str(synth_set / "val.json"), "--no-meteor",
                       "--tokenizer", "simple", "--output-dir", str(tmp_path / "g")])["answers"]
    assert scored["samples"] == 6 and scored["scores"]["geollava"]["rouge1"] == pytest.approx(1.0)


def test_each_answer_gets_its_own_budget_in_one_batch(tiny_models, synth_set):
    """Budgets differ per task (GeoChat's tasks 256 new tokens): a batch runs to the largest and each answer is
    cut to its own — the same text as generating it alone with that budget."""
    model, tokenizer, dataset = dataset_for(tiny_models["llava"], "base", synth_set)
    collator = generate_module.Collator(dataset.family, tokenizer.pad_token_id, padding_side="left")
    batch = collator([dataset[0], dataset[1], dataset[2]])
    together = generate_module.generate_batch(model, tokenizer, batch, [3, 9, 6], model.device, torch.float32)
    alone = [generate_module.generate_batch(model, tokenizer, collator([dataset[k]]), budget, model.device,
                                            torch.float32)[0] for k, budget in enumerate([3, 9, 6])]
    assert together == alone and len(set(map(len, together))) > 1
    from geollava.evaluation.generate import budget_of

    assert budget_of(dataset.records[0]) == 350  # change captions: GeoLLaVA's evaluation budget


def test_geollavas_own_evaluation_the_raw_question_on_a_4_bit_base(tmp_path, synth_set, tiny_models):
    """eval.py --chat-template raw --bits 4 asks as GeoLLaVA's videollava_eval.py does: processor(text=the first
    human turn as the annotation writes it) — the tokenizer's ids of that text, <video> expanded — on a base loaded
    in 4-bit NF4; the predictions record both, and training with raw is refused before any model loads."""
    import bitsandbytes as bnb

    from geollava.config import ConfigError
    from geollava.launch import load_config
    from geollava.evaluation.evaluate import main as evaluate
    from geollava.sft.train import main as train
    from helpers import REPO_ROOT

    argv = [str(REPO_ROOT / "configs" / "geollava_paper.yaml"), "--model_name_or_path",
            str(tiny_models["video_llava"]), "--train_data", str(synth_set / "train.json"), "--media_root",
            str(synth_set), "--output_dir", str(tmp_path / "run"), "--report_to", "none", "--fp16", "false",
            "--activation_checkpointing", "false", "--dataloader_num_workers", "0", "--max_steps", "1",
            "--save_steps", "100"]
    with pytest.raises(ConfigError, match="raw asks the question alone"):
        load_config([*argv, "--chat_template", "raw"])
    run = train(argv)
    target = find_targets(str(run), False, None)[-1]
    target = dataclasses.replace(target, loading={**target.loading, "bits": 4})
    model, tokenizer, processor = load_target(target)
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())
    target.prompt.chat_template = "raw"
    dataset = AnnotationDataset(load_records(str(synth_set / "val.json"), str(synth_set)), synth_set,
                                   get_family("video_llava"), model.config, tokenizer, processor, target.prompt,
                                   for_generation=True)
    raw = json.loads((synth_set / "val.json").read_text())[0]["conversations"][0]["value"]
    video = model.config.video_token_id
    per_video = get_family("video_llava").tokens_per_placeholder(model.config, 2)
    expected = [t for i in tokenizer(raw).input_ids for t in ([i] * per_video if i == video else [i])]
    assert dataset[0]["input_ids"].tolist() == expected
    results = evaluate(["--checkpoint", str(run), "--data", str(synth_set / "val.json"), "--chat-template", "raw",
                        "--bits", "4", "--max-new-tokens", "2", "--num-workers", "0", "--no-meteor", "--tokenizer",
                        "simple"])
    assert results["final"]["prompt"]["chat_template"] == "raw" and results["final"]["loading"]["bits"] == 4


def test_a_full_disk_while_writing_predictions_is_one_line_naming_the_folder(tmp_path, synth_set, tiny_run,
                                                                            monkeypatch):
    import errno

    from geollava.evaluation.evaluate import main as evaluate

    def no_space(path, rows):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(generate_module, "append", no_space)
    with pytest.raises(SystemExit) as stop:
        evaluate(["--checkpoint", str(tiny_run / "checkpoint-2"), "--data", str(synth_set / "val.json"),
                  "--output-dir", str(tmp_path / "eval"), "--max-new-tokens", "2", "--num-workers", "0"])
    assert str(stop.value).startswith(f"error: the disk holding {tmp_path / 'eval'} is full")
