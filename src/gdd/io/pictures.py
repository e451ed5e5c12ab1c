"""Photos as a viewer shows them: pictures read upright, and a TIFF's orientation tag applied.

A camera stores a portrait photo on its side and says so, in EXIF (JPEG, PNG) or in the TIFF
orientation tag; the two photos of a pair need not be stored alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import GEOTIFF_TAGS, _Read

__all__ = ["read_picture", "tiff_orientation", "upright"]


def read_picture(path: Path, var: str | None = None) -> _Read:
    """A PNG, JPEG or BMP picture as H x W x C, upright, with its colour profile and EXIF block."""
    from PIL import Image, ImageOps

    with Image.open(path) as stored:
        stored.load()
        # The pixels as a viewer shows them: a camera's portrait photo is stored on its side with
        # an EXIF orientation, and the two photos of a pair need not be stored alike. The EXIF
        # block carried to the result then says it is upright.
        im = ImageOps.exif_transpose(stored)
        meta = {k: im.info[k] for k in ("icc_profile", "exif") if isinstance(im.info.get(k), bytes)}
        if im.mode in {"P", "CMYK", "YCbCr", "LA", "PA"}:
            im = im.convert("RGBA" if "A" in im.mode else "RGB")
        # The colour profile and EXIF block travel to a picture written from this one.
        return _Read(np.asarray(im), hwc=True, meta={"icc": meta.get("icc_profile"), "exif": meta.get("exif")})


def tiff_orientation(path: Path) -> int:
    """The TIFF orientation tag (274) of a TIFF without georeferencing, 1 (as stored) otherwise.

    A camera or a raw developer may store a portrait photo on its side with this tag, as EXIF
    does in a JPEG; GDAL reads the pixels as stored. A GeoTIFF's rows are its grid's: never turned.
    """
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            tags = tif.pages[0].tags
            if GEOTIFF_TAGS & {t.code for t in tags.values()} or 274 not in tags:
                return 1
            value = int(tags[274].value)
    except Exception:  # not a TIFF tifffile reads: as stored
        return 1
    return value if 1 <= value <= 8 else 1


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
