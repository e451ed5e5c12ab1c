"""Cloud-Optimized GeoTIFF output: GDAL's COG driver, its creation options, and what the bands say."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._common import InputError, optional
from .formats import _reason
from .read import Raster, Stored

__all__ = ["COG_DEFAULTS", "TRUE_COLOUR_NM", "check_creation_options", "creation_options", "to_cog"]

#: The wavelengths (nm) a true-colour preview shows as red, green and blue.
TRUE_COLOUR_NM = (640.0, 550.0, 470.0)

#: Creation options of GDAL's COG driver whose values are numbers (GDAL does not check them all:
#: a word where it reads a block size ends the process, so they are checked here first).
_COG_NUMBERS: dict[str, type] = {
    "BLOCKSIZE": int, "LEVEL": int, "QUALITY": int, "OVERVIEW_QUALITY": int, "OVERVIEW_COUNT": int,
    "ZOOM_LEVEL": int, "NBITS": int, "JXL_EFFORT": int, "MAX_Z_ERROR": float, "MAX_Z_ERROR_OVERVIEW": float,
    "JXL_DISTANCE": float, "JXL_ALPHA_DISTANCE": float,
}  # fmt: skip

#: What gdd's COG files use unless ``--co`` says otherwise (overviews averaged: a nodata edge stays one).
COG_DEFAULTS = {
    "COMPRESS": "DEFLATE", "PREDICTOR": "YES", "OVERVIEWS": "AUTO", "BIGTIFF": "IF_SAFER", "RESAMPLING": "AVERAGE",
}  # fmt: skip

#: The COG driver's options that reproject or resample the image itself (off the guide's grid).
_OFF_THE_GRID = frozenset({"TARGET_SRS", "RES", "EXTENT", "ALIGNED_LEVELS", "TILING_SCHEME", "ZOOM_LEVEL",
                           "ZOOM_LEVEL_STRATEGY", "WARP_RESAMPLING"})  # fmt: skip


def creation_options(pairs: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
    """GDAL's COG creation options: gdd's defaults with ``--co KEY=VALUE`` pairs over them, checked.

    Raises:
        InputError: a number option (BLOCKSIZE, LEVEL ...) whose value is not a number.
    """
    options = dict(COG_DEFAULTS)
    for key, value in pairs:
        key = key.upper()
        kind = _COG_NUMBERS.get(key)
        if kind is not None:
            try:
                kind(value)
            except ValueError:
                what = "an integer" if kind is int else "a number"
                raise InputError(f"--co {key}={value}: {key} takes {what}") from None
        if key == "NUM_THREADS" and value.upper() != "ALL_CPUS" and not value.isdigit():
            raise InputError(f"--co NUM_THREADS={value}: a number of threads or ALL_CPUS")
        options[key] = value
    return options


class _Stderr:
    """The process's standard error kept aside: GDAL and libtiff may say a write failed only there.

    One redirection at a time in the process (nested or concurrent writes share it). What was
    said is written back as it was when all went well; a failure names its last line instead.
    Where there is no standard error to redirect (a closed descriptor, ``pythonw``), nothing is
    kept and :func:`_written_in_full` alone judges the file.
    """

    _lock = threading.RLock()
    _depth = 0

    def __enter__(self) -> _Stderr:
        self.saved: int | None = None
        self.sink: Any = None
        _Stderr._lock.acquire()
        _Stderr._depth += 1
        if _Stderr._depth > 1:
            return self  # the outer one keeps it
        try:
            if sys.stderr is not None:
                sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):
            return self
        self.sink = tempfile.TemporaryFile()
        self.saved = saved
        os.dup2(self.sink.fileno(), 2)
        return self

    def _said(self) -> bytes:
        if self.sink is None:
            return b""
        with contextlib.suppress(Exception):
            if sys.stderr is not None:
                sys.stderr.flush()
        self.sink.seek(0)
        return bytes(self.sink.read())

    def lines(self) -> list[str]:
        """What was said so far, line by line."""
        return self._said().decode(errors="replace").replace("\r", "\n").splitlines()

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        try:
            if self.saved is not None:
                said = self._said()
                os.dup2(self.saved, 2)  # standard error back first, whatever happens next
                os.close(self.saved)
                self.sink.close()
                if kind is None and said:
                    os.write(2, said)
        finally:
            _Stderr._depth -= 1
            _Stderr._lock.release()


def _written_in_full(path: Path, label: str, said: list[str]) -> None:
    """Refuse a TIFF written short (a full disk, a file size limit): every tile it points at lies in the file.

    GDAL may close a TIFF whose data could not all be written without an error of its own.
    """
    import logging

    import tifffile

    size = path.stat().st_size
    why = _lost(said)
    quiet = logging.getLogger("tifffile")
    level, quiet.level = quiet.level, logging.CRITICAL  # its complaints about a short file are said below
    try:
        with tifffile.TiffFile(path) as tif:
            pages = list(tif.pages)
            ends = [o + n for page in pages for o, n in zip(page.dataoffsets, page.databytecounts, strict=False)]
        if not pages:
            raise ValueError("no image in the file")
    except Exception as exc:
        raise InputError(f"{label}: could not be written in full ({why or _reason(exc)}); is the disk full?") from None
    finally:
        quiet.level = level
    if max(ends, default=0) > size:
        shown = f"{why}; " if why else ""
        raise InputError(
            f"{label}: could not be written in full ({shown}{size} of {max(ends)} bytes); is the disk full?"
        )


class _WriteError(InputError):
    """GDAL refused a write (``cause``: its exception)."""

    def __init__(self, message: str, cause: Exception) -> None:
        super().__init__(message)
        self.cause = cause


@contextlib.contextmanager
def _gdal_writing(label: str) -> Iterator[_Stderr]:
    """GDAL's writes, their failure (an exception, or a message on standard error only) as one InputError."""
    with _Stderr() as err:
        try:
            yield err
        except (InputError, TypeError, AttributeError, NameError, AssertionError, MemoryError):
            raise  # said already, or a fault of the code, not of the write
        except Exception as exc:  # GDAL's (rasterio's CPLE_* and RasterioIOError), the system's
            lost = _lost(err.lines())
            if lost:
                raise InputError(f"{label}: could not be written in full ({lost}); is the disk full?") from None
            raise _WriteError(f"{label}: GDAL could not write it ({_reason(exc)})", exc) from None
        # libtiff says a write or seek failed on standard error only, and GDAL goes on.
        lost = _lost(err.lines())
        if lost:
            raise InputError(f"{label}: could not be written in full ({lost}); is the disk full?")


def _lost(lines: list[str]) -> str:
    """The last line in which libtiff says data did not reach the file, else ""."""
    return next((x.strip() for x in reversed(lines) if x.strip().startswith(("_tiffWriteProc:", "_tiffSeekProc:"))), "")


@contextlib.contextmanager
def _gdal_complaints(what: str) -> Iterator[None]:
    """GDAL's warnings about creation options (an unknown key, a value it ignores) as one InputError."""
    import logging

    logger = logging.getLogger("rasterio._env")
    said: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record.getMessage())

    handler, propagate = Keep(logging.WARNING), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    complaints = [m.split(" in ", 1)[-1] for m in said if "CPLE_NotSupported" in m or "CPLE_IllegalArg" in m]
    if complaints:
        raise InputError(f"{what}: GDAL's COG driver: {complaints[0]}")


def check_creation_options(pairs: Sequence[tuple[str, str]], *, dtype: str = "float32", bands: int = 1) -> None:
    """Try ``--co`` on a small COG of the result's type and bands before the fusion: a typo fails in a second.

    Options that would move the result off its grid (reprojection, a web tiling scheme) are refused.
    """
    if not pairs:
        return
    moved = [k.upper() for k, _ in pairs if k.upper() in _OFF_THE_GRID]
    if moved:
        raise InputError(
            f"--co {moved[0]}: the COG driver would reproject or resample the result off the guide's grid; "
            "reproject the result afterwards (gdalwarp)"
        )
    optional("rasterio", "writing a Cloud-Optimized GeoTIFF with --co")
    with tempfile.TemporaryDirectory(prefix="gdd-co.") as tmp:
        staged, out = Path(tmp) / "staged.tif", Path(tmp) / "out.tif"
        try:
            _write_geotiff(out, np.zeros((32, 32, bands), dtype), None, None, creation=pairs, staged=staged)
        except _WriteError as error:  # GDAL's own refusal (rasterio's CPLE_* errors)
            given = " ".join(f"--co {k}={v}" for k, v in pairs)
            reason = _reason(error.cause).replace(f"{out}: ", "").replace(str(out), "the file")
            raise InputError(f"{given}: GDAL cannot write a GeoTIFF with these ({reason})") from None


def _is_rgb(meta: Raster | None, count: int) -> list[int] | None:
    """Which bands are red, green, blue (indices), for a three-band image that is a picture, else None."""
    if count != 3:
        return None
    waves = meta.wavelengths if meta is not None else None
    if waves is None:
        return [0, 1, 2]
    return _true_colour(waves) if len(waves) == 3 else None


def _true_colour(wavelengths: Sequence[float]) -> list[int] | None:
    """The bands nearest 640, 550 and 470 nm, when all three lie within 60 nm of a band, else None."""
    waves = np.asarray(wavelengths, dtype=float)
    picks = [int(np.argmin(np.abs(waves - t))) for t in TRUE_COLOUR_NM]
    if all(abs(waves[i] - t) <= 60 for i, t in zip(picks, TRUE_COLOUR_NM)) and len(set(picks)) == 3:
        return picks
    return None


def _tag_bands(dst: Any, meta: Raster | None, store: Stored | None, command: str | None) -> None:
    """What a GeoTIFF says of its bands: names, wavelengths and widths (nm tags and GDAL's IMAGERY
    metadata in micrometres), colour interpretation of a picture, scale and offset, and who made it."""
    from rasterio.enums import ColorInterp

    from .. import __version__

    count = dst.count
    dst.update_tags(TIFFTAG_SOFTWARE=f"gdd {__version__}", **({"GDD_COMMAND": command} if command else {}))
    for i in range(count):
        if meta is not None and meta.descriptions and i < len(meta.descriptions):
            dst.set_band_description(i + 1, meta.descriptions[i])
        if meta is not None and meta.wavelengths and i < len(meta.wavelengths):
            nm = meta.wavelengths[i]
            dst.update_tags(i + 1, wavelength=f"{nm:g}", wavelength_units="nm")
            imagery = {"CENTRAL_WAVELENGTH_UM": f"{nm / 1000:g}"}
            if meta.fwhm and i < len(meta.fwhm):
                imagery["FWHM_UM"] = f"{meta.fwhm[i] / 1000:g}"
            dst.update_tags(i + 1, ns="IMAGERY", **imagery)
    rgb = _is_rgb(meta, count)
    if rgb is not None:
        colours = [ColorInterp.gray] * count
        for index, colour in zip(rgb, (ColorInterp.red, ColorInterp.green, ColorInterp.blue)):
            colours[index] = colour
        dst.colorinterp = colours
    if store is not None and store.scales is not None:
        dst.scales = store.scales
        dst.offsets = store.offsets


def _write_geotiff(
    tmp: Path,
    data: np.ndarray,
    meta: Raster | None,
    nodata: float | None,
    *,
    store: Stored | None = None,
    creation: Sequence[tuple[str, str]] = (),
    command: str | None = None,
    staged: Path | None = None,
    label: str | None = None,
) -> None:
    """A Cloud-Optimized GeoTIFF (GDAL's COG driver: tiled, deflate, overviews) with the metadata.

    The image is written to a plain GeoTIFF first (``staged``, removed after) and copied by the
    COG driver with :func:`creation_options`; the bands are tagged by :func:`_tag_bands`. A write
    that fails (a full disk) raises an :class:`InputError` naming ``label`` (the output).
    """
    optional("rasterio", "writing a GeoTIFF")
    import rasterio
    from rasterio.transform import Affine

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
    staged = staged or tmp.with_name(tmp.name + ".staged.tif")
    label = label or f"output {tmp}"
    try:
        with warnings.catch_warnings(), _gdal_writing(label) as err:
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(staged, "w", **profile) as dst:
                dst.write(np.moveaxis(data, -1, 0))
                _tag_bands(dst, meta, store, command)
                if meta is not None and meta.sensor and not meta.transform:
                    meta.sensor.put(dst)
            _written_in_full(staged, label, err.lines())
        to_cog(staged, tmp, creation, label=label)
    finally:
        staged.unlink(missing_ok=True)


def forget_metadata_of(path: Path) -> None:
    """Remove GDAL's ``.aux.xml`` of an earlier file at ``path`` (statistics, nodata), which the new one is not."""
    path.with_name(path.name + ".aux.xml").unlink(missing_ok=True)


def to_cog(staged: Path, out: Path, creation: Sequence[tuple[str, str]] = (), *, label: str | None = None) -> None:
    """Copy a GeoTIFF to a Cloud-Optimized GeoTIFF with GDAL's COG driver (see :func:`creation_options`).

    Both files are checked to be written in full; a failure raises an :class:`InputError`
    naming ``label`` (the output).
    """
    import rasterio.shutil

    label = label or f"output {out}"
    with warnings.catch_warnings(), _gdal_writing(label) as err:
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        _written_in_full(staged, label, err.lines())
        with _gdal_complaints("--co"):
            rasterio.shutil.copy(staged, out, driver="COG", **creation_options(creation))
        _written_in_full(out, label, err.lines())
