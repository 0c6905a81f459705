"""VLMEvalKit's own run.py on exported datasets: a merged tiny Qwen2.5-VL answers them on the CPU through
VLMEvalKit's Qwen2VLChat (vlmevalkit_on_cpu.py redirects the three places it demands CUDA, nothing else), the
exported dataset class scores them, and its numbers equal `geollava eval --predictions` on the prediction files
VLMEvalKit wrote."""
from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import pytest

from geollava.export.documents import ExportSettings
from geollava.export.vlmevalkit import export_vlmevalkit
from helpers import cli

pytestmark = pytest.mark.slow


def test_vlmevalkit_run_scores_equal_geollava_eval_on_its_prediction_files(merged_qwen, harness_env, tmp_path):
    env, (model, data) = harness_env("vlmevalkit"), merged_qwen
    exported = tmp_path / "exported"
    datasets = export_vlmevalkit(data / "val.json", exported, ExportSettings(num_frames=4))
    config = json.loads((exported / "config.json").read_text())
    config["model"] = {"tinyqwen": {"class": "Qwen2VLChat", "model_path": str(model), "use_custom_prompt": False,
                                    "max_new_tokens": 64, "min_pixels": 3136, "max_pixels": 200704}}
    (exported / "config_cpu.json").write_text(json.dumps(config))
    (tmp_path / "lmu").mkdir()
    environ = {**os.environ, "LMUData": str(tmp_path / "lmu"), "HF_HUB_OFFLINE": "1", "PRED_FORMAT": "xlsx"}
    done = subprocess.run([str(env / "bin" / "python"), str(Path(__file__).parent / "vlmevalkit_on_cpu.py"),
                           str(exported / "run_vlmevalkit.py"), "--config", str(exported / "config_cpu.json"),
                           "--work-dir", str(tmp_path / "outputs")], env=environ, capture_output=True, text=True,
                          timeout=1200, cwd=tmp_path)
    status = tmp_path / "outputs" / "tinyqwen" / "status.json"
    assert done.returncode == 0 and status.is_file(), done.stdout[-3000:] + done.stderr[-5000:]
    theirs = json.loads(status.read_text())["datasets"]
    assert sorted(theirs) == sorted(datasets)
    for dataset in datasets:
        assert theirs[dataset]["status"] == "done", theirs[dataset]
        predictions = tmp_path / "outputs" / "tinyqwen" / f"tinyqwen_{dataset}.xlsx"
        scored = tmp_path / "rescored" / dataset
        result = cli("eval", "--predictions", predictions, "--data", data / "val.json", "--output-dir", scored)
        assert result.returncode == 0, result.stderr
        [ours] = json.loads((scored / predictions.stem / "metrics.json").read_text())["tasks"].values()
        for name, value in theirs[dataset]["metrics"].items():
            expected = lookup(ours, name)
            assert (math.isnan(value) and math.isnan(expected)) or value == pytest.approx(expected), (dataset, name)
        assert theirs[dataset]["metrics"]


def lookup(scores: dict, dotted: str) -> float:
    from geollava.export.harness import metric
    return metric(scores, dotted)
