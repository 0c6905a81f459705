"""lmms-eval's own command line on exported tasks: a merged tiny Qwen2.5-VL answers them on the CPU, lmms-eval
scores them through the exported hooks, and its numbers equal `geollava eval --predictions` on the answers it
logged — from the export folder and from the package it installs as.

lmms-eval runs in an environment of its own, built as docs/evaluation.md tells a user (conftest.harness_env)."""
from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import pytest

from geollava.export.documents import ExportSettings
from geollava.export.harness import metric, numeric_metrics
from geollava.export.lmms_eval import export_lmms_eval, metric_name
from helpers import cli

pytestmark = pytest.mark.slow
PIXELS = "max_pixels=200704,min_pixels=3136"  # 64 px tiles stay small: 4 visual tokens each


def lmms_eval(env: Path, model: Path, tasks: list[str], out: Path, *extra, plugin: str | None = None) -> dict:
    """lmms-eval's results for the tasks: {task: {metric: value}}; its samples logs under ``out``."""
    environ = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
               "HF_HOME": str(out / "hf_home")}
    if plugin:
        environ["LMMS_EVAL_PLUGINS"] = plugin
    command = [str(env / "bin" / "lmms-eval"), "--model", "qwen2_5_vl", "--model_args",
               f"pretrained={model},device=cpu,device_map=cpu,{PIXELS}", "--tasks", ",".join(tasks),
               "--batch_size", "1", "--log_samples", "--output_path", str(out), *extra]
    done = subprocess.run(command, env=environ, capture_output=True, text=True, timeout=1200)
    found = list(out.rglob("*_results.json"))  # lmms-eval exits 0 after an error it logged: its results say
    assert done.returncode == 0 and len(found) == 1, done.stdout[-3000:] + done.stderr[-5000:]
    [results_file] = found
    results = json.loads(results_file.read_text())["results"]
    return {task: {key.split(",")[0]: value for key, value in metrics.items()
                   if key.endswith(",none") and "_stderr" not in key} for task, metrics in results.items()}


def test_lmms_eval_cli_scores_equal_geollava_eval_on_its_logged_answers(merged_qwen, harness_env, tmp_path):
    lmms_env = harness_env("lmms-eval")
    model, data = merged_qwen
    exported = tmp_path / "exported"
    names = export_lmms_eval(data / "val.json", exported, ExportSettings(num_frames=4))
    assert len(names) == 4
    theirs = lmms_eval(lmms_env, model, names, tmp_path / "out", "--include_path", str(exported))
    assert set(names) <= set(theirs)
    for name in names:
        [log] = (tmp_path / "out").rglob(f"*_samples_{name}.jsonl")
        logged = [json.loads(line) for line in log.read_text().splitlines()]
        assert len(logged) == 2
        for sample in logged:  # each answer reached our hooks as lmms-eval logged it, under its record's id
            rows = [v for v in sample.values() if isinstance(v, dict) and "prediction" in v]
            assert rows and all(r["prediction"] == sample["filtered_resps"].strip() for r in rows)
            assert rows[0]["id"].startswith("synth_")
        scored = tmp_path / "rescored" / name
        result = cli("eval", "--predictions", log, "--data", data / "val.json", "--output-dir", scored)
        assert result.returncode == 0, result.stderr
        ours = json.loads((scored / log.stem / "metrics.json").read_text())["tasks"]
        [task_scores] = ours.values()
        by_name = {metric_name(m): metric(task_scores, m) for m in numeric_metrics(task_scores)}
        for lmms_name, value in theirs[name].items():
            expected = by_name[lmms_name]
            assert (math.isnan(value) and math.isnan(expected)) or value == pytest.approx(expected), (name, lmms_name)
        assert theirs[name], name

    # the same export installed as a package: lmms-eval 0.7.3 indexes its tasks before it reads LMMS_EVAL_PLUGINS
    # (lmms_eval/__main__.py, cli_evaluate_single), so the installed tasks folder is named to it as well
    python = str(lmms_env / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(exported)], check=True, timeout=600)
    try:
        installed = subprocess.run([python, "-c", "import geollava_tasks.tasks as t; print(t.__path__[0])"],
                                   check=True, capture_output=True, text=True, cwd=tmp_path).stdout.strip()
        assert "site-packages" in installed
        plugin = lmms_eval(lmms_env, model, ["geollava_val_scene"], tmp_path / "plugin", "--include_path",
                           installed, plugin="geollava_tasks")
        assert plugin["geollava_val_scene"] == theirs["geollava_val_scene"]
    finally:
        subprocess.run([str(lmms_env / "bin" / "python"), "-m", "pip", "uninstall", "-q", "-y", "geollava-tasks"],
                       timeout=600)
