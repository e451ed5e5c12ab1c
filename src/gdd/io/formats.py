"""The format readers: one function per kind of file, each returning the array and what the file said.

GDAL (through rasterio, the ``geo`` extra) reads every raster it knows: GeoTIFF, JPEG 2000, VRT,
NITF, ERDAS Imagine and the rest; the special cases stay here (NumPy, MATLAB, ENVI through
``spectral``, pictures through Pillow, a folder of band PNGs, TIFF through tifffile without
rasterio or for a multi-page TIFF, whose pages GDAL does not read as bands).
"""

from __future__ import annotations

import contextlib
import math
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ._common import GEOTIFF_TAGS, InputError, _is_number, _nm, _Read, _reason, optional, to_physical
from .pictures import colours, photo_tags, read_picture, tiff_colours, upright
from .sensor import SensorModel

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}
TIFF_SUFFIXES = {".tif", ".tiff"}
ENVI_SUFFIXES = {".hdr", ".img", ".dat", ".raw", ".bsq", ".bil", ".bip"}


def _pick(arrays: dict[str, np.ndarray], var: str | None, name: str) -> np.ndarray:
    if var is not None:
        if var not in arrays:
            raise InputError(f"{name}: no variable {var!r}; it has {', '.join(sorted(arrays)) or 'none'}")
        return arrays[var]
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    if not arrays:
        raise InputError(f"{name}: holds no image array")
    # One image beside vectors (MATLAB keeps a wavelength list as a 1 x C matrix): the image.
    images = [a for a in arrays.values() if not (a.ndim == 2 and min(a.shape) == 1)]
    if len(images) == 1:
        return images[0]
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


def _read_geotiff(path: Path) -> _Read:
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings(), _gdal_messages_kept_quiet():
        # A plain TIFF is not an error: it simply has no georeferencing.
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return _read_rasterio(rasterio, path)


def rasterio_meta(src: Any) -> dict[str, Any]:
    """What an open rasterio dataset says of itself: georeferencing, nodata, bands, type, scale/offset."""
    meta: dict[str, Any] = {
        "crs": src.crs.to_wkt() if src.crs else None,
        "transform": tuple(src.transform)[:6] if src.transform and not src.transform.is_identity else None,
        "nodata": src.nodata,
        "descriptions": tuple(d or "" for d in src.descriptions) if any(src.descriptions) else None,
        "driver": src.driver,
        "dtype": src.dtypes[0],
    }
    # Wavelengths: GDAL's standard band metadata (micrometres), else "wavelength" tags in their
    # "wavelength_units" (as GDAL writes an ENVI file's), by default nm (micrometres below 30).
    bands = range(1, src.count + 1)
    imagery = [src.tags(i, ns="IMAGERY") for i in bands]
    microns = [t.get("CENTRAL_WAVELENGTH_UM") for t in imagery]
    waves = [src.tags(i).get("wavelength") for i in bands]
    if all(w is not None for w in microns):
        meta["wavelengths"] = tuple(1000 * float(w) for w in microns)  # type: ignore[arg-type]
    elif all(w is not None for w in waves) and all(_is_number(w) for w in waves):
        nm = _nm(str(src.tags(1).get("wavelength_units", "")).lower(), [float(w) for w in waves])  # type: ignore[arg-type]
        meta["wavelengths"] = tuple(nm * float(w) for w in waves)  # type: ignore[arg-type]
    widths = [t.get("FWHM_UM") for t in imagery]
    if all(w is not None for w in widths):
        meta["fwhm"] = tuple(1000 * float(w) for w in widths)  # type: ignore[arg-type]
    if meta["transform"] is None:  # a raw product's RPCs or ground control points
        meta["sensor"] = SensorModel.of(src)
    scales, offsets = tuple(src.scales or ()), tuple(src.offsets or ())
    if any(v != 1 for v in scales) or any(v != 0 for v in offsets):
        meta["scale_offset"] = (scales or (1.0,) * src.count, offsets or (0.0,) * src.count)
    return meta


def physical(a: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    """GDAL's scale and offset applied to C x H x W stored numbers (Landsat, Sentinel-2 reflectance).

    The values become float32, nodata NaN; ``meta`` then declares NaN as its nodata and keeps the
    stored one as ``stored_nodata``. Without a scale or offset, ``a`` as it is.
    """
    if "scale_offset" not in meta:
        return a
    scales, offsets = meta["scale_offset"]
    nodata = meta.get("stored_nodata", meta.get("nodata"))
    invalid = None if nodata is None else (np.isnan(a) if math.isnan(nodata) else a == nodata)
    out = to_physical(a, scales, offsets)
    if nodata is not None:
        if invalid is not None:
            out[invalid] = np.nan
        meta["stored_nodata"] = nodata
        meta["nodata"] = float("nan")
    return out


def _read_rasterio(rasterio: Any, path: Path) -> _Read:
    with rasterio.open(path) as src:
        meta = rasterio_meta(src)
        a, masked = colours(src, src.read(), meta)  # C x H x W
    return _Read(np.moveaxis(physical(a, meta), 0, -1), hwc=True, meta={**meta, **masked})


@contextlib.contextmanager
def _gdal_messages_kept_quiet() -> Iterator[None]:
    """Drop rasterio's failure to decode a GDAL message that quotes a corrupt file's bytes.

    rasterio's error handler decodes GDAL's messages as UTF-8; one that quotes a broken file's
    bytes makes it raise inside a callback, which Python prints as an "Exception ignored"
    traceback. The error itself still reaches the reader, which says it in one line.
    """
    before = sys.unraisablehook

    def hook(info: Any) -> None:
        if isinstance(info.exc_value, UnicodeDecodeError) and "rasterio" in f"{info.err_msg} {info.object}":
            return
        before(info)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = before


def _read_gdal(path: Path, var: str | None = None) -> _Read:
    """Any raster GDAL opens (JPEG 2000, VRT, NITF, ERDAS .img ...), through rasterio."""
    rasterio = optional("rasterio", f"{path} is read through GDAL; reading it")
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    try:
        with warnings.catch_warnings(), _gdal_messages_kept_quiet():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return _read_rasterio(rasterio, path)
    except RasterioIOError as exc:
        raise InputError(f"{path}: not a raster GDAL can read ({_reason(exc)})") from None


def _pages(tif: Any) -> list[Any]:
    """The pages of a multi-page TIFF that are one band each (same 2-D shape and type), else []."""
    pages = list(tif.pages)
    if len(pages) < 2:
        return []
    first = pages[0]
    if len(first.shape) != 2 or any(p.shape != first.shape or p.dtype != first.dtype for p in pages):
        return []
    return pages


def _tiff_pages(path: Path) -> int:
    """How many one-band pages a TIFF holds (1 for an ordinary TIFF)."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        return max(1, len(_pages(tif)))


def check_one_image(path: Path) -> None:
    """Refuse a TIFF of several multi-band images (a stack or a time series): which one is meant?"""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        # Overviews (reduced-resolution pages) and masks belong to the image; other pages are images.
        full = [p for p in tif.pages if not (getattr(p, "is_reduced", False) or getattr(p, "is_mask", False))]
        full = [p for p in full if p.shape == full[0].shape]  # a thumbnail or unflagged overview is no image
        if len(full) > 1 and not _pages(tif) and len(full[0].shape) > 2:
            raise InputError(
                f"{path}: holds {len(full)} images of {' x '.join(map(str, full[0].shape))} (a 4-D stack); "
                "gdd reads one image of H x W x bands, or one band per page: write each image to its own file"
            )


def _read_tiff(path: Path, var: str | None = None) -> _Read:
    check_one_image(path)
    got = _read_tiff_as_stored(path)
    if got.meta.get("crs") or got.meta.get("transform"):  # a grid (also a sidecar's): as stored
        return got
    # A photo: upright, and its colour profile carried to a picture written from it.
    orientation, icc = photo_tags(path)
    meta = {**got.meta, "icc": icc} if icc else got.meta
    return _Read(upright(got.array, orientation), hwc=got.hwc, meta=meta)


def _read_tiff_as_stored(path: Path) -> _Read:
    try:
        import rasterio  # noqa: F401

        got = _read_geotiff(path)
        if got.array.shape[-1] > 1 or _tiff_pages(path) == 1:
            return got
        # A multi-page TIFF (one band per page): GDAL sees its first page only.
    except ImportError:
        pass
    import tifffile

    with tifffile.TiffFile(path) as tif:
        geo = bool(GEOTIFF_TAGS & {t.code for t in tif.pages[0].tags.values()})
        pages = _pages(tif)
        shape: list[int] = list((tif.shaped_metadata or [{}])[0].get("shape") or ()) if tif.is_shaped else []
        if pages and len(shape) == 3 and 2 * shape[2] <= min(16 * 2, *shape[:2]):  # tifffile's H x W x C (few bands)
            return _Read(tif.series[0].asarray().reshape(shape), hwc=True, meta={"geotiff_unread": geo})
        if pages:
            return _Read(np.stack([p.asarray() for p in pages], axis=-1), hwc=True, meta={"geotiff_unread": geo})
        series = tif.series[0]
        a = series.asarray()
        if a.ndim == 3 and series.axes[-1] != "S":
            a = np.moveaxis(a, 0, -1)  # pages (planar bands) first
        a, masked = tiff_colours(tif.pages[0], a)  # as GDAL: a palette's colours, an alpha mask
    return _Read(a, hwc=True, meta={"geotiff_unread": geo, **masked})


def _header_beside(path: Path) -> Path | None:
    """The ENVI header of a data file (``scene.hdr`` or ``scene.img.hdr`` beside ``scene.img``), None if none."""
    return next((c for c in (path.with_suffix(".hdr"), Path(str(path) + ".hdr")) if c != path and c.exists()), None)


def _has_envi_header(path: Path) -> bool:
    return _header_beside(path) is not None


def _has_rasterio() -> bool:
    import importlib.util

    return importlib.util.find_spec("rasterio") is not None


def _envi_header(path: Path) -> Path:
    if path.suffix.lower() == ".hdr":
        return path
    header = _header_beside(path)
    if header is not None:
        return header
    raise InputError(f"{path}: no ENVI header ({path.with_suffix('.hdr').name}) beside it")


#: The ENVI data types gdd reads, by code: bytes per value (6 and 9 are complex).
_ENVI_TYPES = {"1": 1, "2": 2, "3": 4, "4": 4, "5": 8, "12": 2, "13": 4, "14": 8, "15": 8}


def _check_envi_header(hdr: Path, data: Path, spectral: Any) -> None:
    """Refuse, in one line naming the field, an ENVI header that does not describe its data file."""
    try:
        h = spectral.envi.read_envi_header(str(hdr))
    except Exception as exc:
        raise InputError(f"{hdr}: not a readable ENVI header ({_reason(exc)})") from None

    def whole(key: str, least: int) -> int:
        if key not in h:
            raise InputError(f"{hdr}: no '{key}' (an ENVI header gives samples, lines, bands and data type)")
        try:
            value = int(str(h[key]).strip())
        except ValueError:
            raise InputError(f"{hdr}: {key} = {h[key]} is not a whole number") from None
        if value < least:
            raise InputError(f"{hdr}: {key} = {value}; it must be at least {least}")
        return value

    samples, lines, bands = whole("samples", 1), whole("lines", 1), whole("bands", 1)
    offset = whole("header offset", 0) if "header offset" in h else 0
    code = str(whole("data type", 0))
    if code not in _ENVI_TYPES:
        raise InputError(
            f"{hdr}: data type = {code} is not one gdd reads (ENVI's 1-5 and 12-15: integers and reals, not complex)"
        )
    interleave = str(h.get("interleave", "bsq")).strip().lower()
    if interleave not in ("bsq", "bil", "bip"):
        raise InputError(f"{hdr}: interleave = {interleave}; it must be bsq, bil or bip")
    order = str(h.get("byte order", "0")).strip()
    if order not in ("0", "1"):
        raise InputError(f"{hdr}: byte order = {order}; it must be 0 (little-endian) or 1 (big-endian)")
    for key in ("wavelength", "fwhm", "band names", "data gain values", "data offset values"):
        values = h.get(key)
        if isinstance(values, list) and len(values) != bands:
            raise InputError(f"{hdr}: {key} lists {len(values)} values for {bands} bands")
        if key != "band names" and isinstance(values, list):
            for v in values:
                try:
                    float(v)
                except ValueError:
                    raise InputError(f"{hdr}: {key} holds {v!r}, not a number") from None
    size, item = data.stat().st_size, _ENVI_TYPES[code]
    need = offset + samples * lines * bands * item
    if size < need:
        raise InputError(
            f"{data}: holds {size} bytes, where the header's {lines} lines x {samples} samples x {bands} bands of "
            f"{item}-byte values" + (f" after {offset} bytes of header" if offset else "") + f" need {need}"
        )


#: The suffixes of an ENVI header's data file ("": the header's name without ``.hdr``).
_ENVI_DATA = (".img", ".dat", ".raw", ".bsq", ".bil", ".bip", "")


def input_files(path: Path) -> list[Path]:
    """Every file reading ``path`` reads: itself and, for an ENVI image, its header and data file.

    ``scene.hdr`` reads ``scene.img`` (or ``.dat`` ...), ``scene.img.hdr`` reads ``scene.img``,
    and ``scene.img`` reads its header: a result must overwrite none of them.
    """
    files = [path]
    header = path if path.suffix.lower() == ".hdr" else _header_beside(path)
    if header is not None:
        files += [header, *(f for f in (header.with_suffix(s) for s in _ENVI_DATA) if f != header and f.is_file())]
    return list(dict.fromkeys(files))


def _read_envi(path: Path, var: str | None = None) -> _Read:
    spectral = optional("spectral", f"{path} is an ENVI file; reading it")
    hdr = _envi_header(path)
    data_files = [hdr.with_suffix(s) for s in _ENVI_DATA]
    if not any(f.is_file() for f in data_files):
        raise InputError(f"{hdr}: its data file ({hdr.with_suffix('.img').name}) is missing")
    data = next(f for f in data_files if f.is_file())
    _check_envi_header(hdr, data, spectral)
    img = spectral.envi.open(str(hdr), str(data))  # the file checked is the file read
    # The stored numbers (spectral would cast to float32 and divide by a reflectance scale factor).
    a = np.asarray(img.load(dtype=np.dtype(img.dtype), scale=False))
    md = img.metadata
    meta: dict[str, Any] = {"dtype": a.dtype.name}
    if "data ignore value" in md:
        meta["nodata"] = float(md["data ignore value"])
    # ENVI's gains and offsets (value = gain * stored + offset), or a reflectance scale factor.
    bands = a.shape[-1]
    gains = [float(v) for v in md.get("data gain values", [])] or [1.0] * bands
    offsets = [float(v) for v in md.get("data offset values", [])] or [0.0] * bands
    factor = float(md.get("reflectance scale factor", 1) or 1)
    gains = [g / factor for g in gains]
    if len(gains) == len(offsets) == bands and (any(g != 1 for g in gains) or any(o != 0 for o in offsets)):
        meta["scale_offset"] = (tuple(gains), tuple(offsets))
        a = np.moveaxis(physical(np.moveaxis(a, -1, 0), meta), 0, -1)
    if "band names" in md:
        meta["descriptions"] = tuple(str(b) for b in md["band names"])
    units = str(md.get("wavelength units", "")).lower()
    if "wavelength" in md and units != "index":  # band numbers are no wavelengths
        waves = [float(w) for w in md["wavelength"]]
        meta["wavelengths"] = tuple(w * (nm := _nm(units, waves)) for w in waves)
        if len(md.get("fwhm", ())) == len(waves):
            meta["fwhm"] = tuple(float(w) * nm for w in md["fwhm"])
    projection = str(md["map info"][0] if isinstance(md.get("map info"), list) else md.get("map info", "")).strip()
    if projection and projection.lower() != "arbitrary" and _has_rasterio():  # "Arbitrary": pixels, no map
        meta.update(_envi_grid(data))
    return _Read(a, hwc=True, meta=meta)


def _envi_grid(data: Path) -> dict[str, Any]:
    """An ENVI image's coordinate system and pixel grid (its header's ``map info``), as GDAL reads them."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    try:
        with warnings.catch_warnings(), _gdal_messages_kept_quiet():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(data) as src:
                found = rasterio_meta(src)
    except Exception:  # a header GDAL does not take: its grid is not read
        return {}
    return {"crs": found["crs"], "transform": found["transform"]}


def _read_band_folder(path: Path) -> _Read:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".png" and re.search(r"\d+$", p.stem))
    if not files:
        raise InputError(f"{path}: a folder must hold one numbered PNG per band (e.g. name_01.png)")
    files.sort(key=lambda p: int(re.search(r"(\d+)$", p.stem).group(1)))  # type: ignore[union-attr]
    bands: list[np.ndarray] = []
    for f in files:
        b = read_picture(f).array
        if b.ndim == 3 and b.shape[2] in (3, 4) and not (b[..., :3] == b[..., :1]).all():
            raise InputError(f"{f}: a colour picture; a folder of bands holds one grey PNG per band")
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
    **{s: read_picture for s in IMAGE_SUFFIXES},
    **{s: _read_tiff for s in TIFF_SUFFIXES},
    **{s: _read_envi for s in ENVI_SUFFIXES},
}
