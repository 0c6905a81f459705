"""Frames per second reading 8 sampled frames per 64-frame video: decord sampled vs PyAV sampled vs decoding
every frame. All methods run interleaved in one process, several rounds, medians reported, so the ratios hold on a
noisy machine even where absolute times do not.

    python benchmarks/frames.py [--videos 24] [--rounds 5]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import av
import decord
import numpy as np

from geollava.data.frames import read_video_pyav, sample_indices
from geollava.data.mp4 import write_mp4
from geollava.synthetic.generate import make_sample

TOTAL, SAMPLED = 64, 8


def decord_sampled(path: Path) -> int:
    reader = decord.VideoReader(str(path), num_threads=1)
    return len(reader.get_batch(sample_indices(len(reader), SAMPLED)).asnumpy())


def pyav_sampled(path: Path) -> int:
    return len(read_video_pyav(path, lambda total: sample_indices(total, SAMPLED)).images)


def decord_every_frame(path: Path) -> int:
    reader = decord.VideoReader(str(path), num_threads=1)
    frames = reader.get_batch(list(range(len(reader)))).asnumpy()
    return len(frames[sample_indices(len(frames), SAMPLED)])


def pyav_every_frame(path: Path) -> int:
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return len([frames[i] for i in sample_indices(len(frames), SAMPLED)])


METHODS = {"decord sampled": decord_sampled, "PyAV sampled": pyav_sampled,
           "decord every frame": decord_every_frame, "PyAV every frame": pyav_every_frame}


def make_videos(folder: Path, count: int, size: int, keyframe_interval: int | None) -> list[Path]:
    paths = []
    for i in range(count):
        _, frames = make_sample(0, "train", i, TOTAL, size)
        path = folder / f"v{i}.mp4"
        write_mp4(path, frames, keyframe_interval=keyframe_interval)
        paths.append(path)
    return paths


def measure(paths: list[Path], rounds: int) -> dict[str, float]:
    """Median sampled frames delivered per second, per method."""
    times = {name: [] for name in METHODS}
    for _ in range(rounds):
        for name, method in METHODS.items():
            start = time.perf_counter()
            delivered = sum(method(p) for p in paths)
            times[name].append(delivered / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"decord {decord.__version__}, av {av.__version__}")
    print(f"{args.videos} synthetic videos of {TOTAL} frames at {args.size} px, {SAMPLED} frames sampled each; "
          f"median of {args.rounds} rounds")
    with tempfile.TemporaryDirectory() as tmp:
        for label, keyint in (("x264 default GOP (one keyframe)", None), ("keyframe every 8 frames", 8),
                              ("every frame a keyframe", 1)):
            folder = Path(tmp) / str(keyint)
            folder.mkdir()
            rates = measure(make_videos(folder, args.videos, args.size, keyint), args.rounds)
            baseline = rates["decord every frame"]
            print(f"\n{label}")
            print("| method | sampled frames/s | vs decord every frame | vs PyAV every frame |")
            print("|---|---:|---:|---:|")
            for name, rate in rates.items():
                print(f"| {name} | {rate:.0f} | {rate / baseline:.1f}x | {rate / rates['PyAV every frame']:.1f}x |")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
