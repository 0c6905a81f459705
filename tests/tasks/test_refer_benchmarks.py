"""DIOR-RSVG and VRSBench scored as their reference code scores them, on hand-made answers that go wrong.

DIOR-RSVG's expected numbers are what RSVG-pytorch's own test loop gives on these boxes: its bbox_iou
(utils/utils.py@77f58105 L83-110) run on the boxes main.py@85c3d9f8 Mytest_epoch builds (the ground truth
letterboxed to 640 in an int array, data_loader.py L77-78; clamped to [0, 639], L459; mapped back, L470-471; the
prediction clamped x1, y1 >= 0, x2 <= 800, y2 <= 800, L484-486); Pr@t counts IoU > t (L496-500). GeoBox-R1's
(evaluation/evaluate_hbb.py) and GeoGround's (baselines/evaluate/common.py) are restated from their code: the first
box, IoU >= t, no clamp / corners sorted and clipped to [0, 799].
"""
import pytest

from geollava.tasks import TASKS, Sample, ScoreOptions
from geollava.tasks.refer_benchmarks import dior_rsvg_scores, geobox_r1, rsvg_pytorch, vrsbench_scores

# (case, truth in pixels, the answer's first box) on 800 x 800 images
CASES = [("exact", [10, 10, 50, 50], (10, 10, 50, 50)),
         ("IoU exactly 0.5", [10, 10, 50, 50], (10, 10, 50, 90)),
         ("past the image's edge", [10, 10, 50, 50], (-30, -30, 50, 50)),
         ("at the far edge", [760, 760, 800, 800], (760, 760, 840, 840)),
         ("small", [13, 13, 23, 23], (13, 13, 23, 23)),
         ("several boxes: the first misses", [10, 10, 50, 50], (100, 100, 150, 150))]
ROWS = [(box, truth, 800.0, 800.0) for _, truth, box in CASES]


def test_dior_rsvg_as_its_test_loop_scores_it():
    scores = rsvg_pytorch(ROWS)
    # the loop's IoUs: 1.0, 0.5, 0.64, 0.93847656 (truth 798.75 after the letterbox), 0.82232332, 0.0
    assert scores["Pr@0.5"] == pytest.approx(4 / 6)  # IoU exactly 0.5 is not > 0.5
    assert [scores[f"Pr@{t}"] for t in (0.6, 0.7, 0.8, 0.9)] == pytest.approx([4 / 6, 3 / 6, 3 / 6, 2 / 6])
    assert scores["meanIoU"] == pytest.approx(0.6501333117485046, abs=1e-6)
    assert scores["cumIoU"] == pytest.approx(0.4875617372368818, abs=1e-6)


def test_dior_rsvg_as_geobox_r1_and_geoground_score_it():
    plain, clipped = geobox_r1(ROWS, clip=False), geobox_r1(ROWS, clip=True)
    # GeoBox-R1: 1, 0.5, 0.25 (not clamped), 0.25, 1, 0
    assert (plain["acc@0.5"], plain["acc@0.7"], plain["mIoU"]) == pytest.approx((3 / 6, 2 / 6, 3 / 6))
    # GeoGround's rows: 1, 0.5, 0.64, 0.950625 (clipped to 799), 1, 0
    assert (clipped["acc@0.5"], clipped["acc@0.7"], clipped["mIoU"]) == pytest.approx(
        (5 / 6, 3 / 6, (1 + 0.5 + 0.64 + 0.950625 + 1) / 6))


def test_an_answer_s_first_box_is_read_as_written_past_the_edge_and_without_a_box_counts_zero():
    meta = {"benchmark": "dior-rsvg", "box_pixels": [10, 10, 50, 50]}
    samples = [Sample("{<-4><-4><6><6>}", ["{<1><1><6><6>}"], meta, (800, 800)),  # GeoChat's grid: -32 .. 48 px
               Sample("[[10, 10, 50, 50], [300, 300, 400, 400]]", ["{<1><1><6><6>}"], meta, (800, 800),
                      box_format="pixels", model_size=(800, 800)),
               Sample("I cannot find it.", ["{<1><1><6><6>}"], meta, (800, 800))]
    scores = dior_rsvg_scores(samples)
    rsvg = scores["rsvg_pytorch"]
    assert scores["no_box"] == 1 and rsvg["samples"] == 3
    # the first clamped to (0, 0, 48, 48): I = 38², U = 48² + 40² - 38²; the second's first box exact
    assert rsvg["meanIoU"] == pytest.approx((1444 / 2460 + 1.0 + 0.0) / 3, abs=1e-6)
    assert rsvg["cumIoU"] == pytest.approx((1444 + 1600) / (2460 + 1600 + 1600), abs=1e-6)  # no box: U = truth
    summary, _ = TASKS["refer"].aggregate(samples, ScoreOptions())
    assert summary["dior_rsvg"]["geobox_r1"]["reference"].endswith("evaluation/evaluate_hbb.py")


def test_vrsbench_skips_rows_its_notebook_skips_and_a_broken_truth_is_invalid():
    """compute_metrics.ipynb cell 5: a row whose is_unique is not 0 / 1 is skipped (`continue` before counting);
    a ground truth without four integers raises inside its try: invalid."""
    rows = [Sample("{<10><10><50><50>}", ["{<10><10><50><50>}"], {"benchmark": "vrsbench", "unique": True}),
            Sample("{<10><10><50><50>}", ["{<10><10><50><50>}"], {"benchmark": "vrsbench"}),  # no flag: skipped
            Sample("{<10><10><50><50>}", ["{<10><10>}"], {"benchmark": "vrsbench", "unique": False})]
    scores = vrsbench_scores(rows)
    assert scores["skipped_unflagged"] == 1 and scores["all"]["samples"] == 2
    assert scores["all"]["invalid"] == 1 and scores["all"]["meanIoU"] == pytest.approx(0.5)
    assert scores["all"]["cumIoU"] == pytest.approx(1.0)  # the invalid row is left out of the sums
