"""What one request may cost to decode: a limit on the pixels of one frame and of one sample, checked from the file
headers before anything is decoded.

    max_frame_pixels    a still image or video frame larger than this is refused (an error naming the file and
                        the limit; a counted skip under on_bad_record: skip). A raster (GeoTIFF, JPEG 2000, band
                        folder) is never refused for its size: GDAL reads it at a reduced resolution (overviews
                        where the file has them) that fits — the frame is resized to the model's input anyway.
    max_sample_pixels   all frames of one sample together, likewise.
    max_decode_pixels   (the demo's, off elsewhere) the source pixels a raster without overviews may have: its
                        reduced read still decodes every pixel of it, so a small file of huge dimensions (a
                        30000² GeoTIFF in 1-row strips is 0.9 MB) would hold a server for minutes.

The defaults are generous multiples of what any family's processor uses (Qwen's largest frame is 12.8 MP): 10,000²
per frame and four times that per sample. Pillow's own decompression-bomb guard is replaced by these limits, so
that one setting decides (checked before decoding, as Pillow's is).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image

Image.MAX_IMAGE_PIXELS = None  # max_frame_pixels decides, from the header, before decoding

DEFAULT_FRAME_PIXELS = 10_000 ** 2
DEFAULT_SAMPLE_PIXELS = 4 * DEFAULT_FRAME_PIXELS


@dataclass(frozen=True)
class ReadLimits:
    frame_pixels: int = DEFAULT_FRAME_PIXELS
    sample_pixels: int = DEFAULT_SAMPLE_PIXELS
    decode_pixels: int | None = None  # None: a raster's reduced read may decode any number of source pixels

    def per_frame(self, frames: int) -> int:
        """The pixels one of ``frames`` frames may decode to."""
        return min(self.frame_pixels, self.sample_pixels // max(frames, 1))

    def problem(self, sizes: list[tuple[int, int]], what: str) -> str | None:
        """Why frames of these (height, width) sizes may not be decoded, or None."""
        for height, width in sizes:
            if height * width > self.frame_pixels:
                return (f"{what} is {width} x {height} px = {height * width / 1e6:.0f} MP, over the limit of "
                        f"{self.frame_pixels / 1e6:.0f} MP per frame (max_frame_pixels); downscale it, or raise "
                        "max_frame_pixels if the machine has the memory")
        total = sum(h * w for h, w in sizes)
        if total > self.sample_pixels:
            return (f"{what}: {len(sizes)} frames of {total / 1e6:.0f} MP together, over the limit of "
                    f"{self.sample_pixels / 1e6:.0f} MP per sample (max_sample_pixels); use fewer or smaller frames, "
                    "or raise max_sample_pixels")
        return None


def reduced_shape(height: int, width: int, frames: int, limits: ReadLimits) -> tuple[int, int]:
    """The (height, width) a raster frame is read at: its own, or scaled down (aspect kept) to fit the limits."""
    budget = limits.per_frame(frames)
    if height * width <= budget:
        return height, width
    scale = math.sqrt(budget / (height * width))
    return max(1, math.floor(height * scale)), max(1, math.floor(width * scale))


def add_limit_arguments(parser, defaults: ReadLimits | None, prefix: str = "") -> None:
    """--max-frame-pixels and --max-sample-pixels on a command line; ``defaults`` None: the checkpoint's."""
    where = "the checkpoint's setting" if defaults is None else None
    parser.add_argument("--max-frame-pixels", type=int, default=defaults and defaults.frame_pixels,
                        help=f"{prefix}largest frame decoded, in pixels (default: {where or defaults.frame_pixels}); "
                             "larger images are refused before decoding, larger rasters read at a reduced resolution")
    parser.add_argument("--max-sample-pixels", type=int, default=defaults and defaults.sample_pixels,
                        help=f"{prefix}largest sample decoded, all its frames together (default: "
                             f"{where or defaults.sample_pixels})")
    decode = defaults and defaults.decode_pixels
    parser.add_argument("--max-decode-pixels", type=int, default=decode,
                        help=f"{prefix}largest raster without overviews read at all, in source pixels (its reduced "
                             f"read decodes every one of them; default: {decode or 'no limit'})")
