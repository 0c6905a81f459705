"""Task scores against hand-computed cases: GeoChat's normalisation, per-type averages, rotated-box matching."""
import pytest

from geollava.metrics.tasks import box_scores, match_boxes, score_task
from geollava.data.boxes import Box


def test_scene_and_vqa_use_geochats_rule_and_average_per_type():
    scene = score_task("scene", [{"prediction": "Dense residential.", "reference": "Dense Residential", "metadata": {}},
                                 {"prediction": "harbor", "reference": "River", "metadata": {}}])
    assert scene["accuracy"] == 0.5 and scene["per_class"] == {"Dense Residential": 1.0, "River": 0.0}
    rows = [("yes", "yes", "presence"), ("no", "yes", "presence"), ("Yes.", "yes", "presence"),
            ("no", "no", "comparison")]
    vqa = score_task("vqa", [{"prediction": p, "reference": r, "metadata": {"question_type": t}} for p, r, t in rows])
    assert vqa["accuracy"] == 0.75 and vqa["per_type"] == {"comparison": 1.0, "presence": pytest.approx(2 / 3)}
    assert vqa["average"] == pytest.approx((1 + 2 / 3) / 2)  # the mean of the types, not of the questions


def test_boxes_match_one_to_one_greedily():
    truth = [Box(0, 0, 20, 20), Box(50, 50, 70, 70)]
    # one prediction overlapping the first truth twice over cannot match both truths
    assert match_boxes([Box(0, 0, 20, 20), Box(1, 1, 21, 21)], truth) == 1
    assert match_boxes([Box(50, 50, 70, 70), Box(0, 0, 20, 20)], truth) == 2
    assert match_boxes([Box(10, 0, 30, 20)], truth) == 0  # IoU 1/3 < 0.5
    one = box_scores("{<0><0><20><20>|<0>}", "{<0><0><20><20>|<0>}<delim>{<50><50><70><70>|<0>}")
    assert one == {"boxes": 2, "matched": 1, "unparseable": 0.0}
    assert box_scores("a plane {<1><2><3>}", "{<0><0><20><20>}")["unparseable"] == 1.0


def test_refer_accuracy_per_size_and_object_count():
    samples = [
        {"prediction": "{<0><0><20><20>|<0>}", "reference": "{<0><0><20><20>|<0>}", "metadata": {"size_group": "small"}},
        {"prediction": "{<40><40><60><60>|<45>}", "reference": "{<40><40><60><60>|<0>}",
         "metadata": {"size_group": "large"}},  # IoU 1/√2 = 0.71: a hit
        {"prediction": "no idea", "reference": "{<0><0><9><9>}{<50><50><59><59>}", "metadata": {"size_group": "small"}},
    ]
    scores = score_task("refer", samples)
    assert scores["acc@0.5"] == pytest.approx(2 / 4) and scores["objects"] == 4 and scores["no_box_predictions"] == 1
    assert scores["per_size"] == {"large": 1.0, "small": pytest.approx(1 / 3)}
    assert scores["per_objects"] == {"multi": 0.0, "single": 1.0}
