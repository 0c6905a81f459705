"""refer — "[refer] Give me the location of <p> the plane </p>" → the phrase's box(es) (GeoChat-Bench's referring
file, GeoChat_Instruct); optional `metadata.size_group` (small, medium, large) groups the scores.

Scored on rotated boxes (answers.BoxTask): acc@0.5 object level, per size group, single- and multi-object, and
the predictions with no parseable box counted; the per-sample reward is the mean matched IoU.
"""
from __future__ import annotations

from ..data.boxes import GRID, Box, format_boxes
from .answers import BoxTask, boxes_text

SIZE_GROUPS = ("small", "medium", "large")


class Refer(BoxTask):
    name = "refer"
    summary = "\"[refer] ... <p>phrase</p>\" → the phrase's box(es); optional `metadata.size_group`"
    order = 30
    tag = "[refer]"
    question_form = "[refer] Give me the location of <p> {} </p>"
    question_help = "the phrase to locate, e.g. 'the largest building'"
    max_new_tokens = 256
    columns = [("acc@0.5", "acc@0.5"), ("per_size.*", "size "), ("per_objects.*", "objects: "),
               ("no_box_predictions", "no box")]
    example = {"question": "[refer] Give me the location of <p> the largest building </p>",
               "answer": "{<10><20><40><60>|<0>}", "metadata": {"size_group": "large"},
               "wrong": "{<60><60><90><90>|<0>}"}

    def problems(self, metadata, questions, answers):
        problems = super().problems(metadata, questions, answers)
        if metadata.get("size_group") not in (None, *SIZE_GROUPS):
            problems.append(("wrong_size_group", f"metadata.size_group {metadata['size_group']!r} is not one of "
                             f"{', '.join(SIZE_GROUPS)}", "use small, medium or large, or drop the key"))
        return problems

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
