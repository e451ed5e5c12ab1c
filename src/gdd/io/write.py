"""Writers: arrays to ``.npy``, ``.mat``, (Geo)TIFF and ENVI, previews and JSON, all atomic."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ._common import InputError, atomic, check_output, optional
from .cog import _is_rgb, _write_geotiff, forget_metadata_of
from .formats import _has_rasterio
from .preview import place
from .read import Raster, Stored

__all__ = [
    "OutputType",
    "storage",
    "stored_nodata",
    "write_image",
    "write_json",
]

OutputType = Literal["float32", "uint16", "input"]


def storage(dtype: OutputType | Stored, bit_depth: int | None = None, meta: Raster | None = None) -> Stored:
    """How a result is stored: float32; uint16 scaled by the bit depth; or ``"input"``, the input's way.

    ``"input"`` takes ``meta.stored``: the low-resolution input's type with its divisor (digital
    numbers) or its GDAL scale and offset, so that the result reads back like the input. uint16
    of an input with a scale and offset (physical values, as reflectance) is tagged with the
    scale 1 / (2^bit_depth - 1), so that it too reads back as physical values, and marks nodata
    with the input's stored number.

    Example:
        >>> storage("uint16", 11)
        Stored(dtype='uint16', divisor=2047.0, scales=None, offsets=None, nodata=None)
    """
    if isinstance(dtype, Stored):
        return dtype
    if dtype == "float32":
        return Stored("float32")
    if dtype == "uint16":
        divisor = float(2 ** (bit_depth or 16) - 1)
        given = None if meta is None else meta.stored
        if given is not None and given.scales is not None:  # physical values: tagged so that they read back
            n = len(given.scales)
            return Stored("uint16", scales=(1 / divisor,) * n, offsets=(0.0,) * n, nodata=given.nodata)
        return Stored("uint16", divisor=divisor)
    if dtype == "input":
        if meta is None or meta.stored is None:
            raise InputError("--dtype input: the input's data type is not known here; use float32 or uint16")
        s = meta.stored
        if s.dtype == "bool":
            return Stored("uint8", divisor=1.0, nodata=s.nodata)
        if np.dtype(s.dtype).kind == "f":
            return Stored("float64" if s.dtype == "float64" else "float32", nodata=s.nodata)
        return s
    raise InputError(f"output type must be float32, uint16 or input, got {dtype!r}")


def warn_of_lost_scale(path: Path, store: Stored) -> None:
    """Warn where a result's stored numbers need a scale and offset its format cannot hold (.npy, .mat)."""
    if store.scales is not None and path.suffix.lower() in (".npy", ".mat"):
        print(
            f"gdd: warning: {path.name} holds the stored numbers without their scale and offset (physical = "
            "stored x scale + offset), which a .npy or .mat cannot carry; .tif or .hdr keeps them",
            file=sys.stderr,
        )


def _range(store: Stored) -> tuple[float, float]:
    """The stored numbers a result may take: the type's range, at most the divisor (2^L - 1)."""
    info = np.iinfo(store.dtype)
    if store.scales is not None or store.divisor is None:
        return float(info.min), float(info.max)
    return (float(info.min) if info.kind == "i" else 0.0), min(float(info.max), store.divisor)


def stored_nodata(store: Stored, masked: bool, nodata: float | None) -> float | None:
    """The number that marks nodata pixels in the file, checked against the type.

    The one given (``--nodata`` or the inputs' declared value), else the input file's own stored
    value; NaN for a float output without either.

    Raises:
        InputError: an integer output with masked pixels and no integer value it can hold.
    """
    kind = np.dtype(store.dtype).kind
    if kind == "f":
        return (math.nan if nodata is None else nodata) if masked else nodata
    value = nodata if nodata is not None and not math.isnan(nodata) else store.nodata
    if not masked:
        return value if value is not None and not math.isnan(value) else None
    lo, hi = _range(store)
    if value is None or math.isnan(value) or not lo <= value <= hi or value != int(value):
        shown = "none" if value is None and nodata is None else (nodata if value is None else value)
        raise InputError(
            f"a {store.dtype} output needs an integer --nodata in {lo:g}..{hi:g} for its masked pixels, got {shown}"
        )
    return value


class EncodingNotes:
    """The values an encoding clipped to its type or moved off the nodata value, said once.

    A result written in pieces (the strips of a tiled run) is encoded piece by piece; the
    counts add up over the pieces and :meth:`say` prints one warning of each kind for the file.
    """

    def __init__(self) -> None:
        self.values = self.clipped = self.moved = 0
        self._clip = self._move = ""

    def say(self) -> None:
        if self.clipped:
            print(
                f"gdd: warning: {self.clipped} of {self.values} values of the result lie outside what "
                f"{self._clip} and were clipped; --dtype float32 keeps them",
                file=sys.stderr,
            )
        if self.moved:
            print(
                f"gdd: warning: {self.moved} values of the result's pixels with data were the nodata value "
                f"{self._move}, so that they stay data",
                file=sys.stderr,
            )
        self.values = self.clipped = self.moved = 0


def _encode(
    arr: np.ndarray,
    dtype: OutputType | Stored,
    bit_depth: int | None,
    mask: np.ndarray | None,
    nodata: float | None,
    meta: Raster | None = None,
    notes: EncodingNotes | None = None,
) -> np.ndarray:
    """The array as stored (see :func:`storage`), nodata at masked pixels.

    What it clips or moves is warned of at once, or counted in ``notes`` to be said later.
    """
    store = storage(dtype, bit_depth, meta)
    value = stored_nodata(store, mask is not None, nodata)
    if np.dtype(store.dtype).kind == "f":
        out = np.ascontiguousarray(arr, dtype=store.dtype)
        if mask is not None:
            out = np.where(mask[..., None], out, np.asarray(value, dtype=store.dtype))
        return out
    said = notes if notes is not None else EncodingNotes()
    x = np.asarray(arr, dtype=np.float64)
    if store.scales is not None:
        x = (x - np.asarray(store.offsets, dtype=np.float64)) / np.asarray(store.scales, dtype=np.float64)
    else:
        x = x * (store.divisor or 1.0)
    lo, hi = _range(store)
    x = np.rint(np.nan_to_num(x))
    outside = (x < lo) | (x > hi)
    if mask is not None:
        outside &= mask[..., None]
    said.values += outside.size
    said.clipped += int(outside.sum())
    said._clip = f"{store.dtype} holds at this scale ({lo:g} to {hi:g})"
    out = np.clip(x, lo, hi)
    if value is not None and lo <= value <= hi:
        # A pixel with data that takes the nodata value in a band would be read back as nodata:
        # moved one step into the type's range.
        hits = out == value
        if mask is not None:
            hits &= mask[..., None]
        if hits.any():
            moved = value + 1 if value < hi else value - 1
            out[hits] = moved
            said.moved += int(hits.sum())
            said._move = f"{value:g} and were stored as {moved:g}"
    if notes is None:
        said.say()
    out = out.astype(store.dtype)
    if mask is not None:
        out[~mask] = int(value)  # type: ignore[arg-type]
    return out


def _envi_map_info(meta: Raster | None) -> dict[str, str]:
    """The ENVI header fields of the result's grid (``map info``, ``coordinate system string``), GDAL's.

    GDAL's ENVI driver writes them for a one-pixel image on the same grid; they are copied to
    the result's header, so that GDAL, QGIS and ENVI place it. None without rasterio or a grid.
    """
    if meta is None or meta.transform is None or not _has_rasterio():
        return {}  # no grid to place the pixels on
    import re
    import warnings

    import rasterio
    from affine import Affine

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        grid = Path(tmp) / "grid.img"
        transform = Affine(*meta.transform)
        with rasterio.open(grid, "w", driver="ENVI", width=1, height=1, count=1, dtype="uint8", crs=meta.crs,
                           transform=transform) as dst:  # fmt: skip
            dst.write(np.zeros((1, 1, 1), np.uint8))
        header = grid.with_suffix(".hdr").read_text()
    fields = {}
    for key in ("map info", "coordinate system string"):
        found = re.search(rf"^{key}\s*=\s*(\{{.*?\}})\s*$", header, re.MULTILINE | re.DOTALL)
        if found:
            fields[key] = found.group(1)
    return fields


def _write_envi(
    path: Path, data: np.ndarray, meta: Raster | None, nodata: float | None, store: Stored | None = None
) -> None:
    spectral = optional("spectral", "writing an ENVI file")
    md: dict[str, object] = {}
    if meta is not None and meta.wavelengths:
        md["wavelength"] = [f"{w:g}" for w in meta.wavelengths]
        md["wavelength units"] = "Nanometers"
        if meta.fwhm and len(meta.fwhm) == len(meta.wavelengths):
            md["fwhm"] = [f"{w:g}" for w in meta.fwhm]
    if store is not None and store.scales is not None:
        md["data gain values"] = [f"{v:.10g}" for v in store.scales]
        md["data offset values"] = [f"{v:.10g}" for v in store.offsets or ()]
    if meta is not None and meta.descriptions:
        md["band names"] = list(meta.descriptions)
    if nodata is not None:
        md["data ignore value"] = f"{nodata:g}"
    md.update(_envi_map_info(meta))
    img = path.with_suffix(".img")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.stem}.", dir=path.parent))
    try:
        spectral.envi.save_image(
            str(tmpdir / path.name), data, metadata=md, dtype=data.dtype, interleave="bsq", ext=".img", force=True
        )
        # The data first, the header last: a header never points at a missing or partial data file.
        os.replace(tmpdir / img.name, img)
        os.replace(tmpdir / path.name, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _write_picture(path: Path, arr: np.ndarray, mask: np.ndarray | None, meta: Raster | None = None) -> None:
    """An 8-bit PNG or JPEG (quality 95) of a one- or three-band image in [0, 1].

    Masked pixels (nodata) are transparent in a PNG (an alpha channel is added where there are
    any) and black in a JPEG, which has no transparency (said in a warning). Three bands whose
    wavelengths make them red, green and blue in another order are written in that one. The
    colour profile (ICC) and EXIF block of the picture ``meta`` was read from travel with it,
    and a georeferenced ``meta`` places it on the map (a GDAL ``.aux.xml``, as a preview's).
    """
    from PIL import Image

    if arr.shape[-1] not in (1, 3):
        raise InputError(
            f"output {path}: a {path.suffix.lstrip('.').upper()} holds one or three bands, the result has "
            f"{arr.shape[-1]}; use .tif, .hdr, .npy or .mat"
        )
    data = np.clip(np.nan_to_num(np.asarray(arr, dtype=np.float64)), 0, 1)
    if (order := _is_rgb(meta, data.shape[-1])) is not None:
        data = data[..., order]  # red, green, blue: a picture's channels, however the bands were stored
    if mask is not None:
        data = np.where(mask[..., None], data, 0)
    fmt = "PNG" if path.suffix.lower() == ".png" else "JPEG"
    pixels = np.rint(data * 255).astype(np.uint8)
    missing = 0 if mask is None else int((~mask).sum())
    if missing and mask is not None and fmt == "PNG":
        pixels = np.concatenate([pixels, np.where(mask, 255, 0).astype(np.uint8)[..., None]], axis=-1)
    elif missing:
        print(
            f"gdd: warning: {path.name}: {missing} pixels without data are black (a JPEG has no transparency; "
            ".png or .tif marks them)",
            file=sys.stderr,
        )
    img = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    extra: dict[str, Any] = {"quality": 95} if fmt == "JPEG" else {}
    if meta is not None and meta.icc:
        extra["icc_profile"] = meta.icc
    if meta is not None and meta.exif:
        extra["exif"] = meta.exif
    atomic(path, lambda t: img.save(t, format=fmt, **extra))
    place(path, meta)  # a georeferenced result's picture is placed as its preview is


def write_image(
    path: str | os.PathLike[str],
    arr: np.ndarray,
    *,
    force: bool = False,
    name: str = "out",
    dtype: OutputType | Stored = "float32",
    bit_depth: int | None = None,
    meta: Raster | None = None,
    mask: np.ndarray | None = None,
    nodata: float | None = None,
    creation: Sequence[tuple[str, str]] = (),
    command: str | None = None,
) -> Path:
    """Write an H x W x C image by the suffix, atomically, never over a file without ``force``.

    ``.npy``; ``.mat`` (MATLAB v5, variable ``name``); ``.tif`` (with rasterio a Cloud-Optimized
    GeoTIFF with overviews, georeferenced when ``meta`` says where; without, a plain TIFF);
    ``.hdr`` (ENVI header + ``.img``); ``.png``, ``.jpg`` (8 bits, one or three bands in [0, 1],
    with the colour profile and EXIF of the picture ``meta`` came from).

    ``dtype="uint16"`` stores round(x * (2^bit_depth - 1)) (16 bits by default); ``"input"``
    stores the input's type the input's way (``meta.stored``: its digital numbers, or GDAL's scale
    and offset, written beside); see :func:`storage`. ``meta`` gives the georeferencing, band
    descriptions and wavelengths; ``mask`` (H x W, True = data) marks pixels stored as ``nodata``
    (NaN by default for a float type). ``creation`` holds GDAL creation options of the COG
    (``--co``); ``command`` is recorded in the GeoTIFF's tags.

    Raises:
        InputError: unknown suffix, existing file without ``force``, a missing optional
            dependency, a nodata value the output type cannot hold, creation options GDAL refuses.
    """
    p = check_output(path, force=force)
    if arr.ndim == 2:
        arr = arr[..., None]
    suffix = p.suffix.lower()
    if creation and suffix not in (".tif", ".tiff"):
        raise InputError(f"--co sets GDAL creation options of a .tif output, not of {p.name}")
    if suffix in (".png", ".jpg", ".jpeg"):
        _write_picture(p, arr, mask, meta)
        return p
    store = storage(dtype, bit_depth, meta)
    data = _encode(arr, store, bit_depth, mask, nodata)
    value = stored_nodata(store, mask is not None, nodata)
    warn_of_lost_scale(p, store)
    if suffix == ".npy":
        atomic(p, lambda t: np.save(t, data))
    elif suffix == ".mat":
        import scipy.io

        atomic(p, lambda t: scipy.io.savemat(t, {name: data}))
    elif suffix == ".hdr":
        _write_envi(p, data, meta, value, store)
    elif _has_rasterio() or (meta is not None and (meta.crs or meta.transform)):
        atomic(p, lambda t: _write_geotiff(t, data, meta, value, store=store, creation=creation, command=command,
                                          label=f"output {p}"))  # fmt: skip
        forget_metadata_of(p)
    else:
        import tifffile

        photometric = "rgb" if _is_rgb(meta, data.shape[-1]) == [0, 1, 2] else "minisblack"
        if data.shape[-1] == 1:
            atomic(p, lambda t: tifffile.imwrite(t, data[..., 0], photometric="minisblack"))
        else:
            atomic(p, lambda t: tifffile.imwrite(t, data, photometric=photometric, planarconfig="contig"))
    return p


def write_json(path: str | os.PathLike[str], data: dict[str, object]) -> Path:
    """Write a dict as indented JSON, atomically; non-finite floats become strings."""

    def clean(v: object) -> object:
        if isinstance(v, float) and not math.isfinite(v):
            return str(v)
        if isinstance(v, dict):
            return {k: clean(w) for k, w in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(w) for w in v]
        return v

    text = json.dumps(clean(data), indent=2)
    p = Path(path)
    atomic(p, lambda t: t.write_text(text + "\n"))
    return p
