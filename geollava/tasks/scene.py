"""scene — classify the image: `metadata.classes` lists the classes the prompt offers, the answer is one of them
(UCMerced, AID, GeoChat-Bench's scene files, GeoChat_Instruct).

Scored as GeoChat's scorer does: its rule (lower case, spaces and periods removed) on both sides, exact match;
accuracy and per class (as the reference writes it). A GeoChat-Bench record is matched, as GeoChat's scorer
does, against its image's folder (the part of question_id before "/", lower-cased:
`metadata.ground_truth_folder`) — so a folder with an underscore (`baseball_diamond`) can never match, and a
question_id without a "/" is compared whole (as GeoChat's does: almost never a match), with a warning naming them.
"""
from __future__ import annotations

import logging
import re
from collections import defaultdict

from .answers import ShortAnswerTask
from .base import Sample, ScoreOptions, normalise_answer

SYNTHETIC_CLASSES = ["residential", "industrial", "forest", "lake", "farmland"]
log = logging.getLogger(__name__)


def scene_prompt(classes: list[str]) -> str:
    """GeoChat's scene question."""
    return (f"Classify the image from the following classes: {', '.join(classes)}. "
            "Answer in one word or a short phrase.")


def classes_in_prompt(text: str) -> list[str]:
    """The class list of a scene prompt: "... classes: A, B, C. Answer ..." → [A, B, C]."""
    match = re.search(r"classes\W*:?\s*(.+?)\.(\s|$)", text, flags=re.S)
    return [c.strip() for c in match.group(1).split(",") if c.strip()] if match else []


class Scene(ShortAnswerTask):
    name = "scene"
    reference = "mbzuai-oryx/GeoChat geochat/eval/batch_geochat_scene.py (evaluation_metrics)"
    inherits = ("question", "reword", "reward", "card_boxes")
    summary = "classify the image; `metadata.classes` lists the classes, the answer is one of them"
    order = 10
    title = "scene classification"
    question_help = ("the question with its classes, e.g. 'Classify the image from the following classes: forest, "
                     "lake, farmland. Answer in one word or a short phrase.'")
    columns = [("accuracy", "accuracy")]
    group_key = None
    confusion = True  # the report draws a confusion matrix of its classes
    example = {"question": scene_prompt(["Forest", "Dense Residential", "Harbor"]), "answer": "Dense Residential",
               "metadata": {"classes": ["Forest", "Dense Residential", "Harbor"]}, "wrong": "Forest"}

    def problems(self, metadata, questions, answers):
        classes = metadata.get("classes")
        if not (isinstance(classes, list) and classes and all(isinstance(c, str) and c for c in classes)):
            return [("missing_classes", "a scene record needs metadata.classes, the list of class names",
                     "set metadata.classes to the classes the prompt offers")]
        known = {normalise_answer(c) for c in classes}
        return [("answer_not_a_class", f"scene answer {a!r} is not among metadata.classes",
                 "answer with one of the classes, or add it to metadata.classes")
                for a in answers if normalise_answer(a) not in known]

    def metadata_for(self, question: str) -> dict:
        return {"classes": classes_in_prompt(question)}

    def truth(self, sample: Sample) -> str:
        folder = sample.metadata.get("ground_truth_folder")
        return folder.lower() if folder else normalise_answer(sample.reference)

    def aggregate(self, samples: list[Sample], options: ScoreOptions) -> tuple[dict, list[dict]]:
        whole = [s.id for s in samples if s.id and s.metadata.get("ground_truth_folder") == s.id]
        if whole:
            log.warning("%d scene records have a question_id without a folder (%s%s): scored as GeoChat's "
                        "evaluation_metrics scores them, against the whole id, which an answer almost never equals",
                        len(whole), ", ".join(whole[:5]), " ..." if len(whole) > 5 else "")
        summary, per_sample = super().aggregate(samples, options)
        classes: dict[str, list[float]] = defaultdict(list)
        for s, out in zip(samples, per_sample):
            classes[s.reference].append(out["correct"])
        summary["per_class"] = {c: sum(v) / len(v) for c, v in sorted(classes.items())}
        return summary, per_sample

    def synthesize(self, rng, scene):
        classes = list(SYNTHETIC_CLASSES)
        return scene_prompt(classes), scene.label, {"classes": classes}

    def geochat_bench(self, row: dict) -> tuple[str, str, dict]:
        """GeoChat-Bench's scene rows {question_id, image, text, ground_truth}: the prompt is `text` as given; the
        folder part of question_id is kept, since GeoChat's scorer compares with it instead of ground_truth."""
        question = row.get("text", "")
        # GeoChat's evaluation_metrics: gt = question_id.split('/')[0] — the whole id when there is no folder
        metadata = {"classes": classes_in_prompt(question), "ground_truth_folder": str(row["question_id"]).split("/")[0]}
        return question, str(row["ground_truth"]), metadata


TASK = Scene()
