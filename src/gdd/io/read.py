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
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ._common import InputError, optional, split_spec

__all__ = ["Layout", "Raster", "read_image", "read_matrix", "read_raster"]

Layout = Literal["auto", "hwc", "chw"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}
TIFF_SUFFIXES = {".tif", ".tiff"}
ENVI_SUFFIXES = {".hdr", ".img", ".dat", ".raw", ".bsq", ".bil", ".bip"}
_GEOTIFF_TAGS = {33550, 33922, 34264, 34735}


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


@dataclass
class _Read:
    """What a format reader found: the array, whether its layout is known to be H x W x C, metadata."""

    array: np.ndarray
    hwc: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


def _pick(arrays: dict[str, np.ndarray], var: str | None, name: str) -> np.ndarray:
    if var is not None:
        if var not in arrays:
            raise InputError(f"{name}: no variable {var!r}; it has {', '.join(sorted(arrays)) or 'none'}")
        return arrays[var]
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    if not arrays:
        raise InputError(f"{name}: holds no image array")
    raise InputError(f"{name}: holds several arrays ({', '.join(sorted(arrays))}); choose one as {name}:NAME")


def _numeric(a: np.ndarray) -> bool:
    return a.dtype.kind in "biuf" and a.ndim >= 2 and a.size > 1


def _read_npy(path: Path, var: str | None) -> _Read:
    return _Read(np.load(path, allow_pickle=False))


def _read_npz(path: Path, var: str | None) -> _Read:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if _numeric(z[k])}
    return _Read(_pick(arrays, var, str(path)))


def _read_mat73(path: Path, var: str | None) -> _Read:
    h5py = optional("h5py", f"{path} is a MATLAB v7.3 (HDF5) file; reading it")
    arrays: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        for key, item in f.items():
            if key.startswith("#") or not isinstance(item, h5py.Dataset):
                continue
            if item.attrs.get("MATLAB_class", b"double").decode() in ("char", "cell", "struct", "logical_sparse"):
                continue
            a = item[()]
            # HDF5 stores MATLAB's column-major arrays with the dimensions reversed.
            if isinstance(a, np.ndarray) and _numeric(a):
                arrays[key] = np.ascontiguousarray(a.T)
    return _Read(_pick(arrays, var, str(path)))


def _read_mat(path: Path, var: str | None) -> _Read:
    with open(path, "rb") as fh:
        head = fh.read(128)
    if b"MATLAB 7.3" in head or head[:8] == b"\x89HDF\r\n\x1a\n":
        return _read_mat73(path, var)
    import scipy.io

    data = scipy.io.loadmat(path)
    arrays = {k: v for k, v in data.items() if not k.startswith("__") and isinstance(v, np.ndarray) and _numeric(v)}
    return _Read(_pick(arrays, var, str(path)))


def _read_picture(path: Path, var: str | None = None) -> _Read:
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        if im.mode in {"P", "CMYK", "YCbCr", "LA", "PA"}:
            im = im.convert("RGBA" if "A" in im.mode else "RGB")
        return _Read(np.asarray(im), hwc=True)


def _read_geotiff(path: Path) -> _Read:
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        # A plain TIFF is not an error: it simply has no georeferencing.
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return _read_rasterio(rasterio, path)


def _read_rasterio(rasterio: Any, path: Path) -> _Read:
    with rasterio.open(path) as src:
        a = src.read()  # C x H x W
        meta: dict[str, Any] = {
            "crs": src.crs.to_wkt() if src.crs else None,
            "transform": tuple(src.transform)[:6] if src.transform and not src.transform.is_identity else None,
            "nodata": src.nodata,
            "descriptions": tuple(d or "" for d in src.descriptions) if any(src.descriptions) else None,
        }
        waves = [src.tags(i).get("wavelength") for i in range(1, src.count + 1)]
        if all(w is not None for w in waves):
            meta["wavelengths"] = tuple(float(w) for w in waves)  # type: ignore[arg-type]
    return _Read(np.moveaxis(a, 0, -1), hwc=True, meta=meta)


def _read_tiff(path: Path, var: str | None = None) -> _Read:
    try:
        import rasterio  # noqa: F401

        return _read_geotiff(path)
    except ImportError:
        pass
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        a = series.asarray()
        axes = series.axes
        geo = bool(_GEOTIFF_TAGS & {t.code for t in tif.pages[0].tags.values()})
    if a.ndim == 3 and axes[-1] != "S":
        a = np.moveaxis(a, 0, -1)  # pages (planar bands) first
    return _Read(a, hwc=True, meta={"geotiff_unread": geo})


def _envi_header(path: Path) -> Path:
    if path.suffix.lower() == ".hdr":
        return path
    for candidate in (path.with_suffix(".hdr"), Path(str(path) + ".hdr")):
        if candidate.exists():
            return candidate
    raise InputError(f"{path}: no ENVI header ({path.with_suffix('.hdr').name}) beside it")


def _read_envi(path: Path, var: str | None = None) -> _Read:
    spectral = optional("spectral", f"{path} is an ENVI file; reading it")
    hdr = _envi_header(path)
    data_files = [hdr.with_suffix(s) for s in (".img", ".dat", ".raw", ".bsq", ".bil", ".bip", "")]
    if not any(f.is_file() for f in data_files):
        raise InputError(f"{hdr}: its data file ({hdr.with_suffix('.img').name}) is missing")
    img = spectral.envi.open(str(hdr))
    a = np.asarray(img.load())
    md = img.metadata
    meta: dict[str, Any] = {}
    if "data ignore value" in md:
        meta["nodata"] = float(md["data ignore value"])
    if "band names" in md:
        meta["descriptions"] = tuple(str(b) for b in md["band names"])
    if "wavelength" in md:
        waves = [float(w) for w in md["wavelength"]]
        units = str(md.get("wavelength units", "")).lower()
        if units.startswith(("micro", "um", "µm")) or (not units and max(waves) < 30):
            waves = [w * 1000 for w in waves]
        meta["wavelengths"] = tuple(waves)
    return _Read(a, hwc=True, meta=meta)


def _read_band_folder(path: Path) -> _Read:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".png" and re.search(r"\d+$", p.stem))
    if not files:
        raise InputError(f"{path}: a folder must hold one numbered PNG per band (e.g. name_01.png)")
    files.sort(key=lambda p: int(re.search(r"(\d+)$", p.stem).group(1)))  # type: ignore[union-attr]
    bands: list[np.ndarray] = []
    for f in files:
        b = _read_picture(f).array
        if b.ndim == 3:
            b = b[..., 0] if b.shape[2] in (1, 3, 4) else b
        if bands and b.shape != bands[0].shape:
            raise InputError(f"{f}: band size {b.shape} differs from {bands[0].shape}")
        if bands and b.dtype != bands[0].dtype:
            raise InputError(f"{f}: data type {b.dtype} differs from {bands[0].dtype}")
        bands.append(b)
    return _Read(np.stack(bands, axis=-1), hwc=True)


_READERS: dict[str, Callable[[Path, str | None], _Read]] = {
    ".npy": _read_npy,
    ".npz": _read_npz,
    ".mat": _read_mat,
    **{s: _read_picture for s in IMAGE_SUFFIXES},
    **{s: _read_tiff for s in TIFF_SUFFIXES},
    **{s: _read_envi for s in ENVI_SUFFIXES},
}


def _reason(exc: BaseException) -> str:
    """The most telling line of a library's exception: the first cause that says something."""
    seen: BaseException | None = exc
    while seen is not None:
        text = str(seen).strip().splitlines()[0] if str(seen).strip() else ""
        if text and "previous exception" not in text:
            return text
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__


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


def _bit_scale(a: np.ndarray, label: str, bit_depth: int | None, valid: np.ndarray | None) -> float | None:
    if a.dtype.kind == "b":
        return 1.0
    if a.dtype.kind in "iu":
        top = float(2**bit_depth - 1) if bit_depth else (255.0 if a.dtype.itemsize == 1 else 65535.0)
        values = a if valid is None else a[valid]
        if values.size and values.max() > top:
            what = f"--bit-depth {bit_depth}" if bit_depth else "16 bits"
            raise InputError(
                f"{label}: integer values up to {values.max()} do not fit {what}; give the right --bit-depth"
            )
        if values.size and values.min() < 0:
            raise InputError(f"{label}: negative integer values ({values.min()}); integers must be digital numbers")
        return top
    if a.dtype.kind == "f":
        return None
    raise InputError(f"{label}: unsupported data type {a.dtype}")


def _finish(got: _Read, label: str, *, bit_depth: int | None, layout: Layout, nodata: float | None) -> Raster:
    """A format reader's array as a :class:`Raster`: layout, nodata mask, integer scaling."""
    a = np.asarray(got.array)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or min(a.shape) < 1:
        raise InputError(f"{label}: expected an H x W or H x W x C image, got shape {a.shape}")
    if not got.hwc:
        a = _layout(a, layout, label)
    meta = got.meta
    declared = meta.get("nodata")
    value = nodata if nodata is not None else declared
    invalid = None
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        if value is None:
            raise InputError(f"{label}: contains NaN or Inf values (--nodata nan masks them)")
        invalid = ~np.isfinite(a).all(axis=-1)
    if value is not None and not math.isnan(value):
        hits = (a == value).any(axis=-1)
        invalid = hits if invalid is None else invalid | hits
    mask = None
    if invalid is not None and invalid.any():
        if invalid.all():
            raise InputError(f"{label}: every pixel is nodata ({value})")
        mask = ~invalid
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
        spec: a path, ``file.mat:VAR``, ``file.npz:KEY``, or a folder of band PNGs.
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
    path, var = split_spec(spec)
    label = f"{name} {path}"
    if bit_depth is not None and not 1 <= bit_depth <= 32:
        raise InputError(f"--bit-depth must be between 1 and 32, got {bit_depth}")
    if not path.exists():
        raise InputError(f"{label}: file not found")
    try:
        if path.is_dir():
            got = _read_band_folder(path)
        elif path.stat().st_size == 0:
            raise InputError(f"{label}: file is empty")
        elif path.suffix.lower() in _READERS:
            got = _READERS[path.suffix.lower()](path, var)
        else:
            raise InputError(
                f"{label}: unknown format {path.suffix!r} "
                "(use .npy, .npz, .mat, .tif, .hdr (ENVI), .png, .jpg, .bmp or a folder of band PNGs)"
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
        raise InputError(f"{name} {split_spec(spec)[0]}: {n} nodata pixels ({r.nodata}), which this cannot leave out")
    return r.data


def read_matrix(spec: str | os.PathLike[str], *, name: str = "matrix") -> np.ndarray:
    """Read a 2-D matrix (a spectral response) from CSV/TXT, ``.npy``, ``.npz`` or ``.mat``.

    In a CSV with a header row, columns whose name starts with ``wavelength`` or ``lambda`` are
    dropped (they label the rows); comment lines start with ``#``.
    """
    path, var = split_spec(spec)
    label = f"{name} {path}"
    if not path.is_file():
        raise InputError(f"{label}: file not found")
    try:
        if path.stat().st_size == 0:
            raise InputError(f"{label}: file is empty")
        if path.suffix.lower() in {".csv", ".txt"}:
            with open(path, newline="") as fh:
                rows = [r for r in csv.reader(line for line in fh if line.strip() and not line.startswith("#"))]
            if not rows:
                raise InputError(f"{label}: file is empty")
            header: list[str] | None = None
            try:
                [float(v) for v in rows[0]]
            except ValueError:
                header, rows = [h.strip().lower() for h in rows[0]], rows[1:]
            if len({len(r) for r in rows}) > 1:
                raise InputError(f"{label}: rows of different lengths")
            m = np.array([[float(v) for v in r] for r in rows], dtype=np.float64)
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
