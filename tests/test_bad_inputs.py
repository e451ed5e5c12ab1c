"""Malformed inputs given to the real command line: one line on stderr, the right exit code, nothing written.

Each case is something a user could type: a file that is missing, empty, truncated or corrupt, an
array of the wrong shape or layout, values that do not fit, an option out of range, an output that
must not be written. The standard: ``gdd: error: <file>: <problem>`` as the only line on stderr,
exit 1 for bad data and 2 for bad usage, no traceback, no warning, no output, preview, JSON,
report or temporary file left behind, and every file that was there before byte-identical.

``benchmarks/bad_inputs.py`` runs the same cases and prints them as a table.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from gdd.cli import main

FAST = ["--iterations", "2", "--width", "4", "--device", "cpu", "--quiet"]


# Building inputs ---------------------------------------------------------------------------------


def _rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def _save(folder: Path, name: str, value: object) -> str:
    """Write one input file and return its path: bytes or text as they are, arrays by the suffix."""
    path = folder / name
    if isinstance(value, bytes):
        path.write_bytes(value)
    elif isinstance(value, str):
        path.write_text(value)
    elif path.suffix == ".npz":
        np.savez(path, **value)  # type: ignore[arg-type]
    elif path.suffix == ".mat":
        scipy.io.savemat(path, value)  # type: ignore[arg-type]
    else:
        np.save(path, value)  # type: ignore[arg-type]
    return str(path)


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _mat_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    scipy.io.savemat(buf, arrays)
    return buf.getvalue()


def _half(b: bytes) -> bytes:
    return b[: len(b) // 2]


def _with(a: np.ndarray, value: float, *where: tuple[int, int]) -> np.ndarray:
    a = a.copy()
    for r, c in where:
        a[r, c] = value
    return a


def _geotiff(folder: Path, name: str, a: np.ndarray) -> str:
    """A GeoTIFF written by tifffile: pixel scale and tie point tags, readable without rasterio."""
    import tifffile

    path = folder / name
    tags = [(33550, "d", 3, (10.0, 10.0, 0.0), False), (33922, "d", 6, (0, 0, 0, 500000.0, 4000000.0, 0), False)]
    tifffile.imwrite(path, a, photometric="minisblack", planarconfig="contig", extratags=tags)
    return str(path)


def _envi_header_only(folder: Path, name: str, change: tuple[str, str] = ("", ""), more: str = "") -> str:
    path = folder / name
    text = (
        "ENVI\nsamples = 8\nlines = 8\nbands = 4\nheader offset = 0\nfile type = ENVI Standard\n"
        "data type = 4\ninterleave = bsq\nbyte order = 0\n"
    )
    path.write_text(text.replace(*change) + more)
    return str(path)


def _photo_folder(folder: Path) -> str:
    """A folder of two colour photos named as a camera names them (a numbered stem, as band PNGs are)."""
    from PIL import Image

    (folder / "photos").mkdir()
    for i in (1, 2):
        Image.fromarray((_rand(16, 16, 3, seed=i) * 255).astype(np.uint8)).save(folder / "photos" / f"IMG_000{i}.png")
    return str(folder / "photos")


def _envi(folder: Path, change: tuple[str, str] = ("", ""), more: str = "") -> str:
    """An 8 x 8 x 4 float32 ENVI MS image (ms.hdr, ms.img) whose header is changed as given."""
    _rand(4, 8, 8).astype("<f4").tofile(folder / "ms.img")
    return _envi_header_only(folder, "ms.hdr", change, more)


def _envi_pan_img_hdr(folder: Path) -> str:
    """A 32 x 32 float32 ENVI PAN whose header is named after its data file: ms.img.hdr beside ms.img."""
    _rand(32, 32, seed=1).astype("<f4").tofile(folder / "ms.img")
    header = "ENVI\nsamples = 32\nlines = 32\nbands = 1\nheader offset = 0\ndata type = 4\n"
    header += "interleave = bsq\nbyte order = 0\n"
    (folder / "ms.img.hdr").write_text(header)
    return str(folder / "ms.img.hdr")


def _mat73_bytes(folder: Path, a: np.ndarray) -> bytes:
    """A MATLAB v7.3 file as h5py writes it: a 512-byte MATLAB header, then HDF5 (dimensions reversed)."""
    import h5py

    path = folder / "v73.tmp"
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset("ms", data=a.T)
    data = path.read_bytes()
    path.unlink()
    return b"MATLAB 7.3 MAT-file".ljust(512, b" ") + data[512:]


def _pan(
    d: Path,
    *,
    ms: str | None = None,
    pan: str | None = None,
    ratio: str = "4",
    out: str | None = "fused.npy",
    extra: Sequence[str] = (),
    present: Sequence[str] = (),
) -> list[str]:
    """``gdd pan`` on an 8 x 8 x 4 MS and a 32 x 32 PAN; an input not given is written as good data.

    ``present``: files of the user's already in the folder (outputs that must not be overwritten).
    """
    ms = ms or _save(d, "ms.npy", _rand(8, 8, 4))
    pan = pan or _save(d, "pan.npy", _rand(32, 32, seed=1))
    for name in present:
        _existing(d, name)
    out_option = ["--out", str(d / out)] if out else []
    return ["pan", "--ms", ms, "--pan", pan, "--ratio", ratio, *out_option, *FAST, *extra]


SRF_CSV = "0.5,0.5,0,0\n0,0.5,0.5,0\n0,0,0.5,0.5\n"
#: The same response as a K x C matrix file (a CSV with this few rows reads as a table by wavelength in simulate).
SRF_NPY = np.array([[0.5, 0.5, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0.5, 0.5]])


def _hs(
    d: Path,
    *,
    hsi: str | None = None,
    guide: str | None = None,
    srf: str | None = None,
    factor: str = "4",
    extra: Sequence[str] = (),
) -> list[str]:
    """``gdd hs`` on an 8 x 8 x 4 HS image, a 32 x 32 x 3 guide and a 3 x 4 response."""
    hsi = hsi or _save(d, "hsi.npy", _rand(8, 8, 4))
    guide = guide or _save(d, "rgb.npy", _rand(32, 32, 3, seed=1))
    srf = srf or _save(d, "srf.csv", SRF_CSV)
    return ["hs", "--hsi", hsi, "--guide", guide, "--srf", srf, "--factor", factor,
            "--out", str(d / "fused.npy"), *FAST, *extra]  # fmt: skip


def _flash(d: Path, *, noisy: str | None = None, guide: str | None = None, extra: Sequence[str] = ()) -> list[str]:
    """``gdd flash`` on two 16 x 16 x 3 images."""
    noisy = noisy or _save(d, "noisy.npy", _rand(16, 16, 3))
    guide = guide or _save(d, "flash.npy", _rand(16, 16, 3, seed=1))
    return ["flash", "--noisy", noisy, "--guide", guide, "--out", str(d / "fused.npy"), *FAST, *extra]


def _eval(d: Path, *extra: str) -> list[str]:
    """``gdd eval`` of a 16 x 16 x 4 result, writing its indices to m.json."""
    return ["eval", _save(d, "fused.npy", _rand(16, 16, 4)), "--json", str(d / "m.json"), *extra]


def _waves(d: Path, name: str, wavelengths: tuple[float, ...]) -> str:
    """A 16 x 16 GeoTIFF whose bands say their wavelengths."""
    from gdd.io import Raster, write_image

    a = _rand(16, 16, len(wavelengths))
    return str(write_image(d / name, a, meta=Raster(a, wavelengths=wavelengths)))


def _tiff_stack(d: Path) -> str:
    import tifffile

    tifffile.imwrite(d / "guide.tif", np.stack([_rand(32, 32, 3), _rand(32, 32, 3, seed=1)]), photometric="rgb")
    return str(d / "guide.tif")


def _existing(d: Path, name: str, content: bytes = b"the user's file\n") -> Path:
    path = d / name
    path.write_bytes(content)
    return path


def _folder(d: Path, name: str, *files: str) -> str:
    path = d / name
    path.mkdir()
    for f in files:
        (path / f).write_text("not a band\n")
    return str(path)


# The cases ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One malformed input: what the user gave, the command it makes, what gdd must answer.

    Attributes:
        id: the pytest id.
        what: what the user gave, in a few words (the benchmark table's second column).
        build: writes the files into a folder and returns the command line.
        code: the expected exit code (1 bad data, 2 bad usage).
        message: a substring of the expected one-line message (the file's name where one is at fault).
        hide: modules made to look not installed during the run.
        xfail: why gdd misses the standard here (a known defect), else None.
    """

    id: str
    what: str
    build: Callable[[Path], list[str]]
    code: int
    message: str
    hide: tuple[str, ...] = ()
    xfail: str | None = None


CASES: list[Case] = [
    # Files that cannot be read.
    Case("missing-file", "an MS file that does not exist", lambda d: _pan(d, ms=str(d / "ms.npy")), 1,
         "ms.npy: file not found"),
    Case("empty-file", "an empty (0-byte) MS .npy", lambda d: _pan(d, ms=_save(d, "ms.npy", b"")), 1,
         "ms.npy: file is empty"),
    Case("truncated-npy", "an MS .npy cut after 100 bytes",
         lambda d: _pan(d, ms=_save(d, "ms.npy", _npy_bytes(_rand(8, 8, 4))[:100])), 1,
         "ms.npy: cannot read, truncated or corrupt?"),
    Case("truncated-mat", "an MS .mat (scipy savemat) cut in half",
         lambda d: _pan(d, ms=_save(d, "ms.mat", _half(_mat_bytes({"ms": _rand(8, 8, 4)})))), 1,
         "ms.mat: cannot read, truncated or corrupt?"),
    Case("corrupt-mat", "random bytes named ms.mat",
         lambda d: _pan(d, ms=_save(d, "ms.mat", np.random.default_rng(3).bytes(4096))), 1,
         "ms.mat: cannot read"),
    Case("mat-no-variable", "ms.mat:I_MS where the file holds only 'ms'",
         lambda d: _pan(d, ms=_save(d, "ms.mat", {"ms": _rand(8, 8, 4)}) + ":I_MS"), 1,
         "ms.mat: no variable 'I_MS'; it has ms"),
    Case("mat-no-array", "a .mat holding only text", lambda d: _pan(d, ms=_save(d, "ms.mat", {"sensor": "WV3"})), 1,
         "ms.mat: holds no image array"),
    Case("npz-several", "an .npz with two arrays and no :KEY",
         lambda d: _pan(d, ms=_save(d, "ms.npz", {"ms": _rand(8, 8, 4), "gt": _rand(32, 32, 4)})), 1,
         "ms.npz: holds several arrays (gt, ms)"),
    Case("npz-no-key", "ms.npz:MS where the file holds 'ms'",
         lambda d: _pan(d, ms=_save(d, "ms.npz", {"ms": _rand(8, 8, 4)}) + ":MS"), 1,
         "ms.npz: no variable 'MS'; it has ms"),
    Case("unknown-suffix", "an MS file named ms.xyz",
         lambda d: _pan(d, ms=_save(d, "ms.xyz", _npy_bytes(_rand(8, 8, 4)))), 1, "ms.xyz: unknown format '.xyz'"),
    Case("pickled-npy", "an .npy holding a pickled Python object",
         lambda d: _pan(d, ms=_save(d, "ms.npy", np.array([{"a": 1}], dtype=object))), 1,
         "ms.npy: cannot read"),
    Case("envi-no-header", "an ENVI ms.img without its ms.hdr",
         lambda d: _pan(d, ms=_save(d, "ms.img", _rand(8, 8, 4).tobytes())), 1, "no ENVI header (ms.hdr)"),
    Case("envi-header-only", "an ENVI ms.hdr whose ms.img is missing",
         lambda d: _pan(d, ms=_envi_header_only(d, "ms.hdr")), 1, "ms.hdr: its data file (ms.img) is missing"),
    Case("envi-byte-order", "an ENVI header with byte order = 7",
         lambda d: _pan(d, ms=_envi(d, ("byte order = 0", "byte order = 7"))), 1,
         "ms.hdr: byte order = 7; it must be 0 (little-endian) or 1 (big-endian)"),
    Case("envi-too-few-bytes", "an ENVI header with 5 bands for a data file of 4",
         lambda d: _pan(d, ms=_envi(d, ("bands = 4", "bands = 5"))), 1,
         "ms.img: holds 1024 bytes, where the header's 8 lines x 8 samples x 5 bands of 4-byte values need 1280"),
    Case("envi-wavelengths", "an ENVI header listing 2 wavelengths for 4 bands",
         lambda d: _pan(d, ms=_envi(d, more="wavelength = {400, 500}\n")), 1,
         "ms.hdr: wavelength lists 2 values for 4 bands"),
    Case("corrupt-png", "a text file named pan.png", lambda d: _pan(d, pan=_save(d, "pan.png", "not a picture\n")), 1,
         "pan.png: cannot read"),
    Case("truncated-tif", "a PAN GeoTIFF cut in half",
         lambda d: _pan(d, pan=_save(d, "pan.tif", _half(Path(_geotiff(d, "pan.tif", _rand(32, 32))).read_bytes()))),
         1, "pan.tif: cannot read"),
    Case("truncated-mat73", "an MS MATLAB v7.3 (HDF5) file cut in half",
         lambda d: _pan(d, ms=_save(d, "ms.mat", _half(_mat73_bytes(d, _rand(8, 8, 4))))), 1, "ms.mat: cannot read"),
    Case("empty-band-folder", "an HS folder with no band PNGs", lambda d: _hs(d, hsi=_folder(d, "bands", "notes.txt")),
         1, "bands: a folder must hold one numbered PNG per band"),
    Case("geotiff-no-rasterio", "a GeoTIFF MS, a .tif output, rasterio not installed",
         lambda d: _pan(d, ms=_geotiff(d, "ms.tif", _rand(8, 8, 4)), out="fused.tif"), 1,
         "pip install 'gdd[geo]'", hide=("rasterio",)),
    # Arrays of the wrong shape, layout or values.
    Case("array-4d", "a 1 x 8 x 8 x 4 MS array", lambda d: _pan(d, ms=_save(d, "ms.npy", _rand(1, 8, 8, 4))), 1,
         "ms.npy: expected an H x W or H x W x C image, got shape (1, 8, 8, 4)"),
    Case("array-1d", "a 1-D MS array of 256 values", lambda d: _pan(d, ms=_save(d, "ms.npy", _rand(256))), 1,
         "ms.npy: expected an H x W or H x W x C image, got shape (256,)"),
    Case("nan-values", "NaN in two MS pixels",
         lambda d: _pan(d, ms=_save(d, "ms.npy", _with(_rand(8, 8, 4), np.nan, (1, 2), (6, 6)))), 1,
         "ms.npy: contains NaN or Inf values (--nodata nan masks them)"),
    Case("inf-values", "+Inf in one PAN pixel",
         lambda d: _pan(d, pan=_save(d, "pan.npy", _with(_rand(32, 32), np.inf, (0, 0)))), 1,
         "pan.npy: contains NaN or Inf values"),
    Case("all-nodata", "an MS that is all NaN, with --nodata nan",
         lambda d: _pan(d, ms=_save(d, "ms.npy", np.full((8, 8, 4), np.nan, np.float32)), extra=["--nodata", "nan"]),
         1, "ms.npy: every pixel is nodata"),
    Case("ambiguous-layout", "an 8 x 8 x 8 MS .npy (bands axis unclear)",
         lambda d: _pan(d, ms=_save(d, "ms.npy", _rand(8, 8, 8))), 1,
         "ms.npy: the layout of a 8 x 8 x 8 array is ambiguous; give --layout hwc or chw"),
    Case("complex-values", "a complex-valued MS array",
         lambda d: _pan(d, ms=_save(d, "ms.npy", _rand(8, 8, 4).astype(np.complex64))), 1,
         "ms.npy: unsupported data type complex64"),
    Case("bit-depth-too-small", "uint16 MS with values up to 2000 and --bit-depth 8",
         lambda d: _pan(d, ms=_save(d, "ms.npy", (_rand(8, 8, 4) * 2000).astype(np.uint16)),
                        extra=["--bit-depth", "8"]), 1, "ms.npy: integer values up to"),
    # Sizes and bands that do not go together.
    Case("guide-not-divisible", "a 30 x 30 PAN with --ratio 4",
         lambda d: _pan(d, pan=_save(d, "pan.npy", _rand(30, 30))), 1,
         "size 30 x 30 is not divisible by the factor 4"),
    Case("lowres-size", "a 6 x 6 MS with a 32 x 32 PAN and --ratio 4",
         lambda d: _pan(d, ms=_save(d, "ms.npy", _rand(6, 6, 4))), 1,
         "is 6 x 6 but the guide 32 x 32 / factor 4 needs 8 x 8"),
    Case("pan-3-bands", "a 32 x 32 x 3 PAN", lambda d: _pan(d, pan=_save(d, "pan.npy", _rand(32, 32, 3))), 1,
         "the PAN image must have one band, got 3"),
    Case("flash-size", "a 16 x 16 no-flash image with a 32 x 32 flash image",
         lambda d: _flash(d, guide=_save(d, "flash.npy", _rand(32, 32, 3))), 1, "they must be the same size"),
    Case("flash-photo-folder", "a folder of colour photos as the no-flash image (read as bands, one per PNG)",
         lambda d: _flash(d, noisy=_photo_folder(d)), 1, "IMG_0001.png: a colour picture"),
    Case("srf-band-count", "a 5-band HS image with a 3 x 4 response",
         lambda d: _hs(d, hsi=_save(d, "hsi.npy", _rand(8, 8, 5))), 1, "it must be 3 x 5"),
    Case("srf-shape", "a 2 x 4 response for a 3-band guide",
         lambda d: _hs(d, srf=_save(d, "srf.csv", "0.5,0.5,0,0\n0,0,0.5,0.5\n")), 1,
         "the response matrix is 2 x 4 but the guide has 3 bands"),
    Case("srf-3d", "a 3 x 4 x 2 response array", lambda d: _hs(d, srf=_save(d, "srf.npy", _rand(3, 4, 2))), 1,
         "srf.npy: expected a 2-D matrix"),
    Case("srf-zero-row", "a response whose second row is all zero",
         lambda d: _hs(d, srf=_save(d, "srf.csv", "0.5,0.5,0,0\n0,0,0,0\n0,0,0.5,0.5\n")), 1,
         "a row of the response matrix sums to zero"),
    Case("srf-ragged", "a response CSV with rows of 4 and 3 values",
         lambda d: _hs(d, srf=_save(d, "srf.csv", "0.5,0.5,0,0\n0,0.5,0.5\n0,0,0.5,0.5\n")), 1,
         "srf.csv: rows of different lengths"),
    Case("srf-nan", "a response CSV with a NaN",
         lambda d: _hs(d, srf=_save(d, "srf.csv", SRF_CSV.replace("0.5,0,0", "nan,0,0", 1))), 1,
         "srf.csv: contains NaN or Inf"),
    Case("srf-negative", "a response with a weight of -0.5",
         lambda d: _hs(d, srf=_save(d, "srf.csv", "0.5,0.5,-0.5,0\n0,0.5,0.5,0\n0,0,0.5,0.5\n")), 1,
         "the response matrix has negative weights (row 1, column 3: -0.5)"),
    Case("srf-suffix", "a response as srf.json", lambda d: _hs(d, srf=_save(d, "srf.json", "[[1, 0, 0, 0]]")), 1,
         "srf.json: unknown format '.json'"),
    Case("reference-shape", "--reference with 3 bands for a 4-band result",
         lambda d: _pan(d, extra=["--reference", _save(d, "gt.npy", _rand(32, 32, 3))]), 1,
         "gt.npy: 32 x 32 x 3, the result 32 x 32 x 4"),
    Case("reference-nodata", "--reference with NaN pixels masked by --nodata nan",
         lambda d: _pan(d, ms=_save(d, "ms.npy", _with(_rand(8, 8, 4), np.nan, (0, 0))),
                        extra=["--nodata", "nan", "--reference", _save(d, "gt.npy", _rand(32, 32, 4))]), 1,
         "--reference cannot be used with nodata pixels"),
    Case("reference-nan", "--reference with a NaN pixel",
         lambda d: _pan(d, extra=["--reference", _save(d, "gt.npy", _with(_rand(32, 32, 4), np.nan, (3, 3)))]), 1,
         "and --reference scores every pixel; score the result on the others with gdd eval RESULT --reference"),
    # Options out of range (usage).
    Case("bit-depth-0", "--bit-depth 0", lambda d: _pan(d, extra=["--bit-depth", "0"]), 2,
         "--bit-depth: expected a bit depth from 1 to 32, got '0'"),
    Case("bit-depth-40", "--bit-depth 40", lambda d: _pan(d, extra=["--bit-depth", "40"]), 2,
         "--bit-depth",),
    Case("factor-0", "--factor 0", lambda d: _hs(d, factor="0"), 2, "--factor: expected a positive integer, got '0'"),
    Case("ratio-negative", "--ratio -1", lambda d: _pan(d, ratio="-1"), 2,
         "--ratio: expected a positive integer, got '-1'"),
    Case("iterations-negative", "--iterations -5", lambda d: _pan(d, extra=["--iterations", "-5"]), 2,
         "--iterations: expected a non-negative integer, got '-5'"),
    Case("nodata-text", "--nodata none", lambda d: _pan(d, extra=["--nodata", "none"]), 2,
         "--nodata: expected a number or nan, got 'none'"),
    Case("bands-two", "--bands 1,2", lambda d: _pan(d, extra=["--bands", "1,2"]), 2,
         "--bands: expected three band numbers R,G,B"),
    Case("no-out", "no --out", lambda d: _pan(d, out=None), 2, "the following arguments are required: --out"),
    # Outputs that must not be written.
    Case("out-jpg", "--out fused.jpg for a 4-band result", lambda d: _pan(d, out="fused.jpg"), 1,
         "fused.jpg: a JPG holds one or three bands, the result will have 4"),
    Case("out-exists", "--out on an existing file, no --force", lambda d: _pan(d, present=["fused.npy"]),
         1, "fused.npy exists; use --force to overwrite it"),
    Case("preview-exists", "a fused.png beside --out fused.npy, no --force",
         lambda d: _pan(d, present=["fused.png"]), 1, "fused.png exists; use --force"),
    Case("json-exists", "--json on an existing file, no --force",
         lambda d: _pan(d, extra=["--json", str(_existing(d, "m.json"))]), 1, "m.json exists; use --force"),
    Case("envi-img-exists", "--out fused.hdr where fused.img exists, no --force",
         lambda d: _pan(d, out="fused.hdr", present=["fused.img"]), 1,
         "fused.img exists; use --force"),
    Case("out-folder", "--out naming a folder, no --force",
         lambda d: _pan(d, out=Path(_folder(d, "fused.npy")).name), 1, "fused.npy is a folder"),
    Case("out-folder-force", "--out naming a folder, with --force",
         lambda d: _pan(d, out=Path(_folder(d, "fused.npy")).name, extra=["--force"]), 1, "fused.npy is a folder"),
    Case("out-under-file", "--out ms.npy/fused.npy (a file as the folder)",
         lambda d: _pan(d, ms=_save(d, "ms.npy", _rand(8, 8, 4)), out="ms.npy/fused.npy"), 1,
         "ms.npy/fused.npy"),
    Case("report-txt", "--report report.txt", lambda d: _pan(d, extra=["--report", str(d / "report.txt")]), 1,
         "report.txt: unknown format '.txt'"),
    Case("bands-out-of-range", "--bands 9,1,0 --report for a 4-band result",
         lambda d: _pan(d, extra=["--bands", "9,1,0", "--report", str(d / "report.html")]), 1,
         "--bands 9,1,0: the result has bands 0 to 3"),
    Case("pixel-outside", "--pixel 40,2 --report for a 32 x 32 result",
         lambda d: _pan(d, extra=["--pixel", "40,2", "--report", str(d / "report.html")]), 1,
         "--pixel 40,2 is outside the 32 x 32 result"),
    Case("layout-guessed-wrong", "a 4 x 16 x 8 MS .npy (4 x 16 pixels of 8 bands) read bands first by --layout auto",
         lambda d: _pan(d, ms=_save(d, "ms.npy", _rand(4, 16, 8)), pan=_save(d, "pan.npy", _rand(16, 64))), 1,
         "ms ms.npy, a 4 x 16 x 8 array, was read bands first: --layout hwc reads it as 4 x 16 pixels"),
    Case("png-uint16", "gdd flash --out fused.png --dtype uint16 (a PNG result holds 8 bits)",
         lambda d: ["flash", "--noisy", _save(d, "noisy.npy", _rand(16, 16, 3)), "--guide",
                    _save(d, "flash.npy", _rand(16, 16, 3, seed=1)), "--out", str(d / "fused.png"), *FAST,
                    "--dtype", "uint16"], 1, "a .png result holds 8 bits; --dtype uint16 needs a .tif"),
    Case("uint16-nan-nodata", "--dtype uint16 with NaN pixels and --nodata nan",
         lambda d: _pan(d, ms=_save(d, "ms.npy", _with(_rand(8, 8, 4), np.nan, (1, 2))),
                        extra=["--nodata", "nan", "--dtype", "uint16"]), 1, "needs an integer --nodata"),
    Case("overlap-one-fit", "--overlap 8 with --tile none",
         lambda d: _pan(d, extra=["--tile", "none", "--overlap", "8"]), 2,
         "--overlap is for tiles; it does nothing with --tile none"),
    # gdd eval.
    Case("eval-no-protocol", "gdd eval with neither --reference nor --ms/--pan", lambda d: _eval(d), 2,
         "give --reference GT, or both --ms and --pan"),
    Case("eval-both-protocols", "gdd eval with --reference and --ms/--pan",
         lambda d: _eval(d, "--reference", _save(d, "gt.npy", _rand(16, 16, 4)), "--ms",
                         _save(d, "ms.npy", _rand(4, 4, 4)), "--pan", _save(d, "pan.npy", _rand(16, 16))), 2,
         "give either --reference"),
    Case("eval-reference-shape", "gdd eval with a 16 x 16 x 3 reference for a 4-band result",
         lambda d: _eval(d, "--reference", _save(d, "gt.npy", _rand(16, 16, 3))), 1,
         "gt.npy: the reference is 16 x 16 x 3, the result 16 x 16 x 4"),
    Case("eval-bands-reversed", "gdd eval of a result whose bands' wavelengths are the reference's, reversed",
         lambda d: ["eval", _waves(d, "fused.tif", (450.0, 550.0, 650.0, 750.0)), "--reference",
                    _waves(d, "gt.tif", (750.0, 650.0, 550.0, 450.0))], 1,
         "fused.tif: bands at 450-750 nm (the reverse order), not those of the reference"),
    Case("eval-results-differ", "gdd eval of two results of different sizes",
         lambda d: ["eval", _save(d, "fused.npy", _rand(16, 16, 4)), _save(d, "b.npy", _rand(8, 8, 4)), "--reference",
                    _save(d, "gt.npy", _rand(16, 16, 4)), "--json", str(d / "m.json")], 1,
         "b.npy: this result is 8 x 8 x 4, the first ("),
    Case("tiff-stack", "a TIFF holding a stack of two RGB images (4-D) as the guide",
         lambda d: _hs(d, guide=_tiff_stack(d)), 1, "holds 2 images of 32 x 32 x 3 (a 4-D stack)"),
    Case("eval-sensor-reference", "gdd eval --reference with --sensor WV3 (it did nothing)",
         lambda d: _eval(d, "--reference", _save(d, "gt.npy", _rand(16, 16, 4)), "--sensor", "WV3"), 2,
         "--sensor sets the MTF of the full-resolution indices"),
    Case("eval-dim-cut-full", "gdd eval --ms --pan with --dim-cut 4 (it did nothing)",
         lambda d: _eval(d, "--ms", _save(d, "ms.npy", _rand(4, 4, 4)), "--pan", _save(d, "pan.npy", _rand(16, 16)),
                         "--layout", "hwc", "--dim-cut", "4"), 2,
         "--dim-cut cuts the border of the reduced-resolution indices"),
    Case("eval-block-full", "gdd eval --ms --pan with --block-size 64 for a 16 x 16 result (it used 16)",
         lambda d: _eval(d, "--ms", _save(d, "ms.npy", _rand(4, 4, 4)), "--pan", _save(d, "pan.npy", _rand(16, 16)),
                         "--layout", "hwc", "--block-size", "64"), 1,
         "--block-size 64: larger than the 16 x 16 image"),
    Case("eval-missing-result", "gdd eval of a result that does not exist",
         lambda d: ["eval", str(d / "nothere.npy"), "--reference", _save(d, "gt.npy", _rand(16, 16, 4))], 1,
         "nothere.npy: file not found"),
    Case("eval-csv-exists", "gdd eval --csv on an existing file, no --force",
         lambda d: _eval(d, "--reference", _save(d, "gt.npy", _rand(16, 16, 4)), "--csv", str(_existing(d, "m.csv"))),
         1, "m.csv exists; use --force"),
    # Side files that would overwrite the result, its preview or an input.
    Case("json-names-the-result", "--json fused.npy, the result's own name",
         lambda d: _pan(d, extra=["--json", str(d / "fused.npy")]), 1, "json "),
    Case("json-names-an-input", "--json ms.npy --force, an input's name",
         lambda d: _pan(d, extra=["--json", str(d / "ms.npy"), "--force"]), 1, "unknown format '.npy' (use .json)"),
    Case("json-under-file", "--json afile/m.json (a file as the folder)",
         lambda d: _pan(d, extra=["--json", str(_existing(d, "afile") / "m.json")]), 1, "afile is a file"),
    Case("json-folder-force", "--json naming a folder, with --force",
         lambda d: _pan(d, extra=["--json", _folder(d, "m.json"), "--force"]), 1, "m.json is a folder"),
    Case("preview-folder-force", "a folder named like the preview, with --force",
         lambda d: _pan(d, extra=["--force"], ms=_save(d, "ms.npy", _rand(8, 8, 4)))
         if _folder(d, "fused.png") else [], 1, "fused.png is a folder"),
    Case("out-is-an-input", "--out ms.npy --force, the MS image's own file",
         lambda d: _pan(d, ms=_save(d, "ms.npy", _rand(8, 8, 4)), out="ms.npy", extra=["--force"]), 1,
         "is the input --ms; it cannot also be the result (--out)"),
    Case("out-over-an-envi-input-s-data", "--out ms.HDR --force, whose data file ms.img is the ENVI MS image's",
         lambda d: _pan(d, ms=_envi(d), out="ms.HDR", extra=["--force"]), 1,
         "ms.img is the input --ms; it cannot also be the result's data file"),
    Case("out-over-an-envi-input-named-img-hdr", "--out ms.hdr --force beside an ENVI PAN ms.img.hdr (data ms.img)",
         lambda d: _pan(d, pan=_envi_pan_img_hdr(d), out="ms.hdr", extra=["--force"]), 1,
         "ms.img is the input --pan; it cannot also be the result's data file"),
    Case("simulate-over-its-reference", "gdd simulate --force into the folder holding its reference gt.npy",
         lambda d: ["simulate", _save(Path(_folder(d, "case")), "gt.npy", _rand(16, 16, 4)), "--srf",
                    _save(d, "srf.npy", SRF_NPY), "--factor", "4", "--out", str(d / "case"), "--force"], 1,
         "gt.npy is the reference; the case folder"),
    # Options that would do nothing together.
    Case("average-at-noise-no-holdout", "--average-at-noise --holdout 0",
         lambda d: _hs(d, extra=["--average-at-noise", "--holdout", "0"]), 2, "does nothing with --holdout 0"),
    Case("sensor-with-estimate", "--sensor WV3 --spatial estimate (the gain is estimated)",
         lambda d: _pan(d, extra=["--sensor", "WV3", "--spatial", "estimate"]), 2,
         "--sensor WV3 sets the MS MTF's gains: it does nothing with --spatial estimate"),
    Case("gnyq-with-bicubic", "--gnyq 0.3 --spatial bicubic",
         lambda d: _pan(d, extra=["--gnyq", "0.3", "--spatial", "bicubic"]), 2,
         "--gnyq sets the MS MTF's gains: it does nothing with --spatial bicubic"),
    # Degenerate images and kernels.
    Case("guide-constant", "an all-zero guide",
         lambda d: _hs(d, guide=_save(d, "rgb.npy", np.zeros((32, 32, 3), np.float32))), 1,
         "guide rgb.npy: every pixel has the same value"),
    Case("hsi-constant", "an all-zero HS image",
         lambda d: _hs(d, hsi=_save(d, "hsi.npy", np.zeros((8, 8, 4), np.float32))), 1,
         "hsi hsi.npy: every pixel has the same value"),
    Case("nodata-covers-all", "--nodata nan: the MS valid on the left half, the PAN on the right",
         lambda d: _pan(d, ms=_save(d, "ms.npy", np.where(np.arange(8)[None, :, None] < 4, _rand(8, 8, 4), np.nan)),
                        pan=_save(d, "pan.npy", np.where(np.arange(32)[None, :] >= 16, _rand(32, 32), np.nan)),
                        extra=["--nodata", "nan"]), 1, "no pixel is valid in both"),
    Case("tile-no-pixel-valid-in-both", "--tile: the MS valid on the left half, the PAN on the right (no tile folder "
         "left behind)",
         lambda d: _pan(d, ms=_save(d, "ms.npy", np.where(np.arange(8)[None, :, None] < 4, np.nan, _rand(8, 8, 4))),
                        pan=_save(d, "pan.npy", np.where(np.arange(32)[None, :] >= 16, np.nan, _rand(32, 32))),
                        extra=["--nodata", "nan", "--tile", "16", "--overlap", "4"]), 1,
         "no pixel is valid in both"),
    Case("blur-all-zero", "--blur with an all-zero kernel",
         lambda d: _hs(d, extra=["--blur", _save(d, "k.npy", np.zeros((4, 4)))]), 1, "blur "),
    Case("blur-negative", "--blur with a negative entry",
         lambda d: _hs(d, extra=["--blur", _save(d, "k.npy", _with(np.full((4, 4), 1 / 15), -1 / 15, (0, 0)))]), 1,
         "k.npy: has negative entries"),
    Case("blur-not-square", "--blur with a 1-D kernel",
         lambda d: _hs(d, extra=["--blur", _save(d, "k.npy", np.full(4, 0.25))]), 1, "k.npy: the kernel must be"),
    Case("co-gdal-refuses", "--co BLOCKSIZE=7, which GDAL refuses",
         lambda d: _pan(d, out="fused.tif", extra=["--co", "BLOCKSIZE=7"]), 1, "GDAL cannot write a GeoTIFF"),
    Case("simulate-shift-too-large", "gdd simulate --shift 100,100 on a 16 x 16 reference",
         lambda d: ["simulate", _save(d, "gt.npy", _rand(16, 16, 4)), "--srf", _save(d, "srf.npy", SRF_NPY),
                    "--factor", "4", "--shift", "100,100", "--out", str(d / "case")], 1,
         "--shift 100,100: larger than the reference"),
    Case("simulate-one-band", "gdd simulate --srf of a one-band (2-D) reference (it made an 8-band guide of copies)",
         lambda d: ["simulate", _save(d, "gt.npy", _rand(16, 16)), "--srf", _save(d, "srf.npy", SRF_NPY),
                    "--factor", "4", "--out", str(d / "case")], 1, "gt.npy: has one band"),
    Case("simulate-factor-1", "gdd simulate --factor 1",
         lambda d: ["simulate", _save(d, "gt.npy", _rand(16, 16, 4)), "--srf", _save(d, "srf.npy", SRF_NPY),
                    "--factor", "1", "--out", str(d / "case")], 2,
         "argument --factor: expected an integer of at least 2, got '1'"),
    Case("bench-over-user-files", "gdd bench into a folder holding the user's bench.md, no --force",
         lambda d: ["bench", _bench_case(d), "--methods", "exp", "--out", _folder_with(d, "b", "bench.md"),
                    "--quiet"], 1, "bench.md exists and"),
    Case("pixel-outside-estimate", "--pixel 100,100 --report with --srf estimate --blur estimate (nothing estimated)",
         lambda d: _hs(d, srf="estimate", extra=["--blur", "estimate", "--report", str(d / "r.html"),
                                                 "--pixel", "100,100"]), 1,
         "--pixel 100,100 is outside the 32 x 32 result"),
    Case("bench-case-factor", "gdd bench of a case whose case.json gives factor 2 for a pair made at 4",
         lambda d: ["bench", _bench_case(d, factor=2), "--methods", "exp", "--out", str(d / "b"), "--quiet"], 1,
         "case: the HS image is 4 x 4 but the guide 16 x 16 / factor 2 needs 8 x 8"),
    Case("blur-estimate-tiny", "--blur estimate on a 2 x 2 HS image",
         lambda d: _hs(d, hsi=_save(d, "hsi.npy", _rand(2, 2, 4)), guide=_save(d, "rgb.npy", _rand(8, 8, 3)),
                       extra=["--blur", "estimate"]), 1,
         "--blur estimate: the HS image (2 x 2) is too small to estimate from"),
    Case("demo-too-small", "gdd demo --size 8", lambda d: ["demo", "--out", str(d / "demo"), "--size", "8"], 2,
         "--size 8: at least 32"),
    Case("demo-size-indivisible", "gdd demo --size 36 (it exited 1)",
         lambda d: ["demo", "--out", str(d / "demo"), "--size", "36"], 2,
         "--size 36 is not divisible by the factor 8"),
    Case("demo-size-huge", "gdd demo --size 1000000 (it ran out of memory with a traceback)",
         lambda d: ["demo", "--out", str(d / "demo"), "--size", "1000000"], 2,
         "--size 1000000: the demo's scene is at most 2048 pixels a side"),
    Case("flash-camera-raw", "a camera raw photo (.NEF: TIFF inside, which GDAL would read as its preview)",
         lambda d: _flash(d, noisy=_save(d, "DSC_0001.NEF", b"MM\x00*" + bytes(60))), 1,
         "DSC_0001.NEF: a camera raw file; develop it to a 16-bit TIFF or PNG first"),
    Case("bench-no-methods", "gdd bench --methods '' (it ran every method)",
         lambda d: ["bench", _bench_case(d), "--methods", "", "--out", str(d / "b"), "--quiet"], 2,
         "argument --methods: expected method names separated by commas"),
    Case("flash-warm-start", "gdd flash --warm-start 5 (it was accepted and did nothing)",
         lambda d: _flash(d, extra=["--warm-start", "5"]), 2,
         "--warm-start: flash has no classic start to warm up from or to correct"),
    Case("estimate-underdetermined", "--srf estimate --blur estimate on a 4 x 4 x 31 HS image at factor 8",
         lambda d: _hs(d, hsi=_save(d, "hsi.npy", _rand(4, 4, 31)), guide=_save(d, "rgb.npy", _rand(32, 32, 3)),
                       srf="estimate", factor="8", extra=["--blur", "estimate"]), 1,
         "the HS image (4 x 4) gives 48 equations for 669 unknowns"),
    Case("hs-inputs-swapped", "--hsi and --guide given the other way round",
         lambda d: _hs(d, hsi=_save(d, "rgb.npy", _rand(32, 32, 3, seed=1)), guide=_save(d, "hsi.npy", _rand(8, 8, 4))),
         1, "were the two inputs given the other way round?"),
    Case("batch-shared-json", "gdd batch: two jobs with one --json (the second replaced the first's)",
         lambda d: ["batch", _two_jobs_one_json(d), "--quiet"], 1, "jobs 1 and 2 both write"),
]  # fmt: skip


def _two_jobs_one_json(d: Path) -> str:
    """A batch manifest whose two jobs name one --json."""
    jobs = [{"task": "flash", "noisy": "n.npy", "guide": "g.npy", "out": f"{k}.npy", "json": "m.json"} for k in "ab"]
    return _save(d, "jobs.json", json.dumps(jobs))


def _folder_with(d: Path, name: str, file: str) -> str:
    """A folder of the user's holding one file of theirs."""
    folder = _folder(d, name)
    _existing(Path(folder), file)
    return folder


def _bench_case(d: Path, factor: int | None = None) -> str:
    """A small HS case folder, made by ``gdd simulate`` (quietly); ``factor`` edits its case.json's."""
    with redirect_stdout(io.StringIO()):
        code = main(["simulate", _save(d, "gt.npy", _rand(16, 16, 4)), "--srf", _save(d, "srf.npy", SRF_NPY),
                     "--factor", "4", "--out", str(d / "case")])  # fmt: skip
    assert code == 0
    if factor is not None:
        case = json.loads((d / "case" / "case.json").read_text())
        (d / "case" / "case.json").write_text(json.dumps({**case, "factor": factor}))
    return str(d / "case")


# Running a case ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one run of the command line did.

    Attributes:
        code: the exit code, None when an exception escaped ``main`` (a traceback for the user).
        stdout, stderr: what it printed.
        crash: the escaped exception as ``Type: message``, else None.
        warnings: warnings raised during the run (each an extra stderr line for the user).
        new: files and folders that appeared, relative to the work folder.
        changed: files that were there before and were changed or removed.
    """

    code: int | None
    stdout: str
    stderr: str
    crash: str | None = None
    warnings: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


def _snapshot(folder: Path) -> dict[str, str | None]:
    """Every path under ``folder``: a file's SHA-256, None for a folder."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


@contextmanager
def _not_installed(modules: Sequence[str]) -> Iterator[None]:
    """``import module`` raises ImportError inside the block (a None entry in sys.modules)."""
    saved = {m: sys.modules.get(m) for m in modules}
    sys.modules.update(dict.fromkeys(modules))
    try:
        yield
    finally:
        for m, mod in saved.items():
            if mod is None:
                sys.modules.pop(m, None)
            else:
                sys.modules[m] = mod


def run_case(case: Case, folder: Path) -> Outcome:
    """Build the case's files in ``folder``, run ``main`` on them in-process, and record what it did."""
    argv = case.build(folder)
    before = _snapshot(folder)
    out, err = io.StringIO(), io.StringIO()
    code: int | None = None
    crash = None
    with (
        redirect_stdout(out),
        redirect_stderr(err),
        _not_installed(case.hide),
        warnings.catch_warnings(record=True) as caught,
    ):
        # As a user sees them: every warning shown once (pytest would turn them into errors).
        warnings.simplefilter("always")
        try:
            code = main(argv)
        except (Exception, SystemExit) as exc:
            crash = f"{type(exc).__name__}: {exc}"
    after = _snapshot(folder)
    return Outcome(
        code=code,
        stdout=out.getvalue(),
        stderr=err.getvalue(),
        crash=crash,
        warnings=[f"{w.category.__name__}: {w.message}" for w in caught],
        new=sorted(set(after) - set(before)),
        changed=sorted(p for p, h in before.items() if after.get(p, "gone") != h),
    )


# Tests -------------------------------------------------------------------------------------------


def _param(case: Case) -> object:
    marks = [pytest.mark.xfail(reason=case.xfail, strict=True)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


def test_case_ids_are_unique() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 24
    # The docs say how many there are.
    root = Path(__file__).resolve().parent.parent
    assert f"A selection of the {len(CASES)} cases" in (root / "docs" / "files.md").read_text()
    assert f"names {len(CASES)} malformed inputs" in (root / "docs" / "reliability.md").read_text()


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    o = run_case(case, tmp_path)
    assert o.crash is None, f"traceback: {o.crash}"
    assert not o.warnings, f"warnings on stderr: {o.warnings}"
    lines = o.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gdd: error: "), f"not one 'gdd: error:' line: {o.stderr!r}"
    assert case.message in lines[0]
    assert "Traceback" not in o.stderr
    assert o.code == case.code, f"exit {o.code}, expected {case.code}: {lines[0]}"
    # The snapshot covers --out, its .png preview, --json/--report/--csv and any ".name.*" temporary file.
    assert not o.new, f"written: {o.new}"
    assert not o.changed, f"overwritten or removed: {o.changed}"
    assert o.stdout == ""


def _case(case_id: str) -> Case:
    return next(c for c in CASES if c.id == case_id)


def test_nodata_nan_masks_the_nan_pixels(tmp_path: Path) -> None:
    # The "nan-values" run, given --nodata nan: NaN in the output wherever an MS pixel was NaN.
    argv = _case("nan-values").build(tmp_path)
    assert main([*argv, "--nodata", "nan"]) == 0
    out = np.load(tmp_path / "fused.npy")
    assert out.shape == (32, 32, 4)
    expected = np.zeros((32, 32), bool)
    for r, c in ((1, 2), (6, 6)):
        expected[4 * r : 4 * r + 4, 4 * c : 4 * c + 4] = True
    np.testing.assert_array_equal(np.isnan(out).all(axis=-1), expected)
    assert np.isfinite(out[~expected]).all()
    assert (tmp_path / "fused.png").is_file()


def test_layout_hwc_resolves_an_ambiguous_array(tmp_path: Path) -> None:
    argv = _case("ambiguous-layout").build(tmp_path)
    assert main([*argv, "--layout", "hwc"]) == 0
    assert np.load(tmp_path / "fused.npy").shape == (32, 32, 8)
