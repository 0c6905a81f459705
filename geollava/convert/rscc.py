"""RSCC (Bili-Sakura/RSCC; xBD / EBD disaster pairs) → change-caption records: pre- and post-disaster tiles as two
frames (undated), RSCC's question, the caption as the answer.

    FILE.jsonl   {"model_id", "inference_type", "pre_image": "/abs/.../x_pre_disaster_part1.png",
                  "post_image": "/abs/.../x_post_disaster_part1.png", "change_caption": "..."} per line

The file's absolute paths are re-rooted: each image is found by its name under --images ROOT (as RSCC's own
scorer matches by file name). A record whose image is missing is skipped and counted. Every pair is a disaster:
`metadata.changed` is true; RSCC's ST5-SCS is computed with --sbert-model (tasks/change_caption.py). --prompt
zero-shot asks what RSCC's zero-shot baselines were asked instead of its fine-tuning question (its textual and
visual prompts need xBD's damage polygons, which the file does not carry).
"""
from __future__ import annotations

from pathlib import Path

from .common import Conversion

QUESTIONS = {
    # RSCC's fine-tuning question
    "finetune": "Describe the changes between these two satellite images in a news style with a few sentences.",
    # what every zero-shot baseline of its table was asked (utils/constants.py L40-44 "naive", .strip()ped by
    # inference/xbd_subset_baseline.py L199-209: the second line keeps its indent), the pre image first
    "zero-shot": "Give change description between two satellite images.\n    Output answer in a news style with a "
                 "few sentences using precise phrases separated by commas.",
}


def convert_rscc(src: Path, out_dir: Path, images: Path | None, prompt: str = "finetune") -> Conversion:
    if images is None or not Path(images).is_dir():
        raise FileNotFoundError("rscc needs --images ROOT: the folder its pre / post tiles are under")
    by_name = {p.name: p for p in Path(images).rglob("*") if p.is_file()}
    conversion, records = Conversion(out_dir), []
    for n, row in conversion.jsonl_rows(src):
        pair = [by_name.get(Path(str(row.get(key, ""))).name) for key in ("pre_image", "post_image")]
        if None in pair:
            conversion.skip("missing image", f"line {n}: "
                            f"{row.get('pre_image') if pair[0] is None else row.get('post_image')}")
            continue
        if not row.get("change_caption"):
            conversion.skip("no change_caption", f"line {n}: {pair[0].name}")
            continue
        records.append({"id": f"rscc_{pair[0].stem.replace('_pre_disaster', '')}", "video": [
            conversion.relative(p) for p in pair],
            "conversations": [{"from": "human", "value": "<video>\n" + QUESTIONS[prompt]},
                              {"from": "gpt", "value": row["change_caption"]}],
            "metadata": {"benchmark": "rscc", "changed": True, "prompt": prompt, "model_id": row.get("model_id"),
                         "inference_type": row.get("inference_type")}})
    conversion.write(f"{src.stem}.json", records)
    return conversion
