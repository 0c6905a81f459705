"""fMoW → our annotations: GeoLLaVA's image pairs as mp4s (or frame lists), and whole temporal sequences.

fMoW layout:  ROOT/<split>/<category>/<category>_<loc>/<category>_<loc>_<n>_rgb.jpg  (+ .json: timestamp, gsd,
cloud_cover, ...). Pair sheet (GeoLLaVA's updated_*_pairs_sheet.xlsx, or CSV) columns: category, location_id,
image1, timestamp1, image_path1, image2, timestamp2, image_path2.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.mp4 import write_mp4
from ..data.schema import parse_timestamp
from .common import CHANGE_PROMPT, Conversion

SHEET_COLUMNS = ["category", "location_id", "image1", "timestamp1", "image_path1", "image2", "timestamp2",
                 "image_path2"]


def read_sheet(path: Path) -> list[dict]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        rows = list(load_workbook(path, read_only=True, data_only=True).active.iter_rows(values_only=True))
        header, body = [str(h).strip() if h is not None else "" for h in rows[0]], rows[1:]
        table = [dict(zip(header, row)) for row in body if any(v is not None for v in row)]
    else:
        with open(path, newline="", encoding="utf-8") as f:
            table = list(csv.DictReader(f))
    missing = [c for c in SHEET_COLUMNS if table and c not in table[0]]
    if missing or not table:
        raise ValueError(f"{path}: not a pair sheet; missing columns {missing or SHEET_COLUMNS}")
    return table


def convert_fmow_pairs(sheet: Path, out_dir: Path, images: Path, captions: Path | None = None,
                       as_frames: bool = False, size: int | None = None) -> Conversion:
    conversion = Conversion(out_dir)
    answers = _caption_index(captions) if captions else {}
    answered, unanswered, seen = [], [], set()
    for n, row in enumerate(read_sheet(sheet), start=2):  # row 1 is the header
        cat, loc = str(row["category"]).strip(), str(row["location_id"]).strip()
        stems = [f"{cat}_{loc}_{_index(row['image1'])}", f"{cat}_{loc}_{_index(row['image2'])}"]
        video = f"{stems[0]}-{stems[1]}.mp4"
        label = f"row {n} ({video})"
        paths = [_find_image(images, row[f"image_path{k}"], cat, loc, stem) for k, stem in ((1, stems[0]), (2, stems[1]))]
        if any(p is None for p in paths):
            conversion.skip("missing image", label)
            continue
        try:
            stamps = [_timestamp(row[f"timestamp{k}"], p) for k, p in ((1, paths[0]), (2, paths[1]))]
        except ValueError as e:
            conversion.skip("unparsable timestamp", f"{label}: {e}")
            continue
        if stamps[0] > stamps[1]:
            conversion.skip("pair out of time order", label)
            continue
        if video in seen:
            conversion.skip("duplicate pair", label)
            continue
        seen.add(video)
        if as_frames:
            media = [conversion.relative(p) for p in paths]
        else:
            write_mp4(out_dir / "videos" / video, _common_size([Image.open(p) for p in paths], size))
            media = f"videos/{video}"
        record = {"id": video[:-4], "video": media, "timestamps": [s.date().isoformat() for s in stamps],
                  "metadata": {"source": "fMoW", "category": cat, "location_id": loc}}
        prompt, answer = answers.get(video, (CHANGE_PROMPT, None))
        record["conversations"] = [{"from": "human", "value": prompt}]
        if answer is None:
            unanswered.append(record)
        else:
            record["conversations"].append({"from": "gpt", "value": answer})
            answered.append(record)
    conversion.write("pairs.json", answered)
    conversion.write("pairs_inference.json", unanswered, require_answer=False)
    return conversion


def convert_fmow_sequences(root: Path, out_dir: Path, min_views: int = 3, min_gap_days: int = 0,
                           prompt: str = CHANGE_PROMPT) -> Conversion:
    conversion = Conversion(out_dir)
    records = []
    for site in sorted(p for p in root.glob("*/*/*") if p.is_dir()):
        views = []
        for image in sorted(site.glob("*_rgb.jpg")):
            meta_path = image.with_suffix(".json")
            try:
                meta = json.loads(meta_path.read_text())
                views.append((parse_timestamp(meta["timestamp"]), image, meta))
            except (OSError, ValueError, KeyError, TypeError) as e:
                conversion.skip("view without a readable timestamp", f"{image}: {type(e).__name__}")
        views.sort(key=lambda v: v[0])
        kept = []
        for view in views:
            if not kept or (view[0] - kept[-1][0]) >= dt.timedelta(days=min_gap_days):
                kept.append(view)
        if len(kept) < min_views:
            conversion.skip(f"fewer than {min_views} views", f"{site.name}: {len(kept)}")
            continue
        split, category = site.parent.parent.name, site.parent.name
        records.append({
            "id": f"{split}_{site.name}", "video": [conversion.relative(v[1]) for v in kept],
            "timestamps": [v[0].isoformat() for v in kept],
            "conversations": [{"from": "human", "value": prompt}],
            "metadata": {"source": "fMoW", "split": split, "category": category,
                         "gsd": [v[2].get("gsd") for v in kept], "cloud_cover": [v[2].get("cloud_cover") for v in kept]}})
    conversion.write("sequences.json", records, require_answer=False)
    return conversion


def _caption_index(path: Path) -> dict[str, tuple[str, str]]:
    """GeoLLaVA's released annotations by video name: (prompt, answer)."""
    index = {}
    for item in json.loads(Path(path).read_text()):
        turns = item.get("conversations", [])
        human = next((t["value"] for t in turns if t.get("from") == "human"), CHANGE_PROMPT)
        gpt = next((t["value"] for t in turns if t.get("from") == "gpt"), None)
        if isinstance(item.get("video"), str) and gpt:
            index[Path(item["video"]).name] = (human if "<video>" in human else "<video>\n" + human, gpt)
    return index


def _index(value) -> str:
    return str(int(float(value))) if str(value).replace(".", "", 1).isdigit() else str(value).strip()


def _find_image(root: Path, listed, cat: str, loc: str, stem: str) -> Path | None:
    if listed and (root / str(listed)).is_file():
        return root / str(listed)
    return next(iter(sorted(root.glob(f"*/{cat}/{cat}_{loc}/{stem}_rgb.jpg"))), None)


def _timestamp(value, image: Path) -> dt.datetime:
    """The sheet's timestamp, else the one in the image's metadata JSON."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if value not in (None, ""):
        try:
            return parse_timestamp(str(value))
        except ValueError:
            pass
    meta = image.with_suffix(".json")
    if meta.is_file():
        return parse_timestamp(json.loads(meta.read_text())["timestamp"])
    raise ValueError(f"timestamp {value!r} is not a date and {meta.name} does not exist")


def _common_size(pictures: list[Image.Image], size: int | None) -> list[np.ndarray]:
    """Every frame at the first frame's size (or size x size), even sides for H.264."""
    width, height = (size, size) if size else pictures[0].size
    width, height = width - width % 2, height - height % 2
    return [np.asarray(p.convert("RGB").resize((width, height), Image.BICUBIC)) for p in pictures]
