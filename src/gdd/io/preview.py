"""Previews: an 8-bit PNG quicklook of a result, placed on the map by a GDAL ``.aux.xml`` beside it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

import numpy as np

from ._common import atomic
from .cog import _true_colour
from .read import Raster

__all__ = ["place", "preview_bands", "preview_georeference", "to_rgb8", "write_preview"]


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
        picks = _true_colour(wavelengths)
        if picks is not None:
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
    arr: np.ndarray,
    *,
    bands: list[int] | None = None,
    percentiles: tuple[float, float] | None = (1, 99),
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """An 8-bit RGB rendering: a percentile stretch per band, or values as they are (clipped to
    [0, 1]) with ``percentiles=None``. Three-band images (photographs) default to the latter,
    which keeps their colour balance. With ``mask`` (H x W, True where there is data) the
    stretch is taken over those pixels, and where any pixel has none an alpha channel makes it
    transparent (RGBA)."""
    if bands is None and arr.shape[2] == 3 and percentiles == (1, 99):
        percentiles = None
    bands = bands or preview_bands(arr.shape[2])
    rgb = np.nan_to_num(arr[..., bands].astype(np.float64))
    if percentiles is None:
        rgb = np.clip(rgb, 0, 1)
    else:
        values = rgb if mask is None or not mask.any() else rgb[mask]
        lo, hi = (np.percentile(values, q, axis=tuple(range(values.ndim - 1))) for q in percentiles)
        rgb = np.clip((rgb - lo) / np.maximum(hi - lo, 1e-12), 0, 1)
    out = (rgb * 255 + 0.5).astype(np.uint8)
    if mask is not None and not mask.all():
        out = np.concatenate(
            [np.where(mask[..., None], out, 0), np.where(mask, 255, 0).astype(np.uint8)[..., None]], -1
        )
    return out


def preview_georeference(path: str | os.PathLike[str]) -> Path:
    """The file beside a preview that places it on the map (GDAL's ``.aux.xml``)."""
    return Path(f"{os.fspath(path)}.aux.xml")


def write_preview(
    path: str | os.PathLike[str],
    arr: np.ndarray,
    *,
    bands: list[int] | None = None,
    meta: Raster | None = None,
    stretch: bool = True,
    mask: np.ndarray | None = None,
) -> Path:
    """Write an 8-bit PNG preview of an H x W x C image (atomic).

    The bands shown are stretched between their 1st and 99th percentiles, or, with ``stretch``
    False (a photograph's), shown as they are, clipped to [0, 1], keeping their colour balance;
    pixels without data (``mask`` False) are transparent and left out of the stretch.
    When ``meta`` is georeferenced, a GDAL ``.aux.xml`` beside it holds the coordinate system
    and the pixel grid, so that GIS tools (QGIS, GDAL, ArcGIS) show the quicklook in place.
    """
    from PIL import Image

    p = Path(path)
    img = Image.fromarray(to_rgb8(arr, bands=bands, percentiles=(1, 99) if stretch else None, mask=mask))
    atomic(p, lambda t: img.save(t, format="PNG"))
    place(p, meta)
    return p


def place(path: Path, meta: Raster | None) -> None:
    """Write the GDAL ``.aux.xml`` placing a picture on the map (by ``meta``'s grid or sensor model), else none."""
    aux = preview_georeference(path)
    if meta is not None and meta.transform:
        a, b, c, d, e, f = meta.transform[:6]
        srs = f"  <SRS>{xml_escape(meta.crs)}</SRS>\n" if meta.crs else ""
        body = f"{srs}  <GeoTransform>{c!r}, {a!r}, {b!r}, {f!r}, {d!r}, {e!r}</GeoTransform>\n"
    elif meta is not None and meta.sensor:  # a raw product's RPCs or ground control points
        body = meta.sensor.pam()
    else:
        aux.unlink(missing_ok=True)  # an earlier picture's, which no longer describes this one
        return
    text = f"<PAMDataset>\n{body}</PAMDataset>\n"
    atomic(aux, lambda t: t.write_text(text))
