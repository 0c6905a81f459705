"""The task registry: one module per task in this package, each defining `TASK` (tasks/base.py says what an
entry holds). Every part of the suite that treats tasks differently — record checks, the dataset, evaluation,
predict, the demo, the report, the converters, synthetic data, rewards — asks the entry here.

Adding a task is adding one module beside these: it is found by its `TASK`.
"""
from __future__ import annotations

import importlib
import pkgutil

from .base import Answer, Problem, Sample, ScoreOptions, Task, normalise_answer

__all__ = ["Answer", "Problem", "Sample", "ScoreOptions", "Task", "TASKS", "DEFAULT_TASK", "get_task", "task_of",
           "task_problems", "normalise_answer", "infer_instruct_task", "benchmark_tasks"]


def _discover() -> dict[str, Task]:
    found = []
    for module in pkgutil.iter_modules(__path__):
        task = getattr(importlib.import_module(f"{__name__}.{module.name}"), "TASK", None)
        if task is not None:
            found.append(task)
    found.sort(key=lambda t: (t.order, t.name))
    return {t.name: t for t in found}


def _check(tasks: dict[str, Task]) -> None:
    defaults = [t.name for t in tasks.values() if t.default]
    assert len(defaults) == 1, f"exactly one task is the default, found {defaults}"
    for name, task in tasks.items():
        assert name and task.media in ("image", "frames", "any"), name
        assert task.columns and task.reward_key and task.example, f"task {name} lacks columns, reward or example"


TASKS: dict[str, Task] = _discover()
_check(TASKS)
DEFAULT_TASK: Task = next(t for t in TASKS.values() if t.default)


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}") from None


def task_of(metadata: dict) -> str:
    """The task a record's metadata names (`metadata.task`), else the default."""
    return metadata.get("task", DEFAULT_TASK.name)


def task_problems(metadata: dict, questions: list[str], answers: list[str], media_kind: str | None = None
                  ) -> list[Problem]:
    """(code, message, fix) for each way the record's task fields are wrong; nothing for a valid record.
    ``media_kind`` ("image", "video", "frames") is checked against what a task the record names takes."""
    name = task_of(metadata)
    if name not in TASKS:
        return [("unknown_task", f"metadata.task {name!r} is not a task", f"use one of {', '.join(TASKS)}")]
    task = TASKS[name]
    problems = []
    if ("task" in metadata and media_kind is not None and task.media != "any"
            and (media_kind == "image") != (task.media == "image")):
        takes = "one image ('image')" if task.media == "image" else "two or more frames or a video ('video')"
        problems.append(("wrong_media", f"a {name} record takes {takes}, this one has "
                         f"{'one image' if media_kind == 'image' else 'a video or frames'}",
                         f"give it {takes}, or set metadata.task to a task for its media"))
    return problems + task.problems(metadata, questions, answers)


def infer_instruct_task(questions: list[str], answers: list[str]) -> str:
    """The task of a single-image instruction record that names none (GeoChat_Instruct): the first task, in
    registry order, that claims it (by its tag in a question, boxes in an answer, or as free chat)."""
    return next(t.name for t in TASKS.values() if t.media == "image" and t.claims(questions, answers))


def benchmark_tasks() -> list[str]:
    """Tasks whose GeoChat-Bench files `geollava data convert geochat-eval` reads."""
    return [name for name, task in TASKS.items() if hasattr(task, "geochat_bench")]
