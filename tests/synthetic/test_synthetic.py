"""Synthetic change videos: deterministic, captions that agree with the true events, changes where they say."""
import json

import numpy as np
import pytest

from geollava.data.frames import load_frames
from geollava.data.validate import check_annotations, load_records
from geollava.synthetic.captions import Event, _TEMPLATES, describe
from geollava.tasks.change_caption import EVENT_TYPES, QUADRANTS, read_event
from geollava.synthetic.events import build_before_after, quadrant_box
from geollava.synthetic.generate import generate_split, make_sample
from geollava.synthetic.scene import MARGIN, render

from helpers import cli


def test_set_passes_deep_check(synth_set):
    for split, count in (("train", 16), ("val", 6)):
        report = check_annotations(synth_set / f"{split}.json", deep=True, num_frames=8)
        assert report.bad == [] and report.total == count


def test_every_caption_agrees_with_its_stored_event(synth_set):
    for record in [*load_records(synth_set / "train.json"), *load_records(synth_set / "val.json")]:
        events = record.metadata["events"]
        said = read_event(record.answer)
        if not events:
            assert said["type"] == "none", record.answer
            assert record.timestamps[0] in record.answer and record.timestamps[-1] in record.answer
            continue
        (event,) = events
        assert said == {"type": event["type"], "quadrant": event["quadrant"],
                        "count": event["count"] if event["type"] in ("construction", "demolition") else None}
        assert event["date_before"] == record.timestamps[event["frame"] - 1]
        assert event["date_after"] == record.timestamps[event["frame"]]
        assert event["date_before"] in record.answer and event["date_after"] in record.answer


def test_generation_is_deterministic_for_a_seed(tmp_path, synth_set):
    again = generate_split(tmp_path / "again", "val", 6, num_frames=8, size=64, seed=3, workers=2)
    assert json.loads(again.read_text()) == json.loads((synth_set / "val.json").read_text())
    for record in load_records(again):
        assert (again.parent / record.media[0]).read_bytes() == (synth_set / record.media[0]).read_bytes()
        a = load_frames(record, again.parent, 8).images
        b = load_frames(record, synth_set, 8).images
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
    other = generate_split(tmp_path / "other", "val", 6, num_frames=8, size=64, seed=4, workers=1)
    assert json.loads(other.read_text()) != json.loads(again.read_text())


def test_simple_style_changes_nothing_but_the_event():
    """Simple scenes: no illumination, cloud or shift between acquisitions, and fewer distractors than realistic."""
    busy = {"realistic": [], "simple": []}
    for index in range(40):
        for style in busy:
            record, frames = make_sample(0, "train", index, 2, 64, style)
            assert record["metadata"]["synthetic"]["style"] == style
            diff = np.abs(frames[0].astype(int) - frames[1].astype(int)).max(-1)
            busy[style].append(float((diff > 20).mean()))  # share of pixels changed beyond the noise (sd ~5.4)
            if style == "simple" and not record["metadata"]["events"]:
                assert busy[style][-1] < 0.01, record["id"]
    assert np.median(busy["simple"]) < 0.05 < np.median(busy["realistic"])


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_the_change_happens_only_in_the_stated_quadrant(event_type):
    for seed, quadrant in enumerate(QUADRANTS):
        rng = np.random.default_rng(seed)
        count = 3 if event_type in ("construction", "demolition") else 1
        before, after = build_before_after(rng, 128, event_type, None if event_type == "none" else quadrant, count)
        diff = np.abs(render(before, np.random.default_rng(0)) - render(after, np.random.default_rng(0))).sum(-1)
        changed = diff[MARGIN:-MARGIN, MARGIN:-MARGIN] > 1e-6
        if event_type == "none":
            assert not changed.any()
            continue
        assert changed.sum() > 20, f"{event_type} in {quadrant} changed only {changed.sum()} pixels"
        box = quadrant_box(quadrant, 128)
        ys, xs = np.nonzero(changed)
        shadow = 2  # building shadows fall up to 2 px outside the footprint
        assert box.x0 - 1 <= xs.min() and xs.max() < box.x1 + shadow + 1, (event_type, quadrant)
        assert box.y0 - 1 <= ys.min() and ys.max() < box.y1 + shadow + 1, (event_type, quadrant)


def test_every_wording_reads_back_to_its_event():
    rng = np.random.default_rng(0)
    for event_type, templates in _TEMPLATES.items():
        for _ in range(len(templates) * 8):
            count = int(rng.integers(1, 4)) if event_type in ("construction", "demolition") else 1
            quadrant = None if event_type == "none" else QUADRANTS[rng.integers(4)]
            event = Event(event_type, 0 if quadrant is None else count, quadrant, 1, "2017-01-02", "2018-03-04")
            said = read_event(describe(event, rng))
            assert said["type"] == event_type and said["quadrant"] == quadrant
            if event_type in ("construction", "demolition"):
                assert said["count"] == count


def test_read_event_on_free_text():
    assert read_event("Three new buildings appeared and were built in the north west.") == \
        {"type": "construction", "count": 3, "quadrant": "north-west"}
    assert read_event("the lake dried up") == {"type": None, "count": None, "quadrant": None}
    assert read_event("No change.")["type"] == "none"


def test_synth_command(tmp_path):
    result = cli("data", "synth", "--out", tmp_path, "--train", 4, "--val", 2, "--frames", 4, "--size", 48,
                 "--seed", 1, "--workers", 1)
    assert result.returncode == 0, result.stderr
    assert "4 realistic videos of 4 frames at 48 px" in result.stdout
    assert len(list((tmp_path / "videos").glob("*.mp4"))) == 6
    record = load_records(tmp_path / "train.json")[0]
    frames = load_frames(record, tmp_path, 4)
    assert frames.images[0].shape == (48, 48, 3) and frames.timestamps == record.timestamps
    bad = cli("data", "synth", "--out", tmp_path, "--train", 1, "--val", 0, "--size", 47)
    assert bad.returncode != 0 and "even number of pixels" in bad.stderr


def test_frame_lists_as_pngs_and_geotiffs_show_the_same_sample(tmp_path):
    for media in ("png", "geotiff"):
        result = cli("data", "synth", "--out", tmp_path / media, "--train", 0, "--val", 2, "--frames", 3,
                     "--size", 48, "--seed", 1, "--workers", 1, "--media", media)
        assert result.returncode == 0 and f"2 realistic {media} frame lists of 3 frames" in result.stdout
        assert cli("data", "check", tmp_path / media / "val.json", "--deep").returncode == 0
    png, tif = (load_records(tmp_path / media / "val.json")[1] for media in ("png", "geotiff"))
    assert tif.timestamps is None and png.timestamps is not None  # a GeoTIFF's date is in the file
    from_png, from_tif = load_frames(png, tmp_path / "png", 3), load_frames(tif, tmp_path / "geotiff", 3)
    assert from_tif.timestamps == png.timestamps
    # the same pixels, 12-bit in the GeoTIFF: its 2-98 % stretch per band is linear up to the clipped tails
    for band in range(3):
        a, b = (frames.images[0][..., band].astype(float).ravel() for frames in (from_png, from_tif))
        assert np.corrcoef(a, b)[0, 1] > 0.95


def test_synthetic_task_records_are_valid_deterministic_and_true_to_the_pixels(tmp_path):
    from geollava.geometry.boxes import parse_boxes, polygon
    from geollava.tasks import normalise_answer

    result = cli("data", "synth", "--out", tmp_path / "a", "--train", 40, "--val", 5, "--size", 64, "--seed", 4,
                 "--tasks", "scene,vqa,refer,grounding,region_caption")
    assert result.returncode == 0, result.stderr
    assert "40 images with scene, vqa, refer, grounding, region_caption records at 64 px" in result.stdout
    for split in ("train", "val"):
        assert cli("data", "check", tmp_path / "a" / f"{split}.json", "--deep").returncode == 0
    records = json.loads((tmp_path / "a" / "train.json").read_text())
    checked = 0
    assert [r["metadata"]["task"] for r in records[:5]] == ["scene", "vqa", "refer", "grounding", "region_caption"]
    assert cli("data", "synth", "--out", tmp_path / "b", "--train", 40, "--val", 0, "--size", 64, "--seed", 4,
               "--tasks", "scene,vqa,refer,grounding,region_caption").returncode == 0
    assert (tmp_path / "b" / "train.json").read_text() == (tmp_path / "a" / "train.json").read_text()
    assert (tmp_path / "b" / "images" / "train_00007.png").read_bytes() == \
        (tmp_path / "a" / "images" / "train_00007.png").read_bytes()
    for r in records:
        question, answer = r["conversations"][0]["value"], r["conversations"][1]["value"]
        meta = r["metadata"]
        if meta["task"] == "scene":
            assert normalise_answer(answer) in map(normalise_answer, meta["classes"])
        if meta["task"] == "refer":
            (box,) = parse_boxes(answer)
            assert "[refer] Give me the location of <p> the largest" in question
            assert str(box) in [o["box"] for o in meta["objects"]]
        if meta["task"] == "vqa" and meta["question_type"] == "count":
            kind = "building" if "buildings" in question else "tank"
            assert answer == str(sum(o["kind"] == kind for o in meta["objects"]))
        if meta["task"] == "refer" and ("building" in question or "tank" in question):
            # the box is where the object was drawn: its centre pixel is a roof's or a tank's colour, exactly
            from PIL import Image

            from geollava.synthetic.scene import ROOF_COLOURS

            x0, y0, x1, y1 = polygon(parse_boxes(answer)[0], 64, 64).bounds
            pixel = tuple(np.asarray(Image.open(tmp_path / "a" / r["image"]))[int((y0 + y1) / 2), int((x0 + x1) / 2)])
            colours = {(235, 235, 228)} if "tank" in question else {tuple(int(255 * c) for c in roof)
                                                                      for roof in ROOF_COLOURS}
            assert pixel in colours, (r["id"], pixel)
            checked += 1
    assert checked >= 2
    bad = cli("data", "synth", "--out", tmp_path / "c", "--train", 2, "--val", 0, "--tasks", "scene,detect")
    assert bad.returncode != 0 and "detect" in bad.stderr
