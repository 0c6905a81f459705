"""The HTML report, the constant-caption baseline and the learning check."""
import json
import re
import subprocess
import sys

import pytest

from geollava.evaluation.baseline import most_frequent_caption, write_baseline
from geollava.evaluation.learning_check import verdict
from geollava.evaluation.predictions import load_predictions

from helpers import REPO_ROOT, screenshot, write_json


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, synth_set, tiny_run):
    out = tmp_path_factory.mktemp("report") / "eval"
    result = subprocess.run([sys.executable, "scripts/eval.py", "--checkpoint", str(tiny_run), "--data",
                             str(synth_set / "val.json"), "--base", "--output-dir", str(out), "--max-new-tokens", "8",
                             "--num-workers", "0", "--no-meteor", "--report"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"report: {out / 'report.html'}" in result.stdout
    return out


@pytest.mark.slow
def test_report_is_self_contained_with_table_plots_and_cards(evaluated):
    page = (evaluated / "report.html").read_text()
    assert "src=\"http" not in page and "href=\"http" not in page  # nothing to fetch: one file to share
    assert page.count('class="card"') == 6
    assert page.count("data:image/jpeg;base64") == 6 * 4  # a 4-frame strip per sample
    assert page.count('class="plot"') == 2  # the loss curve, and the metrics at steps 0 (base), 2 and 4 (final)
    table = page[page.index("<table>"):page.index("</table>")]
    for label in ("base", "checkpoint-2", "final"):
        assert f"<th>{label}</th>" in table
    assert "CIDEr" in table and "event score" in table
    # every card carries its scores for sorting, and its dates under the frames
    assert len(re.findall(r'data-cider="[0-9.]+"', page)) == 6
    assert re.search(r"<figcaption>20\d\d-\d\d-\d\d</figcaption>", page)
    assert "function sortCards" in page and "worst first" in page


@pytest.mark.slow
def test_report_screenshot_in_headless_chromium(evaluated, tmp_path):
    shot = screenshot(evaluated / "report.html", evaluated / "report.png", tmp_path / "profile")
    assert shot.is_file() and shot.stat().st_size > 20_000


def test_constant_caption_baseline(tmp_path, synth_set):
    caption, count = most_frequent_caption(synth_set / "train.json")
    path, used = write_baseline(synth_set / "train.json", synth_set / "val.json", tmp_path / "b.jsonl")
    rows = load_predictions(path)
    assert used == caption and count >= 1 and len(rows) == 6
    assert {r["prediction"] for r in rows} == {caption} and all(r["events"] is not None for r in rows)
    train = json.loads((synth_set / "train.json").read_text())
    train[1]["conversations"][1]["value"] = train[2]["conversations"][1]["value"] = "A road was built."
    write_json(tmp_path / "t.json", train)
    (tmp_path / "videos").symlink_to(synth_set / "videos")
    assert most_frequent_caption(tmp_path / "t.json") == ("A road was built.", 2)


def metrics(cider, event):
    return {"scores": {"coco": {"CIDEr": cider}, "events": {"score": event}}}


def test_learning_check_needs_every_criterion():
    good = verdict(metrics(1.2, 0.6), baseline=metrics(0.3, 0.2), untrained=metrics(0.0, 0.0),
                   blind=metrics(0.9, 0.3))
    assert all(ok for ok, _ in good)
    copied_dates = verdict(metrics(1.2, 0.35), baseline=metrics(0.3, 0.2), untrained=metrics(0.0, 0.0),
                           blind=metrics(1.1, 0.3))
    assert [ok for ok, _ in copied_dates] == [True, True, True, False]  # CIDEr up, but no better than blind
    assert "vs blind control" in copied_dates[3][1]


def test_each_task_table_says_which_reference_its_protocols_follow():
    from geollava.report.tables import comparison_table, html_tables

    results = {"model": {"tasks": {
        "scene": {"samples": 2, "accuracy": 0.5, "reference": "mbzuai-oryx/GeoChat batch_geochat_scene.py"},
        "multiple_choice": {"samples": 1, "accuracy": 1.0, "reference": "each benchmark's own matcher",
                            "protocols": {"xlrs": {"reference": "lmms_eval/tasks/xlrs/mcq_utils.py"}}}}}}
    page = html_tables(results)
    assert "batch_geochat_scene.py" in page and "lmms_eval/tasks/xlrs/mcq_utils.py" in page
    assert "scored as: lmms_eval/tasks/xlrs/mcq_utils.py" in comparison_table(results)
