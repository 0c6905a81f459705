"""`geollava data check`: one message per kind of bad record, exit code 1; a clean file exits 0."""

import pytest

from geollava.data.mp4 import write_mp4
from geollava.data.validate import DataError, load_records

from helpers import cli, index_frame, write_image, write_json


def run_check(*args):
    return cli("data", "check", *args)


def turns(answer="Two buildings were built.", prompt="<video>\nWhat changed?"):
    return [{"from": "human", "value": prompt}, {"from": "gpt", "value": answer}]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    write_mp4(root / "good.mp4", [index_frame(i) for i in range(8)])
    write_mp4(root / "short.mp4", [index_frame(i) for i in range(4)])
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    write_image(root / "a.png")
    write_image(root / "b.png")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    return root


# id -> (record, the words its line must contain)
BAD = {
    "no-conversations": ({"id": "no-conversations", "video": "good.mp4"}, "missing key 'conversations'"),
    "no-media": ({"id": "no-media", "conversations": turns()}, "missing media key"),
    "video-is-number": ({"id": "video-is-number", "video": 5, "conversations": turns()}, "'video' must be"),
    "dup": ({"id": "dup", "video": "good.mp4", "conversations": turns()}, "id also used by record"),
    "no-human": ({"id": "no-human", "video": "good.mp4", "conversations": [{"from": "gpt", "value": "x"}]},
                 "no human turn"),
    "no-gpt": ({"id": "no-gpt", "video": "good.mp4", "conversations": turns()[:1]}, "no gpt turn"),
    "order": ({"id": "order", "video": "good.mp4", "conversations": turns() + turns()[1:]},
              "must alternate human, gpt"),
    "empty-answer": ({"id": "empty-answer", "video": "good.mp4", "conversations": turns(answer="  ")},
                     "(gpt) is empty"),
    "missing-file": ({"id": "missing-file", "video": "nowhere.mp4", "conversations": turns()}, "does not exist"),
    "corrupt-video": ({"id": "corrupt-video", "video": "corrupt.mp4", "conversations": turns()},
                      "cannot decode video"),
    "short-video": ({"id": "short-video", "video": "short.mp4", "conversations": turns()},
                    "has 4 frames, fewer than the 8 requested"),
    "broken-image": ({"id": "broken-image", "image": "broken.png", "conversations": turns(prompt="<image>\nQ?")},
                     "cannot read image"),
    "stamp-count": ({"id": "stamp-count", "video": ["a.png", "b.png"], "conversations": turns(),
                     "timestamp": ["2019-01-01", "2019-02-01", "2019-03-01"]}, "3 timestamps for 2 frames"),
    "video-stamp-count": ({"id": "video-stamp-count", "video": "good.mp4", "conversations": turns(),
                           "timestamps": ["2019-01-01", "2019-02-01"]}, "2 timestamps for the 8 frames"),
    "stamp-garbage": ({"id": "stamp-garbage", "video": ["a.png", "b.png"], "conversations": turns(),
                       "timestamp": ["2019-01-01", "last spring"]}, "is not an ISO date"),
    "stamp-order": ({"id": "stamp-order", "video": ["a.png", "b.png"], "conversations": turns(),
                     "timestamp": ["2019-05-01", "2018-01-01"]}, "is earlier than"),
    "placeholder": ({"id": "placeholder", "video": "good.mp4", "conversations": turns(prompt="<image>\nQ?")},
                    "placeholders for video media"),
}
GOOD = [
    {"id": "dup", "video": "good.mp4", "conversations": turns(),
     "timestamps": [f"2019-0{m}-01" for m in range(1, 9)]},
    {"id": "frames", "video": ["a.png", "b.png"], "timestamp": ["2019-01-01", "2019-06-01T12:00:00"],
     "conversations": turns(prompt="<image><image>\nWhat changed?")},
    {"id": "single", "image": "a.png", "conversations": turns(prompt="Describe.")},
]


def test_every_bad_record_kind_has_its_own_message(tmp_path, media):
    records = GOOD + [record for record, _ in BAD.values()] + [{"video": "good.mp4", "conversations": turns()}]
    path = write_json(tmp_path / "ann.json", records)
    result = run_check(path, "--media-root", media, "--deep", "--num-frames", "8", "--require-answers")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for record_id, (_, words) in BAD.items():
        line = next((l for l in lines if f"(id '{record_id}')" in l), None)
        assert line is not None, f"no line for {record_id}:\n{result.stdout}"
        assert words in line and "(fix: " in line, line
    assert any("(no id): missing key 'id'" in l for l in lines)
    # the two-image "frames" record is fine by itself but cannot give the 8 frames asked for
    assert any("(id 'frames'): 2 frame images, fewer than the 8 requested" in l for l in lines)
    assert lines[-1].endswith(f"{len(records)} records, 2 ok, {len(BAD) + 2} bad")


def test_records_without_answers_are_unlabeled_input_unless_answers_are_required(tmp_path, media):
    path = write_json(tmp_path / "ann.json", GOOD + [BAD["no-gpt"][0]])
    result = run_check(path, "--media-root", media)
    assert result.returncode == 0, result.stdout
    assert "4 records, 4 ok, 0 bad" in result.stdout and "1 of the ok records are unlabeled" in result.stdout
    strict = run_check(path, "--media-root", media, "--require-answers")
    assert strict.returncode == 1 and "(id 'no-gpt'): no gpt turn" in strict.stdout


def test_clean_file_exits_zero(tmp_path, media):
    path = write_json(tmp_path / "ann.json", GOOD)
    result = run_check(path, "--media-root", media, "--deep", "--num-frames", "2")
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip().endswith("3 records, 3 ok, 0 bad")


def test_fast_mode_does_not_decode(tmp_path, media):
    path = write_json(tmp_path / "ann.json", [BAD["corrupt-video"][0], BAD["broken-image"][0]])
    assert run_check(path, "--media-root", media).returncode == 0
    assert run_check(path, "--media-root", media, "--deep").returncode == 1


def test_invalid_json_names_line_and_column(tmp_path):
    path = tmp_path / "ann.json"
    path.write_text('[\n  {"id": "a",\n   "video": "x.mp4" "conversations": []}\n]')
    result = run_check(path)
    assert result.returncode == 1
    assert f"{path}:3:" in result.stdout and "invalid JSON" in result.stdout


def test_invalid_jsonl_line_is_one_bad_record(tmp_path, media):
    path = tmp_path / "ann.jsonl"
    good = '{"id": "ok", "image": "a.png", "conversations": [{"from": "human", "value": "Q"}, ' \
           '{"from": "gpt", "value": "A"}]}'
    path.write_text(good + "\n{\"id\": \"broken\", \n")
    result = run_check(path, "--media-root", media)
    assert result.returncode == 1
    assert "line 2, column" in result.stdout and "2 records, 1 ok, 1 bad" in result.stdout


def test_top_level_not_a_list(tmp_path):
    result = run_check(write_json(tmp_path / "ann.json", {"id": "a"}))
    assert result.returncode == 1 and "top level is a JSON dict, not a list" in result.stdout


def test_loader_policy_error_skip_and_all_bad(tmp_path, media, caplog):
    path = write_json(tmp_path / "ann.json", GOOD + [BAD["no-gpt"][0], BAD["missing-file"][0]])
    with pytest.raises(DataError, match="on_bad_record: skip"):
        load_records(path, media)
    records = load_records(path, media, on_bad_record="skip")
    assert [r.id for r in records] == ["dup", "frames", "single"]
    assert "skipped 2 of 5 records" in caplog.text and "'no-gpt'" in caplog.text and "'missing-file'" in caplog.text
    all_bad = write_json(tmp_path / "bad.json", [BAD["no-gpt"][0]])
    with pytest.raises(DataError, match="no usable records"):
        load_records(all_bad, media, on_bad_record="skip")


@pytest.mark.slow
def test_the_console_command_runs_as_installed(tmp_path):
    """The other tests call the CLI in-process; this one launches the installed `geollava` script."""
    import shutil
    import subprocess

    path = write_json(tmp_path / "empty.json", [{"id": "a"}])
    result = subprocess.run([shutil.which("geollava"), "data", "check", str(path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1 and "1 records, 0 ok, 1 bad" in result.stdout


def test_media_outside_the_media_root_are_counted_and_named(tmp_path, media):
    (tmp_path / "root").mkdir()
    write_image(tmp_path / "root" / "in.png")
    write_image(tmp_path / "up.png")
    records = [{"id": "inside", "image": "in.png", "conversations": turns(prompt="Q?")},
               {"id": "climbs", "image": "../up.png", "conversations": turns(prompt="Q?")},
               {"id": "absolute", "image": str(media / "a.png"), "conversations": turns(prompt="Q?")}]
    result = run_check(write_json(tmp_path / "root" / "r.json", records))
    assert result.returncode == 0, result.stdout  # allowed: many annotation sets are written that way
    line = next(line for line in result.stdout.splitlines() if "outside the media root" in line)
    assert "2 of the ok records" in line and "climbs, absolute" in line and "inside" not in line


def png_header(path, width: int, height: int):
    """A PNG that declares ``width`` x ``height`` and holds no pixels: what a decompression bomb looks like to a
    reader that trusts the header."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return path


def test_deep_check_reports_an_oversized_image_as_one_bad_record_and_goes_on(tmp_path, media):
    png_header(tmp_path / "huge.png", 30000, 30000)
    write_image(tmp_path / "fine.png")
    records = [{"id": "huge", "image": "huge.png", "conversations": turns(prompt="Q?")},
               {"id": "fine", "image": "fine.png", "conversations": turns(prompt="Q?")}]
    result = run_check(write_json(tmp_path / "r.json", records), "--deep")
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    assert "record 0 (id 'huge')" in result.stdout and "30000 x 30000 px = 900 MP, over the limit of 100 MP" \
        in result.stdout and "2 records, 1 ok, 1 bad" in result.stdout
    assert "max_frame_pixels" in result.stdout


@pytest.mark.parametrize("kind,message", [
    ("fifo", "is a named pipe (FIFO), not a file"), ("device", "is a device, not a file"),
    ("folder", "is a folder, not an image or a video"), ("loop", "a loop of symbolic links?"),
    ("missing", "does not exist")])
def test_a_frame_that_is_not_a_file_is_said_as_what_it_is(tmp_path, kind, message):
    """Before: every one of these was "does not exist" (and, when drawn in training, a traceback)."""
    import os

    frame = tmp_path / "frame.png"
    if kind == "fifo":
        os.mkfifo(frame)
    elif kind == "device":
        frame.symlink_to("/dev/zero")
    elif kind == "folder":
        frame.mkdir()
    elif kind == "loop":
        frame.symlink_to(tmp_path / "frame.png")
    data = write_json(tmp_path / "a.json", [{"id": "r", "image": "frame.png", "conversations": [
        {"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": "A port."}]}])
    with pytest.raises(DataError) as error:
        load_records(str(data), str(tmp_path))
    assert f"media file {frame} " in str(error.value) and message in str(error.value)
    assert "record 0 (id 'r')" in str(error.value)
