"""multiple_choice — pick the right option: a record holds the question as its benchmark words it (options and
instruction included), the option texts in order (`metadata.options`, lettered A, B, C, ...) and the answer's
letter (several letters, "AC", where a benchmark has several right options); `metadata.category` groups the scores
(a benchmark's task or subtask). One image or several frames (a change question) alike.

An answer is read as its benchmark's own code reads it (`metadata.benchmark`), so the numbers compare with its
table:
  (none)        VLMEvalKit's generic matcher without a judge (vlmeval/utils/matching_util.py, can_infer): a letter
                standing alone among the last four words ("C", "(C)", "C. airport", "The answer is C."), else the
                one option whose text the answer holds ("airport"); anything else is unparsed, and wrong
  xlrs          lmms-eval's xlrs-lite task and VLMEvalKit's XLRSBench alike (lmms_eval/tasks/xlrs/mcq_utils.py,
                extract_characters_regex; vlmeval/dataset/image_mcq.py, XLRSBench): every letter A-E found — in
                parentheses if any, else anywhere, even inside words — must equal the answer's set; micro accuracy
                and the macro mean of its 13 subtasks (lmms-eval's: all 13, an absent one 0; VLMEvalKit's: those
                present)
  geobench_vlm  GEOBench-VLM's inference scripts (e.g. llava1pt5_cls_single.py): the reply's first character, when
                it is A-E; its headline is the mean of the per-task accuracies (an unreadable reply, which its
                scripts drop, counts as wrong here)
Its per-sample score (`correct`) is GRPO's reward.
"""
from __future__ import annotations

import re
import string
from collections import defaultdict

from .base import Answer, Sample, ScoreOptions, Task
from .scene import SYNTHETIC_CLASSES

LETTERS = string.ascii_uppercase
PROTOCOLS = {
    None: ("VLMEvalKit's generic multiple-choice matcher, no judge", "open-compass/VLMEvalKit "
           "vlmeval/utils/matching_util.py (can_infer)"),
    "xlrs": ("lmms-eval's xlrs-lite = VLMEvalKit's XLRSBench, exact matching", "EvolvingLMMs-Lab/lmms-eval "
             "lmms_eval/tasks/xlrs/mcq_utils.py (extract_characters_regex, xlrs_aggregate_results)"),
    "geobench_vlm": ("GEOBench-VLM's first-letter rule", "The-AI-Alliance/GEO-Bench-VLM "
                     "llava1pt5_cls_single.py (predicted_answer = response[0])"),
}
# lmms-eval's TASK_PAIRs: the 13 subtasks its macro score averages, an absent one counting 0
XLRS_SUBTASKS = (
    "Complex reasoning/Anomaly Detection and Interpretation", "Complex reasoning/Environmental condition reasoning",
    "Complex reasoning/Route planning", "Counting/Counting with changing detection",
    "Counting/Counting with complex reasoning", "Counting/Overall counting", "Counting/Regional counting",
    "Land use classification/Overall Land use classification",
    "Land use classification/Regional Land use classification", "Object properties/Object classification",
    "Object properties/Object color", "Object properties/Object motion state",
    "Object spatial relationship/Object spatial relationship")
COUNT_RANGES = ["none", "1 to 2", "3 to 4", "5 or more"]
INSTRUCTION = "Answer with the option's letter from the given choices directly."  # LLaVA-1.5's MC instruction


def lettered(options: list[str]) -> str:
    return "\n".join(f"{LETTERS[i]}. {text}" for i, text in enumerate(options))


def options_in(question: str) -> list[str]:
    """The options a question lists, one per line as "A. text" or "(A) text"; [] when it lists none."""
    found = re.findall(r"^\s*\(?([A-Z])[.)]\s*(.+?)\s*$", question, flags=re.M)
    letters = [letter for letter, _ in found]
    return [text for _, text in found] if letters == list(LETTERS[:len(letters)]) and len(letters) >= 2 else []


# -- each benchmark's reading of an answer -----------------------------------------------------------------------

REFUSALS = ("Sorry, I can't help with images of people yet.", "I can't process this file.",
            "I'm sorry, but without the image provided", "Cannot determine the answer")


def words_of(answer: str) -> list[str]:
    """The answer's words as can_infer_option splits them (each of .()[],:;!*#{} a space)."""
    return re.sub(r"[.()\[\],:;!*#{}]", " ", answer).split()


def vlmevalkit_letter(answer: str, options: list[str]) -> str | None:
    """VLMEvalKit's can_infer without a judge: the option's letter, or None (its 'Z': scored wrong)."""
    if any(refusal in answer for refusal in REFUSALS):
        return None
    words = words_of(answer)
    keys = LETTERS[:len(options)]
    if not any(k in words for k in keys) and "Z" in words:  # the answer says none of them
        return None
    return letter_named(answer, keys) or option_held(answer, options)


def letter_named(answer: str, keys: str) -> str | None:
    """can_infer_option: the one key standing alone among the last four words, else the letter after "(correct)
    answer is"."""
    words = words_of(answer)
    named = [k for k in keys if k in words]
    if len(named) == 1 and words.index(named[0]) > len(words) - 5:
        return named[0]
    stated = re.search(r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**", answer)
    return stated.group(1).upper() if stated and stated.group(1).upper() in keys else None


def option_held(answer: str, options: list[str]) -> str | None:
    """can_infer_text: the one option whose text the answer holds (lower case), unless the answer is long."""
    lower = answer.lower()
    if len(lower) > 2 * sum(len(o) for o in options):
        return None
    holding = [k for k, text in zip(LETTERS, options) if text.lower() in lower]
    return holding[0] if len(holding) == 1 else None


XLRS_PREFIXES = ("The best answer is", "The correct answer is", "The answer is", "The answer",
                 "The best option isThe correct option is", "Best answer:Best option:")  # the last two as written


def xlrs_letters(answer: str) -> str:
    """lmms-eval's and VLMEvalKit's XLRS extractor, quirks kept: the sorted set of letters A-E it finds."""
    s = answer.strip()
    for prefix in XLRS_PREFIXES:
        s = s.replace(prefix, "")
    if not re.search(r"[ABCDE]", s):
        return ""
    found = re.findall(r"\(([a-eA-E])\)", s) or re.findall(r"(?:^|\s)?([a-eA-E])(?:$|[\s,.])?", s)
    return "".join(sorted({letter.upper() for letter in found}))


def geobench_letter(answer: str) -> str | None:
    """GEOBench-VLM's scripts: the reply after "ASSISTANT:", its first character when it is A-E."""
    if "ASSISTANT:" in answer:
        answer = answer.split("ASSISTANT:")[-1].strip()
    return answer[0] if answer and answer[0] in "ABCDE" else None


def chosen(sample: Sample) -> str:
    """The letters an answer chooses as its benchmark reads it ("" when unreadable)."""
    benchmark, options = sample.metadata.get("benchmark"), sample.metadata.get("options") or []
    if benchmark == "xlrs":
        return xlrs_letters(sample.prediction)
    if benchmark == "geobench_vlm":
        return geobench_letter(sample.prediction) or ""
    return vlmevalkit_letter(sample.prediction, options) or ""


class MultipleChoice(Task):
    name = "multiple_choice"
    reference = "each benchmark's own matcher (metrics.json: protocols)"
    inherits = ("question", "reword", "reward", "card_boxes")
    media = "any"
    summary = "pick the right option(s); `metadata.options` lists them, the answer is the letter"
    order = 15
    title = "multiple choice"
    question_help = "the question with its options, one per line: 'Which class is it?\\nA. forest\\nB. lake'"
    reward_key = "correct"
    columns = [("accuracy", "accuracy"), ("category_mean", "category mean"), ("unparsed", "unparsed"),
               ("per_category.*", "")]
    max_new_tokens = 16
    example = {"question": f"Which class is this image?\n{lettered(['forest', 'lake', 'farmland'])}\n{INSTRUCTION}",
               "answer": "C", "metadata": {"options": ["forest", "lake", "farmland"], "category": "scene"},
               "wrong": "A"}

    def problems(self, metadata, questions, answers):
        options = metadata.get("options")
        if not (isinstance(options, list) and 2 <= len(options) <= len(LETTERS)
                and all(isinstance(o, str) and o.strip() for o in options)):
            return [("missing_options", "a multiple_choice record needs metadata.options, the list of its 2 to 26 "
                     "option texts in letter order", "set metadata.options to the options, A first")]
        keys = LETTERS[:len(options)]
        return [("answer_not_an_option", f"multiple_choice answer {a!r} is not one or more of the letters {keys}",
                 "answer with the right option's letter (several, e.g. 'AC', where several are right)")
                for a in answers if not_letters(a.strip(), keys)]

    def metadata_for(self, question: str) -> dict:
        return {"options": options_in(question)}

    def parse(self, text: str) -> Answer:
        """Without its options: a letter as VLMEvalKit reads one (the score reads the option texts too)."""
        letter = letter_named(text, LETTERS[:5])
        return Answer(text.strip(), letter, parsed=letter is not None)

    def well_formed(self, sample: Sample) -> bool:
        return bool(chosen(sample))

    def score(self, sample: Sample) -> dict:
        letters = chosen(sample)
        right = "".join(sorted(sample.reference.strip().upper()))
        return {"correct": float(bool(letters) and "".join(sorted(letters)) == right), "parsed": float(bool(letters)),
                "chosen": letters}

    def aggregate(self, samples: list[Sample], options: ScoreOptions) -> tuple[dict, list[dict]]:
        per_sample = [self.score(s) for s in samples]
        summary = accuracies(samples, per_sample)
        summary["protocols"] = {}
        for benchmark in sorted({s.metadata.get("benchmark") for s in samples}, key=str):
            mine = [i for i, s in enumerate(samples) if s.metadata.get("benchmark") == benchmark]
            entry = accuracies([samples[i] for i in mine], [per_sample[i] for i in mine])
            name, reference = PROTOCOLS.get(benchmark, PROTOCOLS[None])
            entry.update(protocol=name, reference=reference)
            if benchmark == "xlrs":
                present = entry["per_category"]
                entry["macro_lmms_eval"] = sum(present.get(t, 0.0) for t in XLRS_SUBTASKS) / len(XLRS_SUBTASKS)
                entry["macro_vlmevalkit"] = entry["category_mean"]
            summary["protocols"][benchmark or "generic"] = entry
        return summary, per_sample

    def synthesize(self, rng, scene):
        """A scene class among four options, or how many buildings, in ranges."""
        if rng.random() < 0.5:
            others = [c for c in SYNTHETIC_CLASSES if c != scene.label]
            options = [scene.label, *(str(c) for c in rng.choice(others, 3, replace=False))]
            rng.shuffle(options)
            question, right, category = "Which land-cover class dominates this image?", scene.label, "scene"
        else:
            count = sum(t.kind == "building" for t in scene.things)
            options = list(COUNT_RANGES)
            right = options[0 if count == 0 else 1 if count <= 2 else 2 if count <= 4 else 3]
            question, category = "How many buildings are in this image?", "counting"
        answer = LETTERS[options.index(right)]
        return (f"{question}\n{lettered(options)}\n{INSTRUCTION}", answer,
                {"options": options, "category": category})


def not_letters(answer: str, keys: str) -> bool:
    """Whether an answer is not one or more distinct option letters."""
    return not answer or bool(set(answer) - set(keys)) or len(set(answer)) != len(answer)


def accuracies(samples: list[Sample], per_sample: list[dict]) -> dict:
    """Accuracy over all questions, per category and the mean of the categories, and the unparsed answers."""
    groups: dict[str, list[float]] = defaultdict(list)
    for s, out in zip(samples, per_sample):
        groups[str(s.metadata.get("category", "all"))].append(out["correct"])
    per = {g: sum(v) / len(v) for g, v in sorted(groups.items())}
    return {"samples": len(samples), "accuracy": sum(o["correct"] for o in per_sample) / max(len(per_sample), 1),
            "per_category": per, "category_mean": sum(per.values()) / len(per) if per else 0.0,
            "unparsed": int(sum(1 - o["parsed"] for o in per_sample))}


TASK = MultipleChoice()
