"""Every model's own box format, read into pixels of the image and scored as hand-computed on non-square images:
GeoChat's 0-100 grid with angle, Qwen2.5-VL's pixels of its processor's resized image (JSON bbox_2d), Qwen3-VL's
0-1000 grid, LLaVA-1.5's fractions; JSON answers, lists of lists and boxes inside text."""
import pytest

from geollava.geometry.box_formats import ImageSize, read_boxes, write_box
from geollava.geometry.boxes import Box
from geollava.tasks import Sample, get_task


def rectangle_iou(a, b) -> float:
    """IoU of two axis-aligned (x1, y1, x2, y2) rectangles, by hand."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return w * h / (area(a) + area(b) - w * h)


REFERENCE = "{<10><20><50><60>|<0>}"  # x 10-50 %, y 20-60 % of the image


@pytest.mark.parametrize("width,height,model", [(400, 200, (392, 196)), (150, 300, (140, 280)), (640, 480, None)])
@pytest.mark.parametrize("box_format,answer,fraction", [
    ("geochat", "{<10><20><50><60>|<0>}", (0.10, 0.20, 0.50, 0.60)),
    ("geochat", "<p>the plane</p> {<10><20><30><60>}", (0.10, 0.20, 0.30, 0.60)),
    ("norm1000", '```json\n[\n\t{"bbox_2d": [100, 200, 500, 600], "label": "the plane"}\n]\n```',
     (0.10, 0.20, 0.50, 0.60)),
    ("norm1000", "[[100, 200, 300, 600], [900, 900, 950, 950]]", (0.10, 0.20, 0.30, 0.60)),
    ("norm1", "The plane is at [0.10, 0.20, 0.50, 0.60].", (0.10, 0.20, 0.50, 0.60)),
    ("norm1", "[0.3, 0.2, 0.1, 0.6]", (0.10, 0.20, 0.30, 0.60)),  # corners in either order
])
def test_each_format_scores_as_hand_computed(width, height, model, box_format, answer, fraction):
    truth = (0.10 * width, 0.20 * height, 0.50 * width, 0.60 * height)
    predicted = (fraction[0] * width, fraction[1] * height, fraction[2] * width, fraction[3] * height)
    scores = get_task("refer").score(Sample(answer, [REFERENCE], {}, (width, height), box_format=box_format,
                                            model_size=model))
    iou = rectangle_iou(predicted, truth)
    assert scores["ious"] == [pytest.approx(iou)] and scores["no_box"] == 0.0
    # per sample (the reward), over max(reference, predicted) boxes: the list of two pays half
    assert scores["iou"] == pytest.approx(iou / scores["predicted"])
    assert scores["acc@0.5"] == float(iou >= 0.5) / scores["predicted"]


@pytest.mark.parametrize("width,height,model_w,model_h", [(400, 200, 392, 196), (150, 300, 140, 280)])
def test_qwen2_5_vl_pixels_refer_to_its_resized_image(width, height, model_w, model_h):
    """[x1, y1, x2, y2] in pixels of the model's input: scaled by width / model_width to the image."""
    answer = '{"bbox_2d": [39, 39, 196, 118], "label": "a plane"}'
    predicted = (39 * width / model_w, 39 * height / model_h, 196 * width / model_w, 118 * height / model_h)
    truth = (0.10 * width, 0.20 * height, 0.50 * width, 0.60 * height)
    scores = get_task("refer").score(Sample(answer, [REFERENCE], {}, (width, height), box_format="pixels",
                                            model_size=(model_w, model_h)))
    assert scores["iou"] == pytest.approx(rectangle_iou(predicted, truth))


def test_an_answer_without_a_box_in_the_format_is_no_box():
    for box_format, answer in (("norm1000", "a plane near the runway"), ("geochat", "[100, 200, 500, 600]"),
                               ("pixels", '{"label": "plane"}')):
        scores = get_task("refer").score(Sample(answer, [REFERENCE], {}, (400, 200), box_format=box_format))
        assert scores["no_box"] == 1.0 and scores["iou"] == 0.0


def test_zero_shot_questions_are_worded_in_each_models_convention():
    frame = ImageSize(400, 200, 392, 196)
    refer = get_task("refer").question("the plane")
    assert get_task("refer").reword(refer, "pixels", frame) == \
        "Locate the plane, output its bbox coordinates using JSON format."
    assert get_task("refer").reword(refer, "norm1", frame) == \
        "Please provide the bounding box coordinate of the region this sentence describes: the plane"
    assert get_task("refer").reword(refer, "geochat", frame) == refer
    region = get_task("region_caption").question("{<10><20><50><60>|<0>}")
    assert get_task("region_caption").reword(region, "norm1", frame) == \
        "Please provide a short description for this region: [0.10, 0.20, 0.50, 0.60]"
    assert "[39, 39, 196, 118]" in get_task("region_caption").reword(region, "pixels", frame)
    assert "[100, 200, 500, 600]" in get_task("region_caption").reword(region, "norm1000", frame)
    assert write_box(Box(10, 20, 50, 60), "geochat", frame) == "{<10><20><50><60>|<0>}"
    polygons = read_boxes(write_box(Box(10, 20, 50, 60), "pixels", frame), "pixels", frame)
    assert polygons[0].bounds == pytest.approx((40, 40, 200, 120), abs=1.5)  # round trip within a model pixel


def test_a_zero_shot_base_is_asked_and_scored_in_its_own_format(task_set, tiny_models):
    from transformers import AutoConfig

    from geollava.data.dataset import AnnotationDataset
    from geollava.data.validate import load_records
    from geollava.families import FAMILIES
    from geollava.models.load import load_processors
    from geollava.runs import find_targets

    for family, box_format in (("qwen2_5_vl", "pixels"), ("qwen3_vl", "norm1000"), ("llava", "norm1")):
        target = find_targets(str(tiny_models[family]), False, family)[0]
        assert target.prompt.box_format == box_format
    target = find_targets(str(tiny_models["qwen2_5_vl"]), False, "qwen2_5_vl")[0]
    tokenizer, processor = load_processors(target.path)
    refer = [r for r in load_records(task_set / "val.json") if r.task == "refer"]
    dataset = AnnotationDataset(refer, task_set, FAMILIES["qwen2_5_vl"], AutoConfig.from_pretrained(target.path),
                                   tokenizer, processor, target.prompt, for_generation=True)
    prompt = dataset.prompt_text(refer[0])
    assert "output its bbox coordinates using JSON format." in prompt and "[refer]" not in prompt


def test_llava_padded_fractions_are_of_the_square_the_image_is_centred_in():
    """LLaVA-1.5's expand2square (llava/mm_utils.py; train.py pads so with image_aspect_ratio: pad) pastes a 200 x 100
    image at (0, 50) of a 200 x 200 square: its Visual Genome region boxes are fractions of that square."""
    size = ImageSize(200, 100)
    (box,) = read_boxes("[0.1, 0.3, 0.5, 0.7]", "norm1_padded", size)
    assert box.bounds == pytest.approx((20, 10, 100, 90))
    (raw,) = read_boxes("[0.1, 0.3, 0.5, 0.7]", "norm1", size)
    assert raw.bounds == pytest.approx((20, 30, 100, 70))
    assert write_box(Box(10, 10, 50, 90), "norm1_padded", size) == "[0.10, 0.30, 0.50, 0.70]"
