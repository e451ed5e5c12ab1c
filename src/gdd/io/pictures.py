"""Photos as a viewer shows them: pictures read upright, and a TIFF's orientation tag applied.

A camera stores a portrait photo on its side and says so, in EXIF (JPEG, PNG) or in the TIFF
orientation tag; the two photos of a pair need not be stored alike.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._common import GEOTIFF_TAGS, _Read

__all__ = [
    "alpha_is_mask",
    "colour_bands",
    "colours",
    "is_mask",
    "photo_tags",
    "read_picture",
    "tiff_colours",
    "upright",
]


def read_picture(path: Path, var: str | None = None) -> _Read:
    """A PNG, JPEG or BMP picture as H x W x C, upright, with its colour profile and EXIF block.

    An alpha channel is no band: its transparent pixels (alpha 0) are nodata (``meta["masked"]``).
    """
    from PIL import Image, ImageOps

    header = _png_depth(path)
    sixteen = header is not None and header[0] == 16 and header[1] in (2, 4, 6)
    # Pillow reads a 16-bit colour PNG at 8 bits, and a 16-bit grey one with alpha as 8-bit RGBA
    deep = _read_16_bit_colour(path) if sixteen else None
    if sixteen and deep is None:
        print(
            f"gdd: warning: {path.name}: a 16-bit PNG with colour or alpha is read at 8 bits without rasterio; "
            "pip install 'gdd[geo]' reads its 16",
            file=sys.stderr,
        )
    with Image.open(path) as stored:
        if deep is not None:  # the pixels are GDAL's: only the EXIF and the profile are read here
            exif = stored.getexif()
            orientation = exif.pop(274, 1)  # the EXIF block carried to the result is then upright
            a = upright(np.moveaxis(deep, 0, -1), orientation if 1 <= orientation <= 8 else 1)
            meta = {"icc_profile": stored.info.get("icc_profile"), "exif": exif.tobytes() if exif else None}
            a, alpha = (a[..., :-1], a[..., -1]) if a.shape[-1] in (2, 4) else (a, None)
        else:
            stored.load()
            # The pixels as a viewer shows them: a camera's portrait photo is stored on its side with
            # an EXIF orientation, and the two photos of a pair need not be stored alike. The EXIF
            # block carried to the result then says it is upright.
            im = ImageOps.exif_transpose(stored)
            meta = {k: im.info[k] for k in ("icc_profile", "exif") if isinstance(im.info.get(k), bytes)}
            if im.mode in {"P", "CMYK", "YCbCr", "PA"}:
                im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
            a = np.asarray(im)
            if header is not None and header[1] == 4 and im.mode == "RGBA":  # a grey one with alpha: one band
                a = a[..., [0, 3]]
            a, alpha = (a[..., :-1], a[..., -1]) if im.mode in ("RGBA", "LA") else (a, None)
    # The colour profile and EXIF block travel to a picture written from this one.
    return _Read(a, hwc=True, meta={"icc": meta.get("icc_profile"), "exif": meta.get("exif"), **_masked(alpha)})


def _png_depth(path: Path) -> tuple[int, int] | None:
    """A PNG's bit depth and colour type (IHDR: 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA); None: no PNG."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return head[24], head[25]


def _read_16_bit_colour(path: Path) -> np.ndarray | None:
    """A 16-bit PNG's bands (C x H x W, uint16, alpha last), read by GDAL at their 16 bits.

    None without rasterio (Pillow then reads 8 of the 16 bits).
    """
    import warnings

    try:
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning
    except ImportError:
        return None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as src:
            return np.asarray(src.read())


def _masked(alpha: np.ndarray | None) -> dict[str, np.ndarray]:
    """``{"masked": the transparent pixels}`` where an alpha channel has any, else nothing."""
    return {} if alpha is None or not (alpha == 0).any() else {"masked": alpha == 0}


def colour_bands(
    stored: np.ndarray,
    interp: Sequence[str],
    colormap: Callable[[], dict[int, tuple[int, ...]]],
    mask_alpha: bool | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray], list[int] | None]:
    """GDAL's C x H x W bands as colours: a palette's indices looked up, an alpha mask taken out.

    ``interp``: the bands' colour interpretations (rasterio's ``colorinterp`` names). A band
    tagged alpha is a mask only if it holds nothing but 0 and its type's top value
    (``mask_alpha``, else judged on ``stored``): GDAL and tifffile tag the fourth band of any
    four-band 8-bit TIFF alpha by default, and a near-infrared band so tagged stays a band.
    Returns the bands, ``{"masked": ...}`` where the mask makes pixels transparent (for the
    reader's meta), and the stored bands kept (None: a palette became three bands).
    """
    table: dict[int, tuple[int, ...]] = {}
    if len(interp) == 1 and interp[0] == "palette":
        try:
            table = colormap()
        except ValueError:  # a palette band without a colour map: its numbers as they are
            table = {}
    if table:
        lut = np.zeros((max(int(stored.max()), *table) + 1, 4), np.uint8)
        for index, colour in table.items():
            lut[index, : len(colour)] = colour
        rgba = np.moveaxis(lut[stored[0]], -1, 0)
        return rgba[:3], _masked(rgba[3] if any(len(c) > 3 and c[3] < 255 for c in table.values()) else None), None
    alphas = [i for i, name in enumerate(interp) if name == "alpha"]
    if not alphas or len(alphas) == len(interp):
        return stored, {}, list(range(len(interp)))
    if not (is_mask(stored[alphas[0]]) if mask_alpha is None else mask_alpha):
        return stored, {}, list(range(len(interp)))
    keep = [i for i in range(len(interp)) if i not in alphas]
    return stored[keep], _masked(stored[alphas[0]]), keep


def tiff_colours(page: Any, a: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A TIFF's H x W (x C) pixels read by tifffile from ``page``, as :func:`colour_bands` gives GDAL's.

    A palette is looked up (its 16-bit colours as GDAL gives them, 8-bit), and a band the TIFF
    calls alpha (an extra sample, associated or not) taken out where it is a mask.
    """
    stored = a[None] if a.ndim == 2 else np.moveaxis(a, -1, 0)
    alpha = [e in (1, 2) for e in (page.extrasamples or ())][: len(stored)]
    if int(page.photometric) == 3 and len(stored) == 1:
        interp = ["palette"]
    else:
        interp = ["band"] * (len(stored) - len(alpha)) + ["alpha" if e else "undefined" for e in alpha]
    cmap = page.colormap

    def table() -> dict[int, tuple[int, ...]]:
        if cmap is None:
            return {}
        # GDAL's reading of a colour map: 8-bit values as they are, 16-bit ones by 257 (by 256 where
        # every entry is a multiple of 256 and not of 257, as Pillow writes them)
        scale = 1 if int(cmap.max()) < 256 else (256 if (cmap % 257).any() and not (cmap % 256).any() else 257)
        return {i: tuple(int(v) // scale for v in cmap[:3, i]) for i in range(cmap.shape[1])}

    out, masked, _ = colour_bands(stored, interp, table)
    return (out[0] if a.ndim == 2 and len(out) == 1 else np.moveaxis(out, 0, -1)), masked


def is_mask(band: np.ndarray) -> bool:
    """Whether an alpha band is a mask: only 0 and its integer type's top value (255, 65535 ...)."""
    if band.dtype.kind not in "iu":
        return False
    top = np.iinfo(band.dtype).max
    return bool(((band == 0) | (band == top)).all())


def photo_tags(path: Path) -> tuple[int, bytes | None]:
    """A TIFF photo's orientation tag (274) and colour profile (ICC, 34675), read once.

    A camera or a raw developer may store a portrait photo on its side with the orientation tag,
    as EXIF does in a JPEG; GDAL reads the pixels as stored. A GeoTIFF's rows are its grid's:
    never turned (orientation 1), and it has no photo's profile (None); so has a file tifffile
    does not read.
    """
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            tags = tif.pages[0].tags
            if GEOTIFF_TAGS & {t.code for t in tags.values()}:
                return 1, None
            value = int(tags[274].value) if 274 in tags else 1
            icc = bytes(tags[34675].value) if 34675 in tags else None
    except Exception:  # not a TIFF tifffile reads: as stored
        return 1, None
    return (value if 1 <= value <= 8 else 1), icc


def upright(a: np.ndarray, orientation: int) -> np.ndarray:
    """An H x W (x C) array stored with a TIFF/EXIF ``orientation`` (1-8), as a viewer shows it."""
    turned = {
        2: lambda x: x[:, ::-1],
        3: lambda x: x[::-1, ::-1],
        4: lambda x: x[::-1],
        5: lambda x: np.swapaxes(x, 0, 1),
        6: lambda x: np.rot90(x, -1),
        7: lambda x: np.swapaxes(x[::-1, ::-1], 0, 1),
        8: lambda x: np.rot90(x, 1),
    }.get(orientation)
    return a if turned is None else np.ascontiguousarray(turned(a))


def colours(
    src: Any, stored: np.ndarray, meta: dict[str, Any], mask_alpha: bool | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """An open dataset's bands (or a window's) as colours: a palette looked up, an alpha mask taken out.

    ``meta`` (:func:`rasterio_meta`'s) is made to describe the bands kept; ``mask_alpha`` as
    :func:`colour_bands` (a window's reader judges the whole band once: :func:`alpha_is_mask`).
    """
    interp = [c.name for c in src.colorinterp]
    a, masked, keep = colour_bands(stored, interp, lambda: src.colormap(1), mask_alpha)
    if keep is None and meta.get("nodata") is not None:  # a palette's nodata is an index, not a colour
        index = stored[0] == meta["nodata"]
        masked = {"masked": index | masked["masked"]} if masked else ({"masked": index} if index.any() else {})
        meta["nodata"] = None
    if keep is None or len(keep) < len(src.colorinterp):
        for key in ("descriptions", "wavelengths", "fwhm"):
            if meta.get(key) is not None:
                meta[key] = None if keep is None else tuple(meta[key][i] for i in keep)
        if keep is None:
            meta.pop("scale_offset", None)  # a palette's colours are no physical values
        elif "scale_offset" in meta:
            scales, offsets = meta["scale_offset"]
            meta["scale_offset"] = (tuple(scales[i] for i in keep), tuple(offsets[i] for i in keep))
    return a, masked


def alpha_is_mask(src: Any) -> bool:
    """Whether an open dataset's first alpha-tagged band is a mask (:func:`is_mask`), read block by block."""
    interp = [c.name for c in src.colorinterp]
    if "alpha" not in interp or len(set(interp)) == 1:
        return False
    band = interp.index("alpha") + 1
    return all(is_mask(src.read(band, window=w)) for _, w in src.block_windows(band))
