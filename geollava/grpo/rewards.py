"""Reward terms for GRPO, from the task entries: a completion's reward is its task's own per-sample score.

    task          the task's own score (its reward_key): box IoU, exact match, the event score or ROUGE-L, ...
    format        1 when the answer parses in the task's format (boxes in the model's box format, a class, ...)
    box_iou, box_acc50, exact_match, rougeL, event_score, event_fields, cider    a task's named scores
                  (each task says which it takes: Task.rewards; `geollava grpo --help` lists them)

`rewards: {task: 1.0, format: 0.1}` in a config weights them; TRL sums the weighted terms of each completion
and logs each term as rewards/<term>/mean and /std. A term a sample's task does not take gives None there
(TRL leaves it out of the sum). Each term also logs rewards/<term>/zero_std_groups: the share of prompts whose
completions all scored the same — no learning signal from those.
"""
from __future__ import annotations

import json
from collections import defaultdict

import yaml

from ..arguments import ConfigError
from ..evaluation.scoring import sample_of
from ..tasks import TASKS

UNIVERSAL = ("task", "format")


def term_tasks() -> dict[str, list[str]]:
    """Every reward term and the tasks it fits."""
    terms = {term: list(TASKS) for term in UNIVERSAL}
    for name, task in TASKS.items():
        for term in task.rewards:
            terms.setdefault(term, []).append(name)
    return terms


def parse_rewards(rewards, where: str) -> dict[str, float]:
    """The config's ``rewards`` (a mapping, or its JSON / YAML text from the command line) as {term: weight};
    unset: {task: 1.0}."""
    if rewards is None:
        return {"task": 1.0}
    if isinstance(rewards, str):
        try:
            rewards = json.loads(rewards)
        except ValueError:
            rewards = yaml.safe_load(rewards)
    if isinstance(rewards, list):
        rewards = dict.fromkeys(rewards, 1.0)
    if not isinstance(rewards, dict) or not rewards:
        raise ConfigError(f"{where}: rewards must map reward terms to weights, e.g. {{task: 1.0, format: 0.1}}; "
                          f"got {rewards!r}")
    return rewards


def check_rewards(rewards: dict, tasks_in_data: dict[str, int] | None, where: str) -> dict[str, float]:
    """{term: weight} checked against the terms the tasks define and the tasks the training data has: an
    unknown term, a weight that is not a number >= 0, a term no task of the data takes, and a task of the data
    that no term rewards are each one error naming the fix (``tasks_in_data`` None: data not there yet, the
    terms and weights alone)."""
    terms = term_tasks()
    unknown = [t for t in rewards if t not in terms]
    if unknown:
        raise ConfigError(f"{where}: rewards: unknown term(s) {', '.join(map(str, unknown))}; the terms are "
                          f"{', '.join(terms)}")
    weights = {}
    for term, weight in rewards.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise ConfigError(f"{where}: rewards: {term}: weight {weight!r} must be a number >= 0")
        weights[term] = float(weight)
    if not any(weights.values()):
        raise ConfigError(f"{where}: rewards: every weight is 0; nothing would be learned")
    if tasks_in_data is None:
        return weights
    present = sorted(tasks_in_data)
    for term in weights:
        if not set(terms[term]) & set(present):
            raise ConfigError(f"{where}: rewards: {term} fits {', '.join(terms[term])}, but the training data has "
                              f"only {', '.join(present)}; remove it, or use task / format (every task)")
    for name in present:
        if not any(w and name in terms[t] for t, w in weights.items()):
            raise ConfigError(f"{where}: rewards: the {tasks_in_data[name]} {name} record(s) of the training data "
                              f"get no reward from {', '.join(weights)}; add task (every task's own score) or a "
                              f"term {name} takes")
    return weights


class TermReward:
    """One reward term as TRL calls a reward function: the completions and the rows' columns as keywords.
    ``corpus``: the training references (CIDEr-D's document frequencies)."""

    def __init__(self, term: str, box_format: str, corpus: list[list[str]]):
        self.__name__ = term  # TRL names the term's log keys after it
        self.term, self.box_format, self.corpus = term, box_format, corpus
        self.tasks = set(term_tasks()[term])  # the tasks that take this term

    def __call__(self, completions, id, task, references, metadata, size, model_size, log_metric=None,
                 **_) -> list[float | None]:
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        values: list[float | None] = [None] * len(texts)
        by_task = defaultdict(list)
        for k, name in enumerate(task):
            if name in self.tasks:
                by_task[name].append(k)
        for name, indices in by_task.items():
            samples = [sample_of({"prediction": texts[k], "references": references[k], "metadata": metadata[k],
                                  "id": id[k]}, size[k] and tuple(size[k]), self.box_format,
                                 model_size[k] and tuple(model_size[k])) for k in indices]
            for k, value in zip(indices, TASKS[name].reward(self.term, samples, self.corpus)):
                values[k] = value
        if log_metric is not None:  # every rank scores at once: a prompt's completions may sit on several
            pairs = gathered(list(zip(id, values)))
            log_metric(f"rewards/{self.term}/zero_std_groups",
                       zero_std_share([i for i, _ in pairs], [v for _, v in pairs]))
        return values


def gathered(items: list) -> list:
    """``items`` of every process, in rank order (this process's alone when there is one)."""
    import torch

    if not (torch.distributed.is_available() and torch.distributed.is_initialized()
            and torch.distributed.get_world_size() > 1):
        return items
    parts: list = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(parts, items)
    return [item for part in parts for item in part]


def zero_std_share(ids: list[str], values: list[float | None]) -> float:
    """The share of prompts (runs of one id: TRL puts a prompt's completions together) whose completions all
    got the same value of this term."""
    groups: dict[str, list[float]] = defaultdict(list)
    for i, value in zip(ids, values):
        if value is not None:
            groups[i].append(value)
    judged = [v for v in groups.values() if len(v) > 1]
    return sum(max(v) - min(v) < 1e-9 for v in judged) / len(judged) if judged else 0.0


def reward_functions(weights: dict[str, float], box_format: str, corpus: list[list[str]]
                     ) -> tuple[list[TermReward], list[float]]:
    """TRL's reward_funcs and reward_weights for ``weights``."""
    return [TermReward(term, box_format, corpus) for term in weights], list(weights.values())
