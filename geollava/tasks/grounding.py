"""grounding — "[grounding] ..." → a description whose objects carry their boxes (GeoChat-Bench's grounding file,
GeoChat_Instruct). Scored on rotated boxes (answers.BoxTask): acc@0.5, single- and multi-object."""
from __future__ import annotations

from ..geometry.boxes import Phrase, format_grounded
from .answers import BoxTask, boxes_text
from .refer import TASK as REFER


class Grounding(BoxTask):
    name = "grounding"
    reference = "this suite's rotated-box IoU (tasks/answers.py)"
    inherits = ("metadata_for", "question", "reward", "card_boxes")
    summary = "\"[grounding] ...\" → a description with boxes"
    order = 40
    tag = "[grounding]"
    question_form = "[grounding] {}"
    default_question = "Describe the image and locate its objects."
    columns = [("acc@0.5", "acc@0.5"), ("per_objects.*", "objects: "), ("no_box_predictions", "no box")]
    example = {"question": "[grounding] Describe the image and locate its objects.",
               "answer": "<p>2 buildings</p> {<10><10><20><20>|<0>}<delim>{<50><50><70><70>|<30>}",
               "metadata": {}, "wrong": "<p>a building</p> {<10><10><20><20>|<0>}"}

    forms = {"pixels": "{} Output the bbox coordinates of every object you mention using JSON format.",
             "norm1000": "{} Output the bbox coordinates of every object you mention using JSON format.",
             "internvl": "{} Output the bbox coordinates of every object you mention using JSON format.",
             "norm1": "{} Give the bounding box coordinates of every object you mention.",
             "norm1_padded": "{} Give the bounding box coordinates of every object you mention."}

    def reword(self, question: str, box_format: str, size) -> str:
        if box_format == "geochat":
            return question
        return self.forms[box_format].format(question.replace(self.tag, "", 1).strip())

    def synthesize(self, rng, scene):
        phrases = []
        for kind in ("building", "tank", "water", "trees", "road"):
            boxes = [t.box for t in scene.things if t.kind == kind]
            if boxes:
                name = scene.names[kind] if len(boxes) == 1 else f"{len(boxes)} {scene.plurals[kind]}"
                phrases.append(Phrase(name, boxes))
        text = format_grounded(phrases) if phrases else "There are no objects."
        return self.question(None), text, {}

    def geochat_bench(self, row: dict) -> tuple[str, str, dict]:
        """GeoChat-Bench's grounding rows, prompted "[grounding]q" as its eval does (no space); a row of type
        "ref" is a referring record."""
        if row.get("type") == "ref":
            question, answer, metadata = REFER.geochat_bench(row)
            return question, answer, {"task": REFER.name, **metadata}
        return f"[grounding]{row.get('question', '')}", boxes_text(row["ground_truth"]), {}


TASK = Grounding()
