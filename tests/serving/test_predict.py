"""`geollava predict`: one question about the user's own frames (PNGs, GeoTIFFs, a video), with the checkpoint's
own prompt settings; the answer as text or JSON, boxes drawn; every bad input one line and a non-zero exit."""
import json

import pytest
from PIL import Image

from geollava.synthetic.generate import generate_split

from helpers import cli


@pytest.fixture(scope="module")
def own_frames(tmp_path_factory):
    """Two PNG frame lists and two GeoTIFF frame lists (dates in the files only), 4 frames each."""
    root = tmp_path_factory.mktemp("own")
    generate_split(root / "png", "val", 2, num_frames=4, size=64, seed=5, workers=1, media="png")
    generate_split(root / "tif", "val", 2, num_frames=4, size=64, seed=5, workers=1, media="geotiff")
    return root


def frames_of(root, kind, k=0):
    return [str(root / kind / p) for p in json.loads((root / kind / "val.json").read_text())[k]["video"]]


def test_answers_for_png_frames_with_the_checkpoints_prompt(own_frames, tiny_run):
    result = cli("predict", "--checkpoint", tiny_run, "--frames", *frames_of(own_frames, "png"),
                 "--dates", "2017-03-01", "2018-01-01", "2019-06-09", "2021-06-09", "--json", "--max-new-tokens", "6")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["answer"].strip() and answer["task"] == "change_caption" and answer["frames_shown"] == 4
    assert "Frame 1 (2017-03-01): <image>" in answer["prompt"] and answer["dates"][-1] == "2021-06-09"
    assert json.loads((tiny_run / "geollava_prompt.json").read_text())["question"] in answer["prompt"]
    plain = cli("predict", "--checkpoint", tiny_run, "--frames", *frames_of(own_frames, "png"),
                "--max-new-tokens", "6")
    assert plain.returncode == 0 and plain.stdout.strip() and not plain.stdout.startswith("{")


def test_geotiff_frames_bring_their_dates_and_are_drawn(own_frames, tiny_run, tmp_path):
    out = tmp_path / "answer.png"
    result = cli("predict", "--checkpoint", tiny_run, "--frames", *frames_of(own_frames, "tif", 1), "--json",
                 "--draw", out, "--max-new-tokens", "6")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    record = json.loads((own_frames / "png" / "val.json").read_text())[1]
    assert answer["dates"] == record["timestamps"]  # the same sample's dates, read from the GeoTIFF tags
    assert f"Frame 2 ({record['timestamps'][1]})" in answer["prompt"]
    assert Image.open(out).size == (4 * 256 + 3 * 4, 256)


def test_a_single_image_task_gets_its_question_form(task_set, tiny_run):
    image = task_set / json.loads((task_set / "val.json").read_text())[2]["image"]
    result = cli("predict", "--checkpoint", tiny_run, "--frames", image, "--task", "refer", "--question",
                 "the largest patch of trees", "--json", "--max-new-tokens", "8")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["question"] == "[refer] Give me the location of <p> the largest patch of trees </p>"
    assert isinstance(answer["boxes"], list) and answer["frames_shown"] == 1


@pytest.mark.parametrize("case,words", [
    ("missing frame", "does not exist"),
    ("unreadable frame", "cannot read image"),
    ("one frame for a change", "needs two or more frames"),
    ("too few frames", "--pad-frames"),
    ("two frames for a scene", "takes one image"),
    ("no checkpoint", "does not exist"),
    ("refer without a question", "needs --question"),
])
def test_bad_input_is_one_line_and_a_nonzero_exit(own_frames, tiny_run, tmp_path, case, words):
    frames = frames_of(own_frames, "png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    args = {"missing frame": ["--frames", frames[0], tmp_path / "nowhere.png"],
            "unreadable frame": ["--frames", *frames[:3], broken],
            "one frame for a change": ["--frames", frames[0]],
            "too few frames": ["--frames", *frames[:2]],  # trained with 4 frames
            "two frames for a scene": ["--frames", *frames[:2], "--task", "scene", "--question", "Classify."],
            "no checkpoint": ["--frames", *frames],
            "refer without a question": ["--frames", frames[0], "--task", "refer"]}[case]
    checkpoint = tmp_path / "gone" if case == "no checkpoint" else tiny_run
    result = cli("predict", "--checkpoint", checkpoint, *args, "--max-new-tokens", "4")
    assert result.returncode == 2, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and words in lines[0], result.stderr[-2000:]


def test_too_few_frames_are_repeated_when_asked(own_frames, tiny_run):
    result = cli("predict", "--checkpoint", tiny_run, "--frames", *frames_of(own_frames, "png")[:2],
                 "--pad-frames", "--json", "--max-new-tokens", "4")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["frames_shown"] == 4


def test_batch_prediction_of_unlabeled_records(own_frames, tiny_run, tmp_path):
    records = json.loads((own_frames / "tif" / "val.json").read_text())
    for r in records:
        r["conversations"] = r["conversations"][:1]
    data = own_frames / "tif" / "unlabeled.json"
    data.write_text(json.dumps(records))
    result = cli("predict", "--checkpoint", tiny_run, "--data", data, "--output-dir", tmp_path / "out",
                 "--max-new-tokens", "4")
    assert result.returncode == 0, result.stderr
    rows = (tmp_path / "out" / "final" / "predictions.jsonl").read_text().splitlines()
    assert "nothing scored" in result.stdout
    assert sorted(json.loads(r)["id"] for r in rows) == sorted(r["id"] for r in records)


def test_a_video_instead_of_frames(synth_set, tiny_run):
    record = json.loads((synth_set / "val.json").read_text())[0]
    result = cli("predict", "--checkpoint", tiny_run, "--video", synth_set / record["video"], "--json",
                 "--max-new-tokens", "4")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["frames_shown"] == 4 and answer["media"] == [str((synth_set / record["video"]).resolve())]
