"""Files GIS tools expect: COGs (tiled or not), the input's type, --co, --extent intersection, quicklooks, pictures."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from gdd.io import InputError, WindowReader, read_image, read_raster, write_image

rasterio = pytest.importorskip("rasterio", reason="GeoTIFF output needs the geo extra: pip install 'gdd[geo]'")
from affine import Affine  # noqa: E402
from rasterio.enums import ColorInterp  # noqa: E402

from gdd.cli import main  # noqa: E402

CRS = "EPSG:32633"
QUICK = ["--iterations", "3", "--width", "8", "--device", "cpu", "--quiet"]


def _write(path: Path, a: np.ndarray, transform: Affine, **extra: object) -> Path:
    """Write an H x W x C array as a georeferenced GeoTIFF."""
    h, w, c = a.shape
    scales = extra.pop("scales", None)
    offsets = extra.pop("offsets", None)
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=c, dtype=a.dtype, crs=CRS,
                       transform=transform, **extra) as dst:  # fmt: skip
        if scales is not None:
            dst.scales, dst.offsets = scales, offsets
        dst.write(np.moveaxis(a, -1, 0))
    return path


def _scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth 4-band reference (64 x 64) and its PAN."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:64, 0:64] / 64.0
    gt = np.stack([0.3 + 0.2 * np.sin(6 * xx + b) * np.cos(4 * yy - b) for b in range(4)], -1)
    gt = (gt + 0.02 * rng.random(gt.shape)).astype(np.float32)
    return gt, gt.mean(-1, keepdims=True)


def _pair(tmp_path: Path, *, pan_pad: int = 0, dn: bool = False) -> tuple[str, str]:
    """An MS GeoTIFF (16 x 16 at 40 m) and its PAN (64 x 64 at 10 m, ``pan_pad`` pixels wider on every side)."""
    gt, pan = _scene()
    ms = gt.reshape(16, 4, 16, 4, 4).mean((1, 3))
    t_ms = Affine(40.0, 0.0, 500000.0, 0.0, -40.0, 4000000.0)
    if dn:  # reflectance as Landsat stores it: uint16 digital numbers with a scale and an offset
        stored = np.rint((ms + 0.2) / 2.75e-5).astype(np.uint16)
        _write(tmp_path / "ms.tif", stored, t_ms, scales=(2.75e-5,) * 4, offsets=(-0.2,) * 4, nodata=0)
    else:
        _write(tmp_path / "ms.tif", ms, t_ms)
    if pan_pad:
        pan = np.pad(pan, ((pan_pad, pan_pad), (pan_pad, pan_pad), (0, 0)), mode="reflect")
    t_pan = Affine(10.0, 0.0, 500000.0 - 10 * pan_pad, 0.0, -10.0, 4000000.0 + 10 * pan_pad)
    _write(tmp_path / "pan.tif", pan, t_pan)
    return str(tmp_path / "ms.tif"), str(tmp_path / "pan.tif")


def _pan(ms: str, pan: str, out: Path, *more: str) -> list[str]:
    return ["pan", "--ms", ms, "--pan", pan, "--ratio", "4", "--out", str(out), *QUICK, *more]


def _valid_cog(path: Path) -> None:
    from rio_cogeo.cogeo import cog_validate

    valid, errors, _ = cog_validate(str(path), quiet=True)
    assert valid, errors


def test_a_result_is_the_same_cloud_optimized_geotiff_whether_tiled_or_not(tmp_path: Path) -> None:
    from gdd.io import Raster

    rng = np.random.default_rng(0)
    data = rng.random((1100, 1000, 2)).astype(np.float32)
    meta = Raster(data, crs=CRS, transform=(10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0))
    out = write_image(tmp_path / "big.tif", data, meta=meta)
    _valid_cog(out)
    with rasterio.open(out) as f:
        assert f.overviews(1), "no overviews"
    ms, pan = _pair(tmp_path)
    assert main(_pan(ms, pan, tmp_path / "whole.tif", "--tile", "none")) == 0
    assert main(_pan(ms, pan, tmp_path / "tiled.tif", "--tile", "32", "--overlap", "8")) == 0
    profiles = []
    for name in ("whole.tif", "tiled.tif"):
        _valid_cog(tmp_path / name)
        with rasterio.open(tmp_path / name) as f:
            profiles.append((f.tags(ns="IMAGE_STRUCTURE"), f.profile["blockxsize"], f.crs, f.transform, f.dtypes))
            assert f.tags()["GDD_COMMAND"].startswith("gdd pan --ms ")
    assert profiles[0] == profiles[1]


def test_dtype_input_writes_the_inputs_digital_numbers_with_its_scale_and_offset(tmp_path: Path) -> None:
    ms, pan = _pair(tmp_path, dn=True)
    assert main(_pan(ms, pan, tmp_path / "float.tif", "--tile", "none")) == 0
    assert main(_pan(ms, pan, tmp_path / "dn.tif", "--tile", "none", "--dtype", "input")) == 0
    assert main(_pan(ms, pan, tmp_path / "dn_tiled.tif", "--tile", "32", "--overlap", "8", "--dtype", "input")) == 0
    with rasterio.open(tmp_path / "dn.tif") as f:
        assert f.dtypes[0] == "uint16" and f.scales == (2.75e-5,) * 4 and f.offsets == (-0.2,) * 4
    with rasterio.open(tmp_path / "dn_tiled.tif") as f:
        assert f.dtypes[0] == "uint16" and f.scales == (2.75e-5,) * 4
    reflectance = read_raster(tmp_path / "float.tif").data
    again = read_raster(tmp_path / "dn.tif").data  # reflectance again, through the scale and offset
    assert np.abs(again - reflectance).max() <= 2.75e-5 / 2 + 1e-6
    assert 0.05 < float(reflectance.mean()) < 0.6  # reflectance, not digital numbers / 65535


def test_uint16_of_a_scaled_product_reads_back_as_its_physical_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ms, pan = _pair(tmp_path, dn=True)  # reflectance as uint16 with a scale, an offset and nodata 0
    for tile in ("none", "32"):
        out = tmp_path / f"u16_{tile}.tif"
        assert main(_pan(ms, pan, tmp_path / "float.tif", "--tile", tile, "--force")) == 0
        assert main(_pan(ms, pan, out, "--dtype", "uint16", "--tile", tile)) == 0
        with rasterio.open(out) as f:
            assert f.dtypes[0] == "uint16" and f.scales == (1 / 65535,) * 4 and f.offsets == (0.0,) * 4
            assert f.nodata == 0  # the input's stored number
        physical = read_raster(out).data
        np.testing.assert_allclose(physical, np.clip(read_raster(tmp_path / "float.tif").data, 0, 1), atol=1 / 65535)
    # Stored numbers in a format without a scale and offset: said.
    capsys.readouterr()
    assert main(_pan(ms, pan, tmp_path / "dn.npy", "--dtype", "input")) == 0
    assert "dn.npy holds the stored numbers without their scale and offset" in capsys.readouterr().err


def test_dtype_input_keeps_integer_digital_numbers_at_their_bit_depth(tmp_path: Path) -> None:
    gt, pan = _scene()
    ms = np.rint(gt.reshape(16, 4, 16, 4, 4).mean((1, 3)) * 2047).astype(np.int16)
    np.save(tmp_path / "ms.npy", ms)
    np.save(tmp_path / "pan.npy", np.rint(pan * 2047).astype(np.int16))
    argv = ["pan", "--ms", str(tmp_path / "ms.npy"), "--pan", str(tmp_path / "pan.npy"), "--ratio", "4",
            "--bit-depth", "11", *QUICK]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "f.npy")]) == 0
    assert main([*argv, "--out", str(tmp_path / "dn.npy"), "--dtype", "input"]) == 0
    dn = np.load(tmp_path / "dn.npy")
    assert dn.dtype == np.int16 and 0 <= dn.min() and dn.max() <= 2047
    np.testing.assert_array_equal(dn, np.clip(np.rint(np.load(tmp_path / "f.npy").astype(np.float64) * 2047), 0, 2047))
    # By tiles, the arrays read window by window keep their type too.
    assert (
        main([*argv, "--out", str(tmp_path / "tiled.npy"), "--dtype", "input", "--tile", "32", "--overlap", "8"]) == 0
    )
    assert np.load(tmp_path / "tiled.npy").dtype == np.int16


def test_pixels_with_data_never_take_the_stored_nodata_value(capsys) -> None:  # type: ignore[no-untyped-def]
    from gdd.io.read import Stored
    from gdd.io.write import _encode

    arr = np.array([[0.0, 0.2 / 2047, 3 / 2047, 2047 / 2047, 0.5]], np.float32)[..., None]  # 1 x 5 x 1
    mask = np.array([[True, True, True, True, False]])
    low = _encode(arr, Stored("uint16", divisor=2047.0, nodata=0), None, mask, None)
    assert low[..., 0].tolist() == [[1, 1, 3, 2047, 0]]  # the dark pixels with data stored as 1, not as nodata
    assert "2 values of the result's pixels with data were the nodata value 0" in capsys.readouterr().err
    high = _encode(arr, Stored("uint16", divisor=2047.0, nodata=2047), None, mask, None)
    assert high[..., 0].tolist() == [[0, 0, 3, 2046, 2047]]
    assert "1 values of the result's pixels with data were the nodata value 2047" in capsys.readouterr().err
    plain = _encode(arr, Stored("uint16", divisor=2047.0), None, None, None)  # no nodata: values as they are
    assert plain[..., 0].tolist() == [[0, 0, 3, 2047, 1024]] and capsys.readouterr().err == ""


def test_an_envi_image_s_map_info_is_read_checked_and_written(tmp_path: Path) -> None:
    pytest.importorskip("spectral", reason="ENVI files need the envi extra: pip install 'gdd[envi]'")
    ms_tif, pan = _pair(tmp_path)
    with rasterio.open(ms_tif) as src:  # the same MS as an ENVI image with a map info (GDAL's ENVI driver)
        profile = {**src.profile, "driver": "ENVI"}
        for key in ("tiled", "blockxsize", "blockysize", "interleave"):
            profile.pop(key, None)
        with rasterio.open(tmp_path / "ms.img", "w", **profile) as dst:
            dst.write(src.read())
    envi = str(tmp_path / "ms.hdr")
    assert read_raster(envi).crs == read_raster(ms_tif).crs and read_raster(envi).transform == (40, 0, 5e5, 0, -40, 4e6)
    for out in ("tif/fused.tif", "hdr/fused.hdr"):
        assert main(["pan", "--ms", envi, "--pan", pan, "--ratio", "4", "--out", str(tmp_path / out), *QUICK]) == 0
        with rasterio.open(tmp_path / out.replace(".hdr", ".img")) as f:  # the result on the PAN's grid
            assert f.crs == CRS and tuple(f.transform)[:6] == (10, 0, 5e5, 0, -10, 4e6)
    assert read_raster(tmp_path / "hdr/fused.hdr").crs == read_raster(pan).crs  # and gdd reads it back
    # Grids are checked as a GeoTIFF's: another coordinate system is refused.
    with rasterio.open(tmp_path / "ms.img", "r+") as f:
        f.crs = rasterio.crs.CRS.from_epsg(32634)
    assert main(["pan", "--ms", envi, "--pan", pan, "--ratio", "4", "--out", str(tmp_path / "x.tif"), *QUICK]) == 1
    # Band numbers are no wavelengths; wavelengths of unknown units are read as before.
    header = (tmp_path / "ms.hdr").read_text()
    (tmp_path / "ms.hdr").write_text(header + "wavelength units = Index\nwavelength = {1, 2, 3, 4}\n")
    assert read_raster(envi).wavelengths is None
    (tmp_path / "ms.hdr").write_text(header + "wavelength units = Unknown\nwavelength = {450, 550, 650, 850}\n")
    assert read_raster(envi).wavelengths == (450, 550, 650, 850)
    # An "Arbitrary" map info places pixels on no map: no grid to check, as without one.
    kept = [line for line in header.splitlines() if not line.startswith(("coordinate system string", "map info"))]
    (tmp_path / "ms.hdr").write_text("\n".join([*kept, "map info = {Arbitrary, 1, 1, 0, 0, 1, 1, 0, North}", ""]))
    assert read_raster(envi).transform is None and read_raster(envi).crs is None


def test_creation_options_reach_the_cog_and_bad_ones_fail_before_the_fit(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    ms, pan = _pair(tmp_path)
    out = tmp_path / "f.tif"
    assert main(_pan(ms, pan, out, "--co", "COMPRESS=LZW", "--co", "blocksize=256")) == 0
    with rasterio.open(out) as f:
        assert f.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "LZW" and f.profile["blockxsize"] == 256
    capsys.readouterr()
    for bad, said in ((["--co", "BLOCKSIZE=big"], "BLOCKSIZE takes an integer"),
                      (["--co", "NOT_AN_OPTION=1"], "NOT_AN_OPTION"),
                      (["--co", "COMPRESS=NOPE"], "NOPE")):  # fmt: skip
        code = main(_pan(ms, pan, tmp_path / "bad.tif", *bad))
        err = capsys.readouterr().err
        assert code == 1 and err.count("\n") == 1 and said in err, err
        assert "steps" not in capsys.readouterr().out  # refused before the fit
        assert not (tmp_path / "bad.tif").exists()
    code = main(_pan(ms, pan, tmp_path / "g.npy", "--co", "COMPRESS=LZW"))
    assert code == 1 and "of a .tif output" in capsys.readouterr().err
    # Options that would move the result off the guide's grid are refused, whole and tiled.
    for tile in ("none", "32"):
        code = main(_pan(ms, pan, tmp_path / "w.tif", "--co", "TARGET_SRS=EPSG:4326", "--tile", tile))
        assert code == 1 and "--co TARGET_SRS: the COG driver would reproject" in capsys.readouterr().err
    # The options are tried on the result's own type: 12-bit packing of a uint16 result.
    for tile in ("none", "32"):
        out = tmp_path / f"u{tile}.tif"
        packed = ["--dtype", "uint16", "--co", "NBITS=12", "--co", "PREDICTOR=NO", "--tile", tile]
        assert main(_pan(ms, pan, out, *packed)) == 0, capsys.readouterr()
        with rasterio.open(out) as f:
            assert f.dtypes[0] == "uint16" and f.tags(1, ns="IMAGE_STRUCTURE").get("NBITS") == "12"


def test_an_overwritten_result_does_not_keep_gdal_s_metadata_of_the_earlier_one(tmp_path: Path) -> None:
    """An earlier result's .aux.xml (statistics QGIS computed, a nodata value) would describe the new one."""
    ms, pan = _pair(tmp_path)
    for tile in ("none", "32"):
        out = tmp_path / f"r{tile}.tif"
        assert main(_pan(ms, pan, out, "--tile", tile)) == 0
        aux = out.with_name(out.name + ".aux.xml")
        aux.write_text('<PAMDataset><PAMRasterBand band="1"><NoDataValue>-1</NoDataValue></PAMRasterBand></PAMDataset>')
        with rasterio.open(out) as f:
            assert f.nodata == -1  # what GDAL would say of the new result
        assert main(_pan(ms, pan, out, "--tile", tile, "--force", "--seed", "1")) == 0
        assert not aux.exists()
        with rasterio.open(out) as f:
            assert f.nodata is None or math.isnan(f.nodata)


def test_overviews_average_so_that_a_nodata_edge_stays_nodata(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    ms = np.rint(1000 + 500 * rng.random((64, 64, 3))).astype(np.uint16)
    ms[-1] = 0  # the last row without data
    _write(tmp_path / "ms.tif", ms, Affine(40.0, 0.0, 500000.0, 0.0, -40.0, 4000000.0), nodata=0)
    pan = np.kron(ms.mean(-1, keepdims=True), np.ones((4, 4, 1))).astype(np.float32) / 65535
    _write(tmp_path / "pan.tif", pan, Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0))
    out = tmp_path / "o.tif"
    argv = _pan(str(tmp_path / "ms.tif"), str(tmp_path / "pan.tif"), out, "--co", "BLOCKSIZE=128", "--dtype", "input")
    assert main(argv) == 0
    with rasterio.open(out) as f:
        assert f.overviews(1) == [2]
        full, over = f.read_masks(1), f.read_masks(1, out_shape=(128, 128))
        assert (full[-4:] == 0).all() and (full[:-4] > 0).all()
        assert (over[-2:] == 0).all() and (over[:-2] > 0).all()  # cubic carried values into the edge


def test_a_pair_whose_extents_differ_is_fused_on_the_area_both_cover(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    ms, pan = _pair(tmp_path, pan_pad=6)  # the PAN covers 6 more pixels on every side
    out = tmp_path / "f.tif"
    code = main(_pan(ms, pan, out))
    err = capsys.readouterr().err
    assert code == 1 and "--extent intersection" in err and not out.exists(), err
    for tile in ("none", "32"):
        out = tmp_path / f"f{tile}.tif"
        assert main(_pan(ms, pan, out, "--extent", "intersection", "--tile", tile)) == 0
        assert "pan rows 6-69, columns 6-69 of 76 x 76" in capsys.readouterr().out
        with rasterio.open(out) as f:
            assert (f.height, f.width) == (64, 64)
            assert f.transform == Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0)
    np.testing.assert_allclose(read_raster(tmp_path / "fnone.tif").data.shape, (64, 64, 4))


def test_eval_compares_files_on_one_grid(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    ms, pan = _pair(tmp_path)
    assert main(_pan(ms, pan, tmp_path / "r.tif")) == 0
    assert main(["eval", str(tmp_path / "r.tif"), "--ms", ms, "--pan", pan]) == 0
    gt, _ = _scene()
    _write(tmp_path / "ref.tif", gt, Affine(10.0, 0.0, 500010.0, 0.0, -10.0, 4000000.0))  # a column off
    capsys.readouterr()
    for by_windows in ([], ["--window", "16"]):  # a large result is read by windows: checked alike
        argv = ["eval", str(tmp_path / "r.tif"), "--reference", str(tmp_path / "ref.tif"), "--ratio", "4"]
        assert main([*argv, *by_windows]) == 1
        assert "the reference's origin is 1.0 column(s), 0.0 row(s) of the finer grid away" in capsys.readouterr().err
    # An MS of the same size one MS pixel along (another cut of the scene): refused, not scored.
    with rasterio.open(ms) as src:
        _write(tmp_path / "ms_along.tif", np.moveaxis(src.read(), 0, -1), src.transform * Affine.translation(1, 0))
    assert main(["eval", str(tmp_path / "r.tif"), "--ms", str(tmp_path / "ms_along.tif"), "--pan", pan]) == 1
    err = capsys.readouterr().err
    assert "not on one grid: the ms's origin is 4.0 column(s)" in err and "--extent intersection" in err, err


def test_intersection_refuses_grids_that_do_not_meet_at_whole_pixels(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    gt, pan = _scene()
    ms = gt.reshape(16, 4, 16, 4, 4).mean((1, 3))
    _write(tmp_path / "pan.tif", pan, Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0))
    cases = {
        "half.tif": (Affine(40.0, 0.0, 500005.0, 0.0, -40.0, 4000000.0), "a fraction of a pixel"),
        "far.tif": (Affine(40.0, 0.0, 900000.0, 0.0, -40.0, 4000000.0), "do not overlap"),
        "coarse.tif": (Affine(80.0, 0.0, 500000.0, 0.0, -80.0, 4000000.0), "its pixel is 80 x 80"),
    }
    for name, (transform, said) in cases.items():
        _write(tmp_path / name, ms, transform)
        code = main(_pan(str(tmp_path / name), str(tmp_path / "pan.tif"), tmp_path / "f.tif", "--extent",
                         "intersection"))  # fmt: skip
        err = capsys.readouterr().err
        assert code == 1 and err.count("\n") == 1 and said in err, (name, err)
    np.save(tmp_path / "ms.npy", ms)
    code = main(_pan(str(tmp_path / "ms.npy"), str(tmp_path / "pan.tif"), tmp_path / "f.tif", "--extent",
                     "intersection"))  # fmt: skip
    assert code == 1 and "needs georeferenced inputs" in capsys.readouterr().err


def test_the_preview_of_a_georeferenced_result_is_placed_on_the_map(tmp_path: Path) -> None:
    ms, pan = _pair(tmp_path)
    assert main(_pan(ms, pan, tmp_path / "f.tif")) == 0
    assert (tmp_path / "f.png.aux.xml").exists()
    with rasterio.open(tmp_path / "f.png") as png, rasterio.open(tmp_path / "f.tif") as tif:
        assert png.crs == tif.crs and png.transform == tif.transform
    np.save(tmp_path / "ms.npy", read_raster(ms).data)
    np.save(tmp_path / "pan.npy", read_raster(pan).data)
    assert main(_pan(str(tmp_path / "ms.npy"), str(tmp_path / "pan.npy"), tmp_path / "f.tif", "--force")) == 0
    assert not (tmp_path / "f.png.aux.xml").exists()  # no longer true of the new preview


def test_a_thinned_tiled_preview_is_placed_on_the_map_and_pixels_without_data_are_transparent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gdd.app.tiled
    import gdd.app.tilestore

    ms, pan = _pair(tmp_path, dn=True)
    with rasterio.open(ms, "r+") as dst:  # a corner without data, as a swath's edge
        stored = dst.read()
        stored[:, :4, :4] = 0
        dst.write(stored)
    for module in (gdd.app.tiled, gdd.app.tilestore):  # a scene large enough to be shown thinned, k = 2
        monkeypatch.setattr(module, "preview_step", lambda h, w: 2)
    assert main(_pan(ms, pan, tmp_path / "t.tif", "--tile", "32", "--overlap", "8")) == 0
    with rasterio.open(tmp_path / "t.png") as png, rasterio.open(tmp_path / "t.tif") as tif:
        assert png.crs == tif.crs and png.width == tif.width // 2
        # Each preview pixel is centred on the result's pixel it shows (pixels 0, 2, 4 ...).
        assert [png.xy(r, c) for r, c in ((0, 0), (5, 7))] == [tif.xy(2 * r, 2 * c) for r, c in ((0, 0), (5, 7))]
        alpha = png.read(4)
    assert (alpha[:8, :8] == 0).all() and (alpha[8:] == 255).all()  # the MS's 4 x 4 corner, halved
    monkeypatch.undo()
    assert main(_pan(ms, pan, tmp_path / "w.tif")) == 0
    with rasterio.open(tmp_path / "w.png") as png:
        assert png.count == 4 and (png.read(4)[:16, :16] == 0).all() and (png.read(4)[16:] == 255).all()


def test_wavelengths_and_band_widths_travel_from_an_envi_cube_to_the_cog(tmp_path: Path) -> None:
    pytest.importorskip("spectral", reason="ENVI files need the envi extra")
    from gdd.io import Raster

    data = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    meta = Raster(data, wavelengths=(450.0, 550.0, 650.0), fwhm=(20.0, 25.0, 30.0))
    write_image(tmp_path / "c.hdr", data, meta=meta)
    again = read_raster(tmp_path / "c.hdr")
    assert again.wavelengths == (450.0, 550.0, 650.0) and again.fwhm == (20.0, 25.0, 30.0)
    write_image(tmp_path / "c.tif", data, meta=again)
    with rasterio.open(tmp_path / "c.tif") as f:
        assert f.tags(3, ns="IMAGERY") == {"CENTRAL_WAVELENGTH_UM": "0.65", "FWHM_UM": "0.03"}
        assert f.colorinterp == (ColorInterp.blue, ColorInterp.green, ColorInterp.red)
    assert read_raster(tmp_path / "c.tif").fwhm == (20.0, 25.0, 30.0)


def test_windows_of_a_scaled_geotiff_read_as_the_whole_file_does(tmp_path: Path) -> None:
    ms, _ = _pair(tmp_path, dn=True)
    whole = read_raster(ms)
    reader = WindowReader(ms, name="ms")
    np.testing.assert_array_equal(reader.read(slice(0, 16), slice(0, 16)).data, whole.data)
    assert reader.meta.stored == whole.stored and reader.meta.stored.scales == (2.75e-5,) * 4  # type: ignore[union-attr]
    reader.crop(slice(4, 12), slice(2, 10))
    np.testing.assert_array_equal(reader.read(slice(0, 8), slice(0, 8)).data, whole.data[4:12, 2:10])
    assert reader.meta.transform == (40.0, 0.0, 500080.0, 0.0, -40.0, 3999840.0)


def test_nodata_given_for_a_scaled_product_is_its_stored_number_whole_and_by_windows(tmp_path: Path) -> None:
    """``--nodata 0`` on reflectance stored as DN x scale + offset marks the pixels stored as 0, as GDAL's does."""
    gt, _ = _scene()
    ms = gt.reshape(16, 4, 16, 4, 4).mean((1, 3))
    stored = np.rint((ms + 0.2) / 2.75e-5).astype(np.uint16)
    stored[:, :3] = 0  # a fill border, the file declaring no nodata
    path = _write(tmp_path / "ms.tif", stored, Affine(40.0, 0.0, 5e5, 0.0, -40.0, 4e6),
                  scales=(2.75e-5,) * 4, offsets=(-0.2,) * 4)  # fmt: skip
    plain = read_raster(path)
    assert plain.mask is None and float(plain.data.min()) == pytest.approx(-0.2)  # DN 0 is data to the file
    given = read_raster(path, nodata=0)
    assert given.mask is not None and not given.mask[:, :3].any() and given.mask[:, 3:].all()
    np.testing.assert_array_equal(given.data[:, 3:], plain.data[:, 3:])
    assert given.stored is not None and given.stored.nodata == 0 and math.isnan(given.nodata)  # type: ignore[arg-type]
    reader = WindowReader(path, name="ms", nodata=0)
    window = reader.read(slice(0, 16), slice(0, 8))
    assert np.array_equal(window.mask, given.mask[:, :8]) and reader.meta.stored.nodata == 0  # type: ignore[union-attr]


def _ground(path: Path, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Where GDAL places pixel corners (``rows``, ``cols``) of a file by its RPCs or control points."""
    from rasterio.transform import GCPTransformer, RPCTransformer

    with rasterio.open(path) as src:
        assert src.transform.is_identity and (src.rpcs or src.gcps[0])
        with RPCTransformer(src.rpcs) if src.rpcs else GCPTransformer(src.gcps[0]) as t:
            return np.array(t.xy(rows, cols, offset="ul"))


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_inputs_georeferenced_by_rpcs_or_control_points_give_a_result_placed_where_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rasterio.control import GroundControlPoint
    from rasterio.rpc import RPC

    import gdd.app.tiled
    import gdd.app.tilestore

    for module in (gdd.app.tiled, gdd.app.tilestore):  # a tiled run's preview thinned, k = 2
        monkeypatch.setattr(module, "preview_step", lambda h, w: 2)

    gt, pan = _scene()
    ms = gt.reshape(16, 4, 16, 4, 4).mean((1, 3))
    rpc = RPC(height_off=0, height_scale=100, lat_off=45, lat_scale=0.01, line_den_coeff=[1] + [0] * 19,
              line_num_coeff=[0, 0, -1, 0.1] + [0] * 16, line_off=7.5, line_scale=8, long_off=9, long_scale=0.01,
              samp_den_coeff=[1] + [0] * 19, samp_num_coeff=[0, 1, 0.2] + [0] * 17, samp_off=7.5,
              samp_scale=8)  # fmt: skip
    points = [GroundControlPoint(0, 0, 9.0, 45.0), GroundControlPoint(16, 0, 9.0, 44.99),
              GroundControlPoint(0, 16, 9.01, 45.0), GroundControlPoint(16, 16, 9.012, 44.991)]  # fmt: skip
    for name, a, model in (("ms_rpc", ms, rpc), ("ms_gcp", ms, points), ("pan_rpc", pan, rpc)):
        with rasterio.open(tmp_path / f"{name}.tif", "w", driver="GTiff", width=a.shape[1], height=a.shape[0],
                           count=a.shape[2], dtype="float32") as dst:  # fmt: skip
            dst.write(np.moveaxis(a, -1, 0))
            if isinstance(model, RPC):
                dst.rpcs = model
            else:
                dst.gcps = (model, "EPSG:4326")
    np.save(tmp_path / "pan.npy", pan)
    np.save(tmp_path / "ms.npy", ms)
    # A low-resolution pixel's centre and the result's pixel corner at the same place, (r + 1/2) * 4.
    r, c = np.meshgrid(np.arange(16) + 0.5, np.arange(16) + 0.5, indexing="ij")
    for ms_name, pan_name, kept in (("ms_rpc", "pan.npy", "ms_rpc"), ("ms_gcp", "pan.npy", "ms_gcp"),
                                    ("ms.npy", "pan_rpc", "pan_rpc")):  # fmt: skip
        for tile in ("none", "32"):
            ms_path, pan_path = (str(tmp_path / (n if n.endswith(".npy") else n + ".tif")) for n in (ms_name, pan_name))
            out = tmp_path / f"{ms_name}-{pan_name}-{tile}.tif"
            assert main(_pan(ms_path, pan_path, out, "--tile", tile)) == 0
            assert "warning" not in capsys.readouterr().err
            if kept == "pan_rpc":  # the guide's grid: its RPCs as they are
                with rasterio.open(out) as got, rasterio.open(pan_path) as given:
                    assert got.rpcs.to_dict() == given.rpcs.to_dict()
                np.testing.assert_allclose(_ground(out, r * 4, c * 4), _ground(Path(pan_path), r * 4, c * 4))
            else:  # the low-resolution grid refined: the same places, on pixels 4 times smaller
                np.testing.assert_allclose(_ground(out, r * 4, c * 4), _ground(Path(ms_path), r, c), atol=1e-9)
            # The preview too, each of its pixels where the result's pixel it shows is (pixels 0, k, 2k ...).
            k = 1 if tile == "none" else 2
            i, j = np.meshgrid(np.arange(0, 64 // k, 3), np.arange(0, 64 // k, 5), indexing="ij")
            np.testing.assert_allclose(_ground(out.with_suffix(".png"), i + 0.5, j + 0.5),
                                       _ground(out, k * i + 0.5, k * j + 0.5), atol=1e-9)  # fmt: skip
    # A picture result is placed by them in its .aux.xml; a format that cannot say that it drops them.
    np.save(tmp_path / "ms3.npy", ms[..., :3])
    assert main(_pan(str(tmp_path / "ms3.npy"), str(tmp_path / "pan_rpc.tif"), tmp_path / "pic.png")) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(_pan(str(tmp_path / "ms.npy"), str(tmp_path / "pan_rpc.tif"), tmp_path / "x.hdr")) == 0
    err = capsys.readouterr().err
    assert "pan pan_rpc.tif: georeferenced by rational polynomial coefficients (RPCs), which a .hdr" in err
    # Said of a result: a run that fails after reading such a file says its error alone.
    np.save(tmp_path / "flat.npy", np.full_like(ms, 0.5))
    assert main(_pan(str(tmp_path / "flat.npy"), str(tmp_path / "pan_rpc.tif"), tmp_path / "y.hdr")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the same value" in err, err


def test_gnyq_gains_by_hand_match_a_sensor_with_those_gains_and_a_wrong_count_is_refused(
    tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    ms, pan = _pair(tmp_path)
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    # The network's own output (no classic start, no fallback): its loss is where the gains act.
    own = ("--spatial", "mtf", "--init", "none", "--no-keep-best")
    assert main(_pan(ms, pan, a, *own, "--sensor", "QB")) == 0
    assert main(_pan(ms, pan, b, *own, "--gnyq", "0.34,0.32,0.30,0.22")) == 0
    np.testing.assert_array_equal(np.load(a), np.load(b))
    assert main(_pan(ms, pan, b, *own, "--gnyq", "0.2", "--force")) == 0
    assert not np.array_equal(np.load(a), np.load(b))
    capsys.readouterr()
    assert main(_pan(ms, pan, tmp_path / "c.npy", "--spatial", "mtf", "--gnyq", "0.3,0.3")) == 1
    assert "--gnyq gives 2 gains, the MS image has 4 bands" in capsys.readouterr().err


def test_a_flash_picture_keeps_its_colour_profile_and_exif_and_a_tiff_is_tagged_rgb(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    photo = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x010F] = "gdd test camera"  # Make
    icc = b"\x00" * 128 + b"not a real profile, carried as bytes"
    Image.fromarray(photo).save(tmp_path / "noisy.jpg", quality=95, exif=exif, icc_profile=icc)
    Image.fromarray(photo).save(tmp_path / "flash.png")
    argv = ["flash", "--noisy", str(tmp_path / "noisy.jpg"), "--guide", str(tmp_path / "flash.png"), *QUICK]
    assert main([*argv, "--out", str(tmp_path / "out.jpg")]) == 0
    with Image.open(tmp_path / "out.jpg") as im:
        assert im.info.get("icc_profile") == icc and im.getexif()[0x010F] == "gdd test camera"
    assert main([*argv, "--out", str(tmp_path / "out.tif"), "--dtype", "uint16", "--force"]) == 0
    with rasterio.open(tmp_path / "out.tif") as f:
        assert f.dtypes[0] == "uint16" and f.colorinterp == (ColorInterp.red, ColorInterp.green, ColorInterp.blue)


def test_a_photo_stored_on_its_side_is_fused_upright_beside_one_stored_upright(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(1)
    upright = (rng.random((48, 32, 3)) * 255).astype(np.uint8)  # a portrait photo, 48 rows
    exif = Image.Exif()
    exif[0x010F], exif[0x0112] = "gdd test camera", 6  # Make; Orientation: rotate 90 degrees to view
    # The camera stores it on its side (32 rows) and says so; the flash photo was stored upright.
    Image.fromarray(np.rot90(upright, 1).copy()).save(tmp_path / "noisy.png", exif=exif)
    Image.fromarray(upright).save(tmp_path / "flash.png")
    assert read_image(tmp_path / "noisy.png").shape == (48, 32, 3)
    np.testing.assert_array_equal(read_image(tmp_path / "noisy.png"), upright / np.float32(255))
    argv = ["flash", "--noisy", str(tmp_path / "noisy.png"), "--guide", str(tmp_path / "flash.png"), *QUICK]
    assert main([*argv, "--out", str(tmp_path / "out.png")]) == 0
    with Image.open(tmp_path / "out.png") as im:
        # Upright, and said to be: no orientation left for a viewer to apply a second time.
        assert im.size == (32, 48) and 0x0112 not in im.getexif() and im.getexif()[0x010F] == "gdd test camera"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_tiff_photo_with_an_orientation_tag_is_read_as_a_viewer_shows_it(tmp_path: Path, orientation: int) -> None:
    tifffile = pytest.importorskip("tifffile")
    from PIL import Image

    rng = np.random.default_rng(orientation)
    stored = (rng.random((6, 10, 3)) * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "photo.tif", stored, photometric="rgb", extratags=[(274, "H", 1, orientation, True)])
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(tmp_path / "photo.png", exif=exif)  # Pillow's turning is the oracle
    expected = read_image(tmp_path / "photo.png")
    assert expected.shape[:2] == ((6, 10) if orientation < 5 else (10, 6))
    np.testing.assert_array_equal(read_image(tmp_path / "photo.tif"), expected)
    reader = WindowReader(tmp_path / "photo.tif")  # a tiled run's windows, turned alike
    assert reader.shape == expected.shape
    np.testing.assert_array_equal(reader.read(slice(1, 5), slice(2, 6)).data, expected[1:5, 2:6])
    if orientation == 6:  # a grid from a world file beside it: its rows are the grid's, never turned
        (tmp_path / "photo.tfw").write_text("10\n0\n0\n-10\n500005\n3999995\n")
        np.testing.assert_array_equal(read_image(tmp_path / "photo.tif"), stored / np.float32(255))
        assert WindowReader(tmp_path / "photo.tif").shape == stored.shape
        (tmp_path / "photo.tfw").unlink()
    band = stored[..., 0]  # one band, as tifffile stores a grey photo
    tifffile.imwrite(tmp_path / "grey.tif", band, extratags=[(274, "H", 1, orientation, True)])
    np.testing.assert_array_equal(read_image(tmp_path / "grey.tif")[..., 0], expected[..., 0])


def test_write_image_refuses_creation_options_for_other_formats(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"of a \.tif output"):
        write_image(tmp_path / "x.npy", np.zeros((4, 4, 1), np.float32), creation=(("COMPRESS", "LZW"),))


def _png16(path: Path, rgb: np.ndarray) -> None:
    """A 16-bit PNG of 1-4 bands, alpha last (Pillow writes none): its IHDR, IDAT and IEND chunks."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    h, w, c = rgb.shape
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in rgb)
    ihdr = struct.pack(">IIBBBBB", w, h, 16, (0, 4, 2, 6)[c - 1], 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )


def test_pictures_are_read_as_their_colours(tmp_path: Path) -> None:
    """16-bit colour PNGs at 16 bits, palettes as colours, an alpha channel as the pixels with data."""
    from PIL import Image

    rng = np.random.default_rng(9)
    deep = (rng.random((12, 20, 3)) * 65535).astype(np.uint16)
    _png16(tmp_path / "deep.png", deep)
    np.testing.assert_allclose(read_raster(tmp_path / "deep.png").data, deep / 65535, rtol=0, atol=1e-7)

    rgb = (rng.random((12, 20, 3)) * 255).astype(np.uint8)
    for suffix in (".png", ".tif", ".gif"):  # a palette: its colours, as Pillow gives them
        Image.fromarray(rgb).convert("P").save(tmp_path / f"palette{suffix}")
    colours = np.asarray(Image.open(tmp_path / "palette.png").convert("RGB")) / 255
    for suffix in (".png", ".tif", ".gif"):
        got = read_raster(tmp_path / f"palette{suffix}")
        np.testing.assert_allclose(got.data, colours, rtol=0, atol=1e-7, err_msg=suffix)
    window = WindowReader(tmp_path / "palette.tif").read(slice(2, 8), slice(5, 15)).data
    np.testing.assert_allclose(window, colours[2:8, 5:15], rtol=0, atol=1e-7)

    alpha = np.full((12, 20), 255, np.uint8)
    alpha[:2, :3] = 0  # transparent: no data
    for suffix in (".png", ".tif"):
        Image.fromarray(np.dstack([rgb, alpha])).save(tmp_path / f"rgba{suffix}")
        got = read_raster(tmp_path / f"rgba{suffix}")
        assert got.data.shape == (12, 20, 3) and got.mask is not None, suffix
        assert np.array_equal(got.mask, alpha > 0), suffix
        np.testing.assert_allclose(got.data[got.mask], rgb[alpha > 0] / 255, rtol=0, atol=1e-7)
    window = WindowReader(tmp_path / "rgba.tif").read(slice(0, 6), slice(0, 10))
    assert window.data.shape == (6, 10, 3) and np.array_equal(window.mask, alpha[:6, :10] > 0)
    # Four 8-bit bands written with GDAL's defaults: the fourth is tagged alpha, but holds data (a
    # near-infrared band): it stays a band, whole and by windows.
    rgbn = (rng.random((4, 12, 20)) * 255).astype(np.uint8)
    with rasterio.open(tmp_path / "rgbn.tif", "w", driver="GTiff", height=12, width=20, count=4, dtype="uint8",
                       crs="EPSG:32633", transform=Affine(2.0, 0, 5e5, 0, -2.0, 4e6)) as dst:  # fmt: skip
        dst.write(rgbn)
    with rasterio.open(tmp_path / "rgbn.tif") as src:
        assert src.colorinterp[3] == ColorInterp.alpha
    got = read_raster(tmp_path / "rgbn.tif")
    assert got.mask is None and np.array_equal(got.data, np.moveaxis(rgbn, 0, -1) / np.float32(255))
    window = WindowReader(tmp_path / "rgbn.tif").read(slice(0, 6), slice(0, 10))
    assert window.mask is None and window.data.shape == (6, 10, 4)
    # A GIF's transparent index (GDAL's nodata) marks the pixels of that index, not colours holding its number.
    gif = Image.new("P", (4, 1))
    gif.putpalette([9, 9, 9, 255, 0, 0, 0, 255, 0, 10, 20, 30])
    gif.putdata([0, 1, 2, 3])
    gif.save(tmp_path / "clear.gif", transparency=0)
    assert read_raster(tmp_path / "clear.gif").mask.tolist() == [[False, True, True, True]]
    Image.fromarray(rgb[..., 0]).convert("LA").save(tmp_path / "grey.png")  # grey and alpha: one band
    assert read_raster(tmp_path / "grey.png").data.shape == (12, 20, 1)
    # 16-bit grey and alpha (Pillow reads it as 8-bit RGBA): one band at 16 bits, alpha a mask.
    grey = deep[..., 0].copy()
    _png16(tmp_path / "grey16.png", np.dstack([grey, np.where(alpha > 0, 65535, 0).astype(np.uint16)]))
    got = read_raster(tmp_path / "grey16.png")
    assert got.data.shape == (12, 20, 1) and np.array_equal(got.mask, alpha > 0)
    np.testing.assert_allclose(got.data[..., 0][got.mask], grey[alpha > 0] / 65535, rtol=0, atol=1e-7)


def test_a_tiff_photo_s_colour_profile_is_read_as_a_picture_s(tmp_path: Path) -> None:
    import tifffile
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    photo = np.zeros((8, 8, 3), np.uint8)
    tifffile.imwrite(tmp_path / "p.tif", photo, photometric="rgb", extratags=[(34675, "B", len(icc), icc, True)])
    assert read_raster(tmp_path / "p.tif").icc == icc
    assert WindowReader(tmp_path / "p.tif").meta.icc == icc  # a tiled run's reader too


def test_a_16_bit_colour_png_without_rasterio_is_read_at_8_bits_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    deep = (np.random.default_rng(4).random((6, 8, 3)) * 65535).astype(np.uint16)
    _png16(tmp_path / "deep.png", deep)
    monkeypatch.setitem(sys.modules, "rasterio", None)  # the base install
    got = read_raster(tmp_path / "deep.png").data
    assert "read at 8 bits without rasterio" in capsys.readouterr().err
    np.testing.assert_allclose(got, (deep >> 8) / 255, rtol=0, atol=1e-6)  # Pillow's 8 bits: the high byte
    alpha = np.where(np.arange(48).reshape(6, 8) % 5, 65535, 0).astype(np.uint16)
    _png16(tmp_path / "grey.png", np.dstack([deep[..., 0], alpha]))  # grey and alpha: one band, at 8 bits here
    grey = read_raster(tmp_path / "grey.png")
    assert grey.data.shape == (6, 8, 1) and np.array_equal(grey.mask, alpha > 0)


def test_a_tiff_read_without_rasterio_has_the_colours_gdal_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The base install reads TIFFs with tifffile: a palette looked up, an alpha mask taken out, as GDAL does."""
    import sys

    import tifffile
    from PIL import Image

    rng = np.random.default_rng(12)
    rgb = (rng.random((12, 20, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.tif")  # a colour map of 8 bits x 256
    colours = (rng.integers(0, 256, (3, 256)) * 257).astype(np.uint16)  # and one of 8 bits x 257
    tifffile.imwrite(tmp_path / "palette257.tif", rgb[..., 0], photometric="palette", colormap=colours)
    alpha = np.full((12, 20), 255, np.uint8)
    alpha[3:5, 4:9] = 0
    Image.fromarray(np.dstack([rgb, alpha])).save(tmp_path / "rgba.tif")
    tifffile.imwrite(tmp_path / "palette16.tif", rgb[..., 0], photometric="palette",
                     colormap=rng.integers(0, 65536, (3, 256)).astype(np.uint16))  # fmt: skip
    nir = (rng.random((12, 20, 4)) * 255).astype(np.uint8)  # a fourth band tagged alpha that holds data
    tifffile.imwrite(tmp_path / "rgbn.tif", nir, photometric="rgb", extrasamples=[2])
    names = ("palette", "palette257", "palette16", "rgba", "rgbn")
    by_gdal = {name: read_raster(tmp_path / f"{name}.tif") for name in names}
    assert by_gdal["palette"].data.shape == (12, 20, 3) and by_gdal["rgbn"].data.shape == (12, 20, 4)
    monkeypatch.setitem(sys.modules, "rasterio", None)  # the base install
    for name in names:
        got = read_raster(tmp_path / f"{name}.tif")
        assert np.array_equal(got.data, by_gdal[name].data), name
        assert (got.mask is None) == (by_gdal[name].mask is None), name
    assert np.array_equal(read_raster(tmp_path / "rgba.tif").mask, alpha > 0)


def test_a_picture_result_of_bands_stored_blue_first_is_red_green_blue_and_placed_on_the_map(tmp_path: Path) -> None:
    gt, pan = _scene()
    ms = gt.reshape(16, 4, 16, 4, 4).mean((1, 3))[..., :3]
    t_ms = Affine(40.0, 0.0, 500000.0, 0.0, -40.0, 4000000.0)
    _write(tmp_path / "ms.tif", ms, t_ms)
    with rasterio.open(tmp_path / "ms.tif", "r+") as dst:  # stored blue, green, red
        for band, um in enumerate(("0.483", "0.560", "0.660"), start=1):
            dst.update_tags(band, ns="IMAGERY", CENTRAL_WAVELENGTH_UM=um)
    _write(tmp_path / "pan.tif", pan, Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0))
    ms_path, pan_path = str(tmp_path / "ms.tif"), str(tmp_path / "pan.tif")
    assert main(_pan(ms_path, pan_path, tmp_path / "f.tif", "--spatial", "bicubic")) == 0
    assert main(_pan(ms_path, pan_path, tmp_path / "picture.png", "--spatial", "bicubic")) == 0
    fused = np.clip(read_raster(tmp_path / "f.tif").data, 0, 1)
    with rasterio.open(tmp_path / "picture.png") as png, rasterio.open(tmp_path / "f.tif") as tif:
        assert png.crs == tif.crs and png.transform == tif.transform
        picture = png.read().astype(np.float64) / 255
    np.testing.assert_allclose(picture, np.moveaxis(fused[..., ::-1], -1, 0), atol=0.5 / 255 + 1e-6)
