"""change_caption — what changed across the frames of one place (GeoLLaVA's fMoW pairs, LEVIR-CC, TEOChat, the
synthetic change videos). The task of every record that names none.

Scored with every metric of the published tables, each computed as its reference implementation does:
  coco       pycocoevalcap BLEU-1..4, METEOR, ROUGE-L, CIDEr(-D) over PTB-tokenised text (metrics/coco.py)
  geollava   GeoLLaVA's ROUGE-1/2/L, BLEU-2 and SBERT cosine (metrics/paper.py)
  events     where the references carry their true change events (the synthetic sets' `metadata.events`): does
             the caption name the right change type, count and quadrant? CIDEr alone can be raised by copying
             the dates from the prompt without looking at a pixel; the event score cannot.
The per-sample score (the reward) is the event score where events are known, else ROUGE-L against the references.

Change-aware: a model that answers "no change" to most pairs scores well on the unchanged half of LEVIR-CC. Where
the records say whether their pair changed (LEVIR-CC's `changeflag`, the synthetic events, RSCC's disaster
pairs), `change_split` scores the changed and the unchanged pairs apart, gives the mean of the two, and the
accuracy of telling change from no change (a caption that says nothing changed, in the words of LEVIR-CC's and
the synthetic sets' captions, claims no change).
"""
from __future__ import annotations

import re

from .base import Sample, ScoreOptions, Task

QUADRANTS = ("north-west", "north-east", "south-west", "south-east")
EVENT_TYPES = ("construction", "demolition", "road", "deforestation", "water_growth", "water_shrink", "none")
COUNTED_TYPES = ("construction", "demolition")  # the only types whose count a caption states
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six")

# Order matters: the first pattern that matches decides the type.
_TYPE_PATTERNS = [
    ("none", r"\b(no (significant |visible )?change|unchanged|nothing (in the area )?changed)\b"),
    ("road", r"\broads?\b"),
    ("deforestation", r"\b(vegetation|trees?|forest)\b"),
    ("water_growth", r"\b(water|lake)\b.*\b(expanded|grew|increased|larger)\b"),
    ("water_shrink", r"\b(water|lake)\b.*\b(shrank|decreased|smaller|receded)\b"),
    ("demolition", r"\b(demolished|torn down|removed)\b"),
    ("construction", r"\b(constructed|built|erected)\b"),
]
_QUADRANT_PATTERN = re.compile(r"\b(north|south)[- ]?(west|east)\b")
_COUNT_PATTERN = re.compile(r"\b(" + "|".join(NUMBER_WORDS) + r"|\d+)\s+(new\s+)?buildings?\b")
_CAPTION_KEYS = ("Bleu_1", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr")
_NO_CHANGE = re.compile(r"\b(same as before|no (significant |visible |obvious )?(change|difference)s?|unchanged|"
                        r"nothing (in the area )?(has )?changed|(remains?|is|are|looks?|seems?) the same|"
                        r"(are|look|seem) (almost )?identical)\b")
_CHANGE_WORDS = re.compile(r"\b(built|constructed|erected|appear(s|ed)?|demolished|removed|torn down|added|"
                           r"replaced|turned into|became|becomes|new)\b")


def says_no_change(caption: str) -> bool:
    """Whether a caption claims that nothing changed (LEVIR-CC's "the scene is the same as before", ours) and
    names no change besides ("the road remains the same while houses are built" is a change)."""
    text = caption.lower()
    return bool(_NO_CHANGE.search(text)) and not _CHANGE_WORDS.search(text)


def changed(metadata: dict) -> bool | None:
    """Whether a record's pair changed, where the record says: LEVIR-CC's changeflag, the synthetic events, a
    benchmark's own `changed`; None where it does not."""
    if "changeflag" in metadata and metadata["changeflag"] is not None:
        return bool(int(metadata["changeflag"]))
    if "changed" in metadata:
        return bool(metadata["changed"])
    if "events" in metadata:
        return bool(metadata["events"])
    return None


def read_event(text: str) -> dict:
    """The change type, count and quadrant a caption states (None where it states none); lenient about
    wording, strict about content."""
    lowered = text.lower()
    change_type = next((name for name, pattern in _TYPE_PATTERNS if re.search(pattern, lowered)), None)
    quadrant = _QUADRANT_PATTERN.search(lowered)
    count = _COUNT_PATTERN.search(lowered)
    return {"type": change_type, "count": _number(count.group(1)) if count else None,
            "quadrant": f"{quadrant.group(1)}-{quadrant.group(2)}" if quadrant else None}


def _number(word: str) -> int:
    return int(word) if word.isdigit() else NUMBER_WORDS.index(word)


def event_score(events: list[dict], prediction: str) -> dict:
    """Per sample: `type` (the change type, "none" included), `count` (construction / demolition only),
    `quadrant` (any change but "none"), and `score` = 1 when every field that applies is right."""
    truth = events[0] if events else {"type": "none", "count": 0, "quadrant": None}
    said = read_event(prediction)
    scores = {"type": float(said["type"] == truth["type"])}
    if truth["type"] in COUNTED_TYPES:
        scores["count"] = float(said["count"] == truth["count"])
    if truth["type"] != "none":
        scores["quadrant"] = float(said["quadrant"] == truth["quadrant"])
    scores["score"] = float(all(scores.values()))
    return scores


def event_scores(truths: dict[str, list[dict]], predictions: dict[str, str]) -> tuple[dict, dict[str, dict]]:
    """The event score of every prediction, and its means over the samples each field applies to."""
    per_sample = {i: event_score(truths[i], prediction) for i, prediction in predictions.items()}
    corpus = {}
    for key in ("score", "type", "count", "quadrant"):
        values = [s[key] for s in per_sample.values() if key in s]
        corpus[key] = sum(values) / len(values) if values else None
    corpus["samples"] = len(per_sample)
    return corpus, per_sample


def caption_scores(references: dict[str, list[str]], predictions: dict[str, str], events: dict[str, list] | None = None,
                   options: ScoreOptions | None = None) -> tuple[dict, dict]:
    """Every caption metric, corpus and per sample; the event score added when ``events`` maps ids to them."""
    from ..metrics.coco import coco_scores
    from ..metrics.paper import paper_scores

    options = options or ScoreOptions()
    missing = [i for i in predictions if not references.get(i)]
    if missing:
        raise ValueError(f"{len(missing)} predictions have no reference caption (first: {missing[:3]})")
    corpus, per_sample = coco_scores(references, predictions, options.meteor, options.tokenizer)
    corpus = {"coco": corpus}
    corpus["geollava"], paper = paper_scores(references, predictions, options.sbert_model)
    for i, values in paper.items():
        per_sample[i].update({f"geollava_{k}": v for k, v in values.items()})
    if events is not None:
        corpus["events"], per_event = event_scores(events, predictions)
        for i, values in per_event.items():
            per_sample[i].update({f"event_{k}": v for k, v in values.items()})
    corpus["samples"] = len(predictions)
    corpus["empty_predictions"] = sum(1 for p in predictions.values() if not p.strip())
    return corpus, per_sample


def change_split(samples: list[Sample], rows: list[dict], options: ScoreOptions) -> dict | None:
    """The caption metrics of the changed and the unchanged pairs apart (each scored on its own, as LEVIR-CC's
    PromptCC reports them), the mean of the two, and how often the caption tells change from no change. None
    unless every sample says whether it changed and both kinds are present."""
    flags = [changed(s.metadata) for s in samples]
    if any(f is None for f in flags) or len(set(flags)) < 2:
        return None
    split = {}
    for name, flag in (("changed", True), ("unchanged", False)):
        part = [s for s, f in zip(samples, flags) if f == flag]
        ids = [str(k) for k in range(len(part))]
        split[name], _ = caption_scores({i: s.references for i, s in zip(ids, part)},
                                        {i: s.prediction for i, s in zip(ids, part)}, None, options)
    split["mean"] = {group: {k: (v + split["unchanged"][group][k]) / 2 for k, v in split["changed"][group].items()
                             if isinstance(v, (int, float)) and isinstance(split["unchanged"][group].get(k), (int, float))}
                     for group in ("coco", "geollava")}
    right = [says_no_change(s.prediction) != f for s, f in zip(samples, flags)]
    for row, hit in zip(rows, right):
        row["change_detected"] = float(hit)
    split.update(detection_accuracy=sum(right) / len(right), changed_samples=flags.count(True),
                 unchanged_samples=flags.count(False))
    return split


_CIDER: dict[int, object] = {}


def _corpus_cider(corpus: list[list[str]]):
    """The CorpusCider of a training run's references, built once (a run passes the same list at every step)."""
    if id(corpus) not in _CIDER:
        _CIDER.clear()
        _CIDER[id(corpus)] = _cider_of(corpus)
    return _CIDER[id(corpus)]


def _cider_of(corpus: list[list[str]]):
    from ..metrics.coco import CorpusCider

    return CorpusCider(corpus)


def best_rouge_l(sample: Sample) -> float:
    """GeoLLaVA's ROUGE-L F (rouge_score, stemmed) against the best of the references."""
    from .answers import _rouge

    return max(_rouge().score(r, sample.prediction)["rougeL"].fmeasure for r in sample.references)


class ChangeCaption(Task):
    name = "change_caption"
    reference = ("pycocoevalcap (BLEU, METEOR, ROUGE-L, CIDEr-D); HosamGen/GeoLLaVA eval_metrics.py (ROUGE, "
                 "BLEU-2, SBERT)")
    inherits = ("problems", "metadata_for", "question", "reword", "parse", "card_boxes", "synthesize")
    media = "frames"
    summary = "what changed across the frames (the default)"
    order = 0
    default = True
    question_help = "the question (default: the one the checkpoint was trained with)"
    asks_checkpoint_question = True
    max_new_tokens = 350  # GeoLLaVA's evaluation budget (MAX_LENGTH): its captions describe both images
    columns = [*((f"coco.{k}", k) for k in _CAPTION_KEYS),
               *((f"geollava.{k}", f"GeoLLaVA {k}") for k in ("rouge1", "rouge2", "rougeL", "bleu2", "sbert")),
               ("events.score", "event score"), ("events.type", "event type"), ("events.count", "event count"),
               ("events.quadrant", "event place"), ("change_split.detection_accuracy", "change detected"),
               ("change_split.changed.coco.CIDEr", "CIDEr changed"),
               ("change_split.unchanged.coco.CIDEr", "CIDEr unchanged"),
               ("change_split.mean.coco.CIDEr", "CIDEr mean of both")]
    example = {"question": "<video>\nWhat changed in this area?",
               "answer": "Two new buildings were constructed in the north-east part of the area.",
               "metadata": {"events": [{"type": "construction", "count": 2, "quadrant": "north-east"}]},
               "wrong": "The lake in the south-west quadrant grew larger."}

    rewards = {"event_score": "", "event_fields": "", "rougeL": "", "cider": ""}  # see reward()

    def score(self, sample: Sample) -> dict:
        if "events" in sample.metadata:
            return event_score(sample.metadata["events"], sample.prediction)
        return {"score": best_rouge_l(sample)}

    def reward(self, term, samples, corpus=None):
        """"event_score": 1 when the caption names the true change's type, count and place (records with
        events, else None); "event_fields": the share of those it names right; "rougeL": GeoLLaVA's ROUGE-L
        with the best reference; "cider": CIDEr-D / 10 with the training references' document frequencies."""
        if term in ("event_score", "event_fields"):
            scored = [event_score(s.metadata["events"], s.prediction) if "events" in s.metadata else None
                      for s in samples]
            if term == "event_score":
                return [None if e is None else e["score"] for e in scored]
            return [None if e is None else (sum(e.values()) - e["score"]) / (len(e) - 1) for e in scored]
        if term == "rougeL":
            return [best_rouge_l(s) for s in samples]
        if term == "cider":
            cider = _corpus_cider(corpus) if corpus else _cider_of([s.references for s in samples])
            return [min(v / 10, 1.0) for v in cider.scores([s.prediction for s in samples],
                                                            [s.references for s in samples])]
        return super().reward(term, samples, corpus)

    def reward_problem(self, term, metadata):
        if term in ("event_score", "event_fields") and not any("events" in m for m in metadata):
            return (f"{term} needs metadata.events (the true change: type, count, quadrant), and no change_caption "
                    "record has them; use rougeL or cider for captions without events")
        return None

    def aggregate(self, samples: list[Sample], options: ScoreOptions) -> tuple[dict, list[dict]]:
        ids = [str(k) for k in range(len(samples))]
        events = [s.metadata.get("events") for s in samples]
        corpus, per_sample = caption_scores({i: s.references for i, s in zip(ids, samples)},
                                            {i: s.prediction for i, s in zip(ids, samples)},
                                            dict(zip(ids, events)) if all(e is not None for e in events) else None,
                                            options)
        rows = [per_sample[i] for i in ids]
        for sample, row in zip(samples, rows):  # the reward: the event score where known, else the best ROUGE-L
            row["score"] = self.score(sample)["score"]
        split = change_split(samples, rows, options)
        if split:
            corpus["change_split"] = split
        rscc = [r["geollava_sbert"] for s, r in zip(samples, rows)
                if s.metadata.get("benchmark") == "rscc" and "geollava_sbert" in r]
        if rscc:  # RSCC's ST5-SCS: the mean of |cos|^3 (RSCC embeds with sentence-t5-xxl: give it as --sbert-model)
            corpus["rscc"] = {"st5_scs": sum(abs(v) ** 3 for v in rscc) / len(rscc), "samples": len(rscc),
                              "sbert_model": options.sbert_model}
        return corpus, rows


TASK = ChangeCaption()
