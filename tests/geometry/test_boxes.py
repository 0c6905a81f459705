"""GeoChat's box strings: parsed exactly (every number kept), malformed ones refused, rotated IoU by hand."""
import math

import numpy as np
import pytest
from PIL import Image

from geollava.geometry.boxes import (Box, BoxError, Phrase, draw, format_grounded, iou, parse_box, parse_boxes,
                                 parse_grounded, polygon)


def test_a_box_keeps_all_five_numbers():
    # GeoChat's demo parser takes re.findall(r"-?\d+") and then drops the last number of every box: not us
    assert parse_box("{<16><55><24><63>|<11>}") == Box(16, 55, 24, 63, 11)
    assert parse_box("{<16><55><24><63>}") == Box(16, 55, 24, 63, 0)  # no |<θ>: θ = 0, y2 kept
    assert parse_box(" {<0><0><100><100>|<-30>} ") == Box(0, 0, 100, 100, -30)


@pytest.mark.parametrize("text,message", [
    ("{<16><55><24>}", "has 3 numbers"),
    ("{<16><55><24><63><70>}", "has 5 numbers"),
    ("{<16><55><24><63>|<11>", "not closed"),
    ("{<16><55><124><63>}", "0-100 grid"),
    ("{<30><55><24><63>}", "must not be smaller"),
    ("{16 55 24 63}", "has 4 numbers"),
])
def test_malformed_boxes_are_errors_that_quote_the_box(text, message):
    with pytest.raises(BoxError, match=message) as error:
        parse_boxes(f"<p>plane</p> {text}")
    assert text.strip() in str(error.value)


def test_several_boxes_and_phrases():
    assert len(parse_boxes("{<1><2><3><4>|<0>}<delim>{<5><6><7><8>|<9>}")) == 2
    assert parse_boxes("{<1><2><3><4>}{<5><6><7><8>|<9>}") == [Box(1, 2, 3, 4), Box(5, 6, 7, 8, 9)]
    text = "There is a <p>silver plane</p> {<16><55><24><63>|<11>} next to <p>cars</p> {<1><1><2><2>}{<3><3><4><4>}."
    phrases = parse_grounded(text)
    assert phrases == [Phrase("silver plane", [Box(16, 55, 24, 63, 11)]),
                       Phrase("cars", [Box(1, 1, 2, 2), Box(3, 3, 4, 4)])]
    assert parse_grounded(format_grounded(phrases)) == phrases
    assert parse_grounded("{<1><2><3><4>}") == [Phrase(None, [Box(1, 2, 3, 4)])]
    assert parse_grounded("no box at all") == []


def test_rotated_iou_agrees_with_hand_computed_cases():
    square = Box(40, 40, 60, 60)
    assert iou(square, square) == pytest.approx(1.0)
    # shifted by half its width: intersection 10 x 20 = 200, union 2 x 400 - 200 = 600
    assert iou(square, Box(50, 40, 70, 60)) == pytest.approx(200 / 600)
    # the same square turned 45° about its centre: an octagon of (2√2 - 2) s² over a union of (4 - 2√2) s²
    assert iou(square, Box(40, 40, 60, 60, 45)) == pytest.approx(1 / math.sqrt(2))
    assert iou(square, Box(70, 70, 90, 90)) == 0.0
    # a 90° turn of a 20 x 10 box about its centre is the 10 x 20 box there
    assert iou(Box(40, 45, 60, 55, 90), Box(45, 40, 55, 60)) == pytest.approx(1.0)
    # the grid is relative to the image: a wide image stretches x, IoU of a shift is unchanged
    assert iou(square, Box(50, 40, 70, 60), 200, 100) == pytest.approx(200 / 600)


def test_the_angle_turns_counter_clockwise_on_the_image_as_cv2_does():
    box = Box(20, 40, 60, 50, 30)
    corners = np.array(polygon(box, 200, 100).exterior.coords)[:4]
    x1, y1, x2, y2 = 40, 40, 120, 50  # pixels of a 200 x 100 image
    centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    a = math.radians(30)
    cv2_matrix = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])  # getRotationMatrix2D
    expected = (np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]]) - centre) @ cv2_matrix.T + centre
    assert sorted(map(tuple, corners.round(6))) == sorted(map(tuple, expected.round(6)))
    right_end = expected[[1, 2]].mean(axis=0)
    assert right_end[1] < centre[1], "counter-clockwise on the image: the right end rises"


def test_draw_outlines_the_boxes_in_their_colour():
    image = Image.fromarray(np.zeros((100, 100, 3), dtype=np.uint8))
    out = np.asarray(draw(image, [Phrase("tank", [Box(20, 20, 60, 60)])], colour=(0, 255, 0), width=1))
    assert tuple(out[40, 20]) == (0, 255, 0) and tuple(out[20, 40]) == (0, 255, 0)  # left and top edges
    assert tuple(out[40, 40]) == (0, 0, 0)  # inside stays
    assert np.asarray(image).max() == 0, "the original is not drawn on"


def test_numbers_out_of_bounds_are_box_errors_in_checks_and_no_box_in_scores():
    huge = "{<10><10><20><20>|<" + "9" * 309 + ">}"
    with pytest.raises(BoxError, match="angle must lie between -360 and 360"):
        parse_box(huge)
    with pytest.raises(BoxError, match="0-100 grid"):
        parse_box("{<10><10><20><" + "9" * 50 + ">}")
    from geollava.tasks import Sample, get_task

    scores = get_task("refer").score(Sample(huge, ["{<10><10><20><20>|<0>}"], {}))
    assert scores["no_box"] == 1.0 and scores["acc@0.5"] == 0.0  # scored as no box, not an OverflowError
