"""vqa — answer a question about the image in a word or a number (RSVQA LR / HR, GeoChat-Bench's VQA files,
GeoChat_Instruct); `metadata.question_type` (presence, comparison, rural_urban, count, area, ...) groups the scores.

Scored by GeoChat's rule (lower case, spaces and periods removed), exact match: accuracy over all questions, per
question type, and `average` = the mean of the per-type accuracies (GeoChat's and RSVQA's tables average so).
VRSBench records (`metadata.benchmark: vrsbench`) by VRSBench's rule: right when the answer contains the
reference (lower-cased) — its GPT judge, asked when it does not (for answers other than yes / no and numbers), is
not run here, so that accuracy is a lower bound of VRSBench's.
"""
from __future__ import annotations

from .answers import ShortAnswerTask
from .base import needs_metadata

SUFFIX = "Answer the question using a single word or phrase."  # GeoChat's and LLaVA-1.5's VQA instruction
_OBJECTS = ("building", "tank", "water", "trees")


class VQA(ShortAnswerTask):
    name = "vqa"
    reference = "mbzuai-oryx/GeoChat geochat/eval/batch_geochat_scene.py (evaluation_metrics: its answer rule)"
    inherits = ("question", "reword", "reward", "card_boxes")
    summary = "answer a question in a word or number; `metadata.question_type` groups the scores"
    order = 20
    title = "VQA"
    example = {"question": f"Is there a storage tank in the image?\n{SUFFIX}", "answer": "yes",
               "metadata": {"question_type": "presence"}, "wrong": "no"}

    def problems(self, metadata, questions, answers):
        return needs_metadata(metadata, "question_type", self.name,
                              "set metadata.question_type (presence, comparison, rural_urban, count, area, ...)")

    def score(self, sample):
        if sample.metadata.get("benchmark") != "vrsbench":
            return super().score(sample)
        return {"correct": float(sample.reference.strip().lower() in sample.prediction.strip().lower())}

    def metadata_for(self, question: str) -> dict:
        return {"question_type": "unspecified"}  # a one-off question has no type; nothing is scored

    def synthesize(self, rng, scene):
        count = {kind: sum(t.kind == kind for t in scene.things) for kind in scene.names}
        kind, other = (str(k) for k in rng.choice(list(_OBJECTS), 2, replace=False))
        question_type = ("presence", "count", "comparison")[rng.integers(3)]
        if question_type == "presence":
            question, answer = f"Is there {scene.names[kind]} in the image?", "yes" if count[kind] else "no"
        elif question_type == "count":
            kind = ("building", "tank")[rng.integers(2)]
            question, answer = f"How many {scene.plurals[kind]} are there?", str(count[kind])
        else:
            question = f"Are there more {scene.plurals[kind]} than {scene.plurals[other]}?"
            answer = "yes" if count[kind] > count[other] else "no"
        return f"{question}\n{SUFFIX}", answer, {"question_type": question_type}

    def geochat_bench(self, row: dict) -> tuple[str, str, dict]:
        """GeoChat-Bench's VQA rows {question_id, image, text, ground_truth, type | category}."""
        kind = row.get("type") or row.get("category")
        return row.get("text", ""), str(row["ground_truth"]), {"question_type": str(kind)} if kind else {}


TASK = VQA()
