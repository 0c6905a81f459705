"""`geollava export lmms-eval`: task folders whose hooks score with this suite's scorers, so lmms-eval's number
for a set of answers is `geollava eval --predictions`' number for the same answers (lmms-eval's own command line
runs them in test_lmms_eval_cli.py)."""
from __future__ import annotations

import importlib.util
import json
import math
import re

import pytest
import yaml

from geollava.export.documents import ExportSettings
from geollava.export.harness import answer_row, metric, numeric_metrics
from geollava.export.lmms_eval import export_lmms_eval, metric_name
from geollava.geometry.box_formats import pixels_frame_size
from geollava.synthetic.tasks import generate_task_split
from helpers import cli, write_json

TASKS = ["refer", "scene", "multiple_choice", "vqa"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    data = generate_task_split(root / "data", "val", 8, TASKS, size=64, seed=5)
    names = export_lmms_eval(data, root / "lmms", ExportSettings())
    return data, root / "lmms", names


def load_utils(folder):
    spec = importlib.util.spec_from_file_location(f"utils_{folder.name}", folder / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_yaml(path):
    """lmms-eval's YAML: its `!function module.name` tag read as the text it names."""
    loader = type("Loader", (yaml.SafeLoader,), {})
    loader.add_constructor("!function", lambda loader, node: "function:" + loader.construct_scalar(node))
    return yaml.load(path.read_text(), Loader=loader)


def answers(docs):
    """Every other answer right: scores that are neither 0 nor 1."""
    return [doc["answer"] if k % 2 == 0 else "a lighthouse" for k, doc in enumerate(docs)]


def test_one_task_folder_per_task_with_lmms_evals_fields(exported):
    data, out, names = exported
    assert names == [f"geollava_val_{t}" for t in ["scene", "multiple_choice", "vqa", "refer"]] or \
        sorted(names) == sorted(f"geollava_val_{t}" for t in TASKS)
    folder = out / "geollava_tasks" / "tasks" / "geollava_val_refer"
    config = read_yaml(folder / "geollava_val_refer.yaml")
    assert config["task"] == "geollava_val_refer" and config["output_type"] == "generate_until"
    assert config["dataset_path"] == "json" and config["test_split"] == "test"
    assert config["dataset_kwargs"]["data_files"]["test"] == str((folder / "docs.jsonl").resolve())
    assert config["doc_to_visual"] == "function:utils.doc_to_visual"
    assert config["generation_kwargs"]["max_new_tokens"] == 256  # refer's budget, as geollava eval
    metrics = [m["metric"] for m in config["metric_list"]]
    assert metrics[:4] == ["acc_0_5", "acc_0_7", "meanIoU", "cumIoU"]
    assert all(m["aggregation"] == f"function:utils.{m['metric']}" for m in config["metric_list"])
    assert (out / "pyproject.toml").is_file() and (out / "geollava_tasks" / "tasks" / "__init__.py").is_file()


def test_documents_carry_the_frames_in_order_and_the_question_as_our_eval_asks_it(exported):
    data, out, _ = exported
    records = {r["id"]: r for r in json.loads(data.read_text())}
    utils = load_utils(out / "geollava_tasks" / "tasks" / "geollava_val_scene")
    for line in (out / "geollava_tasks" / "tasks" / "geollava_val_scene" / "docs.jsonl").read_text().splitlines():
        doc = json.loads(line)
        record = records[doc["id"]]
        question = record["conversations"][0]["value"].replace("<image>", "").strip()
        assert utils.doc_to_text(doc) == question
        assert utils.doc_to_text(doc, {"pre_prompt": "P: ", "post_prompt": " Answer briefly."}) == \
            f"P: {question} Answer briefly."
        [image] = utils.doc_to_visual(doc)
        assert image.mode == "RGB" and image.size == (64, 64)
        assert doc["frames"] == [str((data.parent / record["image"]).resolve())]


def test_lmms_eval_numbers_equal_geollava_eval_on_the_same_answers(exported, tmp_path):
    """Each task: process_results on every document, each metric's aggregation on the results — what lmms-eval
    does — equals `geollava eval --predictions` on the lmms-eval samples log of those answers."""
    data, out, names = exported
    for name in names:
        folder = out / "geollava_tasks" / "tasks" / name
        utils = load_utils(folder)
        docs = [json.loads(line) for line in (folder / "docs.jsonl").read_text().splitlines()]
        said = answers(docs)
        per_doc = [utils.process_results(doc, [a]) for doc, a in zip(docs, said)]
        harness = {m: getattr(utils, m)([r[m] for r in per_doc]) for m in utils.METRICS}
        log = tmp_path / f"20261207_samples_{name}.jsonl"
        log.write_text("".join(json.dumps({"doc_id": k, "doc": {key: doc[key] for key in ("id", "task", "question")},
                                           "target": doc["answer"], "resps": [[a]], "filtered_resps": [a]}) + "\n"
                               for k, (doc, a) in enumerate(zip(docs, said))))
        result = cli("eval", "--predictions", log, "--data", data, "--output-dir", tmp_path / name, "--no-meteor")
        assert result.returncode == 0, result.stderr
        ours = json.loads((tmp_path / name / log.stem / "metrics.json").read_text())["tasks"][docs[0]["task"]]
        by_name = {metric_name(m): metric(ours, m) for m in numeric_metrics(ours)}
        for name_, value in harness.items():
            assert value == pytest.approx(by_name[name_]), (name, name_)
        assert any(0 < v < 1 for v in harness.values() if not math.isnan(v)), (name, harness)


def test_pixels_convention_asks_and_reads_boxes_on_the_processors_resized_image(tmp_path):
    """A Qwen2.5-VL target in lmms-eval (its min/max pixels) is asked for boxes in its pixel convention, and a
    right answer in that convention scores 1."""
    data = generate_task_split(tmp_path / "data", "val", 2, ["refer"], size=64, seed=1)
    settings = ExportSettings(box_format="pixels", max_pixels=1605632, min_pixels=200704)
    [name] = export_lmms_eval(data, tmp_path / "lmms", settings)
    folder = tmp_path / "lmms" / "geollava_tasks" / "tasks" / name
    utils = load_utils(folder)
    docs = [json.loads(line) for line in (folder / "docs.jsonl").read_text().splitlines()]
    width, height = pixels_frame_size(64, 64, 1605632, 200704)
    assert docs[0]["model_size"] == [width, height] and width > 64  # min_pixels upsizes a 64 px tile
    assert "JSON" in docs[0]["question"] and "<" not in docs[0]["question"]
    right = []
    for doc in docs:
        x1, y1, x2, y2 = (int(v) for v in re.findall(r"<(-?\d+)>", doc["answer"])[:4])
        box = [round(x1 * width / 100), round(y1 * height / 100), round(x2 * width / 100), round(y2 * height / 100)]
        right.append(json.dumps([{"bbox_2d": box, "label": "object"}]))
    results = [utils.process_results(doc, [a]) for doc, a in zip(docs, right)]
    assert utils.acc_0_5([r["acc_0_5"] for r in results]) == 1.0


def test_unlabeled_records_and_short_videos_are_refused_by_name(tmp_path):
    data = generate_task_split(tmp_path / "data", "val", 2, ["scene"], size=64, seed=1)
    records = json.loads(data.read_text())
    records[1]["conversations"] = records[1]["conversations"][:1]
    write_json(data, records)
    result = cli("export", "lmms-eval", data, "--out", tmp_path / "out")
    assert result.returncode == 2 and records[1]["id"] in result.stderr and "reference answer" in result.stderr

    from geollava.synthetic.generate import generate_split
    videos = generate_split(tmp_path / "videos", "val", 1, num_frames=4, size=32, seed=0, workers=1)
    result = cli("export", "lmms-eval", videos, "--out", tmp_path / "out2")
    assert result.returncode == 2 and "--num-frames" in result.stderr and "synth_val_00000" in result.stderr
    assert cli("export", "lmms-eval", videos, "--out", tmp_path / "out3", "--num-frames", "4").returncode == 0
    doc = json.loads(next((tmp_path / "out3").rglob("docs.jsonl")).read_text().splitlines()[0])
    assert len(doc["frames"]) == 4 and doc["question"].startswith("Frame dates: Frame 1 (")
    assert [answer_row(doc, " x ")["prediction"]] == ["x"]


def test_vlmevalkit_tsv_in_its_format_and_its_prediction_file_rescored_as_ours(tmp_path):
    """VLMEvalKit's TSV (docs/en/Development.md: index, image as base64 — several frames: a list literal, which
    its toliststr evaluates — question, answer) with our scoring columns; its prediction file keeps every column
    but the image, so `geollava eval --predictions` scores it by the record ids."""
    import ast
    import base64
    import io

    from PIL import Image

    import pandas as pd

    from geollava.export.harness import score_rows
    from geollava.export.vlmevalkit import export_vlmevalkit

    data = generate_task_split(tmp_path / "data", "val", 6, ["change_vqa", "scene"], size=64, seed=3, frames=4)
    names = export_vlmevalkit(data, tmp_path / "vlm", ExportSettings(num_frames=4))
    assert sorted(names) == ["GeoLLaVA_val_change_vqa", "GeoLLaVA_val_scene"]
    config = json.loads((tmp_path / "vlm" / "config.json").read_text())
    assert config["data"]["GeoLLaVA_val_scene"] == {"class": "GeoLLaVATask", "dataset": "GeoLLaVA_val_scene"}
    records = {r["id"]: r for r in json.loads(data.read_text())}
    for name in names:
        table = pd.read_csv(tmp_path / "vlm" / f"{name}.tsv", sep="\t")
        assert list(table.columns[:4]) == ["index", "image", "question", "answer"]
        assert list(table["index"]) == list(range(len(table)))
        for _, row in table.iterrows():
            record = records[row["id"]]
            images = ast.literal_eval(row["image"]) if row["image"].startswith("[") else [row["image"]]
            if "image" in record:  # an image file goes as it is; a video's frames as the PNGs decoded here
                assert [base64.b64decode(i) for i in images] == [(data.parent / record["image"]).read_bytes()]
            else:
                frames = [Image.open(io.BytesIO(base64.b64decode(i))) for i in images]
                assert len(frames) == 4 and all(f.size == (64, 64) for f in frames)
        predictions = table.drop(columns=["image"])
        predictions["prediction"] = answers([{"answer": a} for a in predictions["answer"]])
        sheet = tmp_path / f"model_{name}.xlsx"
        predictions.to_excel(sheet, index=False)
        result = cli("eval", "--predictions", sheet, "--data", data, "--output-dir", tmp_path / "scored" / name)
        assert result.returncode == 0, result.stderr
        [ours] = json.loads((tmp_path / "scored" / name / sheet.stem / "metrics.json").read_text())["tasks"].values()
        rows = [answer_row({**r, "image_size": None, "model_size": None}, p)
                for r, p in zip(predictions.to_dict("records"), predictions["prediction"])]
        assert 0 < ours["accuracy"] < 1 and metric(score_rows(rows), "accuracy") == ours["accuracy"]
