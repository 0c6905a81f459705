"""One self-contained HTML report of an evaluation: the metrics table, the training loss and the metric per
checkpoint as plots, and a card per sample (frame strip with dates, references, every model's prediction and
scores), sortable and filterable so the worst cases are one click away. Images are inlined: one file to share.

    python -m geollava.report --model fine-tuned=runs/x/eval/final --model base=runs/x/eval/base \\
        --data data/synthetic/val.json --train-log runs/x/train_log.json --out report.html
"""
from __future__ import annotations

import argparse
import base64
import html
import io
import json
import re
from pathlib import Path

import numpy as np
from PIL import Image

from .data.frames import MediaError, load_frames
from .data.validate import load_records

# The metric tables, markdown (comparison.md, printed) and HTML (the report), from this one list:
# (metrics.json group, key, column header). A column no model has a value for is left out.
COLUMNS = [("coco", "Bleu_1", "Bleu_1"), ("coco", "Bleu_4", "Bleu_4"), ("coco", "METEOR", "METEOR"),
           ("coco", "ROUGE_L", "ROUGE_L"), ("coco", "CIDEr", "CIDEr"), ("geollava", "rouge1", "GeoLLaVA rouge1"),
           ("geollava", "rouge2", "GeoLLaVA rouge2"), ("geollava", "rougeL", "GeoLLaVA rougeL"),
           ("geollava", "bleu2", "GeoLLaVA bleu2"), ("geollava", "sbert", "GeoLLaVA sbert"),
           ("events", "score", "event score"), ("events", "type", "event type"), ("events", "count", "event count"),
           ("events", "quadrant", "event place")]
CARD_METRICS = [("CIDEr", "CIDEr"), ("ROUGE_L", "ROUGE-L"), ("geollava_rouge1", "ROUGE-1"),
                ("geollava_bleu2", "BLEU-2"), ("geollava_sbert", "SBERT"), ("event_score", "event")]


def build_report(models: list[tuple[str, Path]], annotations: str | Path, out: str | Path,
                 media_root: str | Path | None = None, num_frames: int = 4, train_log: str | Path | None = None,
                 title: str = "GeoLLaVA evaluation") -> Path:
    """``models``: (label, folder with metrics.json and per_sample.jsonl), in table order; the last is the one
    the cards sort by."""
    media_root = Path(media_root or Path(annotations).parent)
    metrics = {label: json.loads((Path(folder) / "metrics.json").read_text()) for label, folder in models}
    samples = {label: _per_sample(Path(folder)) for label, folder in models}
    records = {r.id: r for r in load_records(annotations, media_root)}
    plots = [p for p in (_loss_plot(train_log), _checkpoint_plot(metrics, train_log)) if p]
    page = _PAGE.format(title=html.escape(title), style=_STYLE, script=_SCRIPT,
                        table=_summary_table(metrics), plots="".join(f'<img class="plot" src="{p}">' for p in plots),
                        options="".join(f'<option value="{k}">{name}</option>' for k, name in CARD_METRICS),
                        primary=html.escape(models[-1][0]), count=len(samples[models[-1][0]]),
                        cards="".join(_card(records.get(i), i, samples, media_root, num_frames)
                                      for i in samples[models[-1][0]]))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def _per_sample(folder: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in (folder / "per_sample.jsonl").read_text(encoding="utf-8").splitlines()]
    return {row["id"]: row for row in rows}


def _columns(results: dict) -> list[tuple[str, str, str]]:
    return [c for c in COLUMNS if any(m["scores"].get(c[0], {}).get(c[1]) is not None for m in results.values())]


def _cells(metrics: dict, columns) -> list[str]:
    return [_fmt(metrics["scores"].get(group, {}).get(key)) for group, key, _ in columns]


def comparison_table(results: dict) -> str:
    """The metrics of every model, one row each, as a markdown table."""
    columns = _columns(results)
    lines = ["| model | samples | " + " | ".join(header for *_, header in columns) + " |",
             "|---|---:|" + "---:|" * len(columns)]
    lines += [f"| {label} | {m['samples']} | " + " | ".join(_cells(m, columns)) + " |" for label, m in results.items()]
    return "\n".join(lines)


def _summary_table(results: dict) -> str:
    columns = _columns(results)
    head = "".join(f"<th>{html.escape(header)}</th>" for *_, header in columns)
    rows = [f"<tr><th>{html.escape(label)}</th><td>{m['samples']}</td>"
            + "".join(f"<td>{cell}</td>" for cell in _cells(m, columns)) + "</tr>" for label, m in results.items()]
    return f"<table><tr><th>model</th><th>samples</th>{head}</tr>{''.join(rows)}</table>"


def _card(record, sample_id: str, samples: dict, media_root: Path, num_frames: int) -> str:
    primary = list(samples)[-1]
    row = samples[primary][sample_id]
    data = " ".join(f'data-{k.lower().replace("_", "-")}="{row.get(k, -1):.4f}"' for k, _ in CARD_METRICS
                    if isinstance(row.get(k), (int, float)))
    refs = "".join(f"<li>{html.escape(r)}</li>" for r in row["references"])
    lines = []
    for label, by_id in samples.items():
        other = by_id.get(sample_id)
        if other is None:
            continue
        scores = " · ".join(f"{name} {other[k]:.2f}" for k, name in CARD_METRICS if isinstance(other.get(k), float))
        lines.append(f'<tr><th>{html.escape(label)}</th><td>{html.escape(other["prediction"]) or "<i>(empty)</i>"}'
                     f'<div class="scores">{scores}</div></td></tr>')
    text = html.escape(" ".join([sample_id, row["prediction"], *row["references"]]).lower())
    return (f'<div class="card" {data} data-text="{text}"><h3>{html.escape(sample_id)}</h3>'
            f'{_frame_strip(record, media_root, num_frames)}<div class="refs">references<ul>{refs}</ul></div>'
            f'<table class="preds">{"".join(lines)}</table></div>')


def _frame_strip(record, media_root: Path, num_frames: int) -> str:
    if record is None:
        return '<div class="frames">(media not in the annotations)</div>'
    try:
        frames = load_frames(record, media_root, 1 if record.media_kind == "image" else num_frames, pad=True)
    except MediaError as e:
        return f'<div class="frames">cannot show frames: {html.escape(str(e))}</div>'
    dates = frames.timestamps or [f"frame {i + 1}" for i in frames.indices]
    cells = "".join(f'<figure><img src="{_data_url(im, 128)}"><figcaption>{html.escape(d)}</figcaption></figure>'
                    for im, d in zip(frames.images, dates))
    return f'<div class="frames">{cells}</div>'


def _data_url(image: np.ndarray, side: int) -> str:
    picture = Image.fromarray(image)
    picture.thumbnail((side, side))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display: render to PNG only
    import matplotlib.pyplot as plt

    return plt


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _loss_plot(train_log) -> str | None:
    if not train_log or not Path(train_log).is_file():
        return None
    history = [e for e in json.loads(Path(train_log).read_text()) if "loss" in e and "step" in e]
    if not history:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5, 3))
    axis.plot([e["step"] for e in history], [e["loss"] for e in history], color="#2b6cb0")
    axis.set(title="training loss", xlabel="step", ylabel="loss")
    axis.grid(alpha=0.3)
    url = _png(figure)
    plt.close(figure)
    return url


def _checkpoint_plot(metrics: dict, train_log) -> str | None:
    """The held-out metrics against the training step: the base model at 0, each checkpoint, the final model."""
    steps = {int(m.group(1)): label for label in metrics if (m := re.fullmatch(r"checkpoint-(\d+)", label))}
    runs = {str(Path(metrics[label]["checkpoint"]).parent) for label in steps.values()}
    steps.update({0: label for label, m in metrics.items() if m.get("kind") == "base"})
    final = [label for label, m in metrics.items() if m.get("checkpoint") in runs]  # the run folder itself
    last = _last_step(train_log)
    if last and len(final) == 1:
        steps[last] = final[0]
    if len(steps) < 2:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5, 3))
    order = sorted(steps)
    for name, group, colour in (("CIDEr", "coco", "#2b6cb0"), ("score", "events", "#c05621")):
        values = [metrics[steps[s]]["scores"].get(group, {}).get(name) for s in order]
        if all(v is not None for v in values):
            axis.plot(order, values, marker="o", color=colour, label="event score" if group == "events" else name)
    axis.set(title="held-out metrics per checkpoint", xlabel="step")
    axis.grid(alpha=0.3)
    axis.legend()
    url = _png(figure)
    plt.close(figure)
    return url


def _last_step(train_log) -> int | None:
    if not train_log or not Path(train_log).is_file():
        return None
    steps = [e["step"] for e in json.loads(Path(train_log).read_text()) if "step" in e]
    return max(steps) if steps else None


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}"


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
"""

_SCRIPT = """
function sortCards(){const key=document.getElementById('metric').value.toLowerCase().replace(/_/g,'-');
 const dir=document.getElementById('order').value==='asc'?1:-1;const box=document.getElementById('cards');
 [...box.children].sort((a,b)=>dir*((+a.dataset[camel(key)]||0)-(+b.dataset[camel(key)]||0))).forEach(c=>box.appendChild(c));}
function camel(k){return k.replace(/-([a-z])/g,(m,c)=>c.toUpperCase());}
function filterCards(){const q=document.getElementById('filter').value.toLowerCase();let shown=0;
 for(const c of document.getElementById('cards').children){const ok=c.dataset.text.includes(q);c.style.display=ok?'':'none';shown+=ok;}
 document.getElementById('shown').textContent=shown;}
window.onload=sortCards;
"""

_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title><style>{style}</style></head>
<body><h1>{title}</h1>{table}<div>{plots}</div>
<div class="controls">sort by <select id="metric" onchange="sortCards()">{options}</select>
<select id="order" onchange="sortCards()"><option value="asc">worst first</option><option value="desc">best first</option></select>
of <b>{primary}</b> · filter <input id="filter" oninput="filterCards()" placeholder="id, words in a caption">
<span><span id="shown">{count}</span> of {count} samples</span></div>
<div class="cards" id="cards">{cards}</div><script>{script}</script></body></html>
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m geollava.report", description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="LABEL=FOLDER (metrics.json, per_sample.jsonl)")
    parser.add_argument("--data", required=True, help="the evaluated annotations (for the frames)")
    parser.add_argument("--media-root")
    parser.add_argument("--num-frames", type=int, default=4)
    parser.add_argument("--train-log", help="train_log.json of the run, for the loss curve")
    parser.add_argument("--title", default="GeoLLaVA evaluation")
    parser.add_argument("--out", required=True)
    parser.add_argument("--markdown", help="also write the metrics table as markdown here (and print it)")
    args = parser.parse_args(argv)
    models = [tuple(m.split("=", 1)) for m in args.model]
    if any(len(m) != 2 for m in models):
        parser.error("--model takes LABEL=FOLDER")
    path = build_report([(label, Path(folder)) for label, folder in models], args.data, args.out, args.media_root,
                        args.num_frames, args.train_log, args.title)
    if args.markdown:
        table = comparison_table({label: json.loads((Path(folder) / "metrics.json").read_text())
                                  for label, folder in models})
        Path(args.markdown).write_text(table + "\n")
        print(table)
    print(f"report: {path}")


if __name__ == "__main__":
    main()
