"""Task records: `metadata.task` and its fields checked per record; GeoChat, UCMerced / AID and RSVQA files
converted into records that pass `data check`."""
import json

import pytest

from geollava.data.schema import parse_record
from geollava.tasks import normalise_answer

from helpers import cli, write_image, write_json


def record(task_fields: dict, question="<image>\nWhat is this?", answer="A harbour.") -> dict:
    return {"id": "r1", "image": "a.png", "metadata": task_fields,
            "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]}


def problems(raw) -> list[str]:
    return [f"{p.code}: {p}" for p in parse_record(raw)[1]]


def test_valid_task_records_parse_and_keep_their_tags():
    refer = record({"task": "refer", "size_group": "small"}, "<image>\n[refer] Give me the location of <p> plane </p>",
                   "{<16><55><24><63>|<11>}")
    parsed, found = parse_record(refer)
    assert not found and parsed.task == "refer" and "[refer]" in parsed.prompt
    assert parse_record(record({}))[0].task == "change_caption"
    scene = record({"task": "scene", "classes": ["Dense Residential", "Harbor"]}, answer="dense residential.")
    assert not problems(scene)  # GeoChat's rule: case, spaces and periods do not matter
    assert not problems(record({"task": "vqa", "question_type": "presence"}, answer="yes"))
    assert not problems(record({"task": "region_caption"}, "[identify] What is the object present at "
                                                           "{<1><2><30><40>|<0>}", "a storage tank"))


@pytest.mark.parametrize("fields,question,answer,code,words", [
    ({"task": "detect"}, None, None, "unknown_task", "is not a task"),
    ({"task": "refer"}, None, "{<16><55><24>}", "bad_box", "has 3 numbers"),
    ({"task": "grounding"}, None, "a plane on the runway", "missing_box", "has no box"),
    ({"task": "region_caption"}, "[identify] What is the object present at {<1><2><3>}", None, "bad_box",
     "region_caption question"),
    ({"task": "scene", "classes": ["Harbor", "Beach"]}, None, "Forest", "answer_not_a_class", "'Forest'"),
    ({"task": "scene"}, None, None, "missing_classes", "metadata.classes"),
    ({"task": "vqa"}, None, "yes", "missing_question_type", "question_type"),
    ({"task": "refer", "size_group": "huge"}, None, "{<1><2><3><4>}", "wrong_size_group", "'huge'"),
])
def test_bad_task_fields_are_clear_errors(fields, question, answer, code, words):
    found = problems(record(fields, question or "<image>\nWhat is this?", answer or "A harbour."))
    assert found and found[0].startswith(code) and words in found[0], found
    assert "fix:" in found[0]


def test_data_check_names_the_record_and_the_fix(tmp_path):
    write_image(tmp_path / "a.png")
    path = write_json(tmp_path / "tasks.json", [record({"task": "refer"}, answer="{<16><55><24>}")])
    result = cli("data", "check", path)
    assert result.returncode == 1
    assert "record 0 (id 'r1')" in result.stdout and "has 3 numbers" in result.stdout and "fix:" in result.stdout


def test_normalisation_is_geochats():
    assert normalise_answer("Dense Residential.") == normalise_answer("denseresidential") == "denseresidential"


@pytest.fixture
def bench(tmp_path):
    images = tmp_path / "images"
    for name in ("P0001.png", "P0002.png", "river_12.png"):
        write_image(images / name)
    return images


def jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_geochat_instruct_records_get_their_task(tmp_path, bench):
    src = write_json(tmp_path / "GeoChat_Instruct.json", [
        {"id": "P0001", "image": "P0001.png", "conversations": [
            {"from": "human", "value": "<image>\n[refer] where is <p>silver plane</p> ?"},
            {"from": "gpt", "value": "{<16><55><24><63>|<11>}"},
            {"from": "human", "value": "[refer] and <p>the hangar</p>?"},
            {"from": "gpt", "value": "{<60><10><90><40>|<0>}"}]},
        {"id": "P0001", "image": "P0001.png", "conversations": [
            {"from": "human", "value": "<image>\n[identify] What is the object present at {<1><2><30><40>|<0>}"},
            {"from": "gpt", "value": "a storage tank"}]},
        {"id": "P0002", "image": "P0002.png", "conversations": [
            {"from": "human", "value": "<image>\nDescribe the image in detail."},
            {"from": "gpt", "value": "Two <p>planes</p> {<1><1><9><9>|<0>}{<20><20><30><30>|<3>} are parked."}]},
        {"id": "P0002", "image": "P0002.png", "conversations": [
            {"from": "human", "value": "<image>\nIs this an airport?"}, {"from": "gpt", "value": "Yes."}]},
        {"id": "P0009", "image": "P0009.png", "conversations": [
            {"from": "human", "value": "<image>\nx"}, {"from": "gpt", "value": "y"}]},
    ])
    result = cli("data", "convert", "geochat-instruct", src, "--out", tmp_path / "out", "--images", bench)
    assert result.returncode == 0, result.stderr
    assert "skipped 1 row(s): missing image" in result.stdout
    records = json.loads((tmp_path / "out" / "geochat_instruct.json").read_text())
    assert [r["metadata"]["task"] for r in records] == ["refer", "region_caption", "grounded_description",
                                                        "conversation"]
    assert len({r["id"] for r in records}) == 4  # an image's several tasks get ids of their own
    assert records[0]["conversations"][0]["value"] == "<image>\n[refer] where is <p>silver plane</p> ?"
    assert cli("data", "check", tmp_path / "out" / "geochat_instruct.json").returncode == 0


def test_geochat_eval_files_for_each_task(tmp_path, bench):
    scene = jsonl(tmp_path / "UCmerced.jsonl", [
        {"question_id": "river/river_12", "image": "river_12.png", "ground_truth": "River",
         "text": "Classify the image from the following classes: Harbor, River, Beach. "
                 "Answer in one word or a short phrase."}])
    refer = jsonl(tmp_path / "referring.jsonl", [
        {"question_id": 7, "image_id": "P0001", "question": "the plane", "ground_truth": [[16, 55, 24, 63, 11]],
         "type": "ref", "size_group": "small", "dataset": "DOTA", "obj_ids": [3]},
        {"question_id": 8, "image_id": "P0002", "question": "all planes", "type": "grounding",
         "ground_truth": "{<1><1><9><9>|<0>}<delim>{<20><20><30><30>|<3>}"}])
    region = jsonl(tmp_path / "region.jsonl", [
        {"question_id": 9, "image_id": "P0001", "question": "{<1><2><30><40>|<0>}", "ground_truth": "a tank"}])
    vqa = jsonl(tmp_path / "hrben.jsonl", [
        {"question_id": 11, "image": "P0002.png", "text": "Is there a road?", "ground_truth": "yes",
         "category": "presence"}])
    for src, task in ((scene, "scene"), (refer, "grounding"), (region, "region_caption"), (vqa, "vqa")):
        result = cli("data", "convert", "geochat-eval", src, "--task", task, "--out", tmp_path / task,
                     "--images", bench)
        assert result.returncode == 0, result.stdout + result.stderr
        out = tmp_path / task / f"{src.stem}.json"
        assert cli("data", "check", out).returncode == 0, cli("data", "check", out).stdout
    scene_record = json.loads((tmp_path / "scene" / "UCmerced.json").read_text())[0]
    assert scene_record["id"] == "river/river_12" and scene_record["metadata"]["classes"] == ["Harbor", "River", "Beach"]
    assert scene_record["conversations"][0]["value"].startswith("Classify the image from the following classes")
    first, second = json.loads((tmp_path / "grounding" / "referring.json").read_text())
    assert first["metadata"]["task"] == "refer" and first["metadata"]["size_group"] == "small"
    assert first["conversations"][0]["value"] == "[refer] Give me the location of <p> the plane </p>"
    assert first["conversations"][1]["value"] == "{<16><55><24><63>|<11>}"
    assert second["metadata"]["task"] == "grounding" and second["conversations"][0]["value"] == "[grounding]all planes"
    region_record = json.loads((tmp_path / "region_caption" / "region.json").read_text())[0]
    assert region_record["conversations"][0]["value"] == \
        "[identify] What is the object present at {<1><2><30><40>|<0>}"
    assert json.loads((tmp_path / "vqa" / "hrben.json").read_text())[0]["metadata"]["question_type"] == "presence"
    missing = cli("data", "convert", "geochat-eval", vqa, "--out", tmp_path / "x", "--images", bench)
    assert missing.returncode == 2 and "needs --task" in missing.stderr


def test_scene_folders_in_geochats_wording(tmp_path):
    for cls, names in (("Harbor", ["h1.tif", "h2.tif"]), ("Dense Residential", ["d1.jpg"])):
        for name in names:
            write_image(tmp_path / "UCMerced" / cls / name)
    (tmp_path / "UCMerced" / "Harbor" / "notes.txt").write_text("x")
    result = cli("data", "convert", "scene-folders", tmp_path / "UCMerced", "--out", tmp_path / "out")
    assert result.returncode == 0 and "skipped 1 row(s): not an image" in result.stdout
    records = json.loads((tmp_path / "out" / "scene.json").read_text())
    assert [r["id"] for r in records] == ["Dense Residential/d1", "Harbor/h1", "Harbor/h2"]
    assert records[0]["conversations"][0]["value"] == (
        "Classify the image from the following classes: Dense Residential, Harbor. "
        "Answer in one word or a short phrase.")
    assert cli("data", "check", tmp_path / "out" / "scene.json", "--deep").returncode == 0


def test_rsvqa_active_questions_with_their_types(tmp_path):
    root = tmp_path / "RSVQA_LR"
    for i in (0, 1):
        write_image(root / "Images_LR" / f"{i}.tif")
    write_json(root / "LR_split_test_questions.json", {"questions": [
        {"id": 0, "img_id": 0, "type": "presence", "question": "Is there a road?", "answers_ids": [0], "active": True},
        {"id": 1, "img_id": 0, "type": "comp", "question": "Are there more water areas than buildings?",
         "answers_ids": [1], "active": True},
        {"id": 2, "img_id": 1, "type": "rural_urban", "question": "Is it rural?", "answers_ids": [2],
         "active": False}]})
    write_json(root / "LR_split_test_answers.json", {"answers": [
        {"id": 0, "question_id": 0, "answer": "yes", "active": True},
        {"id": 1, "question_id": 1, "answer": "no", "active": True},
        {"id": 2, "question_id": 2, "answer": "rural", "active": False}]})
    write_json(root / "LR_split_test_images.json", {"images": [{"id": 0, "active": True}, {"id": 1, "active": True}]})
    result = cli("data", "convert", "rsvqa", root, "--split", "test", "--resolution", "lr", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stdout + result.stderr
    records = json.loads((tmp_path / "out" / "rsvqa_lr_test.json").read_text())
    assert [r["metadata"]["question_type"] for r in records] == ["presence", "comparison"]  # inactive dropped
    assert records[1]["conversations"][0]["value"] == ("Are there more water areas than buildings?\n"
                                                       "Answer the question using a single word or phrase.")
    assert cli("data", "check", tmp_path / "out" / "rsvqa_lr_test.json").returncode == 0
