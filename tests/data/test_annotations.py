"""Reading every supported annotation style into one record type, and writing it back."""
import datetime as dt
import json

import pytest

from geollava.data.annotations import Annotations, write_annotations
from geollava.data.schema import Record, parse_record, parse_timestamp

GEOLLAVA = {
    "id": "airport_hangar_0_4-airport_hangar_0_1",
    "video": "airport_hangar_0_4-airport_hangar_0_1.mp4",
    "conversations": [
        {"from": "human", "value": "<video>\nThis is a sequence of satellite images. What changed?"},
        {"from": "gpt", "value": "Image 1: an airfield. Image 2: the same airfield. Changes Between the Images: "
                                 "a new hangar was built."},
    ],
}
LLAVA = {
    "id": "geochat_17",
    "image": "images/P0017.png",
    "conversations": [
        {"from": "human", "value": "<image>\nHow many planes are there?"},
        {"from": "gpt", "value": "There are three planes."},
        {"from": "human", "value": "Where are they?"},
        {"from": "gpt", "value": "Near the terminal."},
    ],
}
TEOCHAT = {
    "id": "xbd_42",
    "video": ["xbd/pre_42.png", "xbd/post_42.png"],
    "timestamp": ["2018-08-01", "2018-11-20"],
    "conversations": [
        {"from": "human", "value": "<video>\nDescribe the damage."},
        {"from": "gpt", "value": "Two buildings were destroyed."},
    ],
    "metadata": {"disaster": "fire"},
}


def test_geollava_style():
    record, problems = parse_record(GEOLLAVA)
    assert problems == []
    assert record.media_kind == "video" and record.media == [GEOLLAVA["video"]]
    assert record.answer.endswith("a new hangar was built.")
    assert record.timestamps is None and record.all_references() == [record.answer]


def test_llava_style_multi_turn():
    record, problems = parse_record(LLAVA)
    assert problems == []
    assert record.media_kind == "image" and len(record.conversations) == 4
    assert record.answer == "There are three planes."


def test_teochat_style_frame_list_with_timestamps():
    record, problems = parse_record(TEOCHAT)
    assert problems == []
    assert record.media_kind == "frames" and record.media == TEOCHAT["video"]
    assert record.timestamps == ["2018-08-01", "2018-11-20"] and record.metadata == {"disaster": "fire"}


def test_extra_references_are_kept_for_evaluation():
    record, _ = parse_record({**GEOLLAVA, "references": ["another caption", GEOLLAVA["conversations"][1]["value"]]})
    assert record.all_references() == [record.answer, "another caption"]


def test_round_trip_through_json_and_jsonl(tmp_path):
    for suffix in (".json", ".jsonl"):
        path = tmp_path / f"mixed{suffix}"
        write_annotations(path, [GEOLLAVA, LLAVA, TEOCHAT])
        loaded = Annotations(path)
        assert len(loaded) == 3
        records = [parse_record(raw)[0] for raw in loaded]
        assert [loaded.raw(i)["id"] for i in range(3)] == [r.id for r in records]
        rewritten = [r.to_json() for r in records]
        assert [parse_record(raw)[0] for raw in rewritten] == records
    # the canonical form of a GeoLLaVA record is the GeoLLaVA record itself
    assert parse_record(GEOLLAVA)[0].to_json() == GEOLLAVA


def test_jsonl_is_read_lazily_by_offset(tmp_path):
    path = tmp_path / "big.jsonl"
    rows = [{**GEOLLAVA, "id": f"r{i}"} for i in range(1000)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    loaded = Annotations(path)
    assert loaded._items is None and len(loaded) == 1000
    assert loaded.raw(737)["id"] == "r737"
    assert isinstance(parse_record(loaded.raw(0))[0], Record)


def test_timestamps_read_dates_and_utc_datetimes():
    assert parse_timestamp("2016-03-02") == dt.datetime(2016, 3, 2)
    assert parse_timestamp(" 2016-03-02T10:04:00Z ") == dt.datetime(2016, 3, 2, 10, 4)  # fMoW's form
    assert parse_timestamp("2015-07-30T15:47:49.293Z") == dt.datetime(2015, 7, 30, 15, 47, 49, 293000)
    assert parse_timestamp("2016-03-02T12:04:00+02:00") == dt.datetime(2016, 3, 2, 10, 4)
    for bad in ("March 2016", "", 2016):
        with pytest.raises(ValueError):
            parse_timestamp(bad)


def test_parquet_annotations_load_like_the_json_they_came_from(tmp_path, synth_set):
    """A Parquet file (what `datasets` writes, and what hub datasets are) is read through datasets.load_dataset."""
    import datasets

    from geollava.data.validate import load_records

    rows = json.loads((synth_set / "train.json").read_text())
    path = tmp_path / "train.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    from_json = load_records(synth_set / "train.json")
    from_parquet = load_records(path, synth_set)
    assert len(from_parquet) == len(from_json) == 16
    for a, b in zip(from_json, from_parquet):
        assert (a.id, a.media, a.timestamps, a.conversations, a.answer) == (b.id, b.media, b.timestamps,
                                                                          b.conversations, b.answer)
        assert a.metadata["events"] == b.metadata["events"]
    mixed = tmp_path / "mixed.parquet"  # change videos and task images in one table: metadata columns differ
    tasks = [{"id": "t1", "image": "videos/x.png", "metadata": {"task": "vqa", "question_type": "presence"},
              "conversations": [{"from": "human", "value": "Is there a road?"}, {"from": "gpt", "value": "yes"}]}]
    datasets.Dataset.from_list([{**rows[0], "metadata": {"events": []}}, *tasks]).to_parquet(str(mixed))
    from geollava.data.annotations import Annotations

    first, second = list(Annotations(mixed))
    assert "task" not in first["metadata"] and second["metadata"] == tasks[0]["metadata"]


def test_a_broken_table_or_missing_hub_dataset_is_one_clear_error(tmp_path):
    from geollava.data.annotations import AnnotationFileError, Annotations, is_hub_dataset_id

    broken = tmp_path / "x.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(AnnotationFileError, match="x.parquet: cannot be read as a table"):
        Annotations(broken)
    assert is_hub_dataset_id("someone/change-captions") and is_hub_dataset_id("someone/set:validation")
    assert not is_hub_dataset_id("data/train.json") and not is_hub_dataset_id("data/synthetic/train.json")
