"""`geollava export lmms-eval DATA --out DIR`: the tasks of an annotation file as lmms-eval tasks, one folder
each (its YAML, its utils.py hooks, its documents), in a package lmms-eval finds either way:

    lmms-eval --include_path DIR --tasks geollava_val_refer ...
    pip install DIR   # then: --include_path "$(python -c 'import geollava_tasks.tasks as t; print(t.__path__[0])')"

(lmms-eval 0.7.3 indexes tasks before it reads LMMS_EVAL_PLUGINS, so an installed package's tasks folder is named
with --include_path as well; the package also carries the `models` module LMMS_EVAL_PLUGINS imports.) The
documents and decoded frames stay in DIR, named by absolute path, as the media do: keep them where they are.

The hooks call this suite (geollava/export/harness.py), so the environment lmms-eval runs in has geollava
installed (scripts/setup_harness.sh lmms-eval builds one): its numbers are this suite's scorers on the answers it
generated, and its `--log_samples` file rescored by `geollava eval --predictions FILE --data DATA` gives the same.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from ..tasks import get_task
from .documents import ExportSettings, export_documents, safe_name
from .harness import answer_row, numeric_metrics, score_rows

LMMS_EVAL_VERSION = "0.7.3"  # the version the export is tested with (tests/export/test_lmms_eval_cli.py)


def export_lmms_eval(data: str | Path, out: str | Path, settings: ExportSettings, name: str | None = None,
                     package: str = "geollava_tasks") -> list[str]:
    """Write the task folders of ``data`` under ``out``; the lmms-eval task names, one per task of the data."""
    out = Path(out)
    tasks_dir = out / package / "tasks"
    documents = export_documents(data, out / package, settings)
    prefix = safe_name(name or f"geollava_{Path(data).stem}").lower()
    names = []
    for task, docs in documents.items():
        task_name = f"{prefix}_{task}"
        folder = tasks_dir / task_name
        folder.mkdir(parents=True, exist_ok=True)
        write_jsonl(folder / "docs.jsonl", docs)
        metrics = exported_metrics(task, docs)
        (folder / f"{task_name}.yaml").write_text(task_yaml(task_name, task, folder / "docs.jsonl", metrics))
        (folder / "utils.py").write_text(utils_source(task_name, task, metrics))
        names.append(task_name)
    write_package(out, package, names, data, settings)
    return names


def exported_metrics(task: str, docs: list[dict]) -> list[str]:
    """The task's report columns its documents have numbers for (a group column: each group the data has), found
    by scoring the references as answers — the metrics lmms-eval reports, in this suite's order."""
    scores = score_rows([answer_row(doc, doc["answer"]) for doc in docs], meteor=False)
    present = numeric_metrics(scores)
    chosen = []
    for key, _ in get_task(task).columns:
        if key.endswith(".*"):
            chosen += [m for m in present if m.startswith(key[:-1])]
        elif key in present or key.endswith("METEOR"):  # METEOR is left out of the probe (a Java process)
            chosen.append(key)
    return list(dict.fromkeys(chosen))


def metric_name(dotted: str) -> str:
    """An lmms-eval metric name, which is also its aggregation function's: coco.CIDEr -> coco_CIDEr,
    acc@0.5 -> acc_0_5."""
    return re.sub(r"\W+", "_", dotted).strip("_")


def task_yaml(task_name: str, task: str, docs: Path, metrics: list[str]) -> str:
    entry = get_task(task)
    config = {
        "task": task_name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(docs.resolve())}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_visual": "!function utils.doc_to_visual",
        "doc_to_text": "!function utils.doc_to_text",
        "doc_to_target": "answer",
        "generation_kwargs": {"max_new_tokens": entry.max_new_tokens, "temperature": 0, "do_sample": False,
                              "num_beams": 1},
        "process_results": "!function utils.process_results",
        "metric_list": [{"metric": metric_name(m), "aggregation": f"!function utils.{metric_name(m)}",
                         "higher_is_better": "no_box" not in m and "unparsed" not in m} for m in metrics],
        "metadata": {"version": 1.0, "scored_as": entry.reference},
    }
    text = yaml.safe_dump(config, sort_keys=False, width=120)
    return re.sub(r"'(!function [^']+)'", r"\1", text)  # lmms-eval's tag, written bare


def utils_source(task_name: str, task: str, metrics: list[str]) -> str:
    aggregations = "".join(f"\n\ndef {metric_name(m)}(results):\n    return metric(scores(results), {m!r})\n"
                           for m in metrics)
    return f'''"""lmms-eval hooks of {task_name}, written by `geollava export lmms-eval`: GeoLLaVA's {task} task,
scored by GeoLLaVA's own scorer ({get_task(task).reference})."""
from geollava.export.harness import answer_row, doc_to_text, doc_to_visual, metric, score_rows

METRICS = {[metric_name(m) for m in metrics]!r}


def process_results(doc, results):
    row = answer_row(doc, results[0] if results else "")
    return {{name: row for name in METRICS}}


def scores(rows):
    return score_rows(rows)
{aggregations}'''


def write_package(out: Path, package: str, names: list[str], data, settings: ExportSettings) -> None:
    """The export as an installable lmms-eval plugin (its tasks/ folder is what LMMS_EVAL_PLUGINS looks for)."""
    for init in (out / package / "__init__.py", out / package / "tasks" / "__init__.py"):
        init.write_text(f'"""lmms-eval tasks exported by geollava from {Path(data).name}."""\n')
    (out / package / "models").mkdir(exist_ok=True)  # lmms-eval imports a plugin's models too: it has none
    (out / package / "models" / "__init__.py").write_text("AVAILABLE_MODELS: dict[str, str] = {}\n")
    (out / "pyproject.toml").write_text(f'''[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{package.replace("_", "-")}"
version = "0.1.0"
description = "lmms-eval tasks exported by geollava export lmms-eval"

[tool.setuptools.packages.find]
include = ["{package}*"]

[tool.setuptools.package-data]
"*" = ["*.yaml"]
''')
    listing = "\n".join(f"- `{n}`" for n in names)
    (out / "README.md").write_text(f"""# lmms-eval tasks from {Path(data).name}

Written by `geollava export lmms-eval` (box format {settings.box_format}, {settings.num_frames} frames at most), for
lmms-eval {LMMS_EVAL_VERSION} in an environment with geollava installed (its hooks score with geollava's scorers):

{listing}

    lmms-eval --include_path {out} --tasks {",".join(names)} --model ... --log_samples --output_path OUT
    # or installed: pip install {out}, then
    #   --include_path "$(python -c 'import {package}.tasks as t; print(t.__path__[0])')"
    # (lmms-eval 0.7.3 indexes tasks before it reads LMMS_EVAL_PLUGINS; the package has the models module that
    # LMMS_EVAL_PLUGINS={package} imports, for a version that reads it first)

The documents (here) name their images by absolute path: keep this folder and the media where they are. Rescore
the logged answers with `geollava eval --predictions OUT/.../*_samples_<task>.jsonl --data {data}`.
""")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
