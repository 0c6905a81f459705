"""The quickstart script end to end, shrunk to a few samples and steps: every stage runs through the real scripts,
the report and the table name every model, metrics.json carries the event score for each, and a second run reuses
what is done. (Whether the full-size run learns is measured, not tested: README and benchmarks/RESULTS.md.)"""
import json
import os
import subprocess

import pytest

from helpers import REPO_ROOT


def run_quickstart(data, out):
    env = {**os.environ, "DATA": str(data), "OUT": str(out), "TRAIN": "16", "VAL": "8", "STEPS": "4"}
    return subprocess.run(["bash", "scripts/quickstart.sh"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=900)


@pytest.mark.slow
def test_quickstart_runs_every_stage_and_reports(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    result = run_quickstart(data, out)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = (out / "results.md").read_text()
    for model in ("untrained", "constant caption", "checkpoint-2", "blind control", "fine-tuned"):
        assert f"| {model} | 8 |" in table, table
    assert table in result.stdout and result.stdout.rstrip().endswith(f"report: {out}/report.html")
    assert "learning check:" in result.stdout  # the verdict (4 steps cannot pass it)
    answers = [line for line in result.stdout.splitlines() if line.startswith(("  png: ", "  geotiff: "))]
    assert len(answers) == 2 and all(len(line.split(": ", 1)[1].strip()) > 0 for line in answers), result.stdout
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and html.count('class="card"') == 8
    for metrics in ("finetuned/final", "finetuned/base", "blind/blind", "baseline/baseline"):
        events = json.loads((out / "eval" / metrics / "metrics.json").read_text())["scores"]["events"]
        assert events["samples"] == 8 and 0 <= events["score"] <= 1
    records = json.loads((data / "train.json").read_text())
    assert len(records) == 16 and records[0]["metadata"]["synthetic"]["style"] == "simple"

    again = run_quickstart(data, out)
    assert again.returncode == 0 and "reusing the synthetic set" in again.stdout
    assert again.stdout.count("reusing " + str(out)) == 2  # both fine-tunings
