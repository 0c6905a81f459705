"""A report card per sample: for change captions the frame strip with dates, the references and every model's
caption; for GeoChat's tasks the image with the reference boxes (green) and the prediction's (red) drawn and
their phrases labelled, the question, both answers and the per-sample score."""
from __future__ import annotations

import base64
import html
import io
import re

import numpy as np
from PIL import Image

from ..geometry.boxes import BoxError, draw, parse_grounded
from ..data.frames import MediaError, load_frames
from ..tasks import DEFAULT_TASK, TASKS

REFERENCE_COLOUR, PREDICTION_COLOUR = (40, 160, 70), (230, 50, 50)
# per-sample scores a card can be sorted by: (per_sample.jsonl key, shown name)
CARD_METRICS = [("CIDEr", "CIDEr"), ("ROUGE_L", "ROUGE-L"), ("geollava_rouge1", "ROUGE-1"),
                ("geollava_bleu2", "BLEU-2"), ("geollava_sbert", "SBERT"), ("event_score", "event"),
                ("correct", "correct (scene, VQA)"), ("acc@0.5", "acc@0.5 (boxes)"), ("rouge1", "ROUGE-1 (tasks)")]
_SHOWN_SIDE = 256  # task images are drawn at this size so that boxes and labels can be read


def slug(key: str) -> str:
    """A metric key as an HTML data attribute name."""
    return re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")


def card(record, sample_id: str, samples: dict, media_root, num_frames: int, raster=None) -> str:
    primary = list(samples)[-1]
    row = samples[primary][sample_id]
    task = row.get("task", DEFAULT_TASK.name)
    data = " ".join(f'data-{slug(k)}="{float(row[k]):.4f}"' for k, _ in CARD_METRICS
                    if isinstance(row.get(k), (int, float)))
    text = html.escape(" ".join([sample_id, task, row["prediction"], *row["references"]]).lower())
    entry = TASKS.get(task)
    if entry is None or entry.media == "frames" or entry.media == "any" and record.media_kind != "image":
        body = (frame_strip(record, media_root, num_frames, raster) + _question(record, entry)
                + '<div class="refs">references<ul>'
                + "".join(f"<li>{html.escape(r)}</li>" for r in row["references"]) + "</ul></div>")
    else:
        body = _task_body(record, row, media_root, primary, entry, raster)
    return (f'<div class="card" data-task="{html.escape(task)}" {data} data-text="{text}">'
            f'<h3>{html.escape(sample_id)} <span class="task">{html.escape(task)}</span></h3>{body}'
            f'<table class="preds">{_prediction_lines(sample_id, samples)}</table></div>')


def _prediction_lines(sample_id: str, samples: dict) -> str:
    lines = []
    for label, by_id in samples.items():
        other = by_id.get(sample_id)
        if other is None:
            continue
        scores = " · ".join(f"{name.split(' (')[0]} {other[k]:.2f}" for k, name in CARD_METRICS
                            if isinstance(other.get(k), float))
        lines.append(f'<tr><th>{html.escape(label)}</th><td>{html.escape(other["prediction"]) or "<i>(empty)</i>"}'
                     f'<div class="scores">{scores}</div></td></tr>')
    return "".join(lines)


def _question(record, entry) -> str:
    """The question of a frames task other than the default (the default's question is always the same)."""
    if record is None or entry is None or entry.default:
        return ""
    return f'<div class="question">{html.escape(_question_text(record))}</div>'


def _question_text(record) -> str:
    return re.sub(r"<image>|<video>", "", record.prompt).strip() if record is not None else ""


def _task_body(record, row: dict, media_root, label: str, entry, raster=None) -> str:
    question = _question_text(record)
    picture = _task_picture(record, row, media_root, entry, raster)
    return (f'<div class="task-card">{picture}<div><div class="question">{html.escape(question)}</div>'
            f'<div class="refs">reference: {html.escape(row["references"][0])}</div>'
            f'<div class="legend"><span style="color:rgb{REFERENCE_COLOUR}">■ reference</span> '
            f'<span style="color:rgb{PREDICTION_COLOUR}">■ prediction ({html.escape(label)})'
            f'</span></div></div></div>')


def _task_picture(record, row: dict, media_root, entry, raster=None) -> str:
    if record is None:
        return '<div class="frames">(media not in the annotations)</div>'
    try:
        image = load_frames(record, media_root, 1, pad=True, raster=raster).images[0]
    except MediaError as e:
        return f'<div class="frames">cannot show the image: {html.escape(str(e))}</div>'
    picture = Image.fromarray(image)
    scale = _SHOWN_SIDE / max(picture.size)
    picture = picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.NEAREST)
    reference, prediction = entry.card_boxes(record.prompt, row)
    picture = _with_boxes(picture, reference, REFERENCE_COLOUR)
    picture = _with_boxes(picture, prediction, PREDICTION_COLOUR)
    return f'<img class="task-image" src="{_data_url(np.asarray(picture), _SHOWN_SIDE)}">'


def _with_boxes(picture: Image.Image, text: str, colour) -> Image.Image:
    try:
        phrases = parse_grounded(text)
    except BoxError:
        return picture  # an unparseable prediction has nothing to draw; its score says so
    return draw(picture, phrases, colour) if phrases else picture


def frame_strip(record, media_root, num_frames: int, raster=None) -> str:
    if record is None:
        return '<div class="frames">(media not in the annotations)</div>'
    try:
        frames = load_frames(record, media_root, 1 if record.media_kind == "image" else num_frames, pad=True,
                             raster=raster)
    except MediaError as e:
        return f'<div class="frames">cannot show frames: {html.escape(str(e))}</div>'
    dates = frames.timestamps or [f"frame {i + 1}" for i in frames.indices]
    cells = "".join(f'<figure><img src="{_data_url(im, 128)}"><figcaption>{html.escape(d)}</figcaption></figure>'
                    for im, d in zip(frames.images, dates))
    return f'<div class="frames">{cells}</div>'


def group_tables(samples: dict) -> str:
    """For each task whose scores are grouped (VQA's question types): questions and accuracy per group."""
    return "".join(_group_table(samples, name, task.title or name, task.group_key)
                   for name, task in TASKS.items() if task.group_key)


def _group_table(samples: dict, task: str, title: str, key: str) -> str:
    """Questions and accuracy per value of ``metadata[key]`` of ``task``'s samples, a column per model."""
    by_model = {label: [r for r in rows.values() if r.get("task") == task] for label, rows in samples.items()}
    by_model = {label: rows for label, rows in by_model.items() if rows}
    if not by_model:
        return ""
    types = sorted({r.get("metadata", {}).get(key, "?") for rows in by_model.values() for r in rows})
    head = "".join(f"<th>{html.escape(label)}</th>" for label in by_model)
    lines = []
    for kind in types:
        cells, count = [], 0
        for rows in by_model.values():
            hits = [r["correct"] for r in rows if r.get("metadata", {}).get(key, "?") == kind]
            count = max(count, len(hits))
            cells.append(f"<td>{sum(hits) / len(hits):.3f}</td>" if hits else "<td>–</td>")
        lines.append(f"<tr><th>{html.escape(kind)}</th><td>{count}</td>{''.join(cells)}</tr>")
    return (f'<h3>{html.escape(title)} accuracy per {html.escape(key.replace("_", " "))}</h3>'
            f'<table class="{slug(task)}-types"><tr><th>type</th><th>questions</th>{head}</tr>{"".join(lines)}</table>')


def _data_url(image: np.ndarray, side: int) -> str:
    picture = Image.fromarray(image)
    picture.thumbnail((side, side))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=88)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
