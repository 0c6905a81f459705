"""The tasks a record can be (`metadata.task`), and the checks each task's fields must pass.

    change_caption        the default: what changed across the frames (GeoLLaVA, LEVIR-CC, ...)
    scene                 classify the image; `metadata.classes` lists the classes, the answer is one of them
    vqa                   answer a question; `metadata.question_type` (presence, comparison, rural_urban, count,
                          area, ...) groups the scores
    refer                 "[refer] ... <p>phrase</p>" → the phrase's box(es); optional `metadata.size_group`
    grounding             "[grounding] ..." → a description with boxes
    region_caption        "[identify] What is the object present at {box}" → its name
    grounded_description  a description whose phrases carry boxes
    conversation          free single-image instruction chat (GeoChat_Instruct's descriptions and dialogues)

Task tokens ([refer], [grounding], [identify]) stay in the text exactly as the data has them.
"""
from __future__ import annotations

from .boxes import BoxError, parse_boxes

TASKS = ("change_caption", "scene", "vqa", "refer", "grounding", "region_caption", "grounded_description",
         "conversation")
BOXED_ANSWERS = ("refer", "grounding", "grounded_description")
SIZE_GROUPS = ("small", "medium", "large")


# How GeoChat words each boxed task's question (its eval scripts, GeoChat_Instruct, our converters and synthetic set)
QUESTION_FORMS = {"refer": ("[refer]", "[refer] Give me the location of <p> {} </p>"),
                  "grounding": ("[grounding]", "[grounding] {}"),
                  "region_caption": ("[identify]", "[identify] What is the object present at {}")}
DEFAULT_QUESTIONS = {"grounding": "Describe the image and locate its objects."}


def task_question(task: str, text: str | None) -> str | None:
    """A question for ``task`` as trained: refer "the plane" → "[refer] Give me the location of <p> the plane
    </p>"; text that already carries its tag is kept. None when the task needs a question and there is none."""
    text = (text or DEFAULT_QUESTIONS.get(task, "")).strip()
    if not text:
        return None
    tag, form = QUESTION_FORMS.get(task, (None, None))
    return form.format(text) if tag and not text.startswith(tag) else text


def normalise_answer(text: str) -> str:
    """GeoChat's scene and VQA rule: lower case, spaces and periods removed."""
    return text.replace(" ", "").lower().replace(".", "")


def task_of(metadata: dict) -> str:
    return metadata.get("task", "change_caption")


def task_problems(metadata: dict, questions: list[str], answers: list[str]) -> list[tuple[str, str, str]]:
    """(code, message, fix) for each way the record's task fields are wrong; nothing for a valid record."""
    task = task_of(metadata)
    if task not in TASKS:
        return [("unknown_task", f"metadata.task {task!r} is not a task", f"use one of {', '.join(TASKS)}")]
    problems = []
    if task in BOXED_ANSWERS:
        for answer in answers:
            problems += _box_problems(answer, f"the {task} answer", "write boxes as {<x1><y1><x2><y2>|<angle>}")
    if task == "region_caption":
        problems += _box_problems(questions[0] if questions else "", "the region_caption question",
                                  "name the region as {<x1><y1><x2><y2>|<angle>} in the question")
    if task == "scene":
        problems += _scene_problems(metadata.get("classes"), answers)
    if task == "vqa" and not (isinstance(metadata.get("question_type"), str) and metadata["question_type"]):
        problems.append(("missing_question_type", "a vqa record needs metadata.question_type",
                         "set metadata.question_type (presence, comparison, rural_urban, count, area, ...)"))
    if task == "refer" and metadata.get("size_group") not in (None, *SIZE_GROUPS):
        problems.append(("wrong_size_group", f"metadata.size_group {metadata['size_group']!r} is not one of "
                         f"{', '.join(SIZE_GROUPS)}", "use small, medium or large, or drop the key"))
    return problems


def _box_problems(text: str, where: str, fix: str) -> list[tuple[str, str, str]]:
    try:
        boxes = parse_boxes(text)
    except BoxError as e:
        return [("bad_box", f"{where}: {e}", fix)]
    return [] if boxes else [("missing_box", f"{where} has no box: {text[:60]!r}", fix)]


def _scene_problems(classes, answers: list[str]) -> list[tuple[str, str, str]]:
    if not (isinstance(classes, list) and classes and all(isinstance(c, str) and c for c in classes)):
        return [("missing_classes", "a scene record needs metadata.classes, the list of class names",
                 "set metadata.classes to the classes the prompt offers")]
    known = {normalise_answer(c) for c in classes}
    return [("answer_not_a_class", f"scene answer {a!r} is not among metadata.classes",
             "answer with one of the classes, or add it to metadata.classes")
            for a in answers if normalise_answer(a) not in known]
