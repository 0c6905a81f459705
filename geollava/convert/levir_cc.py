"""LEVIR-CC → our annotations: one file per split, two frames each (A = before, B = after), every reference kept.

Source layout:
    SRC/LevirCCcaptions.json             {"images": [{"filepath", "filename", "split", "changeflag", "sentences"}]}
    SRC/images/<split>/A/<filename>      before
    SRC/images/<split>/B/<filename>      after
"""
from __future__ import annotations

import json
from pathlib import Path

from .common import CHANGE_PROMPT, Conversion


def convert_levir_cc(src: Path, out_dir: Path, one_record_per_reference: bool = False) -> Conversion:
    captions = src / "LevirCCcaptions.json"
    if not captions.is_file():
        raise FileNotFoundError(f"{captions} not found: SRC must hold LevirCCcaptions.json and images/<split>/A|B/")
    images = json.loads(captions.read_text())["images"]
    conversion = Conversion(out_dir)
    splits: dict[str, list[dict]] = {}
    seen = set()
    for item in images:
        name, split = item.get("filename"), item.get("split") or item.get("filepath")
        label = f"{split}/{name}"
        pair = [src / "images" / str(split) / side / str(name) for side in ("A", "B")]
        references = [s["raw"].strip() for s in item.get("sentences", []) if s.get("raw", "").strip()]
        if label in seen:
            conversion.skip("duplicate pair", label)
            continue
        seen.add(label)
        missing = [p for p in pair if not p.is_file()]
        if missing:
            conversion.skip("missing image", f"{label}: {missing[0]}")
            continue
        if not references:
            conversion.skip("no sentences", label)
            continue
        base = {"video": [conversion.relative(p) for p in pair],
                "metadata": {"source": "LEVIR-CC", "changeflag": item.get("changeflag"), "imgid": item.get("imgid"),
                             "split": split}}
        stem = Path(name).stem
        answers = references if one_record_per_reference else references[:1]
        for k, answer in enumerate(answers):
            others = [r for r in references if r != answer]
            record_id = f"levir_{split}_{stem}" + (f"_{k}" if one_record_per_reference else "")
            splits.setdefault(split, []).append({
                "id": record_id, **base, "references": others,
                "conversations": [{"from": "human", "value": CHANGE_PROMPT}, {"from": "gpt", "value": answer}]})
    for split, records in sorted(splits.items()):
        conversion.write(f"{split}.json", records)
    return conversion
