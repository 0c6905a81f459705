"""Did the quickstart's model really learn to see change? Compares the fine-tuned model with the constant-caption
baseline, the untrained model and the blind control (same fine-tuning, frames blanked), and says why.

Criteria: CIDEr at least 2x the constant caption's and above the untrained model's; event score above the
constant caption's and the blind control's by at least `margin` (CIDEr alone can be raised by copying the prompt's
dates without looking at a pixel; the event score and the blind control cannot).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def verdict(finetuned: dict, baseline: dict, untrained: dict, blind: dict, margin: float = 0.15) -> list[tuple[bool, str]]:
    cider = lambda m: m["scores"]["coco"]["CIDEr"]  # noqa: E731
    event = lambda m: m["scores"]["events"]["score"]  # noqa: E731
    return [
        (cider(finetuned) >= 2 * cider(baseline),
         f"CIDEr {cider(finetuned):.3f} vs constant caption {cider(baseline):.3f} (needs 2x: "
         f"{cider(finetuned) / max(cider(baseline), 1e-9):.1f}x)"),
        (cider(finetuned) > cider(untrained), f"CIDEr {cider(finetuned):.3f} vs untrained {cider(untrained):.3f}"),
        (event(finetuned) >= event(baseline) + margin,
         f"event score {event(finetuned):.3f} vs constant caption {event(baseline):.3f} (margin "
         f"{event(finetuned) - event(baseline):+.3f}, needs +{margin})"),
        (event(finetuned) >= event(blind) + margin,
         f"event score {event(finetuned):.3f} vs blind control {event(blind):.3f} (margin "
         f"{event(finetuned) - event(blind):+.3f}, needs +{margin})"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="geollava learning-check", description=__doc__.splitlines()[0])
    for name in ("finetuned", "baseline", "untrained", "blind"):
        parser.add_argument(f"--{name}", required=True, help="a model's folder holding metrics.json")
    parser.add_argument("--margin", type=float, default=0.15)
    args = parser.parse_args(argv)
    load = lambda folder: json.loads((Path(folder) / "metrics.json").read_text())  # noqa: E731
    checks = verdict(load(args.finetuned), load(args.baseline), load(args.untrained), load(args.blind), args.margin)
    for ok, text in checks:
        print(f"  [{'ok' if ok else 'FAILED'}] {text}")
    passed = all(ok for ok, _ in checks)
    print("learning check: " + ("passed — the model learned to see change" if passed else "FAILED"))
    return 0 if passed else 1
