"""Converters: each documented source layout, with bad rows, becomes annotations that `data check` accepts."""
import csv
import json

import numpy as np
import pytest
from PIL import Image

from geollava.launch import load_config
from geollava.data.frames import read_video
from geollava.data.validate import check_annotations, load_records
from geollava.sft.train import build_trainer

from helpers import cli, tiny_argv, write_json


def image(path, value, size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, dtype=np.uint8)).save(path)
    return path


def convert(*args):
    return cli("data", "convert", *args)


def check(path, *extra):
    return cli("data", "check", path, "--deep", *extra)


@pytest.fixture
def levir(tmp_path):
    root = tmp_path / "LEVIR-CC"
    items = []
    for n, (split, name) in enumerate([("train", "train_000001.png"), ("train", "train_000002.png"),
                                       ("train", "train_000003.png"), ("val", "val_000001.png")]):
        image(root / "images" / split / "A" / name, 10)
        if name != "train_000003.png":  # its after-image is missing
            image(root / "images" / split / "B" / name, 200)
        items.append({"filepath": split, "filename": name, "imgid": n, "changeflag": int(n % 2 == 0), "split": split,
                      "sentences": [{"raw": f" sentence {k} of {name} ", "tokens": [], "imgid": n, "sentid": 5 * n + k}
                                    for k in range(5)], "sentids": []})
    items.append(dict(items[0]))  # a duplicate pair
    write_json(root / "LevirCCcaptions.json", {"images": items})
    return root


def test_levir_cc(tmp_path, levir):
    out = tmp_path / "out"
    result = convert("levir-cc", levir, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "skipped 1 row(s): missing image" in result.stdout and "skipped 1 row(s): duplicate pair" in result.stdout
    train = json.loads((out / "train.json").read_text())
    assert len(train) == 2 and len(json.loads((out / "val.json").read_text())) == 1
    first = train[0]
    assert first["video"][0].endswith("train/A/train_000001.png") and first["video"][1].endswith("B/train_000001.png")
    assert first["conversations"][1]["value"] == "sentence 0 of train_000001.png"
    assert first["references"] == [f"sentence {k} of train_000001.png" for k in range(1, 5)]
    assert first["metadata"]["changeflag"] == 1
    assert check(out / "train.json", "--num-frames", "2").returncode == 0
    record = load_records(out / "train.json")[0]
    assert len(record.all_references()) == 5
    per_ref = convert("levir-cc", levir, "--out", tmp_path / "per", "--one-record-per-reference")
    assert per_ref.returncode == 0 and len(json.loads((tmp_path / "per" / "train.json").read_text())) == 10


def test_converted_levir_cc_trains_one_step(tmp_path, levir, tiny_models):
    out = tmp_path / "out"
    assert convert("levir-cc", levir, "--out", out).returncode == 0
    argv = tiny_argv(tmp_path / "run", out, tiny_models["llava"], "llava", "--num_frames", 2, "--max_steps", 1)
    trainer, _ = build_trainer(load_config(argv))
    result = trainer.train()
    assert result.global_step == 1 and result.training_loss > 0


@pytest.fixture
def fmow(tmp_path):
    root = tmp_path / "fmow"
    site = root / "train" / "airport" / "airport_0"
    stamps = {1: "2015-02-01T10:00:00Z", 2: "2016-07-09T10:00:00Z", 3: "2017-03-03T09:00:00Z",
              4: "2014-01-05T11:00:00Z"}
    for n, stamp in stamps.items():
        image(site / f"airport_0_{n}_rgb.jpg", 40 * n, size=(60 + n * 2, 50))
        write_json(site / f"airport_0_{n}_rgb.json", {"timestamp": stamp, "gsd": 0.5 + n, "cloud_cover": n})
    small = root / "val" / "port" / "port_7"
    for n in (1, 2):
        image(small / f"port_7_{n}_rgb.jpg", 90)
        write_json(small / f"port_7_{n}_rgb.json", {"timestamp": f"201{n}-05-05T00:00:00Z", "gsd": 1, "cloud_cover": 0})
    return root


SHEET = [
    ["airport", 0, 4, "2014-01-05", "train/airport/airport_0/airport_0_4_rgb.jpg", 1, "", "train/airport/airport_0/airport_0_1_rgb.jpg"],
    ["airport", 0, 2, "2016-07-09", "train/airport/airport_0/airport_0_2_rgb.jpg", 3, "2017-03-03", ""],
    ["airport", 0, 3, "2017-03-03", "", 1, "2015-02-01", ""],  # out of time order
    ["airport", 0, 5, "2017-03-03", "", 1, "2015-02-01", ""],  # image 5 does not exist
    ["airport", 0, 4, "2014-01-05", "", 1, "", ""],  # duplicate of the first
]


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_fmow_pairs_as_videos(tmp_path, fmow, suffix):
    sheet = tmp_path / f"pairs.{suffix}"
    header = ["category", "location_id", "image1", "timestamp1", "image_path1", "image2", "timestamp2", "image_path2"]
    if suffix == "csv":
        with open(sheet, "w", newline="") as f:
            csv.writer(f).writerows([header] + SHEET)
    else:
        from openpyxl import Workbook

        book = Workbook()
        for row in [header] + SHEET:
            book.active.append(row)
        book.save(sheet)
    captions = write_json(tmp_path / "geollava.json", [{
        "id": "airport_0_4-airport_0_1", "video": "airport_0_4-airport_0_1.mp4",
        "conversations": [{"from": "human", "value": "<video>\nWhat changed?"},
                          {"from": "gpt", "value": "A new hangar was built."}]}])
    out = tmp_path / "out"
    result = convert("fmow-pairs", sheet, "--out", out, "--images", fmow, "--captions", captions)
    assert result.returncode == 0, result.stderr
    for reason in ("pair out of time order", "missing image", "duplicate pair"):
        assert f"skipped 1 row(s): {reason}" in result.stdout
    pairs = json.loads((out / "pairs.json").read_text())
    assert [p["id"] for p in pairs] == ["airport_0_4-airport_0_1"]
    assert pairs[0]["timestamps"] == ["2014-01-05", "2015-02-01"]  # the second from the image's JSON
    assert pairs[0]["conversations"][1]["value"] == "A new hangar was built."
    video = out / "videos" / "airport_0_4-airport_0_1.mp4"
    read = read_video(video, lambda total: list(range(total)))
    assert read.total == 2 and read.images.shape[1:] == (50, 68, 3)  # the first image's size
    assert read.images[0].mean() > read.images[1].mean()  # image 4 (brighter) comes first, as named
    inference = json.loads((out / "pairs_inference.json").read_text())
    assert [r["id"] for r in inference] == ["airport_0_2-airport_0_3"] and len(inference[0]["conversations"]) == 1
    assert check(out / "pairs.json").returncode == 0
    inference = check(out / "pairs_inference.json")
    assert inference.returncode == 0 and "are unlabeled (no answer)" in inference.stdout


def test_fmow_pairs_as_frame_lists(tmp_path, fmow):
    sheet = tmp_path / "pairs.csv"
    with open(sheet, "w", newline="") as f:
        csv.writer(f).writerows([["category", "location_id", "image1", "timestamp1", "image_path1", "image2",
                                  "timestamp2", "image_path2"], SHEET[1]])
    out = tmp_path / "out"
    assert convert("fmow-pairs", sheet, "--out", out, "--images", fmow, "--as-frames").returncode == 0
    record = json.loads((out / "pairs_inference.json").read_text())[0]
    assert isinstance(record["video"], list) and record["video"][0].endswith("airport_0_2_rgb.jpg")
    assert not (out / "videos").exists()


def test_fmow_sequences(tmp_path, fmow):
    out = tmp_path / "out"
    result = convert("fmow-sequences", fmow, "--out", out, "--min-views", 3)
    assert result.returncode == 0, result.stderr
    assert "skipped 1 row(s): fewer than 3 views" in result.stdout
    (sequence,) = json.loads((out / "sequences.json").read_text())
    assert [v.rsplit("_", 2)[-2] for v in sequence["video"]] == ["4", "1", "2", "3"]  # sorted by time
    assert sequence["timestamps"][0].startswith("2014-01-05") and sequence["metadata"]["gsd"] == [4.5, 1.5, 2.5, 3.5]
    assert check(out / "sequences.json").returncode == 0
    convert("fmow-sequences", fmow, "--out", tmp_path / "gap", "--min-views", 2, "--min-gap-days", 500)
    kept = json.loads((tmp_path / "gap" / "sequences.json").read_text())
    # airport: 2014-01-05, then 2016-07-09 (2015-02-01 and 2017-03-03 are within 500 days of a kept view);
    # port: 2011-05-05 alone (2012-05-05 is 366 days later), so it has too few views
    assert [[v.rsplit("_", 2)[-2] for v in s["video"]] for s in kept] == [["4", "2"]]


def test_teochat_and_llava(tmp_path):
    media = tmp_path / "media"
    image(media / "xbd" / "pre_1.png", 20)
    image(media / "xbd" / "post_1.png", 220)
    image(media / "geochat" / "P0001.png", 120)
    teochat = write_json(tmp_path / "teochat.json", [
        {"id": "xbd_1", "video": ["xbd/pre_1.png", "xbd/post_1.png"], "timestamp": ["2018-08-01", "2018-11-20"],
         "task": "damage", "conversations": [{"from": "human", "value": "<video>\nDamage?"},
                                             {"from": "gpt", "value": "Two buildings were destroyed."}]},
        {"id": "xbd_2", "video": ["xbd/pre_2.png", "xbd/post_2.png"], "conversations": []}])
    out = tmp_path / "out"
    result = convert("teochat", teochat, "--out", out, "--images", media)
    assert result.returncode == 0 and "skipped 1 row(s): missing image" in result.stdout
    (record,) = json.loads((out / "teochat.json").read_text())
    assert record["timestamps"] == ["2018-08-01", "2018-11-20"] and record["metadata"] == {"source_task": "damage"}
    llava = write_json(tmp_path / "geochat.json", [
        {"id": "g1", "image": "geochat/P0001.png", "conversations": [
            {"from": "human", "value": "<image>\n[identify] What is this?"}, {"from": "gpt", "value": "A plane."},
            {"from": "human", "value": "How many?"}, {"from": "gpt", "value": "One."}]},
        {"id": "g2", "image": "geochat/P0001.png", "conversations": [{"from": "gpt", "value": "no question"}]}])
    result = convert("llava", llava, "--out", out, "--images", media)
    assert result.returncode == 0 and "skipped 1 row(s): no_human_turn" in result.stdout
    for name in ("teochat.json", "llava.json"):
        assert check(out / name).returncode == 0


def test_geollava_annotations_are_read_as_they_are(tmp_path, synth_set):
    """GeoLLaVA's own files ("video": "<name>.mp4", human / gpt turns) need no conversion."""
    video = sorted((synth_set / "videos").glob("*.mp4"))[0]
    path = write_json(tmp_path / "geollava.json", [{
        "id": "airport_hangar_0_4-airport_hangar_0_1", "video": video.name,
        "conversations": [{"from": "human", "value": "<video>\nThis is a pair of satellite images. Describe..."},
                          {"from": "gpt", "value": "Image 1: ... Image 2: ... Changes Between the Images: ..."}]}])
    report = check_annotations(path, video.parent, num_frames=8, deep=True)
    assert report.bad == [] and report.total == 1


def test_bad_source_is_a_clear_error(tmp_path):
    result = convert("levir-cc", tmp_path, "--out", tmp_path / "o")
    assert result.returncode == 2 and "LevirCCcaptions.json not found" in result.stderr
    sheet = tmp_path / "s.csv"
    sheet.write_text("a,b\n1,2\n")
    result = convert("fmow-pairs", sheet, "--out", tmp_path / "o", "--images", tmp_path)
    assert result.returncode == 2 and "not a pair sheet" in result.stderr
