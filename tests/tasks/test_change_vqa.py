"""change_vqa: questions about what changed, drawn from the synthetic videos' true events, checked, and scored by
exact match with GeoChat's normalisation, per question type and as the mean of the types."""
import json

import pytest

from geollava.tasks import Sample, ScoreOptions, get_task

from helpers import cli

WORDS = {"construction": "new buildings", "demolition": "demolished buildings", "road": "a new road",
         "deforestation": "cleared vegetation", "water_growth": "water grew", "water_shrink": "water shrank",
         "none": "nothing"}


@pytest.fixture(scope="module")
def change_vqa_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("change_vqa")
    result = cli("data", "synth", "--out", out, "--train", 40, "--val", 8, "--tasks", "change_vqa", "--frames", 2,
                 "--size", 64, "--style", "simple")
    assert result.returncode == 0 and "40 change videos with change_vqa records" in result.stdout
    return out


def test_synthetic_questions_are_answered_from_the_true_event(change_vqa_set):
    records = json.loads((change_vqa_set / "train.json").read_text())
    kinds = {r["metadata"]["question_type"] for r in records}
    assert kinds == {"yes_no", "count", "place", "type"}
    for r in records:
        event = (r["metadata"]["events"] or [{"type": "none", "count": 0, "quadrant": None}])[0]
        question, answer = r["conversations"][0]["value"], r["conversations"][1]["value"]
        kind = r["metadata"]["question_type"]
        assert question.startswith("<video>\n") and question.endswith("single word or phrase.")
        if kind == "place":
            assert answer == event["quadrant"]
        elif kind == "type":
            assert answer == WORDS[event["type"]]
        elif kind == "count":
            asked = "constructed" if "constructed" in question else "demolished"
            truth = event["count"] if {"constructed": "construction", "demolished": "demolition"}[asked] == \
                event["type"] else 0
            assert answer == str(truth)
        else:
            assert answer in ("yes", "no")
            assert (answer == "yes") == (WORDS[event["type"]] != "nothing" and _asks_about(question) == event["type"])


def _asks_about(question: str) -> str:
    for kind, words in (("construction", "constructed"), ("demolition", "demolished"), ("road", "road"),
                        ("deforestation", "vegetation"), ("water_growth", "grow"), ("water_shrink", "shrink")):
        if words in question:
            return kind
    raise AssertionError(question)


def test_the_set_passes_data_check_and_is_deterministic(change_vqa_set, tmp_path):
    result = cli("data", "check", change_vqa_set / "train.json", "--deep")
    assert result.returncode == 0 and "40 records, 40 ok, 0 bad" in result.stdout
    again = cli("data", "synth", "--out", tmp_path, "--train", 40, "--val", 0, "--tasks", "change_vqa", "--frames",
                2, "--size", 64, "--style", "simple")
    assert again.returncode == 0
    assert (tmp_path / "train.json").read_text() == (change_vqa_set / "train.json").read_text()


def test_scores_are_exact_matches_per_type_and_the_mean_of_types():
    rows = [("yes", "yes", "yes_no"), ("No.", "yes", "yes_no"), ("2", "2", "count"), ("3", "2", "count"),
            ("two", "2", "count"), ("North-East", "north-east", "place"), ("nothing", "nothing", "type")]
    task = get_task("change_vqa")
    summary, per = task.aggregate([Sample(p, [r], {"question_type": t}) for p, r, t in rows], ScoreOptions())
    assert [s["correct"] for s in per] == [1, 0, 1, 0, 0, 1, 1]
    assert summary["accuracy"] == pytest.approx(4 / 7)
    assert summary["per_type"] == {"count": pytest.approx(1 / 3), "place": 1.0, "type": 1.0, "yes_no": 0.5}
    assert summary["average"] == pytest.approx((1 / 3 + 1 + 1 + 0.5) / 4)


def test_a_record_without_a_question_type_is_refused_with_the_fix():
    from geollava.data.schema import parse_record

    _, problems = parse_record({"id": "a", "video": ["a.png", "b.png"], "metadata": {"task": "change_vqa"},
                                "conversations": [{"from": "human", "value": "What changed?"},
                                                  {"from": "gpt", "value": "nothing"}]})
    assert [p.code for p in problems] == ["missing_question_type"] and "fix:" in str(problems[0])


def test_eval_scores_a_predictions_file_of_the_task(change_vqa_set, tmp_path):
    records = json.loads((change_vqa_set / "val.json").read_text())
    predictions = [{"id": r["id"], "prediction": r["conversations"][1]["value"] if k % 2 else "maybe"}
                   for k, r in enumerate(records)]
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in predictions))
    from geollava.evaluation.evaluate import main as evaluate

    metrics = evaluate(["--predictions", str(path), "--data", str(change_vqa_set / "val.json"), "--output-dir",
                        str(tmp_path / "eval"), "--no-meteor"])["predictions"]
    assert metrics["tasks"]["change_vqa"]["accuracy"] == pytest.approx(0.5) and metrics["samples"] == 8
    table = (tmp_path / "eval" / "comparison.md").read_text()
    assert "### change_vqa" in table and "| model | samples | accuracy | average of types |" in table
    assert "| predictions | 8 | 0.500 |" in table
