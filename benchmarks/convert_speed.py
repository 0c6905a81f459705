"""Seconds to convert 10,000 LEVIR-CC image pairs (`geollava data convert levir-cc`), on tiny real PNG files.

    python benchmarks/convert_speed.py [--pairs 10000]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from geollava.convert import convert


def make_levir(root: Path, pairs: int) -> None:
    pixels = Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8))
    images = []
    for i in range(pairs):
        split = "train" if i % 10 < 8 else "val"
        name = f"{split}_{i:06d}.png"
        for side in ("A", "B"):
            folder = root / "images" / split / side
            folder.mkdir(parents=True, exist_ok=True)
            pixels.save(folder / name)
        images.append({"filepath": split, "filename": name, "imgid": i, "split": split, "changeflag": i % 2,
                       "sentences": [{"raw": f"sentence {k} about pair {i} ", "tokens": [], "imgid": i}
                                     for k in range(5)]})
    (root / "LevirCCcaptions.json").write_text(json.dumps({"images": images}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "LEVIR-CC"
        make_levir(root, args.pairs)
        start = time.perf_counter()
        result = convert("levir-cc", root, Path(tmp) / "out")
        elapsed = time.perf_counter() - start
    print("\n".join(result.summary()))
    print(f"converted {args.pairs} LEVIR-CC pairs in {elapsed:.1f} s ({args.pairs / elapsed:.0f} pairs/s)")


if __name__ == "__main__":
    main()
