"""Write frames to an H.264 mp4 (used by the synthetic generator and the fMoW converter)."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def write_mp4(path: str | Path, frames: list[np.ndarray] | np.ndarray, fps: int = 1, crf: int = 18,
              keyframe_interval: int | None = None) -> None:
    """Encode uint8 H x W x 3 RGB frames (even H and W) losslessly enough for training; one frame per ``1/fps`` s.

    ``keyframe_interval`` makes every k-th frame a keyframe so that sampled reads can seek instead of decoding
    everything before the frame they want.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    if height % 2 or width % 2:
        raise ValueError(f"{path}: H.264 with yuv420p needs even frame sizes, got {width}x{height}")
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # Synthetic sets must be byte-for-byte deterministic. Measured here: FFmpeg's "threads" option alone and
        # x264's macroblock-tree rate control each left the output varying from run to run on short clips.
        params = "threads=1:lookahead-threads=1:no-mbtree=1"
        if keyframe_interval:
            params += f":keyint={keyframe_interval}:min-keyint={keyframe_interval}:scenecut=0"
        stream.options = {"crf": str(crf), "preset": "fast", "x264-params": params}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)

