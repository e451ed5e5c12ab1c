"""Readers: every supported format to a float32 H x W x C :class:`Raster` with its metadata.

Formats: NumPy ``.npy``/``.npz[:KEY]``; MATLAB ``.mat[:VAR]`` v5 (scipy) and v7.3 (HDF5, h5py);
TIFF/BigTIFF (tifffile) and GeoTIFF with CRS, transform, nodata, band descriptions and
wavelengths (rasterio); ENVI ``.hdr`` + data file with wavelengths (spectral); PNG/JPG/BMP in 8
or 16 bits; a CAVE-style folder of one 16-bit PNG per band.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ._common import InputError, MissingFileError, NoDataError, NotFiniteError, split_spec, to_physical
from .formats import _READERS, _has_envi_header, _has_rasterio, _Read, _read_band_folder, _read_gdal, _reason
from .sensor import SensorModel

__all__ = ["Layout", "Raster", "Stored", "read_image", "read_matrix", "read_raster", "read_table"]

Layout = Literal["auto", "hwc", "chw"]


@dataclass(frozen=True)
class Stored:
    """How a file stores its values: the type, and the map from the stored numbers to the values read.

    A value read is ``stored / divisor`` (integer digital numbers, ``divisor`` = 2^L - 1),
    ``stored * scales[b] + offsets[b]`` (GDAL's scale and offset per band), or the stored
    number itself (floating point). Writing with ``dtype="input"`` inverts the same map.

    Attributes:
        dtype: the stored type's NumPy name (``"uint16"``, ``"int16"``, ``"float32"`` ...).
        divisor: integer data's scale to [0, 1], else None.
        scales, offsets: GDAL's per-band scale and offset, else None.
        nodata: the stored number that marks missing pixels, else None.
    """

    dtype: str
    divisor: float | None = None
    scales: tuple[float, ...] | None = None
    offsets: tuple[float, ...] | None = None
    nodata: float | None = None


@dataclass
class Raster:
    """An image and what the file said about it.

    Attributes:
        data: float32 H x W x C; integer data scaled to [0, 1] by ``scale``; nodata pixels are
            filled with their band's mean (a neutral value: they are never used as data).
        mask: H x W bool, True where every band holds data; None when all do.
        crs: the coordinate reference system as WKT (GeoTIFF), else None.
        transform: the affine pixel-to-map transform (a, b, c, d, e, f), else None.
        nodata: the value that marked missing pixels (NaN for non-finite values), else None.
        descriptions: band names, else None.
        wavelengths: band centre wavelengths in nm, else None.
        scale: the divisor applied to integer data (2^L - 1), None for float data.
        geotiff_unread: the file is a GeoTIFF whose georeferencing could not be read (no rasterio).
        sensor: a raw product's georeferencing by its sensor (RPCs, ground control points),
            where the file has no map grid, else None.
        stored: how the file stores its values (type, scale, offset), for ``--dtype input``.
        fwhm: band widths (full width at half maximum) in nm, else None.
        icc, exif: a picture's colour profile and EXIF block, carried to a picture written from it.
        guessed: ``"hwc"`` or ``"chw"`` where ``--layout auto`` guessed the axis order of a 3-D
            array the file did not say, else None.
    """

    data: np.ndarray
    mask: np.ndarray | None = None
    crs: str | None = None
    transform: tuple[float, ...] | None = None
    nodata: float | None = None
    descriptions: tuple[str, ...] | None = None
    wavelengths: tuple[float, ...] | None = None
    scale: float | None = None
    geotiff_unread: bool = False
    sensor: SensorModel | None = None
    stored: Stored | None = None
    fwhm: tuple[float, ...] | None = None
    icc: bytes | None = None
    exif: bytes | None = None
    guessed: str | None = None


def _layout(a: np.ndarray, layout: Layout, label: str) -> np.ndarray:
    """H x W x C from a 3-D array whose axis order the file did not say."""
    if layout == "hwc":
        return a
    if layout == "chw":
        return np.moveaxis(a, 0, -1)
    h, w, c = a.shape
    # The bands are the odd axis out of a square image, else the one axis shorter than both others.
    hwc = (h == w != c) or (c < min(h, w) and not (w == c != h))
    chw = (w == c != h) or (h < min(w, c) and not (h == w != c))
    if hwc and not chw:
        return a
    if chw and not hwc:
        return np.moveaxis(a, 0, -1)
    raise InputError(f"{label}: the layout of a {h} x {w} x {c} array is ambiguous; give --layout hwc or chw")


def _bit_scale(
    a: np.ndarray, label: str, bit_depth: int | None, valid: np.ndarray | None, option: str = "--bit-depth "
) -> float | None:
    """What integers are divided by (None: floats, as they are); ``option``: how the user gives a bit depth."""
    if a.dtype.kind == "b":
        return 1.0
    if a.dtype.kind in "iu":
        top = float(2**bit_depth - 1) if bit_depth else (255.0 if a.dtype.itemsize == 1 else 65535.0)
        values = a if valid is None else a[valid]
        if values.size and values.max() > top:
            what, named = (f"{option}{bit_depth}" if bit_depth else "16 bits"), option.strip().rstrip("=")
            raise InputError(f"{label}: integer values up to {values.max()} do not fit {what}; give the right {named}")
        if values.size and values.min() < 0 and a.dtype.kind == "u":
            raise InputError(f"{label}: negative integer values ({values.min()}); integers must be digital numbers")
        # Signed integers (int16 products) may hold small negative values: scaled alike.
        return top
    if a.dtype.kind == "f":
        return None
    raise InputError(f"{label}: unsupported data type {a.dtype}")


def _nodata_mask(
    a: np.ndarray, value: float | None, label: str, hint: str = "--nodata nan", masked: np.ndarray | None = None
) -> np.ndarray | None:
    """The pixels with data (H x W) of an H x W x C array: none of its bands ``value`` (NaN: not finite).

    ``masked``: pixels already known to be nodata (a NumPy masked array's, H x W), whatever their
    values. None when every pixel has data. NaN or Inf outside them without a nodata value is
    refused (``hint``: how to leave them out), and so is an image with no pixel of data.
    """
    invalid = None if masked is None or not masked.any() else masked
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        bad = ~np.isfinite(a).all(axis=-1)
        if value is None and (invalid is None or (bad & ~invalid).any()):
            raise NotFiniteError(f"{label}: contains NaN or Inf values ({hint} masks them)")
        invalid = bad if invalid is None else invalid | bad
    if value is not None and not math.isnan(value):
        hits = (a == value).any(axis=-1)
        invalid = hits if invalid is None else invalid | hits
    if invalid is None or not invalid.any():
        return None
    if invalid.all():
        raise NoDataError(f"{label}: every pixel is nodata" + ("" if value is None else f" ({value})"))
    return ~invalid


def _finish(got: _Read, label: str, *, bit_depth: int | None, layout: Layout, nodata: float | None) -> Raster:
    """A format reader's array as a :class:`Raster`: layout, nodata mask, integer scaling."""
    a = np.asarray(got.array)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or min(a.shape) < 1:
        raise InputError(f"{label}: expected an H x W or H x W x C image, got shape {a.shape}")
    guessed = None
    if not got.hwc:
        read = _layout(a, layout, label)
        guessed = None if layout != "auto" else ("hwc" if read is a else "chw")
        a = read
    meta = got.meta
    if nodata is not None and not math.isnan(nodata) and "scale_offset" in meta:
        a, meta, nodata = _stored_nodata(a, meta, nodata)
    declared = meta.get("nodata")
    value = nodata if nodata is not None else declared
    mask = _nodata_mask(a, value, label, masked=meta.get("masked"))  # "masked": transparent pixels
    scale = _bit_scale(a, label, bit_depth, mask)
    data = a.astype(np.float32) if scale is None else (a.astype(np.float64) / scale).astype(np.float32)
    if mask is not None:
        data = np.where(mask[..., None], data, data[mask].mean(axis=0)).astype(np.float32)
    return Raster(
        data=np.ascontiguousarray(data),
        mask=mask,
        crs=meta.get("crs"),
        transform=meta.get("transform"),
        nodata=float(value) if value is not None else None,
        descriptions=meta.get("descriptions"),
        wavelengths=meta.get("wavelengths"),
        scale=scale,
        geotiff_unread=bool(meta.get("geotiff_unread", False)),
        sensor=meta.get("sensor"),
        stored=_stored(meta, a.dtype, scale, value),
        fwhm=meta.get("fwhm"),
        icc=meta.get("icc"),
        exif=meta.get("exif"),
        guessed=guessed,
    )


def _stored_nodata(a: np.ndarray, meta: dict[str, Any], nodata: float) -> tuple[np.ndarray, dict[str, Any], float]:
    """``--nodata``, a stored number (as GDAL's), on a product read as its physical values: its pixels NaN.

    The number is converted per band exactly as :func:`gdd.io.formats.physical` converted the
    pixels, so the pixels that held it are found; the result is as for a file declaring it.
    """
    scales, offsets = meta["scale_offset"]
    marks = to_physical(np.full(len(scales), nodata), scales, offsets).astype(a.dtype)
    hits = (a == marks).any(axis=-1)
    a = np.where(hits[..., None], np.array(np.nan, a.dtype), a) if hits.any() else a
    return a, {**meta, "stored_nodata": nodata, "nodata": float("nan")}, float("nan")


def _stored(meta: dict[str, object], dtype: np.dtype, divisor: float | None, nodata: float | None) -> Stored:
    """How the file behind ``meta`` stores its values (see :class:`Stored`)."""
    pair: Any = meta.get("scale_offset") or (None, None)
    scales, offsets = pair
    if scales is not None:
        return Stored(
            str(meta.get("dtype") or dtype.name), scales=tuple(scales), offsets=tuple(offsets),
            nodata=meta.get("stored_nodata"),  # type: ignore[arg-type]
        )  # fmt: skip
    return Stored(str(meta.get("dtype") or dtype.name), divisor=divisor, nodata=nodata)


#: Camera raw formats, refused with what to do: most are TIFF inside, whose first image (what a
#: TIFF reader gives) is usually a small embedded preview, else the undemosaiced mosaic.
CAMERA_RAW = frozenset(
    ".dng .nef .nrw .cr2 .cr3 .crw .arw .sr2 .orf .rw2 .raf .pef .srw .x3f .3fr .erf .kdc .mrw .iiq".split()
)


def read_raster(
    spec: str | os.PathLike[str],
    *,
    name: str = "image",
    bit_depth: int | None = None,
    layout: Layout = "auto",
    nodata: float | None = None,
) -> Raster:
    """Read an image and its metadata; see :class:`Raster`.

    Args:
        spec: a path, ``file.mat:VAR``, ``file.npz:KEY``, a folder of band PNGs, or a
            comma-separated list of such files, one or more bands each, stacked in that order
            (``B2.tif,B3.tif,B4.tif,B8.tif``: the bands of a product delivered one per file).
        name: what the image is (for messages: ``"ms"``, ``"pan"`` ...).
        bit_depth: integer data is divided by 2^bit_depth - 1 (e.g. 11 for WorldView digital
            numbers); by default by the type's range (255 or 65535). Float data is kept as is.
        layout: the axis order of a 3-D array from ``.npy``/``.npz``/``.mat`` (files that do not
            say it): ``"auto"`` takes as bands the odd axis out of a square image, else the one
            axis shorter than both others, and asks when neither rule decides.
        nodata: pixels with this value in any band (NaN: non-finite values) are masked. By
            default a nodata value declared by the file (GeoTIFF, ENVI) is used; NaN or Inf
            without a declared nodata is an error.

    Raises:
        InputError: missing, empty, truncated or unreadable file, unknown variable, wrong
            dimensions, ambiguous layout, values that do not fit, NaN/Inf, only nodata.
    """
    text = os.fspath(spec)
    if "," in text and not os.path.exists(text):
        from .bandlist import band_files

        return band_files([p.strip() for p in text.split(",") if p.strip()], name, bit_depth, layout, nodata)
    path, var = split_spec(spec)
    label = f"{name} {path}"
    if bit_depth is not None and not 1 <= bit_depth <= 32:
        raise InputError(f"--bit-depth must be between 1 and 32, got {bit_depth}")
    if not path.exists():
        raise MissingFileError(f"{label}: file not found")
    try:
        if path.is_dir():
            got = _read_band_folder(path)
        elif path.stat().st_size == 0:
            raise InputError(f"{label}: file is empty")
        elif path.suffix.lower() == ".img" and not _has_envi_header(path) and _has_rasterio():
            try:
                got = _read_gdal(path, var)  # ERDAS Imagine
            except InputError:
                raise InputError(
                    f"{label}: no ENVI header ({path.with_suffix('.hdr').name}) beside it, and GDAL does not read it "
                    "as another format (ERDAS Imagine)"
                ) from None
        elif path.suffix.lower() in CAMERA_RAW:
            raise InputError(
                f"{label}: a camera raw file; develop it to a 16-bit TIFF or PNG first (darktable, RawTherapee or "
                "rawpy), both photos of a pair alike (most are TIFF inside: read so, one gives its preview or mosaic)"
            )
        elif path.suffix.lower() in _READERS:
            got = _READERS[path.suffix.lower()](path, var)
        elif _has_rasterio():
            try:
                got = _read_gdal(path, var)
            except InputError:
                raise InputError(
                    f"{label}: unknown format {path.suffix!r}, and GDAL does not recognise the file either "
                    "(use .npy, .npz, .mat, .tif, .hdr (ENVI), .png, .jpg, .bmp, band PNGs or a format GDAL reads)"
                ) from None
        else:
            raise InputError(
                f"{label}: unknown format {path.suffix!r} (use .npy, .npz, .mat, .tif, .hdr (ENVI), .png, .jpg, "
                ".bmp or a folder of band PNGs; with the geo extra (rasterio) every format GDAL reads)"
            )
    except InputError as exc:
        raise InputError(str(exc) if str(exc).startswith(name) else f"{name} {exc}") from None
    except MemoryError:
        raise InputError(f"{label}: too large to load into memory") from None
    except Exception as exc:
        raise InputError(f"{label}: cannot read, truncated or corrupt? ({_reason(exc)})") from None
    return _finish(got, label, bit_depth=bit_depth, layout=layout, nodata=nodata)


def read_image(
    spec: str | os.PathLike[str], *, name: str = "image", bit_depth: int | None = None, layout: Layout = "auto"
) -> np.ndarray:
    """Read an image as float32 H x W x C (a 2-D array becomes H x W x 1); see :func:`read_raster`.

    For commands that cannot leave pixels out: an image with nodata pixels is refused.

    Raises:
        InputError: as :func:`read_raster`, and for an image with nodata pixels.
    """
    r = read_raster(spec, name=name, bit_depth=bit_depth, layout=layout)
    if r.mask is not None:
        n = int((~r.mask).sum())
        which = f"nodata pixels ({r.nodata})" if r.nodata is not None else "pixels without data (transparent or masked)"
        raise InputError(f"{name} {split_spec(spec)[0]}: {n} {which}, which this cannot leave out")
    return r.data


def read_table(path: Path, label: str) -> tuple[list[str] | None, np.ndarray]:
    """A table of numbers in a text file: its header row (lower case; None without one) and its values.

    One delimiter per file, as spreadsheets and ``np.savetxt`` write them: semicolons or tabs
    where a line has one (a decimal comma is then read as a point: ``0,5;0,3``), else commas,
    else spaces. Quoted cells are unquoted; a byte-order mark (Excel's "CSV UTF-8") and a
    delimiter at the end of every row are ignored; ``#`` starts a comment line. A first row
    whose first cell is not a number is the header.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{label}: not UTF-8 text (byte {exc.start}); save it as CSV UTF-8") from None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise InputError(f"{label}: holds no numbers")
    delimiter = next((d for d in (";", "\t", ",") if any(d in ln for ln in lines)), None)
    if delimiter is None:
        rows = [ln.split() for ln in lines]
    else:
        rows = [[c.strip() for c in r] for r in csv.reader(lines, delimiter=delimiter)]
    if all(r and r[-1] == "" for r in rows):  # a delimiter at the end of every row
        rows = [r[:-1] for r in rows]
    if delimiter in (";", "\t"):
        rows = [[c.replace(",", ".") for c in r] for r in rows]

    def number(cell: str) -> bool:
        try:
            float(cell)
        except ValueError:
            return False
        return True

    header: list[str] | None = None
    if not number(rows[0][0]):
        header, rows = [h.lower() for h in rows[0]], rows[1:]
    if not rows:
        raise InputError(f"{label}: holds a header row and no numbers")
    if len({len(r) for r in rows}) > 1:
        lengths = sorted({len(r) for r in rows})
        raise InputError(f"{label}: rows of different lengths ({', '.join(map(str, lengths))} values)")
    if header is not None and len(header) != len(rows[0]):
        raise InputError(f"{label}: its header names {len(header)} columns, its rows have {len(rows[0])}")
    values = np.empty((len(rows), len(rows[0])), dtype=np.float64)
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            try:
                values[i, j] = float(cell)
            except ValueError:
                at = i + 1 + (header is not None)
                raise InputError(f"{label}: row {at}, column {j + 1} holds {cell!r}, not a number") from None
    return header, values


def read_matrix(spec: str | os.PathLike[str], *, name: str = "matrix") -> np.ndarray:
    """Read a 2-D matrix (a spectral response) from CSV/TXT, ``.npy``, ``.npz`` or ``.mat``.

    In a CSV with a header row, columns whose name starts with ``wavelength`` or ``lambda`` are
    dropped (they label the rows); comment lines start with ``#``.
    """
    path, var = split_spec(spec)
    label = f"{name} {path}"
    if not path.is_file():
        raise MissingFileError(f"{label}: file not found")
    try:
        if path.stat().st_size == 0:
            raise InputError(f"{label}: file is empty")
        if path.suffix.lower() in {".csv", ".txt"}:
            header, m = read_table(path, label)
            if header is not None:
                keep = [i for i, h in enumerate(header) if not h.startswith(("wavelength", "lambda"))]
                m = m[:, keep]
        elif path.suffix.lower() in (".npy", ".npz", ".mat"):
            m = np.asarray(_READERS[path.suffix.lower()](path, var).array, dtype=np.float64)
        else:
            raise InputError(f"{label}: unknown format {path.suffix!r} (use .csv, .npy, .npz or .mat)")
    except InputError as exc:
        raise InputError(str(exc) if str(exc).startswith(name) else f"{name} {exc}") from None
    except Exception as exc:
        raise InputError(f"{label}: cannot read, truncated or corrupt? ({_reason(exc)})") from None
    m = np.squeeze(m) if m.ndim > 2 else m
    if m.ndim == 1:
        m = m[None, :]
    if m.ndim != 2:
        raise InputError(f"{label}: expected a 2-D matrix, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise InputError(f"{label}: contains NaN or Inf values")
    return m
