"""Task scores against hand-computed cases: GeoChat's normalisation, per-type averages, rotated-box matching,
region-caption text scores."""
import pytest

from geollava.geometry.boxes import Box, format_boxes
from geollava.metrics.coco import simple_tokenize
from geollava.tasks import Sample, ScoreOptions, get_task


def score_task(task, samples, **options):
    """``task``'s entry of metrics.json and per-sample scores for samples given as dicts."""
    return get_task(task).aggregate([Sample(s["prediction"], [s["reference"]], s["metadata"], s.get("size"))
                                     for s in samples], ScoreOptions(**options))


def box_score(prediction: str, reference: str, size=None) -> dict:
    """The grounding entry's per-sample score (the reward) of GeoChat-syntax boxes, on the 0-100 grid as a
    100 x 100 image unless ``size`` is given."""
    return get_task("grounding").score(Sample(prediction, [reference], {}, size))


def match_boxes(predicted: list[Box], truth: list[Box]) -> int:
    return box_score(format_boxes(predicted), format_boxes(truth))["matched"]


def test_scene_and_vqa_use_geochats_rule_and_average_per_type():
    scene, per = score_task("scene", [{"prediction": "Dense residential.", "reference": "Dense Residential",
                                       "metadata": {}},
                                      {"prediction": "harbor", "reference": "River", "metadata": {}}])
    assert scene["accuracy"] == 0.5 and scene["per_class"] == {"Dense Residential": 1.0, "River": 0.0}
    assert per == [{"correct": 1.0}, {"correct": 0.0}]
    rows = [("yes", "yes", "presence"), ("no", "yes", "presence"), ("Yes.", "yes", "presence"),
            ("no", "no", "comparison")]
    vqa, _ = score_task("vqa", [{"prediction": p, "reference": r, "metadata": {"question_type": t}}
                                for p, r, t in rows])
    assert vqa["accuracy"] == 0.75 and vqa["per_type"] == {"comparison": 1.0, "presence": pytest.approx(2 / 3)}
    assert vqa["average"] == pytest.approx((1 + 2 / 3) / 2)  # the mean of the types, not of the questions


def test_a_geochat_bench_scene_record_is_matched_against_its_folder_as_geochat_does():
    # GeoChat lower-cases the folder but keeps its underscore: "Baseball Diamond" can never match it
    samples = [{"prediction": "Baseball Diamond", "reference": "Baseball Diamond",
                "metadata": {"ground_truth_folder": "baseball_diamond"}},
               {"prediction": "Dense Residential.", "reference": "Dense Residential",
                "metadata": {"ground_truth_folder": "DenseResidential"}}]
    scene, per = score_task("scene", samples)
    assert [p["correct"] for p in per] == [0.0, 1.0] and scene["accuracy"] == 0.5


def test_boxes_match_one_to_one_greedily():
    truth = [Box(0, 0, 20, 20), Box(50, 50, 70, 70)]
    # one prediction overlapping the first truth twice over cannot match both truths
    assert match_boxes([Box(0, 0, 20, 20), Box(1, 1, 21, 21)], truth) == 1
    assert match_boxes([Box(50, 50, 70, 70), Box(0, 0, 20, 20)], truth) == 2
    assert match_boxes([Box(10, 0, 30, 20)], truth) == 0  # IoU 1/3 < 0.5
    one = box_score("{<0><0><20><20>|<0>}", "{<0><0><20><20>|<0>}<delim>{<50><50><70><70>|<0>}")
    assert (one["boxes"], one["predicted"], one["matched"], one["no_box"], one["acc@0.5"]) == (2, 1, 1, 0.0, 0.5)
    assert box_score("a plane {<1><2><3>}", "{<0><0><20><20>}")["no_box"] == 1.0


def test_a_box_too_many_costs_the_reward_as_much_as_one_too_few():
    truth = "{<0><0><20><20>|<0>}"
    hit, listed = box_score(truth, truth), box_score(truth + "{<50><50><70><70>|<0>}{<80><0><99><20>|<0>}", truth)
    assert (hit["acc@0.5"], hit["iou"]) == (1.0, 1.0)
    assert listed["matched"] == 1 and listed["acc@0.5"] == pytest.approx(1 / 3) and listed["iou"] == pytest.approx(1 / 3)
    scores, _ = score_task("grounding", [{"prediction": truth + "{<50><50><70><70>|<0>}", "reference": truth,
                                          "metadata": {}}])
    assert scores["acc@0.5"] == 1.0 and scores["predicted_boxes"] == 2 and scores["box_precision@0.5"] == 0.5


def test_cum_iou_counts_the_area_a_missed_prediction_covers():
    # DIOR-RSVG's cumIoU: sum of intersections / sum of unions of prediction and truth; a miss adds both areas
    samples = [{"prediction": "{<0><0><10><10>|<0>}", "reference": "{<0><0><10><10>|<0>}", "metadata": {}},
               {"prediction": "{<50><50><70><70>|<0>}", "reference": "{<0><0><10><10>|<0>}", "metadata": {}}]
    scores, _ = score_task("refer", samples)
    assert scores["cumIoU"] == pytest.approx(100 / (100 + 100 + 400)) and scores["meanIoU"] == 0.5
    # overlapping references (dense objects) count their shared area once: cumIoU stays within 0..1
    twice = "{<0><0><10><10>|<0>}<delim>{<0><0><10><10>|<0>}"
    same, _ = score_task("grounding", [{"prediction": twice, "reference": twice, "metadata": {}}])
    assert same["cumIoU"] == pytest.approx(1.0)


def test_boxes_of_nan_or_infinity_are_no_box():
    for answer in ('{"bbox_2d": [NaN, 1, 2, 3]}', '{"bbox_2d": [10, 20, Infinity, 40]}', "[[10, 20, 1e999, 40]]"):
        scores = get_task("refer").score(Sample(answer, ["{<0><0><10><10>|<0>}"], {}, (100, 100),
                                                box_format="norm1000"))
        assert scores["no_box"] == 1.0 and scores["iou"] == 0.0


def test_greedy_matching_takes_the_best_pair_first():
    # IoU of 20-wide boxes shifted by d is (20 - d) / (20 + d). p0 is r1's best (0.82) and also r0's (0.67);
    # p1 overlaps r0 only (0.60). Pairing r0 first with its best would leave r1 unmatched: greedy pairs p0-r1
    # (the highest IoU) and then p1-r0.
    truth = [Box(10, 0, 30, 20), Box(16, 0, 36, 20)]
    predicted = [Box(14, 0, 34, 20), Box(5, 0, 25, 20)]
    assert match_boxes(predicted, truth) == 2
    assert match_boxes(predicted[:1], truth) == 1


def test_a_rotated_box_on_a_wide_image_is_a_different_shape():
    # a 45-degree turn of a square of the 0-100 grid: the same box in grid units, but on a 200 x 100 image
    # the square is a 2:1 rectangle, and turning it moves more of it out of the unrotated box
    square = box_score("{<40><40><60><60>|<45>}", "{<40><40><60><60>|<0>}")
    assert square["matched"] == 1  # IoU 1/sqrt(2) = 0.71 on a square image
    wide = score_task("refer", [{"prediction": "{<40><40><60><60>|<45>}", "reference": "{<40><40><60><60>|<0>}",
                                 "metadata": {}, "size": (400, 100)}])[0]
    assert wide["acc@0.5"] == 0.0


def test_refer_accuracy_per_size_and_object_count():
    samples = [
        {"prediction": "{<0><0><20><20>|<0>}", "reference": "{<0><0><20><20>|<0>}", "metadata": {"size_group": "small"}},
        {"prediction": "{<40><40><60><60>|<45>}", "reference": "{<40><40><60><60>|<0>}",
         "metadata": {"size_group": "large"}},  # IoU 1/√2 = 0.71: a hit
        {"prediction": "no idea", "reference": "{<0><0><9><9>}{<50><50><59><59>}", "metadata": {"size_group": "small"}},
    ]
    scores, per = score_task("refer", samples)
    assert scores["acc@0.5"] == pytest.approx(2 / 4) and scores["objects"] == 4 and scores["no_box_predictions"] == 1
    assert scores["per_size"] == {"large": 1.0, "small": pytest.approx(1 / 3)}
    assert scores["per_objects"] == {"multi": 0.0, "single": 1.0}
    assert [p["acc@0.5"] for p in per] == [1.0, 1.0, 0.0] and per[2]["no_box"] == 1.0


def test_region_captions_get_rouge_per_sample_and_corpus_cider():
    samples = [{"prediction": "a tennis court", "reference": "tennis court", "metadata": {}},
               {"prediction": "small vehicles", "reference": "a small vehicle", "metadata": {}},
               {"prediction": "harbor", "reference": "swimming pool", "metadata": {}}]
    scores, per = score_task("region_caption", samples, meteor=False, tokenizer="simple")
    # ROUGE-1 F with stemming: 2/3 and 2/(2+3)*2 = 0.8 (vehicles -> vehicl), then 0
    assert per[0]["rouge1"] == pytest.approx(0.8) and per[1]["rouge1"] == pytest.approx(0.8)
    assert per[2]["rouge1"] == 0.0 and scores["rouge1"] == pytest.approx(1.6 / 3)
    assert scores["CIDEr"] == pytest.approx(sum(p["CIDEr"] for p in per) / 3)
    assert per[2]["CIDEr"] == 0.0 and per[0]["CIDEr"] > 0
    assert simple_tokenize("a tennis court") == "a tennis court"


def test_grounded_descriptions_score_boxes_and_the_words_without_them():
    text = "a <p>plane</p> {<10><10><30><30>|<0>} near the runway"
    scores, per = score_task("grounded_description", [{"prediction": text, "reference": text, "metadata": {}}],
                             meteor=False, tokenizer="simple")
    assert scores["acc@0.5"] == 1.0 and scores["rouge1"] == 1.0 and per[0]["rougeL"] == 1.0
