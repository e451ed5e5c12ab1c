"""Arrays in memory read as the files are: NumPy H x W x C arrays and rioxarray DataArrays.

The readers' rules, for :mod:`gdd.arrays`: integers scaled by their type's range (or bit depth),
a product's scale and offset applied, nodata pixels masked (a value in any band, or NaN).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ._common import InputError, refuse_constant, scale_warning
from .read import _bit_scale, _nodata_mask

__all__ = ["LAYOUTS", "STORED", "crs", "grid_transform", "is_dataarray", "ratio_of", "read_array", "spatial_dims"]


def is_dataarray(a: object) -> bool:
    return type(a).__name__ == "DataArray" and hasattr(a, "dims") and hasattr(a, "coords")


def spatial_dims(a: Any) -> tuple[str, str]:
    """The (row, column) dimensions of a DataArray: every one but ``band``."""
    dims = [d for d in a.dims if d != "band"]
    if len(dims) != 2:
        raise InputError(f"a DataArray needs two spatial dimensions and at most a 'band' one, got {a.dims}")
    for y, x in (("y", "x"), ("lat", "lon"), ("latitude", "longitude")):
        if y in dims and x in dims:
            return y, x
    return dims[0], dims[1]


#: Where a DataArray keeps its nodata value (rioxarray's ``_FillValue``, then CF's names).
_NODATA = ("_FillValue", "missing_value", "fill_value", "nodata")

#: The attributes that say how a DataArray's values are stored (not carried to a result).
STORED = (*_NODATA, "scale_factor", "add_offset", "scales", "offsets")


def _number(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what}: a number, got {value!r}") from None


def _band_numbers(a: Any) -> np.ndarray | None:
    """A DataArray's band coordinate as 1-based band numbers of its file (rioxarray's), None if it has none.

    Also a scalar one, left by selecting one band (``.sel(band=2)``).
    """
    if "band" not in a.coords:
        return None
    values = np.atleast_1d(np.asarray(a.coords["band"].values))
    if values.dtype.kind not in "iuf" or not np.all(values == np.round(values)) or values.min() < 1:
        return None
    return values.astype(np.int64)


def _per_band(values: np.ndarray, numbers: np.ndarray | None) -> np.ndarray:
    """Per-band values in file order taken for the bands ``numbers`` names (a selection or reordering)."""
    if numbers is None or len(values) < 2 or numbers.max() > len(values) or len(set(numbers.tolist())) < len(numbers):
        return values  # no band numbers of the file (repeated ones are labels, not a selection)
    return values[numbers - 1]


def _scaling(
    d: dict[str, Any], bands: int, name: str, numbers: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The scale and offset of each band (value = scale x stored + offset) that ``d`` gives, None if none.

    rioxarray's ``scale_factor`` and ``add_offset`` (one for every band), or ``scales`` and
    ``offsets`` (one per band of the file, where they differ). An array whose bands were selected
    or reordered (``.sel(band=[4, 3, 2])``) keeps the file's list: its band coordinate, the
    file's 1-based band numbers, picks each band's own.
    """
    if "scales" in d or "offsets" in d:
        scales, offsets = d.get("scales", (1.0,)), d.get("offsets", (0.0,))
    else:
        scales, offsets = (d.get("scale_factor", 1.0),), (d.get("add_offset", 0.0),)
    pair = [_per_band(np.atleast_1d(np.asarray(v, dtype=np.float64)), numbers) for v in (scales, offsets)]
    if any(p.ndim != 1 or len(p) not in (1, bands) for p in pair):
        raise InputError(f"{name}: its scales or offsets ({scales}, {offsets}) are not one or one per band of {bands}")
    if np.all(pair[0] == 1) and np.all(pair[1] == 0):
        return None
    return pair[0], pair[1]


def _holds_stored(values: np.ndarray, kind: np.dtype) -> bool:
    """Whether floats still hold the integers of type ``kind`` they were decoded from (NaN aside).

    An array computed from one opened with ``masked=True`` (``da / 10000``) keeps its encoding,
    which then no longer describes its values: those are left as they are.
    """
    finite = values[np.isfinite(values)]
    if not finite.size:
        return True
    info = np.iinfo(kind)
    return bool(np.all(finite == np.round(finite)) and info.min <= finite.min() and finite.max() <= info.max)


def _declared(a: Any, name: str) -> tuple[float | None, np.dtype | None, tuple[np.ndarray, np.ndarray] | None]:
    """What a DataArray says of its values: its nodata, the integer type they were stored as, their scales and offsets.

    The attributes and encoding rioxarray writes: ``_FillValue`` (or ``missing_value``,
    ``fill_value``, ``nodata``) in the attributes of an array read as stored; in the encoding
    of one opened with ``masked=True``, whose nodata pixels are NaN and whose integers are floats
    (``mask_and_scale=True``: the physical values, their scales and offsets in the encoding).
    """
    attrs, encoding = dict(getattr(a, "attrs", {})), dict(getattr(a, "encoding", {}))
    bands, numbers = (a.sizes["band"] if "band" in a.dims else 1), _band_numbers(a)
    found = next((k for k in _NODATA if k in attrs), None)
    nodata = None if found is None else _number(attrs[found], f"{name}: its {found} attribute")
    if nodata is None and "_FillValue" in encoding:
        nodata = math.nan  # masked on reading
    stored = None
    kind = str(encoding.get("rasterio_dtype") or encoding.get("dtype") or "")
    decoded = _scaling(encoding, bands, name, numbers) is not None  # physical values already
    if kind and not decoded and np.dtype(a.dtype).kind == "f" and np.dtype(kind).kind in "iu":
        stored = np.dtype(kind)  # read_array checks that the values still are its integers
    return nodata, stored, _scaling(attrs, bands, name, numbers)


#: The array API's ``layout=``: None (H x W x C, refusing an array that looks bands-first), or as named.
LAYOUTS = (None, "hwc", "chw")


def read_array(
    a: Any, name: str, bit_depth: int | None, nodata: Any, layout: str | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The array as H x W x C float32 in the command line's scale, and its pixels with data (None: all).

    Integers by their range, a product's values by its scales and offsets; nodata pixels
    (``nodata``, else the DataArray's own) filled with their band's mean of the others, as the
    readers do. A NumPy array (or a tensor) is H x W x C, or C x H x W with ``layout="chw"``;
    without a ``layout``, one whose first axis is at most 4 long and shorter than both others
    (rasterio's and PyTorch's bands-first order, read the other way) is refused. A DataArray's
    dimensions name its axes.
    """
    if layout not in LAYOUTS:
        raise InputError(f"layout: 'hwc' (bands last) or 'chw' (bands first), got {layout!r}")
    declared, stored, physical = _declared(a, name) if is_dataarray(a) else (None, None, None)
    if is_dataarray(a):
        y, x = spatial_dims(a)
        a = (a.transpose(y, x, "band") if "band" in a.dims else a.transpose(y, x)).values
        layout = "hwc"
    elif hasattr(a, "detach") and hasattr(a, "numpy"):  # a torch tensor, on any device, with a graph or not
        a = a.detach().cpu().numpy()
    # A NumPy masked array (rasterio's ``read(masked=True)``): its masked pixels are nodata.
    masked = np.ma.getmaskarray(a) if isinstance(a, np.ma.MaskedArray) else None
    arr = np.asarray(np.ma.getdata(a))
    if arr.ndim == 3 and layout == "chw":
        arr = np.moveaxis(arr, 0, -1)
        masked = None if masked is None else np.moveaxis(masked, 0, -1)
    elif arr.ndim == 3 and layout is None and arr.shape[0] <= 4 and arr.shape[0] < min(arr.shape[1:]):
        h, w, c = arr.shape
        raise InputError(
            f"{name}: a {h} x {w} x {c} array would be {h} x {w} pixels of {c} bands (arrays are H x W x C); "
            "bands first (rasterio's and PyTorch's order) need layout='chw', or layout='hwc' fuses it as it is"
        )
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or min(arr.shape) < 1:
        want = "C x H x W" if layout == "chw" else "H x W x C"
        raise InputError(f"{name}: expected an H x W or {want} array, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name}: unsupported data type {arr.dtype}")
    if stored is not None and not _holds_stored(arr, stored):
        stored = None  # values computed after opening: the encoding no longer describes them
    value = declared if nodata is None else _number(nodata, "nodata")
    hidden = None if masked is None else np.asarray(masked.reshape(arr.shape).any(axis=-1), dtype=bool)
    mask = _nodata_mask(arr, value, name, "nodata=np.nan", hidden)
    scale = None
    if physical is not None:  # as the readers apply a product's scales and offsets
        arr = arr.astype(np.float64) * physical[0] + physical[1]
    else:
        # The readers' rule for integers (type range or bit depth; values that do not fit refused),
        # also for integers that were turned into floats to hold NaN.
        ints = arr if stored is None else np.where(np.isfinite(arr), arr, 0).astype(stored)
        scale = _bit_scale(ints, name, bit_depth, mask, option="bit_depth=")
        if scale is not None:
            arr = arr.astype(np.float64) / scale
    values = arr if mask is None else arr[mask]
    text = scale_warning(float(np.abs(values).max()) if values.size else 0.0, scale, bit_depth, "bit_depth={}")
    if text:  # as the command line warns: the fit does markedly worse far from [0, 1]
        warnings.warn(f"{name}: {text}", UserWarning, stacklevel=3)
    arr = arr.astype(np.float32)
    if mask is not None:  # as the readers fill them
        arr = np.where(mask[..., None], arr, arr[mask].mean(axis=0)).astype(np.float32)
    refuse_constant(name, arr, mask)  # as the command line refuses a constant input
    return np.ascontiguousarray(arr), mask


def grid_transform(a: Any) -> tuple[float, ...] | None:
    """A DataArray's pixel grid as GDAL's affine (a, b, c, d, e, f), None where it has none.

    None without regularly spaced coordinates on both spatial dimensions (:func:`spatial_dims`:
    ``y``/``x``, ``lat``/``lon`` ...). The grid is the coordinates' (rioxarray's, recalculated
    from them, where it knows the dimensions): an array coarsened, sorted or sliced after opening
    keeps its file's transform in its attributes, which no longer describes it.
    """
    y, x = spatial_dims(a)
    if not all(d in a.coords and a.sizes[d] > 1 for d in (y, x)):
        return None
    ys, xs = (np.asarray(a.coords[d].values, dtype=np.float64) for d in (y, x))
    dy, dx = np.diff(ys), np.diff(xs)
    if not (np.allclose(dy, dy[0]) and np.allclose(dx, dx[0])):
        return None
    try:
        if (a.rio.y_dim, a.rio.x_dim) == (y, x):
            return tuple(a.rio.transform(recalc=True))[:6]  # type: ignore[no-any-return]
    except Exception:  # rioxarray missing, or dimensions it does not recognise
        pass
    return (float(dx[0]), 0.0, float(xs[0] - dx[0] / 2), 0.0, float(dy[0]), float(ys[0] - dy[0] / 2))


def crs(a: Any) -> Any:
    """A DataArray's coordinate system (rioxarray's), None where it has none or rioxarray is missing."""
    try:
        import rioxarray  # noqa: F401  (registers .rio)

        return a.rio.crs
    except Exception:
        return None


def ratio_of(low: np.ndarray, high: np.ndarray, ratio: int | None, names: tuple[str, str]) -> int:
    """The resolution ratio of two H x W x C arrays (``ratio``, checked, or read from the shapes)."""
    (h, w), (hh, ww) = low.shape[:2], high.shape[:2]
    if ratio is None:
        if hh % h or ww % w or hh // h != ww // w:
            first = low.shape[0] < low.shape[-1]  # more "bands" than rows: perhaps an array bands first
            raise InputError(
                f"{names[1]} ({hh} x {ww}) is not {names[0]} ({h} x {w}) times a whole ratio; crop both to the "
                "area they share, a whole number of low-resolution pixels"
                + (
                    f" (or, if {names[0]} is {h} bands of {w} x {low.shape[-1]} pixels, give layout='chw')"
                    if first
                    else ""
                )
            )
        ratio = hh // h
    if (h * ratio, w * ratio) != (hh, ww):
        raise InputError(
            f"{names[1]} is {hh} x {ww}, but {names[0]} ({h} x {w}) times {ratio} is {h * ratio} x {w * ratio}"
        )
    return ratio
