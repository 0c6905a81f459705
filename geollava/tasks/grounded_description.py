"""grounded_description — a description whose phrases carry boxes (GeoChat_Instruct's detailed descriptions with
boxes). Scored both ways: boxes as grounding (acc@0.5), and the words, boxes and <p> tags taken out, as text."""
from __future__ import annotations

from ..geometry.boxes import has_box, strip_boxes
from .answers import BoxTask, TextTask, text_scores
from .base import Sample, ScoreOptions


class GroundedDescription(BoxTask, TextTask):
    name = "grounded_description"
    reference = "this suite's rotated-box IoU; rouge_score, pycocoevalcap"
    inherits = ("metadata_for", "question", "reword", "reward", "card_boxes", "synthesize")
    summary = "a description whose phrases carry boxes"
    order = 60
    reward_key = "iou"
    columns = [("acc@0.5", "acc@0.5"), ("no_box_predictions", "no box"), *TextTask.columns]
    example = {"question": "Describe the image in detail.",
               "answer": "A <p>storage tank</p> {<10><10><30><30>|<0>} stands beside a road.", "metadata": {},
               "wrong": "A <p>storage tank</p> {<60><60><90><90>|<0>} stands beside a road."}

    def claims(self, questions, answers):
        return has_box(" ".join(answers))

    def words(self, text: str) -> str:
        return strip_boxes(text)

    def score(self, sample: Sample) -> dict:
        return {**BoxTask.score(self, sample), **TextTask.score(self, sample)}

    def aggregate(self, samples: list[Sample], options: ScoreOptions) -> tuple[dict, list[dict]]:
        boxes, per_sample = BoxTask.aggregate(self, samples, options)
        text, per_sample = text_scores(self, samples, per_sample, options)
        return {**boxes, **text}, per_sample


TASK = GroundedDescription()
