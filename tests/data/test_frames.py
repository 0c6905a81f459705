import numpy as np
import pytest

from geollava.data import frames
from geollava.data.frames import MediaError, load_frames, read_video, read_video_pyav, sample_indices
from geollava.data.schema import Record, Turn

from helpers import decode_index, write_image

TURNS = [Turn("human", "<video>\nWhat changed?"), Turn("gpt", "A road was built.")]


def test_sample_indices_spread_uniformly_and_keep_both_endpoints():
    assert sample_indices(24, 8) == [0, 3, 7, 10, 13, 16, 20, 23]
    assert sample_indices(8, 8) == list(range(8))
    assert sample_indices(2, 2) == [0, 1]
    for total in range(2, 40):
        for n in range(2, min(total, 9) + 1):
            got = sample_indices(total, n)
            assert got[0] == 0 and got[-1] == total - 1 and got == sorted(set(got))


def test_too_few_frames_is_an_error_unless_padding():
    with pytest.raises(MediaError, match="fewer than the 8 requested"):
        sample_indices(3, 8)
    assert sample_indices(3, 8, pad=True) == [0, 0, 1, 1, 1, 1, 2, 2]


def test_decord_returns_exactly_the_sampled_frames(index_video):
    assert frames.decord is not None, "decord is pinned in requirements.txt"
    wanted = sample_indices(24, 8)
    video = read_video(index_video, lambda total: sample_indices(total, 8))
    got = video.images
    assert video.total == 24 and video.indices == wanted
    assert got.shape == (8, 64, 64, 3) and got.dtype == np.uint8
    assert [decode_index(f) for f in got] == wanted


def test_pyav_returns_the_same_frames_as_decord(index_video):
    wanted = [0, 5, 5, 11, 23]
    via_pyav = read_video_pyav(index_video, lambda total: wanted).images
    via_decord = read_video(index_video, lambda total: wanted).images
    assert [decode_index(f) for f in via_pyav] == wanted
    assert np.abs(via_pyav.astype(int) - via_decord.astype(int)).max() <= 2


def test_each_video_is_opened_once_and_pyav_counts_without_decoding(index_video, monkeypatch):
    import av

    opened, decoded = [], []
    real_open = av.open

    class Counting:  # the container, counting what is decoded
        def __init__(self, container):
            self.container = container

        def __getattr__(self, name):
            return getattr(self.container, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.container.__exit__(*exc)

        def decode(self, *args, **kwargs):
            for frame in self.container.decode(*args, **kwargs):
                decoded.append(1)
                yield frame

    def counting_open(*args, **kwargs):
        opened.append(args[0])
        return Counting(real_open(*args, **kwargs))

    monkeypatch.setattr(frames, "decord", None)
    monkeypatch.setattr(av, "open", counting_open)
    record = Record("v", "video", [index_video.name], TURNS)
    got = load_frames(record, index_video.parent, num_frames=2)
    assert len(opened) == 1, "one open per sample: counted, sampled and decoded through one reader"
    assert got.indices == [0, 23] and len(decoded) == 24  # decoded up to the last wanted frame, once


def test_pyav_fallback_when_decord_is_missing(index_video, monkeypatch):
    monkeypatch.setattr(frames, "decord", None)
    record = Record("v", "video", [index_video.name], TURNS)
    got = load_frames(record, index_video.parent, num_frames=4)
    assert got.indices == [0, 8, 15, 23]
    assert [decode_index(f) for f in got.images] == got.indices


def test_video_timestamps_follow_the_chosen_frames(index_video):
    stamps = [f"2020-01-{d:02d}" for d in range(1, 25)]
    record = Record("v", "video", [index_video.name], TURNS, timestamps=stamps)
    got = load_frames(record, index_video.parent, num_frames=3)
    assert got.indices == [0, 12, 23]
    assert got.timestamps == ["2020-01-01", "2020-01-13", "2020-01-24"]


def test_frame_list_and_single_image(tmp_path):
    paths = [write_image(tmp_path / f"f{i}.png", value=10 * i) for i in range(5)]
    record = Record("f", "frames", [p.name for p in paths], TURNS, timestamps=[f"201{i}-06-01" for i in range(5)])
    got = load_frames(record, tmp_path, num_frames=3)
    assert got.indices == [0, 2, 4] and got.timestamps == ["2010-06-01", "2012-06-01", "2014-06-01"]
    assert [int(im[0, 0, 0]) for im in got.images] == [0, 20, 40]
    single = load_frames(Record("i", "image", ["f1.png"], TURNS), tmp_path, num_frames=8)
    assert len(single.images) == 1 and single.images[0].shape == (32, 32, 3)


def test_video_with_too_few_frames(index_video):
    record = Record("v", "video", [index_video.name], TURNS)
    with pytest.raises(MediaError, match="24 frames, fewer than the 30"):
        load_frames(record, index_video.parent, num_frames=30)
    padded = load_frames(record, index_video.parent, num_frames=30, pad=True)
    assert len(padded.images) == 30 and padded.indices[0] == 0 and padded.indices[-1] == 23


def test_corrupt_video_is_a_media_error(tmp_path, index_video):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(index_video.read_bytes()[:300])
    with pytest.raises(MediaError):
        read_video(broken, lambda total: [0, 1])


def test_a_16_bit_png_is_scaled_by_its_real_range_not_clipped_to_white(tmp_path):
    """Pillow's convert("RGB") clips a 16-bit PNG's values above 255: 12-bit data came out almost all white. It is
    read as a raster instead: the 2-98 % stretch over its own values, as GeoTIFFs are."""
    from PIL import Image

    values = np.random.default_rng(0).integers(0, 4096, (40, 60)).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "f16.png")
    assert (np.asarray(Image.open(tmp_path / "f16.png").convert("RGB")) == 255).mean() > 0.9  # the old way
    [image], _ = frames.read_images([tmp_path / "f16.png"])
    assert image.shape == (40, 60, 3) and image.dtype == np.uint8
    assert (image == 255).mean() < 0.05 and 100 < image.mean() < 155
    ranks = np.argsort(values.ravel())  # brighter stays brighter
    assert np.all(np.diff(image[..., 0].ravel()[ranks].astype(int)) >= 0)
