"""Captions written from the true change events (the change_caption task reads them back: tasks/change_caption.py)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..data.template import SYSTEMS
from ..tasks.change_caption import EVENT_TYPES, NUMBER_WORDS, QUADRANTS

PROMPTS = [
    "<video>\nDescribe the changes in this area over time.",
    "<video>\nWhat changed in this location between the first and the last image?",
    "<video>\nSummarize the land-cover changes visible across these satellite images.",
]


@dataclass(frozen=True)
class Event:
    type: str
    count: int  # buildings for construction / demolition, 1 otherwise, 0 for "none"
    quadrant: str | None  # None for "none"
    frame: int  # first frame that shows the change (0 for "none")
    date_before: str  # last date before the change (for "none": the first date)
    date_after: str  # first date that shows it (for "none": the last date)

    def to_json(self) -> dict:
        return asdict(self)


_TEMPLATES = {
    "construction": [
        "{N} new {buildings} {were} constructed in the {q} part of the area between {d0} and {d1}.",
        "Between {d0} and {d1}, {n} new {buildings} {were} built in the {q} quadrant.",
        "In the {q} quadrant, {n} new {buildings} {were} erected between {d0} and {d1}.",
    ],
    "demolition": [
        "{N} {buildings} in the {q} part of the area {were} demolished between {d0} and {d1}.",
        "Between {d0} and {d1}, {n} {buildings} {were} torn down in the {q} quadrant.",
        "In the {q} quadrant, {n} {buildings} {were} demolished between {d0} and {d1}, leaving bare ground.",
    ],
    "road": [
        "A new road was built across the {q} part of the area between {d0} and {d1}.",
        "Between {d0} and {d1}, a road was paved through the {q} quadrant.",
        "In the {q} quadrant, a new road segment appeared between {d0} and {d1}.",
    ],
    "deforestation": [
        "Vegetation in the {q} part of the area was cleared between {d0} and {d1}.",
        "Between {d0} and {d1}, a patch of trees was cut down in the {q} quadrant.",
        "In the {q} quadrant, the vegetation was removed between {d0} and {d1}, exposing bare soil.",
    ],
    "water_growth": [
        "The water body in the {q} part of the area expanded between {d0} and {d1}.",
        "Between {d0} and {d1}, the lake in the {q} quadrant grew larger.",
        "In the {q} quadrant, the water area increased between {d0} and {d1}.",
    ],
    "water_shrink": [
        "The water body in the {q} part of the area shrank between {d0} and {d1}.",
        "Between {d0} and {d1}, the lake in the {q} quadrant became smaller.",
        "In the {q} quadrant, the water area decreased between {d0} and {d1}.",
    ],
    "none": [
        "No significant change is visible between {d0} and {d1}.",
        "The area remains unchanged from {d0} to {d1}.",
        "Between {d0} and {d1}, nothing in the area changed.",
    ],
}


def describe(event: Event, rng: np.random.Generator) -> str:
    """One caption for ``event``, in one of several wordings."""
    template = _TEMPLATES[event.type][rng.integers(len(_TEMPLATES[event.type]))]
    number = NUMBER_WORDS[event.count] if event.count < len(NUMBER_WORDS) else str(event.count)
    return template.format(N=number.capitalize(), n=number, q=event.quadrant,
                           buildings="building" if event.count == 1 else "buildings",
                           were="was" if event.count == 1 else "were", d0=event.date_before, d1=event.date_after)


def tokenizer_corpus(seed: int = 0):
    """Texts with the words our prompts, dates and synthetic captions use: what a tiny model's tokenizer is
    trained on (models/tiny.py takes it as an argument)."""
    rng = np.random.default_rng(seed)
    yield SYSTEMS["llava_v1"]  # the sentence the tiny tokenizers were first trained with: kept, so they stay the same
    yield from PROMPTS
    for year in range(2010, 2031):
        yield " ".join(f"Frame {i} ({year}-{m:02d}-{d:02d})" for i, (m, d) in enumerate([(1, 9), (5, 17), (12, 28)]))
    for _ in range(3000):
        event_type = EVENT_TYPES[rng.integers(len(EVENT_TYPES))]
        quadrant = None if event_type == "none" else QUADRANTS[rng.integers(4)]
        count = 0 if quadrant is None else int(rng.integers(1, 4))
        date = f"20{rng.integers(14, 25)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}"
        yield "USER: " + describe(Event(event_type, count, quadrant, 1, date, date), rng) + " ASSISTANT:"
