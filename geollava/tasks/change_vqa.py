"""change_vqa — questions about what changed between the frames, answered in a word or a number, the question
kinds TEOChat's and the change-chat datasets ask; `metadata.question_type` groups the scores:

    yes_no   "Were any buildings constructed between the first and the last image?"   → yes / no
    count    "How many buildings were demolished?"                                     → 0, 1, 2, ...
    place    "In which quadrant did the water area change?"                            → north-east, ...
    type     "What changed?"                                                           → new buildings, ...

Scored by exact match with GeoChat's normalisation (lower case, spaces and periods removed): accuracy, per
question type, and the mean of the types. `data synth --tasks change_vqa` asks about the change events the
synthetic videos are drawn from.
"""
from __future__ import annotations

from .answers import ShortAnswerTask
from .base import needs_metadata

SUFFIX = "Answer the question using a single word or phrase."
QUESTION_TYPES = ("yes_no", "count", "place", "type")
# per change type: the yes / no question, the answer to "What changed?", and what the place question names
_CHANGES = {
    "construction": ("Were any buildings constructed", "new buildings", "the new buildings"),
    "demolition": ("Were any buildings demolished", "demolished buildings", "the demolition"),
    "road": ("Was a new road built", "a new road", "the new road"),
    "deforestation": ("Was vegetation cleared", "cleared vegetation", "the vegetation change"),
    "water_growth": ("Did the water area grow", "water grew", "the water area change"),
    "water_shrink": ("Did the water area shrink", "water shrank", "the water area change"),
}
_COUNTED = {"construction": "constructed", "demolition": "demolished"}


class ChangeVQA(ShortAnswerTask):
    name = "change_vqa"
    reference = "mbzuai-oryx/GeoChat geochat/eval/batch_geochat_scene.py (evaluation_metrics: its answer rule)"
    inherits = ("question", "reword", "reward", "card_boxes")
    media = "frames"
    summary = "questions about what changed, in a word or a number; `metadata.question_type` groups the scores"
    order = 5
    title = "change VQA"
    max_new_tokens = 64  # a word or a number
    question_help = "the question, e.g. 'How many buildings were demolished?'"
    example = {"question": f"<video>\nHow many buildings were demolished between the first and the last image?\n"
                           f"{SUFFIX}",
               "answer": "2", "metadata": {"question_type": "count"}, "wrong": "3"}

    def problems(self, metadata, questions, answers):
        return needs_metadata(metadata, "question_type", self.name,
                              f"set metadata.question_type ({', '.join(QUESTION_TYPES)}, ...)")

    def metadata_for(self, question: str) -> dict:
        return {"question_type": "unspecified"}  # a one-off question has no type; nothing is scored

    def synthesize(self, rng, change):
        """A question about the synthetic video's one change event (type "none": nothing changed)."""
        event = change.event
        kind = event["type"]
        asked = QUESTION_TYPES[rng.integers(len(QUESTION_TYPES))]
        if asked == "place" and kind == "none":
            asked = "type"
        if asked == "yes_no":
            about = kind if kind != "none" and rng.random() < 0.5 else list(_CHANGES)[rng.integers(len(_CHANGES))]
            question = f"{_CHANGES[about][0]} between the first and the last image?"
            answer = "yes" if about == kind else "no"
        elif asked == "count":
            about = kind if kind in _COUNTED else list(_COUNTED)[rng.integers(len(_COUNTED))]
            question = f"How many buildings were {_COUNTED[about]} between the first and the last image?"
            answer = str(event["count"] if about == kind else 0)
        elif asked == "place":
            question, answer = f"In which quadrant is {_CHANGES[kind][2]}?", event["quadrant"]
        else:
            question, answer = "What changed between the first and the last image?", \
                _CHANGES[kind][1] if kind != "none" else "nothing"
        return f"{question}\n{SUFFIX}", answer, {"question_type": asked}


TASK = ChangeVQA()
