"""multiple_choice reads an answer as each benchmark's own code reads it. The expected letters below are what the
references' code returns on these answers (run on them, options A. airport, B. harbor, C. farmland, D. forest):
  lmms-eval 75571cfe, lmms_eval/tasks/xlrs/mcq_utils.py L55-81 extract_characters_regex (VLMEvalKit e8e78f05,
    vlmeval/dataset/image_mcq.py L2142-2169, XLRSBench, has the same function), scored set(pred) == set(answer)
  VLMEvalKit e8e78f05, vlmeval/utils/matching_util.py L18-127 can_infer (option, then text; no judge: Z = wrong)
  GEO-Bench-VLM bd07b001, llava1pt5_cls_single.py L169-175: response[0] when it is A-E
"""
import pytest

from geollava.tasks import TASKS, Sample, ScoreOptions
from geollava.tasks.multiple_choice import XLRS_SUBTASKS, geobench_letter, vlmevalkit_letter, xlrs_letters

OPTIONS = ["airport", "harbor", "farmland", "forest"]
TASK = TASKS["multiple_choice"]

# answer -> (lmms-eval / VLMEvalKit-XLRS letters, VLMEvalKit can_infer: None for False / Z)
REFERENCE = {
    "C": ("C", "C"), "(C)": ("C", "C"), "C.": ("C", "C"), "C. farmland": ("ACD", "C"), "(C) farmland": ("C", "C"),
    "The answer is C.": ("C", "C"), "The answer is (C).": ("C", "C"), "Answer: C": ("ACE", "C"),
    "The answer is: C": ("C", "C"), "The best option is C": ("BCE", "C"), "Best answer: C": ("ABCE", "C"),
    "**C**": ("C", "C"), "Option C": ("C", "C"), "It is C": ("C", "C"), "farmland": ("", "C"),
    "Farmland.": ("", "C"), "c. farmland": ("", "C"), "I think it's c": ("", None), "c": ("", None),
    "(c)": ("", None), "A or C": ("AC", None), "A C": ("AC", None), "AC": ("AC", None), "": ("", None),
    "E": ("E", None), "Z": ("", None), "The image shows an airport.": ("", "A"),
    "The correct answer is **B**. Here's why: ...": ("BE", "B"), "B) harbor": ("AB", "B"),
    "C is correct because the image shows green crops in rows.": ("ABCE", None),
    "The answer is C because the fields are green.": ("ABCDE", "C"),
    "Based on the image, it is farmland (C).": ("C", "C"), "A farmland is visible, answer C": ("ABCDE", "C"),
}


@pytest.mark.parametrize("answer", list(REFERENCE))
def test_an_answer_is_read_as_lmms_eval_and_vlmevalkit_read_it(answer):
    xlrs, generic = REFERENCE[answer]
    assert xlrs_letters(answer) == xlrs
    assert vlmevalkit_letter(answer, OPTIONS) == generic


def test_several_right_options_need_exactly_their_set():
    """XLRS's Overall Land use classification: set equality, no partial credit (mcq_utils.py L136)."""
    right = Sample("", ["AC"], {"benchmark": "xlrs", "options": OPTIONS})
    for answer, correct in {"A C": 1, "A, C": 1, "AC": 1, "(A) (C)": 1, "A and C": 0, "A C D": 0, "C": 0,
                            "The answer(s) is(are): A C": 0}.items():
        right.prediction = answer
        assert TASK.score(right)["correct"] == correct, answer


def test_geobench_vlm_reads_the_first_character_only():
    assert [geobench_letter(a) for a in ("B. Tsunami", "b", "The answer is B", "Answer: E", " C",
                                         "USER: x ASSISTANT: D. Wind")] == ["B", None, None, "A", None, "D"]


def samples(benchmark, rows):
    return [Sample(answer, [right], {"benchmark": benchmark, "options": OPTIONS, "category": category})
            for answer, right, category in rows]


def test_xlrs_micro_and_both_harnesses_macro():
    rows = [("C", "C", XLRS_SUBTASKS[0]), ("farmland", "C", XLRS_SUBTASKS[0]),  # 1 of 2
            ("(B)", "B", XLRS_SUBTASKS[5]), ("The answer is D", "D", XLRS_SUBTASKS[5]),  # 2 of 2
            ("A", "D", XLRS_SUBTASKS[9])]  # 0 of 1
    summary, per_sample = TASK.aggregate(samples("xlrs", rows), ScoreOptions())
    xlrs = summary["protocols"]["xlrs"]
    assert xlrs["accuracy"] == pytest.approx(3 / 5)  # lmms-eval's xlrs_micro_score, VLMEvalKit's Overall micro
    assert xlrs["macro_vlmevalkit"] == pytest.approx((0.5 + 1 + 0) / 3)  # the tasks present
    assert xlrs["macro_lmms_eval"] == pytest.approx((0.5 + 1 + 0) / 13)  # all 13 TASK_PAIRs, absent ones 0
    assert xlrs["unparsed"] == 1 and "lmms_eval/tasks/xlrs/mcq_utils.py" in xlrs["reference"]
    assert [s["correct"] for s in per_sample] == [1, 0, 1, 1, 0]


def test_geobench_headline_is_the_mean_of_its_task_accuracies_and_a_dropped_reply_is_wrong():
    rows = [("B", "B", "Building Counting"), ("the answer is B", "B", "Building Counting"),
            ("C", "C", "Disaster Type Classification")]
    summary, _ = TASK.aggregate(samples("geobench_vlm", rows), ScoreOptions())
    entry = summary["protocols"]["geobench_vlm"]
    assert entry["per_category"] == {"Building Counting": 0.5, "Disaster Type Classification": 1.0}
    assert entry["category_mean"] == pytest.approx(0.75) and entry["unparsed"] == 1


def test_a_record_without_options_or_with_an_answer_not_an_option_is_refused():
    assert TASK.problems({}, ["q"], ["A"])[0][0] == "missing_options"
    assert TASK.problems({"options": OPTIONS}, ["q"], ["E"])[0][0] == "answer_not_an_option"
    assert TASK.problems({"options": OPTIONS}, ["q"], ["AC"]) == []
    assert TASK.problems({"options": OPTIONS}, ["q"], ["AA"])[0][0] == "answer_not_an_option"


def test_a_user_s_question_brings_its_options():
    assert TASK.metadata_for("Which class?\nA. forest\nB. lake\nAnswer with the letter.") == {
        "options": ["forest", "lake"]}
    assert TASK.metadata_for("(A) forest\n(B) lake") == {"options": ["forest", "lake"]}
