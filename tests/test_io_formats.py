"""Every format and layout round-trips; georeferencing, band names, wavelengths and nodata survive."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from gdd.cli import main
from gdd.io import InputError, Raster, read_image, read_raster, write_image

FAST = ["--iterations", "3", "--width", "4", "--device", "cpu", "--quiet"]


@pytest.fixture
def cube() -> np.ndarray:
    return np.random.default_rng(0).random((12, 10, 4)).astype(np.float32)


def _mat73(path: Path, **arrays: np.ndarray) -> None:
    """A MATLAB v7.3 file as MATLAB writes it: HDF5 with a 512-byte header, arrays transposed."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, a in arrays.items():
            f.create_dataset(name, data=np.ascontiguousarray(a.T))
            f[name].attrs["MATLAB_class"] = np.bytes_("double" if a.dtype == np.float64 else "single")
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Sat Nov 28 2026 HDF5 schema 1.00 ."
    with open(path, "r+b") as fh:
        fh.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM")


def test_round_trip_every_format(tmp_path: Path, cube: np.ndarray) -> None:
    np.save(tmp_path / "a.npy", cube)
    np.savez(tmp_path / "a.npz", hsi=cube, other=cube[..., :1])
    scipy.io.savemat(tmp_path / "a5.mat", {"HSI": cube})
    _mat73(tmp_path / "a73.mat", HSI=cube, R=np.ones((3, 4)))
    write_image(tmp_path / "plain.tif", cube)
    write_image(tmp_path / "geo.tif", cube, meta=Raster(cube, crs="EPSG:32633", transform=(2, 0, 500000, 0, -2, 4e6)))
    pytest.importorskip("spectral")
    write_image(tmp_path / "cube.hdr", cube)
    for spec in ("a.npy", "a.npz:hsi", "a5.mat:HSI", "a5.mat", "a73.mat:HSI", "plain.tif", "geo.tif", "cube.hdr"):
        got = read_image(tmp_path / spec if ":" not in spec else f"{tmp_path}/{spec}")
        assert got.dtype == np.float32 and np.array_equal(got, cube), spec
    # v7.3 with several arrays: the name is asked for, listing them.
    with pytest.raises(InputError, match="several arrays \\(HSI, R\\)"):
        read_image(tmp_path / "a73.mat")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_pictures_8_and_16_bit_and_band_folders(tmp_path: Path) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgb).save(tmp_path / "a.bmp")
    assert np.allclose(read_image(tmp_path / "a.png"), rgb / 255) and np.allclose(
        read_image(tmp_path / "a.bmp"), rgb / 255
    )
    grey16 = np.random.default_rng(2).integers(0, 65536, (9, 7), dtype=np.uint16)
    Image.fromarray(grey16).save(tmp_path / "g.png")
    assert np.allclose(read_image(tmp_path / "g.png")[..., 0], grey16 / 65535)
    folder = tmp_path / "scene"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(grey16 // (i + 1)).save(folder / f"scene_{i + 1:02d}.png")
    assert np.allclose(read_image(folder)[..., 2], (grey16 // 3) / 65535)


def test_layouts(tmp_path: Path, cube: np.ndarray) -> None:
    np.save(tmp_path / "hwc.npy", cube)
    np.save(tmp_path / "chw.npy", cube.transpose(2, 0, 1))
    assert np.array_equal(read_image(tmp_path / "chw.npy"), cube)
    scipy.io.savemat(tmp_path / "chw.mat", {"X": cube.transpose(2, 0, 1)})
    assert np.array_equal(read_image(tmp_path / "chw.mat"), cube)
    # A square image: the bands are the odd axis out, however many there are (16 x 16 x 31, 31 x 16 x 16).
    hs = np.random.default_rng(4).random((16, 16, 31)).astype(np.float32)
    np.save(tmp_path / "hs.npy", hs)
    np.save(tmp_path / "hs_chw.npy", hs.transpose(2, 0, 1))
    assert np.array_equal(read_image(tmp_path / "hs.npy"), hs) and np.array_equal(
        read_image(tmp_path / "hs_chw.npy"), hs
    )
    square = np.random.default_rng(3).random((6, 6, 6)).astype(np.float32)
    np.save(tmp_path / "sq.npy", square)
    with pytest.raises(InputError, match="ambiguous; give --layout hwc or chw"):
        read_image(tmp_path / "sq.npy")
    assert np.array_equal(read_image(tmp_path / "sq.npy", layout="hwc"), square)
    assert np.array_equal(read_image(tmp_path / "sq.npy", layout="chw"), square.transpose(1, 2, 0))
    # A multi-page TIFF (one page per band) is C x H x W in the file: tifffile says so.
    import tifffile

    tifffile.imwrite(tmp_path / "pages.tif", cube.transpose(2, 0, 1), photometric="minisblack")
    monkey = pytest.MonkeyPatch()
    monkey.setitem(sys.modules, "rasterio", None)
    try:
        assert np.array_equal(read_image(tmp_path / "pages.tif"), cube)
    finally:
        monkey.undo()
    # A stack of multi-band images (4-D) is refused, not read as its first image.
    tifffile.imwrite(tmp_path / "stack.tif", np.stack([cube[..., :3], cube[..., 1:4]]), photometric="rgb")
    with pytest.raises(InputError, match=r"stack\.tif: holds 2 images of .* x 3 \(a 4-D stack\)"):
        read_image(tmp_path / "stack.tif")
    # ... and by a tiled run's window reader too; an RGB with a thumbnail page is one image.
    from gdd.io import WindowReader

    if importlib.util.find_spec("rasterio") is not None:
        with pytest.raises(InputError, match=r"^guide .*stack\.tif: holds 2 images"):
            WindowReader(tmp_path / "stack.tif", name="guide")
        pages = WindowReader(tmp_path / "pages.tif", name="ms", layout="hwc")
        assert pages.shape == cube.shape  # one band per page: every page, not the first
    with tifffile.TiffWriter(tmp_path / "thumb.tif") as tif:
        tif.write((cube[..., :3] * 255).astype(np.uint8), photometric="rgb")
        tif.write(np.zeros((4, 4, 3), np.uint8), photometric="rgb")
    assert read_image(tmp_path / "thumb.tif").shape == (*cube.shape[:2], 3)


def test_integer_output_scaled_back(tmp_path: Path, cube: np.ndarray) -> None:
    path = write_image(tmp_path / "dn.tif", cube, dtype="uint16", bit_depth=11)
    import tifffile

    raw = tifffile.imread(path)
    assert raw.dtype == np.uint16 and raw.max() <= 2047
    assert np.array_equal(raw, np.rint(cube * 2047).astype(np.uint16))
    assert np.abs(read_image(path, bit_depth=11) - cube).max() <= 0.5 / 2047 + 1e-7


def _geo_pair(tmp_path: Path) -> tuple[Path, Path]:
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import Affine

    rng = np.random.default_rng(4)
    pan = rng.random((32, 32)).astype(np.float32)
    ms = rng.random((8, 8, 8)).astype(np.float32)
    names = ["coastal", "blue", "green", "yellow", "red", "red edge", "NIR1", "NIR2"]
    waves = [427, 478, 546, 608, 659, 724, 833, 949]
    pan_path, ms_path = tmp_path / "pan.tif", tmp_path / "ms.tif"
    with rasterio.open(
        pan_path, "w", driver="GTiff", height=32, width=32, count=1, dtype="float32",
        crs="EPSG:32633", transform=Affine(0.5, 0, 500000, 0, -0.5, 4100000),
    ) as dst:  # fmt: skip
        dst.write(pan[None])
    with rasterio.open(
        ms_path, "w", driver="GTiff", height=8, width=8, count=8, dtype="float32",
        crs="EPSG:32633", transform=Affine(2.0, 0, 500000, 0, -2.0, 4100000),
    ) as dst:  # fmt: skip
        dst.write(ms.transpose(2, 0, 1))
        for i, (n, w) in enumerate(zip(names, waves)):
            dst.set_band_description(i + 1, n)
            dst.update_tags(i + 1, wavelength=str(w))
    return ms_path, pan_path


def test_fused_geotiff_keeps_the_pan_grid_and_ms_bands(tmp_path: Path) -> None:
    ms_path, pan_path = _geo_pair(tmp_path)
    import rasterio

    out = tmp_path / "fused.tif"
    assert main(["pan", "--ms", str(ms_path), "--pan", str(pan_path), "--ratio", "4", "--out", str(out), *FAST]) == 0
    with rasterio.open(out) as f, rasterio.open(pan_path) as p:
        assert f.crs == p.crs and f.transform == p.transform
        assert f.count == 8 and f.width == 32 and f.dtypes[0] == "float32"
        assert f.descriptions[4] == "red" and f.tags(7)["wavelength"] == "833"
        assert f.tags(7, ns="IMAGERY")["CENTRAL_WAVELENGTH_UM"] == "0.833"  # GDAL's band metadata
        assert f.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG" and f.tags()["TIFFTAG_SOFTWARE"].startswith("gdd ")
    r = read_raster(out)
    assert r.wavelengths == (427.0, 478.0, 546.0, 608.0, 659.0, 724.0, 833.0, 949.0)
    assert r.descriptions == ("coastal", "blue", "green", "yellow", "red", "red edge", "NIR1", "NIR2")
    # Asked for uint16 digital numbers, the same grid.
    out16 = tmp_path / "fused16.tif"
    argv = ["pan", "--ms", str(ms_path), "--pan", str(pan_path), "--ratio", "4", "--out", str(out16),
            "--dtype", "uint16", "--bit-depth", "11", *FAST]  # fmt: skip
    assert main(argv) == 0
    with rasterio.open(out16) as f:
        assert f.dtypes[0] == "uint16" and f.read().max() <= 2047 and f.crs.to_epsg() == 32633


def test_geotiff_without_rasterio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    ms_path, pan_path = _geo_pair(tmp_path)
    monkeypatch.setitem(sys.modules, "rasterio", None)
    r = read_raster(pan_path)  # the pixels are still read, by tifffile
    assert r.geotiff_unread and r.crs is None and r.data.shape == (32, 32, 1)
    argv = ["pan", "--ms", str(ms_path), "--pan", str(pan_path), "--ratio", "4", *FAST]
    assert main([*argv, "--out", str(tmp_path / "o.tif")]) == 1
    err = capsys.readouterr().err
    assert "pip install 'gdd[geo]'" in err and err.count("\n") == 1
    assert not (tmp_path / "o.tif").exists()
    # Where georeferencing cannot go anyway (.npy), the run goes on.
    assert main([*argv, "--out", str(tmp_path / "o.npy")]) == 0
    with pytest.raises(InputError, match=r"gdd\[geo\]"):
        write_image(tmp_path / "g.tif", np.zeros((4, 4, 1)), meta=Raster(np.zeros((4, 4, 1)), crs="EPSG:4326"))


def test_envi_wavelengths_names_and_nodata(tmp_path: Path, cube: np.ndarray) -> None:
    pytest.importorskip("spectral")
    meta = Raster(cube, descriptions=("a", "b", "c", "d"), wavelengths=(450.0, 550.0, 650.0, 850.0))
    mask = np.ones(cube.shape[:2], bool)
    mask[0, 0] = False
    path = write_image(tmp_path / "c.hdr", cube, meta=meta, mask=mask, nodata=-1.0)
    assert path.with_suffix(".img").is_file()
    r = read_raster(path)
    assert r.wavelengths == (450.0, 550.0, 650.0, 850.0) and r.descriptions == ("a", "b", "c", "d")
    assert r.nodata == -1.0 and r.mask is not None and not r.mask[0, 0] and r.mask.sum() == mask.sum()
    assert np.array_equal(r.data[1:, 1:], cube[1:, 1:])
    # Micrometres in the header become nanometres.
    hdr = path.read_text().replace("Nanometers", "Micrometers")
    hdr = hdr.replace("450", "0.45").replace("550", "0.55").replace("650", "0.65").replace("850", "0.85")
    path.write_text(hdr)
    assert read_raster(path).wavelengths == pytest.approx((450.0, 550.0, 650.0, 850.0))
    # ENVI writes "Unknown" where it was not told: as unsaid, values below 30 are micrometres.
    path.write_text(hdr.replace("Micrometers", "Unknown"))
    assert read_raster(path).wavelengths == pytest.approx((450.0, 550.0, 650.0, 850.0))


def test_a_reference_whose_bands_are_not_the_result_s_is_refused(
    tmp_path: Path, cube: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    """--reference compares band with band: bands at other wavelengths, or in the reverse order, are refused."""
    pytest.importorskip("spectral")
    waves = (450.0, 550.0, 650.0, 850.0)
    gt = np.kron(cube[:8, :8], np.ones((4, 4, 1))).astype(np.float32)
    hsi = write_image(tmp_path / "hsi.hdr", cube[:8, :8], meta=Raster(cube, wavelengths=waves))
    np.save(tmp_path / "rgb.npy", gt[..., :3])
    np.save(tmp_path / "srf.npy", np.eye(3, 4))
    argv = ["hs", "--hsi", str(hsi), "--guide", str(tmp_path / "rgb.npy"), "--srf", str(tmp_path / "srf.npy"),
            "--factor", "4", "--out", str(tmp_path / "o.npy"), *FAST]  # fmt: skip
    for name, bands, said in (("rev", waves[::-1], "bands at 850-450 nm (the reverse order)"),
                              ("other", (400.0, 500.0, 600.0, 700.0), "bands at 400-700 nm,")):  # fmt: skip
        ref = write_image(tmp_path / f"{name}.hdr", gt[..., :: -1 if name == "rev" else 1],
                          meta=Raster(gt, wavelengths=bands))  # fmt: skip
        assert main([*argv, "--reference", str(ref)]) == 1
        err = capsys.readouterr().err
        assert said in err and "not the result's (450-850 nm)" in err and err.count("\n") == 1, err
        assert not (tmp_path / "o.npy").exists()
    ref = write_image(tmp_path / "same.hdr", gt, meta=Raster(gt, wavelengths=waves))
    assert main([*argv, "--reference", str(ref)]) == 0


def test_nodata_pixels_are_left_out_of_the_loss(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    ms = rng.random((8, 8, 3)).astype(np.float32)
    pan = rng.random((32, 32)).astype(np.float32)
    np.save(tmp_path / "pan.npy", pan)
    outputs = []
    for garbage in (0.0, 1e6):
        bad = ms.copy()
        bad[2, 3] = garbage
        bad[5, 5, 1] = garbage  # one band is enough to mark the pixel
        np.save(tmp_path / "ms.npy", bad)
        out = tmp_path / f"o{int(garbage)}.npy"
        argv = ["pan", "--ms", str(tmp_path / "ms.npy"), "--pan", str(tmp_path / "pan.npy"), "--ratio", "4",
                "--nodata", str(garbage), "--out", str(out), "--force", *FAST]  # fmt: skip
        assert main(argv) == 0
        outputs.append(np.load(out))
    a, b = outputs
    # The output marks the high-resolution pixels of the masked low-resolution ones with the
    # nodata value,
    masked = np.zeros((32, 32), bool)
    masked[8:12, 12:16] = masked[20:24, 20:24] = True
    assert (a[masked] == 0).all() and (b[masked] == 1e6).all()
    # and the masked pixels' values never reach the fit: elsewhere both runs are the same.
    assert np.array_equal(a[~masked], b[~masked])


def test_checks_before_the_fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(6)
    np.save(tmp_path / "ms.npy", rng.random((8, 8, 3)).astype(np.float32))
    np.save(tmp_path / "pan.npy", rng.random((32, 32)).astype(np.float32))
    argv = ["pan", "--ms", str(tmp_path / "ms.npy"), "--pan", str(tmp_path / "pan.npy"), "--ratio", "4",
            "--out", str(tmp_path / "o.tif"), *FAST]  # fmt: skip
    assert main([*argv, "--dtype", "uint16", "--bit-depth", "20"]) == 1
    assert "at most 16 bits" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main([*argv, "--report", str(tmp_path / "r.html")]) == 1
    assert "pip install 'gdd[demo]'" in capsys.readouterr().err
    assert not (tmp_path / "o.tif").exists() and not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_flash_result_can_be_written_as_a_picture(tmp_path: Path, suffix: str) -> None:
    from PIL import Image

    from gdd.cli import main

    rng = np.random.default_rng(0)
    np.save(tmp_path / "noisy.npy", rng.random((32, 32, 3)).astype(np.float32))
    np.save(tmp_path / "flash.npy", rng.random((32, 32, 3)).astype(np.float32))
    out = tmp_path / f"denoised{suffix}"
    argv = ["flash", "--noisy", str(tmp_path / "noisy.npy"), "--guide", str(tmp_path / "flash.npy"), "--iterations",
            "2", "--width", "8", "--device", "cpu", "--quiet", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    with Image.open(out) as im:
        assert im.mode == "RGB" and im.size == (32, 32)
    preview = tmp_path / "denoised.preview.png"  # a picture's: kept apart from a photo denoised.png
    assert preview.is_file()  # beside the result, never over it
    with pytest.raises(InputError, match="one or three bands"):
        write_image(tmp_path / "cube.png", np.zeros((4, 4, 5), np.float32))


def test_pixels_without_data_are_transparent_in_a_png_and_said_black_in_a_jpeg(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    photo = np.full((6, 5, 3), 0.5, np.float32)
    mask = np.ones((6, 5), dtype=bool)
    mask[:2, :2] = False  # a transparent corner of an input
    write_image(tmp_path / "a.png", photo, mask=mask)
    with Image.open(tmp_path / "a.png") as im:
        rgba = np.asarray(im)
    assert rgba.shape == (6, 5, 4) and np.array_equal(rgba[..., 3] == 255, mask) and (rgba[mask, :3] == 128).all()
    write_image(tmp_path / "grey.png", photo[..., :1], mask=mask)
    with Image.open(tmp_path / "grey.png") as im:
        assert im.mode == "LA"
    write_image(tmp_path / "whole.png", photo, mask=np.ones((6, 5), dtype=bool))  # no pixel without data
    with Image.open(tmp_path / "whole.png") as im:
        assert im.mode == "RGB"
    capsys.readouterr()
    write_image(tmp_path / "a.jpg", photo, mask=mask)
    assert "a.jpg: 4 pixels without data are black (a JPEG has no transparency" in capsys.readouterr().err


def test_gdd_simulate_finds_the_wavelengths_of_a_v73_reference(tmp_path: Path) -> None:
    from gdd.cli import main

    cube = np.random.default_rng(5).random((16, 16, 31)).astype(np.float32)
    _mat73(tmp_path / "ref.mat", cube=cube, wavelengths_nm=np.arange(400.0, 701.0, 10.0)[None])
    srf = tmp_path / "srf.csv"  # a table by wavelength: the reference's wavelengths are needed
    np.savetxt(srf, np.column_stack([np.arange(400.0, 701.0, 10.0), np.ones((31, 3))]), delimiter=",",
               header="wavelength,b,g,r", comments="")  # fmt: skip
    argv = [
        "simulate",
        f"{tmp_path / 'ref.mat'}:cube",
        "--srf",
        str(srf),
        "--factor",
        "4",
        "--out",
        str(tmp_path / "c"),
    ]
    assert main(argv) == 0
    assert np.load(tmp_path / "c" / "msi.npy").shape == (16, 16, 3)


def test_an_image_beside_a_wavelength_vector_is_read_without_its_name(tmp_path: Path, cube: np.ndarray) -> None:
    scipy.io.savemat(tmp_path / "c.mat", {"cube": cube, "wavelengths": np.arange(4.0)[None]})  # MATLAB: 1 x 4
    assert np.array_equal(read_image(tmp_path / "c.mat"), cube)
    scipy.io.savemat(tmp_path / "two.mat", {"a": cube, "b": cube})  # two images: which is meant?
    with pytest.raises(InputError, match="holds several arrays"):
        read_image(tmp_path / "two.mat")
