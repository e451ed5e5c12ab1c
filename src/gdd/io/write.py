"""Writers: arrays to ``.npy``, ``.mat``, (Geo)TIFF and ENVI, previews and JSON, all atomic."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from ._common import InputError, atomic, check_output, optional
from .formats import _has_rasterio
from .read import Raster

__all__ = ["OutputType", "preview_bands", "to_rgb8", "write_image", "write_json", "write_preview"]

OutputType = Literal["float32", "uint16"]


def _encode(
    arr: np.ndarray, dtype: OutputType, bit_depth: int | None, mask: np.ndarray | None, nodata: float | None
) -> np.ndarray:
    """The array as stored: float32 as is, or uint16 scaled back by the bit depth; nodata at masked pixels."""
    if dtype == "float32":
        out = np.ascontiguousarray(arr, dtype=np.float32)
        if mask is not None:
            out = np.where(mask[..., None], out, np.float32(math.nan if nodata is None else nodata))
        return out
    if dtype != "uint16":
        raise InputError(f"output type must be float32 or uint16, got {dtype!r}")
    top = 2 ** (bit_depth or 16) - 1
    out = np.clip(np.rint(np.asarray(arr, dtype=np.float64) * top), 0, top).astype(np.uint16)
    if mask is not None:
        if nodata is None or math.isnan(nodata) or not 0 <= nodata <= 65535 or nodata != int(nodata):
            raise InputError(
                f"a uint16 output needs an integer --nodata in 0..65535 for its masked pixels, got {nodata}"
            )
        out[~mask] = int(nodata)
    return out


def _write_geotiff(tmp: Path, data: np.ndarray, meta: Raster | None, nodata: float | None) -> None:
    """A Cloud-Optimized GeoTIFF (GDAL's COG driver: tiled, deflate, overviews) with the metadata.

    Band descriptions, and wavelengths both as GDAL's standard band metadata (``IMAGERY``
    domain, ``CENTRAL_WAVELENGTH_UM``) and as a ``wavelength`` tag in nm; the software in
    ``TIFFTAG_SOFTWARE``.
    """
    optional("rasterio", "writing a GeoTIFF")
    import rasterio
    import rasterio.shutil
    from rasterio.transform import Affine

    from .. import __version__

    h, w, c = data.shape
    profile = {
        "driver": "GTiff",
        "height": h,
        "width": w,
        "count": c,
        "dtype": data.dtype.name,
        "crs": meta.crs if meta is not None else None,
        "transform": Affine(*meta.transform) if meta is not None and meta.transform else Affine.identity(),
        "nodata": nodata,
        "BIGTIFF": "IF_SAFER",
    }
    staged = tmp.with_name(tmp.name + ".staged.tif")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(staged, "w", **profile) as dst:
                dst.write(np.moveaxis(data, -1, 0))
                dst.update_tags(TIFFTAG_SOFTWARE=f"gdd {__version__}")
                for i in range(c):
                    if meta is not None and meta.descriptions and i < len(meta.descriptions):
                        dst.set_band_description(i + 1, meta.descriptions[i])
                    if meta is not None and meta.wavelengths and i < len(meta.wavelengths):
                        nm = meta.wavelengths[i]
                        dst.update_tags(i + 1, wavelength=f"{nm:g}", wavelength_units="nm")
                        dst.update_tags(i + 1, ns="IMAGERY", CENTRAL_WAVELENGTH_UM=f"{nm / 1000:g}")
            rasterio.shutil.copy(
                staged, tmp, driver="COG", COMPRESS="DEFLATE", PREDICTOR="YES", OVERVIEWS="AUTO",
                BIGTIFF="IF_SAFER",
            )  # fmt: skip
    finally:
        staged.unlink(missing_ok=True)


def _write_envi(path: Path, data: np.ndarray, meta: Raster | None, nodata: float | None) -> None:
    spectral = optional("spectral", "writing an ENVI file")
    md: dict[str, object] = {}
    if meta is not None and meta.wavelengths:
        md["wavelength"] = [f"{w:g}" for w in meta.wavelengths]
        md["wavelength units"] = "Nanometers"
    if meta is not None and meta.descriptions:
        md["band names"] = list(meta.descriptions)
    if nodata is not None:
        md["data ignore value"] = f"{nodata:g}"
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


def _write_picture(path: Path, arr: np.ndarray, mask: np.ndarray | None) -> None:
    """An 8-bit PNG or JPEG (quality 95) of a one- or three-band image in [0, 1]; masked pixels black."""
    from PIL import Image

    if arr.shape[-1] not in (1, 3):
        raise InputError(
            f"output {path}: a {path.suffix.lstrip('.').upper()} holds one or three bands, the result has "
            f"{arr.shape[-1]}; use .tif, .hdr, .npy or .mat"
        )
    data = np.clip(np.nan_to_num(np.asarray(arr, dtype=np.float64)), 0, 1)
    if mask is not None:
        data = np.where(mask[..., None], data, 0)
    img = Image.fromarray(
        np.rint(data * 255).astype(np.uint8)[..., 0] if arr.shape[-1] == 1 else np.rint(data * 255).astype(np.uint8)
    )
    fmt = "PNG" if path.suffix.lower() == ".png" else "JPEG"
    atomic(path, lambda t: img.save(t, format=fmt, **({"quality": 95} if fmt == "JPEG" else {})))


def write_image(
    path: str | os.PathLike[str],
    arr: np.ndarray,
    *,
    force: bool = False,
    name: str = "out",
    dtype: OutputType = "float32",
    bit_depth: int | None = None,
    meta: Raster | None = None,
    mask: np.ndarray | None = None,
    nodata: float | None = None,
) -> Path:
    """Write an H x W x C image by the suffix, atomically, never over a file without ``force``.

    ``.npy``; ``.mat`` (MATLAB v5, variable ``name``); ``.tif`` (with rasterio a Cloud-Optimized
    GeoTIFF with overviews, georeferenced when ``meta`` says where; without, a plain TIFF);
    ``.hdr`` (ENVI header + ``.img``); ``.png``, ``.jpg`` (8 bits, one or three bands in [0, 1]).
    ``dtype="uint16"`` stores round(x * (2^bit_depth - 1)) (16 bits by default). ``meta`` gives
    the georeferencing, band descriptions and wavelengths; ``mask`` (H x W, True = data) marks
    pixels stored as ``nodata`` (NaN by default for float32).

    Raises:
        InputError: unknown suffix, existing file without ``force``, a missing optional
            dependency, a nodata value the output type cannot hold.
    """
    p = check_output(path, force=force)
    if arr.ndim == 2:
        arr = arr[..., None]
    if p.suffix.lower() in (".png", ".jpg", ".jpeg"):
        _write_picture(p, arr, mask)
        return p
    data = _encode(arr, dtype, bit_depth, mask, nodata)
    stored_nodata = (math.nan if nodata is None else nodata) if mask is not None else nodata
    suffix = p.suffix.lower()
    if suffix == ".npy":
        atomic(p, lambda t: np.save(t, data))
    elif suffix == ".mat":
        import scipy.io

        atomic(p, lambda t: scipy.io.savemat(t, {name: data}))
    elif suffix == ".hdr":
        _write_envi(p, data, meta, stored_nodata)
    elif _has_rasterio() or (meta is not None and (meta.crs or meta.transform)):
        atomic(p, lambda t: _write_geotiff(t, data, meta, stored_nodata))
    else:
        import tifffile

        if data.shape[-1] == 1:
            atomic(p, lambda t: tifffile.imwrite(t, data[..., 0], photometric="minisblack"))
        else:
            atomic(p, lambda t: tifffile.imwrite(t, data, photometric="minisblack", planarconfig="contig"))
    return p


#: The wavelengths (nm) a true-colour preview shows as red, green and blue.
TRUE_COLOUR_NM = (640.0, 550.0, 470.0)


def preview_bands(channels: int, wavelengths: Sequence[float] | None = None) -> list[int]:
    """Bands shown as red, green, blue in previews.

    With the bands' wavelengths (nm), true colour: the band nearest 640, 550 and 470 nm each,
    when all three lie within 60 nm of a band (else false colour by position, below). Without:
    three bands are taken as they are; four are blue, green, red, NIR (Landsat, PlanetScope,
    Pléiades and most four-band products: red 2, green 1, blue 0); 8 bands follow WorldView-2/3
    order (red 4, green 2, blue 1, as in the authors' demo); otherwise bands at 80, 50 and 15 %
    of the range, which for 31 bands over 400-700 nm are about 640, 550 and 450 nm.

    Example:
        >>> preview_bands(31)
        [24, 15, 4]
        >>> preview_bands(4)  # B, G, R, NIR
        [2, 1, 0]
        >>> preview_bands(13, [443, 490, 560, 665, 705, 740, 783, 842, 865, 945, 1375, 1610, 2190])
        [3, 2, 1]
    """
    if wavelengths is not None and len(wavelengths) == channels and channels >= 3:
        waves = np.asarray(wavelengths, dtype=float)
        picks = [int(np.argmin(np.abs(waves - t))) for t in TRUE_COLOUR_NM]
        if all(abs(waves[i] - t) <= 60 for i, t in zip(picks, TRUE_COLOUR_NM)) and len(set(picks)) == 3:
            return picks
    if channels == 1:
        return [0, 0, 0]
    if channels in (2, 3):
        return [0, 1, channels - 1]
    if channels == 4:
        return [2, 1, 0]
    if channels == 8:
        return [4, 2, 1]
    return [round((channels - 1) * f) for f in (0.8, 0.5, 0.15)]


def to_rgb8(
    arr: np.ndarray, *, bands: list[int] | None = None, percentiles: tuple[float, float] | None = (1, 99)
) -> np.ndarray:
    """An 8-bit RGB rendering: a percentile stretch per band, or values as they are (clipped to
    [0, 1]) with ``percentiles=None``. Three-band images (photographs) default to the latter,
    which keeps their colour balance."""
    if bands is None and arr.shape[2] == 3 and percentiles == (1, 99):
        percentiles = None
    bands = bands or preview_bands(arr.shape[2])
    rgb = np.nan_to_num(arr[..., bands].astype(np.float64))
    if percentiles is None:
        return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
    lo = np.percentile(rgb, percentiles[0], axis=(0, 1))
    hi = np.percentile(rgb, percentiles[1], axis=(0, 1))
    rgb = np.clip((rgb - lo) / np.maximum(hi - lo, 1e-12), 0, 1)
    return (rgb * 255 + 0.5).astype(np.uint8)


def write_preview(path: str | os.PathLike[str], arr: np.ndarray, *, bands: list[int] | None = None) -> Path:
    """Write an 8-bit PNG preview of an H x W x C image (atomic)."""
    from PIL import Image

    p = Path(path)
    img = Image.fromarray(to_rgb8(arr, bands=bands))
    atomic(p, lambda t: img.save(t, format="PNG"))
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
