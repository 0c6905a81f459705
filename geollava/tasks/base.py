"""What a task is: one entry that says, in one place, everything the suite does differently for it.

    media            "image" (one image), "frames" (two or more frames, or a video, of one place) or "any"
    problems()       the record checks of its fields (`data check`, the loader, predict)
    question()       a question as trained, from what a user types (`predict --question`, the demo)
    parse()          an answer → a structured Answer (its class or words, its boxes; whether it parsed)
    score()          the per-sample score of one prediction — the same function a reward-based trainer calls
    reward()         its reward terms for GRPO: "task" (its reward_key), "format" and those `rewards` names
    aggregate()      per-sample scores → the task's entry of metrics.json
    columns          its report columns; card: which texts hold the boxes drawn on its card
    synthesize()     its synthetic generator, when it has one (`data synth --tasks`)

A task module defines one subclass of Task and `TASK = TheClass()`; the registry (tasks/__init__.py) finds it.
Generic code names no task: it asks the registry. (A converter of one benchmark imports the entries of the tasks
that benchmark has.)
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from ..geometry.boxes import Box, BoxError, parse_boxes

Problem = tuple[str, str, str]  # (code, message, fix), as the record checks report them


@dataclass
class Sample:
    """One prediction to score, with what its record says."""
    prediction: str
    references: list[str]
    metadata: dict = field(default_factory=dict)
    size: tuple[int, int] | None = None  # (width, height) of the image, for box tasks; None: a square grid
    question: str = ""
    id: str = ""
    box_format: str = "geochat"  # how the prediction writes boxes (geometry/box_formats.py); references: GeoChat's
    model_size: tuple[int, int] | None = None  # (width, height) the model's processor resized the image to

    @property
    def reference(self) -> str:
        return self.references[0]


@dataclass
class Answer:
    """An answer as the task reads it."""
    text: str  # as written, cleaned of nothing but surrounding space
    label: str | None = None  # a class or short answer, normalised as the task compares them
    boxes: list[Box] = field(default_factory=list)  # on the 0-100 grid of the image
    parsed: bool = True  # whether it is well-formed in the task's format (the format reward)


@dataclass
class ScoreOptions:
    """How corpus metrics are computed (eval.py's options)."""
    meteor: bool = True
    tokenizer: str = "auto"  # caption tokenizer: auto | ptb | simple
    sbert_model: str | None = None
    box_format: str = "geochat"  # how the predictions write boxes (geometry/box_formats.py)


def normalise_answer(text: str) -> str:
    """GeoChat's rule for class and short answers: lower case, spaces and periods removed."""
    return text.replace(" ", "").lower().replace(".", "")


PARTS = ("problems", "metadata_for", "question", "reword", "parse", "score", "reward", "aggregate", "card_boxes",
         "synthesize")  # what an entry may define; the ones it does not, it names in `inherits`


class Task:
    name: str = ""
    reference: str = ""  # the code its scores follow (repository and file): metrics.json and the report say it
    inherits: tuple[str, ...] = ()  # the PARTS it takes from this class as they are (tests/tasks/test_registry.py)
    media: str = "image"  # "image", "frames" or "any"
    summary: str = ""
    title: str = ""  # how headings name it (default: its name)
    order: int = 100  # where it stands in tables and lists
    default: bool = False  # the task of a record that names none
    # The question as trained: a task tag the question starts with (GeoChat's [refer], ...), the form a user's
    # text goes into ("{}" for the text), the question asked when a user gives none, and what --question means
    tag: str | None = None
    question_form: str = "{}"
    default_question: str | None = None
    question_help: str = "the question"
    asks_checkpoint_question: bool = False  # with no question, ask the one the checkpoint was trained with
    reward_key: str = "score"  # the per-sample value (0..1) a reward-based trainer maximises
    rewards: dict[str, str] = {}  # reward terms besides "task" and "format": term -> the score() key it reads
    columns: list[tuple[str, str]] = []  # (metrics key, header); "group.*" = one column per entry of a group
    group_key: str | None = None  # metadata key whose values group the scores (VQA's question_type)
    max_new_tokens: int = 128  # decoding budget at evaluation
    needs_image_size: bool = False  # its scores depend on the image's size (rotated boxes on the 0-100 grid)
    example: dict = {}  # {"question", "answer", "metadata", "wrong"}: a sample the registry test round-trips

    # -- records ---------------------------------------------------------------------------------------------
    def problems(self, metadata: dict, questions: list[str], answers: list[str]) -> list[Problem]:
        """(code, message, fix) for each way the record's task fields are wrong; nothing for a valid record."""
        return []

    def claims(self, questions: list[str], answers: list[str]) -> bool:
        """Whether an instruction record that names no task is this task's (GeoChat_Instruct): by its tag."""
        return bool(self.tag) and any(self.tag in q for q in questions)

    def metadata_for(self, question: str) -> dict:
        """The metadata a one-off question of this task needs to pass its checks (predict, the demo)."""
        return {}

    # -- prompts ---------------------------------------------------------------------------------------------
    def question(self, text: str | None) -> str | None:
        """A question as trained, from what a user gives: ``text`` into the task's form, unless it already starts
        with the task's tag; the task's default question when there is no text; None when it needs one."""
        text = (text or self.default_question or "").strip()
        if not text:
            return None
        return text if self.tag and text.startswith(self.tag) else self.question_form.format(text)

    def reword(self, question: str, box_format: str, size) -> str:
        """The question as a model that writes boxes in ``box_format`` is asked it zero-shot (its own convention;
        ``size``: geometry/box_formats.ImageSize of the image). Tasks without boxes ask as trained."""
        return question

    # -- answers ---------------------------------------------------------------------------------------------
    def parse(self, text: str) -> Answer:
        return Answer(text.strip())

    def score(self, sample: Sample) -> dict:
        """Per-sample scores of one prediction; ``reward_key`` among them, in 0..1."""
        raise NotImplementedError

    def reward(self, term: str, samples: list[Sample], corpus: list[list[str]] | None = None
               ) -> list[float | None]:
        """One reward (0..1) per sample for ``term``: "task" is the task's own score (``reward_key``), "format"
        whether the answer is well-formed in the task's format, any other a ``rewards`` entry; None where the
        term does not apply to a sample. ``corpus``: the training references (CIDEr's document frequencies)."""
        if term == "format":
            return [float(self.well_formed(s)) for s in samples]
        key = self.reward_key if term == "task" else self.rewards[term]
        return [self.score(s).get(key) for s in samples]

    def reward_problem(self, term: str, metadata: list[dict]) -> str | None:
        """Why ``term`` would give no reward on records with these ``metadata`` (e.g. fields it needs that none
        has), or None: checked against the training data before any model loads."""
        return None

    def well_formed(self, sample: Sample) -> bool:
        """Whether the prediction parses in the task's format (the format reward)."""
        return self.parse(sample.prediction).parsed

    def aggregate(self, samples: list[Sample], options: ScoreOptions) -> tuple[dict, list[dict]]:
        """(the task's entry of metrics.json, one score dict per sample in order)."""
        per_sample = [self.score(s) for s in samples]
        return {"samples": len(samples), **means(per_sample, [self.reward_key])}, per_sample

    # -- report ----------------------------------------------------------------------------------------------
    def card_boxes(self, question: str, row: dict) -> tuple[str, str]:
        """(text whose boxes are the reference's, text whose boxes are the prediction's) on a task card."""
        return row["references"][0], row["prediction"]

    # -- synthetic data --------------------------------------------------------------------------------------
    def synthesize(self, rng, scene) -> tuple[str, str, dict] | None:
        """(question, answer, metadata) about a synthetic scene (synthetic/tasks.py: an image's objects;
        for a frames task, a change's event), or None when the task has no generator."""
        return None

    @property
    def synthetic(self) -> bool:
        return type(self).synthesize is not Task.synthesize


# -- pieces the entries share ----------------------------------------------------------------------------------

def means(per_sample: list[dict], keys: list[str]) -> dict:
    """The mean of each key over the samples that have it."""
    out = {}
    for key in keys:
        values = [s[key] for s in per_sample if key in s]
        out[key] = sum(values) / len(values) if values else 0.0
    return out


def grouped_accuracy(samples: list[Sample], per_sample: list[dict], group_key: str) -> dict:
    """Accuracy per value of ``metadata[group_key]`` and their mean (GeoChat's and RSVQA's tables average so)."""
    groups: dict[str, list[float]] = defaultdict(list)
    for s, out in zip(samples, per_sample):
        groups[str(s.metadata.get(group_key, "?"))].append(out["correct"])
    per = {g: sum(v) / len(v) for g, v in sorted(groups.items())}
    return {"per_type": per, "average": sum(per.values()) / len(per) if per else 0.0}


def box_problems(text: str, where: str, fix: str) -> list[Problem]:
    try:
        boxes = parse_boxes(text)
    except BoxError as e:
        return [("bad_box", f"{where}: {e}", fix)]
    return [] if boxes else [("missing_box", f"{where} has no box: {text[:60]!r}", fix)]


def needs_metadata(metadata: dict, key: str, task: str, fix: str) -> list[Problem]:
    value = metadata.get(key)
    if isinstance(value, str) and value:
        return []
    return [(f"missing_{key}", f"a {task} record needs metadata.{key}", fix)]
