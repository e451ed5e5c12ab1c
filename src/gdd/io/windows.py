"""Windows of large images: read a part of a file, write a result strip by strip.

``.npy`` files are memory-mapped and TIFF/GeoTIFF files read through rasterio's windows, so a
scene never has to fit in memory; other formats are read whole (they rarely hold whole
scenes) and served window by window from memory. ``.npy`` and GeoTIFF results are written strip
by strip; other output formats are assembled in memory and written at once.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ._common import InputError, check_output, split_spec
from .formats import _Read, _reason
from .read import Layout, Raster, _finish, _layout, read_raster
from .write import OutputType, _encode, write_image

__all__ = ["StripWriter", "WindowReader"]


def _rasterio() -> Any:
    try:
        import rasterio

        return rasterio
    except ImportError:
        return None


class WindowReader:
    """An image file opened for reading windows: ``shape``, ``meta`` and ``read(rows, cols)``.

    ``read`` returns a :class:`Raster` of the window with the same scaling, layout and nodata
    rules as :func:`gdd.io.read_raster` (the fill value of nodata pixels is the window's band
    mean). ``meta`` is a :class:`Raster` with no data: the file's georeferencing and bands.

    Raises:
        InputError: as :func:`gdd.io.read_raster`.
    """

    def __init__(
        self,
        spec: str | os.PathLike[str],
        *,
        name: str = "image",
        bit_depth: int | None = None,
        layout: Layout = "auto",
        nodata: float | None = None,
    ) -> None:
        path = split_spec(spec)[0]
        self.label = f"{name} {path}"
        self.options = {"bit_depth": bit_depth, "layout": layout, "nodata": nodata}
        self._array: np.ndarray | None = None
        self._dataset_path: Path | None = None
        self._whole: Raster | None = None
        self._meta: dict[str, Any] = {}
        suffix = path.suffix.lower()
        rasterio = _rasterio()
        if path.is_file() and path.stat().st_size > 0 and suffix == ".npy":
            try:
                a = np.load(path, mmap_mode="r", allow_pickle=False)
            except Exception as exc:
                raise InputError(f"{self.label}: cannot read, truncated or corrupt? ({_reason(exc)})") from None
            if a.ndim == 2:
                a = a[..., None]
            if a.ndim != 3 or min(a.shape) < 1:
                raise InputError(f"{self.label}: expected an H x W or H x W x C image, got shape {a.shape}")
            self._array = _layout(a, layout, self.label)
        elif path.is_file() and path.stat().st_size > 0 and suffix in (".tif", ".tiff") and rasterio is not None:
            self._dataset_path = path
            try:
                with self._open() as src:
                    self._shape = (src.height, src.width, src.count)
                    self._meta = {
                        "crs": src.crs.to_wkt() if src.crs else None,
                        "transform": (
                            tuple(src.transform)[:6] if src.transform and not src.transform.is_identity else None
                        ),
                        "nodata": src.nodata,
                        "descriptions": tuple(d or "" for d in src.descriptions) if any(src.descriptions) else None,
                    }
                    waves = [src.tags(i).get("wavelength") for i in range(1, src.count + 1)]
                    if all(w is not None for w in waves):
                        self._meta["wavelengths"] = tuple(float(w) for w in waves)  # type: ignore[arg-type]
            except Exception as exc:
                raise InputError(f"{self.label}: cannot read, truncated or corrupt? ({_reason(exc)})") from None
        else:
            self._whole = read_raster(spec, name=name, **self.options)  # type: ignore[arg-type]

    @contextmanager
    def _open(self) -> Iterator[Any]:
        rasterio = _rasterio()
        from rasterio.errors import NotGeoreferencedWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(self._dataset_path) as src:
                yield src

    @property
    def shape(self) -> tuple[int, int, int]:
        """(H, W, C) of the image."""
        if self._whole is not None:
            return self._whole.data.shape  # type: ignore[return-value]
        if self._array is not None:
            return self._array.shape  # type: ignore[return-value]
        return self._shape

    @property
    def meta(self) -> Raster:
        """The file's georeferencing, nodata value, band names and wavelengths (no pixels)."""
        if self._whole is not None:
            w = self._whole
            return Raster(
                np.empty((0, 0, 0), np.float32),
                crs=w.crs,
                transform=w.transform,
                nodata=w.nodata,
                descriptions=w.descriptions,
                wavelengths=w.wavelengths,
                scale=w.scale,
                geotiff_unread=w.geotiff_unread,
            )
        m = self._meta
        nodata = self.options["nodata"] if self.options["nodata"] is not None else m.get("nodata")
        return Raster(
            np.empty((0, 0, 0), np.float32),
            crs=m.get("crs"),
            transform=m.get("transform"),
            nodata=None if nodata is None else float(nodata),  # type: ignore[arg-type]
            descriptions=m.get("descriptions"),
            wavelengths=m.get("wavelengths"),
        )

    def read(self, rows: slice, cols: slice) -> Raster:
        """The window ``[rows, cols]`` (whole bands) as a :class:`Raster`."""
        if self._whole is not None:
            w = self._whole
            return Raster(
                np.ascontiguousarray(w.data[rows, cols]),
                mask=None if w.mask is None else np.ascontiguousarray(w.mask[rows, cols]),
                nodata=w.nodata,
                scale=w.scale,
            )
        if self._array is not None:
            window = np.asarray(self._array[rows, cols])
        else:
            from rasterio.windows import Window

            r0, r1, _ = rows.indices(self.shape[0])
            c0, c1, _ = cols.indices(self.shape[1])
            with self._open() as src:
                window = np.moveaxis(src.read(window=Window(c0, r0, c1 - c0, r1 - r0)), 0, -1)
        got = _Read(window, hwc=True, meta={"nodata": self._meta.get("nodata")})
        return _finish(got, self.label, **self.options)  # type: ignore[arg-type]


class StripWriter:
    """Write an H x W x C result strip by strip: ``put(row, strip)``, NaN marking nodata pixels.

    ``.npy`` goes to a memory-mapped temporary file and a GeoTIFF to rasterio's windows, in the
    output's folder, renamed into place when the ``with`` block ends without an error (and
    removed otherwise); other formats collect the strips in memory and go through
    :func:`gdd.io.write_image` at the end.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        shape: tuple[int, int, int],
        *,
        force: bool = False,
        dtype: OutputType = "float32",
        bit_depth: int | None = None,
        meta: Raster | None = None,
        nodata: float | None = None,
    ) -> None:
        self.path = check_output(path, force=force)
        self.shape = shape
        self.force, self.dtype, self.bit_depth, self.meta, self.nodata = force, dtype, bit_depth, meta, nodata
        self.stored_nodata = nodata if nodata is not None else (math.nan if dtype == "float32" else None)
        suffix = self.path.suffix.lower()
        self.kind = "npy" if suffix == ".npy" else "memory"
        if suffix in (".tif", ".tiff") and meta is not None and (meta.crs or meta.transform):
            if _rasterio() is None:
                raise InputError(
                    f"output {self.path}: keeping the georeferencing needs rasterio: pip install 'gdd[geo]'"
                )
            self.kind = "geotiff"
        self.tmp: Path | None = None
        self._mm: Any = None
        self._dst: Any = None

    def __enter__(self) -> StripWriter:
        h, w, c = self.shape
        dtype = self.dtype
        if self.kind == "memory":
            self._mm = np.full((h, w, c), np.nan, np.float32)
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=self.path.suffix, dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        if self.kind == "npy":
            out_dtype = np.float32 if dtype == "float32" else np.uint16
            self._mm = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=out_dtype, shape=(h, w, c))
            return self
        rasterio = _rasterio()
        from rasterio.transform import Affine

        meta = self.meta
        assert meta is not None
        profile: dict[str, Any] = {
            "driver": "GTiff",
            "height": h,
            "width": w,
            "count": c,
            "dtype": "float32" if dtype == "float32" else "uint16",
            "tiled": True,
            "compress": "deflate",
            "BIGTIFF": "IF_SAFER",
        }
        if meta.crs:
            profile["crs"] = meta.crs
        if meta.transform:
            profile["transform"] = Affine(*meta.transform)
        if self.stored_nodata is not None:
            profile["nodata"] = self.stored_nodata
        self._dst = rasterio.open(self.tmp, "w", **profile)
        for i in range(c):
            if meta.descriptions and i < len(meta.descriptions):
                self._dst.set_band_description(i + 1, meta.descriptions[i])
            if meta.wavelengths and i < len(meta.wavelengths):
                self._dst.update_tags(i + 1, wavelength=str(meta.wavelengths[i]))
        return self

    def _encode(self, strip: np.ndarray) -> np.ndarray:
        valid = np.isfinite(strip).all(axis=-1)
        mask = None if valid.all() else valid
        if mask is not None and self.stored_nodata is None:
            raise InputError("the result has nodata pixels; a uint16 output needs an integer --nodata to mark them")
        return _encode(np.nan_to_num(strip), self.dtype, self.bit_depth, mask, self.stored_nodata)

    def put(self, row: int, strip: np.ndarray) -> None:
        """Write rows ``row`` to ``row + len(strip)`` (all columns and bands)."""
        if self.kind == "memory":
            assert self._mm is not None
            self._mm[row : row + len(strip)] = strip
        elif self.kind == "npy":
            assert self._mm is not None
            self._mm[row : row + len(strip)] = self._encode(strip)
        else:
            from rasterio.windows import Window

            self._dst.write(np.moveaxis(self._encode(strip), -1, 0), window=Window(0, row, self.shape[1], len(strip)))

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        if self.kind == "memory":
            if kind is None:
                assert self._mm is not None
                valid = np.isfinite(self._mm).all(axis=-1)
                write_image(
                    self.path,
                    np.nan_to_num(self._mm),
                    force=self.force,
                    dtype=self.dtype,
                    bit_depth=self.bit_depth,
                    meta=self.meta,
                    mask=None if valid.all() else valid,
                    nodata=self.nodata,
                )
            self._mm = None
            return
        try:
            if self._mm is not None:
                self._mm.flush()
                self._mm = None
            if self._dst is not None:
                self._dst.close()
                self._dst = None
            if kind is None:
                assert self.tmp is not None
                mask = os.umask(0)
                os.umask(mask)
                os.chmod(self.tmp, 0o666 & ~mask)
                os.replace(self.tmp, self.path)
        finally:
            if self.tmp is not None:
                self.tmp.unlink(missing_ok=True)
