"""The report's figures as inlined PNGs: the training loss, a GRPO run's reward terms, the held-out metrics per
checkpoint, and the scene classification confusion matrix."""
from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

from ..tasks import normalise_answer

OTHER = "(not a class)"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display: render to PNG only
    import matplotlib.pyplot as plt

    return plt


def _png(plt, figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def loss_plot(train_log) -> str | None:
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
    return _png(plt, figure)


def reward_plot(train_log) -> str | None:
    """A GRPO run's reward terms (rewards/<term>/mean, each unweighted) and their weighted sum, per step."""
    if not train_log or not Path(train_log).is_file():
        return None
    history = [e for e in json.loads(Path(train_log).read_text()) if "reward" in e and "step" in e]
    terms = sorted({k.split("/")[1] for e in history for k in e if k.startswith("rewards/") and k.endswith("/mean")})
    if not history or not terms:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5, 3))
    steps = [e["step"] for e in history]
    window = max(1, len(history) // 20)  # a step's mean is over a few prompts: show the trend, the steps faintly
    for key, label, colour in [("reward", "weighted sum", "black"),
                               *((f"rewards/{t}/mean", t, f"C{k}") for k, t in enumerate(terms))]:
        values = [e.get(key, float("nan")) for e in history]
        if window > 1:
            axis.plot(steps, values, color=colour, alpha=0.2, linewidth=0.8)
        axis.plot(steps, _running_mean(values, window), color=colour, label=label)
    title = "GRPO rewards (mean over completions" + (f", running mean of {window} steps)" if window > 1 else ")")
    axis.set(title=title, xlabel="step", ylabel="reward")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    return _png(plt, figure)


def _running_mean(values: list[float], window: int) -> list[float]:
    return [sum(values[max(0, k - window + 1):k + 1]) / len(values[max(0, k - window + 1):k + 1])
            for k in range(len(values))]


def checkpoint_plot(metrics: dict, train_log) -> str | None:
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
    return _png(plt, figure)


def confusion_counts(rows: list[dict]) -> tuple[list[str], list[list[int]]]:
    """Scene samples as (classes, counts[true][predicted]); an answer that is no class is its own column."""
    classes = sorted({r["references"][0] for r in rows} | {c for r in rows for c in r.get("metadata", {}).get("classes", [])})
    index = {normalise_answer(c): k for k, c in enumerate(classes)}
    labels = classes + [OTHER]
    counts = [[0] * len(labels) for _ in classes]
    for r in rows:
        truth = index[normalise_answer(r["references"][0])]
        counts[truth][index.get(normalise_answer(r["prediction"]), len(classes))] += 1
    return labels, counts


def confusion_plot(rows: list[dict], label: str, title: str = "classification") -> str | None:
    if not rows:
        return None
    labels, counts = confusion_counts(rows)
    plt = _pyplot()
    side = max(4.0, 0.35 * len(labels) + 2)
    figure, axis = plt.subplots(figsize=(side + 1, side))
    image = axis.imshow(counts, cmap="Blues")
    axis.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    axis.set_yticks(range(len(counts)), labels[:-1], fontsize=8)
    peak = max(max(row) for row in counts) or 1
    for i, row in enumerate(counts):
        for j, value in enumerate(row):
            if value:
                axis.text(j, i, str(value), ha="center", va="center", fontsize=7,
                          color="white" if value > peak / 2 else "black")
    axis.set(title=f"{title}: {label}", xlabel="predicted", ylabel="true class")
    figure.colorbar(image, ax=axis, shrink=0.7)
    return _png(plt, figure)


def _last_step(train_log) -> int | None:
    if not train_log or not Path(train_log).is_file():
        return None
    steps = [e["step"] for e in json.loads(Path(train_log).read_text()) if "step" in e]
    return max(steps) if steps else None
