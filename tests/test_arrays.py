"""The array API: NumPy arrays and rioxarray DataArrays in, the same kind out, coordinates and CRS kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import gdd
from gdd.io import InputError

QUICK = {"iterations": 2, "width": 8, "device": "cpu"}


def _da(a: np.ndarray, pixel: float, bands: list[str] | None = None):  # type: ignore[no-untyped-def]
    """A georeferenced (band, y, x) DataArray on a UTM grid with ``pixel`` metre pixels."""
    xr = pytest.importorskip("xarray", reason="the xarray extra: pip install 'gdd[xarray]'")
    pytest.importorskip("rioxarray", reason="the xarray extra: pip install 'gdd[xarray]'")
    c, h, w = a.shape
    da = xr.DataArray(
        a,
        dims=("band", "y", "x"),
        coords={
            "band": bands or list(range(1, c + 1)),
            "y": 4_000_000.0 - pixel * (np.arange(h) + 0.5),
            "x": 500_000.0 + pixel * (np.arange(w) + 0.5),
        },
        attrs={"long_name": "reflectance"},
    )
    return da.rio.write_crs("EPSG:32633")


def _check_like(out, low, high) -> None:  # type: ignore[no-untyped-def]
    assert out.dims == ("band", "y", "x")
    np.testing.assert_array_equal(out.coords["y"].values, high.coords["y"].values)
    np.testing.assert_array_equal(out.coords["x"].values, high.coords["x"].values)
    assert list(out.coords["band"].values) == list(low.coords["band"].values)
    assert out.rio.crs == high.rio.crs and out.rio.transform() == high.rio.transform()
    assert out.attrs["long_name"] == "reflectance" and out.dtype == np.float32


def test_pansharpen_round_trips_a_dataarray_with_its_coordinates_and_crs() -> None:
    rng = np.random.default_rng(0)
    ms = _da(rng.random((3, 8, 8)).astype(np.float32), 4.0, ["blue", "green", "red"])
    pan = _da(rng.random((1, 32, 32)).astype(np.float32), 1.0)
    out = gdd.pansharpen(ms, pan, **QUICK)
    _check_like(out, ms, pan)
    assert out.shape == (3, 32, 32)
    assert np.isnan(out.rio.nodata) and np.isfinite(out.values).all()  # NaN declared, though no pixel is one
    # The same arrays as NumPy give the same numbers (the same fit).
    plain = gdd.pansharpen(np.moveaxis(ms.values, 0, -1), pan.values[0], **QUICK)
    np.testing.assert_allclose(np.moveaxis(out.values, 0, -1), plain, rtol=1e-5, atol=1e-6)


def test_fuse_hs_and_denoise_round_trip_dataarrays() -> None:
    rng = np.random.default_rng(1)
    hsi = _da(rng.random((6, 8, 8)).astype(np.float32), 8.0)
    rgb = _da(rng.random((3, 32, 32)).astype(np.float32), 2.0)
    out = gdd.fuse_hs(hsi, rgb, rng.random((3, 6)), **QUICK)
    _check_like(out, hsi, rgb)
    noisy = _da(rng.random((3, 32, 32)).astype(np.float32), 2.0)
    _check_like(gdd.denoise(noisy, rgb, **QUICK), noisy, rgb)


def test_integer_arrays_are_scaled_and_bad_arrays_are_refused_in_one_line() -> None:
    rng = np.random.default_rng(2)
    ms = (rng.random((8, 8, 3)) * 255).astype(np.uint8)
    pan = (rng.random((32, 32)) * 255).astype(np.uint8)
    out = gdd.pansharpen(ms, pan, **QUICK)
    assert out.shape == (32, 32, 3) and 0 <= np.median(out) <= 1
    bad = ms.astype(np.float32)
    bad[0, 0, 0] = np.nan
    for call, match in (
        (lambda: gdd.pansharpen(bad, pan, **QUICK), "NaN"),
        (lambda: gdd.pansharpen(ms, pan[:30, :30], **QUICK), "times a whole ratio; crop both"),
        (lambda: gdd.pansharpen(ms, pan, ratio=2, **QUICK), "times 2"),
        (lambda: gdd.fuse_hs(ms, pan, np.ones((1, 4)), **QUICK), "1 x 3"),
        (lambda: gdd.denoise(pan, np.full_like(pan, 0.5), **QUICK), "guide: every pixel has the same value"),
        (lambda: gdd.denoise(ms, pan, **QUICK), "must match"),
    ):
        with pytest.raises(InputError, match=match) as info:
            call()
        assert "\n" not in str(info.value)


def test_fuse_hs_estimates_the_response_and_the_blur_from_the_pair() -> None:
    rng = np.random.default_rng(3)
    cube = np.kron(rng.random((8, 8, 6)), np.ones((4, 4, 1))).astype(np.float32)
    srf = rng.random((3, 6)).astype(np.float32)
    srf /= srf.sum(axis=1, keepdims=True)
    hsi = cube.reshape(8, 4, 8, 4, 6).mean(axis=(1, 3))
    out = gdd.fuse_hs(hsi, cube @ srf.T, "estimate", **QUICK)
    assert out.shape == (32, 32, 6) and np.isfinite(out).all()


def test_tiles_from_the_array_api_blend_the_fits_of_their_windows() -> None:
    rng = np.random.default_rng(0)
    ms, pan = rng.random((16, 16, 3)).astype(np.float32), rng.random((64, 64)).astype(np.float32)
    options = {**QUICK, "init": "none", "keep_best": False}  # the network's own output: each tile's fit shows
    whole = gdd.pansharpen(ms, pan, **options)
    np.testing.assert_array_equal(gdd.pansharpen(ms, pan, tile=64, **options), whole)  # one tile: one fit
    tiled = gdd.pansharpen(ms, pan, tile=32, overlap=8, **options)
    assert tiled.shape == (64, 64, 3) and np.isfinite(tiled).all()
    assert not np.array_equal(tiled, whole)
    # The top-left corner lies in the first tile only: there the result is that tile's own fit.
    first = gdd.pansharpen(ms[:8, :8], pan[:32, :32], **options)
    np.testing.assert_allclose(tiled[:16, :16], first[:16, :16], rtol=1e-6, atol=1e-6)  # the next starts at 16
    with pytest.raises(InputError, match="multiple of the ratio 4"):
        gdd.pansharpen(ms, pan, tile=30, **options)
    noisy = rng.random((32, 32, 3)).astype(np.float32)
    assert gdd.denoise(noisy, noisy, tile=16, overlap=4, **QUICK).shape == (32, 32, 3)
    srf = rng.random((3, 6))
    assert gdd.fuse_hs(rng.random((8, 8, 6)), rng.random((32, 32, 3)), srf, tile=16, **QUICK).shape == (32, 32, 6)


def test_nodata_pixels_are_left_out_of_the_fit_and_nan_in_the_result() -> None:
    rng = np.random.default_rng(4)
    ms, pan = rng.random((8, 8, 3)).astype(np.float32), rng.random((32, 32)).astype(np.float32)
    holes, other = ms.copy(), ms.copy()
    holes[:2, :3] = np.nan
    other[:2, :3] = 7.0  # other values there: left out, they change nothing
    out = gdd.pansharpen(holes, pan, nodata=np.nan, **QUICK)
    assert np.isnan(out[:8, :12]).all() and np.isfinite(out[8:]).all() and np.isfinite(out[:, 12:]).all()
    np.testing.assert_array_equal(gdd.pansharpen(other, pan, nodata=7.0, **QUICK), out)
    # Integers with a nodata value are scaled over the pixels with data (65535 is no value of 10 bits).
    dn = (ms * 1023).astype(np.uint16)
    dn[:2, :3] = 65535
    assert np.isnan(gdd.pansharpen(dn, pan, nodata=65535, bit_depth=10, **QUICK)[:8, :12]).all()
    with pytest.raises(InputError, match=r"ms: contains NaN or Inf values \(nodata=np.nan masks them\)"):
        gdd.pansharpen(holes, pan, **QUICK)
    with pytest.raises(InputError, match="every pixel is nodata"):
        gdd.pansharpen(np.full_like(ms, np.nan), pan, nodata=np.nan, **QUICK)
    with pytest.raises(InputError, match="no pixel is valid in both"):
        gdd.denoise(np.where(np.arange(32)[:, None, None] < 16, np.nan, pan[..., None]), np.where(
            np.arange(32)[:, None, None] >= 16, np.nan, pan[..., None]), nodata=np.nan, **QUICK)  # fmt: skip
    with pytest.raises(InputError, match="estimating the degradations cannot leave nodata pixels out"):
        gdd.fuse_hs(holes, rng.random((32, 32, 3)), "estimate", nodata=np.nan, **QUICK)


def test_tiles_without_data_are_not_fitted_and_stay_nodata() -> None:
    rng = np.random.default_rng(5)
    ms, pan = rng.random((16, 16, 3)).astype(np.float32), rng.random((64, 64)).astype(np.float32)
    ms[:, 8:] = np.nan  # the right half of the scene has no MS data
    out = gdd.pansharpen(ms, pan, tile=32, overlap=8, nodata=np.nan, **QUICK)
    assert np.isnan(out[:, 32:]).all() and np.isfinite(out[:, :32]).all()
    ms[:1, :1] = np.nan  # a tile with few observed pixels still fits (without held-out pixels)
    few = np.full((16, 16, 3), np.nan, np.float32)
    few[:2, :2] = rng.random((2, 2, 3))  # a constant MS would be refused, as on the command line
    assert np.isfinite(gdd.pansharpen(few, pan, tile=32, overlap=8, nodata=np.nan, **QUICK)[:8, :8]).all()


@pytest.mark.parametrize("product", ["digital numbers", "scale and offset"])
def test_a_geotiff_opened_with_rioxarray_fuses_as_gdd_reads_the_file(tmp_path, product: str) -> None:  # type: ignore[no-untyped-def]
    rioxarray = pytest.importorskip("rioxarray", reason="the xarray extra: pip install 'gdd[xarray]'")
    rasterio = pytest.importorskip("rasterio", reason="the geo extra: pip install 'gdd[geo]'")
    from rasterio.transform import from_origin

    from gdd.cli import main

    rng = np.random.default_rng(6)
    dn = (rng.random((3, 8, 8)) * 20000 + 7000).astype(np.uint16)
    dn[:, :2, :3] = 0  # the product's nodata
    pan = (rng.random((1, 32, 32)) * 20000 + 7000).astype(np.uint16)
    paths = {"ms": tmp_path / "ms.tif", "pan": tmp_path / "pan.tif"}
    for path, a, pixel in zip(paths.values(), (dn, pan), (4.0, 1.0), strict=True):
        profile = {"height": a.shape[1], "width": a.shape[2], "count": a.shape[0], "dtype": "uint16", "nodata": 0}
        with rasterio.open(path, "w", driver="GTiff", crs="EPSG:32633", transform=from_origin(5e5, 4e6, pixel, pixel),
                           **profile) as f:  # fmt: skip
            f.write(a)
            if product == "scale and offset":  # reflectance = 2.75e-5 DN - 0.2, as Landsat's
                f.scales, f.offsets = (2.75e-5,) * a.shape[0], (-0.2,) * a.shape[0]
    files = ["--ms", str(paths["ms"]), "--pan", str(paths["pan"]), "--out", str(tmp_path / "cli.npy")]
    assert main(["pan", *files, "--ratio", "4", "--iterations", "2", "--width", "8", "--device", "cpu", "--quiet"]) == 0
    cli = np.load(tmp_path / "cli.npy")  # the pixels without data: the file's nodata (0), or NaN for reflectance
    # As stored (the nodata value and any scale in the attributes), masked (NaN, the integers as
    # floats), and decoded (NaN, physical values).
    for opened in ({}, {"masked": True}, {"mask_and_scale": True}):
        ms, pn = (rioxarray.open_rasterio(p, **opened) for p in paths.values())  # type: ignore[arg-type]
        out = gdd.pansharpen(ms, pn, **QUICK)
        assert np.isnan(out.values[:, :8, :12]).all() and np.isfinite(out.values[:, 8:]).all()
        # Its own nodata (NaN), not the input's 0, nor the input's scale.
        assert np.isnan(out.rio.nodata) and np.isnan(out.attrs["_FillValue"]) and "scale_factor" not in out.attrs
        fused = np.moveaxis(out.values, 0, -1)
        expected = np.where(np.isnan(fused), cli, fused)
        # The same numbers as gdd pan on the files, but for rioxarray's own decoding in float32.
        tolerance = 1e-6 if "mask_and_scale" in opened and product == "scale and offset" else 0.0
        np.testing.assert_allclose(expected, cli, rtol=0, atol=tolerance)
    out.rio.to_raster(tmp_path / "fused.tif")
    with rasterio.open(tmp_path / "fused.tif") as f:
        assert np.isnan(f.nodata) and f.crs.to_epsg() == 32633


def test_dataarrays_that_are_not_on_one_grid_are_refused_as_files_are() -> None:
    rng = np.random.default_rng(7)
    ms = _da(rng.random((3, 8, 8)).astype(np.float32), 4.0)
    pan = _da(rng.random((1, 32, 32)).astype(np.float32), 1.0)
    for low, high, match in (
        (ms.rio.write_crs("EPSG:32634"), pan, "ms and pan are in different coordinate systems"),
        (ms.assign_coords(x=ms.x + 8.0), pan, "not on one grid: its origin is 8.0 column"),
        (ms, _da(pan.values, 2.0), "not on one grid: its pixel is 4 x 4, the finer one's times 4 is 8 x 8"),
    ):
        with pytest.raises(InputError, match=match):
            gdd.pansharpen(low, high, **QUICK)
    noisy = _da(rng.random((3, 32, 32)).astype(np.float32), 1.0)
    with pytest.raises(InputError, match="noisy and guide are not on one grid"):
        gdd.denoise(noisy.assign_coords(y=noisy.y - 3.0), pan, **QUICK)
    # Arrays without coordinates are not checked: the shapes say the ratio.
    assert gdd.pansharpen(ms.drop_vars(["x", "y"]), pan, **QUICK).shape == (3, 32, 32)


def test_a_progress_bar_counts_the_steps_when_asked_and_nothing_is_printed_otherwise(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rng = np.random.default_rng(8)
    ms, pan = rng.random((8, 8, 3)).astype(np.float32), rng.random((32, 32)).astype(np.float32)
    quiet = gdd.pansharpen(ms, pan, **QUICK)
    assert capsys.readouterr() == ("", "")
    shown = gdd.pansharpen(ms, pan, progress=True, **QUICK)
    err = capsys.readouterr().err
    assert "gdd: " in err  # tqdm's bar, named, on standard error
    # Then what the command line says of the fit: its steps, the MS degradation chosen, the result chosen.
    assert "gdd pan: " in err and "\nMS degradation: " in err and "\nresult: " in err
    np.testing.assert_array_equal(shown, quiet)  # the bar changes nothing of the fit
    gdd.pansharpen(np.tile(ms, (2, 1, 1)), np.tile(pan, (2, 1)), tile=32, overlap=8, progress=True, **QUICK)
    assert "tile 3/3" in capsys.readouterr().err  # rows 0, 16 and 32 of 64 (overlap 8)


def test_what_the_review_of_the_array_api_found() -> None:
    rng = np.random.default_rng(9)
    ms, pan = rng.random((8, 8, 3)).astype(np.float32), rng.random((32, 32)).astype(np.float32)
    # A caller's callback runs, beside the progress bar.
    steps: list[int] = []
    gdd.pansharpen(ms, pan, callback=lambda step, x, loss: steps.append(step), progress=True, **QUICK)
    assert steps
    # Arrays are H x W x C by contract: a narrow image is no layout mistake (the error filter would raise).
    narrow = rng.random((64, 4, 8)).astype(np.float32)
    assert gdd.denoise(narrow, narrow, **QUICK).shape == (64, 4, 8)
    # Too few pixels with data to hold any out: one line, as the command line's.
    one = np.full((8, 8, 3), np.nan, np.float32)
    one[5, 5] = 0.5
    with pytest.raises(InputError, match=r"ms: 1 pixel\(s\) with data, too few for held-out validation"):
        gdd.pansharpen(one, pan, nodata=np.nan, **QUICK)
    top, bottom = (np.where((np.arange(32)[:, None, None] < 16) == up, np.nan, pan[..., None]) for up in (True, False))
    for tiling in ({}, {"tile": 16, "overlap": 4}):
        with pytest.raises(InputError, match="noisy and guide: no pixel is valid in both"):
            gdd.denoise(top, bottom, nodata=np.nan, **tiling, **QUICK)
    for bad in ("abc", [0, 1]):
        with pytest.raises(InputError, match="nodata: a number"):
            gdd.pansharpen(ms, pan, nodata=bad, **QUICK)


def _product(tmp_path, scales: tuple[float, ...], offsets: tuple[float, ...]):  # type: ignore[no-untyped-def]
    """A uint16 8 x 8 GeoTIFF with a scale and offset per band, and its physical values as gdd reads the file."""
    rasterio = pytest.importorskip("rasterio", reason="the geo extra: pip install 'gdd[geo]'")
    from rasterio.transform import from_origin

    from gdd.io import read_raster

    c = len(scales)
    dn = (np.random.default_rng(c).random((c, 8, 8)) * 20000 + 7000).astype(np.uint16)
    path = tmp_path / "ms.tif"
    with rasterio.open(path, "w", driver="GTiff", height=8, width=8, count=c, dtype="uint16", crs="EPSG:32633",
                       transform=from_origin(5e5, 4e6, 4.0, 4.0)) as f:  # fmt: skip
        f.write(dn)
        f.scales, f.offsets = scales, offsets
    return path, read_raster(path).data


@pytest.mark.filterwarnings("ignore:(Scales|Offsets) differ across bands:UserWarning")  # rioxarray's, on opening
def test_a_product_with_a_scale_and_offset_per_band_fuses_as_gdd_reads_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rioxarray = pytest.importorskip("rioxarray", reason="the xarray extra: pip install 'gdd[xarray]'")
    from gdd.io.arrays import read_array

    path, expected = _product(tmp_path, (2.75e-5, 2e-5, 1e-4), (-0.2, -0.1, 0.0))  # as gdd reads the file
    for opened in ({}, {"masked": True}, {"mask_and_scale": True}):
        got, _ = read_array(rioxarray.open_rasterio(path, **opened), "ms", None, None)  # type: ignore[arg-type]
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    pan = _da(np.random.default_rng(10).random((1, 32, 32)).astype(np.float32), 1.0)
    out = gdd.pansharpen(rioxarray.open_rasterio(path), pan, **QUICK)
    assert not {"scales", "offsets"} & set(out.attrs)  # the input's scales are not the result's


def test_grids_known_by_their_coordinates_alone_are_checked_and_arrays_without_a_crs_are_not() -> None:
    xr = pytest.importorskip("xarray", reason="the xarray extra: pip install 'gdd[xarray]'")
    pytest.importorskip("rioxarray", reason="the xarray extra: pip install 'gdd[xarray]'")
    rng = np.random.default_rng(11)

    def lat_lon(a: np.ndarray, pixel: float, shift: float = 0.0):  # type: ignore[no-untyped-def]
        c, h, w = a.shape
        lat, lon = 50.0 - pixel * (np.arange(h) + 0.5) + shift, 10.0 + pixel * (np.arange(w) + 0.5)
        da = xr.DataArray(a, dims=("band", "lat", "lon"), coords={"band": np.arange(1, c + 1), "lat": lat, "lon": lon})
        return da.rio.write_crs("EPSG:4326")

    ms, pan = rng.random((3, 8, 8)).astype(np.float32), rng.random((1, 32, 32)).astype(np.float32)
    out = gdd.pansharpen(lat_lon(ms, 0.04), lat_lon(pan, 0.01), **QUICK)  # aligned: fused
    assert out.dims == ("band", "lat", "lon") and out.shape == (3, 32, 32)
    grid = [float(v) for v in out.spatial_ref.attrs["GeoTransform"].split()]  # GDAL's order: x0, dx, 0, y0, 0, dy
    np.testing.assert_allclose(grid, [10.0, 0.01, 0.0, 50.0, 0.0, -0.01], atol=1e-9)
    with pytest.raises(InputError, match="not on one grid"):
        gdd.pansharpen(lat_lon(ms, 0.04, shift=0.02), lat_lon(pan, 0.01), **QUICK)
    # Pixel indices as coordinates, no coordinate system: not checked, the shapes say the ratio.
    plain = [xr.DataArray(a, dims=("band", "y", "x"), coords={"y": np.arange(a.shape[1]), "x": np.arange(a.shape[2])})
             for a in (ms, pan)]  # fmt: skip
    assert gdd.pansharpen(*plain, **QUICK).shape == (3, 32, 32)


def test_tiles_share_what_a_tiled_gdd_run_decides_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import gdd.arrayfit

    rng = np.random.default_rng(12)
    ms, pan = rng.random((16, 16, 3)).astype(np.float32), rng.random((64, 64)).astype(np.float32)
    fitted: list[tuple[object, ...]] = []
    solve = gdd.arrayfit._solve

    def record(problem, device, seed, options, label):  # type: ignore[no-untyped-def]
        fitted.append((problem.details.get("spatial"), bool(problem.alternatives), options.get("init"), problem.check))
        return solve(problem, device, seed, options, label)

    monkeypatch.setattr(gdd.arrayfit, "_solve", record)
    gdd.pansharpen(ms, pan, tile=32, overlap=8, **QUICK)
    # Every tile: the same degradation model, no choice of its own left, the same start.
    assert len(fitted) == 9 and len(set(fitted)) == 1 and fitted[0][1] is False and fitted[0][2] in ("gsa", "sfim")
    fitted.clear()
    cube = np.kron(rng.random((8, 8, 6)), np.ones((4, 4, 1))).astype(np.float32)
    srf = rng.random((3, 6)).astype(np.float32)
    gdd.fuse_hs(cube.reshape(8, 4, 8, 4, 6).mean(axis=(1, 3)), cube @ srf.T, srf, tile=16, overlap=4, **QUICK)
    # The degradations were checked once, on the centre; no tile checks them again.
    assert len(fitted) == 9 and all(check is None for *_, check in fitted) and len({f[0] for f in fitted}) == 1


def test_one_tile_is_the_whole_scene_s_fit() -> None:
    rng = np.random.default_rng(13)
    ms, pan = rng.random((8, 8, 3)).astype(np.float32), rng.random((32, 32)).astype(np.float32)
    np.testing.assert_array_equal(gdd.pansharpen(ms, pan, tile=32, **QUICK), gdd.pansharpen(ms, pan, **QUICK))


@pytest.mark.filterwarnings("ignore:(Scales|Offsets) differ across bands:UserWarning")  # rioxarray's, on opening
def test_bands_selected_or_reordered_keep_each_band_s_own_scale_and_offset(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rioxarray = pytest.importorskip("rioxarray", reason="the xarray extra: pip install 'gdd[xarray]'")
    from gdd.io.arrays import read_array

    # Every band's physical values, as gdd reads the file.
    path, whole = _product(tmp_path, (2.75e-5, 2e-5, 1e-4, 5e-5), (-0.2, -0.1, 0.0, 0.1))
    opened = rioxarray.open_rasterio(path)
    for bands in ([4, 3, 2], [2, 4], [3]):
        got, _ = read_array(opened.sel(band=bands), "ms", None, None)
        np.testing.assert_allclose(got, whole[..., np.array(bands) - 1], rtol=0, atol=1e-6)
    got, _ = read_array(opened.sel(band=2), "ms", None, None)  # one band, its dimension dropped
    np.testing.assert_allclose(got[..., 0], whole[..., 1], rtol=0, atol=1e-6)
    got, _ = read_array(opened.isel(band=[1, 0]), "ms", None, None)
    np.testing.assert_allclose(got, whole[..., [1, 0]], rtol=0, atol=1e-6)
    repeated = opened.assign_coords(band=[1, 1, 1, 1])  # repeated numbers are labels, not a selection: file order
    np.testing.assert_allclose(read_array(repeated, "ms", None, None)[0], whole, rtol=0, atol=1e-6)
    relabelled = opened.assign_coords(band=["a", "b", "c", "d"])  # labels that are no band numbers: file order
    got, _ = read_array(relabelled, "ms", None, None)
    np.testing.assert_allclose(got, whole, rtol=0, atol=1e-6)
    with pytest.raises(InputError, match="not one or one per band of 2"):
        read_array(relabelled.isel(band=[0, 1]), "ms", None, None)


def test_a_numpy_masked_array_s_masked_pixels_are_nodata() -> None:
    rng = np.random.default_rng(12)
    dn = (rng.random((8, 8, 3)) * 60000 + 1000).astype(np.uint16)
    dn[:2] = 0  # nodata rows, as rasterio's read(masked=True) masks them
    pan = (rng.random((32, 32)) * 60000 + 1000).astype(np.uint16)
    masked = np.ma.masked_equal(dn, 0)
    expected = gdd.pansharpen(dn, pan, nodata=0, **QUICK)
    got = gdd.pansharpen(masked, np.ma.masked_array(pan), **QUICK)
    np.testing.assert_array_equal(got, expected)
    assert np.isnan(got[:8]).all() and not np.isnan(got[8:]).any()
    # Values under the mask are never read, whatever they hold (NaN, a fill of -9999).
    floats = np.ma.masked_array(np.where(dn == 0, -9999.0, dn / 65535.0), mask=dn == 0)
    np.testing.assert_array_equal(gdd.pansharpen(floats, pan / 65535.0, **QUICK), expected)
    floats.data[0, 0] = np.nan
    np.testing.assert_array_equal(gdd.pansharpen(floats, pan / 65535.0, **QUICK), expected)
    with pytest.raises(InputError, match="ms: every pixel is nodata"):
        gdd.pansharpen(np.ma.masked_all((8, 8, 3)), pan, **QUICK)


@pytest.mark.filterwarnings("ignore:.*its values reach:UserWarning")  # values recomputed beyond [0, 1], as meant
def test_a_dataarray_coarsened_sorted_or_recomputed_after_opening_is_read_as_it_now_is(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rioxarray = pytest.importorskip("rioxarray", reason="the xarray extra: pip install 'gdd[xarray]'")
    rasterio = pytest.importorskip("rasterio", reason="the geo extra: pip install 'gdd[geo]'")
    from rasterio.transform import from_origin

    rng = np.random.default_rng(13)
    path = tmp_path / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", height=32, width=32, count=3, dtype="uint16", crs="EPSG:32633",
                       transform=from_origin(5e5, 4e6, 4.0, 4.0)) as f:  # fmt: skip
        f.write((rng.random((3, 32, 32)) * 60000 + 1000).astype(np.uint16))
    scene = rioxarray.open_rasterio(path).astype(np.float32) / 65535
    # Wald's protocol on the opened scene: its attributes keep the file's 4 m transform.
    ms, pan = scene.coarsen(x=4, y=4).mean(), scene.mean("band")
    out = gdd.pansharpen(ms, pan, **QUICK)
    assert out.rio.transform() == pan.rio.transform(recalc=True)
    ascending = gdd.pansharpen(ms.sortby("y"), pan.sortby("y"), **QUICK)  # both rows south to north
    np.testing.assert_array_equal(ascending.y.values, np.sort(pan.y.values))
    assert ascending.rio.transform(recalc=True).e > 0
    # Values computed from an integer product opened masked keep its encoding, not its integers.
    opened = rioxarray.open_rasterio(path, masked=True)
    reflectance = opened.copy(data=opened.values / 10000.0)
    expected = gdd.pansharpen(reflectance.coarsen(x=4, y=4).mean().values.transpose(1, 2, 0),
                              reflectance.mean("band").values, **QUICK)  # fmt: skip
    got = gdd.pansharpen(reflectance.coarsen(x=4, y=4).mean(), reflectance.mean("band"), **QUICK)
    np.testing.assert_allclose(got.values.transpose(1, 2, 0), expected, rtol=0, atol=1e-6)
    assert float(got.max()) > 0.5  # reflectance, not digital numbers divided by 65535


def test_bad_settings_are_refused_in_one_line_before_the_inputs_are_read() -> None:
    unreadable = np.array([["not", "a"], ["number", "!"]])  # read first, it would be refused as a data type
    for settings, match in (
        ({"iteration": 3}, "unknown settings: iteration"),
        ({"seed": None}, "seed: an integer, got None"),
        ({"tile": 16.0}, "tile: an integer of at least 1, got 16.0"),
        ({"overlap": 4}, "overlap=4 is the overlap of tiles: give tile= too"),
        ({"bit_depth": 0}, "bit_depth: an integer of at least 1, got 0"),
        ({"width": 0}, "width: an integer of at least 1, got 0"),
        ({"holdout": 1.5}, "holdout: a share of at least 0 and below 1, got 1.5"),
        ({"device": "foo"}, "device must be 'auto', 'cpu', 'cuda' or 'mps', got 'foo'"),
        ({"budget": "x"}, "budget must be 'authors' or 'cpu'"),
        ({"lr": -1}, "lr must be positive"),
        ({"fast": {"x": 1}}, "unknown fast-path settings: x"),
    ):
        for fuse in (gdd.pansharpen, gdd.denoise):
            with pytest.raises(InputError, match=match):
                fuse(unreadable, unreadable, **{**QUICK, **settings})
    rng = np.random.default_rng(14)
    ms, pan = rng.random((8, 8, 3)), rng.random((32, 32))
    with pytest.raises(InputError, match="spatial must be 'auto', 'bicubic' or 'mtf', got 'foo'"):
        gdd.pansharpen(ms, pan, spatial="foo", **QUICK)
    with pytest.raises(InputError, match=r"ms: 1 pixel\(s\) with data, too few for held-out validation"):
        gdd.pansharpen(ms[:1, :1], pan[:4, :4], **QUICK)
    with pytest.raises(InputError, match=r"pan \(36 x 36\) is not ms \(8 x 8\) times a whole ratio; crop both"):
        gdd.pansharpen(ms, rng.random((36, 36)), **QUICK)
    seeds = gdd.pansharpen(ms, pan, seed=np.int64(3), **QUICK), gdd.pansharpen(ms, pan, seed=3, **QUICK)
    np.testing.assert_array_equal(*seeds)


def test_a_response_named_as_the_command_line_takes_it_is_resampled_onto_the_bands(tmp_path: Path) -> None:
    """``srf="cie1931"`` with the bands' wavelengths (a keyword, or a DataArray's coordinate) is its matrix on them."""
    xr = pytest.importorskip("xarray")
    from gdd.simulate.responses import spectral_response

    rng = np.random.default_rng(3)
    wl = np.arange(400.0, 701.0, 10.0)
    r = spectral_response("cie1931", wl)
    hs, rgb = rng.random((8, 8, 31)).astype(np.float32), rng.random((32, 32, 3)).astype(np.float32)
    run = {"iterations": 2, "width": 8, "device": "cpu"}
    want = gdd.fuse_hs(hs, rgb, r, **run)
    assert np.array_equal(gdd.fuse_hs(hs, rgb, "cie1931", wavelengths=wl, **run), want)
    assert np.array_equal(gdd.fuse_hs(hs, rgb, r.T, **run), want)  # HS bands x guide bands, as the CLI takes
    cube = xr.DataArray(np.moveaxis(hs, -1, 0), dims=("band", "y", "x"), coords={"wavelength": ("band", wl)})
    cube.attrs.update(long_name="radiance", TIFFTAG_IMAGEDESCRIPTION='{"shape": [8, 8, 31]}')  # the file's
    cube.attrs.update(wavelength=400.0)  # rioxarray's: the first band's tags on the whole array
    guide = xr.DataArray(np.moveaxis(rgb, -1, 0), dims=("band", "y", "x"))
    fused = gdd.fuse_hs(cube, guide, "cie1931", **run)
    assert np.array_equal(np.moveaxis(fused.values, 0, -1), want)
    assert fused.attrs["long_name"] == "radiance" and not {"TIFFTAG_IMAGEDESCRIPTION", "wavelength"} & set(fused.attrs)
    assert np.array_equal(fused.wavelength.values, wl)  # the bands' own, on the band dimension
    with pytest.raises(InputError, match=r"471 wavelengths .* pass their wavelengths="):
        gdd.fuse_hs(hs, rgb, "cie1931", **run)
    with pytest.raises(InputError, match=r"'estimte': no such file .*; or srf='estimate'"):
        gdd.fuse_hs(hs, rgb, "estimte", **run)
    with pytest.raises(InputError, match=r"srf nosuch\.csv: file not found; or srf='estimate'"):
        gdd.fuse_hs(hs, rgb, "nosuch.csv", **run)
    # A response file that is there but unreadable is named as such, without the hint.
    (tmp_path / "bad.csv").write_text("wavelength,r\n400,x\n")
    with pytest.raises(InputError) as bad:
        gdd.fuse_hs(hs, rgb, str(tmp_path / "bad.csv"), **run)
    assert "srf='estimate'" not in str(bad.value)
    with pytest.raises(InputError, match="wavelengths: expected 31 finite values"):
        gdd.fuse_hs(hs, rgb, "cie1931", wavelengths=wl[:5], **run)


def test_arrays_bands_first_are_refused_unless_said_and_then_come_back_bands_first() -> None:
    import torch

    rng = np.random.default_rng(3)
    noisy, flash = rng.random((24, 24, 3)).astype(np.float32), rng.random((24, 24, 3)).astype(np.float32)
    run = {"iterations": 2, "width": 8, "device": "cpu"}
    want = gdd.denoise(noisy, flash, **run)
    first = np.moveaxis(noisy, -1, 0), np.moveaxis(flash, -1, 0)  # as rasterio's read() gives them
    with pytest.raises(
        InputError, match=r"noisy: a 3 x 24 x 24 array would be 3 x 24 pixels of 24 bands .*layout='chw'"
    ):
        gdd.denoise(*first, **run)
    assert np.array_equal(gdd.denoise(*first, layout="chw", **run), np.moveaxis(want, -1, 0))
    # A masked array bands first: its mask moves with it.
    masked = np.ma.masked_array(first[0], mask=np.zeros(first[0].shape, dtype=bool))
    masked.mask[:, :2, :2] = True
    out = gdd.denoise(masked, first[1], layout="chw", **run)
    assert out.shape == (3, 24, 24) and int(np.isnan(out).sum()) == 3 * 4 and np.isnan(out[:, :2, :2]).all()
    # A tensor with a graph, as PyTorch users hold one: read as an array, bands last by default.
    assert np.array_equal(gdd.denoise(torch.from_numpy(noisy).requires_grad_(), flash, **run), want)
    with pytest.raises(InputError, match=r"layout: 'hwc' .* or 'chw'"):
        gdd.denoise(noisy, flash, layout="bhwc", **run)
    # Eight bands first do not look so: the pair's shapes then say what may be wrong.
    ms, pan = rng.random((8, 16, 16)), rng.random((64, 64))
    with pytest.raises(InputError, match=r"if ms is 8 bands of 16 x 16 pixels, give layout='chw'"):
        gdd.pansharpen(ms, pan, **run)
    assert gdd.pansharpen(ms, pan, layout="chw", **run).shape == (8, 64, 64)


def test_values_far_from_0_1_are_warned_of_as_the_command_line_does() -> None:
    rng = np.random.default_rng(8)
    ms, pan = (rng.random((8, 8, 4)) * 2047).astype(np.uint16), (rng.random((32, 32)) * 2047).astype(np.uint16)
    run = {"iterations": 2, "width": 8, "device": "cpu"}
    with pytest.warns(UserWarning, match=r"(ms|pan): its integers reach \d+ of 65535.* give bit_depth=11") as caught:
        gdd.pansharpen(ms, pan, **run)
    assert [str(w.message)[:3] for w in caught] == ["ms:", "pan"] and caught[
        0
    ].filename == __file__  # the caller's line
    with pytest.warns(UserWarning, match="noisy: its values reach 1999; gdd fits values in about"):
        gdd.denoise(np.full((16, 16, 3), 1999.0) - rng.random((16, 16, 3)) * 9, rng.random((16, 16, 3)), **run)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gdd.pansharpen(ms, pan, bit_depth=11, **run)  # said: no warning


def test_srf_estimate_refuses_too_few_equations_and_warns_of_a_pair_that_does_not_fit() -> None:
    rng = np.random.default_rng(9)
    run = {"iterations": 2, "width": 8, "device": "cpu"}
    with pytest.raises(InputError, match=r"srf='estimate': the HS image \(8 x 8\) gives 192 equations for 669"):
        gdd.fuse_hs(rng.random((8, 8, 31)), rng.random((64, 64, 3)), "estimate", **run)
    with pytest.warns(UserWarning, match="the pair does not look consistent"):
        gdd.fuse_hs(rng.random((16, 16, 4)), rng.random((64, 64, 3)), "estimate", **run)  # unrelated images
