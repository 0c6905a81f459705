"""Predictions files that arrive damaged: each is one error naming the file, the record and the fix, or — a last
record cut short by a kill — dropped and said."""
import json

import pytest

from geollava.evaluation.predictions import PredictionsError, load_predictions, read_done_ids

ROWS = [{"id": f"r{k}", "prediction": f"a building was built {k}", "references": ["a building was built"],
         "task": "change_caption", "metadata": {"events": [{"type": "new", "place": "north"}]}} for k in range(3)]


def jsonl(rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.mark.parametrize("content,message", [
    (jsonl(ROWS).encode().replace(b"built 1", b"built \xff1"), "line 2 (byte"),
    (jsonl([{**ROWS[0], "task": "teleport"}]).encode(), "record 0 (id 'r0'): task 'teleport' is not one of"),
    (jsonl([{**ROWS[0], "metadata": [1, 2]}]).encode(), "record 0 (id 'r0'): metadata must be an object"),
    ((jsonl(ROWS[:1]) + "{oops}\n" + jsonl(ROWS[1:])).encode(), "invalid JSON at line 2"),
])
def test_a_damaged_file_is_one_error_naming_what_and_where(tmp_path, content, message):
    path = tmp_path / "predictions.jsonl"
    path.write_bytes(content)
    with pytest.raises(PredictionsError) as error:
        load_predictions(path)
    assert message in str(error.value) and str(path) in str(error.value)
    if b"\xff" in content:
        assert "not UTF-8" in str(error.value)
        with pytest.raises(PredictionsError, match="not UTF-8"):
            read_done_ids(path)  # resuming reads it too


def test_a_byte_order_mark_is_read_past(tmp_path):
    path = tmp_path / "predictions.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + jsonl(ROWS).encode())
    assert [r["id"] for r in load_predictions(path)] == ["r0", "r1", "r2"]
    assert read_done_ids(path) == {"r0", "r1", "r2"}


def test_a_file_cut_anywhere_in_its_last_line_loses_that_line_only(tmp_path, caplog):
    """A kill while the last line was written: at every cut point inside it, the earlier lines are read and the
    cut one is dropped and said (the nested metadata object inside the cut line does not make it 'invalid')."""
    text = jsonl(ROWS)
    start = text.rindex("{", 0, text.rindex('{"id"') + 1)
    path = tmp_path / "predictions.jsonl"
    for cut in range(start + 1, len(text) - 1):
        path.write_text(text[:cut])
        caplog.clear()
        assert [r["id"] for r in load_predictions(path)] == ["r0", "r1"], cut
        assert "cut short" in caplog.text
