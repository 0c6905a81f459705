"""region_caption — "[identify] What is the object present at {box}" → its name (GeoChat-Bench's region captions,
GeoChat_Instruct). Scored as text: ROUGE-1 / ROUGE-L per sample, METEOR and CIDEr over the task's samples."""
from __future__ import annotations

from ..geometry.box_formats import write_box
from ..geometry.boxes import GRID, Box, parse_boxes
from .answers import TextTask
from .base import box_problems


class RegionCaption(TextTask):
    name = "region_caption"
    reference = "rouge_score (F, stemmed); pycocoevalcap METEOR, CIDEr-D"
    inherits = ("metadata_for", "question", "parse", "reward")
    summary = "\"[identify] What is the object present at {box}\" → its name"
    order = 50
    tag = "[identify]"
    question_form = "[identify] What is the object present at {}"
    question_help = "the box, e.g. '{<10><20><40><60>|<0>}'"
    example = {"question": "[identify] What is the object present at {<10><20><40><60>|<0>}",
               "answer": "a storage tank", "metadata": {}, "wrong": "a road"}

    def problems(self, metadata, questions, answers):
        return box_problems(questions[0] if questions else "", "the region_caption question",
                            "name the region as {<x1><y1><x2><y2>|<angle>} in the question")

    forms = {"pixels": "What is the object in the region {}? Answer in one word or a short phrase.",
             "norm1000": "What is the object in the region {}? Answer in one word or a short phrase.",
             "internvl": "What is the object in the region {}? Answer in one word or a short phrase.",
             "norm1": "Please provide a short description for this region: {}",
             "norm1_padded": "Please provide a short description for this region: {}"}

    def reword(self, question: str, box_format: str, size) -> str:
        boxes = parse_boxes(question) if box_format != "geochat" else []
        return self.forms[box_format].format(write_box(boxes[0], box_format, size)) if boxes else question

    def card_boxes(self, question: str, row: dict) -> tuple[str, str]:
        return question, ""  # the box is in the question; the answer is a name

    def synthesize(self, rng, scene):
        things = scene.things
        target = things[rng.integers(len(things))] if things else None
        box, kind = (target.box, target.kind) if target else (Box(0, 0, GRID, GRID), "road")
        return self.question(str(box)), scene.names[kind], {}

    def geochat_bench(self, row: dict) -> tuple[str, str, dict]:
        """GeoChat-Bench's region-caption rows {question_id, image_id, question (the box), ground_truth}."""
        return self.question_form.format(row.get("question", "")), str(row["ground_truth"]), {}


TASK = RegionCaption()
