"""GeoTIFF and other raster frames (rasterio) → 8-bit RGB, one sample's frames together.

A frame is a raster file (GeoTIFF, JPEG 2000, ... anything GDAL reads) or a folder of one-band files laid out as
Sentinel-2 products and BigEarthNet patches are (`..._B04.tif`, `..._B03.tif`, ...).

    bands    which bands make R, G, B: 1-based numbers for files (`4,3,2`: Sentinel-2 true colour in a 12-band
             stack) or names for band folders (`B04,B03,B02`). Default: the file's own RGB interpretation, else
             its first three bands, a single band as grey; a folder: B04,B03,B02 (Sentinel-2) or B4,B3,B2
             (Landsat 8) when present.
    stretch  `auto` (default): 8-bit data as it is, anything else a 2-98 % percentile stretch; `LO,HI` to set
             the percentiles; `none` to clip to 0-255. The percentiles are computed per band over all frames of
             the sample at once, so that a real brightening between dates is not normalised away.
    nodata   pixels the file marks nodata (or masks) get the sample's mean colour.
    align    frames of one sample must share size, transform and CRS — an error naming the files — unless
             `align`, which resamples each onto the first frame's grid (bilinear).
    size     a frame larger than the read limits allow (limits.py) is read at a reduced resolution that fits, by
             GDAL (from overviews where the file has them): never decoded whole.
Dates come from the annotation, else from the file: its TIFF date tag, or a `YYYYMMDD` in the product name
(Sentinel-2 `S2A_MSIL2A_20170613T...`, Landsat `LC08_L1TP_026027_20170613_...`: the first date, acquisition).
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .limits import ReadLimits, reduced_shape

RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt", ".img")
GDAL_CACHE_MB = 128  # GDAL's decoded-block cache while a sample is read
WINDOW_PIXELS = 4096 ** 2  # a reduced read takes the file in windows of about this many source pixels
DEFAULT_FOLDER_BANDS = (("B04", "B03", "B02"), ("B4", "B3", "B2"))
_DATE_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d{2})(\d{2})(\d{2})(?:T\d{6})?(?!\d)")

log = logging.getLogger(__name__)


def _rasterio():
    """rasterio (GDAL) imported on the first raster read only: processes that read none never load GDAL."""
    import rasterio
    import rasterio.warp  # noqa: F401 - loads the submodules used below

    # a plain TIFF (UCMerced's 8-bit scenes) has no georeferencing, and needs none here
    warnings.filterwarnings("ignore", category=rasterio.errors.NotGeoreferencedWarning)
    return rasterio


class RasterError(ValueError):
    """A raster frame that cannot be read or does not fit with the others."""


@dataclass(frozen=True)
class RasterSettings:
    bands: tuple[str, ...] | None = None  # numbers ("4", "3", "2") or names ("B04", ...)
    stretch: tuple[float, float] | str = "auto"  # "auto", "none" or (low, high) percentiles
    align: bool = False

    @classmethod
    def parse(cls, bands: str | None, stretch: str = "auto", align: bool = False) -> RasterSettings:
        """From the config's text values: `bands: 4,3,2`, `stretch: 2,98`."""
        chosen = tuple(b.strip() for b in bands.split(",") if b.strip()) if bands else None
        if chosen is not None and len(chosen) not in (1, 3):
            raise ValueError(f"bands {bands!r}: give three bands (R, G, B) or one (grey)")
        if stretch in ("auto", "none"):
            return cls(chosen, stretch, align)
        try:
            low, high = (float(v) for v in stretch.split(","))
        except ValueError:
            raise ValueError(f"stretch {stretch!r}: use auto, none or two percentiles like 2,98") from None
        if not 0 <= low < high <= 100:
            raise ValueError(f"stretch {stretch!r}: percentiles must satisfy 0 <= low < high <= 100")
        return cls(chosen, (low, high), align)


def is_raster(path: Path) -> bool:
    """Whether ``path`` is read here rather than by Pillow: a raster file by suffix, or a folder of band files."""
    path = Path(path)
    return path.suffix.lower() in RASTER_SUFFIXES or (path.is_dir() and bool(_band_files(path)))


def read_rasters(paths: list[Path], settings: RasterSettings = RasterSettings(),
                 limits: ReadLimits = ReadLimits()) -> tuple[list[np.ndarray], list | None]:
    """The frames as H x W x 3 uint8 arrays, and their dates from the files (None unless every frame has one)."""
    # GDAL's block cache (5 % of the machine's memory by default) would hold every tile a reduced read decodes
    with _rasterio().Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        stacks = [_read_bands(Path(p), settings.bands, len(paths), limits) for p in paths]
    stacks = _on_one_grid(stacks, paths, settings.align)
    for path, stack in zip(paths, stacks):
        if stack.data.count() == 0:
            log.warning("%s: every pixel is nodata: the frame is shown as one flat colour (the sample's mean)", path)
    images = _to_rgb8(stacks, settings.stretch)
    dates = [s.date for s in stacks]
    return images, dates if all(dates) else None


def file_dates(paths: list[Path]) -> list[str] | None:
    """The dates raster frames carry (header tags or product names), read without the pixels; None unless
    every frame is a raster with a date."""
    if not all(is_raster(Path(p)) for p in paths):
        return None
    rasterio = _rasterio()
    dates = []
    for path in map(Path, paths):
        if not is_raster(path) or not path.exists():
            return None
        first = next(iter(_band_files(path).values()), None) if path.is_dir() else path
        try:
            with rasterio.open(first) as src:
                dates.append(_file_date(src, path))
        except (rasterio.errors.RasterioError, TypeError):
            return None
    return dates if all(dates) else None


@dataclass
class _Stack:
    data: np.ma.MaskedArray  # bands x H x W, masked where nodata
    dtype: np.dtype
    transform: object
    crs: object
    date: str | None


def _read_bands(path: Path, bands: tuple[str, ...] | None, frames: int, limits: ReadLimits) -> _Stack:
    rasterio = _rasterio()
    from rasterio.enums import ColorInterp

    if not path.exists():
        raise RasterError(f"raster frame {path} does not exist")
    if path.is_dir():
        return _read_band_folder(path, bands, frames, limits)
    try:
        with rasterio.open(path) as src:
            shape, transform = _read_grid(src, frames, limits)
            if bands is None and src.colorinterp[0] == ColorInterp.palette:
                return _Stack(_palette_rgb(src, shape), np.dtype(np.uint8), transform, src.crs, _file_date(src, path))
            indexes = _band_indexes(src, bands, path)
            if shape != (src.height, src.width):
                _check_decode_work(src, indexes, path, limits)
            data = src.read(indexes, masked=True) if shape == (src.height, src.width) else _reduced(src, indexes, shape)
            return _Stack(data, src.dtypes[0], transform, src.crs, _file_date(src, path))
    except rasterio.errors.RasterioError as e:
        raise RasterError(f"cannot read raster {path}: {e}") from None


def _check_decode_work(src, indexes: list[int], path: Path, limits: ReadLimits) -> None:
    """A reduced read of a raster without overviews decodes all its source pixels: refused over decode_pixels."""
    if limits.decode_pixels and not src.overviews(indexes[0]) and src.height * src.width > limits.decode_pixels:
        raise RasterError(f"{path} is {src.width} x {src.height} px ({src.width * src.height / 1e6:.3g} MP) without "
                          "overviews: reading it even at a reduced size decodes every pixel, over this server's "
                          f"limit of {limits.decode_pixels / 1e6:.3g} MP a frame (max_decode_pixels). Add overviews "
                          "(gdaladdo), crop or downscale it (gdal_translate -outsize), or ask it with geollava "
                          "predict")


def _reduced(src, indexes: list[int], shape: tuple[int, int]) -> np.ma.MaskedArray:
    """The bands read at ``shape``, nearest neighbour: from the file's overviews where it has them; else window by
    window at full resolution, each window's pixel centres picked out, so that no more than a window is ever
    decoded at once. (GDAL's own decimated read was 40x slower here than reading the same window whole: 95 s for
    a 20000² GeoTIFF without overviews, against ~3 s.)"""
    from rasterio.windows import Window

    if src.overviews(indexes[0]):
        return src.read(indexes, masked=True, out_shape=(len(indexes), *shape))
    (height, width), (out_h, out_w) = (src.height, src.width), shape
    rows, cols = _centres(height, out_h), _centres(width, out_w)
    step = max(1, math.isqrt(WINDOW_PIXELS))
    striped = src.block_shapes[0][1] >= width  # blocks are whole rows: read full-width bands, each strip once
    row_step, col_step = (max(1, WINDOW_PIXELS // width), width) if striped else (step, step)
    out = np.ma.masked_all((len(indexes), out_h, out_w), dtype=src.dtypes[0])
    for o0, o1 in _pieces(rows, row_step):
        for p0, p1 in _pieces(cols, col_step):
            r0, r1, c0, c1 = rows[o0], rows[o1 - 1] + 1, cols[p0], cols[p1 - 1] + 1
            window = src.read(indexes, masked=True, window=Window(c0, r0, c1 - c0, r1 - r0))
            out[:, o0:o1, p0:p1] = window[:, rows[o0:o1] - r0][:, :, cols[p0:p1] - c0]
    return out


def _centres(size: int, out: int) -> np.ndarray:
    """The source pixel under the centre of each of ``out`` output pixels spanning ``size`` source pixels."""
    return np.minimum(((np.arange(out) + 0.5) * size / out).astype(np.int64), size - 1)


def _pieces(centres: np.ndarray, step: int) -> list[tuple[int, int]]:
    """Output ranges whose source pixels span at most about ``step`` pixels (at least one output pixel each)."""
    pieces, start = [], 0
    while start < len(centres):
        end = max(start + 1, int(np.searchsorted(centres, centres[start] + step)))
        pieces.append((start, end))
        start = end
    return pieces


def _read_grid(src, frames: int, limits: ReadLimits):
    """The (height, width) a raster is read at within the limits, and its transform at that size."""
    from rasterio.transform import Affine

    shape = reduced_shape(src.height, src.width, frames, limits)
    if shape == (src.height, src.width):
        return shape, src.transform
    return shape, src.transform * Affine.scale(src.width / shape[1], src.height / shape[0])


def _palette_rgb(src, shape: tuple[int, int]) -> np.ma.MaskedArray:
    """A paletted band through its colour map, as R, G, B."""
    index = src.read(1, masked=True, out_shape=shape)
    table = np.zeros((256, 3), np.uint8)
    for value, colour in src.colormap(1).items():
        table[value] = colour[:3]
    rgb = table[index.filled(0)].transpose(2, 0, 1)
    return np.ma.masked_array(rgb, mask=np.broadcast_to(np.ma.getmaskarray(index), rgb.shape))


def _band_indexes(src, bands, path: Path) -> list[int]:
    from rasterio.enums import ColorInterp

    if bands is None:
        colours = list(src.colorinterp)
        rgb = [colours.index(c) + 1 for c in (ColorInterp.red, ColorInterp.green, ColorInterp.blue) if c in colours]
        if len(rgb) == 3:
            return rgb
        return [1, 2, 3] if src.count >= 3 else [1]
    try:
        indexes = [int(b) for b in bands]
    except ValueError:
        names = [d or "" for d in src.descriptions]
        missing = [b for b in bands if b not in names]
        if missing:
            raise RasterError(f"{path}: bands {', '.join(missing)} are not band numbers or band descriptions "
                              f"of this file ({src.count} bands: {', '.join(n or '?' for n in names)})") from None
        indexes = [names.index(b) + 1 for b in bands]
    bad = [i for i in indexes if not 1 <= i <= src.count]
    if bad:
        raise RasterError(f"{path} has {src.count} bands: band {bad[0]} does not exist (bands are 1-based)")
    return indexes


def _band_files(folder: Path) -> dict[str, Path]:
    """Band name → file for a folder of one-band rasters (`S2A_..._B04.tif`, `l8_B4.tif`, `B8A.jp2`)."""
    found = {}
    for path in sorted(folder.iterdir()):
        match = re.search(r"(?:^|_)(B\d+A?)$", path.stem, flags=re.I)
        if match and path.suffix.lower() in RASTER_SUFFIXES:
            found[match.group(1).upper()] = path
    return found


def _chosen_band_files(folder: Path, bands: tuple[str, ...] | None) -> dict[str, Path]:
    """Band name → file of the bands a folder frame shows (``bands``, else B04,B03,B02 or B4,B3,B2)."""
    files = _band_files(folder)
    if bands is None:
        bands = next((b for b in DEFAULT_FOLDER_BANDS if all(n in files for n in b)), None)
        if bands is None:
            raise RasterError(f"{folder}: no B04,B03,B02 or B4,B3,B2 band files; set bands (e.g. bands: B08,B04,B03) "
                              f"from those present: {', '.join(files) or 'none'}")
    missing = [b for b in bands if b.upper() not in files]
    if missing:
        raise RasterError(f"{folder}: no band file for {', '.join(missing)} (present: {', '.join(files) or 'none'})")
    return {name: files[name.upper()] for name in bands}


def raster_size(path: Path, bands: tuple[str, ...] | None = None, frames: int = 1,
                limits: ReadLimits = ReadLimits()) -> tuple[int, int]:
    """(height, width) a raster frame is read at — its header's (a band folder: its first shown band's file),
    reduced to fit the limits for a sample of ``frames`` frames."""
    rasterio = _rasterio()
    path = Path(path)
    first = next(iter(_chosen_band_files(path, bands).values())) if path.is_dir() else path
    try:
        with rasterio.open(first) as src:
            return reduced_shape(src.height, src.width, frames, limits)
    except rasterio.errors.RasterioError as e:
        raise RasterError(f"cannot read raster {first}: {e}") from None


def _read_band_folder(folder: Path, bands: tuple[str, ...] | None, frames: int, limits: ReadLimits) -> _Stack:
    rasterio = _rasterio()
    layers, first = [], None
    chosen = _chosen_band_files(folder, bands)
    for name, path in chosen.items():
        try:
            with rasterio.open(path) as src:
                if first is None:
                    shape, transform = _read_grid(src, frames, limits)
                    first = (src.shape, transform, src.crs, src.dtypes[0], _file_date(src, folder), shape)
                elif src.shape != first[0]:
                    raise RasterError(f"{folder}: band {name} is {src.shape[1]} x {src.shape[0]} px, band "
                                      f"{next(iter(chosen))} {first[0][1]} x {first[0][0]} (bands of different resolution: "
                                      "pick bands of one resolution, e.g. the 10 m B04,B03,B02)")
                if first[5] != src.shape:
                    _check_decode_work(src, [1], path, limits)
                layers.append(src.read(1, masked=True, out_shape=first[5]))
        except rasterio.errors.RasterioError as e:  # as a single file's: one error naming the file
            raise RasterError(f"cannot read raster {path}: {e}") from None
    _, transform, crs, dtype, date, _ = first
    return _Stack(np.ma.stack(layers), dtype, transform, crs, date)


def _file_date(src, path: Path) -> str | None:
    tag = src.tags().get("TIFFTAG_DATETIME", "")
    match = re.match(r"(\d{4}):(\d{2}):(\d{2})", tag)
    if match:
        return _valid_date(*match.groups())
    for part in (path.name, path.parent.name):
        for match in _DATE_IN_NAME.finditer(part):
            date = _valid_date(*match.groups())
            if date:
                return date
    return None


def _valid_date(year: str, month: str, day: str) -> str | None:
    try:
        return dt.date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return None


def _on_one_grid(stacks: list[_Stack], paths: list[Path], align: bool) -> list[_Stack]:
    first = stacks[0]
    for stack, path in zip(stacks[1:], paths[1:]):
        same = (stack.data.shape[1:] == first.data.shape[1:] and stack.transform == first.transform
                and stack.crs == first.crs)
        if same:
            continue
        if not align:
            raise RasterError(f"{path} is not on the grid of {paths[0]} ({_grid(stack)} vs {_grid(first)}): "
                              "frames of one sample must match; set align: true to resample onto the first frame")
        stack.data = _resampled(stack, first)
        stack.transform, stack.crs = first.transform, first.crs
    return stacks


def _grid(stack: _Stack) -> str:
    return f"{stack.data.shape[2]} x {stack.data.shape[1]} px, {stack.crs or 'no CRS'}, origin " \
           f"({stack.transform.c:.6g}, {stack.transform.f:.6g}), pixel {stack.transform.a:.6g}"


def _resampled(stack: _Stack, onto: _Stack) -> np.ma.MaskedArray:
    from rasterio.warp import Resampling, reproject

    bands, height, width = stack.data.shape[0], *onto.data.shape[1:]
    source = stack.data.filled(0).astype(np.float32)
    valid = (~np.ma.getmaskarray(stack.data)).astype(np.float32)
    out, coverage = np.zeros((bands, height, width), np.float32), np.zeros((bands, height, width), np.float32)
    crs = onto.crs or stack.crs
    for band in range(bands):
        for src, dst in ((source[band], out[band]), (valid[band], coverage[band])):
            reproject(src, dst, src_transform=stack.transform, src_crs=stack.crs or crs, dst_transform=onto.transform,
                      dst_crs=crs, resampling=Resampling.bilinear, src_nodata=None, dst_nodata=0)
    return np.ma.masked_array(out, mask=coverage < 0.5)


def stretched(arrays: list[np.ndarray], stretch="auto") -> list[np.ndarray]:
    """Frames of any bit depth (H x W, or H x W x bands) scaled to 8-bit RGB as raster frames are."""
    stacks = [_Stack(np.ma.masked_array(a[None] if a.ndim == 2 else np.moveaxis(a, -1, 0)), a.dtype, None, None,
                     None) for a in arrays]
    return _to_rgb8(stacks, stretch)


def _to_rgb8(stacks: list[_Stack], stretch) -> list[np.ndarray]:
    """The sample's frames scaled to 0-255 with one scale per band for all frames; nodata = the mean colour. One
    band at a time, so the float copies cost one band of the sample, not all of them."""
    eight_bit = all(np.dtype(s.dtype) == np.uint8 for s in stacks)
    if stretch == "auto":
        stretch = "none" if eight_bit else (2.0, 98.0)
    bands, height, width = stacks[0].data.shape
    images = np.empty((len(stacks), height, width, bands), np.uint8)  # frames x H x W x bands
    for band in range(bands):
        data = np.ma.stack([s.data[band].astype(np.float32) for s in stacks])  # frames x H x W
        if stretch != "none":
            values = data.compressed()
            if values.size:
                lo, hi = np.percentile(values, list(stretch))
                data = (data - lo) / max(hi - lo, 1e-12) * 255.0
            del values
        data = np.ma.clip(data, 0, 255)
        mean = float(data.mean()) if data.count() else 0.0
        images[..., band] = np.rint(data.filled(mean))
    if bands == 1:
        images = np.repeat(images, 3, axis=-1)
    return list(images)
