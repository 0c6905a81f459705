"""conversation — free single-image instruction chat (most of GeoChat_Instruct: descriptions and dialogues).
Scored as text: ROUGE-1 / ROUGE-L per sample, METEOR and CIDEr over the task's samples."""
from __future__ import annotations

from .answers import TextTask


class Conversation(TextTask):
    name = "conversation"
    reference = "rouge_score (F, stemmed); pycocoevalcap METEOR, CIDEr-D"
    inherits = ("problems", "metadata_for", "question", "reword", "parse", "reward", "card_boxes", "synthesize")
    summary = "free single-image instruction chat"
    order = 70
    example = {"question": "Describe the image.", "answer": "A harbour with three ships beside a long pier.",
               "metadata": {}, "wrong": "A forest."}

    def claims(self, questions, answers):
        return True  # what no other single-image task claims


TASK = Conversation()
