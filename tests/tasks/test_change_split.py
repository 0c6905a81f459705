"""Change-aware caption scores: LEVIR-CC's changed and unchanged pairs scored apart (as PromptCC reports them),
their mean, and the accuracy of telling change from no change, in metrics.json and the printed table."""
import json

import numpy as np
import pytest
from PIL import Image

from geollava.evaluation.evaluate import main as evaluate
from geollava.tasks import ScoreOptions
from geollava.tasks.change_caption import caption_scores, says_no_change

from helpers import cli, write_json

SAME = "the scene is the same as before"
CHANGED = ["many houses are built along the road", "a road is constructed in the woods"]


@pytest.fixture
def levir_set(tmp_path):
    """A LEVIR-CC folder of four test pairs, the first two changed (changeflag 1), as LevirCCcaptions_v1.json."""
    root = tmp_path / "LEVIR-CC"
    items = []
    for n in range(4):
        name = f"test_{n:06d}.png"
        for side, value in (("A", 10), ("B", 200 if n < 2 else 10)):
            (root / "images" / "test" / side).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((32, 32, 3), value, np.uint8)).save(root / "images" / "test" / side / name)
        sentence = CHANGED[n] if n < 2 else SAME
        items.append({"filepath": "test", "filename": name, "imgid": n, "changeflag": int(n < 2), "split": "test",
                      "sentences": [{"raw": sentence, "tokens": [], "imgid": n, "sentid": 5 * n + k} for k in range(5)]})
    write_json(root / "LevirCCcaptions.json", {"images": items})
    assert cli("data", "convert", "levir-cc", root, "--out", tmp_path / "levir").returncode == 0
    return tmp_path / "levir" / "test.json"


def test_changed_and_unchanged_pairs_are_scored_apart(levir_set, tmp_path):
    records = json.loads(levir_set.read_text())
    predictions = {records[0]["id"]: "many houses are built along the road",  # changed, described
                   records[1]["id"]: "there is no change",                     # changed, missed
                   records[2]["id"]: SAME, records[3]["id"]: SAME}              # unchanged, right
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"id": i, "prediction": p}) + "\n" for i, p in predictions.items()))
    metrics = evaluate(["--predictions", str(path), "--data", str(levir_set), "--output-dir", str(tmp_path / "eval"),
                        "--no-meteor", "--tokenizer", "simple"])["p"]
    split = metrics["tasks"]["change_caption"]["change_split"]
    assert (split["changed_samples"], split["unchanged_samples"]) == (2, 2)
    assert split["detection_accuracy"] == pytest.approx(3 / 4)
    options = ScoreOptions(meteor=False, tokenizer="simple")
    for name, ids in (("changed", [0, 1]), ("unchanged", [2, 3])):
        alone, _ = caption_scores({str(k): [records[k]["conversations"][1]["value"], *records[k]["references"]]
                                   for k in ids}, {str(k): predictions[records[k]["id"]] for k in ids}, None, options)
        assert split[name]["coco"]["CIDEr"] == pytest.approx(alone["coco"]["CIDEr"])
        assert split[name]["geollava"]["rougeL"] == pytest.approx(alone["geollava"]["rougeL"])
    assert split["mean"]["coco"]["Bleu_1"] == pytest.approx((split["changed"]["coco"]["Bleu_1"]
                                                             + split["unchanged"]["coco"]["Bleu_1"]) / 2)
    table = (tmp_path / "eval" / "comparison.md").read_text()
    assert "change detected" in table and "CIDEr unchanged" in table and "0.750" in table


@pytest.mark.parametrize("caption, no_change", [
    ("the scene is the same as before", True), ("there is no difference", True), ("nothing has changed", True),
    ("the two scenes seem identical", True), ("no change has occurred", True), ("No change.", True),
    ("many houses are built along the road", False),
    ("the road remains the same while some houses appear", False)])
def test_a_caption_says_no_change_as_levir_ccs_unchanged_captions_do(caption, no_change):
    assert says_no_change(caption) is no_change
