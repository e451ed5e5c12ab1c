"""The array API: NumPy arrays and rioxarray DataArrays in, the same kind out, coordinates and CRS kept."""

from __future__ import annotations

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
        (lambda: gdd.pansharpen(ms, pan[:30, :30], **QUICK), "whole multiple"),
        (lambda: gdd.pansharpen(ms, pan, ratio=2, **QUICK), "times 2"),
        (lambda: gdd.fuse_hs(ms, pan, np.ones((1, 4)), **QUICK), "1 x 3"),
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
