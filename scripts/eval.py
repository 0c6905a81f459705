#!/usr/bin/env python
"""Evaluate checkpoints or score predictions: see `python scripts/eval.py --help` and geollava/evaluate.py.

    python scripts/eval.py --checkpoint runs/tiny --data data/synthetic/val.json --base
    python scripts/eval.py --predictions results.json --data data/synthetic/val.json
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geollava.evaluation.evaluate import main  # noqa: E402

if __name__ == "__main__":
    main()
