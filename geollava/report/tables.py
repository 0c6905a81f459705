"""The metric tables — markdown (comparison.md, printed) and HTML (the report) from the same column lists: the
change-caption table, then one table per task of a mixed set, a row per model."""
from __future__ import annotations

import html

from ..data.tasks import TASKS

# (metrics.json group, key, column header). A column no model has a value for is left out.
CAPTION_COLUMNS = [("coco", "Bleu_1", "Bleu_1"), ("coco", "Bleu_4", "Bleu_4"), ("coco", "METEOR", "METEOR"),
                   ("coco", "ROUGE_L", "ROUGE_L"), ("coco", "CIDEr", "CIDEr"),
                   ("geollava", "rouge1", "GeoLLaVA rouge1"), ("geollava", "rouge2", "GeoLLaVA rouge2"),
                   ("geollava", "rougeL", "GeoLLaVA rougeL"), ("geollava", "bleu2", "GeoLLaVA bleu2"),
                   ("geollava", "sbert", "GeoLLaVA sbert"), ("events", "score", "event score"),
                   ("events", "type", "event type"), ("events", "count", "event count"),
                   ("events", "quadrant", "event place")]
# A task's columns: (key, header); a key ending in ".*" is one column per entry of that group (per type, ...),
# headed by the entry's name after the header given.
_TEXT = [("rouge1", "ROUGE-1"), ("rougeL", "ROUGE-L"), ("METEOR", "METEOR"), ("CIDEr", "CIDEr")]
TASK_COLUMNS = {
    "scene": [("accuracy", "accuracy")],
    "vqa": [("accuracy", "accuracy"), ("average", "average of types"), ("per_type.*", "")],
    "refer": [("acc@0.5", "acc@0.5"), ("per_size.*", "size "), ("per_objects.*", "objects: "), ("no_box_predictions", "no box")],
    "grounding": [("acc@0.5", "acc@0.5"), ("per_objects.*", "objects: "), ("no_box_predictions", "no box")],
    "grounded_description": [("acc@0.5", "acc@0.5"), ("no_box_predictions", "no box"), *_TEXT],
    "region_caption": _TEXT,
    "conversation": _TEXT,
}


def tasks_of(metrics: dict) -> dict:
    """A model's scores per task (a metrics.json from before tasks holds change captions only)."""
    if "tasks" in metrics:
        return metrics["tasks"]
    return {"change_caption": {**metrics["scores"], "samples": metrics["samples"]}}


def present_tasks(results: dict) -> list[str]:
    found = {task for m in results.values() for task in tasks_of(m)}
    return [t for t in TASKS if t in found] + sorted(found - set(TASKS))


def task_tables(results: dict) -> list[tuple[str, list[str], list[tuple[str, list[str]]]]]:
    """(task, headers, [(model, cells)]) for every task present, change captions first."""
    tables = []
    for task in present_tasks(results):
        scores = {label: tasks_of(m).get(task) for label, m in results.items()}
        scores = {label: s for label, s in scores.items() if s is not None}
        columns = _caption_columns(scores) if task == "change_caption" else _task_columns(task, scores)
        rows = [(label, [str(s.get("samples", "–"))] + [_fmt(value(s)) for _, value in columns])
                for label, s in scores.items()]
        tables.append((task, ["samples"] + [header for header, _ in columns], rows))
    return tables


def comparison_table(results: dict) -> str:
    """Every model's metrics as markdown: one table, or one per task (with a heading) for a mixed set."""
    tables = task_tables(results)
    parts = []
    for task, headers, rows in tables:
        lines = ["| model | " + " | ".join(headers) + " |", "|---|" + "---:|" * len(headers)]
        lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
        parts.append(("" if len(tables) == 1 and task == "change_caption" else f"### {task}\n\n") + "\n".join(lines))
    return "\n\n".join(parts)


def html_tables(results: dict) -> str:
    tables = task_tables(results)
    parts = []
    for task, headers, rows in tables:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        body = "".join(f"<tr><th>{html.escape(label)}</th>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
                       for label, cells in rows)
        title = "" if len(tables) == 1 and task == "change_caption" else f"<h3>{html.escape(task)}</h3>"
        parts.append(f"{title}<table><tr><th>model</th>{head}</tr>{body}</table>")
    return "".join(parts)


def _caption_columns(scores: dict) -> list:
    return [(header, (lambda s, g=group, k=key: s.get(g, {}).get(k))) for group, key, header in CAPTION_COLUMNS
            if any(s.get(group, {}).get(key) is not None for s in scores.values())]


def _task_columns(task: str, scores: dict) -> list:
    columns = []
    for key, header in TASK_COLUMNS.get(task, []):
        if key.endswith(".*"):
            group = key[:-2]
            names = sorted({name for s in scores.values() for name in s.get(group, {})})
            columns += [(header + name, (lambda s, g=group, n=name: s.get(g, {}).get(n))) for name in names]
        elif any(s.get(key) is not None for s in scores.values()):
            columns.append((header, (lambda s, k=key: s.get(k))))
    return columns


def _fmt(value) -> str:
    if value is None:
        return "–"
    return str(value) if isinstance(value, int) else f"{value:.3f}"
