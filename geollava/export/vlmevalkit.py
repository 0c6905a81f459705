"""`geollava export vlmevalkit DATA --out DIR`: the tasks of an annotation file as VLMEvalKit datasets, as its
docs describe a new benchmark (docs/en/Development.md): one TSV per task — index, image (base64; several frames:
a list of them, in order), question, answer — with the columns this suite scores by, and a dataset class
(DIR/geollava_vlmeval.py, an ImageBaseDataset) whose evaluate() is this suite's scorer. VLMEvalKit has no plugin
mechanism: DIR/run_vlmevalkit.py puts the class where its run.py's --config lookup finds it, then runs run.py.

    python DIR/run_vlmevalkit.py --config DIR/config.json     # in VLMEvalKit's environment, geollava installed

Its prediction files (<model>_<dataset>.xlsx) keep every column but the image, the record id among them:
`geollava eval --predictions FILE --data DATA` rescores them to the same numbers.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

from .documents import ExportSettings, export_documents, safe_name
from .lmms_eval import exported_metrics

SCORED_COLUMNS = ("id", "task", "references_json", "metadata_json", "image_size", "model_size", "box_format")


def export_vlmevalkit(data: str | Path, out: str | Path, settings: ExportSettings, name: str | None = None
                      ) -> list[str]:
    """Write one TSV per task of ``data``, the dataset class, its runner and a config; the dataset names."""
    import pandas as pd

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prefix = safe_name(name or f"GeoLLaVA_{Path(data).stem}")
    metrics = {}
    for task, docs in export_documents(data, out, settings).items():
        dataset = f"{prefix}_{task}"
        table = pd.DataFrame([row(k, doc) for k, doc in enumerate(docs)])
        table.to_csv(out / f"{dataset}.tsv", sep="\t", index=False)
        metrics[dataset] = exported_metrics(task, docs)
    (out / "geollava_vlmeval.py").write_text(DATASET_CLASS.replace("__METRICS__", json.dumps(metrics, indent=1)))
    (out / "run_vlmevalkit.py").write_text(RUNNER)
    config = {"model": {"Qwen2.5-VL-7B-Instruct": {}},
              "data": {dataset: {"class": "GeoLLaVATask", "dataset": dataset} for dataset in metrics}}
    (out / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    (out / "README.md").write_text(readme(data, out, list(metrics), settings))
    return list(metrics)


def row(index: int, doc: dict) -> dict:
    """A TSV row: VLMEvalKit's columns, then ours (sizes as JSON text)."""
    images = [base64.b64encode(Path(path).read_bytes()).decode("ascii") for path in doc["frames"]]
    return {"index": index, "image": images[0] if len(images) == 1 else json.dumps(images),
            "question": doc["question"], "answer": doc["answer"],
            **{key: json.dumps(doc[key]) if key.endswith("_size") else doc[key] for key in SCORED_COLUMNS}}


def readme(data, out: Path, datasets: list[str], settings: ExportSettings) -> str:
    listing = "\n".join(f"- `{d}` ({d}.tsv)" for d in datasets)
    return f"""# VLMEvalKit datasets from {Path(data).name}

Written by `geollava export vlmevalkit` (box format {settings.box_format}, {settings.num_frames} frames at most):

{listing}

In VLMEvalKit's environment with geollava installed (`pip install --no-deps <geollava>` and its scorers'
packages), edit config.json's model entry (a VLMEvalKit model name, or {{"class": ..., "model_path": ...}}), then

    python {out}/run_vlmevalkit.py --config {out}/config.json [run.py's other options]

The class (geollava_vlmeval.py) reads these TSVs from this folder; VLMEvalKit decodes the images under
$LMUData/images/<dataset>/ and never overwrites them there: delete that folder after exporting anew. Scores come
from geollava's scorers (evaluate()); rescore a prediction file with
`geollava eval --predictions <model>_<dataset>.xlsx --data {data}`.
"""


DATASET_CLASS = '''"""VLMEvalKit dataset class of the tasks `geollava export vlmevalkit` wrote beside this file: each TSV here is
one dataset; its answers are scored by geollava's scorers (geollava.export.harness)."""
import json
import math
import os

import pandas as pd
from vlmeval.dataset.image_base import ImageBaseDataset
from vlmeval.smp import load

from geollava.export.harness import answer_row, metric, score_rows

HERE = os.path.dirname(os.path.abspath(__file__))
METRICS = __METRICS__


class GeoLLaVATask(ImageBaseDataset):
    TYPE = "VQA"
    DATASET_URL = {name: os.path.join(HERE, name + ".tsv") for name in METRICS}
    DATASET_MD5 = {}

    @classmethod
    def supported_datasets(cls):
        return list(METRICS)

    def load_data(self, dataset):
        return pd.read_csv(os.path.join(HERE, dataset + ".tsv"), sep="\\t")

    def build_prompt(self, line):
        if isinstance(line, int):
            line = self.data.iloc[line]
        paths = self.dump_image(line)  # the frames, in order
        return [dict(type="image", value=p) for p in paths] + [dict(type="text", value=line["question"])]

    def evaluate(self, eval_file, **judge_kwargs):
        rows = [answer_row(document(r), "" if is_missing(r["prediction"]) else str(r["prediction"]))
                for r in load(eval_file).to_dict("records")]
        scores = score_rows(rows)
        return {name: metric(scores, name) for name in METRICS[self.dataset_name]}


def document(record):
    """A prediction row's scoring columns as the exported document had them."""
    doc = {key: record[key] for key in ("id", "task", "references_json", "metadata_json", "box_format")}
    doc["id"] = str(doc["id"])
    for key in ("image_size", "model_size"):
        value = record.get(key)
        doc[key] = json.loads(value) if isinstance(value, str) else None
    return doc


def is_missing(value):
    return value is None or (isinstance(value, float) and math.isnan(value))
'''

RUNNER = '''"""VLMEvalKit's run.py on the datasets beside this file: the dataset class is put into vlmeval.dataset, where
run.py's --config lookup finds classes (it has no other way in), then run.py runs with these arguments.
    python run_vlmevalkit.py --config config.json [--mode all] [--work-dir outputs]
VLMEVALKIT_RUN=/path/to/VLMEvalKit/run.py selects a source checkout's run.py; else vlmeval.run (the wheel's)."""
import os
import runpy
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import vlmeval.dataset  # noqa: E402
from geollava_vlmeval import GeoLLaVATask  # noqa: E402

vlmeval.dataset.GeoLLaVATask = GeoLLaVATask
if os.environ.get("VLMEVALKIT_RUN"):
    runpy.run_path(os.environ["VLMEVALKIT_RUN"], run_name="__main__")
else:
    runpy.run_module("vlmeval.run", run_name="__main__")
'''
