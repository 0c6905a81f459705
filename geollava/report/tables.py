"""The metric tables — markdown (comparison.md, printed) and HTML (the report) from the same column lists: the
change-caption table, then one table per task of a mixed set, a row per model."""
from __future__ import annotations

import html

from ..tasks import DEFAULT_TASK, TASKS, get_task


def tasks_of(metrics: dict) -> dict:
    """A model's scores per task (a metrics.json from before tasks holds change captions only)."""
    if "tasks" in metrics:
        return metrics["tasks"]
    return {DEFAULT_TASK.name: {**metrics["scores"], "samples": metrics["samples"]}}


def present_tasks(results: dict) -> list[str]:
    found = {task for m in results.values() for task in tasks_of(m)}
    return [t for t in TASKS if t in found] + sorted(found - set(TASKS))


def task_tables(results: dict) -> list[tuple[str, list[str], list[tuple[str, list[str]]]]]:
    """(task, headers, [(model, cells)]) for every task present, change captions first."""
    tables = []
    for task in present_tasks(results):
        scores = {label: tasks_of(m).get(task) for label, m in results.items()}
        scores = {label: s for label, s in scores.items() if s is not None}
        columns = _columns(task, scores)
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
        if not _untitled(tables):
            lines += [""] + [f"scored as: {r}" for r in references(results, task)]
        parts.append(("" if _untitled(tables) else f"### {task}\n\n") + "\n".join(lines))
    return "\n\n".join(parts)


def html_tables(results: dict) -> str:
    tables = task_tables(results)
    parts = []
    for task, headers, rows in tables:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        body = "".join(f"<tr><th>{html.escape(label)}</th>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
                       for label, cells in rows)
        title = "" if _untitled(tables) else f"<h3>{html.escape(task)}</h3>"
        cited = "".join(f"<li>{html.escape(r)}</li>" for r in references(results, task))
        parts.append(f"{title}<table><tr><th>model</th>{head}</tr>{body}</table>"
                     + (f'<ul class="protocols">scored as{cited}</ul>' if cited else ""))
    return "".join(parts)


def references(results: dict, task: str) -> list[str]:
    """The reference code each protocol in the task's scores follows (every "reference" entry, nested ones
    included: a benchmark's own protocols), each once."""
    found: list[str] = []

    def walk(scores):
        for key, value in scores.items():
            if key == "reference" and isinstance(value, str) and value and value not in found:
                found.append(value)
            elif isinstance(value, dict):
                walk(value)

    for metrics in results.values():
        walk(tasks_of(metrics).get(task) or {})
    return found


def _untitled(tables: list) -> bool:
    """A set of the default task alone prints one table without a heading, as before tasks existed."""
    return len(tables) == 1 and tables[0][0] == DEFAULT_TASK.name


def _columns(task: str, scores: dict) -> list:
    """(header, value getter) for the task's columns that some model has a value for; "group.*" expands to a
    column per entry of that group, headed by the entry's name after the header given."""
    columns = []
    for key, header in get_task(task).columns if task in TASKS else []:
        if key.endswith(".*"):
            names = sorted({name for s in scores.values() for name in (_value(s, key[:-2]) or {})})
            columns += [(header + name, (lambda s, k=f"{key[:-2]}.{name}": _value(s, k))) for name in names]
        elif any(_value(s, key) is not None for s in scores.values()):
            columns.append((header, (lambda s, k=key: _value(s, k))))
    return columns


def _value(scores: dict, key: str):
    """``scores["a"]["b"]`` for key "a.b"; a key containing a dot of its own ("acc@0.5") is looked up whole."""
    if key in scores:
        return scores[key]
    group, _, rest = key.partition(".")
    inner = scores.get(group)
    return _value(inner, rest) if rest and isinstance(inner, dict) else None


def _fmt(value) -> str:
    if value is None:
        return "–"
    return str(value) if isinstance(value, int) else f"{value:.3f}"
