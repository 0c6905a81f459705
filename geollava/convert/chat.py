"""TEOChatlas and LLaVA annotations → ours: the same conversations, media paths rewritten relative to the output
folder, anything else kept in metadata (a task name of the source's own goes to `metadata.source_task`:
`metadata.task` names our tasks). GeoChat_Instruct has a converter of its own (geochat.py) that sets the tasks."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ..tasks import TASKS
from .common import Conversion

KNOWN = {"id", "video", "image", "timestamp", "timestamps", "conversations", "metadata"}


def convert_chat(src: Path, out_dir: Path, images: Path, media_key: str, name: str) -> Conversion:
    """``media_key``: "video" (TEOChat: a list of frame paths) or "image" (LLaVA: one path)."""
    conversion = Conversion(out_dir)
    data = json.loads(src.read_text())
    if not isinstance(data, list):
        raise ValueError(f"{src}: expected a JSON list of records")
    records = []
    for n, item in enumerate(data):
        if not isinstance(item, dict) or media_key not in item:
            conversion.skip(f"no '{media_key}'", f"record {n}")
            continue
        media = item[media_key]
        paths = media if isinstance(media, list) else [media]
        resolved = [images / str(p) for p in paths]
        missing = [p for p in resolved if not p.is_file()]
        if missing:
            conversion.skip("missing image", f"record {n} ({item.get('id')}): {missing[0]}")
            continue
        relative = [conversion.relative(p) for p in resolved]
        record = {"id": str(item.get("id", f"{name}_{n}")), media_key: relative if isinstance(media, list) else relative[0],
                  "conversations": item.get("conversations")}
        stamps = item.get("timestamps", item.get("timestamp"))
        if stamps is not None:
            record["timestamps"] = [str(s) for s in stamps] if isinstance(stamps, list) else stamps
        extra = {k: v for k, v in item.items() if k not in KNOWN}
        metadata = {**item.get("metadata", {}), **extra} if isinstance(item.get("metadata", {}), dict) else extra
        if "task" in metadata and metadata["task"] not in TASKS:  # the source's own task name (TEOChat's "damage")
            metadata["source_task"] = metadata.pop("task")
        if metadata:
            record["metadata"] = metadata
        records.append(record)
    counts = Counter(r["id"] for r in records)
    duplicates = {i for i, c in counts.items() if c > 1}
    for i in sorted(duplicates):
        conversion.skip("duplicate id", i)
    conversion.write(f"{name}.json", [r for r in records if r["id"] not in duplicates])
    return conversion
