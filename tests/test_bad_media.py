"""Media that pass the fast checks (the file is there) but cannot be decoded when drawn in training: with
on_bad_record: skip each is logged by id, counted (train_log.json) and replaced, and the run finishes; with error
the run stops with one line naming the record, the file and the fix — no traceback."""
import json
import subprocess
import sys

import pytest

from geollava.data.mp4 import write_mp4
from geollava.sft.train import main

from helpers import REPO_ROOT, index_frame, tiny_argv, write_json


@pytest.fixture(scope="module")
def with_broken_media(tmp_path_factory, synth_set):
    root = tmp_path_factory.mktemp("broken")
    (root / "empty.mp4").write_bytes(b"")
    write_mp4(root / "one_frame.mp4", [index_frame(3)])
    records = json.loads((synth_set / "train.json").read_text())[:10]
    for r in records:
        r["video"] = str(synth_set / r["video"])
    for name in ("empty", "one_frame"):
        records.insert(3, {"id": name, "video": f"{name}.mp4", "conversations": records[0]["conversations"]})
    write_json(root / "train.json", records)
    return root


def test_skip_means_skip_counted_in_the_log(tmp_path, with_broken_media, tiny_models):
    out = main(tiny_argv(tmp_path / "run", with_broken_media, tiny_models["llava"], "llava", "--max_steps", 6,
                         "--on_bad_record", "skip"))
    log = json.loads((out / "train_log.json").read_text())
    assert [e["step"] for e in log if "loss" in e] == [1, 2, 3, 4, 5, 6]
    # 12 samples, batch 2: one epoch in 6 steps, each broken record drawn once
    assert log[-1]["skipped_records"] == 2 and max(e.get("skipped_records", 0) for e in log) == 2


@pytest.mark.slow
def test_error_stops_with_one_line_naming_the_record_and_the_fix(tmp_path, with_broken_media, tiny_models):
    argv = tiny_argv(tmp_path / "run", with_broken_media, tiny_models["llava"], "llava", "--max_steps", 6)
    result = subprocess.run([sys.executable, "-m", "geollava", "train", *map(str, argv)], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("error: record '") and ".mp4" in lines[0] and "on_bad_record: skip" in lines[0]
    assert "Traceback" not in result.stderr
