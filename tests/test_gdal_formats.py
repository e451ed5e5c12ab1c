"""Real GDAL files made here: whatever GDAL reads, gdd reads (VRT, JPEG 2000, ERDAS, scale/offset, int16, pages)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gdd.io import InputError, read_image, read_raster

rasterio = pytest.importorskip("rasterio", reason="GDAL formats are read through the geo extra: pip install 'gdd[geo]'")
from affine import Affine  # noqa: E402

CRS = "EPSG:32633"
TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0)


def _write(path: Path, a: np.ndarray, driver: str = "GTiff", **extra: object) -> None:
    """Write a C x H x W array with georeferencing."""
    c, h, w = a.shape
    with rasterio.open(path, "w", driver=driver, width=w, height=h, count=c, dtype=a.dtype, crs=CRS,
                       transform=TRANSFORM, **extra) as dst:  # fmt: skip
        dst.write(a)


def _cube(bands: int = 3, dtype: str = "uint16") -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(1, 4000, size=(bands, 16, 20)).astype(dtype)


def _has_driver(name: str) -> bool:
    with rasterio.Env() as env:
        return name in env.drivers()


def test_a_vrt_of_band_files_reads_as_one_image(tmp_path: Path) -> None:
    cube = _cube(3)
    bands = []
    for i in range(3):
        _write(tmp_path / f"B{i + 2}.tif", cube[i : i + 1])
        bands.append(
            f'<VRTRasterBand dataType="UInt16" band="{i + 1}"><SimpleSource>'
            f'<SourceFilename relativeToVRT="1">B{i + 2}.tif</SourceFilename><SourceBand>1</SourceBand>'
            f"</SimpleSource></VRTRasterBand>"
        )
    (tmp_path / "stack.vrt").write_text(
        f'<VRTDataset rasterXSize="20" rasterYSize="16"><SRS>{CRS}</SRS>'
        f"<GeoTransform>{', '.join(str(v) for v in TRANSFORM.to_gdal())}</GeoTransform>{''.join(bands)}</VRTDataset>"
    )
    raster = read_raster(tmp_path / "stack.vrt")
    assert raster.data.shape == (16, 20, 3)
    np.testing.assert_allclose(raster.data, np.moveaxis(cube, 0, -1) / 65535.0, rtol=1e-6)
    assert raster.crs is not None and raster.transform is not None and raster.transform[0] == 10.0


@pytest.mark.skipif(not _has_driver("JP2OpenJPEG"), reason="this GDAL build has no JPEG 2000 driver (JP2OpenJPEG)")
def test_a_jpeg2000_file_reads_losslessly(tmp_path: Path) -> None:
    cube = _cube(4)
    _write(tmp_path / "s2.jp2", cube, driver="JP2OpenJPEG", QUALITY="100", REVERSIBLE="YES")
    np.testing.assert_allclose(read_image(tmp_path / "s2.jp2"), np.moveaxis(cube, 0, -1) / 65535.0, rtol=1e-6)


def test_an_erdas_imagine_file_reads_and_an_envi_img_still_goes_to_envi(tmp_path: Path) -> None:
    cube = _cube(2)
    _write(tmp_path / "scene.img", cube, driver="HFA")
    raster = read_raster(tmp_path / "scene.img")
    np.testing.assert_allclose(raster.data, np.moveaxis(cube, 0, -1) / 65535.0, rtol=1e-6)
    assert raster.crs is not None


def test_scale_and_offset_give_physical_values_and_nodata_stays_masked(tmp_path: Path) -> None:
    dn = _cube(2)
    dn[:, 0, 0] = 0  # nodata
    path = tmp_path / "reflectance.tif"
    _write(path, dn, nodata=0)
    with rasterio.open(path, "r+") as dst:
        dst.scales = (0.0001, 0.0001)
        dst.offsets = (-0.1, -0.1)
    raster = read_raster(path)
    expected = np.moveaxis(dn, 0, -1) * 0.0001 - 0.1
    assert raster.scale is None  # physical values, not divided by a bit depth
    assert raster.mask is not None and not raster.mask[0, 0] and raster.mask.sum() == 16 * 20 - 1
    np.testing.assert_allclose(raster.data[1:], expected[1:], rtol=1e-5, atol=1e-6)


def test_signed_integers_with_small_negative_values_are_read(tmp_path: Path) -> None:
    a = _cube(3, "int16")
    a[0, :2, :2] = -7
    _write(tmp_path / "int16.tif", a)
    data = read_image(tmp_path / "int16.tif")
    assert data.min() < 0 and np.isclose(data.min(), -7 / 65535.0)


def test_a_multi_page_tiff_reads_every_page_as_a_band_with_rasterio_installed(tmp_path: Path) -> None:
    import tifffile

    pages = _cube(5)
    with tifffile.TiffWriter(tmp_path / "pages.tif") as tif:
        for page in pages:
            tif.write(page, contiguous=False)
    data = read_image(tmp_path / "pages.tif")
    assert data.shape == (16, 20, 5)
    np.testing.assert_allclose(data, np.moveaxis(pages, 0, -1) / 65535.0, rtol=1e-6)


def test_an_array_tifffile_wrote_bands_last_reads_as_it_was_written(tmp_path: Path) -> None:
    """``tifffile.imwrite("ms.tif", ms)`` of an H x W x 8 array stores a page per row; its shape says so."""
    import tifffile

    cube = np.moveaxis(_cube(8), 0, -1)  # 16 x 20 x 8
    tifffile.imwrite(tmp_path / "hwc.tif", cube)
    tifffile.imwrite(tmp_path / "chw.tif", np.moveaxis(cube, -1, 0))  # bands first: a page per band
    for name in ("hwc", "chw"):
        np.testing.assert_allclose(read_image(tmp_path / f"{name}.tif"), cube / 65535.0, rtol=1e-6, err_msg=name)
    # Many bands first, the width the shortest side: still a band per page.
    wide = np.random.default_rng(2).integers(0, 4000, (40, 24, 20)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "wide.tif", wide)
    np.testing.assert_allclose(read_image(tmp_path / "wide.tif"), np.moveaxis(wide, 0, -1) / 65535.0, rtol=1e-6)


def test_a_file_gdal_cannot_read_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "x.ntf").write_bytes(b"NITF02.10 but not really")
    with pytest.raises(InputError, match=r"x\.ntf") as info:
        read_image(tmp_path / "x.ntf")
    assert "\n" not in str(info.value)


def test_a_list_of_band_files_is_one_image_and_the_command_line_fuses_it(tmp_path: Path) -> None:
    from gdd.cli import main

    cube = _cube(3)
    for i in range(3):
        _write(tmp_path / f"B{i + 2}.tif", cube[i : i + 1, :16, :16])
    spec = ",".join(str(tmp_path / f"B{i + 2}.tif") for i in range(3))
    raster = read_raster(spec, name="ms")
    assert raster.data.shape == (16, 16, 3) and raster.descriptions == ("B2", "B3", "B4")
    np.testing.assert_allclose(raster.data, np.moveaxis(cube[:, :16, :16], 0, -1) / 65535.0, rtol=1e-6)
    np.save(tmp_path / "pan.npy", np.random.default_rng(1).random((64, 64)).astype(np.float32))
    argv = ["pan", "--ms", spec, "--pan", str(tmp_path / "pan.npy"), "--ratio", "4", "--iterations", "2",
            "--width", "8", "--device", "cpu", "--quiet", "--out", str(tmp_path / "out.npy")]  # fmt: skip
    assert main(argv) == 0 and np.load(tmp_path / "out.npy").shape == (64, 64, 3)
    _write(tmp_path / "B9.tif", cube[:1])  # 16 x 20: another grid
    with pytest.raises(InputError, match="band files must share one grid"):
        read_raster(f"{spec},{tmp_path / 'B9.tif'}", name="ms")
    # A band written by another tool, its origin a 10^-7 of a metre off: the same grid.
    with rasterio.open(tmp_path / "B4.tif", "r+") as dst:
        a, b, c, d, e, f = tuple(dst.transform)[:6]
        dst.transform = Affine(a, b, c + 1e-7, d, e, f)
    assert read_raster(spec, name="ms").data.shape == (16, 16, 3)
    # Half a pixel off, or a pixel size that adds up to one over the image: another grid.
    for moved in (Affine(a, b, c + a / 2, d, e, f), Affine(a * 1.07, b, c, d, e, f)):
        with rasterio.open(tmp_path / "B4.tif", "r+") as dst:
            dst.transform = moved
        with pytest.raises(InputError, match=r"B4\.tif: its georeferencing differs from .*B2\.tif's"):
            read_raster(spec, name="ms")
    with rasterio.open(tmp_path / "B4.tif", "r+") as dst:
        dst.transform = Affine(a, b, c, d, e, f)
    # Their storage is the image's: --dtype input writes the digital numbers back.
    assert main([*argv[:-1], str(tmp_path / "dn.npy"), "--dtype", "input"]) == 0
    assert np.load(tmp_path / "dn.npy").dtype == np.uint16
    # A band in other units (a scale and offset: reflectance, beside digital numbers) is refused.
    _write(tmp_path / "B5.tif", cube[:1, :16, :16])
    with rasterio.open(tmp_path / "B5.tif", "r+") as dst:
        dst.scales, dst.offsets = (2.75e-5,), (-0.2,)
    with pytest.raises(
        InputError, match=r"B5.tif: its values are physical .*B2.tif's digital numbers divided by 65535"
    ):
        read_raster(f"{spec},{tmp_path / 'B5.tif'}", name="ms")
    _write(tmp_path / "B6.tif", cube[:1, :16, :16].astype("uint8"))  # 8 bits beside 16
    with pytest.raises(InputError, match=r"divided by 255 \(uint8\), .* divided by 65535 \(uint16\)"):
        read_raster(f"{spec},{tmp_path / 'B6.tif'}", name="ms")


def test_a_tif_result_is_a_cloud_optimized_geotiff_with_overviews(tmp_path: Path) -> None:
    from gdd.io import Raster, write_image

    rng = np.random.default_rng(0)
    data = rng.random((1100, 1000, 2)).astype(np.float32)
    meta = Raster(data, crs=CRS, transform=tuple(TRANSFORM)[:6], descriptions=("red", "nir"),
                  wavelengths=(660.0, 850.0))  # fmt: skip
    out = write_image(tmp_path / "fused.tif", data, meta=meta)
    with rasterio.open(out) as f:
        assert f.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG" and f.profile["tiled"]
        assert f.overviews(1), "no overviews"
        assert f.crs == rasterio.crs.CRS.from_string(CRS) and f.transform == TRANSFORM
        assert f.descriptions == ("red", "nir")
        assert f.tags(2, ns="IMAGERY")["CENTRAL_WAVELENGTH_UM"] == "0.85"
    again = read_raster(out)
    assert again.wavelengths == (660.0, 850.0)
    np.testing.assert_array_equal(again.data, data)


def test_a_pair_on_grids_that_do_not_line_up_is_refused_and_one_crs_in_two_spellings_is_not(
    tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    from gdd.cli import main

    rng = np.random.default_rng(0)
    _write(tmp_path / "pan.tif", rng.integers(1, 4000, (1, 32, 32)).astype("uint16"))

    def ms(name: str, origin_x: float, crs: str = CRS) -> str:
        path = tmp_path / name
        with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=3, dtype="uint16", crs=crs,
                           transform=Affine(40.0, 0.0, origin_x, 0.0, -40.0, 4000000.0)) as dst:  # fmt: skip
            dst.write(rng.integers(1, 4000, (3, 8, 8)).astype("uint16"))
        return str(path)

    common = ["--pan", str(tmp_path / "pan.tif"), "--ratio", "4", "--iterations", "2", "--width", "8",
              "--device", "cpu", "--quiet"]  # fmt: skip
    # Shifted by two PAN pixels: the sizes divide, but the pair is misregistered.
    assert main(["pan", "--ms", ms("shifted.tif", 500020.0), *common, "--out", str(tmp_path / "a.tif")]) == 1
    err = capsys.readouterr().err
    assert "ms shifted.tif, pan pan.tif: not on one grid: ms's origin is 2.0 column(s)" in err and err.count("\n") == 1
    assert not (tmp_path / "a.tif").exists()
    # Half a PAN pixel off: --extent intersection, which cuts at whole pixels, is not offered.
    assert main(["pan", "--ms", ms("half.tif", 500005.0), *common, "--out", str(tmp_path / "a.tif")]) == 1
    err = capsys.readouterr().err
    assert "0.5 column(s)" in err and "--extent intersection" not in err, err
    # A ratio the grids contradict: they say which.
    argv = ["pan", "--ms", ms("aligned.tif", 500000.0), *common, "--out", str(tmp_path / "a.tif")]
    assert main([*argv, "--ratio", "2"]) == 1
    assert "their grids' pixel sizes make the ratio 4, not 2" in capsys.readouterr().err
    # A pixel 1.2 % too large (40.5 m against 4 x 10 m): the origins meet, the far corners are 0.4 PAN pixel apart.
    with rasterio.open(ms("aligned.tif", 500000.0), "r+") as dst:
        dst.transform = Affine(40.5, 0.0, 500000.0, 0.0, -40.5, 4000000.0)
    assert main(["pan", "--ms", str(tmp_path / "aligned.tif"), *common, "--out", str(tmp_path / "a.tif")]) == 1
    err = capsys.readouterr().err
    assert "its far corner 0.4 column(s), 0.4 row(s) of the finer grid away" in err and err.count("\n") == 1
    # The same CRS spelt as WKT instead of an EPSG code, on the right grid: fused.
    wkt = rasterio.crs.CRS.from_string(CRS).to_wkt(version="WKT2_2019")
    assert main(["pan", "--ms", ms("aligned.tif", 500000.0, wkt), *common, "--out", str(tmp_path / "b.tif")]) == 0


def test_eval_on_a_result_with_a_nodata_border_gives_the_indices_of_the_cropped_valid_area(
    tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]

    from gdd.cli import main

    rng = np.random.default_rng(0)
    ref = rng.random((32, 40, 4)).astype(np.float32)
    result = np.clip(ref + 0.02 * rng.standard_normal(ref.shape), 0, 1).astype(np.float32)
    bordered = np.full_like(result, -9999.0)
    bordered[3:29, 5:37] = result[3:29, 5:37]  # an orthorectified scene's nodata border
    np.save(tmp_path / "bordered.npy", bordered)
    np.save(tmp_path / "ref.npy", ref)
    np.save(tmp_path / "cropped.npy", result[3:29, 5:37])
    np.save(tmp_path / "ref_cropped.npy", ref[3:29, 5:37])
    assert main(["eval", str(tmp_path / "bordered.npy"), "--reference", str(tmp_path / "ref.npy"), "--ratio", "2",
                 "--nodata", "-9999", "--json", str(tmp_path / "a.json")]) == 0  # fmt: skip
    assert main(["eval", str(tmp_path / "cropped.npy"), "--reference", str(tmp_path / "ref_cropped.npy"), "--ratio",
                 "2", "--json", str(tmp_path / "b.json")]) == 0  # fmt: skip
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "ab")
    assert a["settings"]["valid_area"] == [3, 29, 5, 37]
    assert a["results"][0]["metrics"] == b["results"][0]["metrics"] and a["results"][0]["metrics"]["psnr"] > 30
    holed = bordered.copy()
    holed[10, 10] = -9999.0
    np.save(tmp_path / "holed.npy", holed)
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "holed.npy"), "--reference", str(tmp_path / "ref.npy"), "--nodata",
                 "-9999", "--json", str(tmp_path / "c.json")]) == 0  # fmt: skip
    # A hole in the data: the indices on its largest rectangle, said.
    said = "largest rectangle, rows 3-28, columns 11-36 (81% of the pixels with data)"
    assert said in capsys.readouterr().out
    assert json.loads((tmp_path / "c.json").read_text())["settings"]["valid_area"] == [3, 29, 11, 37]


def test_grids_rotated_or_flipped_against_each_other_are_refused() -> None:
    import math

    from gdd.checks import grid_mismatch

    north_up_ms, north_up_pan = (8.0, 0, 0, 0, -8.0, 0), (2.0, 0, 0, 0, -2.0, 0)
    assert grid_mismatch(north_up_ms, north_up_pan, 4) == ""
    r = 0.1  # a PAN rotated by 0.1 rad: fused on the MS's north-up grid, it was accepted
    rotated = (2 * math.cos(r), -2 * math.sin(r), 0, 2 * math.sin(r), -2 * math.cos(r), 0)
    assert "rotated or flipped" in grid_mismatch(north_up_ms, rotated, 4)
    # Both rotated alike: one grid, checked like north-up ones (here an origin a column off).
    a, b, _, d, e, _ = rotated
    coarse = (4 * a, 4 * b, a, 4 * d, 4 * e, d)  # origin one fine column along: (a, d)
    assert grid_mismatch(coarse, rotated, 4) == "its origin is 1.0 column(s), 0.0 row(s) of the finer grid away"
    # A south-up PAN: its pixel is as large, but its rows run the other way.
    assert "rotated or flipped" in grid_mismatch(north_up_ms, (2.0, 0, 0, 0, 2.0, 0), 4)


def test_wavelength_tags_are_read_in_their_units(tmp_path: Path) -> None:
    """Band tags as GDAL writes an ENVI file's (``wavelength`` with ``wavelength_units``), micrometres or nm."""
    cube = np.random.default_rng(2).random((3, 8, 8)).astype(np.float32)
    for name, waves, units, want in (
        ("um.tif", ("0.483", "0.56", "0.66"), "Micrometers", (483.0, 560.0, 660.0)),
        ("nm.tif", ("483", "560", "660"), "Nanometers", (483.0, 560.0, 660.0)),
        ("bare.tif", ("0.483", "0.56", "0.66"), None, (483.0, 560.0, 660.0)),  # no units: under 30 is micrometres
        ("text.tif", ("blue", "green", "red"), None, None),  # no numbers: no wavelengths
    ):
        _write(tmp_path / name, cube)
        with rasterio.open(tmp_path / name, "r+") as dst:
            for i, w in enumerate(waves, start=1):
                dst.update_tags(i, wavelength=w, **({"wavelength_units": units} if units else {}))
        got = read_raster(tmp_path / name).wavelengths
        assert got == want or np.allclose(got, want), (name, got)  # type: ignore[arg-type]
