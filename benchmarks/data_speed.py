"""Data-layer speed: generating 2,000 synthetic videos (8 frames, 128 px) and fast-checking 100,000 annotation
records from JSONL and from a JSON list (time and peak resident memory of each check, in a fresh process).

    python benchmarks/data_speed.py
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHECK = """
import resource, sys, time
from geollava.data.validate import check_annotations
start = time.perf_counter()
report = check_annotations(sys.argv[1])
print(f"{time.perf_counter() - start:.2f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} {len(report.good)}")
"""


def main() -> None:
    from geollava.synthetic.generate import generate_split

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        generate_split(tmp / "synth", "train", 2000, num_frames=8, size=128, seed=0)
        print(f"generate 2,000 videos of 8 frames at 128 px (all cores): {time.perf_counter() - start:.1f} s")
        (tmp / "a.mp4").write_bytes(b"x")
        record = {"video": "a.mp4", "timestamps": ["2016-01-01", "2017-01-01"], "conversations": [
            {"from": "human", "value": "<video>\nWhat changed between these two satellite images of the same place?"},
            {"from": "gpt", "value": "Image 1: an airfield with two hangars. Image 2: the same airfield. Changes "
                                     "Between the Images: a third hangar was built on the east side. " * 3}]}
        rows = [{"id": f"r{i}", **record} for i in range(100_000)]
        (tmp / "ann.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (tmp / "ann.json").write_text(json.dumps(rows))
        del rows
        for name in ("ann.jsonl", "ann.json"):
            out = subprocess.run([sys.executable, "-c", CHECK, str(tmp / name)], capture_output=True, text=True)
            seconds, rss, good = out.stdout.split()
            print(f"check 100,000 records from {name}: {seconds} s, peak RSS {rss} MiB (whole process), {good} ok")


if __name__ == "__main__":
    main()
