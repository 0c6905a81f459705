"""refer — "[refer] Give me the location of <p> the plane </p>" → the phrase's box(es) (GeoChat-Bench's referring
file, GeoChat_Instruct, VRSBench, DIOR-RSVG); optional `metadata.size_group` (small, medium, large) groups the
scores.

Scored on rotated boxes (answers.BoxTask): acc@0.5 and acc@0.7 object level, Pr@0.5..0.9, meanIoU and cumIoU (the
DIOR-RSVG table's, against its exact pixel boxes), per size group, single- and multi-object, and the predictions
with no parseable box counted; the per-sample reward is the mean matched IoU. VRSBench and DIOR-RSVG records are
also scored by their own protocols, and DIOR-RSVG by the VLM papers' too (refer_benchmarks.py).
"""
from __future__ import annotations

import re

from ..geometry.boxes import GRID, Box, format_boxes
from .answers import BoxTask, boxes_text
from .refer_benchmarks import dior_rsvg_scores, vrsbench_scores

SIZE_GROUPS = ("small", "medium", "large")


class Refer(BoxTask):
    name = "refer"
    reference = "this suite's rotated-box IoU (tasks/answers.py); each benchmark's own beside it"
    inherits = ("metadata_for", "question", "reward", "card_boxes")
    summary = "\"[refer] ... <p>phrase</p>\" → the phrase's box(es); optional `metadata.size_group`"
    order = 30
    tag = "[refer]"
    question_form = "[refer] Give me the location of <p> {} </p>"
    question_help = "the phrase to locate, e.g. 'the largest building'"
    columns = [("acc@0.5", "acc@0.5"), ("acc@0.7", "acc@0.7"), ("meanIoU", "meanIoU"), ("cumIoU", "cumIoU"),
               ("per_size.*", "size "), ("per_objects.*", "objects: "), ("no_box_predictions", "no box"),
               ("vrsbench.all.acc@0.5", "VRSBench acc@0.5"), ("vrsbench.all.acc@0.7", "VRSBench acc@0.7"),
               ("dior_rsvg.rsvg_pytorch.Pr@0.5", "DIOR-RSVG Pr@0.5"), ("dior_rsvg.rsvg_pytorch.meanIoU",
                                                                     "DIOR-RSVG meanIoU")]
    example = {"question": "[refer] Give me the location of <p> the largest building </p>",
               "answer": "{<10><20><40><60>|<0>}", "metadata": {"size_group": "large"},
               "wrong": "{<60><60><90><90>|<0>}"}

    # how a model of each box format is asked to locate a phrase (Qwen's cookbooks; LLaVA-1.5's referring data;
    # InternVL's internvl_chat/eval/refcoco/evaluate_grounding.py)
    forms = {"pixels": "Locate {}, output its bbox coordinates using JSON format.",
             "norm1000": "Locate {}, output its bbox coordinates using JSON format.",
             "internvl": ("Please provide the bounding box coordinate of the region this sentence describes: "
                          "<ref>{}</ref>"),
             "norm1": "Please provide the bounding box coordinate of the region this sentence describes: {}",
             "norm1_padded": "Please provide the bounding box coordinate of the region this sentence describes: {}"}

    def reword(self, question: str, box_format: str, size) -> str:
        phrase = re.search(r"<p>(.*?)</p>", question, flags=re.S)
        if box_format == "geochat" or phrase is None:
            return question
        return self.forms[box_format].format(phrase.group(1).strip())

    def problems(self, metadata, questions, answers):
        problems = super().problems(metadata, questions, answers)
        if metadata.get("size_group") not in (None, *SIZE_GROUPS):
            problems.append(("wrong_size_group", f"metadata.size_group {metadata['size_group']!r} is not one of "
                             f"{', '.join(SIZE_GROUPS)}", "use small, medium or large, or drop the key"))
        return problems

    def aggregate(self, samples, options):
        summary, per_sample = super().aggregate(samples, options)
        for benchmark, protocols in (("vrsbench", vrsbench_scores), ("dior-rsvg", dior_rsvg_scores)):
            chosen = [s for s in samples if s.metadata.get("benchmark") == benchmark]
            if chosen:
                summary[benchmark.replace("-", "_")] = protocols(chosen)
        return summary, per_sample

    def box_groups(self, sample, scores):
        groups = super().box_groups(sample, scores)
        if sample.metadata.get("size_group"):
            groups.append(("per_size", sample.metadata["size_group"]))
        return groups

    def synthesize(self, rng, scene):
        candidates = [t for t in scene.things if t.kind != "road"] or scene.things
        if not candidates:
            return self.question("the road"), format_boxes([Box(0, 0, GRID, GRID)]), {}
        kind = candidates[rng.integers(len(candidates))].kind
        target = max((t for t in scene.things if t.kind == kind), key=lambda t: t.area)
        phrase = "the largest " + scene.names[kind].split(" ", 1)[1]
        size_group = "small" if target.area < 0.01 else "medium" if target.area < 0.05 else "large"
        return self.question(phrase), format_boxes([target.box]), {"size_group": size_group}

    def geochat_bench(self, row: dict) -> tuple[str, str, dict]:
        """GeoChat-Bench's referring rows {question_id, image_id, question, ground_truth, size_group, ...}; the
        prompt as GeoChat's eval builds it."""
        metadata = {"size_group": row["size_group"]} if row.get("size_group") is not None else {}
        return self.question_form.format(row.get("question", "")), boxes_text(row["ground_truth"]), metadata


TASK = Refer()
