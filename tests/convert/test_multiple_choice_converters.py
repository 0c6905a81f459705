"""XLRS-Bench-lite and GEOBench-VLM files, hand-made in their published formats (lmms-eval's parquet and
VLMEvalKit's jsonl for XLRS — field names from lmms_eval/tasks/xlrs/mcq_utils.py and vlmeval/dataset/image_mcq.py;
GEOBench-VLM's Single/ and Temporal/ qa.json — from its inference scripts), convert, pass `data check`, and score
as the harnesses score them."""
import base64
import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from geollava.convert.geobench_vlm import INSTRUCTION
from geollava.convert.xlrs import ONE, SEVERAL

from helpers import cli, write_json
from test_benchmark_converters import score

from geollava.evaluation.evaluate import main as evaluate

OPTIONS = ["(A) airport", "(B) harbor", "(C) farmland", "(D) forest"]
LUC = "Land use classification/Overall Land use classification"


def png(value: int, size: int = 40) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def xlrs_parquet(tmp_path):
    rows = [
        {"index": 1, "image": [{"bytes": png(10), "path": "a.png"}], "question": "What is the land use? ",
         "multi-choice options": OPTIONS, "answer": "C", "category": "Land use classification/Regional Land use "
         "classification", "l2-category": "regional"},
        {"index": 2, "image": [{"bytes": png(20), "path": "b1.png"}, {"bytes": png(30), "path": "b2.png"}],
         "question": "How many buildings were built? ", "multi-choice options": ["(A) 1", "(B) 2", "(C) 3", "(D) 4"],
         "answer": "B", "category": "Counting/Counting with changing detection", "l2-category": "change"},
        {"index": 3, "image": [{"bytes": png(40), "path": "c.png"}], "question": "Which land uses are here? ",
         "multi-choice options": OPTIONS, "answer": "AC", "category": LUC, "l2-category": "overall"},
        {"index": 4, "image": [{"bytes": b"not an image", "path": "d.png"}], "question": "? ",
         "multi-choice options": OPTIONS, "answer": "A", "category": LUC, "l2-category": "overall"}]
    folder = tmp_path / "XLRS-Bench-lite" / "data"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "train-00000-of-00001.parquet")
    return folder.parent


def test_xlrs_converts_checks_and_scores_as_lmms_eval_and_vlmevalkit(tmp_path, xlrs_parquet):
    out = tmp_path / "out"
    result = cli("data", "convert", "xlrs", xlrs_parquet, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "3 records" in result.stdout and "skipped 1 row(s): unreadable image" in result.stdout
    assert cli("data", "check", out / "xlrs_lite.json").returncode == 0
    records = {r["id"]: r for r in json.loads((out / "xlrs_lite.json").read_text())}
    one = records["xlrs_1"]
    assert one["conversations"][0]["value"] == ("<image>\nWhat is the land use? The choices are listed below:\n"
                                                + "\n".join(OPTIONS) + "\n" + ONE)
    assert one["metadata"]["options"] == ["airport", "harbor", "farmland", "forest"]
    assert len(records["xlrs_2"]["video"]) == 2  # the change question's images, in order
    assert records["xlrs_3"]["conversations"][0]["value"].endswith(SEVERAL)
    metrics = score(tmp_path, out / "xlrs_lite.json", {"xlrs_1": "C. farmland", "xlrs_2": "(B)", "xlrs_3": "A C"})
    xlrs = metrics["tasks"]["multiple_choice"]["protocols"]["xlrs"]
    assert xlrs["accuracy"] == pytest.approx(2 / 3)  # "C. farmland" reads A, C, D there: wrong
    assert xlrs["macro_lmms_eval"] == pytest.approx(2 / 13) and xlrs["macro_vlmevalkit"] == pytest.approx(2 / 3)


def test_vlmevalkit_s_jsonl_converts_to_the_same_records(tmp_path):
    text = "\n".join(OPTIONS) + ONE.replace("\n", "\n", 1)
    row = {"index": 7, "image": base64.b64encode(png(50)).decode(), "question": "What is the land use? ",
           "multi-choice options": "The choices are listed below:\n" + text, "answer": "D",
           "category": "Land use classification/Regional Land use classification", "l2-category": "regional"}
    (tmp_path / "XLRS-Bench-lite_part0.jsonl").write_text(json.dumps(row) + "\n")
    assert cli("data", "convert", "xlrs", tmp_path / "XLRS-Bench-lite_part0.jsonl", "--out", tmp_path / "out"
               ).returncode == 0
    record = json.loads((tmp_path / "out" / "xlrs_lite.json").read_text())[0]
    assert record["metadata"]["options"] == ["airport", "harbor", "farmland", "forest"]
    assert record["conversations"][1]["value"] == "D" and record["image"].endswith(".png")


@pytest.fixture
def geobench(tmp_path):
    root = tmp_path / "GEOBench-VLM"
    for name in ("Single/images/a.png", "Temporal/images/t0.png", "Temporal/images/t1.png",
                 "Temporal/images/t2.png"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(png(60))
    single = [{"question_id": 11, "task": "Disaster Type Classification", "image_path": "Single/images/a.png",
               "prompts": ["What type of disaster is visible?", "Which disaster?"],
               "options": "A. Fire B. Tsunami C. Earthquake D. Wind E. Volcano",
               "options_list": ["Fire", "Tsunami", "Earthquake", "Wind", "Volcano"], "ground_truth": "Tsunami",
               "ground_truth_option": "B", "cls_description": "Disasters damage buildings."},
              {"question_id": 12, "task": "Building Counting", "image_path": "Single/images/missing.png",
               "prompts": ["How many?"], "options": "A. 1 B. 2 C. 3 D. 4 E. 5", "options_list": list("12345"),
               "ground_truth": "2", "ground_truth_option": "B", "cls_description": ""}]
    temporal = [{"question_id": 21, "task": "Damaged Building Counting",
                 "image_path": ["Temporal/images/t0.png", "Temporal/images/t1.png", "Temporal/images/t2.png"],
                 "prompts": ["How many buildings were damaged?"], "options": "A. 3 B. 4 C. 5 D. 6 E. 7",
                 "options_list": list("34567"), "ground_truth": "5", "ground_truth_option": "C",
                 "cls_description": ""}]
    write_json(root / "Single" / "qa.json", single)
    write_json(root / "Temporal" / "qa.json", temporal)
    (root / "Ref-Det").mkdir()
    return root


def test_geobench_vlm_converts_checks_and_scores_its_first_letter(tmp_path, geobench):
    out = tmp_path / "out"
    result = cli("data", "convert", "geobench-vlm", geobench, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "skipped 1 row(s): missing image" in result.stdout and "Ref-Det not converted" in result.stdout
    for name in ("geobench_vlm_single.json", "geobench_vlm_temporal.json"):
        assert cli("data", "check", out / name).returncode == 0
    single = json.loads((out / "geobench_vlm_single.json").read_text())[0]
    assert single["conversations"][0]["value"] == (
        f"<image>\n{INSTRUCTION} Disasters damage buildings.\nWhat type of disaster is visible?\n"
        "Options: A. Fire B. Tsunami C. Earthquake D. Wind E. Volcano")
    temporal = json.loads((out / "geobench_vlm_temporal.json").read_text())[0]
    assert [p.rsplit("/", 1)[-1] for p in temporal["video"]] == ["t0.png", "t2.png"]  # first and last, as it shows
    metrics = score(tmp_path / "s", out / "geobench_vlm_single.json", {"geobench_11": "B. Tsunami"})
    assert metrics["tasks"]["multiple_choice"]["protocols"]["geobench_vlm"]["category_mean"] == 1.0
    metrics = score(tmp_path / "t", out / "geobench_vlm_temporal.json", {"geobench_21": " C"})
    assert metrics["tasks"]["multiple_choice"]["protocols"]["geobench_vlm"]["unparsed"] == 1  # its scripts drop " C"


@pytest.mark.slow
def test_converted_xlrs_and_geobench_files_train_and_score(tmp_path, xlrs_parquet, geobench, tiny_models):
    """Both converted sets, one image and several frames mixed, train the tiny LLaVA and are answered and scored."""
    from geollava.evaluation.evaluate import main as evaluate
    from geollava.sft.train import main as train

    from helpers import tiny_argv

    for fmt, src in (("xlrs", xlrs_parquet), ("geobench-vlm", geobench)):
        assert cli("data", "convert", fmt, src, "--out", tmp_path / "data").returncode == 0
    records = [r for name in ("xlrs_lite.json", "geobench_vlm_single.json", "geobench_vlm_temporal.json")
               for r in json.loads((tmp_path / "data" / name).read_text())]
    for r in records:  # relative to data/, where train.json goes
        assert (tmp_path / "data" / (r.get("image") or r["video"][0])).is_file()
    write_json(tmp_path / "data" / "train.json", records)
    run = train(tiny_argv(tmp_path / "run", tmp_path / "data", tiny_models["llava"], "llava", "--num_frames", 2,
                          "--max_steps", 2))
    assert (run / "adapter_model.safetensors").is_file()
    results = evaluate(["--checkpoint", str(run), "--data", str(tmp_path / "data" / "train.json"), "--output-dir",
                        str(tmp_path / "eval"), "--num-workers", "0", "--max-new-tokens", "4", "--no-meteor",
                        "--tokenizer", "simple"])
    scores = next(iter(results.values()))["tasks"]["multiple_choice"]
    assert scores["samples"] == len(records) == 5
    assert set(scores["protocols"]) == {"xlrs", "geobench_vlm"}


def test_answers_lmms_eval_and_vlmevalkit_logged_are_rescored_as_ours(tmp_path, xlrs_parquet):
    """lmms-eval 0.7.3's --log_samples lines (evaluator.py _process_document_results; evaluation_tracker.py
    flattens one response to its text and drops the doc: the id is in what xlrs_process_results logged,
    question_id), an older lmms-eval's line that keeps the doc, and VLMEvalKit's <model>_<dataset>.xlsx (index,
    prediction), matched with the converted records by XLRS's own index."""
    import pandas as pd

    out = tmp_path / "out"
    assert cli("data", "convert", "xlrs", xlrs_parquet, "--out", out).returncode == 0
    answers = {1: "C. farmland", 2: "(B)", 3: "A C"}
    ours = score(tmp_path / "ours", out / "xlrs_lite.json", {f"xlrs_{k}": a for k, a in answers.items()})
    logged = tmp_path / "20261207_samples_xlrs-lite.jsonl"
    entry = {"category": "Land use classification", "pred_answer": "C", "answer": "C"}
    logged.write_text("".join(json.dumps({
        "doc_id": k - 1, "target": "C", "filtered_resps": a, "doc_hash": "0" * 64,
        "xlrs_micro_score": {"question_id": k, **entry}, "xlrs_macro_score": {"question_id": k, **entry}}) + "\n"
        if k != 2 else json.dumps({"doc_id": k - 1, "doc": {"index": k, "question": "?", "category": LUC},
                                   "target": "C", "arguments": [], "resps": [a], "filtered_resps": a}) + "\n"
        for k, a in answers.items()))
    sheet = tmp_path / "Qwen2.5-VL-7B_XLRS-Bench-lite.xlsx"
    pd.DataFrame({"index": list(answers), "question": ["?"] * 3, "prediction": list(answers.values())}).to_excel(
        sheet, index=False)
    for path in (logged, sheet):
        theirs = evaluate(["--predictions", str(path), "--data", str(out / "xlrs_lite.json"), "--output-dir",
                           str(tmp_path / path.stem), "--no-meteor", "--tokenizer", "simple"])[path.stem]
        assert theirs["tasks"]["multiple_choice"]["protocols"] == \
            ours["tasks"]["multiple_choice"]["protocols"]
    logged.write_text(json.dumps({"doc_id": 0, "filtered_resps": "C", "xlrs_micro_score": {"answer": "C"}}) + "\n")
    with pytest.raises(SystemExit, match="names no document id"):
        evaluate(["--predictions", str(logged), "--data", str(out / "xlrs_lite.json")])
    logged.write_text(json.dumps({"doc_id": 0, "doc": {"index": 999}, "filtered_resps": "C"}) + "\n")
    with pytest.raises(SystemExit, match="1 of the 1 answers lmms-eval logged are of documents that .* does not "
                                         "have"):
        evaluate(["--predictions", str(logged), "--data", str(out / "xlrs_lite.json")])
