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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ._common import InputError, check_output, split_spec
from .cog import _gdal_writing, _tag_bands, forget_metadata_of, to_cog
from .formats import (
    _Read,
    _reason,
    _tiff_pages,
    check_one_image,
    physical,
    rasterio_meta,
)
from .pictures import alpha_is_mask, colours, photo_tags
from .read import Layout, Raster, Stored, _finish, _layout, _stored, read_raster
from .sensor import SensorModel
from .write import EncodingNotes, OutputType, _encode, storage, warn_of_lost_scale, write_image

__all__ = ["StripWriter", "WindowReader", "shifted"]


def _rasterio() -> Any:
    try:
        import rasterio

        return rasterio
    except ImportError:
        return None


def _one_page(path: Path, label: str) -> bool:
    """A TIFF GDAL reads window by window: one image (a stack is refused), not one band per page.

    A multi-page TIFF of one band per page is read whole (GDAL sees its first page only).
    """
    try:
        check_one_image(path)
        return _tiff_pages(path) == 1
    except InputError as exc:
        message = str(exc)
        raise InputError(label + message[len(str(path)) :] if message.startswith(str(path)) else message) from None
    except Exception:  # not a TIFF tifffile reads: GDAL says what is wrong with it
        return True


def _georeferenced(path: Path) -> bool:
    """Whether GDAL places the file on a grid (its own tags or a sidecar's): its rows are then never turned."""
    rasterio = _rasterio()
    try:
        with warnings.catch_warnings(), rasterio.open(path) as src:
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            meta = rasterio_meta(src)
    except Exception:
        return False
    return bool(meta["crs"] or meta["transform"])


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
        self._stored_meta: dict[str, Any] = {}
        self._mask_alpha = False
        #: The largest magnitude of the valid values read so far (windows read, not the whole image).
        self.peak = 0.0
        suffix = path.suffix.lower()
        rasterio = _rasterio()
        tiff = suffix in (".tif", ".tiff") and path.is_file()
        orientation, icc = photo_tags(path) if tiff else (1, None)
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
            self._meta = {"dtype": a.dtype.name}  # its storage, as the whole file's (--dtype input, the scale)
        elif (
            path.is_file()
            and path.stat().st_size > 0
            and suffix in (".tif", ".tiff")
            and rasterio is not None
            and _one_page(path, self.label)
            and (orientation == 1 or _georeferenced(path))  # a photo on its side: read whole, upright
        ):
            self._dataset_path = path
            try:
                with self._open() as src:
                    from rasterio.windows import Window

                    # The bands as colours (a palette looked up, alpha bands a mask): what a window holds.
                    self._stored_meta = rasterio_meta(src)
                    self._meta = dict(self._stored_meta)
                    self._mask_alpha = alpha_is_mask(src)
                    probe, _ = colours(src, src.read(window=Window(0, 0, 1, 1)), self._meta, self._mask_alpha)
                    self._shape = (src.height, src.width, probe.shape[0])
                if not (self._meta.get("crs") or self._meta.get("transform")):  # a photo: its colour profile
                    self._meta["icc"] = icc
            except Exception as exc:
                raise InputError(f"{self.label}: cannot read, truncated or corrupt? ({_reason(exc)})") from None
        else:
            self._whole = read_raster(spec, name=name, **self.options)  # type: ignore[arg-type]
        self._view: tuple[int, int, int, int] | None = None

    @contextmanager
    def _open(self) -> Iterator[Any]:
        rasterio = _rasterio()
        from rasterio.errors import NotGeoreferencedWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(self._dataset_path) as src:
                yield src

    def _file_shape(self) -> tuple[int, int, int]:
        if self._whole is not None:
            return self._whole.data.shape  # type: ignore[return-value]
        if self._array is not None:
            return self._array.shape  # type: ignore[return-value]
        return self._shape

    @property
    def shape(self) -> tuple[int, int, int]:
        """(H, W, C) of the image (of its window, after :meth:`crop`)."""
        h, w, c = self._file_shape()
        if self._view is not None:
            return (self._view[2], self._view[3], c)
        return (h, w, c)

    def crop(self, rows: slice, cols: slice) -> None:
        """From now on, the image is its window ``[rows, cols]``: shape, georeferencing and reads."""
        h, w, _ = self.shape
        r0, r1, _ = rows.indices(h)
        c0, c1, _ = cols.indices(w)
        top, left = self._view[:2] if self._view is not None else (0, 0)
        self._view = (top + r0, left + c0, r1 - r0, c1 - c0)

    def _transform(self, transform: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if transform is None or self._view is None:
            return transform
        return shifted(transform, self._view[0], self._view[1])

    def _sensor(self, model: SensorModel | None) -> SensorModel | None:
        return model if model is None or self._view is None else model.shifted(self._view[0], self._view[1])

    @property
    def meta(self) -> Raster:
        """The file's georeferencing, nodata value, band names and wavelengths (no pixels)."""
        empty = np.empty((0, 0, 0), np.float32)
        if self._whole is not None:
            w = self._whole
            return replace(
                w, data=empty, mask=None, transform=self._transform(w.transform), sensor=self._sensor(w.sensor)
            )
        m = self._meta
        given = self.options["nodata"]
        nodata = given if given is not None else m.get("nodata")
        stored_nodata = m.get("nodata") if given is None or math.isnan(given) else given  # type: ignore[arg-type]
        if "scale_offset" in m and nodata is not None:
            nodata = math.nan  # values with GDAL's scale and offset: nodata pixels become NaN
        dtype = np.dtype(m.get("dtype", "float32"))
        divisor = None
        if dtype.kind in "iu" and "scale_offset" not in m:
            bits = self.options["bit_depth"]
            assert bits is None or isinstance(bits, int)
            divisor = float(2**bits - 1) if bits else (255.0 if dtype.itemsize == 1 else 65535.0)
        return Raster(
            empty,
            crs=m.get("crs"),
            transform=self._transform(m.get("transform")),
            nodata=None if nodata is None else float(nodata),  # type: ignore[arg-type]
            descriptions=m.get("descriptions"),
            wavelengths=m.get("wavelengths"),
            scale=divisor,
            stored=_stored({**m, "stored_nodata": stored_nodata}, dtype, divisor, m.get("nodata")),
            sensor=self._sensor(m.get("sensor")),
            fwhm=m.get("fwhm"),
            icc=m.get("icc"),
        )

    def read(self, rows: slice, cols: slice) -> Raster:
        """The window ``[rows, cols]`` (whole bands) as a :class:`Raster`."""
        h, w, _ = self.shape
        r0, r1, _ = rows.indices(h)
        c0, c1, _ = cols.indices(w)
        if self._view is not None:
            r0, r1, c0, c1 = r0 + self._view[0], r1 + self._view[0], c0 + self._view[1], c1 + self._view[1]
        rows, cols = slice(r0, r1), slice(c0, c1)
        if self._whole is not None:
            whole = self._whole
            return self._seen(
                Raster(
                    np.ascontiguousarray(whole.data[rows, cols]),
                    mask=None if whole.mask is None else np.ascontiguousarray(whole.mask[rows, cols]),
                    nodata=whole.nodata,
                    scale=whole.scale,
                )
            )
        meta = dict(self._meta)
        masked: dict[str, np.ndarray] = {}
        if self._array is not None:
            window = np.asarray(self._array[rows, cols])
        else:
            from rasterio.windows import Window

            with self._open() as src:
                window_of = Window(c0, r0, c1 - c0, r1 - r0)
                stored, masked = colours(src, src.read(window=window_of), dict(self._stored_meta), self._mask_alpha)
            window = np.moveaxis(physical(stored, meta), 0, -1)
        scaled = {"scale_offset": meta["scale_offset"]} if "scale_offset" in meta else {}  # for --nodata's number
        got = _Read(window, hwc=True, meta={"nodata": meta.get("nodata"), **scaled, **masked})
        fh, fw, _ = self._file_shape()
        everything = (r0, r1, c0, c1) == (0, fh, 0, fw)
        label = self.label if everything else f"{self.label} (rows {r0}:{r1}, columns {c0}:{c1})"
        return self._seen(_finish(got, label, **self.options))  # type: ignore[arg-type]

    def _seen(self, window: Raster) -> Raster:
        values = window.data if window.mask is None else window.data[window.mask]
        if values.size:
            self.peak = max(self.peak, float(np.abs(values).max()))
        return window


def shifted(transform: tuple[float, ...], row: int, col: int) -> tuple[float, ...]:
    """The affine transform of a window whose first pixel is (``row``, ``col``) of the grid of ``transform``.

    Example:
        >>> shifted((10.0, 0.0, 500000.0, 0.0, -10.0, 4e6), 2, 3)
        (10.0, 0.0, 500030.0, 0.0, -10.0, 3999980.0)
    """
    a, b, c, d, e, f = transform[:6]
    return (a, b, c + a * col + b * row, d, e, f + d * col + e * row)


class StripWriter:
    """Write an H x W x C result strip by strip: ``put(row, strip)``, NaN marking nodata pixels.

    ``.npy`` goes to a memory-mapped temporary file and a ``.tif`` (with rasterio) to a staged
    GeoTIFF by rasterio's windows, copied to a Cloud-Optimized GeoTIFF at the end (the same file
    :func:`gdd.io.write_image` writes); both live in the output's folder and are renamed into
    place when the ``with`` block ends without an error (removed otherwise). Other formats collect
    the strips in memory and go through :func:`gdd.io.write_image` at the end.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        shape: tuple[int, int, int],
        *,
        force: bool = False,
        dtype: OutputType | Stored = "float32",
        bit_depth: int | None = None,
        meta: Raster | None = None,
        nodata: float | None = None,
        creation: Sequence[tuple[str, str]] = (),
        command: str | None = None,
    ) -> None:
        self.path = check_output(path, force=force)
        self.shape = shape
        self.force, self.bit_depth, self.meta, self.nodata = force, bit_depth, meta, nodata
        self.creation, self.command = tuple(creation), command
        self.store = storage(dtype, bit_depth, meta)
        self.float = np.dtype(self.store.dtype).kind == "f"
        if self.float:
            self.stored_nodata: float | None = nodata if nodata is not None else math.nan
        else:  # an integer type: the value given, else the input file's own
            self.stored_nodata = nodata if nodata is not None and not math.isnan(nodata) else self.store.nodata
        suffix = self.path.suffix.lower()
        if creation and suffix not in (".tif", ".tiff"):
            raise InputError(f"--co sets GDAL creation options of a .tif output, not of {self.path.name}")
        self.kind = "npy" if suffix == ".npy" else "memory"
        georeferenced = meta is not None and bool(meta.crs or meta.transform)
        if suffix in (".tif", ".tiff") and (_rasterio() is not None or georeferenced):
            if _rasterio() is None:
                raise InputError(
                    f"output {self.path}: keeping the georeferencing needs rasterio: pip install 'gdd[geo]'"
                )
            self.kind = "geotiff"
        self.notes = EncodingNotes()  # what the strips' encoding clipped, said once for the file
        self.tmp: Path | None = None
        self.staged: Path | None = None
        self._mm: Any = None
        self._dst: Any = None

    def __enter__(self) -> StripWriter:
        h, w, c = self.shape
        if self.kind == "memory":
            self._mm = np.full((h, w, c), np.nan, np.float32)
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=self.path.suffix, dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        if self.kind == "npy":
            self._mm = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=self.store.dtype, shape=(h, w, c))
            return self
        rasterio = _rasterio()
        from rasterio.transform import Affine

        meta = self.meta
        profile: dict[str, Any] = {
            "driver": "GTiff",
            "height": h,
            "width": w,
            "count": c,
            "dtype": self.store.dtype,
            "tiled": True,
            "BIGTIFF": "IF_SAFER",
        }
        if meta is not None and meta.crs:
            profile["crs"] = meta.crs
        if meta is not None and meta.transform:
            profile["transform"] = Affine(*meta.transform)
        if self.stored_nodata is not None:
            profile["nodata"] = self.stored_nodata
        self.staged = self.tmp.with_name(self.tmp.name + ".staged.tif")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            self._dst = rasterio.open(self.staged, "w", **profile)
        _tag_bands(self._dst, meta, self.store, self.command)
        if meta is not None and meta.sensor and not meta.transform:
            meta.sensor.put(self._dst)
        return self

    def _encode(self, strip: np.ndarray) -> np.ndarray:
        valid = np.isfinite(strip).all(axis=-1)
        mask = None if valid.all() else valid
        return _encode(np.nan_to_num(strip), self.store, self.bit_depth, mask, self.nodata, notes=self.notes)

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

            data = np.moveaxis(self._encode(strip), -1, 0)
            with _gdal_writing(f"output {self.path}"):
                self._dst.write(data, window=Window(0, row, self.shape[1], len(strip)))

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        if self.kind == "memory":
            if kind is None:
                assert self._mm is not None
                valid = np.isfinite(self._mm).all(axis=-1)
                write_image(
                    self.path,
                    np.nan_to_num(self._mm),
                    force=self.force,
                    dtype=self.store,
                    bit_depth=self.bit_depth,
                    meta=self.meta,
                    mask=None if valid.all() else valid,
                    nodata=self.nodata,
                    creation=self.creation,
                    command=self.command,
                )
            self._mm = None
            return
        try:
            if self._mm is not None:
                self._mm.flush()
                self._mm = None
            if self._dst is not None:
                dst, self._dst = self._dst, None
                with _gdal_writing(f"output {self.path}"):
                    dst.close()
            if kind is None:
                assert self.tmp is not None
                if self.staged is not None:
                    to_cog(self.staged, self.tmp, self.creation, label=f"output {self.path}")
                mask = os.umask(0)
                os.umask(mask)
                os.chmod(self.tmp, 0o666 & ~mask)
                os.replace(self.tmp, self.path)
                forget_metadata_of(self.path)
                self.notes.say()
                warn_of_lost_scale(self.path, self.store)
        finally:
            for leftover in (self.tmp, self.staged):
                if leftover is not None:
                    leftover.unlink(missing_ok=True)
