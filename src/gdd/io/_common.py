"""What every reader and writer shares: the error type, file specs, output checks, atomic writes."""

from __future__ import annotations

import importlib
import math
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["OUTPUT_SUFFIXES", "InputError", "UsageError", "atomic", "check_output", "optional", "split_spec"]

#: Suffixes ``write_image`` knows: NumPy, MATLAB v5, (Geo)TIFF, ENVI (header + raw data), and
#: 8-bit PNG/JPEG pictures (one or three bands: a photo, a flash/no-flash result).
OUTPUT_SUFFIXES = (".npy", ".mat", ".tif", ".tiff", ".hdr", ".png", ".jpg", ".jpeg")

#: The tags that make a TIFF a GeoTIFF (pixel scale, tie points, transformation, GeoKeys).
GEOTIFF_TAGS = frozenset({33550, 33922, 34264, 34735})


@dataclass
class _Read:
    """What a format reader found: the array, whether its layout is known to be H x W x C, metadata."""

    array: np.ndarray
    hwc: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


#: Optional dependency -> the extra that installs it.
EXTRAS = {"rasterio": "geo", "spectral": "envi", "h5py": "hdf5"}


class InputError(ValueError):
    """A problem with the user's files or arguments, told in one line."""


class MissingFileError(InputError):
    """A file (or a built-in response's name) that is not there."""


class NotFiniteError(InputError):
    """An image holding NaN or Inf values where no nodata value says to leave them out."""


class NoDataError(InputError):
    """An image (or a window of one) whose every pixel is nodata."""


class UsageError(InputError):
    """Options that do not go together, or a missing one: the command line's exit code 2."""


def optional(module: str, what: str) -> ModuleType:
    """Import an optional dependency, or say in one line which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = EXTRAS.get(module, module)
        raise InputError(f"{what} needs {module}: pip install 'gdd[{extra}]'") from None


def split_spec(spec: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """Split ``file.mat:VAR`` / ``file.npz:KEY`` into the path and the variable name.

    Example:
        >>> split_spec("data/pan_im4.mat:I_MS_GT")
        (PosixPath('data/pan_im4.mat'), 'I_MS_GT')
    """
    text = os.fspath(spec)
    m = re.match(r"^(.*\.(?:mat|npz|h5|hdf5)):([^/\\:]+)$", text, flags=re.IGNORECASE)
    if m:
        return Path(m.group(1)), m.group(2)
    return Path(text), None


def check_output(
    path: str | os.PathLike[str], *, force: bool, suffixes: Sequence[str] = OUTPUT_SUFFIXES, what: str = "output"
) -> Path:
    """Check that ``path`` can be written: one of ``suffixes``, and not there unless ``force``."""
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise InputError(f"{what} {p}: unknown format {p.suffix!r} (use {', '.join(suffixes)})")
    if p.is_dir():
        raise InputError(f"{what} {p} is a folder")
    if p.exists() and not force:
        raise InputError(f"{what} {p} exists; use --force to overwrite it")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{what} {p}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise InputError(f"{what} {p}: the folder {parent} is not writable")
            break
    if p.suffix.lower() == ".hdr":
        data = p.with_suffix(".img")
        if data.exists() and not force:
            raise InputError(f"output {data} exists; use --force to overwrite it")
    return p


def atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary file in the same folder, renamed into place when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        # mkstemp makes the file private (0600); give it the permissions of a plain open().
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def refuse_constant(label: str, data: np.ndarray, mask: np.ndarray | None) -> None:
    """Refuse an H x W x C image whose every pixel with data has one value in every band: it carries nothing to fuse."""
    values = data if mask is None else data[mask]
    flat = values.reshape(-1, data.shape[-1])
    if flat.shape[0] > 1 and bool((flat.max(axis=0) == flat.min(axis=0)).all()):  # one pixel: too few, told later
        shown = ", ".join(f"{v:.6g}" for v in flat[0][:4]) + (", ..." if flat.shape[1] > 4 else "")
        raise InputError(f"{label}: every pixel has the same value ({shown}); a constant image carries nothing to fuse")


def to_physical(a: np.ndarray, scales: Any, offsets: Any) -> np.ndarray:
    """Stored numbers, bands first, as physical values: float64 ``a * scale + offset`` per band, as float32."""
    shape = (-1,) + (1,) * (a.ndim - 1)
    scale, offset = (np.asarray(v, np.float64).reshape(shape) for v in (scales, offsets))
    return (a.astype(np.float64) * scale + offset).astype(np.float32)


def scale_warning(peak: float, scale: float | None, bit_depth: int | None, how: str = "--bit-depth {}") -> str:
    """What to say of an input read far from [0, 1], where the fit does markedly worse ("" if nothing).

    ``peak``: the largest magnitude of its valid values as read; ``scale``: what its integers were
    divided by (None: floats used as they are). 16-bit integers read without a bit depth that use
    at most 14 bits (11-bit digital numbers: 2047 / 65535 = 0.03), or floating-point values
    (radiance, percent) above 4 or all below 1/16. ``how``: how the user gives a bit depth.

    Example:
        >>> scale_warning(2047 / 65535, 65535.0, None)[:35]
        'its integers reach 2047 of 65535, r'
        >>> scale_warning(0.8, None, None)
        ''
    """
    if scale == 65535.0 and not bit_depth:
        top = round(peak * 65535)
        if 0 < top < 2**14:
            return (
                f"its integers reach {top} of 65535, read as a small part of [0, 1]; if they are "
                f"{top.bit_length()}-bit digital numbers, give {how.format(top.bit_length())}"
            )
    elif scale is None and (peak > 4 or 0 < peak < 1 / 16):
        return (
            f"its values reach {peak:.4g}; gdd fits values in about [0, 1] and does markedly worse far "
            f"from them: scale both inputs alike (e.g. divide by {peak:.3g})"
        )
    return ""


def _nm(units: str, waves: list[float]) -> float:
    """The factor to nm of wavelengths in ``units`` (lower case; unsaid or "unknown" (ENVI's): micrometres below 30)."""
    unsaid = units in ("", "unknown")
    return 1000.0 if units.startswith(("micro", "um", "µm")) or (unsaid and max(waves) < 30) else 1.0


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _reason(exc: BaseException) -> str:
    """The most telling line of a library's exception: the first cause that says something."""
    seen: BaseException | None = exc
    while seen is not None:
        text = str(seen).strip().splitlines()[0] if str(seen).strip() else ""
        if text and "previous exception" not in text:
            return text
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__
