"""One self-contained HTML report of an evaluation: the metric tables (one per task of a mixed set, and VQA per
question type), the training loss, the metric per checkpoint and the scene confusion matrix as plots, and a card
per sample (tables.py, plots.py, cards.py), sortable and filterable by task so the worst cases are one click
away. Images are inlined: one file to share.

    geollava report --model fine-tuned=runs/x/eval/final --model base=runs/x/eval/base \\
        --data data/synthetic/val.json --train-log runs/x/train_log.json --out report.html
"""
from __future__ import annotations

import argparse
import html
import json
from pathlib import Path

from ..data.raster import RasterSettings
from ..data.validate import load_records
from ..tasks import TASKS
from .cards import CARD_METRICS, card, group_tables, slug
from .plots import checkpoint_plot, confusion_plot, loss_plot, reward_plot
from .tables import comparison_table, html_tables, present_tasks

__all__ = ["build_report", "comparison_table"]


def build_report(models: list[tuple[str, Path]], annotations: str | Path, out: str | Path,
                 media_root: str | Path | None = None, num_frames: int = 4, train_log: str | Path | None = None,
                 title: str = "GeoLLaVA evaluation", raster: RasterSettings | None = None) -> Path:
    """``models``: (label, folder with metrics.json and per_sample.jsonl), in table order; the last is the one
    the cards sort by. ``raster``: how raster frames are shown (the evaluated prompt's bands and stretch)."""
    media_root = Path(media_root or Path(annotations).parent)
    metrics = {label: json.loads((Path(folder) / "metrics.json").read_text()) for label, folder in models}
    samples = {label: _per_sample(Path(folder)) for label, folder in models}
    records = {r.id: r for r in load_records(annotations, media_root, check_media=False)}
    primary = models[-1][0]
    confusions = [(f"{name} confusion matrix", confusion_plot([r for r in samples[primary].values()
                                                               if r.get("task") == name], primary, task.title or name))
                  for name, task in TASKS.items() if getattr(task, "confusion", False)]
    plots = [(name, p) for name, p in (("training loss", loss_plot(train_log)),
                                       ("GRPO rewards", reward_plot(train_log)),
                                       ("metrics per checkpoint", checkpoint_plot(metrics, train_log)),
                                       *confusions) if p]
    tasks = present_tasks(metrics)
    page = _PAGE.format(title=html.escape(title), style=_STYLE, script=_SCRIPT,
                        table=html_tables(metrics) + group_tables(samples),
                        plots="".join(f'<img class="plot" alt="{name}" src="{p}">' for name, p in plots),
                        options="".join(f'<option value="{slug(k)}">{name}</option>' for k, name in CARD_METRICS),
                        tasks="".join(f'<option value="{t}">{t}</option>' for t in tasks),
                        task_choice="" if len(tasks) == 1 else "visible",
                        primary=html.escape(primary), count=len(samples[primary]),
                        cards="".join(card(records.get(i), i, samples, media_root, num_frames, raster)
                                      for i in samples[primary]))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def _per_sample(folder: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in (folder / "per_sample.jsonl").read_text(encoding="utf-8").splitlines()]
    return {row["id"]: row for row in rows}


_STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#1a202c;background:#f7fafc}
h1{font-size:22px} table{border-collapse:collapse;background:#fff}
th,td{border:1px solid #e2e8f0;padding:4px 8px;text-align:right;font-size:13px}
tr th:first-child{text-align:left} .plot{height:260px;margin:8px 16px 8px 0;background:#fff}
.controls{margin:16px 0;position:sticky;top:0;background:#f7fafc;padding:8px 0;z-index:2}
.controls>*{margin-right:10px;font-size:14px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:12px}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:6px;padding:10px;min-width:0;overflow-wrap:anywhere}
.card h3{margin:0 0 6px;font-size:14px}.frames{display:flex;gap:4px;flex-wrap:wrap}
figure{margin:0;text-align:center;font-size:11px;color:#4a5568}figure img{width:112px;height:112px;image-rendering:pixelated}
.refs{font-size:13px;color:#2f855a;margin-top:6px}.refs ul{margin:2px 0 6px 18px;padding:0}
.preds{width:100%}.preds td{text-align:left}.preds th{width:110px;vertical-align:top}
.scores{color:#718096;font-size:11px;margin-top:2px}
.task{font-weight:normal;color:#718096;font-size:12px;margin-left:6px}
.task-card{display:flex;gap:10px;align-items:flex-start}.task-image{width:256px;height:auto;image-rendering:pixelated}
.question{font-size:13px;margin-bottom:6px}.legend{font-size:12px;margin-top:6px}
#task-choice:not(.visible){display:none} h3{font-size:15px;margin:14px 0 4px}
"""

_SCRIPT = """
function sortCards(){const key=document.getElementById('metric').value;
 const dir=document.getElementById('order').value==='asc'?1:-1;const box=document.getElementById('cards');
 [...box.children].sort((a,b)=>dir*((+a.dataset[camel(key)]||0)-(+b.dataset[camel(key)]||0))).forEach(c=>box.appendChild(c));}
function camel(k){return k.replace(/-([a-z])/g,(m,c)=>c.toUpperCase());}
function filterCards(){const q=document.getElementById('filter').value.toLowerCase();let shown=0;
 const task=document.getElementById('task').value;
 for(const c of document.getElementById('cards').children){const ok=c.dataset.text.includes(q)&&(!task||c.dataset.task===task);
  c.style.display=ok?'':'none';shown+=ok;}
 document.getElementById('shown').textContent=shown;}
window.onload=sortCards;
"""

_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title><style>{style}</style></head>
<body><h1>{title}</h1>{table}<div>{plots}</div>
<div class="controls">sort by <select id="metric" onchange="sortCards()">{options}</select>
<select id="order" onchange="sortCards()"><option value="asc">worst first</option><option value="desc">best first</option></select>
of <b>{primary}</b> <span id="task-choice" class="{task_choice}">· task <select id="task" onchange="filterCards()">
<option value="">all</option>{tasks}</select></span> · filter <input id="filter" oninput="filterCards()" placeholder="id, words in a caption">
<span><span id="shown">{count}</span> of {count} samples</span></div>
<div class="cards" id="cards">{cards}</div><script>{script}</script></body></html>
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="geollava report", description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="LABEL=FOLDER (metrics.json, per_sample.jsonl)")
    parser.add_argument("--data", required=True, help="the evaluated annotations (for the frames)")
    parser.add_argument("--media-root")
    parser.add_argument("--num-frames", type=int, default=4)
    parser.add_argument("--train-log", help="train_log.json of the run, for the loss curve")
    parser.add_argument("--title", default="GeoLLaVA evaluation")
    parser.add_argument("--out", required=True)
    parser.add_argument("--markdown", help="also write the metrics table as markdown here (and print it)")
    parser.add_argument("--bands", help="raster frames: bands shown, e.g. 4,3,2 or B04,B03,B02")
    parser.add_argument("--stretch", default="auto", help="raster frames: auto | LO,HI | none")
    parser.add_argument("--align", action="store_true", help="raster frames: resample onto the first frame's grid")
    args = parser.parse_args(argv)
    models = [tuple(m.split("=", 1)) for m in args.model]
    if any(len(m) != 2 for m in models):
        parser.error("--model takes LABEL=FOLDER")
    path = build_report([(label, Path(folder)) for label, folder in models], args.data, args.out, args.media_root,
                        args.num_frames, args.train_log, args.title,
                        RasterSettings.parse(args.bands, args.stretch, args.align))
    if args.markdown:
        table = comparison_table({label: json.loads((Path(folder) / "metrics.json").read_text())
                                  for label, folder in models})
        Path(args.markdown).write_text(table + "\n")
        print(table)
    print(f"report: {path}")

